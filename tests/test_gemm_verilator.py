"""SystolicGemm (array + accumulator SRAM) under Verilator: the K folds are summed and FP8
results rounded once in hardware; whole GEMMs bit-exact against the golden model and the
independent reference, including one-row folds that read the row the previous fold is still
writing, the strictest legal result consumer, and long result stalls."""

import numpy as np
import pytest
from conftest import assert_same_result, config_param, operands, reference_gemm

from hdl.cycles import cycles_for
from tb.numerics import numerics_for
from tb.runtime import GemmJob, run_gemm_batch
from tb.stimulus import TWO_OF_THREE, PacedJob, long_result_stalls, periodic_result_stalls

pytestmark = pytest.mark.verilator

CASES = [("int8", 3, 5), ("int8", 8, 8), ("e4m3", 3, 5), ("e5m2", 3, 5), ("e4m3xe5m2", 4, 2)]
#: One-row folds: R = 1 runs a one-row fold every cycle; R = 3 gets them back to back when
#: result stalls have bunched rows up in the array's result FIFO.
ONE_ROW_CASES = [("int8", 1, 4), ("e4m3", 1, 3), ("int8", 3, 5), ("e4m3", 3, 5)]
READY_WHEN_VALID_CASES = [("int8", 1, 4), ("int8", 3, 5), ("e4m3", 3, 5)]


def params(cases):
    return [config_param(rows=r, cols=c, mac=mac, group="g-") for mac, r, c in cases]


#: The segmented FP8 add (``mac_pipeline=4``): the accumulator sees resolved partial sums.
SEGMENTED_CASE = config_param(rows=3, cols=4, mac="e5m2", mac_pipeline=4, group="g-")


def gemm_shape(job):
    return (*job.a.shape, job.b.shape[1])


def check_run(cfg, job, run, what):
    numerics = numerics_for(cfg)
    want = numerics.expected(job.a, job.b, job.act_unsigned)
    assert numerics.mismatch(run.c, want) is None, f"{what}: {numerics.mismatch(run.c, want)}"
    ref = reference_gemm(cfg, job.a, job.b, act_unsigned=job.act_unsigned)
    assert_same_result(cfg, run.c, ref, f"{what} vs reference")


@pytest.mark.parametrize("cfg", [*params(CASES), SEGMENTED_CASE])
def test_gemm_top_whole_gemms(cfg, seed):
    rows, cols = cfg.rows, cfg.cols
    rng = np.random.default_rng(seed)
    shapes = [
        (1, 3 * rows + 1, cols + 1),
        (2 * rows + 3, 3 * rows + 2, 2 * cols + 1),
        (rows, 1, 1),
        (5, rows, 3 * cols),
    ]
    jobs = [GemmJob(*operands(cfg, rng, *s)) for s in shapes]
    jobs.append(
        GemmJob(
            *operands(cfg, rng, 7, 2 * rows + 1, cols + 2),
            weight_stall=0.3,
            act_stall=0.3,
            result_stall=0.5,
        )
    )
    jobs.append(GemmJob(*operands(cfg, rng, 6, 2 * rows, cols), reset_after=rows + cols + 4))
    jobs.append(GemmJob(*operands(cfg, rng, 4, 2 * rows + 1, cols)))
    if not cfg.is_fp8:
        jobs.append(GemmJob(*operands(cfg, rng, 5, 2 * rows + 1, cols, act_unsigned=True), True))
    runs = run_gemm_batch(cfg, jobs, seed=seed, top="gemm")
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        if job.reset_after is not None:
            assert run is None
            continue
        check_run(cfg, job, run, f"job {i}")
        if job.result_stall == 0:
            assert run.cycles == cycles_for(cfg, gemm_shape(job), "gemm")
        else:
            assert run.stats["results"]["paused"] > 0
            assert run.stats["result_monitor"]["stalled"] > 0


