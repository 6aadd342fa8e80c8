"""FP8 (OCP OFP8 E4M3 / E5M2) codes, conversion, and exact dot products (docs/numerics.md §1–§2).

Every result is an exact integer function of the code bits: products are exact, sums are
exact Kulisch integers in units of ``2^L``, and the only rounding is one RNE to binary32.
ml_dtypes is used by the tests as a cross-check of encode/decode, never as the oracle here.
"""

import functools
import math
import operator
from dataclasses import dataclass

import numpy as np

from golden.formats import (  # noqa: F401  (re-exported: the models and the hardware share them)
    FORMATS,
    Fp8Format,
    fp8_acc_width,
    fp8_format,
    fp8_product_max,
    product_lsb_exp,
)

#: The one NaN the array emits (§2.5): positive, quiet, no payload.
F32_CANONICAL_NAN_BITS = 0x7FC00000
_F32_PINF_BITS = 0x7F800000
_F32_NINF_BITS = 0xFF800000


@functools.cache
def _table(fmt):
    """Cached, read-only decode table; :func:`decode_table` hands out copies."""
    f = fp8_format(fmt)
    codes = np.arange(256, dtype=np.int64)
    man = codes & ((1 << f.man_bits) - 1)
    exp_field = (codes >> f.man_bits) & ((1 << f.exp_bits) - 1)
    all_ones = exp_field == (1 << f.exp_bits) - 1
    if f.has_inf:
        is_nan = all_ones & (man != 0)
        is_inf = all_ones & (man == 0)
    else:
        is_nan = all_ones & (man == (1 << f.man_bits) - 1)
        is_inf = np.zeros(256, dtype=bool)
    table = {
        "sign": codes >> 7,
        "sig": np.where(exp_field == 0, man, man + (1 << f.man_bits)),
        "exp": np.maximum(exp_field, 1) - f.bias - f.man_bits,
        "is_nan": is_nan,
        "is_inf": is_inf,
    }
    for array in table.values():
        array.flags.writeable = False
    return table


def decode_table(fmt):
    """Integer form of all 256 codes of ``fmt`` (docs/numerics.md §1.1).

    A finite code decodes to ``v = (−1)^sign · sig · 2^exp`` with
    ``sig = M if E == 0 else M + 2^m`` and ``exp = max(E, 1) − bias − m``.

    Parameters
    ----------
    fmt : str
        ``"e4m3"`` or ``"e5m2"``.

    Returns
    -------
    dict of str to array (256,)
        ``sign`` (int64, 0 or 1), ``sig`` (int64), ``exp`` (int64), ``is_nan`` (bool) and
        ``is_inf`` (bool, all False for E4M3), indexed by code. NaN and Inf codes keep the
        values their fields give in ``sig`` / ``exp``: test the class first. Over the finite
        codes ``sig`` spans [0, 15] and ``exp`` [−9, 5] (E4M3), [0, 7] and [−16, 13] (E5M2).
    """
    return {name: array.copy() for name, array in _table(fmt).items()}


def _check_codes(name, x, *, matrix=False):
    x = np.asarray(x)
    if matrix and x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix of FP8 codes, got shape {x.shape}")
    if x.dtype == object or not (np.issubdtype(x.dtype, np.integer) or x.size == 0):
        raise TypeError(f"{name} must hold integer FP8 codes, got dtype {x.dtype}")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError(f"{name} codes must be between 0 and 255, got {x.min()}..{x.max()}")
    return x.astype(np.int64)


def fp8_to_float(codes, fmt):
    """Exact float64 values of FP8 codes (docs/numerics.md §1.1).

    Parameters
    ----------
    codes : array_like of int
        Codes between 0 and 255, any shape.
    fmt : str
        ``"e4m3"`` or ``"e5m2"``.

    Returns
    -------
    array of float64, same shape as ``codes``
        NaN for NaN codes, ±inf for E5M2 infinities, −0.0 for 0x80. Every finite FP8 value
        is exact in float64.
    """
    t = _table(fmt)
    codes = _check_codes("codes", codes)
    v = np.ldexp(t["sig"].astype(np.float64), t["exp"])
    v = np.where(t["is_inf"], np.inf, v)
    v = np.where(t["is_nan"], np.nan, v)
    v = np.where(t["sign"] == 1, -v, v)
    return v[codes]


