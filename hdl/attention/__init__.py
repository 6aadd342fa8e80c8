"""The attention tile's units (docs/numerics.md §4): the base-2 LUT exp core, the integer softmax
numerator of a query row, the per-row reciprocal, the DIV_RHU divider, the output
requantisation and the normaliser that chains the last two."""

from hdl.attention.divider import DivRhu
from hdl.attention.exp_core import Exp2Core
from hdl.attention.normalizer import DivRhuNormalizer
from hdl.attention.reciprocal import RowReciprocal
from hdl.attention.requant import Requantizer
from hdl.attention.softmax import SoftmaxRow

__all__ = ["DivRhu", "DivRhuNormalizer", "Exp2Core", "Requantizer", "RowReciprocal", "SoftmaxRow"]
