"""Cycle model and performance tiers, against hand-worked counts."""

import pytest

from golden.perf import GemmShape, fold_count, stream_cycles, tier_cycles, utilization
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for


def test_fold_count():
    assert fold_count(8, 8, 256, 256) == 32 * 32
    assert fold_count(3, 5, 11, 13) == 4 * 3
    assert fold_count(16, 16, 1, 1) == 1


def test_tiers_hand_worked():
    # 4×4 array, M=K=N=8: F = 2·2 = 4 folds.
    t = tier_cycles(4, 4, 8, 8, 8)
    assert t == {
        "T1": 4 * (8 + 4 + 8 - 2),  # 72
        "T2": 4 + 4 * (8 + 4 + 4 - 2),  # 60
        "T3": 4 + 4 * 8 + 4 + 4 - 2,  # 42
        "ideal": 8 * 8 * 8 // 16,  # 32
    }


def test_tiers_order():
    # With M ≥ R each tier only adds overhead to the one before it.
    for shape in [(8, 8, 8), (9, 300, 45), (256, 256, 256), (4096, 17, 3)]:
        t = tier_cycles(8, 8, *shape)
        assert t["ideal"] <= t["T3"] <= t["T2"] <= t["T1"]
    # With M < R, T3 pays max(M, R) per fold; only the ideal bound stays below everything.
    t = tier_cycles(8, 8, 1, 4096, 4096)
    assert t["ideal"] <= min(t["T1"], t["T2"], t["T3"])


def test_stream_cycles_hand_worked():
    """1×1 array, one fold, M=1, latency 3 (input register, PE, FIFO): weight at 0, act at 1,
    result at 1 + 3 = 4 → 5 cycles inclusive."""
    assert stream_cycles(1, 1, 1, 1, 1, latency=3) == 5
    # 3×5 array, M=37, K=11, N=13: F=12 folds of max(37, 3)=37 cycles, latency R+C+1 = 9.
    assert stream_cycles(3, 5, 37, 11, 13, latency=9) == 3 + 11 * 37 + 37 - 1 + 9 + 1


def test_stream_cycles_short_folds_are_weight_bound():
    """With M < R a fold lasts R cycles: the R weight beats of the next fold set the pace."""
    longer = stream_cycles(8, 8, 2, 16, 8, latency=17)
    assert longer - stream_cycles(8, 8, 2, 8, 8, latency=17) == 8


def test_stream_cycles_vs_t3():
    """With no MAC pipeline the RTL sits within the I/O registers of T3 when M ≥ R (three
    cycles: input register, result FIFO, inclusive count)."""
    for r, c, m, k, n in [(8, 8, 256, 256, 256), (16, 16, 64, 64, 64), (3, 5, 37, 11, 13)]:
        latency = r + c + 1
        assert stream_cycles(r, c, m, k, n, latency=latency) == tier_cycles(r, c, m, k, n)["T3"] + 3


@pytest.mark.parametrize("mac_pipeline", [0, 1, 2])
def test_cycles_for_follows_each_mac_pipeline(mac_pipeline):
    """Each MAC register adds one cycle; the accumulator of the GEMM top one more. Hand-worked:
    4×3 array, M=5, K=9, N=7: F = ceil(9/4)·ceil(7/3) = 9 folds of max(5, 4) = 5 cycles; the
    last row is accepted at 4 + 8·5 + 4 = 48 and leaves 4 + 3 + 1 + p cycles later."""
    cfg = ArrayConfig(rows=4, cols=3, mac_pipeline=mac_pipeline)
    assert cycles_for(cfg, (5, 9, 7)) == 48 + 8 + mac_pipeline + 1
    assert cycles_for(cfg, GemmShape(5, 9, 7), "gemm") == 48 + 8 + mac_pipeline + 2
    fp8 = ArrayConfig(rows=4, cols=3, mac="e5m2", mac_pipeline=mac_pipeline)
    assert cycles_for(fp8, (5, 9, 7)) == cycles_for(cfg, (5, 9, 7))


def test_cycles_for_rejects_unknown_top():
    with pytest.raises(ValueError, match="top must be one of array, gemm, got 'accel'"):
        cycles_for(ArrayConfig(), (1, 1, 1), "accel")


def test_utilization():
    assert utilization(2, 2, 2, 2, 2, 2) == pytest.approx(1.0)


def test_bad_shape():
    with pytest.raises(ValueError, match="m must be a positive integer, got 0"):
        stream_cycles(4, 4, 0, 4, 4, latency=9)
    with pytest.raises(ValueError, match="latency must be a positive integer, got 0"):
        stream_cycles(4, 4, 1, 4, 4, latency=0)


# --- attention tile --------------------------------------------------------------------------

ATTN_LATENCIES = {
    "array_latency": 11,
    "softmax_latency": 9,
    "reciprocal_latency": 33,
    "normalizer_latency": 6,
}


