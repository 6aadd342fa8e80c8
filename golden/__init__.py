"""Bit-exact NumPy reference models of systolix hardware and its analytical cycle model.

Every function here follows ``NUMERICS.md`` to the bit and has no Amaranth or cocotb
dependency, so the same code serves the generator (widths), the testbenches (expected
values) and the reports (cycle counts).
"""

from golden.int8 import (
    INT8_PRODUCT_MAX,
    UINT8_INT8_PRODUCT_MAX,
    gemm_int8,
    int8_acc_width,
    operand_range,
    wrap,
)
from golden.perf import GemmShape, array_cycles, fold_count, gemm_cycles, tier_cycles
from golden.tiling import Fold, fold_schedule, split_folds, sum_folds

__all__ = [
    "INT8_PRODUCT_MAX",
    "UINT8_INT8_PRODUCT_MAX",
    "Fold",
    "GemmShape",
    "array_cycles",
    "fold_count",
    "fold_schedule",
    "gemm_cycles",
    "gemm_int8",
    "int8_acc_width",
    "operand_range",
    "split_folds",
    "sum_folds",
    "tier_cycles",
    "wrap",
]
