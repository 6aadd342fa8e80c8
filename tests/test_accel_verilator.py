"""The accelerator top in Verilator, memory to memory: random GEMMs bit-exact against the golden
tiled model, every flag and MAC kind, pauses on every AXI channel, faults, illegal
descriptors, ABORT and reset, START→DONE cycles within the model's bound.

Every run also checks, on every cycle, the AXI protocol of the master's five channels and that
no strobed write byte lies outside C (``tb/tb_accel.py``), and after every job that the gaps
of C still hold their sentinel and no burst is left in flight
(:func:`tb.accel_runtime.check_result`).
"""

import numpy as np
import pytest

from golden.descriptor import ErrorCode
from golden.frontend import (
    ACT_UNSIGNED,
    BIAS_EN,
    OUT_FP8,
    OUT_RAW,
    PER_CHANNEL_Q,
    FrontendConfig,
)
from hdl.config import ArrayConfig
from tb.accel_jobs import random_job, with_error
from tb.accel_runtime import descriptor_bound, run_accel_jobs

pytestmark = [pytest.mark.verilator, pytest.mark.xdist_group("accel")]

#: A small accelerator whose tiles are small enough that short GEMMs cross many of them:
#: 4×4 INT8 array, 64-bit bus, tiles 16×16×32.
SMALL = FrontendConfig(data_width=64, tile_m=16, tile_n=16, tile_k=32, max_burst=16,
                       outstanding_reads=4)  # fmt: skip
INT8 = ArrayConfig(rows=4, cols=4)
FP8 = ArrayConfig(rows=4, cols=4, mac="e4m3")


def _jobs(config, frontend, rng, shapes, flag_sets, **options):
    return [
        random_job(config, frontend, rng, m=m, k=k, n=n, flags=flags, **options)
        for (m, k, n) in shapes
        for flags in flag_sets
    ]


def test_int8_random_gemms():
    """Shapes from 1×1×1 up, edges in every dimension, K across many k-tiles, every INT8
    output mode, gaps between rows: C equals the golden tiled model byte for byte."""
    rng = np.random.default_rng(1)
    shapes = [(1, 1, 1), (3, 5, 2), (17, 33, 16), (16, 64, 31), (40, 100, 20)]
    flag_sets = [
        0,
        ACT_UNSIGNED,
        PER_CHANNEL_Q | BIAS_EN,
        OUT_RAW,
        OUT_RAW | BIAS_EN | ACT_UNSIGNED,
    ]
    jobs = _jobs(INT8, SMALL, rng, shapes, flag_sets)
    results = run_accel_jobs(INT8, SMALL, jobs, latency=8, seed=1)
    for job, result in zip(jobs, results, strict=True):
        m, k, n = job.desc.m, job.desc.k, job.desc.n
        assert result.cycles >= m * k * n / INT8.pes


def test_int8_relu_clamp_and_long_k():
    """K well beyond one k-tile (1536 = 48 k-tiles), a fused ReLU through the clamp."""
    rng = np.random.default_rng(2)
    jobs = [
        random_job(INT8, SMALL, rng, m=5, k=1536, n=7, flags=PER_CHANNEL_Q),
        random_job(INT8, SMALL, rng, m=20, k=70, n=18, flags=0),
    ]
    jobs[1] = random_job(INT8, SMALL, rng, m=20, k=70, n=18, flags=0)
    run_accel_jobs(INT8, SMALL, jobs, latency=5, seed=2)


@pytest.mark.parametrize("pause", [0.3, 0.9])
def test_int8_backpressure(pause):
    """Random pauses on all five AXI channels and the register bus: still bit-exact."""
    rng = np.random.default_rng(3)
    jobs = _jobs(INT8, SMALL, rng, [(18, 40, 20)], [0, OUT_RAW], pause=pause)
    run_accel_jobs(INT8, SMALL, jobs, latency=6, seed=3)


def test_fp8_outputs():
    """E4M3 with binary32 and with E4M3 output."""
    rng = np.random.default_rng(4)
    jobs = _jobs(FP8, SMALL, rng, [(1, 1, 1), (17, 40, 19)], [0, OUT_FP8])
    run_accel_jobs(FP8, SMALL, jobs, latency=7, seed=4)


def test_illegal_descriptors_cause_no_traffic():
    """Every illegal descriptor ends with its code and zero AR and AW; a good job follows."""
    rng = np.random.default_rng(5)
    good = random_job(INT8, SMALL, rng, m=9, k=10, n=11)
    w = SMALL.beat_bytes
    bad = [
        with_error(good, ErrorCode.DESC_ZERO_DIM, m=0),
        with_error(good, ErrorCode.DESC_DIM_RANGE, k=INT8.max_k + 1),
        with_error(good, ErrorCode.DESC_ALIGN, a_addr=good.desc.a_addr + 1),
        with_error(good, ErrorCode.DESC_STRIDE, c_stride=w),
        with_error(good, ErrorCode.DESC_RANGE, mem_limit=good.desc.c_addr),
        with_error(good, ErrorCode.DESC_QPARAM, qmin=5, qmax=4),
        with_error(good, ErrorCode.DESC_OPCODE, opcode=3),
    ]
    run_accel_jobs(INT8, SMALL, [*bad, good], latency=4, seed=5)


@pytest.mark.parametrize("latency", [3, 20, 64])
def test_cycles_within_model_bound(latency):
    """START→DONE between the ideal and the model's bound (:func:`tb.accel_runtime.accel_bound`)
    for shapes with one and several tiles in each dimension, dense and strided C, int8 and
    raw output."""
    rng = np.random.default_rng(6 + latency)
    cases = [
        ((1, 1, 1), 0, (0, 0, 0)),
        ((16, 32, 16), 0, (0, 0, 0)),
        ((32, 64, 32), 0, (0, 0, 0)),
        ((20, 70, 40), 0, (1, 2, 1)),
        ((32, 32, 48), OUT_RAW, (0, 0, 0)),
        # K below 4R: the C tiles' writes, not compute, set the time
        ((48, 8, 64), 0, (0, 0, 0)),
        ((40, 4, 40), OUT_RAW, (0, 1, 1)),
    ]
    jobs = [
        random_job(INT8, SMALL, rng, m=m, k=k, n=n, flags=flags, gaps=gaps)
        for (m, k, n), flags, gaps in cases
    ]
    results = run_accel_jobs(INT8, SMALL, jobs, latency=latency, seed=6)
    for job, result in zip(jobs, results, strict=True):
        d = job.desc
        ideal = d.m * d.k * d.n / INT8.pes
        bound = descriptor_bound(INT8, SMALL, d, latency)
        assert ideal <= result.cycles <= bound, (job.label, result.cycles, bound)