def test_attention_cycles_hand_worked():
    from golden.perf import attention_cycles

    # 4×4, Lq=4, Lk=8, d=8, dv=4: nd = nk = 2, nv = 1, folds of max(4, 4) = 4 cycles.
    # Load ends at 8·2 = 16; Q·Kᵀ (4 folds) from 19: last result 19+4+3·4+3+11 = 49.
    # S from 51; L of row j at 51 + (j+2)·2 − 1 + 9 = 63, 65, 67, 69. P·V (2 folds) from
    # 72: last result 72+4+4+3+11 = 94; O_acc beats from 96. Two reciprocal units take the
    # L's at 65, 67, then 65+33 = 98 and 67+33 = 100; R in the FIFO 35 cycles later: rows
    # end at 101, 103, 134, 136, the last output 6 cycles on, counted inclusive.
    got = attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, reciprocal_units=2)
    assert got == 136 + 6 + 1
    # One unit: the L's are taken at 65, 98, 131, 164; the last row ends at 164+35+1 = 200.
    assert attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES) == 200 + 6 + 1


def test_attention_cycles_bounds():
    from golden.perf import attention_cycles, stream_cycles

    for shape in [(64, 64, 64, 64), (128, 512, 64, 64), (3, 17, 5, 40), (1, 1, 1, 1)]:
        lq, lk, d, dv = shape
        for units in (1, 2, 4):
            got = attention_cycles(8, 8, *shape, **ATTN_LATENCIES, reciprocal_units=units)
            # At least both products streamed through the array, the softmax's S beats and
            # the output beats, one after the other.
            qk = stream_cycles(8, 8, lq, d, lk, latency=11)
            pv = stream_cycles(8, 8, lq, lk, dv, latency=11)
            assert got > qk + pv + lq * -(-lk // 8) + lq * -(-dv // 8)
        # More reciprocal units never cost cycles.
        counts = [
            attention_cycles(8, 8, *shape, **ATTN_LATENCIES, reciprocal_units=u) for u in (1, 2, 4)
        ]
        assert counts == sorted(counts, reverse=True)


def test_attention_cycles_bad_arguments():
    from golden.perf import attention_cycles

    with pytest.raises(ValueError, match="lk must be a positive integer"):
        attention_cycles(4, 4, 4, 0, 8, 4, **ATTN_LATENCIES)
    with pytest.raises(ValueError, match="reciprocal_units must be a positive integer"):
        attention_cycles(4, 4, 4, 4, 8, 4, **ATTN_LATENCIES, reciprocal_units=True)


def test_attention_cycles_preload():
    from golden.perf import attention_cycles

    # The example above with the row max given: the softmax reads each row once, so every L
    # and everything after it comes nk = 2 cycles earlier.
    single = attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, reciprocal_units=2)
    preload = attention_cycles(
        4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, reciprocal_units=2, mode="preload"
    )
    assert single - preload == 2
    # A block before the last ends with P·V: its last result at 94 − 2 = 92, idle at 93.
    assert (
        attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, mode="preload", last_block=False) == 93
    )
    with pytest.raises(ValueError, match="mode must be 'single', 'preload' or 'online'"):
        attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, mode="running")
    with pytest.raises(ValueError, match="last_block=False needs mode='preload' or 'online'"):
        attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, last_block=False)


def test_attention_cycles_online():
    from golden.perf import attention_cycles

    # A running-max block reads each row of S twice, as the single tile (block max, then P);
    # the α rescale rides on the additions of L and O_acc: the single tile's count, and a
    # block before the last ends after P·V at 94, idle at 95 (preload's 93 plus nk = 2).
    single = attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, reciprocal_units=2)
    online = attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, reciprocal_units=2, mode="online")
    assert online == single == 136 + 6 + 1
    early = attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, mode="online", last_block=False)
    assert early == 95


def test_attention_cycles_p16():
    from golden.perf import attention_cycles

    # PB = 16 runs the 2 folds of P·V twice: the last result at 94 + 2·4 = 102, O_acc beats
    # from 104. Rows 0 and 1 now wait for their beats (rows end at 104, 105), rows 2 and 3
    # still for their reciprocals (134, 136): the same total as PB = 8.
    got = attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, reciprocal_units=2, p_bits=16)
    assert got == 136 + 6 + 1
    # Bound by the array instead (one row, long rows of keys): P·V's folds add up.
    p8 = attention_cycles(4, 4, 1, 64, 8, 4, **ATTN_LATENCIES)
    p16 = attention_cycles(4, 4, 1, 64, 8, 4, **ATTN_LATENCIES, p_bits=16)
    assert p16 - p8 == 16 * 1 * 4  # nk·nv folds of max(Lq, R) = 4 cycles
    with pytest.raises(ValueError, match="p_bits must be 8 or 16"):
        attention_cycles(4, 4, 4, 8, 8, 4, **ATTN_LATENCIES, p_bits=12)