def f32_to_fp8(x, fmt, *, saturate=False):
    """Convert binary32 values to FP8 codes (docs/numerics.md §1.2, OFP8 §5.2 Table 3).

    RNE on the mantissa first, as if the exponent were unbounded, then the range check on the
    rounded magnitude. All arithmetic is on integers taken from the float32 bit patterns.

    =====================  ========  ===========  ========  ===========
    source                 E5M2 SAT  E5M2 NONSAT  E4M3 SAT  E4M3 NONSAT
    =====================  ========  ===========  ========  ===========
    NaN                    NaN       NaN          NaN       NaN
    ±Inf                   ±57344    ±Inf         ±448      NaN
    rounded beyond ±max    ±57344    ±Inf         ±448      NaN
    =====================  ========  ===========  ========  ===========

    NaN outputs are the canonical codes with the input's sign, as ml_dtypes produces them:
    0x7F / 0xFF (E4M3), 0x7E / 0xFE (E5M2). Results below half the smallest subnormal, and
    every float32 subnormal, become ±0.

    Parameters
    ----------
    x : array_like of float32
        Any shape. Any other dtype raises ``TypeError``: converting float64 would round twice
        (§1.2 "float64-input double rounding", §6.3).
    fmt : str
        ``"e4m3"`` or ``"e5m2"``.
    saturate : bool
        SAT mode (overflow and ±Inf give ±max) instead of the default NONSAT, which equals
        ml_dtypes ``astype`` from float32.

    Returns
    -------
    array of uint8, same shape as ``x``
    """
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise TypeError(
            f"x must be float32, got {x.dtype}: cast to float32 yourself first. The golden model "
            "converts only binary32 to FP8, because float64 input is rounded twice (first to "
            "float32, then to FP8), which breaks ties: np.float64(1.0625 + 2**-40) gives 1.0 "
            "instead of 1.125 in E4M3 (docs/numerics.md §1.2, §6.3)"
        )
    f = fp8_format(fmt)
    m = f.man_bits
    u = x.view(np.uint32).astype(np.int64)
    sign = (u >> 31) << 7
    e32 = (u >> 23) & 0xFF
    m32 = u & 0x7FFFFF
    # A normal float32 is sig·2^(e32−150) with a 24-bit sig. Keep m bits below the leading one,
    # and more below the FP8 subnormal threshold (target field ≤ 0), then round half to even.
    e_field = e32 - 127 + f.bias
    shift = (23 - m) + np.maximum(0, 1 - e_field)
    shift = np.minimum(shift, 31)  # a shift ≥ 25 already leaves rem < half: the result is 0
    sig = m32 | (1 << 23)
    q = sig >> shift
    rem = sig & ((np.int64(1) << shift) - 1)
    half = np.int64(1) << (shift - 1)
    q = q + ((rem > half) | ((rem == half) & ((q & 1) == 1)))
    # q ∈ [2^m, 2^(m+1)] for normal targets, [0, 2^m] for subnormal ones; a carry to the next
    # binade needs no special case because the code is (field − 1)·2^m + q.
    magnitude = ((np.maximum(e_field, 1) - 1) << m) + q
    # Every float32 subnormal is below 2^−126, far under half of the smallest FP8 subnormal.
    magnitude = np.where(e32 == 0, 0, magnitude)
    is_inf = (e32 == 0xFF) & (m32 == 0)
    is_nan = (e32 == 0xFF) & (m32 != 0)
    if saturate:
        overflow_code = f.max_code
    else:
        overflow_code = f.inf_code if f.has_inf else f.nan_code
    magnitude = np.where((magnitude > f.max_code) | is_inf, overflow_code, magnitude)
    magnitude = np.where(is_nan, f.nan_code, magnitude)
    return (magnitude | sign).astype(np.uint8)


def _round_int_to_f32(n, lsb_exp):
    n = operator.index(n)
    lsb_in = lsb_exp
    if n == 0:
        return np.float32(0.0)  # exact zero is +0.0 (§2.6)
    mag = abs(n)
    length = mag.bit_length()
    if length > 24:
        sh = length - 24
        q = mag >> sh
        rem = mag & ((1 << sh) - 1)
        half = 1 << (sh - 1)
        if rem > half or (rem == half and q & 1):
            q += 1  # may become 2^24: still one binary32 significand
        mag, lsb_exp = q, lsb_exp + sh
    top = lsb_exp + mag.bit_length() - 1
    if not -126 <= top <= 127:
        raise ValueError(
            f"n·2^lsb_exp must round into the binary32 normal range [2^-126, 2^128), got "
            f"about 2^{top} (n = {n}, lsb_exp = {lsb_in})"
        )
    # mag ≤ 2^24 in binary32's normal exponent range: exact in float64 and in float32.
    value = math.ldexp(mag, lsb_exp)
    return np.float32(-value if n < 0 else value)


