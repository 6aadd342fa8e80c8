"""INT8 multiply-accumulate arithmetic (docs/numerics.md §3.1–§3.2).

Products are int8 weights times int8 or uint8 activations; the accumulator is a W-bit
two's-complement register that wraps. Wrapping is modular, so the result does not depend on
the order of k, the array height or the fold split.
"""

import numpy as np

from golden.checks import check_operand
from golden.errors import UsageValueError, check_bool
from golden.formats import (  # noqa: F401  (re-exported)
    INT8_PRODUCT_MAX,
    UINT8_INT8_PRODUCT_MAX,
    int8_acc_width,
    operand_range,
)


def wrap(x, width):
    """Wrap integers to ``width``-bit two's complement (§3.2), element-wise.

    Works on Python ints of any width (the FP8 Kulisch sums reach 77+ bits) and on NumPy
    integer arrays (widths up to 64).
    """
    if width < 1:
        raise UsageValueError(f"width must be at least 1, got {width}", parameter="width")
    if isinstance(x, int):
        x &= (1 << width) - 1
        return x - (1 << width) if x >> (width - 1) else x
    if width > 64:
        raise UsageValueError(
            f"width must be between 1 and 64 for NumPy arrays, got {width}", parameter="width"
        )
    # Shift the low W bits to the top of a uint64 and shift back arithmetically: exact for
    # every width up to 64, with no modulus that could overflow int64.
    shift = np.uint64(64 - width)
    bits = np.asarray(x).astype(np.int64).astype(np.uint64) << shift
    return bits.view(np.int64) >> np.int64(64 - width)


def gemm_int8(a, b, acc_width, *, act_unsigned=False):
    """``C = wrap(A·B, acc_width)`` exactly as the INT8 array computes it (§3.1, §3.2).

    Parameters
    ----------
    a : array (M, K)
        Activations: int8 values, or uint8 values when ``act_unsigned``.
    b : array (K, N)
        Int8 weights.
    acc_width : int
        Accumulator width W; the sum wraps modulo 2^W.
    act_unsigned : bool
        Activations are uint8 (the 9-bit signed operand is zero-extended).

    Returns
    -------
    array (M, N) of int64
    """
    act_unsigned = check_bool("act_unsigned", act_unsigned)
    lo, hi = operand_range(act_unsigned)
    kind = "uint8 activations" if act_unsigned else "int8 activations"
    a = check_operand("a", a, lo, hi, kind=kind)
    b = check_operand("b", b, -128, 127, kind="int8 weights")
    if a.shape[1] != b.shape[0]:
        raise UsageValueError(f"inner dimensions differ: a is {a.shape}, b is {b.shape}")
    # |A·B| ≤ K·32640 < 2^63 for any K below 2^48, so int64 matmul is exact before wrapping.
    return wrap(a @ b, acc_width)
