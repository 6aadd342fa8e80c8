"""Golden attention tile (docs/numerics.md §4) against independent references.

The oracles here share no code with :mod:`golden.attention`: the LUTs are Appendix A's frozen
text, rounding is exact rational arithmetic (``fractions``), and the tile is re-derived row by
row in Python ints from the §4.1–§4.3 pseudo-code. The §6 items 14–22 each have a test below
(named in its docstring); accuracy against float64 is a measurement
(``scripts/attention_accuracy.py``), and only what the spec guarantees exactly is asserted.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from golden import attention as golden_attention
from golden.attention import (
    attention_from_scores,
    attention_mask,
    attention_multipliers,
    attention_tile,
    attention_widths,
    div_rhu,
    div_rhu_reciprocal,
    exp2_lut,
    exp_core,
    log2_logits,
    p_weights,
    row_reciprocal,
    softmax_int,
)
from golden.errors import UsageError

# docs/numerics.md Appendix A, copied from the document: the frozen, normative tables.
LUT15_TEXT = """
32768 32415 32066 31720 31379 31041 30706 30376 30048 29725 29405 29088 28774 28464 28158 27855
27554 27258 26964 26674 26386 26102 25821 25543 25268 24995 24726 24460 24196 23936 23678 23423
23170 22921 22674 22430 22188 21949 21713 21479 21247 21019 20792 20568 20347 20127 19911 19696
19484 19274 19066 18861 18658 18457 18258 18061 17867 17674 17484 17296 17109 16925 16743 16562
"""
LUT15_F8_TEXT = """
32768 32679 32591 32503 32415 32327 32240 32153 32066 31979 31893 31806 31720 31635 31549 31464
31379 31294 31209 31125 31041 30957 30873 30790 30706 30623 30541 30458 30376 30293 30212 30130
30048 29967 29886 29805 29725 29644 29564 29484 29405 29325 29246 29167 29088 29009 28931 28852
28774 28697 28619 28542 28464 28388 28311 28234 28158 28082 28006 27930 27855 27779 27704 27629
27554 27480 27406 27332 27258 27184 27110 27037 26964 26891 26818 26746 26674 26601 26530 26458
26386 26315 26244 26173 26102 26031 25961 25891 25821 25751 25681 25612 25543 25474 25405 25336
25268 25199 25131 25063 24995 24928 24860 24793 24726 24659 24593 24526 24460 24394 24328 24262
24196 24131 24066 24001 23936 23871 23806 23742 23678 23614 23550 23486 23423 23359 23296 23233
23170 23108 23045 22983 22921 22859 22797 22735 22674 22613 22552 22491 22430 22369 22309 22248
22188 22128 22068 22009 21949 21890 21831 21772 21713 21654 21595 21537 21479 21421 21363 21305
21247 21190 21133 21076 21019 20962 20905 20849 20792 20736 20680 20624 20568 20513 20457 20402
20347 20292 20237 20182 20127 20073 20019 19965 19911 19857 19803 19750 19696 19643 19590 19537
19484 19431 19379 19326 19274 19222 19170 19118 19066 19015 18963 18912 18861 18810 18759 18708
18658 18607 18557 18507 18457 18407 18357 18308 18258 18209 18160 18110 18061 18013 17964 17915
17867 17819 17770 17722 17674 17627 17579 17531 17484 17437 17390 17343 17296 17249 17202 17156
17109 17063 17017 16971 16925 16879 16834 16788 16743 16697 16652 16607 16562 16518 16473 16428
"""
LUT = {
    6: tuple(int(x) for x in LUT15_TEXT.split()),
    8: tuple(int(x) for x in LUT15_F8_TEXT.split()),
}

#: ``(Me, ne)`` with ``u = S`` exactly: μ_e = 1 = 2^30 / 2^30.
IDENTITY = {"scale_mult": 1 << 30, "scale_shift": 30}
#: ``(Mo, no)`` for μ_o = 2^−16 = 2^30 / 2^46: ``O = round(y / 2^16)``, so O is in V units.
OUT_V_UNITS = {"out_mult": 1 << 30, "out_shift": 46}

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- independent oracles ------------------------------------------------------------------------


def rhu(num, den):
    """Round ``num/den`` half up, exactly."""
    return math.floor(Fraction(num, den) + Fraction(1, 2))


def ref_u(s, mult, n):
    return rhu(int(s) * mult, 1 << n)


def ref_exp_core(d, f):
    d = min(d, 16 << f)
    ip, fp = divmod(d, 1 << f)
    return rhu(LUT[f][fp], 1 << ip) if ip <= 15 else 0


def ref_p(e, pb):
    return rhu(e * ((1 << pb) - 1), 1 << 15)


def ref_requant(y, mult, n, zp):
    return min(127, max(-128, rhu(y * mult, 1 << n) + zp))


def ref_finish(o_acc, l, kw):
    y = [rhu(o * (1 << 16), l) if l > 0 else 0 for o in o_acc]
    return y, [ref_requant(x, kw["out_mult"], kw["out_shift"], kw.get("out_zp", 0)) for x in y]


def ref_row_single(s, v, valid, kw, pb, f):
    """§4.1–§4.2 for one row: the max over valid keys, P, L, O_acc, y, O."""
    u = [ref_u(x, kw["scale_mult"], kw["scale_shift"]) for x in s]
    keys = [j for j in range(len(s)) if valid[j]]
    p = [0] * len(s)
    if keys:
        m = max(u[j] for j in keys)
        for j in keys:
            p[j] = ref_p(ref_exp_core(m - u[j], f), pb)
    l = sum(p)
    o_acc = [sum(p[j] * int(v[j][c]) for j in range(len(s))) for c in range(len(v[0]))]
    return (p, l, o_acc, *ref_finish(o_acc, l, kw))


def ref_row_online(s, v, valid, kw, pb, f, block):
    """§4.3 for one row, transcribed from its pseudo-code: running max, α rescale."""
    u = [ref_u(x, kw["scale_mult"], kw["scale_shift"]) for x in s]
    has, m, l = False, 0, 0
    o_acc = [0] * len(v[0])
    p = [0] * len(s)
    for j0 in range(0, len(s), block):
        js = [j for j in range(j0, min(j0 + block, len(s))) if valid[j]]
        if not js:
            continue
        bm = max(u[j] for j in js)
        if has and bm > m:
            alpha = ref_exp_core(bm - m, f)
            o_acc = [rhu(o * alpha, 1 << 15) for o in o_acc]
            l = rhu(l * alpha, 1 << 15)
            m = bm
        elif not has:
            m, has = bm, True
        for j in js:
            p[j] = ref_p(ref_exp_core(m - u[j], f), pb)
            l += p[j]
            o_acc = [o + p[j] * int(v[j][c]) for c, o in enumerate(o_acc)]
    return (p, l, o_acc, *ref_finish(o_acc, l, kw))


def check_against_oracle(trace, v, kw, mode, block, pb, f):
    """Compare every field of an AttentionTrace with the scalar oracle, row by row."""
    for i in range(trace.s.shape[0]):
        args = (trace.s[i].tolist(), v.tolist(), trace.valid[i].tolist(), kw, pb, f)
        if mode == "online":
            ref = ref_row_online(*args, block)
        else:  # §4.3: with a pre-loaded max every B_c gives the single-tile result
            ref = ref_row_single(*args)
        got = (trace.p[i].tolist(), int(trace.l[i]), trace.o_acc[i].tolist())
        got += (trace.y[i].tolist(), trace.o[i].tolist())
        for name, a, b in zip(("p", "l", "o_acc", "y", "o"), got, ref, strict=True):
            assert a == b, f"row {i} {name}: model {a} != oracle {b} ({mode}, B_c={block})"


def assert_same_trace(a, b, what):
    for name in ("p", "l", "o_acc", "y", "o"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(x, y), f"{what}: {name} differs at {np.argwhere(x != y)[:4]}"


def gaussian_scores(rng, lq, lk, sigma, scale=1 / 256):
    """int S whose real logits ``S·scale`` are N(0, σ²)."""
    return np.round(rng.normal(0, sigma, (lq, lk)) / scale).astype(np.int64)


def multipliers_for(scale, f=6):
    """(Me, ne) for logits ``S·scale`` (the same formula as attention_multipliers, d = 1)."""
    kw = attention_multipliers(scale, 1.0, 1.0, 1.0, 1, exp_frac_bits=f)
    return {"scale_mult": kw["scale_mult"], "scale_shift": kw["scale_shift"]}


def tile(s, v, **kw):
    """attention_from_scores with the trace, output in V units unless overridden."""
    args = {**IDENTITY, **OUT_V_UNITS, **kw}
    return attention_from_scores(np.asarray(s), np.asarray(v), trace=True, **args)


# --- §4.2 LUTs and exp core (§6.16, §6.19) --------------------------------------------------


@pytest.mark.parametrize("f", [6, 8])
def test_exp2_lut_matches_appendix_a(f):
    """The generated ROM equals the frozen Appendix A table, entry for entry."""
    assert len(LUT[f]) == 1 << f
    assert exp2_lut(f) == LUT[f]
    assert exp2_lut(exp_frac_bits=f) == LUT[f]


@pytest.mark.parametrize("f", [6, 8])
def test_exp2_lut_exact_rounding(f):
    """Appendix A's exact test ``(2n−1)^(2^F) ≤ 2^(16·2^F − i) < (2n+1)^(2^F)`` and the float64
    formula of §4.2 both give each entry."""
    for i, n in enumerate(exp2_lut(f)):
        power = 1 << (16 * (1 << f) - i)
        assert (2 * n - 1) ** (1 << f) <= power < (2 * n + 1) ** (1 << f), (i, n)
        assert n == math.floor(2**15 * 2 ** (-i / (1 << f)) + 0.5)
    assert all(exp2_lut(8)[4 * i] == exp2_lut(6)[i] for i in range(64))


def test_exp2_lut_rejects_other_f():
    with pytest.raises(ValueError, match="exp_frac_bits must be one of 6, 8, got 7"):
        exp2_lut(7)


@pytest.mark.parametrize("f", [6, 8])
def test_exp_core_exhaustive(f):
    """Every d up to past saturation against the exact oracle and the real 2^(15 − d/2^F):
    ``|e − 2^(15 − D/2^F)| ≤ 1/2 + 2^−ip/2``, non-increasing, 2^15 only at d = 0 (§4.2)."""
    d = np.arange((16 << f) + 300)
    e = exp_core(d, exp_frac_bits=f)
    assert e.tolist() == [ref_exp_core(int(x), f) for x in d]
    dd = np.minimum(d, 16 << f)
    ip = dd >> f
    real = 2.0 ** (15 - dd / (1 << f))
    assert np.all(np.abs(e - real) <= 0.5 + 0.5 * 2.0**-ip + 1e-9)
    assert np.all(np.diff(e) <= 0)
    assert e[0] == 1 << 15 and e[1:].max() == LUT[f][1]  # §4.2: 32415 (F = 6), 32679 (F = 8)


@pytest.mark.parametrize(
    ("f", "d", "e"),
    [
        (6, 0, 32768),  # ip = 0, fp = 0
        (6, 63, 16562),  # ip = 0, fp = 2^F − 1
        (6, 64, 16384),  # ip = 1, fp = 0
        (6, 15 * 64, 1),  # ip = EB
        (6, 16 * 64 - 1, 1),  # the largest D with ip = EB
        (6, 16 * 64, 0),  # ip = EB + 1: saturated
        (6, 10**12, 0),
        (8, 255, 16428),  # fp = 255
        (8, 16 * 256 - 1, 1),
        (8, 16 * 256, 0),
    ],
)
def test_exp_core_boundaries(f, d, e):
    """§6.16 (D at ip = EB and EB + 1) and §6.19 (fp = 0, fp = 2^F − 1, ip = 0)."""
    assert exp_core(d, exp_frac_bits=f) == e


def test_exp_core_rejects_negative_d():
    with pytest.raises(ValueError, match="d values must be between 0 and"):
        exp_core([3, -1])


@pytest.mark.parametrize("pb", [8, 16])
def test_p_weights_exhaustive(pb):
    """Every e in [0, 2^15] against exact rounding; P ≤ 2^PB − 1 with no clamp, and through
    exp_core only keys at the max (d = 0) reach 2^PB − 1 (§4.2)."""
    e = np.arange((1 << 15) + 1)
    p = p_weights(e, p_bits=pb)
    assert p.tolist() == [ref_p(int(x), pb) for x in e]
    assert p.max() == (1 << pb) - 1
    for f in (6, 8):
        pd = p_weights(exp_core(np.arange(17 << f), exp_frac_bits=f), p_bits=pb)
        assert np.flatnonzero(pd == (1 << pb) - 1).tolist() == [0]


def test_p_weights_thresholds_pb8():
    """§6.15: e = 64 gives P = 0, e = 65 gives P = 1; the max gives 255."""
    assert p_weights([64, 65, 1 << 15]).tolist() == [0, 1, 255]


@given(
    s=st.integers(-(2**31), 2**31 - 1),
    mult=st.integers(0, 2**31 - 1),
    n=st.integers(1, 62),
)
@settings(max_examples=300, deadline=None)
def test_log2_logits_matches_exact_rounding(s, mult, n):
    """u = RHU(S·Me / 2^ne) over the whole int32 × multiplier range (§4.2)."""
    assert log2_logits(np.array([s]), mult, n)[0] == ref_u(s, mult, n)


# --- §4.2 softmax_int ------------------------------------------------------------------------


def test_softmax_int_worked_example():
    """§4.2 worked example: S = [1000, 800, 0, −500], s = 0.004."""
    kw = multipliers_for(0.004)
    assert (kw["scale_mult"], kw["scale_shift"]) == (1586259973, 32)
    s = np.array([1000, 800, 0, -500])
    u = log2_logits(s, kw["scale_mult"], kw["scale_shift"])
    assert u.tolist() == [369, 295, 0, -185]
    assert exp_core(369 - u).tolist() == [32768, 14703, 602, 81]
    p, l = softmax_int(s, kw["scale_mult"], kw["scale_shift"])
    assert p.tolist() == [255, 114, 5, 1] and l == 375
    p, l = softmax_int(s, kw["scale_mult"], kw["scale_shift"], p_bits=16)
    assert p.tolist() == [65535, 29406, 1204, 162] and l == 96307


def test_attention_worked_example():
    """§4.2 worked example: O_acc = 13044, y = 2279604 with no correction (t = 168)."""
    kw = multipliers_for(0.004)
    v = np.array([[64], [-32], [100], [-128]])
    tr = tile([[1000, 800, 0, -500]], v, **kw)
    assert tr.o_acc.tolist() == [[13044]] and tr.y.tolist() == [[2279604]]
    assert tr.o.tolist() == [[35]]  # round(34.784)
    r, k = row_reciprocal(375)
    assert (r, k) == (2932031007, 40)
    q = (13044 * int(r) + (1 << (int(k) - 17))) >> (int(k) - 16)
    assert q == 2279604 and 2 * 13044 * 2**16 - 2 * q * 375 == 168


@pytest.mark.parametrize("pb", [8, 16])
@pytest.mark.parametrize("n", [1, 2, 3, 6, 64, 512, 4096, 16384])
def test_flat_rows_exact(n, pb, seed):
    """§6.14: all-equal scores over n valid keys give P ≡ 2^PB − 1, L = n·(2^PB − 1) and
    y = DIV_RHU(ΣV·2^16, n), in the single tile and in both block modes (no rescale). Odd
    lengths come from padding keys that carry the row's largest score."""
    rng = np.random.default_rng(seed)
    lk = 1 << max(n - 1, 1).bit_length()  # the next power of two, > n unless n is one
    valid = np.zeros(lk, bool)
    valid[rng.permutation(lk)[:n]] = True
    s = np.where(valid, -7, 1000)[None, :]  # masked keys carry the largest score
    v = rng.integers(-128, 128, (lk, 3))
    pmax = (1 << pb) - 1
    y_exact = [rhu(int(v[valid, c].sum()) << 16, n) for c in range(3)]
    for mode, block in (("single", None), ("preload", 64), ("online", 64), ("online", 1)):
        if lk > 4096 and block == 1:
            continue
        tr = tile(s, v, key_valid=valid, mode=mode, block=block, p_bits=pb)
        assert np.array_equal(tr.p[0], np.where(valid, pmax, 0)), mode
        assert tr.l[0] == n * pmax
        assert tr.y[0].tolist() == y_exact, (mode, block)