def int_to_f32_rne(n, lsb_exp):
    """``n · 2^lsb_exp`` rounded once to binary32, ties to even (docs/numerics.md §2.4).

    The rounding is done on the Python int: leading-one position, a 24-bit quotient, the
    remainder against half an ULP, one increment (which may carry into the next binade).
    There is no detour through ``float(n)``, which would round twice once |n| > 2^53.

    Parameters
    ----------
    n : int or array_like of int
        Python ints of any size (NumPy integers are accepted too), or a sequence / array of
        them (object arrays for sums wider than 64 bits).
    lsb_exp : int
        Exponent of the weight of ``n``'s least significant bit (L of §2.2).

    Returns
    -------
    numpy.float32, or array of float32 with the shape of ``n``
        Exact zero gives +0.0.

    Raises
    ------
    ValueError
        If the rounded value is outside binary32's normal range (impossible for FP8 sums
        with K < 2^40, §2.4).
    """
    lsb_exp = operator.index(lsb_exp)
    if isinstance(n, int | np.integer):
        return _round_int_to_f32(n, lsb_exp)
    n = np.asarray(n, dtype=object)
    out = np.array([_round_int_to_f32(v, lsb_exp) for v in n.reshape(-1)], dtype=np.float32)
    return out.reshape(n.shape)


def finalize_f32(sums, nan, pinf, ninf, lsb_exp):
    """Output rule of docs/numerics.md §2.5: the flags, else one RNE rounding of the sum (§2.4).

    ``NaN or (PINF and NINF)`` → canonical NaN 0x7FC00000; else ``PINF`` → +Inf; else
    ``NINF`` → −Inf; else ``int_to_f32_rne(sum, lsb_exp)`` (exact zero → +0.0).

    Parameters
    ----------
    sums : array_like of int
        Exact Kulisch sums in units of ``2^lsb_exp`` (Python ints of any size), any shape.
    nan, pinf, ninf : array_like of bool
        Sticky flags, the shape of ``sums``.
    lsb_exp : int
        L of §2.2 (:func:`product_lsb_exp`).

    Returns
    -------
    array of float32, the shape of ``sums``
    """
    sums = np.asarray(sums, dtype=object)
    flags = [np.asarray(flag, dtype=bool) for flag in (nan, pinf, ninf)]
    for name, flag in zip(("nan", "pinf", "ninf"), flags, strict=True):
        if flag.shape != sums.shape:
            raise ValueError(f"{name} must have the shape of sums {sums.shape}, got {flag.shape}")
    nan, pinf, ninf = flags
    bits = int_to_f32_rne(sums, lsb_exp).view(np.uint32)
    bits = np.where(ninf, np.uint32(_F32_NINF_BITS), bits)
    bits = np.where(pinf, np.uint32(_F32_PINF_BITS), bits)
    bits = np.where(nan | (pinf & ninf), np.uint32(F32_CANONICAL_NAN_BITS), bits)
    return bits.astype(np.uint32).view(np.float32)


@dataclass(frozen=True)
class Fp8Gemm:
    """Exact FP8 GEMM ``C = A·B`` (docs/numerics.md §2.2–§2.5).

    Members
    -------
    sum : array (M, N) of object
        Exact Kulisch sums of the finite products, Python ints in units of ``2^lsb_exp``.
        Products involving NaN or Inf contribute 0 (§2.5).
    nan, pinf, ninf : array (M, N) of bool
        Sticky special-value flags (§2.5).
    lsb_exp : int
        L of §2.2.
    result : array (M, N) of float32
        The array's output: :func:`finalize_f32` of the above.
    """

    sum: np.ndarray
    nan: np.ndarray
    pinf: np.ndarray
    ninf: np.ndarray
    lsb_exp: int
    result: np.ndarray


def _fixed(codes, fmt):
    """Signed integers of codes in units of the format's smallest subnormal (§2.8); 0 for
    NaN and Inf. |value| < 2^18 (E4M3) or < 2^32 (E5M2)."""
    t = _table(fmt)
    special = t["is_nan"] | t["is_inf"]
    fixed = np.where(special, 0, t["sig"] << (t["exp"] - t["exp"].min()))
    return np.where(t["sign"] == 1, -fixed, fixed)[codes]


# Why float64 is exact here (the int64 limb matmul of docs/numerics.md §2.8, done by BLAS): the
# floor split x = hi·2^16 + lo of an integer |x| < 2^32 (E5M2 reaches 7·2^29) gives
# lo ∈ [0, 2^16) and hi ∈ [−2^16, 2^16), so every limb product is an integer of magnitude
# ≤ 2^32. A dot product of at most 2^21 of them has every partial sum, in any order and with or
# without FMA, an integer of magnitude ≤ 2^21·2^32 = 2^53, and every such integer is a float64:
# no operation rounds. Longer K is cut into chunks of 2^21 terms, summed as Python ints.
_LIMB_BITS = 16
_F64_EXACT_TERMS = 1 << 21


