"""INT8 requantization: bias, multiplier encoding and the two rounding schemes (numerics §3.3–§3.6).

The hardware implements decision B of docs/numerics.md §3.6, a single rounding:
``o = clamp(((acc·M + 2^(n−1)) >> n) + z_o, qmin, qmax)``. The gemmlowp / TFLite default
(reference A, docs/numerics.md §3.5) rounds twice and is modelled beside it for comparison and for a
future compatibility mode. :func:`quantize_multiplier` is the offline float step of docs/numerics.md
§3.4 that turns a real scale into the integers ``(M, shift)``; the hardware only ever sees
``M`` and ``n = 31 − shift``.

All arithmetic is on integers. ``acc·M`` reaches ``2^(W+31)``, beyond int64 for accumulators
wider than 32 bits, so those products are computed on Python ints (see :func:`requantize`).
"""

import math
import numbers

import numpy as np

from golden.int8 import wrap

#: Largest multiplier M: the hardware's multiplier operand is unsigned 31-bit (numerics §3.6).
MULT_MAX = (1 << 31) - 1
#: Range of the right shift n of decision B (n = 31 − shift for TFLite shifts −31..30).
SHIFT_MIN, SHIFT_MAX = 1, 62
#: Range of a bias and of the output zero point: int32 registers and QP records (accelerator §2.3).
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
#: Range of qmin/qmax: the output is int8 (docs/accelerator.md §2.3 Q_CLAMP).
QMIN_LIMIT, QMAX_LIMIT = -128, 127
#: Rounding modes of the generator's ``round_mode`` parameter (docs/numerics.md §3.6).
ROUND_MODES = ("half_up", "half_even")

# |acc| < 2^31 and M < 2^31 give |acc·M| < 2^62; adding 2^(n−1) ≤ 2^61 stays below 2^63, so the
# whole of decision B is exact in int64 for such accumulators. Wider ones go to Python ints.
_INT64_SAFE_ACC = 1 << 31


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_scalar(name, value, lo, hi):
    if not _is_int(value) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer between {lo} and {hi}, got {value!r}")
    return int(value)


def _int_array(name, x):
    """``x`` as an int64 array, or as an object array of Python ints if it does not fit."""
    x = np.asarray(x)
    if x.dtype == object:
        flat = x.reshape(-1)
        if not all(_is_int(v) for v in flat):
            raise TypeError(f"{name} must hold integers, got a non-integer object")
        if all(INT64_MIN <= v <= INT64_MAX for v in flat):
            return x.astype(np.int64)
        return np.vectorize(int, otypes=[object])(x) if x.size else x
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")
    if x.dtype == np.uint64 and x.size and x.max() > INT64_MAX:
        return x.astype(object)
    return x.astype(np.int64)


