"""Golden FP8 model against independent references: ml_dtypes (codes only), exact rational
arithmetic with ``fractions`` (sums and rounding), and NUMERICS.md §2.9 / §6 vectors."""

import itertools
import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from golden.fp8 import (
    F32_CANONICAL_NAN_BITS,
    f32_to_fp8,
    fp8_acc_width,
    fp8_matmul_exact,
    fp8_to_float,
    int_to_f32_rne,
)

ML = {"e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2}
PAIRS = [("e4m3", "e4m3"), ("e5m2", "e5m2"), ("e4m3", "e5m2")]


def f32(x):
    return np.array(x, dtype=np.float32)


def bits(x):
    return np.asarray(x, dtype=np.float32).view(np.uint32)


def code(value, fmt):
    return int(f32_to_fp8(f32([value]), fmt)[0])


# --- codes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_decode_all_codes_match_ml_dtypes(fmt):
    ref = np.arange(256, dtype=np.uint8).view(ML[fmt]).astype(np.float64)
    mine = fp8_to_float(np.arange(256), fmt)
    assert np.array_equal(np.isnan(ref), np.isnan(mine))
    finite = ~np.isnan(ref)
    assert np.array_equal(ref[finite], mine[finite])
    assert np.array_equal(np.signbit(ref[finite]), np.signbit(mine[finite]))  # ±0


def test_decode_landmarks():
    e4 = fp8_to_float(np.arange(256), "e4m3")
    e5 = fp8_to_float(np.arange(256), "e5m2")
    assert e4[0x7E] == 448 and np.isnan(e4[0x7F]) and np.isnan(e4[0xFF]) and e4[0x01] == 2**-9
    assert e4[0x07] == 0.875 * 2**-6 and e4[0x08] == 2**-6
    assert e5[0x7C] == np.inf and e5[0xFC] == -np.inf and np.isnan(e5[0x7D:0x80]).all()
    assert e5[0x7B] == 57344 and e5[0x01] == 2**-16 and e5[0x04] == 2**-14


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_nonsat_equals_ml_dtypes(fmt):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    # Every midpoint between neighbouring FP8 values, and one float32 ulp either side.
    values = np.unique(
        np.abs(fp8_to_float(np.arange(256), fmt)[np.isfinite(fp8_to_float(np.arange(256), fmt))])
    )
    mids = ((values[1:] + values[:-1]) / 2).astype(np.float32)
    near = np.concatenate(
        [mids, np.nextafter(mids, np.float32(0)), np.nextafter(mids, np.float32(np.inf))]
    )
    x = np.concatenate([x, near, -near, f32([np.inf, -np.inf, np.nan, 0.0, -0.0])])
    with np.errstate(invalid="ignore", over="ignore"):
        want = x.astype(ML[fmt]).view(np.uint8)
    got = f32_to_fp8(x, fmt)
    nan_codes = np.isnan(fp8_to_float(np.arange(256), fmt))
    both_nan = nan_codes[got] & nan_codes[want]
    assert np.array_equal(got[~both_nan], want[~both_nan])
    assert np.array_equal(nan_codes[got], nan_codes[want])


@pytest.mark.parametrize(("fmt", "big"), [("e4m3", 448.0), ("e5m2", 57344.0)])
def test_sat_equals_clip_then_cast(fmt, big):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal(50_000) * big).astype(np.float32)
    want = np.clip(x, -big, big).astype(ML[fmt]).view(np.uint8)
    assert np.array_equal(f32_to_fp8(x, fmt, saturate=True), want)
    assert list(f32_to_fp8(f32([np.inf, -np.inf]), fmt, saturate=True)) == [
        code(big, fmt),
        code(-big, fmt),
    ]


def test_conversion_thresholds_numerics_6_2():
    ulp = lambda v: float(np.nextafter(np.float32(v), np.float32(np.inf)))  # noqa: E731
    assert code(464, "e4m3") == 0x7E  # tie to even: 448
    assert code(ulp(464), "e4m3") == 0x7F  # NaN (NONSAT)
    assert int(f32_to_fp8(f32([ulp(464)]), "e4m3", saturate=True)[0]) == 0x7E
    assert list(f32_to_fp8(f32([np.inf, -np.inf]), "e4m3")) == [0x7F, 0xFF]
    assert code(61440, "e5m2") == 0x7C and code(61439, "e5m2") == 0x7B
    assert code(2**-10, "e4m3") == 0x00 and code(2**-10 * (1 + 2**-23), "e4m3") == 0x01
    assert [fp8_to_float(code(v, "e4m3"), "e4m3") for v in (1.0625, 1.1875, 17, 19)] == [
        1.0,
        1.25,
        16,
        20,
    ]