def _exact_matmul(x, y):
    """``x @ y`` as exact Python ints for int64 ``x`` (M, K) and ``y`` (K, N) below 2^32 in
    magnitude: the limb-split matmul of docs/numerics.md §2.8."""
    mask = (1 << _LIMB_BITS) - 1
    # Floor split: x = hi·2^16 + lo with lo ∈ [0, 2^16) and |hi| ≤ 2^16 (see above).
    x_hi, x_lo = (x >> _LIMB_BITS).astype(np.float64), (x & mask).astype(np.float64)
    y_hi, y_lo = (y >> _LIMB_BITS).astype(np.float64), (y & mask).astype(np.float64)
    total = np.zeros((x.shape[0], y.shape[1]), dtype=object)
    for k0 in range(0, x.shape[1], _F64_EXACT_TERMS):
        ks = slice(k0, k0 + _F64_EXACT_TERMS)

        def part(p, q, ks=ks):
            return (p[:, ks] @ q[ks, :]).astype(np.int64).astype(object)

        hh = part(x_hi, y_hi)
        mid = part(x_hi, y_lo) + part(x_lo, y_hi)
        ll = part(x_lo, y_lo)
        total = total + (hh << 2 * _LIMB_BITS) + (mid << _LIMB_BITS) + ll
    return total


def _any_pair(p, q):
    """``out[i, j] = any_k(p[i, k] & q[k, j])`` by an indicator-matrix matmul (exact counts)."""
    return (p.astype(np.float64) @ q.astype(np.float64)) > 0


def fp8_matmul_exact(a, b, fa, fb):
    """``C = A·B`` for FP8 codes, exactly as docs/numerics.md §2.8 defines it.

    Products are exact, the finite ones are summed exactly as integers in units of
    ``2^L`` (§2.2), special values set sticky flags (§2.5), and each output is rounded once
    to binary32 (§2.4). The result is independent of summation order and of how K is split.

    Parameters
    ----------
    a : array_like of int, shape (M, K)
        Codes of format ``fa`` (activations).
    b : array_like of int, shape (K, N)
        Codes of format ``fb`` (weights).
    fa, fb : str
        ``"e4m3"`` or ``"e5m2"``.

    Returns
    -------
    Fp8Gemm
    """
    ta, tb = _table(fa), _table(fb)
    a = _check_codes("a", a, matrix=True)
    b = _check_codes("b", b, matrix=True)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {a.shape}, b is {b.shape}")
    ia, ib = _fixed(a, fa), _fixed(b, fb)
    total = _exact_matmul(ia, ib)

    # Flags of §2.5, each an OR over k of a per-product condition.
    nan_a, inf_a = ta["is_nan"][a], ta["is_inf"][a]
    nan_b, inf_b = tb["is_nan"][b], tb["is_inf"][b]
    zero_a = (ia == 0) & ~nan_a & ~inf_a
    zero_b = (ib == 0) & ~nan_b & ~inf_b
    m, n = a.shape[0], b.shape[1]
    nan = nan_a.any(axis=1)[:, None] | nan_b.any(axis=0)[None, :]
    pinf = np.zeros((m, n), dtype=bool)
    ninf = np.zeros((m, n), dtype=bool)
    if inf_a.any() or inf_b.any():
        nan = nan | _any_pair(inf_a, zero_b) | _any_pair(zero_a, inf_b)  # Inf × 0
        neg_a, neg_b = ta["sign"][a] == 1, tb["sign"][b] == 1
        nz_a, nz_b = ~zero_a & ~nan_a, ~zero_b & ~nan_b  # finite non-zero or infinite

        def inf_products(sign_a, sign_b):
            """Some k has Inf × (non-zero, non-NaN) with these operand signs."""
            return _any_pair(inf_a & sign_a, nz_b & sign_b) | _any_pair(
                nz_a & sign_a, inf_b & sign_b
            )

        pinf = inf_products(~neg_a, ~neg_b) | inf_products(neg_a, neg_b)
        ninf = inf_products(~neg_a, neg_b) | inf_products(neg_a, ~neg_b)
    lsb = product_lsb_exp(fa, fb)
    return Fp8Gemm(total, nan, pinf, ninf, lsb, finalize_f32(total, nan, pinf, ninf, lsb))
