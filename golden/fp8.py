"""FP8 (OCP OFP8 E4M3 / E5M2) codes, conversion, and exact dot products (NUMERICS.md §1–§2).

Every result is an exact integer function of the code bits: products are exact, sums are
exact Kulisch integers in units of ``2^L``, and the only rounding is one RNE to binary32.
ml_dtypes is used by the tests as a cross-check of encode/decode, never as the oracle here.
"""

import math
from dataclasses import dataclass

import numpy as np

F32_CANONICAL_NAN_BITS = 0x7FC00000


@dataclass(frozen=True)
class Fp8Format:
    """An OFP8 format (§1.1): field widths, bias, the largest finite code and its NaN code."""

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    max_code: int  # largest finite magnitude code
    nan_code: int  # canonical positive NaN produced by conversion
    has_inf: bool


FORMATS = {
    "e4m3": Fp8Format("e4m3", 4, 3, 7, 0x7E, 0x7F, False),
    "e5m2": Fp8Format("e5m2", 5, 2, 15, 0x7B, 0x7E, True),
}


def fp8_format(fmt):
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return FORMATS[fmt]


def decode_table(fmt):
    """Integer form of all 256 codes (§1.1): ``v = (−1)^sign · sig · 2^exp``.

    Returns a dict of arrays indexed by code: ``sign``, ``sig`` (``M`` or ``M + 2^m``),
    ``exp`` (``max(E,1) − bias − m``), ``is_nan``, ``is_inf``. Specials keep their field
    values in ``sig``/``exp``; callers test the class first.
    """
    f = fp8_format(fmt)
    codes = np.arange(256)
    man = codes & ((1 << f.man_bits) - 1)
    exp_field = (codes >> f.man_bits) & ((1 << f.exp_bits) - 1)
    all_ones = exp_field == (1 << f.exp_bits) - 1
    if f.has_inf:
        is_nan = all_ones & (man != 0)
        is_inf = all_ones & (man == 0)
    else:
        is_nan = all_ones & (man == (1 << f.man_bits) - 1)
        is_inf = np.zeros(256, dtype=bool)
    return {
        "sign": (codes >> 7).astype(np.int64),
        "sig": np.where(exp_field == 0, man, man + (1 << f.man_bits)).astype(np.int64),
        "exp": (np.maximum(exp_field, 1) - f.bias - f.man_bits).astype(np.int64),
        "is_nan": is_nan,
        "is_inf": is_inf,
    }


def fp8_to_float(codes, fmt):
    """Exact float64 values of FP8 codes (NaN, ±inf, ±0 included)."""
    t = decode_table(fmt)
    codes = np.asarray(codes, dtype=np.int64)
    v = np.ldexp(t["sig"].astype(np.float64), t["exp"])
    v = np.where(t["sign"] == 1, -v, v)
    v = np.where(t["is_inf"], np.where(t["sign"] == 1, -np.inf, np.inf), v)
    v = np.where(t["is_nan"], np.nan, v)
    return v[codes]


def f32_to_fp8(x, fmt, *, saturate=False):
    """Convert binary32 values to FP8 codes: RNE on the mantissa, then the range check (§1.2).

    Only float32 input is accepted: a float64 value would be rounded twice (to float32 first),
    which gives wrong ties (§1.2, "float64-input double rounding"). NONSAT overflow gives NaN
    (E4M3) or ±Inf (E5M2); SAT gives ±max. NaN keeps its sign, as ml_dtypes does.
    """
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise TypeError(
            f"x must be float32, got {x.dtype}: cast to float32 yourself; converting float64 "
            "to FP8 rounds twice (NUMERICS.md §1.2)"
        )
    f = fp8_format(fmt)
    u = x.view(np.uint32).astype(np.int64)
    sign = (u >> 31) << 7
    e32 = (u >> 23) & 0xFF
    m32 = u & 0x7FFFFF
    # Finite path, on the 24-bit significand of normal float32 values.
    e_target = e32 - 127 + f.bias
    shift = (23 - f.man_bits) + np.maximum(0, 1 - e_target)
    shift = np.minimum(shift, 40)
    mant = m32 | (1 << 23)
    q = mant >> shift
    rem = mant & ((np.int64(1) << shift) - 1)
    half = np.int64(1) << (shift - 1)
    q = q + ((rem > half) | ((rem == half) & (q & 1 == 1)))
    magnitude = ((np.maximum(e_target, 1) - 1) << f.man_bits) + q
    magnitude = np.where(e32 == 0, 0, magnitude)  # float32 zero and subnormals round to ±0
    overflow_code = f.max_code if saturate else (0x7C if f.has_inf else f.nan_code)
    is_inf = (e32 == 0xFF) & (m32 == 0)
    is_nan = (e32 == 0xFF) & (m32 != 0)
    magnitude = np.where((magnitude > f.max_code) | is_inf, overflow_code, magnitude)
    magnitude = np.where(is_nan, f.nan_code, magnitude)
    return (magnitude | sign).astype(np.uint8)


def product_lsb_exp(fa, fb):
    """Exponent L of the LSB of an exact product of formats ``fa`` × ``fb`` (§2.2)."""
    return int(decode_table(fa)["exp"].min() + decode_table(fb)["exp"].min())


def _max_fixed(fmt):
    t = decode_table(fmt)
    finite = ~(t["is_nan"] | t["is_inf"])
    return max(
        int(s) << int(e - t["exp"].min())
        for s, e in zip(t["sig"][finite], t["exp"][finite], strict=True)
    )