def test_float64_input_refused_numerics_6_3():
    with pytest.raises(TypeError, match="float32"):
        f32_to_fp8(np.array([1.0625 + 2**-40]), "e4m3")
    # Correct rounding of the float32 path: 1.0625 + 2^-20 is above the tie → 1.125.
    assert fp8_to_float(code(1.0625 + 2**-20, "e4m3"), "e4m3") == 1.125


# --- arithmetic --------------------------------------------------------------------------------


def rne_f32_fraction(q):
    """Independent binary32 RNE of an exact rational, by comparing against neighbours."""
    if q == 0:
        return 0.0
    sign = -1 if q < 0 else 1
    q = abs(q)
    e = math.floor(math.log2(q.numerator) - math.log2(q.denominator))
    while Fraction(2) ** e > q:
        e -= 1
    while Fraction(2) ** (e + 1) <= q:
        e += 1
    step = Fraction(2) ** (e - 23)
    lo = (q // step) * step
    hi = lo + step
    pick = lo if (q - lo < hi - q or (q - lo == hi - q and (lo / step) % 2 == 0)) else hi
    return sign * float(pick)


def test_int_to_f32_rne_against_fractions():
    rng = np.random.default_rng(2)
    cases = [1, -1, (1 << 24) + 1, (1 << 24) + 3, (1 << 25) - 1, ((1 << 24) - 1) * 2 + 1]
    cases += [int(x) * int(rng.choice([-1, 1])) for x in rng.integers(1, 2**62, 400)]
    cases += [int(rng.integers(1, 2**62)) << int(rng.integers(0, 18)) for _ in range(200)]
    for n in cases:
        for lsb in (-32, -18, 0):
            assert int_to_f32_rne(n, lsb) == rne_f32_fraction(Fraction(n) * Fraction(2) ** lsb)
    assert bits(int_to_f32_rne(0, -18)) == 0  # +0.0
    assert int_to_f32_rne((1 << 24) + 1, 0) == 2**24  # tie to even, down
    assert int_to_f32_rne((1 << 25) - 1, 0) == 2**25  # carry into the next binade


def fraction_gemm(a, b, fa, fb):
    va = fp8_to_float(a, fa)
    vb = fp8_to_float(b, fb)
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = rne_f32_fraction(
                sum(Fraction(x) * Fraction(y) for x, y in zip(va[i], vb[:, j], strict=True))
            )
    return out


@pytest.mark.parametrize(("fa", "fb"), PAIRS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_matmul_matches_fraction_oracle(fa, fb, data):
    """Random finite codes, subnormals included: bits equal exact-rational-then-RNE."""

    def finite_codes(fmt):
        vals = fp8_to_float(np.arange(256), fmt)
        return [c for c in range(256) if np.isfinite(vals[c])]

    m, k, n = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 24), st.integers(1, 4)))
    a = data.draw(hnp.arrays(np.int64, (m, k), elements=st.sampled_from(finite_codes(fa))))
    b = data.draw(hnp.arrays(np.int64, (k, n), elements=st.sampled_from(finite_codes(fb))))
    got = fp8_matmul_exact(a, b, fa, fb).result
    assert np.array_equal(bits(got), bits(fraction_gemm(a, b, fa, fb)))


def test_e4m3_float64_shortcut_numerics_2_8():
    rng = np.random.default_rng(4)
    finite = [c for c in range(256) if c & 0x7F != 0x7F]
    a = rng.choice(finite, (16, 300))
    b = rng.choice(finite, (300, 16))
    want = (fp8_to_float(a, "e4m3") @ fp8_to_float(b, "e4m3")).astype(np.float32)
    assert np.array_equal(bits(fp8_matmul_exact(a, b, "e4m3", "e4m3").result), bits(want + 0))


def test_worked_examples_numerics_2_9():
    a = np.array([[0x3C, 0x81, 0x7E, 0x44]])
    b = np.array([[0x40], [0x01], [0xFE], [0x3A]])
    r = fp8_matmul_exact(a, b, "e4m3", "e4m3")
    assert r.sum[0, 0] == -52611579905 and bits(r.result)[0, 0] == 0xC843FE50
    big, tiny = code(256, "e4m3"), code(2**-9, "e4m3")
    r = fp8_matmul_exact(
        np.array([[big, big, tiny]]), np.array([[big], [big], [tiny]]), "e4m3", "e4m3"
    )
    assert r.result[0, 0] == 131072.0


def test_width_table_numerics_2_3():
    assert [fp8_acc_width(k, "e4m3", "e4m3") for k in (1, 16, 4096, 65536)] == [37, 41, 49, 53]
    assert [fp8_acc_width(k, "e5m2", "e5m2") for k in (1, 256, 4096)] == [65, 73, 77]
    assert [fp8_acc_width(k, "e4m3", "e5m2") for k in (1, 1024, 4096)] == [51, 61, 63]


