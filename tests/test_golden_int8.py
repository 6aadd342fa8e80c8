"""Golden INT8 model against independent references: Python ints, float64, hand-worked cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from golden import gemm_int8, int8_acc_width, split_folds, sum_folds, wrap
from golden.tiling import fold_schedule


def python_gemm(a, b, width):
    """Exact GEMM in Python ints, then two's-complement wrap by hand: an independent oracle."""
    m, k = len(a), len(a[0])
    n = len(b[0])
    out = []
    for i in range(m):
        row = []
        for j in range(n):
            s = sum(int(a[i][t]) * int(b[t][j]) for t in range(k)) % (1 << width)
            row.append(s - (1 << width) if s >= 1 << (width - 1) else s)
        out.append(row)
    return np.array(out, dtype=np.int64)


@pytest.mark.parametrize(
    ("k", "width"),
    # docs/numerics.md §3.1 table, int8×int8 row.
    [
        (1, 16),
        (2, 17),
        (16, 20),
        (64, 22),
        (256, 24),
        (1024, 26),
        (4096, 28),
        (65536, 32),
        (131071, 32),
        (131072, 33),
    ],
)
def test_acc_width_table_int8(k, width):
    assert int8_acc_width(k) == width


@pytest.mark.parametrize(("k", "width"), [(1, 16), (64, 22), (256, 24), (1024, 26), (4096, 28)])
def test_acc_width_table_uint8(k, width):
    assert int8_acc_width(k, act_unsigned=True) == width


def test_acc_width_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be an integer of at least 1, got 0"):
        int8_acc_width(0)


def test_worked_example_numerics_3_6():
    """docs/numerics.md §3.6: A·W = 16384 + 16129 + 16384 − 15 = 48882."""
    a = np.array([[-128, 127, -128, 5]])
    w = np.array([[-128], [127], [-128], [-3]])
    assert gemm_int8(a, w, 28)[0, 0] == 48882


def test_max_k_all_minus_128_fits_32_bits():
    """§6.10: K = 131071 terms of −128·−128 reach 2^31 − 16384 with no overflow at W = 32."""
    k = 131071
    a = np.full((1, k), -128)
    b = np.full((k, 1), -128)
    assert gemm_int8(a, b, 32)[0, 0] == 2**31 - 16384
    # One more term overflows 32 bits and wraps to −2^31: the width rule says 33 bits.
    a = np.full((1, k + 1), -128)
    b = np.full((k + 1, 1), -128)
    assert gemm_int8(a, b, 32)[0, 0] == -(2**31)
    assert gemm_int8(a, b, 33)[0, 0] == 2**31


def test_uint8_extreme_product():
    """§6.21: 255 × −128 = −32640 with uint8 activations; int8 mode refuses 255."""
    assert gemm_int8(np.array([[255]]), np.array([[-128]]), 16, act_unsigned=True)[0, 0] == -32640
    with pytest.raises(ValueError, match="a values must be between -128 and 127"):
        gemm_int8(np.array([[255]]), np.array([[-128]]), 16)


def test_wrap_order_independence_vs_saturation():
    """§3.2: products [16384×3, −16256×3] in a 16-bit accumulator wrap to 384 in any order."""
    products = [16384] * 3 + [-16256] * 3
    for order in (products, products[::-1], products[::2] + products[1::2]):
        acc = 0
        for p in order:
            acc = wrap(acc + p, 16)
        assert acc == 384


def test_wrap_matches_python_ints():
    rng = np.random.default_rng(3)
    x = rng.integers(-(2**40), 2**40, 1000)
    for width in (1, 8, 16, 17, 33, 63):
        want = [((int(v) + (1 << (width - 1))) % (1 << width)) - (1 << (width - 1)) for v in x]
        assert wrap(x, width).tolist() == want
        assert all(wrap(int(v), width) == w for v, w in zip(x[:50], want[:50], strict=False))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 9),
    st.integers(1, 12),
    st.integers(1, 9),
    st.booleans(),
    st.integers(16, 40),
    st.data(),
)
def test_gemm_matches_python_oracle(m, k, n, act_unsigned, width, data):
    lo, hi = (0, 255) if act_unsigned else (-128, 127)
    a = data.draw(hnp.arrays(np.int64, (m, k), elements=st.integers(lo, hi)))
    b = data.draw(hnp.arrays(np.int64, (k, n), elements=st.integers(-128, 127)))
    assert np.array_equal(
        gemm_int8(a, b, width, act_unsigned=act_unsigned), python_gemm(a, b, width)
    )


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 20),
    st.integers(1, 40),
    st.integers(1, 20),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(16, 28),
    st.data(),
)
def test_fold_split_is_exact(m, k, n, rows, cols, width, data):
    """Summing per-fold partial sums with wrap equals the whole GEMM (tiling invariance)."""
    a = data.draw(hnp.arrays(np.int64, (m, k), elements=st.integers(-128, 127)))
    b = data.draw(hnp.arrays(np.int64, (k, n), elements=st.integers(-128, 127)))
    pieces = split_folds(a, b, rows, cols)
    partials = [gemm_int8(acts, weights, width) for _, weights, acts in pieces]
    c = sum_folds([fold for fold, _, _ in pieces], partials, m, n, width)
    assert np.array_equal(c, gemm_int8(a, b, width))


def test_float64_reference_without_wrap():
    """With an exact-width accumulator the result equals a float64 matmul (exact below 2^53)."""
    rng = np.random.default_rng(11)
    a = rng.integers(-128, 128, (33, 300))
    b = rng.integers(-128, 128, (300, 17))
    want = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    assert np.array_equal(gemm_int8(a, b, int8_acc_width(300)), want)


def test_fold_schedule_order_and_padding():
    folds = fold_schedule(4, 3, 10, 5)
    assert [(f.k0, f.n0, f.k_len, f.n_len) for f in folds] == [
        (0, 0, 4, 3),
        (4, 0, 4, 3),
        (8, 0, 2, 3),
        (0, 3, 4, 2),
        (4, 3, 4, 2),
        (8, 3, 2, 2),
    ]
    a = np.arange(20).reshape(2, 10) % 100
    b = np.arange(50).reshape(10, 5) % 100
    fold, weights, acts = split_folds(a, b, 4, 3)[5]
    assert weights.shape == (4, 3) and acts.shape == (2, 4)
    assert np.array_equal(weights[:2, :2], b[8:10, 3:5]) and not weights[2:].any()
    assert not weights[:, 2].any()
    assert np.array_equal(acts[:, :2], a[:, 8:10]) and not acts[:, 2:].any()


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "message"),
    [((2, 3), (4, 5), "inner dimensions differ"), ((3,), (3, 2), "a must be a 2-D matrix")],
)
def test_gemm_shape_errors(a_shape, b_shape, message):
    with pytest.raises(ValueError, match=message):
        gemm_int8(np.zeros(a_shape, dtype=np.int64), np.zeros(b_shape, dtype=np.int64), 20)