def _per_column(name, value, lo, hi, shape):
    """A scalar, or one value per column (last axis of ``shape``), checked against [lo, hi]."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return _check_scalar(name, arr.item(), lo, hi)
    cols = shape[-1] if shape else None
    if arr.ndim != 1 or arr.shape[0] != cols:
        want = f"shape ({cols},)" if cols is not None else "a scalar (acc is a scalar)"
        raise ValueError(
            f"{name} must be a scalar or one value per column, {want}, got shape {arr.shape}"
        )
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
        if not all(_is_int(v) for v in arr.tolist()):
            raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    values = [int(v) for v in arr.tolist()]
    for col, v in enumerate(values):
        if not lo <= v <= hi:
            raise ValueError(f"{name} must be between {lo} and {hi}, got {v} in column {col}")
    return np.array(values, dtype=np.int64)


def check_clamp(zero_point, qmin, qmax):
    """Check Q_ZP and Q_CLAMP: an int32 zero point and int8 bounds with ``qmin ≤ qmax``.

    Returns the three values as ints; raises ``ValueError`` naming the bad one.
    """
    zero_point = _check_scalar("zero_point", zero_point, INT32_MIN, INT32_MAX)
    qmin = _check_scalar("qmin", qmin, QMIN_LIMIT, QMAX_LIMIT)
    qmax = _check_scalar("qmax", qmax, QMIN_LIMIT, QMAX_LIMIT)
    if qmin > qmax:
        raise ValueError(f"qmin must not exceed qmax, got qmin={qmin} and qmax={qmax}")
    return zero_point, qmin, qmax


def _finish(y, zero_point, qmin, qmax, scalar):
    """``clamp(y + z_o, qmin, qmax)`` as int64; exact for Python-int ``y`` of any size."""
    if isinstance(y, np.ndarray) and y.dtype != object:
        out = np.minimum(np.maximum(y + zero_point, qmin), qmax)
    else:
        # Python ints, element by element: NumPy would cast them to a fixed width.
        y = np.asarray(y, dtype=object)
        flat = [min(max(v + zero_point, qmin), qmax) for v in y.reshape(-1).tolist()]
        out = np.array(flat, dtype=np.int64).reshape(y.shape)
    return int(out) if scalar else out


def requantize(acc, mult, shift, zero_point=0, qmin=-128, qmax=127, *, round_mode="half_up"):
    """Single-rounding requantization, decision B of docs/numerics.md §3.6.

    ``o = clamp(((acc·M + 2^(n−1)) >> n) + z_o, qmin, qmax)`` with an arithmetic (floor) shift,
    so ties round half toward +∞ (2.5 → 3, −2.5 → −2), bit-identical to ruy and to TFLite
    built with ``TFLITE_SINGLE_ROUNDING``. ``round_mode="half_even"`` is the optional RNE mode
    (``requant_single_rne`` in docs/numerics.md): ties go to the even integer.

    Exactness: for ``|acc| < 2^31`` every intermediate is below 2^63 and int64 is exact. Wider
    accumulators (W up to 64, so ``acc·M`` up to ``2^94``) are computed on Python ints in
    object arrays, which never overflow, and ``>>`` on a Python int is the floor shift the
    hardware's arithmetic shifter performs. The sum ``y + z_o`` and the clamp are taken on
    the full-width ``y``, as the hardware must (a narrower sum could wrap into range).

    Parameters
    ----------
    acc : int or array_like of int
        Accumulator values (the wrapped W-bit sums, bias included). NumPy integer arrays,
        or object arrays of Python ints of any size.
    mult : int or array_like of int
        M, between 0 and 2^31 − 1: a scalar (per-tensor Q_MULT) or one value per column
        (per-channel, shape ``(N,)``, broadcast over the rows of ``acc``).
    shift : int or array_like of int
        n, the right shift, between 1 and 62 (``n = 31 − shift`` of a TFLite multiplier);
        scalar or per column like ``mult``.
    zero_point : int
        Output zero point z_o, an int32.
    qmin, qmax : int
        Clamp bounds, int8, ``qmin ≤ qmax``; they also implement fused ReLU / ReLU6.
    round_mode : str
        ``"half_up"`` (default, the hardware) or ``"half_even"``.

    Returns
    -------
    int, or array of int64 with the shape of ``acc``
    """
    if round_mode not in ROUND_MODES:
        raise ValueError(f"round_mode must be one of {', '.join(ROUND_MODES)}, got {round_mode!r}")
    scalar = np.ndim(acc) == 0
    acc = _int_array("acc", acc)
    mult = _per_column("mult", mult, 0, MULT_MAX, acc.shape)
    shift = _per_column("shift", shift, SHIFT_MIN, SHIFT_MAX, acc.shape)
    zero_point, qmin, qmax = check_clamp(zero_point, qmin, qmax)

    wide = acc.dtype == object or (
        acc.size and (acc.min() <= -_INT64_SAFE_ACC or acc.max() >= _INT64_SAFE_ACC)
    )
    if wide:
        acc = acc.astype(object)
        mult = np.asarray(mult).astype(object)
        shift = np.asarray(shift).astype(object)
    one = acc.dtype.type(1) if not wide else 1
    product = acc * mult
    if round_mode == "half_up":
        y = (product + (one << (shift - 1))) >> shift
    else:
        y = product >> shift  # floor
        rem = product - (y << shift)  # in [0, 2^n)
        half = one << (shift - 1)
        y = y + ((rem > half) | ((rem == half) & (y % 2 == 1)))
    return _finish(y, zero_point, qmin, qmax, scalar)


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` (ARM VQRDMULH), docs/numerics.md §3.5.

    ``round(a·b / 2^31)`` with ties toward +∞ (the nudge is ``2^30`` or ``1 − 2^30``, then a
    division truncating toward zero), and ``2^31 − 1`` for ``a = b = −2^31``.

    Parameters
    ----------
    a, b : int or array_like of int
        int32 values; they broadcast.

    Returns
    -------
    array of int64 (int32 values)
    """
    a = _check_int32_array("a", a)
    b = _check_int32_array("b", b)
    ab = a * b  # |a·b| ≤ 2^62: exact in int64
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    s = ab + nudge
    # C's integer division truncates toward zero; NumPy's >> floors, so divide the magnitude.
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, np.int64(INT32_MAX), high)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2^exponent`` rounded half away from zero (§3.5).

    Parameters
    ----------
    x : int or array_like of int
        int32 values.
    exponent : int or array_like of int
        Between 0 and 31; broadcasts with ``x``.

    Returns
    -------
    array of int64 (int32 values)
    """
    x = _check_int32_array("x", x)
    exponent = np.asarray(exponent, dtype=np.int64)
    if exponent.size and (exponent.min() < 0 or exponent.max() > 31):
        raise ValueError(
            f"exponent must be between 0 and 31, got {exponent.min()}..{exponent.max()}"
        )
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask  # the low bits of the two's-complement x, as in C
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def _check_int32_array(name, x):
    x = _int_array(name, x)
    if x.dtype == object or (x.size and (x.min() < INT32_MIN or x.max() > INT32_MAX)):
        raise ValueError(f"{name} must be between {INT32_MIN} and {INT32_MAX} (int32)")
    return x


def requant_tflite(acc, mult, shift, zero_point=0, qmin=-128, qmax=127):
    """Double-rounding requantization of gemmlowp / TFLite's default kernels, docs/numerics.md §3.5.

    ``o = clamp(RDBPOT(SRDHM(acc·2^left, M), right) + z_o, qmin, qmax)`` with TFLite's signed
    exponent ``e = 31 − n``, ``left = max(e, 0)`` and ``right = max(−e, 0)``: the same (M, n)
    registers as :func:`requantize`, so the two can be compared on equal inputs. The first
    rounding is half toward +∞ and the second half away from zero, so the result differs from
    decision B by at most one LSB: on negative exact ties when ``n > 31`` (−0.5 → −1 here,
    0 in B), and where the first rounding moves a value across a half (μ = 0.3, acc = −3998
    gives −1200 here and −1199 in B). For ``n ≤ 31`` there is no second rounding and A = B.

    Parameters
    ----------
    acc : int or array_like of int
        int32 accumulators, and ``acc·2^left`` must be an int32 too: TFLite computes
        ``x * (1 << left_shift)`` in int32, whose overflow C++ leaves undefined, so this
        reference refuses it rather than guess.
    mult : int or array_like of int
        M between 0 and 2^31 − 1, scalar or one per column.
    shift : int or array_like of int
        n between 1 and 62, scalar or one per column.
    zero_point, qmin, qmax : int
        As in :func:`requantize`.

    Returns
    -------
    int, or array of int64 with the shape of ``acc``
    """
    scalar = np.ndim(acc) == 0
    acc = _int_array("acc", acc)
    if acc.dtype == object or (acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX)):
        raise ValueError(
            f"acc must be between {INT32_MIN} and {INT32_MAX} for the TFLite reference (int32)"
        )
    mult = _per_column("mult", mult, 0, MULT_MAX, acc.shape)
    shift = _per_column("shift", shift, SHIFT_MIN, SHIFT_MAX, acc.shape)
    zero_point, qmin, qmax = check_clamp(zero_point, qmin, qmax)
    exponent = 31 - np.asarray(shift, dtype=np.int64)
    left = np.maximum(exponent, 0)
    right = np.maximum(-exponent, 0)
    x = acc << left  # |acc| < 2^31 and left ≤ 30: exact in int64
    if x.size and (x.min() < INT32_MIN or x.max() > INT32_MAX):
        raise ValueError(
            "acc·2^(31−shift) must be an int32 for the TFLite reference (its left shift "
            "overflows int32 for these values)"
        )
    y = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, mult), right)
    return _finish(y, zero_point, qmin, qmax, scalar)


def quantize_multiplier(real_multiplier, *, single_rounding=False):
    """TFLite ``QuantizeMultiplier``: a real scale μ as ``(M, shift)``, docs/numerics.md §3.4.

    ``q, shift = frexp(μ)`` with ``q ∈ [0.5, 1)``; ``M = round_half_away(q·2^31)``; an ``M``
    of 2^31 becomes 2^30 with ``shift + 1``; ``shift < −31`` flushes to ``(0, 0)``; μ = 0
    gives ``(0, 0)``. Then ``μ ≈ M·2^(shift−31)`` and the hardware's right shift is
    ``n = 31 − shift`` (:func:`shift_to_n`). This runs offline, in floating point, as in the
    compiler; the hardware and the models receive only the integers.

    Parameters
    ----------
    real_multiplier : float
        μ = s_a·s_w / s_o, finite and non-negative (the hardware's M is unsigned).
    single_rounding : bool
        Also apply the ``TFLITE_SINGLE_ROUNDING`` saturation: ``shift > 30`` (μ ≥ 2^30)
        becomes ``(2^31 − 1, 30)``, so that n ≥ 1.

    Returns
    -------
    (int, int)
        ``(M, shift)`` with ``M`` in [2^30, 2^31) or 0.
    """
    if isinstance(real_multiplier, bool) or not isinstance(real_multiplier, numbers.Real):
        raise TypeError(f"real_multiplier must be a real number, got {real_multiplier!r}")
    mu = float(real_multiplier)
    if not math.isfinite(mu) or mu < 0:
        raise ValueError(f"real_multiplier must be finite and at least 0, got {mu!r}")
    if mu == 0.0:
        return 0, 0
    q, shift = math.frexp(mu)
    # q·2^31 only moves the exponent, so it is exact; both terms of the subtraction below
    # lie in [2^30, 2^31], where it is exact too (Sterbenz): the tie test has no error.
    scaled = q * (1 << 31)
    m = math.floor(scaled)
    if scaled - m >= 0.5:  # std::round: half away from zero
        m += 1
    if m == 1 << 31:
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if single_rounding and shift > 30:
        return MULT_MAX, 30
    return m, shift


def shift_to_n(shift):
    """The right shift ``n = 31 − shift`` of decision B for a TFLite shift (docs/numerics.md §3.6).

    Raises ``ValueError`` unless ``shift`` is between −31 and 30 (n between 1 and 62).
    """
    shift = _check_scalar("shift", shift, 31 - SHIFT_MAX, 31 - SHIFT_MIN)
    return 31 - shift


def add_bias(acc, bias, acc_width):
    """The bias as the initial partial sum: ``wrap(bias + acc, W)`` per column (numerics §3.3).

    The accumulator starts at the bias instead of zero and wraps modulo 2^W (§3.2), so adding
    the bias before, between or after the folds gives the same bits. With W < 32 a large
    int32 bias wraps too (docs/numerics.md §3.1 sizes W with ``|bias|max`` for that reason).

    Parameters
    ----------
    acc : array_like of int
        Accumulator values, (M, N) or (N,), fitting in int64.
    bias : int or array_like of int
        int32 bias, a scalar or one value per column (shape ``(N,)``).
    acc_width : int
        W, between 1 and 64.

    Returns
    -------
    array of int64
    """
    acc = _int_array("acc", acc)
    if acc.dtype == object:
        raise ValueError("acc must fit in int64 (the accumulator is at most 64 bits wide)")
    if not _is_int(acc_width) or not 1 <= acc_width <= 64:
        raise ValueError(f"acc_width must be between 1 and 64, got {acc_width!r}")
    bias = _per_column("bias", bias, INT32_MIN, INT32_MAX, acc.shape)
    # Add modulo 2^64 in uint64 (no overflow warning, and wrap() reduces it modulo 2^W anyway).
    total = acc.astype(np.uint64) + np.asarray(bias, dtype=np.int64).astype(np.uint64)
    return wrap(total.view(np.int64), acc_width)