def fp8_acc_width(k, fa, fb):
    """Signed Kulisch accumulator width exact for K products: ``1 + bit_length(K·Pmax)`` (§2.3)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return 1 + (k * _max_fixed(fa) * _max_fixed(fb)).bit_length()


def int_to_f32_rne(n, lsb_exp):
    """``n · 2^lsb_exp`` rounded once to binary32, ties to even (§2.4); exact zero is +0.0.

    ``n`` is a Python int of any size: no detour through float for |n| > 2^53.
    """
    n = int(n)
    if n == 0:
        return np.float32(0.0)
    mag = abs(n)
    length = mag.bit_length()
    if length > 24:
        sh = length - 24
        q = mag >> sh
        rem = mag & ((1 << sh) - 1)
        half = 1 << (sh - 1)
        if rem > half or (rem == half and q & 1):
            q += 1  # may become 2^24: still exact
        mag, lsb_exp = q, lsb_exp + sh
    # mag ≤ 2^24 and the exponent is in binary32's normal range: exact in float64 and float32.
    value = math.ldexp(mag, lsb_exp)
    return np.float32(-value if n < 0 else value)


def finalize_f32(sums, nan, pinf, ninf, lsb_exp):
    """Output rule of §2.5: NaN or (+Inf and −Inf) → canonical NaN; ±Inf; else RNE(sum)."""
    nan = np.asarray(nan, dtype=bool)
    shape = nan.shape
    out = np.zeros(shape, dtype=np.float32)
    flat_sums = np.asarray(sums, dtype=object).reshape(-1)
    flat = out.reshape(-1)
    for i, s in enumerate(flat_sums):
        flat[i] = int_to_f32_rne(int(s), lsb_exp)
    out = np.where(np.asarray(ninf, dtype=bool), np.float32(-np.inf), out)
    out = np.where(np.asarray(pinf, dtype=bool), np.float32(np.inf), out)
    bits = out.view(np.uint32)
    bits = np.where(
        nan | (np.asarray(pinf, bool) & np.asarray(ninf, bool)),
        np.uint32(F32_CANONICAL_NAN_BITS),
        bits,
    )
    return bits.astype(np.uint32).view(np.float32)


@dataclass
class Fp8Gemm:
    """Exact FP8 GEMM: Kulisch sums (Python ints, units ``2^lsb_exp``), flags and the result."""

    sum: np.ndarray
    nan: np.ndarray
    pinf: np.ndarray
    ninf: np.ndarray
    lsb_exp: int
    result: np.ndarray


def _fixed(codes, fmt):
    t = decode_table(fmt)
    special = t["is_nan"] | t["is_inf"]
    fixed = np.where(special, 0, t["sig"] << (t["exp"] - t["exp"].min()))
    fixed = np.where(t["sign"] == 1, -fixed, fixed)
    return fixed[codes], t


def _check_codes(name, x):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix of codes, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer) or (x.size and (x.min() < 0 or x.max() > 255)):
        raise ValueError(f"{name} must hold FP8 codes between 0 and 255")
    return x.astype(np.int64)


def fp8_matmul_exact(a, b, fa, fb):
    """``C = A·B`` for FP8 codes, exactly as NUMERICS.md §2.8 defines it.

    Parameters
    ----------
    a : int array (M, K), codes of format ``fa``
    b : int array (K, N), codes of format ``fb``

    Returns
    -------
    Fp8Gemm
    """
    a = _check_codes("a", a)
    b = _check_codes("b", b)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {a.shape}, b is {b.shape}")
    ia, ta = _fixed(a, fa)
    ib, tb = _fixed(b, fb)
    # 16-bit limbs (floor split keeps lo in [0, 2^16)): every int64 partial sum is exact.
    a_hi, a_lo = ia >> 16, ia & 0xFFFF
    b_hi, b_lo = ib >> 16, ib & 0xFFFF
    hh = (a_hi @ b_hi).astype(object)
    mid = (a_hi @ b_lo).astype(object) + (a_lo @ b_hi).astype(object)
    ll = (a_lo @ b_lo).astype(object)
    total = hh * (1 << 32) + mid * (1 << 16) + ll

    def ind(x):
        return x.astype(np.int64)

    nan_a, inf_a = ta["is_nan"][a], ta["is_inf"][a]
    nan_b, inf_b = tb["is_nan"][b], tb["is_inf"][b]
    neg_a, neg_b = ta["sign"][a] == 1, tb["sign"][b] == 1
    zero_a = (ia == 0) & ~nan_a & ~inf_a
    zero_b = (ib == 0) & ~nan_b & ~inf_b
    ones_a = np.ones_like(ind(nan_a))
    ones_b = np.ones_like(ind(nan_b))
    nan = (
        ind(nan_a) @ ones_b
        + ones_a @ ind(nan_b)
        + ind(inf_a) @ ind(zero_b)
        + ind(zero_a) @ ind(inf_b)
    ) > 0
    nz_a = ~zero_a & ~nan_a  # non-zero, not NaN (finite or infinite)
    nz_b = ~zero_b & ~nan_b

    def inf_products(sign_a, sign_b):
        return (
            ind(inf_a & sign_a) @ ind(nz_b & sign_b) + ind(nz_a & sign_a) @ ind(inf_b & sign_b)
        ) > 0

    pinf = inf_products(~neg_a, ~neg_b) | inf_products(neg_a, neg_b)
    ninf = inf_products(~neg_a, neg_b) | inf_products(neg_a, ~neg_b)
    lsb = product_lsb_exp(fa, fb)
    return Fp8Gemm(total, nan, pinf, ninf, lsb, finalize_f32(total, nan, pinf, ninf, lsb))
