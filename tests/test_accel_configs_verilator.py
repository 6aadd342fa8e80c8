"""The accelerator across its generator parameters, in Verilator: every FP8 kind with binary32
and E4M3 output, 64-bit addresses, 128- and 256-bit buses, the longest bursts, shared
requantizer lanes, non-square arrays. Each configuration is one simulator build; its jobs
are checked byte for byte against the golden tiled model (``tb.accel_runtime.check_result``,
with the protocol and containment monitors on every cycle)."""

import numpy as np
import pytest

from golden.frontend import ACT_UNSIGNED, BIAS_EN, OUT_FP8, OUT_RAW, PER_CHANNEL_Q, FrontendConfig
from hdl.config import ArrayConfig
from tb.accel_jobs import random_job
from tb.accel_runtime import descriptor_bound, run_accel_jobs

pytestmark = [pytest.mark.verilator]

CONFIGS = {
    # E5M2 on a 128-bit bus with 64-bit addresses.
    "e5m2-d128-a64": (
        ArrayConfig(rows=4, cols=8, mac="e5m2"),
        FrontendConfig(
            data_width=128,
            addr_width=64,
            tile_m=16,
            tile_n=32,
            tile_k=32,
            max_burst=16,
            outstanding_reads=8,
        ),  # fmt: skip
    ),
    # Mixed FP8 on a 256-bit bus with AXI4's longest bursts.
    "e4m3xe5m2-d256-b256": (
        ArrayConfig(rows=8, cols=4, mac="e4m3xe5m2"),
        FrontendConfig(
            data_width=256, tile_m=16, tile_n=32, tile_k=64, max_burst=256, outstanding_reads=4
        ),  # fmt: skip
    ),
    # INT8 with two requantizer multipliers shared by eight columns.
    "int8-lanes2": (
        ArrayConfig(rows=8, cols=8),
        FrontendConfig(
            data_width=128,
            tile_m=16,
            tile_n=32,
            tile_k=32,
            requant_lanes=2,
            max_burst=8,
            outstanding_reads=4,
        ),  # fmt: skip
    ),
}


def _flag_sets(config):
    if config.mac == "int8":
        return [0, PER_CHANNEL_Q | BIAS_EN | ACT_UNSIGNED, OUT_RAW | BIAS_EN]
    return [0, OUT_FP8]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_config(name):
    """Random shapes with edges in every dimension (and K over several k-tiles), each flag set
    of the kind; START→DONE within the model's bound."""
    config, frontend = CONFIGS[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    shapes = [(1, 1, 1), (19, 70, 37), (33, 9, 5)]
    jobs = [
        random_job(config, frontend, rng, m=m, k=k, n=n, flags=flags)
        for (m, k, n) in shapes
        for flags in _flag_sets(config)
    ]
    latency = 12
    results = run_accel_jobs(config, frontend, jobs, latency=latency, seed=7)
    for job, result in zip(jobs, results, strict=True):
        ideal = job.desc.m * job.desc.k * job.desc.n / config.pes
        assert result.cycles >= ideal, (job.label, result.cycles, ideal)
        bound = descriptor_bound(config, frontend, job.desc, latency)
        assert result.cycles <= bound, (job.label, result.cycles, bound)