def test_ties_get_the_max():
    """§4.1 and §6.15: two equal maxima give P = [255, 255], L = 510."""
    p, l = softmax_int(np.array([5, 5]), **IDENTITY)
    assert p.tolist() == [255, 255] and l == 510


@given(
    u=st.lists(st.integers(-2000, 2000), min_size=1, max_size=40),
    pb=st.sampled_from([8, 16]),
    f=st.sampled_from([6, 8]),
)
@FAST
def test_softmax_int_properties(u, pb, f):
    """Ties at the max get exactly 2^PB − 1 and nothing else does; P is monotone in u; L = ΣP;
    adding a constant to every score or permuting the keys changes nothing (u = S here)."""
    s = np.array(u)
    p, l = softmax_int(s, **IDENTITY, p_bits=pb, exp_frac_bits=f)
    pmax = (1 << pb) - 1
    assert np.array_equal(p == pmax, s == s.max())
    assert l == p.sum() and l >= pmax
    order = np.argsort(s, kind="stable")
    assert np.all(np.diff(p[order]) >= 0)
    assert p.tolist() == [ref_p(ref_exp_core(int(s.max() - x), f), pb) for x in s]
    p2, _ = softmax_int(s + 12345, **IDENTITY, p_bits=pb, exp_frac_bits=f)
    assert np.array_equal(p, p2)
    perm = np.random.default_rng(len(u)).permutation(len(u))
    p3, _ = softmax_int(s[perm], **IDENTITY, p_bits=pb, exp_frac_bits=f)
    assert np.array_equal(p3, p[perm])


