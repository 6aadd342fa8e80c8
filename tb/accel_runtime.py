"""Host-side API of the accelerator simulation: build once per configuration, run jobs, check.

``run_accel_jobs(array_config, frontend_config, jobs, latency=L)`` generates the accelerator's
Verilog, builds the Verilator simulator (cached under ``build/accel/<id>/``), runs the jobs in
one simulation through ``tb/tb_accel.py`` and checks every result against its job: C equal
byte for byte to the golden model's, the gaps of C untouched, the error code expected, the
AXI protocol clean and every issued burst completed.
"""

import hashlib
import json
import os
import pickle
import random
import tempfile
from dataclasses import asdict, dataclass

from golden.descriptor import ErrorCode
from golden.frontend import FrontendConfig
from hdl.accel import WRITE_BURSTS_IN_FLIGHT
from hdl.config import ArrayConfig
from hdl.generate import ACCEL_TOP, accel_verilog
from tb.accel_jobs import SENTINEL
from tb.verilator import VerilatorBuild

__all__ = ["AccelBuildKey", "AccelResult", "accel_build", "check_result", "run_accel_jobs"]


@dataclass(frozen=True)
class AccelBuildKey:
    """What identifies one accelerator build: the array and the front end."""

    array: ArrayConfig
    frontend: FrontendConfig

    @property
    def id(self):
        f = self.frontend
        return (
            f"{self.array.id}-d{f.data_width}-a{f.addr_width}-b{f.max_burst}"
            f"-o{f.outstanding_reads}-t{f.tile_m}x{f.tile_n}x{f.tile_k}"
            + ("" if f.requant_lanes is None else f"-l{f.requant_lanes}")
        )

    def to_json(self):
        return json.dumps({"array": self.array.to_dict(), "frontend": asdict(self.frontend)})


_builds = {}


def accel_build(array_config, frontend_config):
    """The cached Verilator build of the accelerator for this configuration."""
    key = AccelBuildKey(array_config, frontend_config)
    if key not in _builds:
        build = VerilatorBuild(
            "accel",
            key,
            ACCEL_TOP,
            lambda: accel_verilog(array_config, frontend_config),
            waves=False,
        )
        _builds[key] = build.ensure_built()
    return _builds[key]


@dataclass
class AccelResult:
    """One job's outcome as the testbench saw it (see ``tb/tb_accel.py``)."""

    label: str
    status: dict
    err_info: dict
    err_addr: int
    perf: dict
    cycles: int
    ars: int
    aws: int


def check_result(job, result):
    """Assert that ``result`` is what ``job`` must give; return an :class:`AccelResult`."""
    label = job.label
    problems = list(result["violations"])
    if result.get("reset"):
        assert not problems, f"{label}: " + "\n".join(problems[:10])
        return None
    code = result["status"]["ERR_CODE"]
    if code != job.expect_error:
        problems.append(
            f"ERR_CODE {code:#04x} ({_name(code)}), expected {job.expect_error:#04x} "
            f"({_name(job.expect_error)})"
        )
    if not result["status"]["DONE"]:
        problems.append("STATUS.DONE is not set after the interrupt")
    if result["status"]["BUSY"]:
        problems.append("STATUS.BUSY is still set after the interrupt")
    if bool(result["status"]["ERROR"]) != bool(job.expect_error):
        problems.append(f"STATUS.ERROR is {result['status']['ERROR']}")
    for key, value in result["idle"].items():
        if value:
            problems.append(f"{value} {key.replace('_', ' ')} left after the job")
    if job.expect_error and job.expect_error < 0x10:  # descriptor errors: no bus traffic
        if result["ars"] or result["aws"]:
            problems.append(f"illegal descriptor issued {result['ars']} AR and {result['aws']} AW")
    if not job.expect_error:
        for r, ((addr, want), got) in enumerate(zip(job.c_rows, result["c_rows"], strict=True)):
            if got != want:
                col = next(i for i in range(len(want)) if got[i] != want[i])
                problems.append(
                    f"C row {r} (at {addr:#x}) differs from byte {col}: got "
                    f"{got[col : col + 8].hex()}, expected {want[col : col + 8].hex()}"
                )
                break
    for r, gap in enumerate(result["c_gaps"]):
        if gap.strip(bytes([SENTINEL])):
            problems.append(f"gap bytes of C row {r} were written")
            break
    assert not problems, f"{label}: " + "; ".join(problems[:10])
    return AccelResult(
        label=label,
        status=result["status"],
        err_info=result["err_info"],
        err_addr=result["err_addr"],
        perf=result["perf"],
        cycles=result["perf"]["CYCLES"],
        ars=result["ars"],
        aws=result["aws"],
    )


