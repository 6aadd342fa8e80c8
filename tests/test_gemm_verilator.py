"""SystolicGemm (array + accumulator SRAM) under Verilator: the K folds are summed and FP8
results rounded once in hardware; whole GEMMs bit-exact against the golden model."""

import numpy as np
import pytest

from hdl.config import ArrayConfig
from hdl.cycles import cycles_for
from tb.numerics import numerics_for
from tb.runtime import GemmJob, run_gemm_batch

pytestmark = pytest.mark.verilator

CASES = [("int8", 3, 5), ("int8", 8, 8), ("e4m3", 3, 5), ("e5m2", 3, 5), ("e4m3xe5m2", 4, 2)]


def params():
    out = []
    for mac, rows, cols in CASES:
        cid = ArrayConfig(rows=rows, cols=cols, mac=mac).id
        out.append(pytest.param(mac, rows, cols, id=cid, marks=pytest.mark.xdist_group(f"g-{cid}")))
    return out


@pytest.mark.parametrize(("mac", "rows", "cols"), params())
def test_gemm_top_whole_gemms(mac, rows, cols, seed):
    cfg = ArrayConfig(rows=rows, cols=cols, mac=mac)
    numerics = numerics_for(cfg)
    rng = np.random.default_rng(seed)

    def operands(m, k, n):
        if cfg.is_fp8:
            return rng.integers(0, 256, (m, k)), rng.integers(0, 256, (k, n))
        return rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n))

    # M = 1 makes every fold's single row read the row the previous fold is writing.
    shapes = [
        (1, 3 * rows + 1, cols + 1),
        (2 * rows + 3, 3 * rows + 2, 2 * cols + 1),
        (rows, 1, 1),
        (5, rows, 3 * cols),
    ]
    jobs = [GemmJob(*operands(*s)) for s in shapes]
    jobs.append(
        GemmJob(
            *operands(7, 2 * rows + 1, cols + 2), weight_stall=0.3, act_stall=0.3, result_stall=0.5
        )
    )
    jobs.append(GemmJob(*operands(6, 2 * rows, cols), reset_after=rows + cols + 4))
    jobs.append(GemmJob(*operands(4, 2 * rows + 1, cols)))
    runs = run_gemm_batch(cfg, jobs, seed=seed, top="gemm")
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        if job.reset_after is not None:
            assert run is None
            continue
        want = numerics.expected(job.a, job.b, False)
        assert np.array_equal(numerics.comparable(run.c), numerics.comparable(want)), f"job {i}"
        if i < 4 or i == 6:
            (m, k), n = job.a.shape, job.b.shape[1]
            assert run.cycles == cycles_for(cfg, (m, k, n), "gemm")
