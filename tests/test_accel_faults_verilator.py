"""Faults of the accelerator top in Verilator (docs/accelerator.md §2.3, §3.2, §5.2 "Faults"):
SLVERR and DECERR on reads of A, B and the QP records and on writes of C, ABORT, reset in the
middle of transfers and START while busy, each followed in the same simulation by a clean GEMM
that must be bit-exact.

Besides what :func:`tb.accel_runtime.check_result` checks for every job (protocol, containment,
C's gaps, every AR with its last R and every AW with its B, the performance counters against
the bus traffic), an AXI error job must report its code, source and the failing burst's
address, offer no AR or AW after the error response, and send W beats presented after a write
error with zero strobes (:func:`tb.accel_runtime.axi_error_problems`). A reset job must leave
ARVALID, AWVALID and WVALID low during the reset and the cycle after (``tb.tb_accel.BusLog``)
and the registers at their reset values.
"""

import numpy as np
import pytest
from test_accel_verilator import INT8, SMALL

from golden.descriptor import ErrorCode
from golden.frontend import BIAS_EN, OUT_RAW, PER_CHANNEL_Q
from hdl.ctrl.regs import REGS, ErrSource
from tb.accel_jobs import operand_address, random_job, with_faults
from tb.accel_runtime import check_result, run_accel_jobs

pytestmark = [pytest.mark.verilator, pytest.mark.xdist_group("accel")]

#: The faulted GEMM: 3 m-blocks, 3 n-tiles, 3 k-tiles of SMALL's 16×16×32 tiles.
SHAPE = (40, 70, 36)
READ_CODES = {"SLVERR": ErrorCode.AXI_RD_SLVERR, "DECERR": ErrorCode.AXI_RD_DECERR}
WRITE_CODES = {"SLVERR": ErrorCode.AXI_WR_SLVERR, "DECERR": ErrorCode.AXI_WR_DECERR}
#: Element (row, col) of a tensor hit by a fault: its first byte (first tile), one in the
#: middle (a tile loaded or written mid-GEMM), its last byte (the last tile using it).
PLACES = {"first": (0, 0), "middle": None, "last": (-1, -1)}


