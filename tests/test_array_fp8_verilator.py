"""FP8 arrays (E4M3, E5M2, E4M3×E5M2) under Verilator: every output bit-identical to the
golden model, with specials, subnormals, maximum magnitudes and random stalls."""

import numpy as np
import pytest

from golden.fp8 import fp8_matmul_exact, fp8_to_float
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for
from tb.runtime import GemmJob, run_gemm_batch

pytestmark = pytest.mark.verilator

KINDS = ["e4m3", "e5m2", "e4m3xe5m2"]
SHAPES = [(1, 1), (3, 5), (8, 8)]


def params():
    out = []
    for mac in KINDS:
        for rows, cols in SHAPES:
            cid = ArrayConfig(rows=rows, cols=cols, mac=mac).id
            out.append(pytest.param(mac, rows, cols, id=cid, marks=pytest.mark.xdist_group(cid)))
    return out


def codes(rng, fmt, shape, special_rate):
    """Random codes: mostly finite (subnormals and extremes included), some NaN/Inf."""
    values = fp8_to_float(np.arange(256), fmt)
    finite = np.flatnonzero(np.isfinite(values))
    special = np.flatnonzero(~np.isfinite(values))
    out = rng.choice(finite, shape)
    mask = rng.random(shape) < special_rate
    out[mask] = rng.choice(special, int(mask.sum()))
    return out


def edge_jobs(fa, fb, rows, cols):
    """NUMERICS.md §6.4–§6.8 through the array: max magnitude, cancellation, specials, zeros."""
    big_a = 0x7E if fa == "e4m3" else 0x7B
    big_b = 0x7E if fb == "e4m3" else 0x7B
    k = 2 * rows + 1
    jobs = [
        GemmJob(np.full((rows + 1, k), big_a), np.full((k, cols), big_b)),  # all max
        GemmJob(np.full((2, k), big_a | 0x80), np.full((k, cols), big_b)),  # all −max
        # 2·max·max then −2·max·max in later folds, plus the smallest product: exact tiny sum.
        GemmJob(
            np.array([[big_a, big_a, 0x01] + [big_a | 0x80] * 2]),
            np.array([[big_b], [big_b], [0x01], [big_b], [big_b]]),
        ),
        GemmJob(np.full((1, 3), 0x80), np.full((3, 1), 0x00)),  # −0 products → +0.0
    ]
    nan_a = 0x7F
    jobs.append(GemmJob(np.array([[0x38, nan_a, 0x38]]), np.array([[0x00], [0x00], [0x38]])))
    if fb == "e5m2":
        # +Inf and −Inf in one dot product, and Inf · 0.
        jobs.append(GemmJob(np.array([[0x38, 0x38, 0x00]]), np.array([[0x7C], [0xFC], [0x7C]])))
        jobs.append(GemmJob(np.array([[0x38, big_a]]), np.array([[0xFC], [big_b]])))
    return jobs


@pytest.mark.parametrize(("mac", "rows", "cols"), params())
def test_fp8_array_bit_exact(mac, rows, cols, seed):
    cfg = ArrayConfig(rows=rows, cols=cols, mac=mac)
    fa, fb = cfg.fp8_formats
    rng = np.random.default_rng(seed)
    jobs = []
    for i in range(6):
        m, k, n = (int(x) for x in rng.integers(1, [2 * rows + 4, 3 * rows + 4, 2 * cols + 4]))
        rate = (0.0, 0.0, 0.02, 0.1, 0.0, 0.01)[i]
        stalls = {} if i < 3 else {"weight_stall": 0.3, "act_stall": 0.3, "result_stall": 0.4}
        jobs.append(GemmJob(codes(rng, fa, (m, k), rate), codes(rng, fb, (k, n), rate), **stalls))
    jobs += edge_jobs(fa, fb, rows, cols)
    runs = run_gemm_batch(cfg, jobs, seed=seed)
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        want = fp8_matmul_exact(job.a, job.b, fa, fb).result
        assert np.array_equal(run.c.view(np.uint32), want.view(np.uint32)), f"job {i}"
        if i < 3:
            (m, k), n = job.a.shape, job.b.shape[1]
            assert run.cycles == cycles_for(cfg, (m, k, n))


@pytest.mark.xdist_group("r3c5-e4m3")
def test_fp8_result_independent_of_array_shape(seed):
    """§6.9 through hardware: the same E4M3 GEMM gives identical bits on 1×1, 3×5 and 8×8."""
    rng = np.random.default_rng(seed)
    a = codes(rng, "e4m3", (5, 29), 0.0)
    b = codes(rng, "e4m3", (29, 6), 0.0)
    results = [
        run_gemm_batch(ArrayConfig(rows=r, cols=c, mac="e4m3"), [GemmJob(a, b)], seed=seed)[
            0
        ].c.view(np.uint32)
        for r, c in SHAPES
    ]
    assert all(np.array_equal(results[0], r) for r in results[1:])