def _name(code):
    try:
        return ErrorCode(code).name
    except ValueError:
        return "unknown"


def run_accel_jobs(
    array_config, frontend_config, jobs, *, latency=4, write_latency=None, seed=None, check=True
):
    """Run ``jobs`` (:class:`tb.accel_jobs.AccelJob`) in one simulation; return their
    :class:`AccelResult` (``None`` for a job cut short by reset).

    ``latency`` is the memory's read latency in cycles (AR handshake to first R beat),
    ``write_latency`` its write response latency (default the same).
    """
    frontend_config = FrontendConfig() if frontend_config is None else frontend_config
    build = accel_build(array_config, frontend_config)
    runs_dir = build.build_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix="run-", dir=runs_dir)
    jobs_path = os.path.join(run_dir, "jobs.pkl")
    results_path = os.path.join(run_dir, "results.pkl")
    with open(jobs_path, "wb") as f:
        pickle.dump([job.as_dict() for job in jobs], f)
    spec = {
        "frontend": asdict(frontend_config),
        "latency": latency,
        "write_latency": latency if write_latency is None else write_latency,
        "write_bursts": WRITE_BURSTS_IN_FLIGHT,
    }
    env = {
        "SYSTOLIX_ACCEL_SPEC": json.dumps(spec),
        "SYSTOLIX_ACCEL_JOBS": jobs_path,
        "SYSTOLIX_ACCEL_RESULTS": results_path,
    }
    seed = random.randrange(1 << 31) if seed is None else seed
    build.run("tb.tb_accel", extra_env=env, seed=seed, test_dir=run_dir)
    with open(results_path, "rb") as f:
        results = pickle.load(f)
    if not check:
        return results
    return [check_result(job, result) for job, result in zip(jobs, results, strict=True)]


def verilog_digest(array_config, frontend_config):
    """SHA-256 of the accelerator's Verilog (a cache key for reports)."""
    return hashlib.sha256(accel_verilog(array_config, frontend_config).encode()).hexdigest()


def accel_bound(array_config, frontend_config, m, k, n, latency, *, flags=0, write_latency=None):
    """The cycle model's bound on START→DONE (:func:`golden.frontend.frontend_cycles`) for
    the generated accelerator: compute waits for whole tiles (``start="tile"``), C tiles are
    written whole (``writeback="tile"``), QP records fetched when the flags use them."""
    from golden.descriptor import output_bytes, uses_qp_table
    from golden.frontend import OUT_FP8, frontend_cycles

    mac = array_config.mac
    if mac == "int8":
        output = "raw" if output_bytes(flags, mac) == 4 else "int8"
    else:
        output = "fp8" if flags & OUT_FP8 else "raw"
    cycles = frontend_cycles(
        array_config.rows,
        array_config.cols,
        array_config.mac_latency,
        frontend_config,
        m,
        k,
        n,
        latency,
        start="tile",
        output=output,
        qp_records=uses_qp_table(flags, mac),
        write_latency=latency if write_latency is None else write_latency,
        writeback="tile",
    )
    return cycles.bound