def test_masked_max_has_no_effect():
    """§6.18: the largest score at a masked position does not move the max."""
    s = np.array([[400, 30, 0, -20, 10]])
    mask = np.array([[False, True, True, True, True]])
    p, l = softmax_int(s, **IDENTITY, mask=mask)
    p_ref, l_ref = softmax_int(s[:, 1:], **IDENTITY)
    assert p[0, 0] == 0 and np.array_equal(p[:, 1:], p_ref) and l == l_ref and p[0, 1] == 255


def test_dominant_key_and_tail():
    """§6.15 and §6.16 with u = S: a key at d = 575 has e = 65 (P = 1), at d = 576 e = 64
    (P = 0), and keys 16 octaves or more below the max have e = 0."""
    s = np.array([[1000, 1000 - 575, 1000 - 576, 1000 - 1024, 1000 - 5000]])
    assert exp_core(1000 - s[0]).tolist() == [32768, 65, 64, 0, 0]
    v = np.array([[-128], [100], [50], [127], [127]])
    tr = tile(s, v)
    assert tr.p.tolist() == [[255, 1, 0, 0, 0]] and tr.l.tolist() == [256]
    assert tr.y.tolist() == [[rhu((-128 * 255 + 100) << 16, 256)]]
    tr = tile(s[:, [0, 2, 3, 4]], v[[0, 2, 3, 4]])
    assert tr.p.tolist() == [[255, 0, 0, 0]] and tr.y.tolist() == [[-128 << 16]]


