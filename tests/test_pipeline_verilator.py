"""MAC pipeline depths and LUT multipliers under Verilator: bit-exact results, and cycle
counts that follow the model with each configuration's own MAC latency."""

import numpy as np
import pytest
from conftest import config_param, operands

from hdl.config import ArrayConfig
from hdl.cycles import cycles_for
from tb.runtime import GemmJob, run_gemm_batch

pytestmark = pytest.mark.verilator

# Depths 0 and 1 here; the default depth (2) runs in every other regression.
VARIANTS = [
    {"mac": "int8", "mac_pipeline": 0},
    {"mac": "int8", "mac_pipeline": 1, "multiplier": "lut"},
    {"mac": "e4m3", "mac_pipeline": 0},
    {"mac": "e4m3xe5m2", "mac_pipeline": 1, "multiplier": "dsp"},
]


def params(rows, cols, top):
    # The GEMM top is a separate build: its own xdist group.
    group = "g-" if top == "gemm" else ""
    return [
        config_param(variant, top, group=group, prefix=f"{top}-", rows=rows, cols=cols, **variant)
        for variant in VARIANTS
    ]


@pytest.mark.parametrize(("variant", "top"), params(3, 5, "array") + params(3, 5, "gemm"))
def test_pipeline_variants_exact_with_model_cycles(variant, top, seed):
    rows, cols = 3, 5
    cfg = ArrayConfig(rows=rows, cols=cols, **variant)
    assert cfg.mac_latency == variant["mac_pipeline"]
    rng = np.random.default_rng(seed)
    # One-row folds (M = 1) switch weights every cycle; K = 7 leaves a ragged last fold.
    shapes = [(1, 3 * rows + 1, cols + 1), (2 * rows + 3, 7, 2 * cols + 1), (rows, 1, 1)]
    jobs = [GemmJob(*operands(cfg, rng, *s)) for s in shapes]
    jobs.append(
        GemmJob(
            *operands(cfg, rng, 7, 2 * rows + 1, cols + 2),
            weight_stall=0.3,
            act_stall=0.3,
            result_stall=0.5,
        )
    )
    runs = run_gemm_batch(cfg, jobs, seed=seed, top=top)  # raises on any wrong bit
    for (m, k, n), run in zip(shapes, runs, strict=False):
        assert run.cycles == cycles_for(cfg, (m, k, n), top)
