"""MAC arithmetic: INT8 and FP8 multiply-accumulate units, FP8 decoding, the multiplier
mapping, rounding and conversion units, and the :class:`Arithmetic` interface that the array
and every block after it use instead of branching on the number format."""

from hdl.arith.arithmetic import (
    CODE_SHAPE,
    Arithmetic,
    Fp8Arithmetic,
    Int8Arithmetic,
    arithmetic_for,
)

__all__ = ["CODE_SHAPE", "Arithmetic", "Fp8Arithmetic", "Int8Arithmetic", "arithmetic_for"]
