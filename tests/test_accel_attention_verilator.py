"""ATTENTION descriptors on the accelerator in Verilator, memory to memory: O equal byte for
byte to the golden model (``golden.attention.attention_tile`` in the unit's mode and key
block), through the same registers, DMAs, protocol checkers and containment monitor as GEMM
jobs (``tb/tb_accel.py``), with GEMM jobs before and after on the same simulator.
"""

import re

import numpy as np
import pytest

from golden.descriptor import AttentionConfig, ErrorCode
from golden.frontend import FrontendConfig
from hdl.config import ArrayConfig
from hdl.ctrl.regs import ErrSource
from tb.accel_attention_jobs import attention_address, random_attention_job
from tb.accel_jobs import random_job, with_error, with_faults
from tb.accel_runtime import run_accel_jobs

pytestmark = [pytest.mark.verilator, pytest.mark.xdist_group("accel_attention")]

#: 4×4 INT8 array, 64-bit bus (two lane beats of Q, K, V or O per bus beat), small tiles so
#: that short jobs cross several query and key blocks.
FRONTEND = FrontendConfig(data_width=64, tile_m=16, tile_n=16, tile_k=32, max_burst=16,
                          outstanding_reads=4)  # fmt: skip
ARRAY = ArrayConfig(rows=4, cols=4)
UNIT = AttentionConfig(block_lq=8, block_lk=16, max_lk=64, max_d=32, max_dv=16)


def _run(jobs, **kwargs):
    return run_accel_jobs(ARRAY, FRONTEND, jobs, attention=UNIT, **kwargs)


def test_attention_jobs_between_gemms():
    """Single-tile and multi-block (online) rows, query blocks, sizes of 1 and
    non-multiples of R, causal masks and key padding; a GEMM before, between and after."""
    rng = np.random.default_rng(11)
    shapes = [
        dict(lq=1, lk=1, d=1, dv=1),
        dict(lq=5, lk=13, d=7, dv=5),
        dict(lq=8, lk=16, d=32, dv=16),
        dict(lq=11, lk=40, d=9, dv=16, causal=True),
        dict(lq=20, lk=64, d=32, dv=3, key_pad=5),
        dict(lq=3, lk=33, d=4, dv=8, causal=True, key_pad=20),
    ]
    jobs = [random_job(ARRAY, FRONTEND, rng, m=9, k=20, n=7)]
    for shape in shapes:
        jobs.append(random_attention_job(ARRAY, FRONTEND, UNIT, rng, **shape))
        if len(jobs) == 4:
            jobs.append(random_job(ARRAY, FRONTEND, rng, m=17, k=40, n=9))
    jobs.append(random_job(ARRAY, FRONTEND, rng, m=5, k=33, n=20))
    _run(jobs, latency=6, seed=11)


@pytest.mark.parametrize("pause", [0.4])
def test_attention_backpressure(pause):
    """Random pauses on all five AXI channels and the register bus, online blocks and query
    blocks: still bit-exact."""
    rng = np.random.default_rng(12)
    jobs = [
        random_attention_job(ARRAY, FRONTEND, UNIT, rng, lq=13, lk=50, d=20, dv=12, causal=True,
                             pause=pause),
        random_attention_job(ARRAY, FRONTEND, UNIT, rng, lq=4, lk=9, d=32, dv=16, pause=pause),
    ]  # fmt: skip
    _run(jobs, latency=9, seed=12)


def _faulted(rng, tensor, where, resp):
    job = random_attention_job(ARRAY, FRONTEND, UNIT, rng, lq=12, lk=40, d=16, dv=8)
    place = {"first": (0, 0), "middle": (6, 8 if tensor in "QK" else 4), "last": (-1, -1)}
    addr = attention_address(job, tensor, *place[where])
    kind = "write" if tensor == "O" else "read"
    codes = {
        ("read", "SLVERR"): ErrorCode.AXI_RD_SLVERR,
        ("read", "DECERR"): ErrorCode.AXI_RD_DECERR,
        ("write", "SLVERR"): ErrorCode.AXI_WR_SLVERR,
        ("write", "DECERR"): ErrorCode.AXI_WR_DECERR,
    }
    source = {"Q": ErrSource.READ_A, "K": ErrSource.READ_B, "V": ErrSource.READ_QP}.get(
        tensor, ErrSource.WRITE_C
    )
    fault = {"addr": addr, "kind": kind, "resp": resp, "times": 1}
    job = with_faults(job, [fault], codes[kind, resp], source)
    job.label = f"attention: {resp} on {tensor} ({where}, byte {addr:#x})"
    return job


def _clean(rng):
    lq, lk = (int(x) for x in rng.integers(1, 30, 2))
    return random_attention_job(ARRAY, FRONTEND, UNIT, rng, lq=lq, lk=lk, d=11, dv=7,
                                label=f"clean attention {lq}x{lk}")  # fmt: skip


