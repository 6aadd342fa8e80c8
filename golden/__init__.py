"""Bit-exact NumPy reference models of systolix hardware and its analytical cycle model.

Every function here follows ``NUMERICS.md`` to the bit and has no Amaranth or cocotb
dependency, so the same code serves the generator (widths), the testbenches (expected
values) and the reports (cycle counts).
"""

from golden.fp8 import (
    F32_CANONICAL_NAN_BITS,
    Fp8Format,
    Fp8Gemm,
    decode_table,
    f32_to_fp8,
    finalize_f32,
    fp8_acc_width,
    fp8_format,
    fp8_matmul_exact,
    fp8_product_max,
    fp8_to_float,
    int_to_f32_rne,
    product_lsb_exp,
)
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
    "F32_CANONICAL_NAN_BITS",
    "INT8_PRODUCT_MAX",
    "UINT8_INT8_PRODUCT_MAX",
    "Fold",
    "Fp8Format",
    "Fp8Gemm",
    "GemmShape",
    "array_cycles",
    "decode_table",
    "f32_to_fp8",
    "finalize_f32",
    "fold_count",
    "fold_schedule",
    "fp8_acc_width",
    "fp8_format",
    "fp8_matmul_exact",
    "fp8_product_max",
    "fp8_to_float",
    "gemm_cycles",
    "gemm_int8",
    "int8_acc_width",
    "int_to_f32_rne",
    "operand_range",
    "product_lsb_exp",
    "split_folds",
    "sum_folds",
    "tier_cycles",
    "wrap",
]
