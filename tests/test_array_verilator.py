"""cocotb + Verilator regressions of the generated SystolicArray against the golden model.

One Verilator build per configuration (``build/array/<id>/``), reused by every test of that
configuration; each test runs a batch of GEMMs in one simulation.
"""

import numpy as np
import pytest

from golden import gemm_int8
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for
from tb.runtime import GemmJob, run_gemm, run_gemm_batch

pytestmark = pytest.mark.verilator

CONFIGS = [(1, 1), (1, 4), (4, 1), (3, 5), (4, 4), (8, 8), (16, 16)]


def config_id(shape):
    return ArrayConfig(rows=shape[0], cols=shape[1]).id


def per_config(shapes):
    """Parameters grouped by configuration, so pytest-xdist runs each build on one worker."""
    return [
        pytest.param(s, id=config_id(s), marks=pytest.mark.xdist_group(config_id(s)))
        for s in shapes
    ]


def random_shapes(rng, rows, cols, count):
    """GEMM shapes around the array size: M < R, K < R, K = 1, ragged K and N, several folds."""
    shapes = [
        (1, 1, 1),
        (max(1, rows - 1), 1, cols),
        (2, max(1, rows // 2), 1),
        (rows + 3, 2 * rows + 1, 2 * cols + 1),
    ]
    while len(shapes) < count:
        shapes.append(
            tuple(int(x) for x in rng.integers(1, [3 * rows + 4, 3 * rows + 4, 3 * cols + 4]))
        )
    return shapes


def extreme_jobs(rows, cols):
    """All −128, all 127, alternating signs, and uint8 255 × −128 (NUMERICS.md §6.10, §6.21)."""
    m, k, n = rows + 1, 2 * rows + 1, cols + 1
    alternating = np.fromfunction(lambda i, j: np.where((i + j) % 2, 127, -128), (m, k), dtype=int)
    return [
        GemmJob(np.full((m, k), -128), np.full((k, n), -128)),
        GemmJob(np.full((m, k), 127), np.full((k, n), 127)),
        GemmJob(np.full((m, k), -128), np.full((k, n), 127)),
        GemmJob(
            alternating,
            alternating.T[:, :n].copy() if alternating.shape[0] >= n else np.full((k, n), -128),
        ),
        GemmJob(np.full((m, k), 255), np.full((k, n), -128), act_unsigned=True),
        GemmJob(np.full((m, k), 0), np.full((k, n), -128)),
    ]


@pytest.mark.parametrize("shape", per_config(CONFIGS))
def test_array_random_gemms_exact_cycles(shape, seed):
    """Random and extreme GEMMs, no stalls: bit-exact, and cycles equal the model exactly."""
    rows, cols = shape
    cfg = ArrayConfig(rows=rows, cols=cols)
    rng = np.random.default_rng(seed)
    jobs = []
    for i, (m, k, n) in enumerate(random_shapes(rng, rows, cols, 10)):
        act_unsigned = i % 3 == 2
        lo, hi = (0, 256) if act_unsigned else (-128, 128)
        jobs.append(
            GemmJob(
                rng.integers(lo, hi, (m, k)),
                rng.integers(-128, 128, (k, n)),
                act_unsigned=act_unsigned,
            )
        )
    jobs += extreme_jobs(rows, cols)
    runs = run_gemm_batch(cfg, jobs, seed=seed)
    for job, run in zip(jobs, runs, strict=True):
        want = gemm_int8(job.a, job.b, cfg.acc_width, act_unsigned=job.act_unsigned)
        assert np.array_equal(run.c, want)
        (m, k), n = job.a.shape, job.b.shape[1]
        assert run.cycles == cycles_for(cfg, (m, k, n)), f"M={m} K={k} N={n}"


@pytest.mark.parametrize("shape", per_config([(1, 1), (3, 5), (4, 1), (8, 8), (16, 16)]))
def test_array_stalls_and_reset(shape, seed):
    """Random valid/ready stalls on all three streams, and a reset in the middle of a GEMM
    followed by correct GEMMs: nothing lost, nothing corrupted."""
    rows, cols = shape
    cfg = ArrayConfig(rows=rows, cols=cols)
    rng = np.random.default_rng(seed)

    def job(**stalls):
        m, k, n = (int(x) for x in rng.integers(1, [2 * rows + 5, 3 * rows + 2, 2 * cols + 3]))
        return GemmJob(rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n)), **stalls)

    jobs = [
        job(weight_stall=0.5),
        job(act_stall=0.5),
        job(result_stall=0.6),
        job(weight_stall=0.3, act_stall=0.3, result_stall=0.3),
        job(weight_stall=0.8, act_stall=0.1, result_stall=0.7),
        job(reset_after=rows + cols + 7),  # mid-GEMM: weights loaded, rows in flight
        job(),
        job(result_stall=0.5, reset_after=3),  # during the first weight load
        job(weight_stall=0.2, act_stall=0.2, result_stall=0.2),
    ]
    runs = run_gemm_batch(cfg, jobs, seed=seed)
    for i, (j, run) in enumerate(zip(jobs, runs, strict=True)):
        if j.reset_after is not None:
            assert run is None
            continue
        want = gemm_int8(j.a, j.b, cfg.acc_width)
        assert np.array_equal(run.c, want), f"job {i}"
        if i == 6:  # first job after a reset runs at full speed again
            (m, k), n = j.a.shape, j.b.shape[1]
            assert run.cycles == cycles_for(cfg, (m, k, n))