def test_attention_faults():
    """SLVERR and DECERR on the first, a middle and the last byte of Q, K, V and O: the code,
    the source (Q, K, V report READ_A, READ_B, READ_QP; O WRITE_C), ERR_ADDR, every burst
    drained, no new block started after the error response; then a clean bit-exact job."""
    rng = np.random.default_rng(13)
    jobs = []
    for n, tensor in enumerate("QKVO"):
        for m, where in enumerate(("first", "middle", "last")):
            jobs.append(_faulted(rng, tensor, where, ("SLVERR", "DECERR")[(n + m) % 2]))
            jobs.append(_clean(rng))
    _run(jobs, latency=7, write_latency=9, seed=13)


def test_attention_abort_and_reset():
    """ABORT at points through a multi-block job, with and without pauses, and reset in the
    middle of transfers: ABORTED (or reset values), every burst drained, then clean jobs."""
    rng = np.random.default_rng(14)
    jobs = []
    # The job takes about 1,700 cycles.
    for n, after in enumerate([0, 30, *(int(x) for x in rng.integers(100, 1300, 4))]):
        job = random_attention_job(ARRAY, FRONTEND, UNIT, rng, lq=12, lk=40, d=16, dv=8,
                                   abort_after=after, pause=0.3 if n % 2 else 0.0)  # fmt: skip
        job.expect_error = int(ErrorCode.ABORTED)
        job.label = f"attention: ABORT {after} cycles after START"
        jobs += [job, _clean(rng)]
    for condition in ("r_burst", "w_incomplete"):
        job = random_attention_job(ARRAY, FRONTEND, UNIT, rng, lq=12, lk=40, d=16, dv=8,
                                   reset_after=int(rng.integers(50, 500)), reset_on=condition,
                                   pause=0.5)  # fmt: skip
        job.label = f"attention: reset at {condition}"
        jobs += [job, _clean(rng), random_job(ARRAY, FRONTEND, rng, m=7, k=9, n=5)]
    _run(jobs, latency=8, write_latency=12, seed=14)


def test_attention_illegal_descriptors():
    """Illegal ATTENTION descriptors end with their code and no bus traffic; the next job runs
    bit-exact. A GEMM-only accelerator refuses ATTENTION with DESC_OPCODE."""
    rng = np.random.default_rng(15)
    base = random_attention_job(ARRAY, FRONTEND, UNIT, rng, lq=6, lk=20, d=8, dv=8)
    d = base.desc
    bad = [
        with_error(base, ErrorCode.DESC_ZERO_DIM, dv=0),
        with_error(base, ErrorCode.DESC_DIM_RANGE, n=UNIT.max_lk + 1),
        with_error(base, ErrorCode.DESC_DIM_RANGE, k=UNIT.max_d + 1),
        with_error(base, ErrorCode.DESC_DIM_RANGE, key_pad=d.n + 1),
        with_error(base, ErrorCode.DESC_ALIGN, v_stride=d.v_stride + 1),
        with_error(base, ErrorCode.DESC_STRIDE, c_stride=0),
        with_error(base, ErrorCode.DESC_RANGE, mem_limit=d.qp_addr + 8),
        with_error(base, ErrorCode.DESC_QPARAM, q_zp=128),
        with_error(base, ErrorCode.DESC_QPARAM, scale_shift=0),
    ]
    jobs = []
    for job in bad:
        jobs += [job, _clean(rng)]
    _run(jobs, latency=5, seed=15)
    # The same descriptor on hardware without the unit.
    gemm_only = [
        with_error(base, ErrorCode.DESC_OPCODE),
        random_job(ARRAY, FRONTEND, rng, m=3, k=5, n=4),
    ]
    run_accel_jobs(ARRAY, FRONTEND, gemm_only, latency=5, seed=16)


def test_cli_run_attention_on_the_accelerator(capsys):
    """``systolix run-attention --top accel``: the same unit and front end as the tests above
    (one Verilator build), four online key blocks; PASS, START-to-DONE cycles no fewer than
    the tiles' own, a utilization."""
    from scripts.cli import main

    argv = ["run-attention", "--top", "accel", "--rows", "4", "--cols", "4", "--bus-width", "64",
            "--tiles", "16x16x32", "--max-burst", "16", "--outstanding-reads", "4",
            "--mem-latency", "6", "--lq", "8", "--lk", "64", "--d", "32", "--dv", "16",
            "--block", "16", "--causal"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "(4 tiles of up to 8x16 keys, online)" in out and ": PASS" in out
    cycles, tiles = (int(x) for x in re.search(r"cycles (\d+) .*tiles alone (\d+)", out).groups())
    assert cycles >= tiles > 0