def test_max_magnitude_numerics_6_4():
    k = 4096
    r = fp8_matmul_exact(np.full((1, k), 0x7E), np.full((k, 1), 0x7E), "e4m3", "e4m3")
    assert r.result[0, 0] == np.float32(49 * 2**24)
    r = fp8_matmul_exact(np.full((1, k), 0xFE), np.full((k, 1), 0x7E), "e4m3", "e4m3")
    assert r.result[0, 0] == np.float32(-49 * 2**24)
    r = fp8_matmul_exact(np.full((1, k), 0x7B), np.full((k, 1), 0x7B), "e5m2", "e5m2")
    assert r.sum[0, 0] == 57344**2 * 4096 * 2**32 and r.sum[0, 0].bit_length() == 76
    assert r.result[0, 0] == np.float32(57344.0**2 * 4096)
    alt = np.tile([0x7B, 0xFB], k // 2)
    r = fp8_matmul_exact(alt[None, :], np.full((k, 1), 0x7B), "e5m2", "e5m2")
    assert r.sum[0, 0] == 0 and bits(r.result)[0, 0] == 0


def test_cancellation_and_swamping_numerics_6_5():
    terms = [(0x7E, 0x7E), (0x01, 0x01), (0xFE, 0x7E)]  # 448², 2^-18, −448²
    for perm in itertools.permutations(terms):
        a = np.array([[p[0] for p in perm]])
        b = np.array([[p[1]] for p in perm])
        assert fp8_matmul_exact(a, b, "e4m3", "e4m3").result[0, 0] == 2**-18


def test_subnormal_products_numerics_6_6():
    # The smallest product survives next to the largest finite one (here times zero).
    r = fp8_matmul_exact(np.array([[0x01, 0x7B]]), np.array([[0x01], [0x00]]), "e5m2", "e5m2")
    assert r.result[0, 0] == 2**-32
    r = fp8_matmul_exact(np.array([[0x01, 0x7B]]), np.array([[0x01], [0x7B]]), "e5m2", "e5m2")
    assert r.sum[0, 0] == 1 + 57344**2 * 2**32
    r = fp8_matmul_exact(np.array([[0x01]]), np.array([[0x01]]), "e4m3", "e5m2")
    assert r.result[0, 0] == 2**-25


def test_specials_numerics_6_7():
    def one(a, b, fa="e5m2", fb="e5m2"):
        return bits(fp8_matmul_exact(np.array([a]), np.array(b)[:, None], fa, fb).result)[0, 0]

    nan = F32_CANONICAL_NAN_BITS
    for pos in range(3):  # NaN first, middle, last
        a = [0x3C] * 3
        a[pos] = 0x7F
        assert one(a, [0x3C] * 3) == nan
    assert one([0x7F], [0x00], "e4m3", "e4m3") == nan  # E4M3 NaN · 0
    assert one([0x7C], [0x00]) == nan  # inf · 0
    assert one([0x7C, 0xFC], [0x3C, 0x3C]) == nan  # +inf and −inf
    assert one([0x7C, 0x7B], [0x3C, 0xFB]) == 0x7F800000  # inf + huge negative finite
    assert one([0xFC, 0x7B], [0x3C, 0x7B]) == 0xFF800000
    assert one([0x7C, 0x7D], [0x3C, 0x3C]) == nan  # inf in one k, NaN in another


def test_signed_zero_numerics_6_8():
    r = fp8_matmul_exact(np.array([[0x80, 0x80]]), np.array([[0x00], [0x80]]), "e4m3", "e4m3")
    assert bits(r.result)[0, 0] == 0  # +0.0, not −0.0
    r = fp8_matmul_exact(np.array([[0x3C, 0xBC]]), np.array([[0x40], [0x40]]), "e4m3", "e4m3")
    assert bits(r.result)[0, 0] == 0


@pytest.mark.parametrize(("fa", "fb"), PAIRS)
def test_tiling_invariance_numerics_6_9(fa, fb):
    rng = np.random.default_rng(6)
    a = rng.integers(0, 256, (5, 70))
    b = rng.integers(0, 256, (70, 4))
    whole = fp8_matmul_exact(a, b, fa, fb)
    for passes in (1, 2, 7):
        cuts = np.array_split(np.arange(70), passes)
        parts = [fp8_matmul_exact(a[:, c], b[c, :], fa, fb) for c in cuts]
        total = sum(p.sum for p in parts)
        assert (total == whole.sum).all()
        assert np.array_equal(np.logical_or.reduce([p.nan for p in parts]), whole.nan)