@pytest.mark.xdist_group("r8c8-int8")
def test_array_max_k_extremes(seed):
    """K = max_k = 4096 of −128·−128 fills the 28-bit accumulator to 2^26 exactly (§6.10)."""
    cfg = ArrayConfig(rows=8, cols=8)
    k = cfg.max_k
    jobs = [
        GemmJob(np.full((8, k), -128), np.full((k, 8), -128)),
        GemmJob(np.full((8, k), 255), np.full((k, 8), -128), act_unsigned=True),
    ]
    runs = run_gemm_batch(cfg, jobs, seed=seed)
    assert (runs[0].c == 4096 * 16384).all() and 4096 * 16384 == 2**26
    assert (runs[1].c == -4096 * 32640).all()


def test_array_narrow_accumulator_wraps_like_golden(seed):
    """§6.11: a debug configuration with a 16-bit accumulator wraps exactly as ``wrap(Σ, 16)``."""
    cfg = ArrayConfig(rows=4, cols=4, max_k=1)
    assert cfg.acc_width == 16
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (9, 40))
    b = rng.integers(-128, 128, (40, 6))
    a[0, :] = -128
    b[:, 0] = -128  # C[0][0] = 40·2^14 wraps several times
    (run,) = run_gemm_batch(cfg, [GemmJob(a, b)], seed=seed, allow_overflow=True)
    assert np.array_equal(run.c, gemm_int8(a, b, 16))
    assert run.c[0, 0] == 0  # 40·16384 = 10·2^16


@pytest.mark.xdist_group("r3c5-int8")
def test_run_gemm_acceptance_3x5():
    """Issue acceptance: 3×5 with M=37, K=11, N=13 is exact and takes the modelled cycles."""
    cfg = ArrayConfig(rows=3, cols=5)
    rng = np.random.default_rng(37)
    a = rng.integers(-128, 128, (37, 11))
    b = rng.integers(-128, 128, (11, 13))
    run = run_gemm(cfg, a, b, seed=1)
    assert np.array_equal(run.c, gemm_int8(a, b, cfg.acc_width))
    assert run.cycles == cycles_for(cfg, (37, 11, 13))


def test_run_gemm_rejects_bad_input():
    cfg = ArrayConfig(rows=2, cols=2, max_k=16)
    with pytest.raises(ValueError, match="a's columns must equal b's rows"):
        run_gemm(cfg, np.zeros((2, 3), dtype=int), np.zeros((4, 2), dtype=int))
    with pytest.raises(ValueError, match="K must be at most max_k=16"):
        run_gemm(cfg, np.zeros((2, 17), dtype=int), np.zeros((17, 2), dtype=int))
    with pytest.raises(ValueError, match="values must be between -128 and 127"):
        run_gemm(cfg, np.full((2, 2), 200), np.zeros((2, 2), dtype=int))
    with pytest.raises(TypeError, match="a must hold integers"):
        run_gemm(cfg, np.zeros((2, 2)), np.zeros((2, 2), dtype=int))
