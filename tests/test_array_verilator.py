"""cocotb + Verilator regressions of the generated SystolicArray against the golden model.

One Verilator build per configuration (``build/array/<id>/``), reused by every test of that
configuration; each test runs a batch of GEMMs in one simulation. Expected outputs come from
the golden model and, independently, from ``conftest.reference_gemm`` (plain Python loops), so
a bug in the fold bookkeeping the testbench shares with the golden model cannot hide.
"""

import numpy as np
import pytest
from conftest import assert_same_result, config_param, operands, reference_gemm

from golden import gemm_int8
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for
from tb.drivers.pause import BurstPause, CyclicPause
from tb.runtime import GemmJob, run_gemm, run_gemm_batch
from tb.stimulus import TWO_OF_THREE, PacedJob, long_result_stalls, periodic_result_stalls

pytestmark = pytest.mark.verilator

CONFIGS = [(1, 1), (1, 4), (4, 1), (3, 5), (4, 4), (8, 8)]
#: The largest array: a 35 s build and a minute of simulation per batch.
SLOW_CONFIGS = [(16, 16)]


def per_config(shapes, slow=()):
    """Parameters grouped by configuration, so pytest-xdist runs each build on one worker."""
    return [config_param(s, rows=s[0], cols=s[1]) for s in shapes] + [
        config_param(s, rows=s[0], cols=s[1], marks=(pytest.mark.slow,)) for s in slow
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
    """All −128, all 127, alternating signs, and uint8 255 × −128 (numerics §6.10, §6.21)."""
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


def check_run(cfg, job, run, what):
    """Bit-exact against golden and against the independent reference."""
    want = gemm_int8(job.a, job.b, cfg.acc_width, act_unsigned=job.act_unsigned)
    assert_same_result(cfg, run.c, want, f"{what} vs golden")
    ref = reference_gemm(cfg, job.a, job.b, act_unsigned=job.act_unsigned)
    assert_same_result(cfg, run.c, ref, f"{what} vs reference")


@pytest.mark.parametrize("shape", per_config(CONFIGS, SLOW_CONFIGS))
def test_array_random_gemms_exact_cycles(shape, seed):
    """Random and extreme GEMMs, no stalls: bit-exact, and cycles equal the model exactly."""
    rows, cols = shape
    cfg = ArrayConfig(rows=rows, cols=cols)
    rng = np.random.default_rng(seed)
    jobs = []
    for i, (m, k, n) in enumerate(random_shapes(rng, rows, cols, 10)):
        act_unsigned = i % 3 == 2
        jobs.append(GemmJob(*operands(cfg, rng, m, k, n, act_unsigned=act_unsigned), act_unsigned))
    jobs += extreme_jobs(rows, cols)
    runs = run_gemm_batch(cfg, jobs, seed=seed)
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        check_run(cfg, job, run, f"job {i}")
        (m, k), n = job.a.shape, job.b.shape[1]
        assert run.cycles == cycles_for(cfg, (m, k, n)), f"M={m} K={k} N={n}"


@pytest.mark.parametrize("shape", per_config([(1, 1), (3, 5), (4, 1), (8, 8)], SLOW_CONFIGS))
def test_array_stalls_and_reset(shape, seed):
    """Random valid/ready stalls on all three streams, and a reset in the middle of a GEMM
    followed by correct GEMMs: nothing lost, nothing corrupted, and the requested stalls
    really happened."""
    rows, cols = shape
    cfg = ArrayConfig(rows=rows, cols=cols)
    rng = np.random.default_rng(seed)

    def job(min_m=1, **stalls):
        m, k, n = (int(x) for x in rng.integers(1, [2 * rows + 5, 3 * rows + 2, 2 * cols + 3]))
        return GemmJob(*operands(cfg, rng, max(m, min_m), k, n), **stalls)

    # Jobs that stall results hold at least as many rows as the result FIFO, so the stalls
    # reach the activation stream.
    depth = cfg.result_fifo_depth
    jobs = [
        job(weight_stall=0.5),
        job(act_stall=0.5),
        job(depth, result_stall=0.6),
        job(depth, weight_stall=0.3, act_stall=0.3, result_stall=0.3),
        job(depth, weight_stall=0.8, act_stall=0.1, result_stall=0.7),
        # Mid-GEMM (weights loaded, rows in flight), on a GEMM too long to finish before it.
        job(rows + cols + 8, reset_after=rows + cols + 7),
        job(),
        job(result_stall=0.5, reset_after=3),  # during the first weight load
        job(depth, weight_stall=0.2, act_stall=0.2, result_stall=0.2),
    ]
    runs = run_gemm_batch(cfg, jobs, seed=seed)
    for i, (j, run) in enumerate(zip(jobs, runs, strict=True)):
        if j.reset_after is not None:
            assert run is None
            continue
        check_run(cfg, j, run, f"job {i}")
        for stream, p in (("weights", j.weight_stall), ("acts", j.act_stall)):
            if p >= 0.5:
                assert run.stats[stream]["paused"] > 0, f"job {i}: no {stream} pause"
        if j.result_stall:
            stats = run.stats
            assert stats["results"]["paused"] > 0, f"job {i}: result ready never low"
            assert stats["result_monitor"]["stalled"] > 0, f"job {i}: no valid-while-not-ready"
            assert stats["results"]["stalled"] == stats["result_monitor"]["stalled"]
        else:
            assert run.stats["results"]["paused"] == 0
        if i == 6:  # first job after a reset runs at full speed again
            (m, k), n = j.a.shape, j.b.shape[1]
            assert run.cycles == cycles_for(cfg, (m, k, n))


@pytest.mark.parametrize("shape", per_config([(1, 1), (3, 5), (8, 8)]))
def test_array_long_deterministic_stalls(shape, seed):
    """Result ``ready`` held low for ``3·(R+C)`` cycles at fixed points and in periodic
    patterns: every row in flight lands in the result FIFO and the credits run out, so an
    undersized FIFO or a wrong credit count loses or duplicates rows. Also the strictest legal
    consumer (``ready`` only while ``valid``) and long weight and activation pauses."""
    rows, cols = shape
    cfg = ArrayConfig(rows=rows, cols=cols)
    rng = np.random.default_rng(seed)
    depth = cfg.result_fifo_depth
    m, k, n = 2 * depth + 3, 2 * rows + 1, cols + 1
    burst = long_result_stalls(cfg)

    def job(**options):
        return PacedJob(*operands(cfg, rng, m, k, n), **options)

    jobs = [
        job(result_pause=burst),
        job(result_pause=periodic_result_stalls(cfg)),
        job(result_pause=periodic_result_stalls(cfg), act_stall=0.3, weight_stall=0.3),
        job(result_pause=TWO_OF_THREE, ready_when_valid=True),
        job(ready_when_valid=True),
        job(
            weight_pause=BurstPause(start=1, length=3 * (rows + cols)),
            act_pause=CyclicPause((False, True)),
        ),
    ]
    runs = run_gemm_batch(cfg, jobs, seed=seed)
    for i, (j, run) in enumerate(zip(jobs, runs, strict=True)):
        check_run(cfg, j, run, f"job {i}")
        stats = run.stats
        if j.result_pause is not None:
            assert stats["result_monitor"]["stalled"] > 0, f"job {i}"
    stats = runs[0].stats
    assert stats["results"]["paused"] == burst.length
    assert stats["result_monitor"]["stalled"] >= burst.length - depth
    # The credits ran out: activations waited for most of the stall (job 4 has the same shape
    # and no stalls, so its activation stalls are the weight loads alone).
    assert stats["acts"]["stalled"] - runs[4].stats["acts"]["stalled"] >= burst.length - depth
    # The strictest consumer costs nothing: the result stream never waits for ready.
    assert runs[4].cycles == cycles_for(cfg, (m, k, n))
    assert runs[4].stats["result_monitor"]["stalled"] == 0
    assert runs[4].stats["result_monitor"]["starved"] == 0
    assert runs[5].stats["weights"]["paused"] == 3 * (rows + cols)


@pytest.mark.slow
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
    assert_same_result(cfg, run.c, gemm_int8(a, b, 16), "vs golden")
    assert_same_result(cfg, run.c, reference_gemm(cfg, a, b), "vs reference")
    assert run.c[0, 0] == 0  # 40·16384 = 10·2^16


@pytest.mark.xdist_group("r3c5-int8")
def test_run_gemm_acceptance_3x5():
    """3×5 with M=37, K=11, N=13 is exact and takes the modelled cycles."""
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


#: Slow sweep: shapes beyond the default set, every MAC kind, three stall levels each.
SWEEP_SHAPES = [(2, 7), (7, 2), (5, 5), (6, 3)]
SWEEP_KINDS = ["int8", "e4m3", "e5m2", "e4m3xe5m2"]


def sweep_params():
    return [
        config_param(rows=r, cols=c, mac=mac, marks=(pytest.mark.slow,))
        for r, c in SWEEP_SHAPES
        for mac in SWEEP_KINDS
    ]


@pytest.mark.parametrize("cfg", sweep_params())
def test_array_sweep_shapes_kinds_stalls(cfg, seed):
    """Broad sweep: random GEMMs (specials included for FP8) at stall probabilities 0, 0.3 and
    0.7 on every stream, checked against golden and the independent reference."""
    rng = np.random.default_rng(seed)
    rows, cols = cfg.rows, cfg.cols
    jobs = []
    for p in (0.0, 0.3, 0.7):
        for _ in range(4):
            m, k, n = (int(x) for x in rng.integers(1, [3 * rows + 5, 4 * rows + 3, 3 * cols + 3]))
            act_unsigned = not cfg.is_fp8 and bool(rng.integers(2))
            a, b = operands(cfg, rng, m, k, n, act_unsigned=act_unsigned, special_rate=0.05)
            jobs.append(GemmJob(a, b, act_unsigned, p, p, p))
    runs = run_gemm_batch(cfg, jobs, seed=seed)
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        want = reference_gemm(cfg, job.a, job.b, act_unsigned=job.act_unsigned)
        assert_same_result(cfg, run.c, want, f"job {i}")
        if job.result_stall == 0:
            assert run.cycles == cycles_for(cfg, (*job.a.shape, job.b.shape[1]))
