"""Verilator regressions of arrays whose MACs instantiate the ECP5 ``MULT18X18D``
(``multiplier="ecp5"``, and ``"auto"`` with ECP5 and LUT PEs side by side), simulated with
the package's behavioural model of the primitive: bit-exact against the golden model and the
independent reference, and cycle-exact against :mod:`hdl.cycles`, whose latency comes from
the arithmetic (two more MAC cycles than the portable path)."""

import numpy as np
import pytest
from conftest import config_param, operands
from test_array_verilator import check_run, extreme_jobs, random_shapes
from test_gemm_verilator import check_run as check_gemm_run

from hdl.arith.ecp5_mac import ECP5_MULT18X18D_SIM_MODEL
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for
from tb.runtime import GemmJob, array_build, run_gemm_batch

pytestmark = pytest.mark.verilator

#: Every PE on a MULT18X18D; a 4×4 "auto" array with 6 of them (row 0, half of row 1) and
#: pipelined LUT multipliers elsewhere; a one-row ECP5 array (a fold every cycle); an ECP5
#: array with one fabric product register (GEMM top).
ECP5_ARGS = {"rows": 4, "cols": 4, "multiplier": "ecp5"}
ONE_ROW_ARGS = {"rows": 1, "cols": 3, "multiplier": "ecp5"}
AUTO_ARGS = {"rows": 4, "cols": 4, "multiplier": "auto", "dsp_blocks": 6}
ECP5_P1_ARGS = {"rows": 3, "cols": 5, "multiplier": "ecp5", "mac_pipeline": 1}
ECP5, AUTO, ECP5_P1 = (ArrayConfig(**args) for args in (ECP5_ARGS, AUTO_ARGS, ECP5_P1_ARGS))


def test_latency_and_pe_map():
    """The cycle model's latency is the portable one plus the DSP block's two registers and
    one fabric product register more (operand registers, block input and output registers,
    two product registers), and the auto array's first six PEs in row-major order are the
    ECP5 ones."""
    portable = ArrayConfig(rows=4, cols=4)
    assert ECP5.mac_latency == AUTO.mac_latency == portable.mac_latency + 3 == 5
    assert ECP5_P1.mac_latency == 4
    assert AUTO.pe_multipliers == (
        ("ecp5",) * 4,
        ("ecp5", "ecp5", "lut", "lut"),
        ("lut",) * 4,
        ("lut",) * 4,
    )
    assert AUTO.dsp_pes == 6 and ECP5.dsp_pes == 16


@pytest.mark.parametrize(
    "cfg", [config_param(**args) for args in (ECP5_ARGS, AUTO_ARGS, ONE_ROW_ARGS)]
)
def test_ecp5_array_random_gemms_exact_cycles(cfg, seed):
    """Random and extreme GEMMs with many folds back to back, no stalls: bit-exact, and the
    cycles equal the model's exactly (so the weight switch in front of the DSP's B register
    costs no bubble); then random stalls on every stream and a reset mid-GEMM."""
    build = array_build(cfg)
    sources = build.sim_sources
    assert sources == (ECP5_MULT18X18D_SIM_MODEL,), "the model must be compiled in"
    rng = np.random.default_rng(seed)
    rows, cols = cfg.rows, cfg.cols
    jobs = []
    for i, (m, k, n) in enumerate(random_shapes(rng, rows, cols, 8)):
        act_unsigned = i % 3 == 2
        jobs.append(GemmJob(*operands(cfg, rng, m, k, n, act_unsigned=act_unsigned), act_unsigned))
    jobs += extreme_jobs(rows, cols)
    # One-row folds back to back, one every max(1, R) cycles (every cycle on the 1×3 array,
    # whose PEs then switch to a new weight every cycle).
    jobs.append(GemmJob(*operands(cfg, rng, 1, 6 * rows, cols)))
    stalled = [
        GemmJob(*operands(cfg, rng, 2 * rows + 3, 3 * rows, cols + 2), False, 0.3, 0.3, 0.3),
        GemmJob(*operands(cfg, rng, rows + cols + 8, 2 * rows, cols), reset_after=rows + cols + 7),
        GemmJob(
            *operands(cfg, rng, 5, 2 * rows + 1, cols + 1, act_unsigned=True), True, 0.5, 0.2, 0.6
        ),
        GemmJob(*operands(cfg, rng, rows + 2, 3 * rows + 1, 2 * cols)),
    ]
    runs = run_gemm_batch(cfg, jobs + stalled, seed=seed)
    for i, (job, run) in enumerate(zip(jobs + stalled, runs, strict=True)):
        if job.reset_after is not None:
            assert run is None
            continue
        check_run(cfg, job, run, f"job {i}")
        if job.result_stall == 0 and job.act_stall == 0 and job.weight_stall == 0:
            (m, k), n = job.a.shape, job.b.shape[1]
            assert run.cycles == cycles_for(cfg, (m, k, n)), f"job {i}: M={m} K={k} N={n}"


@pytest.mark.parametrize("cfg", [config_param(**ECP5_P1_ARGS, group="g-")])
def test_ecp5_gemm_top(cfg, seed):
    """The GEMM top (folds summed in the accumulator) on ECP5 MACs with one fabric product
    register: bit-exact, cycle-exact without stalls, exact under stalls."""
    rng = np.random.default_rng(seed)
    rows, cols = cfg.rows, cfg.cols
    shapes = [(1, 3 * rows + 1, cols + 1), (2 * rows + 3, 3 * rows + 2, 2 * cols + 1), (5, 1, 3)]
    jobs = [GemmJob(*operands(cfg, rng, *s)) for s in shapes]
    jobs.append(GemmJob(*operands(cfg, rng, 7, 2 * rows + 1, cols + 2), False, 0.3, 0.3, 0.5))
    runs = run_gemm_batch(cfg, jobs, seed=seed, top="gemm")
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        check_gemm_run(cfg, job, run, f"job {i}")
        if job.result_stall == 0:
            assert run.cycles == cycles_for(cfg, (*job.a.shape, job.b.shape[1]), "gemm")
