"""Bit-exact NumPy reference models of systolix hardware and its analytical cycle model.

Every function here follows ``docs/numerics.md`` to the bit and has no Amaranth or cocotb
dependency, so the same code serves the generator (widths), the testbenches (expected
values) and the reports (cycle counts).
"""

import importlib

# Names resolve lazily, so ``import golden.formats`` (which the generator does) does not load
# NumPy and the full models.
_EXPORTS = {
    "F32_CANONICAL_NAN_BITS": "golden.fp8",
    "Fold": "golden.tiling",
    "Fp8Format": "golden.formats",
    "Fp8Gemm": "golden.fp8",
    "GemmShape": "golden.perf",
    "INT8_PRODUCT_MAX": "golden.formats",
    "UINT8_INT8_PRODUCT_MAX": "golden.formats",
    "decode_table": "golden.fp8",
    "f32_to_fp8": "golden.fp8",
    "finalize_f32": "golden.fp8",
    "fold_count": "golden.perf",
    "fold_schedule": "golden.tiling",
    "fp8_acc_width": "golden.formats",
    "fp8_format": "golden.formats",
    "fp8_matmul_exact": "golden.fp8",
    "fp8_product_max": "golden.formats",
    "fp8_to_float": "golden.fp8",
    "gemm_int8": "golden.int8",
    "int8_acc_width": "golden.formats",
    "int_to_f32_rne": "golden.fp8",
    "operand_range": "golden.formats",
    "product_lsb_exp": "golden.formats",
    "stream_cycles": "golden.perf",
    "split_folds": "golden.tiling",
    "sum_folds": "golden.tiling",
    "tier_cycles": "golden.perf",
    "wrap": "golden.int8",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'golden' has no attribute {name!r}")