def _middle(operand):
    m, k, n = SHAPE
    return {"A": (m // 2, k // 2), "B": (k // 2, n // 2), "QP": (n // 2, 0), "C": (m // 2, n // 2)}[
        operand
    ]


def _clean(rng, flags=PER_CHANNEL_Q | BIAS_EN):
    m, k, n = (int(x) for x in rng.integers(1, 24, 3))
    return random_job(INT8, SMALL, rng, m=m, k=k, n=n, flags=flags, label=f"clean {m}x{k}x{n}")


def _faulted(rng, flags, operand, where, resp, kind):
    job = random_job(INT8, SMALL, rng, m=SHAPE[0], k=SHAPE[1], n=SHAPE[2], flags=flags)
    row, col = _middle(operand) if PLACES[where] is None else PLACES[where]
    addr = operand_address(job, operand, row, col)
    codes = READ_CODES if kind == "read" else WRITE_CODES
    source = {"A": ErrSource.READ_A, "B": ErrSource.READ_B, "QP": ErrSource.READ_QP}.get(
        operand, ErrSource.WRITE_C
    )
    fault = {"addr": addr, "kind": kind, "resp": resp, "times": 1}
    job = with_faults(job, [fault], codes[resp], source)
    job.label = f"{resp} on {kind} of {operand} ({where}, byte {addr:#x})"
    return job


def test_read_faults():
    """SLVERR and DECERR on the first, a middle and the last beat of A, B and the QP table
    (a PER_CHANNEL_Q job): ERR_CODE, SOURCE, ERR_ADDR = the failing burst's ARADDR, the bursts
    drained, no AR or AW after the error; then a clean bit-exact GEMM."""
    rng = np.random.default_rng(11)
    jobs = []
    for operand in ("A", "B", "QP"):
        for where in PLACES:
            for resp in READ_CODES:
                jobs.append(_faulted(rng, PER_CHANNEL_Q | BIAS_EN, operand, where, resp, "read"))
                jobs.append(_clean(rng))
    run_accel_jobs(INT8, SMALL, jobs, latency=7, seed=11)


def test_write_faults():
    """SLVERR and DECERR on the B of the first, a middle and the last C tile: ERR_CODE, SOURCE
    WRITE_C, ERR_ADDR = AWADDR, no AW after the error, zero strobes on W beats presented after
    it; then a clean bit-exact GEMM."""
    rng = np.random.default_rng(12)
    jobs = []
    for where in PLACES:
        for resp, flags in (("SLVERR", 0), ("DECERR", OUT_RAW)):
            jobs.append(_faulted(rng, flags, "C", where, resp, "write"))
            jobs.append(_clean(rng, flags=flags))
    run_accel_jobs(INT8, SMALL, jobs, latency=6, write_latency=9, seed=12)


def test_abort():
    """ABORT at random points, with and without pauses: ABORTED, every burst drained, then a
    clean bit-exact GEMM. ABORT while idle changes nothing (checked before a clean job)."""
    rng = np.random.default_rng(13)
    jobs = []
    for n, after in enumerate([0, 2, 40, *(int(x) for x in rng.integers(100, 4000, 4))]):
        job = random_job(INT8, SMALL, rng, m=SHAPE[0], k=SHAPE[1], n=SHAPE[2],
                         flags=PER_CHANNEL_Q, abort_after=after,
                         pause=0.3 if n % 2 else 0.0)  # fmt: skip
        job.expect_error = int(ErrorCode.ABORTED)
        job.label = f"ABORT {after} cycles after START"
        jobs.append(job)
        jobs.append(_clean(rng))
    idle = _clean(rng)
    idle.options["abort_idle"] = True
    idle.label = "ABORT while idle, then " + idle.label
    jobs.append(idle)
    run_accel_jobs(INT8, SMALL, jobs, latency=8, seed=13)


@pytest.mark.parametrize("condition", ["ar_outstanding", "r_burst", "w_incomplete", "b_pending"])
def test_reset_mid_job(condition):
    """``rst`` while read bursts are outstanding, in the middle of an R burst, with an AW taken
    and its W beats not all sent, and with a B pending: VALIDs low during the reset and the
    cycle after, registers back at their reset values, no traffic afterwards, and a fresh
    GEMM bit-exact."""
    rng = np.random.default_rng(14)
    jobs = []
    for after in (0, int(rng.integers(200, 3000))):
        job = random_job(INT8, SMALL, rng, m=SHAPE[0], k=SHAPE[1], n=SHAPE[2],
                         flags=PER_CHANNEL_Q | BIAS_EN, reset_after=after, reset_on=condition,
                         pause=0.5)  # fmt: skip
        job.label = f"reset {after} cycles after START, then at {condition}"
        jobs.append(job)
        jobs.append(_clean(rng))
    run_accel_jobs(INT8, SMALL, jobs, latency=8, write_latency=12, seed=14)


def test_start_while_busy():
    """START while a job runs: refused with STATUS.ERROR and ERR_CODE BUSY, the running job
    still completes bit-exact; the next START clears the refusal."""
    rng = np.random.default_rng(15)
    job = random_job(INT8, SMALL, rng, m=SHAPE[0], k=SHAPE[1], n=SHAPE[2], flags=OUT_RAW,
                     start_again_after=300)  # fmt: skip
    job.expect_error = int(ErrorCode.BUSY)
    job.expect_c = True
    job.label = "START while busy"
    results = run_accel_jobs(INT8, SMALL, [job, _clean(rng)], latency=5, seed=15, check=False)

    status = REGS.STATUS.unpack(results[0]["after_restart"]["STATUS"])
    assert status["BUSY"] and status["ERROR"], status
    assert status["ERR_CODE"] == ErrorCode.BUSY, status
    check_result(job, results[0])
    assert results[1]["status"]["ERR_CODE"] == 0