def test_scores_at_the_extremes():
    """§6.17: S = −128·−128·d everywhere (flat at 2^20 for d = 64), and negative S everywhere."""
    q = np.full((2, 64), -128)
    k = np.full((5, 64), -128)
    v = np.arange(5 * 2).reshape(5, 2) - 64
    kw = attention_multipliers(0.05, 0.05, 1.0, 1.0, 64)
    tr = attention_tile(q, k, v, **kw, trace=True)
    assert np.all(tr.s == 1 << 20) and np.all(tr.p == 255)
    assert tr.y.tolist() == [[rhu(int(v[:, c].sum()) << 16, 5) for c in range(2)]] * 2
    q = np.full((1, 64), 127)
    k = np.concatenate([np.full((3, 64), -128), -np.arange(1, 65).reshape(1, 64)])
    tr = attention_tile(q, k, v[:4], **kw, trace=True)
    assert np.all(tr.s < 0) and tr.p[0, 3] == 255 and np.all(tr.p[0, :3] == 0)


# --- §4.1 DIV_RHU (§6.22) ----------------------------------------------------------------------


def test_div_rhu_exhaustive_small():
    """DIV_RHU against exact rationals: every a in [−700, 700], b in [1, 48]; ties go up."""
    a = np.arange(-700, 701)
    for b in range(1, 49):
        assert div_rhu(a, b).tolist() == [rhu(int(x), b) for x in a]
    assert div_rhu([5, -5, 3, -3, 1, -1], 2).tolist() == [3, -2, 2, -1, 1, 0]


