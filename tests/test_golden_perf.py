"""Cycle model and performance tiers, against hand-worked counts."""

import pytest

from golden.perf import array_cycles, fold_count, tier_cycles, utilization


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


def test_array_cycles_hand_worked():
    """1×1 array, one fold, M=1: weight at 0, act at 1, result at 1 + 1 + 1 + 1 = 4 → 5 cycles."""
    assert array_cycles(1, 1, 1, 1, 1) == 5
    # 3×5 array, M=37, K=11, N=13: F=12 folds of max(37, 3)=37 cycles.
    assert array_cycles(3, 5, 37, 11, 13) == 3 + 11 * 37 + 37 - 1 + 3 + 5 + 1 + 1


def test_array_cycles_short_folds_are_weight_bound():
    """With M < R a fold lasts R cycles: the R weight beats of the next fold set the pace."""
    assert array_cycles(8, 8, 2, 16, 8) - array_cycles(8, 8, 2, 8, 8) == 8


def test_array_cycles_vs_t3():
    """The RTL sits within the I/O registers of T3 when M ≥ R (three cycles: input register,
    result FIFO, inclusive count)."""
    for r, c, m, k, n in [(8, 8, 256, 256, 256), (16, 16, 64, 64, 64), (3, 5, 37, 11, 13)]:
        assert array_cycles(r, c, m, k, n) == tier_cycles(r, c, m, k, n)["T3"] + 3


def test_utilization():
    assert utilization(2, 2, 2, 2, 2, 2) == pytest.approx(1.0)


def test_bad_shape():
    with pytest.raises(ValueError, match="m must be a positive integer, got 0"):
        array_cycles(4, 4, 0, 4, 4)
