"""The array: processing elements, the systolic array with its stream ports, the fold and
tile accumulators and the array-plus-accumulator GEMM top."""

from hdl.array.accumulator import FoldAccumulator, TileAccumulator, fold_layout
from hdl.array.array import SystolicArray
from hdl.array.gemm import SystolicGemm
from hdl.array.pe import ProcessingElement

__all__ = [
    "FoldAccumulator",
    "ProcessingElement",
    "SystolicArray",
    "SystolicGemm",
    "TileAccumulator",
    "fold_layout",
]
from hdl.array.feeder import OperandFeeder as OperandFeeder  # noqa: E402