def estimate(o_acc, l, saturate):
    """The reciprocal estimate before correction, from the §4.2 pseudo-code (Python ints)."""
    k = l.bit_length() + 31
    r = min((1 << k) // l, (1 << 32) - 1) if saturate else (1 << k) // l
    return (o_acc * r + (1 << (k - 17))) >> (k - 16)  # int64 is exact while |O_acc| < 2^29


@pytest.mark.parametrize("saturate", [False, True])
def test_div_rhu_reciprocal_exhaustive(saturate):
    """The hardware route equals DIV_RHU on every O_acc with |O_acc| ≤ 222·L for L ≤ 256, and
    on the whole allowed domain |O_acc| < 2^15·L for L ≤ 12: 19.7 M cases per R mode. The
    correction fires in both directions (0.92 M times), so a divider without it fails here."""
    fixed = {+1: 0, -1: 0}
    for l in range(1, 257):
        bound = (1 << 15) * l - 1 if l <= 12 else 222 * l
        o_acc = np.arange(-bound, bound + 1)
        y = div_rhu_reciprocal(o_acc, l, saturate=saturate)
        exact = div_rhu(o_acc << 16, l)
        bad = np.flatnonzero(y != exact)
        assert bad.size == 0, f"L={l}: O_acc={o_acc[bad[:3]]} gives {y[bad[:3]]}"
        diff = exact - estimate(o_acc, l, saturate)
        assert np.all(np.abs(diff) <= 1)
        fixed[+1] += int((diff == 1).sum())
        fixed[-1] += int((diff == -1).sum())
    assert fixed[+1] and fixed[-1]


def _tie_cases():
    """(O_acc, L) pairs that stress the correction, as hypothesis strategies (§6.22)."""
    l_any = st.integers(1, 65535 * 16384)
    big = l_any.flatmap(lambda l: st.tuples(st.integers(-222 * l + 1, 222 * l - 1), st.just(l)))
    # Exact ties 2a = (2t+1)·L with a = O_acc·2^16: L = 2^17·c and O_acc = (2t+1)·c.
    ties = st.tuples(st.integers(1, 8191), st.integers(-128, 127)).map(
        lambda ct: ((2 * ct[1] + 1) * ct[0], ct[0] << 17)
    )
    # Near ties 2a = (2t+1)·L ± 1: L odd and O_acc ≡ ±2^−17 (mod L).
    near = st.tuples(
        st.integers(0, 2**29 - 1).map(lambda x: 2 * x + 3),
        st.sampled_from([1, -1]),
        st.integers(-100, 100),
    ).map(lambda t: ((t[1] * pow(2, -17, t[0])) % t[0] + t[2] * t[0], t[0]))
    # Quotients within 2^−8 of a tie: O_acc·2^17/L ≈ 2t + 1.
    close = st.tuples(l_any, st.integers(-128, 127), st.integers(-3, 3)).map(
        lambda t: (((2 * t[1] + 1) * t[0] >> 17) + t[2], t[0])
    )
    powers = st.tuples(st.integers(0, 29), st.integers(-128, 127)).map(
        lambda t: (t[1] << t[0], 1 << t[0])
    )
    extremes = st.sampled_from(
        [(o, l) for l in (1, 2, 65535 * 16384, 2**30 - 1) for o in (-128 * l, 127 * l, 1, -1, 0)]
    )
    return st.one_of(big, ties, near, close, powers, extremes)


@given(case=_tie_cases(), saturate=st.booleans())
@settings(max_examples=2000, deadline=None)
def test_div_rhu_reciprocal_large(case, saturate):
    """The hardware route equals exact DIV_RHU up to L = 65535·16384 (PB = 16, Lk = 16384):
    exact ties (2^17 | L), near ties, quotients within 2^−8 of a tie, powers of two (R = 2^32
    or its 32-bit saturation), L = 1 and L at its maximum."""
    o_acc, l = case
    assume(abs(o_acc) < 222 * l)
    y = div_rhu_reciprocal(np.array([o_acc]), l, saturate=saturate)[0]
    assert y == rhu(o_acc << 16, l) == div_rhu(np.array([o_acc << 16]), l)[0]


@pytest.mark.parametrize("saturate", [False, True])
def test_div_rhu_reciprocal_exact_ties(saturate):
    """§6.22: exact ties 2a = (2t+1)·L, both signs, round half up (5/2 → 3, −5/2 → −2); an
    RNE or half-down divider fails here. With a = O_acc·2^16 a tie needs 2^17 | L."""
    for c in (1, 3, 255, 8191):
        l = c << 17
        t = np.arange(-128, 128)
        y = div_rhu_reciprocal((2 * t + 1) * c, l, saturate=saturate)
        assert np.array_equal(y, t + 1), c
        assert np.array_equal(div_rhu((2 * t + 1) * c << 16, l), t + 1)
        near = div_rhu_reciprocal((2 * t + 1) * c - 1, l, saturate=saturate)
        assert np.array_equal(near, t), c  # just below the tie


def test_row_reciprocal_range():
    """R ∈ (2^31, 2^32], R = 2^32 exactly at powers of two (saturating to 2^32 − 1)."""
    l = np.array([1, 2, 3, 255, 256, 375, 2**29, 2**30 - 1, 65535 * 16384])
    r, k = row_reciprocal(l)
    assert np.all((r > 1 << 31) & (r <= 1 << 32))
    assert np.array_equal(r == 1 << 32, (l & (l - 1)) == 0)
    assert row_reciprocal(256, saturate=True)[0] == (1 << 32) - 1
    assert k.tolist() == [int(x).bit_length() + 31 for x in l]


def test_div_rhu_reciprocal_rejects_out_of_domain():
    with pytest.raises(ValueError, match="l values must be between 1 and"):
        div_rhu_reciprocal([5], 0)
    with pytest.raises(ValueError, match=r"o_acc must satisfy \|o_acc\| < 2\^15·l"):
        div_rhu_reciprocal([1 << 15], 1)
    with pytest.raises(ValueError, match="b values must be between 1 and"):
        div_rhu(3, 0)


# --- the tile against the scalar oracle ----------------------------------------------------------


@st.composite
def tiles(draw):
    lq = draw(st.integers(1, 4))
    lk = draw(st.integers(1, 36))
    d = draw(st.integers(1, 4))
    dv = draw(st.integers(1, 3))
    i8 = st.integers(-128, 127)
    q = np.array(draw(st.lists(st.lists(i8, min_size=d, max_size=d), min_size=lq, max_size=lq)))
    k = np.array(draw(st.lists(st.lists(i8, min_size=d, max_size=d), min_size=lk, max_size=lk)))
    v = np.array(draw(st.lists(st.lists(i8, min_size=dv, max_size=dv), min_size=lk, max_size=lk)))
    kw = {
        "scale_mult": draw(st.integers(0, 2**31 - 1)),
        "scale_shift": draw(st.integers(27, 45)),
        "out_mult": draw(st.integers(2**30, 2**31 - 1)),
        "out_shift": draw(st.integers(44, 48)),
        "out_zp": draw(st.integers(-128, 127)),
    }
    if draw(st.booleans()):
        kw["key_valid"] = np.array(draw(st.lists(st.booleans(), min_size=lk, max_size=lk)))
    if draw(st.booleans()):
        kw["causal"] = True
        kw["causal_offset"] = draw(st.none() | st.integers(-2, lk))
    if draw(st.booleans()):
        kw["mask"] = np.array(
            draw(
                st.lists(
                    st.lists(st.booleans(), min_size=lk, max_size=lk), min_size=lq, max_size=lq
                )
            )
        )
    mode = draw(st.sampled_from(["single", "preload", "online"]))
    block = None if mode == "single" else draw(st.integers(1, lk + 2))
    return q, k, v, kw, mode, block


@given(case=tiles(), pb=st.sampled_from([8, 16]), f=st.sampled_from([6, 8]))
@FAST
def test_attention_tile_matches_oracle(case, pb, f):
    """Every field of the tile, every mode, against the row-by-row oracle; plus the invariants
    L ≥ 2^PB − 1 on rows with a valid key, L = 0 and O = z_o on rows without, and y inside
    25 bits (24 with an exact max: inside [2^16·min V, 2^16·max V] of the valid keys)."""
    q, k, v, kw, mode, block = case
    tr = attention_tile(
        q, k, v, **kw, mode=mode, block=block, p_bits=pb, exp_frac_bits=f, trace=True
    )
    lq, lk = q.shape[0], k.shape[0]
    offset = kw.get("causal_offset")
    offset = lk - lq if offset is None else offset  # §4: bottom-right by default
    for i in range(lq):
        for j in range(lk):
            bit = bool(kw["mask"][i, j]) if "mask" in kw else True
            bit &= bool(kw["key_valid"][j]) if "key_valid" in kw else True
            bit &= j <= i + offset if kw.get("causal") else True
            assert tr.valid[i, j] == bit, (i, j)
            assert tr.s[i, j] == sum(int(a) * int(b) for a, b in zip(q[i], k[j], strict=True))
    check_against_oracle(tr, v, kw, mode, block, pb, f)
    has = tr.valid.any(axis=1)
    assert np.all(tr.l[has] >= (1 << pb) - 1) and np.all(tr.l[~has] == 0)
    assert np.all(tr.o[~has] == kw["out_zp"]) and np.all(tr.y[~has] == 0)
    assert np.all(np.abs(tr.y) < 1 << 24)
    if mode != "online":
        for i in np.flatnonzero(has):
            vv = v[tr.valid[i]]
            assert np.all(tr.y[i] >= vv.min(axis=0) << 16) and np.all(
                tr.y[i] <= vv.max(axis=0) << 16
            )


@st.composite
def long_rows(draw):
    """Rows shaped to make the running max grow often: ascending, random, or a mixture."""
    lk = draw(st.integers(2, 64))
    kind = draw(st.sampled_from(["ascending", "random", "steps"]))
    if kind == "ascending":
        steps = draw(st.lists(st.integers(0, 300), min_size=lk, max_size=lk))
        s = np.cumsum(steps) - 5000
    elif kind == "random":
        s = np.array(draw(st.lists(st.integers(-3000, 3000), min_size=lk, max_size=lk)))
    else:
        s = np.repeat(draw(st.lists(st.integers(-2000, 2000), min_size=1, max_size=4)), lk)[:lk]
    v = np.array(draw(st.lists(st.sampled_from([-128, 127, -1, 0, 3]), min_size=lk, max_size=lk)))
    return s[None, :], v[:, None], draw(st.integers(1, lk))


@given(case=long_rows(), pb=st.sampled_from([8, 16]), f=st.sampled_from([6, 8]))
@FAST
def test_online_rescale_matches_oracle(case, pb, f):
    """§6.20: the running max growing in (almost) every block, with extreme V; the online
    state follows the §4.3 pseudo-code exactly and y fits 25 bits."""
    s, v, block = case
    tr = tile(s, v, mode="online", block=block, p_bits=pb, exp_frac_bits=f)
    check_against_oracle(tr, v, {**IDENTITY, **OUT_V_UNITS}, "online", block, pb, f)
    assert -(1 << 24) <= tr.y.min() and tr.y.max() < 1 << 24
    assert tr.l[0] >= (1 << pb) - 1


# --- §4.3 key blocks ---------------------------------------------------------------------------


@pytest.mark.parametrize(("pb", "f"), [(8, 6), (16, 8), (16, 6)])
def test_preload_parity_over_block_width(pb, f, seed):
    """§6.20: with a pre-loaded max, B_c ∈ {16, 64, 256, Lk} equals the single tile bit for bit
    (P, L, O_acc, y, O), as does the running max with one block."""
    rng = np.random.default_rng(seed)
    lq, lk = 8, 1000
    s = gaussian_scores(rng, lq, lk, 3.0)
    s[:, 500:520] += 4000  # a late group of large scores: the running max would rescale
    v = np.clip(rng.normal(rng.uniform(-96, 96, 16), 24, (lk, 16)), -128, 127).astype(int)
    kw = {**multipliers_for(1 / 256, f), "p_bits": pb, "exp_frac_bits": f}
    kw["key_valid"] = rng.random(lk) < 0.9
    kw["mask"] = rng.random((lq, lk)) < 0.95
    kw["mask"][3] = False  # a fully masked row
    single = tile(s, v, **kw)
    for block in (16, 64, 256, lk):
        assert_same_trace(tile(s, v, **kw, mode="preload", block=block), single, f"B_c={block}")
    assert_same_trace(tile(s, v, **kw, mode="online", block=lk), single, "online, one block")
    assert_same_trace(tile(s, v, **kw, mode="online", block=5000), single, "online, B_c > Lk")
    online = tile(s, v, **kw, mode="online", block=64)
    assert not np.array_equal(online.y, single.y)  # B_c is part of the online definition


def test_online_depends_on_block_width():
    """§4.3: without a pre-loaded max, ascending scores rescale in every block and the result
    differs from the single tile; the same B_c always gives the same bits."""
    s = (np.arange(256) * 7)[None, :]
    v = ((np.arange(256) * 37) % 256 - 128)[:, None]
    single = tile(s, v)
    a = tile(s, v, mode="online", block=16)
    assert a.y[0, 0] != single.y[0, 0]
    assert_same_trace(a, tile(s, v, mode="online", block=16), "rerun")
    check_against_oracle(a, v, {**IDENTITY, **OUT_V_UNITS}, "online", 16, 8, 6)


def test_online_growth_of_16_octaves_resets_the_state():
    """§6.20: a max growth of ≥ (EB+1)·2^F gives α = 0: O_acc and L restart at the new key, so
    y = V_new·2^16. A growth of (EB+1)·2^F − 1 gives α = 1 exactly."""
    v = np.array([[-128], [5]])
    for gap in (1024, 1025, 5000):
        tr = tile([[0, gap]], v, mode="online", block=1)
        assert tr.l.tolist() == [255] and tr.y.tolist() == [[5 << 16]], gap
    tr = tile([[0, 1023]], v, mode="online", block=1)
    o_acc = ((-128 * 255 * 1 + (1 << 14)) >> 15) + 255 * 5  # α = 1: −1 + 1275
    l = ((255 * 1 + (1 << 14)) >> 15) + 255  # 0 + 255
    assert tr.o_acc.tolist() == [[o_acc]] == [[1274]] and tr.l.tolist() == [l]
    assert tr.y.tolist() == [[rhu(1274 << 16, 255)]]


@pytest.mark.parametrize(("value", "y"), [(-128, -(32704 << 16) // 255), (127, None)])
def test_online_constant_v_leaves_the_convex_hull(value, y):
    """§6.20: constant V under a rescale. Two keys 9 octaves apart in separate blocks: α = 64,
    L rounds to 0 while O_acc rounds to −64, so y/2^16 = −32704/255 = −128.25 (and
    +127.247 for V = 127), outside [−2^23, 127·2^16] but inside 25 bits."""
    v = np.full((2, 1), value)
    tr = tile([[0, 9 * 64]], v, mode="online", block=1)
    assert tr.l.tolist() == [255]
    expected = rhu((-32704 if value < 0 else 32448) << 16, 255)
    assert tr.y.tolist() == [[expected]]
    if value < 0:
        assert expected < -128 << 16 and round(expected / 2**16, 2) == -128.25
    else:
        assert expected > 127 << 16
    assert -(1 << 24) <= expected < 1 << 24
    # Ascending scores over many blocks, V ≡ −128: y stays inside 25 bits.
    s = (np.arange(4096) * 3)[None, :]
    tr = tile(s, np.full((4096, 1), value), mode="online", block=64)
    assert abs(int(tr.y[0, 0])) < 1 << 24


def test_empty_blocks_leave_the_state_unchanged():
    """§6.20: a key block with no valid key changes nothing: equal to deleting its keys."""
    rng = np.random.default_rng(7)
    s = gaussian_scores(rng, 4, 192, 3.0)
    v = rng.integers(-128, 128, (192, 5))
    valid = np.ones(192, bool)
    valid[64:128] = False
    keep = np.flatnonzero(valid)
    kw = multipliers_for(1 / 256)
    for mode in ("preload", "online"):
        full = tile(s, v, **kw, key_valid=valid, mode=mode, block=64)
        cut = tile(s[:, keep], v[keep], **kw, mode=mode, block=64)
        for name in ("l", "o_acc", "y", "o"):
            assert np.array_equal(getattr(full, name), getattr(cut, name)), (mode, name)


def test_causal_block_skipping_is_bit_identical():
    """§4.3 and §6.20: blocks wholly above the diagonal for a query tile can be skipped."""
    rng = np.random.default_rng(11)
    s = gaussian_scores(rng, 64, 256, 2.0)
    v = rng.integers(-128, 128, (256, 8))
    kw = {**multipliers_for(1 / 256), "causal": True, "causal_offset": 0}
    for mode in ("preload", "online"):
        full = tile(s, v, **kw, mode=mode, block=64)
        skipped = tile(s[:, :64], v[:64], **kw, mode=mode, block=64)
        assert_same_trace(full, skipped._replace(p=np.pad(skipped.p, ((0, 0), (0, 192)))), mode)
        assert full.y[0].tolist() == (v[0] << 16).tolist()  # row 0 sees key 0 only


# --- §4 masks and edge cases (§6.18, §6.21) ------------------------------------------------------


@pytest.mark.parametrize("mode", ["single", "preload", "online"])
@pytest.mark.parametrize("zp", [-128, 0, 127])
def test_fully_masked_row_gives_zero_point(mode, zp, monkeypatch):
    """§6.18: no valid key: P ≡ 0, L = 0, y = 0, O = z_o, and no division is issued."""
    divided = []
    real = golden_attention.div_rhu_reciprocal

    def spy(o_acc, l, **kw):
        divided.extend(np.ravel(l).tolist())
        return real(o_acc, l, **kw)

    monkeypatch.setattr(golden_attention, "div_rhu_reciprocal", spy)
    s = np.array([[5, 900, -3], [1, 2, 3], [4, 4, 4]])
    mask = np.array([[0, 0, 0], [1, 0, 1], [0, 0, 0]])
    block = None if mode == "single" else 2
    tr = tile(s, np.full((3, 2), -128), mask=mask, mode=mode, block=block, out_zp=zp)
    assert tr.l.tolist()[0] == 0 and tr.l.tolist()[2] == 0 and np.all(tr.p[[0, 2]] == 0)
    assert tr.y[[0, 2]].tolist() == [[0, 0]] * 2 and tr.o[[0, 2]].tolist() == [[zp, zp]] * 2
    assert divided == [tr.l[1]]  # one reciprocal, for row 1 only


@pytest.mark.parametrize("pb", [8, 16])
def test_one_valid_key(pb):
    """§6.18: one valid key (or Lk = 1, or causal row 0 with Lq = Lk) gives y = V·2^16 and
    O = requant(V·2^16), here O = V (μ_o = 2^−16); §6.21: P = 2^PB − 1 times V = −128 gives
    O_acc = −32640 (PB = 8) or −8388480 (two passes, PB = 16)."""
    v = np.array([[-128, 127, 0, 1, -1]])
    tr = tile([[123]], v, p_bits=pb)
    assert tr.p.tolist() == [[(1 << pb) - 1]]
    assert tr.o_acc[0, 0] == {8: -32640, 16: -8388480}[pb]
    assert tr.y.tolist() == (v << 16).tolist() and tr.o.tolist() == v.tolist()
    s = np.array([[50, 2000, -4000, 7]])
    vv = np.array([[9], [-128], [127], [-50]])
    tr = tile(s, vv, mask=np.array([[0, 0, 1, 0]]), p_bits=pb)
    assert tr.y.tolist() == [[127 << 16]]
    tr = tile(np.zeros((4, 4), int), vv, causal=True, p_bits=pb, mode="online", block=1)
    assert tr.y[0].tolist() == [9 << 16]


def test_causal_conventions():
    """§4: the default offset Lk − Lq is bottom-right (the last query sees every key), 0 is
    torch.tril's top-left; causal equals the explicit mask of the same bits."""
    m = attention_mask(2, 5, causal=True)
    assert m.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert np.array_equal(
        attention_mask(3, 5, causal=True, causal_offset=0), np.tril(np.ones((3, 5), bool))
    )
    assert not attention_mask(2, 4, causal=True, causal_offset=-1)[0].any()  # q_pos < 0
    rng = np.random.default_rng(3)
    s, v = gaussian_scores(rng, 6, 9, 2.0), rng.integers(-128, 128, (9, 4))
    a = tile(s, v, causal=True, causal_offset=2)
    b = tile(s, v, mask=np.tril(np.ones((6, 9), bool), k=2))
    assert_same_trace(a, b, "causal vs explicit mask")
    assert attention_mask(2, 3, key_valid=[1, 0, 1], mask=[[1, 1, 0], [1, 1, 1]]).tolist() == [
        [1, 0, 0],
        [1, 0, 1],
    ]


def test_masks_are_bits_never_scores():
    """§4: a float "additive mask" (0/−inf) is refused, as is any value but 0 and 1."""
    with pytest.raises(TypeError, match="mask must hold valid bits"):
        attention_mask(1, 2, mask=np.array([[0.0, -np.inf]]))
    with pytest.raises(ValueError, match="key_valid values must be 0 or 1, got 0..2"):
        attention_mask(1, 2, key_valid=[0, 2])
    with pytest.raises(ValueError, match=r"mask must have shape \(1, 2\), got \(2,\)"):
        attention_mask(1, 2, mask=[1, 1])


# --- widths, constants, validation -----------------------------------------------------------


def test_widths_table():
    """§4.1 table at Lk_max = 16384, and the §3.1 uint8×int8 row (PB = 8)."""
    assert attention_widths(16384) == {"l": 22, "o_acc": 30, "dividend": 46, "y": 24}
    assert attention_widths(16384, p_bits=16, online=True) == {
        "l": 30,
        "o_acc": 38,
        "dividend": 54,
        "y": 25,
    }
    assert [attention_widths(k)["o_acc"] for k in (64, 256, 1024, 4096)] == [22, 24, 26, 28]


def test_attention_multipliers():
    """§4 offline constants, in float64 in the fixed order, through quantize_multiplier (§3.4)."""
    kw = attention_multipliers(0.02, 0.03, 0.01, 0.01, 64)
    mu_e = 0.02 * 0.03 / 8.0 * 1.4426950408889634 * 64
    assert kw["scale_mult"] * 2.0 ** -kw["scale_shift"] == pytest.approx(mu_e, rel=1e-9)
    assert (kw["out_mult"], kw["out_shift"]) == (1 << 30, 46)  # μ_o = 2^−16
    with pytest.raises(ValueError, match="s_o must be a positive finite number, got 0"):
        attention_multipliers(1.0, 1.0, 1.0, 0, 64)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"scale_mult": -1}, ValueError, "scale_mult must be between 0 and 2147483647, got -1"),
        ({"scale_shift": 0}, ValueError, "scale_shift must be between 1 and 62, got 0"),
        ({"out_shift": 63}, ValueError, "out_shift must be between 1 and 62, got 63"),
        ({"out_zp": 128}, ValueError, "out_zp must be between -128 and 127, got 128"),
        ({"out_mult": 1.5}, TypeError, "out_mult must be an integer between 0 and 2147483647"),
        ({"mode": "flash"}, ValueError, "mode must be one of 'single', 'preload', 'online'"),
        ({"mode": "online"}, TypeError, "block must be an integer between 1 and 1048576, got N"),
        ({"mode": "online", "block": 0}, ValueError, "block must be between 1 and 1048576"),
        ({"causal": 1}, TypeError, "causal must be True or False, got 1"),
        ({"block": 4}, ValueError, "block is only used with mode 'preload' or 'online'"),
        ({"p_bits": 12}, ValueError, "p_bits must be one of 8, 16, got 12"),
        ({"exp_frac_bits": 7}, ValueError, "exp_frac_bits must be one of 6, 8, got 7"),
        ({"causal_offset": 1}, ValueError, "causal_offset is only used with causal=True"),
        ({"v": np.full((3, 2), 128)}, ValueError, "v values must be between -128 and 127"),
        ({"v": np.zeros((2, 2), int)}, ValueError, "s must be Lq×Lk and v Lk×dv"),
        ({"s": np.full((1, 3), 2**31)}, ValueError, "s values must be between -2147483648"),
        ({"s": np.zeros((1, 3))}, TypeError, "s must hold integers, got dtype float64"),
    ],
)
def test_validation_names_parameter_and_range(kwargs, error, message):
    args = {"s": np.zeros((1, 3), int), "v": np.zeros((3, 2), int), **IDENTITY, **OUT_V_UNITS}
    args.update(kwargs)
    with pytest.raises(error, match=message) as raised:
        attention_from_scores(args.pop("s"), args.pop("v"), **args)
    assert isinstance(raised.value, UsageError)  # the CLI prints it as one line, exit 2


def test_attention_tile_rejects_mismatched_q_k():
    with pytest.raises(ValueError, match="q and k must share d between 1 and 65536"):
        attention_tile(
            np.zeros((2, 3), int),
            np.zeros((2, 4), int),
            np.zeros((2, 1), int),
            **IDENTITY,
            **OUT_V_UNITS,
        )


def test_accuracy_script_smoke():
    """The measurement script runs (tiny draw) and is exact on flat rows (§4.2 table: 0)."""
    from scripts.attention_accuracy import measure

    rows = measure(lk=64, kinds=("flat", "gauss1"), draws=1, lq=4, dv=8, seed=1)
    flat = [r for r in rows if r["kind"] == "flat"]
    assert flat and all(r["max_v_lsb"] <= 2.0**-17 for r in flat)
    assert all(r["max_v_lsb"] < 1.0 for r in rows)
