"""Golden requantization (numerics §3.3–§3.6) against hand-worked vectors and exact rationals.

The oracle is ``fractions.Fraction``: ``acc·M / 2^n`` is a rational number, rounded half up
(decision B) or half to even (Python's ``round`` of a Fraction) with no shift tricks at all.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.int8 import gemm_int8, wrap
from golden.requant import (
    MULT_MAX,
    add_bias,
    check_clamp,
    quantize_multiplier,
    requant_tflite,
    requantize,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    shift_to_n,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def oracle(acc, mult, shift, zero_point=0, qmin=-128, qmax=127, *, even=False):
    """Decision B from its definition: round(acc·M / 2^n) on exact rationals, then clamp."""
    x = Fraction(acc * mult, 2**shift)
    y = round(x) if even else math.floor(x + Fraction(1, 2))
    return min(max(y + zero_point, qmin), qmax)


def tflite_oracle(acc, mult, shift, zero_point=0, qmin=-128, qmax=127):
    """Reference A from its definition (numerics §3.5) on rationals: x·M/2^31 rounded half up,
    then divided by 2^right and rounded half away from zero."""
    e = 31 - shift
    x = acc * 2 ** max(e, 0)
    first = math.floor(Fraction(x * mult, 2**31) + Fraction(1, 2))
    q = Fraction(first, 2 ** max(-e, 0))
    second = int(math.copysign(math.floor(abs(q) + Fraction(1, 2)), q))
    return min(max(second + zero_point, qmin), qmax)


# Spread over every width (uniform 64-bit integers would almost never be small), and over the
# int64 boundary of the exact fast path (|acc| < 2^31 with M < 2^31).
accs = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**40), 2**40),
    st.integers(-(2**16), 2**16),
)
mults = st.integers(0, MULT_MAX)
shifts = st.integers(1, 62)
clamps = st.tuples(st.integers(-128, 127), st.integers(-128, 127)).map(sorted)


# --- docs/numerics.md §3.6 worked vectors --------------------------------------------------------


def test_worked_example_48882_gives_46():
    """docs/numerics.md §3.6: acc = 48882, μ = 0.02·0.005/0.1 = 0.001, z_o = −3 → 46 (A and B)."""
    a = np.array([[-128, 127, -128, 5]])
    w = np.array([[-128], [127], [-128], [-3]])
    acc = gemm_int8(a, w, 28)[0, 0]
    assert acc == 48882
    mult, shift = quantize_multiplier(0.02 * 0.005 / 0.1)
    assert (mult, shift) == (1099511628, -9)
    n = shift_to_n(shift)
    assert n == 40
    assert requantize(acc, mult, n, -3) == 46
    assert requant_tflite(acc, mult, n, -3) == 46
    # By hand: 48882·1099511628 = 53,746,327,399,896 = 48.882000…·2^40; adding 2^39 and
    # shifting right by 40 gives 49, and 49 − 3 = 46.
    assert 48882 * 1099511628 == 53_746_327_399_896
    assert (53_746_327_399_896 + 2**39) >> 40 == 49


# μ = 0.5 is M = 2^30, shift 0, n = 31; the table of docs/numerics.md §3.6 (A, B and RNE rows).
@pytest.mark.parametrize(
    ("acc", "a", "b", "rne"),
    [(5, 3, 3, 2), (-5, -2, -2, -2), (3, 2, 2, 2), (-3, -1, -1, -2), (1, 1, 1, 0), (-1, 0, 0, 0)],
)
def test_tie_table_mu_half(acc, a, b, rne):
    mult, shift = quantize_multiplier(0.5)
    n = shift_to_n(shift)
    assert (mult, n) == (2**30, 31)
    assert requant_tflite(acc, mult, n) == a
    assert requantize(acc, mult, n) == b
    assert requantize(acc, mult, n, round_mode="half_even") == rne


@pytest.mark.parametrize("mu", [0.25, 2**-5])
@pytest.mark.parametrize("odd", [1, 3, 5, 7, 127, -1, -3, -5, -7, -127])
def test_exact_ties_at_power_of_two_scales(mu, odd):
    """§6.12: acc = odd·2^(e−1) at μ = 2^−e is an exact tie t + ½: B rounds up, RNE to even,
    A away from zero (its second rounding sees the tie)."""
    mult, shift = quantize_multiplier(mu)
    n = shift_to_n(shift)
    e = -round(math.log2(mu))
    acc = odd * 2 ** (e - 1)
    t = Fraction(odd, 2) - Fraction(1, 2)  # the value is t + 1/2
    assert requantize(acc, mult, n) == t + 1
    assert requantize(acc, mult, n, round_mode="half_even") == (t if t % 2 == 0 else t + 1)
    assert requant_tflite(acc, mult, n) == (t + 1 if odd > 0 else t)


def test_double_rounding_example_mu_0_3():
    """docs/numerics.md §3.6: μ = 0.3, acc = −3998: A gives −1200, B −1199 (exact −1199.4000002).

    z_o = 1150 brings both into the int8 range."""
    mult, shift = quantize_multiplier(0.3)
    assert (mult, shift) == (1288490189, -1)
    n = shift_to_n(shift)
    assert requant_tflite(-3998, mult, n, 1150) == -1200 + 1150
    assert requantize(-3998, mult, n, 1150) == -1199 + 1150
    assert float(Fraction(-3998 * mult, 2**n)) == pytest.approx(-1199.4000002, abs=1e-7)


def test_negative_tie_differs_between_a_and_b():
    """At μ = 0.25 (n = 32), acc = −2 is −0.5: B → 0 (half up), A → −1 (half away)."""
    assert requantize(-2, 2**30, 32) == 0
    assert requant_tflite(-2, 2**30, 32) == -1
    assert requantize(2, 2**30, 32) == requant_tflite(2, 2**30, 32) == 1


# --- Hand-worked edges (docs/numerics.md §6.12) --------------------------------------------------


@pytest.mark.parametrize(
    ("acc", "mult", "shift", "expect"),
    [
        (3, 1, 1, 2),  # 1.5 → 2
        (-3, 1, 1, -1),  # −1.5 → −1
        (-4, 1, 1, -2),  # exact
        (200, MULT_MAX, 1, 127),  # 200·(2^31 − 1)/2: far above, clamps
        (2**31 - 1, MULT_MAX, 62, 1),  # (2^31 − 1)^2 / 2^62 = 0.99999999953…
        (-(2**31), MULT_MAX, 62, -1),  # −(2^31 − 1)/2^31 = −0.9999999995…
        (-(2**31), 1, 62, 0),  # −2^−31 rounds up to 0
        (2**61, 1, 62, 1),  # exactly ½ → 1
        (-(2**61), 1, 62, 0),  # exactly −½ → 0
        (-(2**63), 2**30, 62, -128),  # −2^31, clamped; W = 64 minimum (wide path)
        (2**63 - 1, MULT_MAX, 62, 127),
        (12345, 0, 17, 0),  # M = 0: only z_o and the clamp remain
    ],
)
def test_hand_worked(acc, mult, shift, expect):
    assert requantize(acc, mult, shift) == expect
    assert oracle(acc, mult, shift) == expect


def test_zero_multiplier_gives_the_clamped_zero_point():
    acc = np.array([[-(2**40), -1, 0, 1, 2**40]])
    assert (requantize(acc, 0, 31, 5) == 5).all()
    assert (requantize(acc, 0, 31, 128) == 127).all()  # §6.12: z_o = +128 clamps
    assert (requantize(acc, 0, 31, -129) == -128).all()


@pytest.mark.parametrize("zero_point", [-128, 128, -(2**31), 2**31 - 1])
def test_clamp_with_edge_zero_points(zero_point):
    """§6.12: z_o at ±128 and the int32 ends; the sum y + z_o is exact, never wrapped."""
    acc = np.array([-(2**31), -1000, 0, 1000, 2**31 - 1])
    got = requantize(acc, 2**30, 31, zero_point)
    assert got.tolist() == [oracle(int(x), 2**30, 31, zero_point) for x in acc]


def test_qmin_equal_qmax_is_constant():
    acc = np.arange(-1000, 1000, 7)
    assert (requantize(acc, 12345678, 20, 3, qmin=-7, qmax=-7) == -7).all()


def test_relu6_style_clamp():
    """qmin/qmax as a fused ReLU6 window, e.g. [z_o, z_o + 6/s_o] = [−128, −68]."""
    acc = np.array([-500, -100, 0, 100, 500])
    got = requantize(acc, 2**30, 31, -128, qmin=-128, qmax=-68)
    assert got.tolist() == [-128, -128, -128, -78, -68]


def test_per_channel_columns():
    """§6.12: per-channel (M, n) broadcast over rows; each column is its own scalar requant."""
    acc = np.array([[100, 100, 100, 100], [-77, 1 << 33, 5, -(1 << 40)]])
    mult = np.array([2**30, 1288490189, MULT_MAX, 1])
    shift = np.array([31, 40, 1, 62])
    got = requantize(acc, mult, shift, 2)
    for j in range(4):
        for i in range(2):
            assert got[i, j] == oracle(int(acc[i, j]), int(mult[j]), int(shift[j]), 2)
    assert got[:, 0].tolist() == [52, -36]  # 50 + 2 and round(−38.5) + 2


@pytest.mark.parametrize("shift", [31, 40, 62])
def test_products_beyond_int64(shift):
    """acc·M above 2^63 (|acc| ≥ 2^32 with M near 2^31) must not wrap in int64."""
    acc = np.array([2**32, 2**33 - 1, -(2**33), 2**40 + 3, -(2**62), 2**63 - 1])
    got = requantize(acc, MULT_MAX, shift, 0, -128, 127)
    assert got.tolist() == [oracle(int(v), MULT_MAX, shift) for v in acc]
    for v in acc:
        assert requantize(int(v), MULT_MAX, shift) == oracle(int(v), MULT_MAX, shift)


def test_wider_than_int64_accumulator():
    """Python ints of any width (object arrays) go through the exact path."""
    acc = np.array([2**80 + 1, -(2**80) - 1], dtype=object)
    got = requantize(acc, MULT_MAX, 62, qmin=-128, qmax=127)
    assert got.tolist() == [127, -128]
    assert requantize(2**70, 1, 62, 0) == 127
    assert requantize(-(2**68) - 2**67, 1, 62) == -96  # −64 − 32, from a 70-bit acc


# --- Properties --------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(accs, mults, shifts, st.integers(INT32_MIN, INT32_MAX), clamps, st.booleans())
def test_matches_fraction_oracle(acc, mult, shift, zero_point, clamp, even):
    qmin, qmax = clamp
    mode = "half_even" if even else "half_up"
    got = requantize(acc, mult, shift, zero_point, qmin, qmax, round_mode=mode)
    assert got == oracle(acc, mult, shift, zero_point, qmin, qmax, even=even)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(accs, min_size=1, max_size=40),
    mults,
    shifts,
    st.integers(-300, 300),
    clamps,
)
def test_array_matches_oracle_across_int64_boundary(values, mult, shift, zero_point, clamp):
    """Arrays mixing narrow and wide accumulators take one path; both are exact."""
    values = values + [2**31 - 1, -(2**31), 2**31, -(2**31) - 1]
    qmin, qmax = clamp
    got = requantize(np.array(values, dtype=np.int64), mult, shift, zero_point, qmin, qmax)
    assert got.tolist() == [oracle(v, mult, shift, zero_point, qmin, qmax) for v in values]
    narrow = [v for v in values if abs(v) < 2**31]
    got = requantize(np.array(narrow, dtype=np.int64), mult, shift, zero_point, qmin, qmax)
    assert got.tolist() == [oracle(v, mult, shift, zero_point, qmin, qmax) for v in narrow]


@settings(max_examples=200, deadline=None)
@given(accs, accs, mults, shifts, st.integers(-200, 200), clamps)
def test_monotonic_in_acc(x, y, mult, shift, zero_point, clamp):
    lo, hi = min(x, y), max(x, y)
    qmin, qmax = clamp
    got = requantize(np.array([lo, hi]), mult, shift, zero_point, qmin, qmax)
    assert got[0] <= got[1]
    assert qmin <= got[0] and got[1] <= qmax


@settings(max_examples=200, deadline=None)
@given(shifts, st.integers(-(2**20), 2**20))
def test_exact_ties_round_half_up(shift, t):
    """acc·M = (2t + 1)·2^(n−1) is the tie t + ½: B gives t + 1, RNE the even one."""
    if shift <= 31:
        mult, acc = 2 ** (shift - 1), 2 * t + 1
    else:
        mult, acc = 2**30, (2 * t + 1) * 2 ** (shift - 31)
    out = requantize(acc, mult, shift, 0, -128, 127)
    assert out == min(max(t + 1, -128), 127)
    rne = requantize(acc, mult, shift, 0, -128, 127, round_mode="half_even")
    assert rne == min(max(t + (t % 2), -128), 127)


# --- Reference A (TFLite double rounding) ------------------------------------------------


def int32_pairs():
    """(acc, n) with acc·2^(31−n) an int32, as TFLite requires."""
    return st.integers(1, 62).flatmap(
        lambda n: st.tuples(
            st.integers(INT32_MIN >> max(31 - n, 0), INT32_MAX >> max(31 - n, 0)), st.just(n)
        )
    )


@settings(max_examples=400, deadline=None)
@given(int32_pairs(), mults, st.integers(-1000, 1000), clamps)
def test_tflite_matches_its_rational_definition(pair, mult, zero_point, clamp):
    acc, shift = pair
    qmin, qmax = clamp
    got = requant_tflite(acc, mult, shift, zero_point, qmin, qmax)
    assert got == tflite_oracle(acc, mult, shift, zero_point, qmin, qmax)


@settings(max_examples=400, deadline=None)
@given(int32_pairs(), mults)
def test_a_and_b_agree_without_a_second_rounding(pair, mult):
    """For n ≤ 31 there is no RoundingDivideByPOT step, so A is B exactly. For n > 31 they
    differ by at most one LSB, and only if the first rounding was inexact or the value is a
    negative exact tie."""
    acc, shift = pair
    # A wide clamp window through z_o: y is at most 2^31, so compare y + z_o around 0.
    a = requant_tflite(acc, mult, shift, 0, -128, 127)
    b = requantize(acc, mult, shift, 0, -128, 127)
    if shift <= 31:
        assert a == b
    else:
        assert abs(a - b) <= 1
        exact_first = (acc * mult) % 2**31 == 0
        value = Fraction(acc * mult, 2**shift)
        negative_tie = value < 0 and value.denominator == 2
        if a != b and -128 < b < 127:
            assert not exact_first or negative_tie


def test_a_and_b_random_disagreement_is_one_lsb():
    """Random (acc, μ) with unclamped outputs: A ≠ B for a few per cent of cases (docs/numerics.md
    quotes 3.05 % for its own sampling), always by exactly 1, in both directions."""
    rng = np.random.default_rng(20240601)
    mus = 2.0 ** rng.uniform(-20, -1, 20000)
    target = rng.uniform(-120, 120, mus.size)
    acc = np.clip(np.round(target / mus), INT32_MIN, INT32_MAX).astype(np.int64)
    params = [quantize_multiplier(mu) for mu in mus]
    mult = np.array([p[0] for p in params])
    shift = np.array([shift_to_n(p[1]) for p in params])
    a = requant_tflite(acc[None, :], mult, shift)
    b = requantize(acc[None, :], mult, shift)
    differ = a != b
    assert np.abs(a - b).max() == 1
    assert 0.005 < differ.mean() < 0.06
    assert (a < b).any() and (a > b).any()
    assert not differ[:, shift <= 31].any()


def test_srdhm_and_rdbpot_known_values():
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(2**30, 2**30) == 2**29
    assert saturating_rounding_doubling_high_mul(-5, 2**30) == -2  # −2.5 → −2 (half up)
    assert saturating_rounding_doubling_high_mul(5, 2**30) == 3
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == -(2**31) + 1
    assert rounding_divide_by_pot(-3, 1) == -2  # −1.5 → −2: away from zero
    assert rounding_divide_by_pot(3, 1) == 2
    assert rounding_divide_by_pot(-5, 2) == -1  # −1.25
    assert rounding_divide_by_pot(-6, 2) == -2  # −1.5
    assert rounding_divide_by_pot(INT32_MAX, 31) == 1
    assert rounding_divide_by_pot(INT32_MIN, 31) == -1
    assert rounding_divide_by_pot(7, 0) == 7


# --- Multiplier encoding (docs/numerics.md §3.4) -------------------------------------------------


@pytest.mark.parametrize(
    ("mu", "expect"),
    [
        (0.5, (2**30, 0)),
        (1 / 3, (1431655765, -1)),
        (2**-7, (2**30, -6)),
        (0.001, (1099511628, -9)),
        (0.3, (1288490189, -1)),
        (0.0, (0, 0)),
        (1.0, (2**30, 1)),
        (1 - 2**-33, (2**30, 1)),  # q·2^31 rounds to 2^31: halved, shift + 1
        (2**-32, (2**30, -31)),  # the smallest kept: n = 62
        (2**-33, (0, 0)),  # shift −32 < −31 flushes to zero
        (2.0**31, (2**30, 32)),
    ],
)
def test_quantize_multiplier_examples(mu, expect):
    assert quantize_multiplier(mu) == expect


def test_quantize_multiplier_single_rounding_saturates_large_scales():
    assert quantize_multiplier(2.0**31, single_rounding=True) == (MULT_MAX, 30)
    assert quantize_multiplier(2.0**29, single_rounding=True) == (2**30, 30)


def test_quantize_multiplier_rounds_half_away():
    # q·2^31 = 2^30 + 0.5 exactly: std::round goes up (away from zero), not to even.
    mu = (2**30 + 0.5) / 2**31
    assert quantize_multiplier(mu) == (2**30 + 1, 0)
    mu = (2**30 + 1.5) / 2**31
    assert quantize_multiplier(mu) == (2**30 + 2, 0)


@settings(max_examples=500, deadline=None)
@given(st.floats(min_value=2**-31, max_value=2**30, exclude_max=True, allow_subnormal=False))
def test_quantize_multiplier_against_exact_rationals(mu):
    """M·2^(shift−31) is μ rounded half away to 31 bits; float64 agrees to half an ulp."""
    mult, shift = quantize_multiplier(mu)
    exact = Fraction(mu)
    e = 0  # 2^(e−1) ≤ μ < 2^e, found by exact comparisons
    while exact >= 2**e:
        e += 1
    while exact < Fraction(2) ** (e - 1):
        e -= 1
    scaled = exact * 2 ** (31 - e)
    want = math.floor(scaled + Fraction(1, 2))
    if want == 2**31:
        want, e = 2**30, e + 1
    assert (mult, shift) == (want, e)
    assert 2**30 <= mult < 2**31
    assert abs(mult * 2.0 ** (shift - 31) - mu) <= 2.0 ** (shift - 32)


@pytest.mark.parametrize("mu", [-0.5, float("nan"), float("inf")])
def test_quantize_multiplier_rejects(mu):
    with pytest.raises(ValueError, match="real_multiplier must be finite and at least 0"):
        quantize_multiplier(mu)


def test_quantize_multiplier_rejects_non_numbers():
    with pytest.raises(TypeError, match="real_multiplier must be a real number"):
        quantize_multiplier(True)


def test_shift_to_n_range():
    assert shift_to_n(30) == 1 and shift_to_n(-31) == 62
    with pytest.raises(ValueError, match="shift must be an integer between -31 and 30, got 31"):
        shift_to_n(31)


# --- Bias as the initial partial sum (docs/numerics.md §3.3) -------------------------------------


def test_bias_is_added_once_and_wraps(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (5, 300))
    b = rng.integers(-128, 128, (300, 4))
    bias = rng.integers(INT32_MIN, INT32_MAX, 4, endpoint=True)
    for width in (16, 24, 32, 40):
        got = add_bias(gemm_int8(a, b, width), bias, width)
        exact = a @ b + bias
        want = [[wrap(int(v), width) for v in row] for row in exact]
        assert got.tolist() == want


def test_bias_folding_of_zero_points():
    """§6.13: bias_eff = −z_a·Σw with z_a = −128 and 127 on columns summing to ±127·K;
    the affine GEMM Σ(a − z_a)·w equals bias_eff + Σ a·w exactly."""
    k = 64
    a = np.full((2, k), 100)
    a[1] = -128
    w = np.stack([np.full(k, 127), np.full(k, -127)], axis=1)
    for z_a in (-128, 127):
        bias = -z_a * w.sum(axis=0)
        got = add_bias(gemm_int8(a, w, 28), bias, 28)
        assert got.tolist() == ((a - z_a) @ w).tolist()


def test_add_bias_checks():
    with pytest.raises(ValueError, match="bias must be between -2147483648 and 2147483647"):
        add_bias(np.zeros((1, 2), dtype=np.int64), np.array([0, 2**31]), 32)
    with pytest.raises(ValueError, match="acc_width must be between 1 and 64, got 65"):
        add_bias(np.zeros((1, 2), dtype=np.int64), 0, 65)
    with pytest.raises(ValueError, match=r"bias must be a scalar or one value per column"):
        add_bias(np.zeros((1, 2), dtype=np.int64), np.array([1, 2, 3]), 32)


# --- Input checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shift": 0}, "shift must be an integer between 1 and 62, got 0"),
        ({"shift": 63}, "shift must be an integer between 1 and 62, got 63"),
        ({"mult": 2**31}, "mult must be an integer between 0 and 2147483647, got 2147483648"),
        ({"mult": -1}, "mult must be an integer between 0 and 2147483647, got -1"),
        ({"mult": 1.5}, "mult must be an integer between 0 and 2147483647, got 1.5"),
        ({"zero_point": 2**31}, "zero_point must be an integer between -2147483648 and"),
        ({"qmin": -129}, "qmin must be an integer between -128 and 127, got -129"),
        ({"qmax": 128}, "qmax must be an integer between -128 and 127, got 128"),
        ({"qmin": 5, "qmax": 4}, "qmin must not exceed qmax, got qmin=5 and qmax=4"),
        ({"round_mode": "even"}, "round_mode must be one of half_up, half_even, got 'even'"),
        ({"shift": np.array([3, 0, 4])}, "shift must be between 1 and 62, got 0 in column 1"),
        (
            {"mult": np.array([1, 2])},
            r"mult must be a scalar or one value per column, shape \(3,\)",
        ),
    ],
)
def test_requantize_rejects(kwargs, message):
    args = {"mult": 1, "shift": 1, "zero_point": 0, "qmin": -128, "qmax": 127}
    args.update(kwargs)
    acc = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=message):
        requantize(acc, **args)


def test_requantize_rejects_non_integer_acc():
    with pytest.raises(TypeError, match="acc must hold integers, got dtype float64"):
        requantize(np.array([1.0]), 1, 1)


def test_requant_tflite_rejects_non_int32():
    with pytest.raises(ValueError, match="acc must be between -2147483648 and 2147483647"):
        requant_tflite(2**31, 1, 31)
    with pytest.raises(ValueError, match=r"acc·2\^\(31−shift\) must be an int32"):
        requant_tflite(2**20, 1, 1)  # left shift by 30


def test_check_clamp_returns_ints():
    assert check_clamp(np.int64(3), -128, np.int8(7)) == (3, -128, 7)


@given(st.integers(-(2**40), 2**40), st.integers(-(2**40), 2**40))
def test_scalar_and_array_forms_agree(x, y):
    arr = requantize(np.array([x, y]), 987654321, 37)
    assert arr.tolist() == [requantize(x, 987654321, 37), requantize(y, 987654321, 37)]