@pytest.mark.parametrize("cfg", params(ONE_ROW_CASES))
def test_gemm_top_one_row_folds(cfg, seed):
    """M = 1 and M = 2 with several K folds per strip (K = 3·R+1 and more) and several strips:
    each fold reads back the rows of the previous fold, with no stall, under long result
    stalls and under the ``ready``-while-``valid`` consumer."""
    rows, cols = cfg.rows, cfg.cols
    rng = np.random.default_rng(seed)
    k, n = 3 * rows + 1, cols + 1

    def mostly_finite(m, k, n):
        # Few NaN/Inf codes: a sticky NaN would hide a fold that read a stale partial sum.
        return operands(cfg, rng, m, k, n, special_rate=0.01)

    jobs = [
        PacedJob(*mostly_finite(1, k, n)),
        PacedJob(*mostly_finite(2, k, n)),
        # Stalls that hold a strip's finished row long enough for the next strip's one-row
        # folds to queue up in the array's result FIFO; released, they reach the accumulator
        # one per cycle.
        PacedJob(
            *mostly_finite(1, 5 * rows + 2, 3 * cols + 1),
            result_pause=periodic_result_stalls(cfg),
        ),
        PacedJob(*mostly_finite(2, k, 2 * cols + 1), result_pause=long_result_stalls(cfg)),
        PacedJob(*mostly_finite(1, k, n), ready_when_valid=True),
        PacedJob(*mostly_finite(1, 5 * rows + 2, n), result_pause=TWO_OF_THREE),
    ]
    runs = run_gemm_batch(cfg, jobs, seed=seed, top="gemm")
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        check_run(cfg, job, run, f"job {i}")
        if job.result_pause is None:
            assert run.cycles == cycles_for(cfg, gemm_shape(job), "gemm"), f"job {i}"
        else:
            assert run.stats["results"]["paused"] > 0, f"job {i}"


@pytest.mark.parametrize("cfg", params(READY_WHEN_VALID_CASES))
def test_gemm_top_ready_when_valid(cfg, seed):
    """The strictest legal consumer (``ready`` only in cycles where ``valid`` is high) on the
    GEMM top: rows of folds that are not a strip's last must flow on without it, so every
    GEMM finishes, bit-exact, in the modelled cycles."""
    rows, cols = cfg.rows, cfg.cols
    rng = np.random.default_rng(seed)
    shapes = [(rows + 2, 3 * rows + 1, 2 * cols + 1), (1, 2 * rows + 1, cols), (7, 1, cols + 1)]
    jobs = [PacedJob(*operands(cfg, rng, *s), ready_when_valid=True) for s in shapes]
    jobs.append(
        PacedJob(
            *operands(cfg, rng, 9, 2 * rows + 1, cols + 1),
            act_stall=0.3,
            weight_stall=0.3,
            ready_when_valid=True,
        )
    )
    runs = run_gemm_batch(cfg, jobs, seed=seed, top="gemm")
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        check_run(cfg, job, run, f"job {i}")
        assert run.stats["result_monitor"]["starved"] == 0, f"job {i}: ready without valid"
        if not job.act_stall:
            assert run.cycles == cycles_for(cfg, gemm_shape(job), "gemm"), f"job {i}"


@pytest.mark.slow
@pytest.mark.parametrize("cfg", params([("int8", 4, 4), ("e5m2", 4, 4), ("e4m3", 1, 3)]))
def test_gemm_top_long_random_batch(cfg, seed):
    """A long batch of random GEMMs with random stalls on every stream, up to M = 64."""
    rng = np.random.default_rng(seed)
    rows, cols = cfg.rows, cfg.cols
    jobs = []
    for _ in range(40):
        m, k, n = (int(x) for x in rng.integers(1, [65, 6 * rows + 3, 4 * cols + 3]))
        p = float(rng.choice([0.0, 0.2, 0.5]))
        jobs.append(
            PacedJob(*operands(cfg, rng, m, k, n), weight_stall=p, act_stall=p, result_stall=p)
        )
    runs = run_gemm_batch(cfg, jobs, seed=seed, top="gemm")
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        check_run(cfg, job, run, f"job {i}")
