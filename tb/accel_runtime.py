"""Host-side API of the accelerator simulation: build once per configuration, run jobs, check.

``run_accel_jobs(array_config, frontend_config, jobs, latency=L)`` generates the accelerator's
Verilog, builds the Verilator simulator (cached under ``build/accel/<id>/``), runs the jobs in
one simulation through ``tb/tb_accel.py`` and checks every result against its job: C equal
byte for byte to the golden model's, the gaps of C untouched, the error code expected, the
AXI protocol clean and every issued burst completed.
"""

import json
import random
from dataclasses import asdict, dataclass

from golden.descriptor import AttentionConfig, ErrorCode
from golden.frontend import FrontendConfig
from hdl.accel import write_bursts_in_flight
from hdl.arith.ecp5_mac import simulation_sources
from hdl.config import ArrayConfig
from hdl.ctrl.controller import CHECK_CYCLES
from hdl.generate import ACCEL_TOP, accel_verilog
from tb.accel_jobs import SENTINEL
from tb.verilator import VerilatorBuild

__all__ = [
    "AccelBuildKey",
    "AccelResult",
    "accel_build",
    "axi_error_problems",
    "check_result",
    "error_cycle",
    "perf_problems",
    "run_accel_jobs",
]


@dataclass(frozen=True)
class AccelBuildKey:
    """What identifies one accelerator build: the array, the front end and the attention
    unit (if any)."""

    array: ArrayConfig
    frontend: FrontendConfig
    attention: AttentionConfig | None = None

    @property
    def id(self):
        f = self.frontend
        return (
            f"{self.array.id}-d{f.data_width}-a{f.addr_width}-b{f.max_burst}"
            f"-o{f.outstanding_reads}-t{f.tile_m}x{f.tile_n}x{f.tile_k}"
            + ("" if f.requant_lanes is None else f"-l{f.requant_lanes}")
            + self._attention_id()
        )

    def _attention_id(self):
        a = self.attention
        if a is None:
            return ""
        return f"-att{a.block_lq}x{a.block_lk}-lk{a.max_lk}-d{a.max_d}-dv{a.max_dv}-p{a.p_bits}"

    def to_json(self):
        attention = None if self.attention is None else asdict(self.attention)
        return json.dumps(
            {
                "array": self.array.to_dict(),
                "frontend": asdict(self.frontend),
                "attention": attention,
            }
        )


_builds = {}


def accel_build(array_config, frontend_config, attention=None):
    """The cached Verilator build of the accelerator for this configuration."""
    key = AccelBuildKey(array_config, frontend_config, attention)
    if key not in _builds:
        build = VerilatorBuild(
            "accel",
            key,
            ACCEL_TOP,
            lambda: accel_verilog(array_config, frontend_config, attention=attention),
            waves=None,  # SYSTOLIX_WAVES=1 traces the build
            sim_sources=simulation_sources(array_config),
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
    """Assert that ``result`` is what ``job`` must give; return an :class:`AccelResult`
    (``None`` for a job cut short by reset, after checking the registers read back at their
    reset values)."""
    label = job.label
    problems = list(result["violations"])
    if result.get("reset"):
        problems += _reset_problems(result)
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
    if job.expect_source is not None and result["err_info"]["SOURCE"] != job.expect_source:
        problems.append(
            f"ERR_INFO.SOURCE {result['err_info']['SOURCE']}, expected {job.expect_source}"
        )
    for key, value in result["idle"].items():
        if value:
            problems.append(f"{value} {key.replace('_', ' ')} left after the job")
    counts = result.get("counts")
    if counts is not None:
        if counts["ar"] != counts["r_last"]:
            problems.append(f"{counts['ar']} AR but {counts['r_last']} last R beats")
        if counts["aw"] != counts["b"]:
            problems.append(f"{counts['aw']} AW but {counts['b']} B")
    # Descriptor errors: no bus traffic (BUSY refuses a second START, the first job runs).
    if job.expect_error and job.expect_error < 0x10 and job.expect_error != ErrorCode.BUSY:
        if result["ars"] or result["aws"]:
            problems.append(f"illegal descriptor issued {result['ars']} AR and {result['aws']} AW")
    if job.compare_c:
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
    if "bus" in result:
        problems += perf_problems(job, result)
        if ErrorCode.AXI_RD_SLVERR <= job.expect_error <= ErrorCode.AXI_WR_DECERR:
            problems += axi_error_problems(job, result)
    if "abort_idle" in result:
        idle = result["abort_idle"]
        if idle["before"] != idle["after"] or idle["traffic"]:
            problems.append(f"ABORT while idle changed the registers or caused traffic: {idle}")
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


def _reset_problems(result):
    problems = []
    if not result["condition_met"]:
        problems.append("the reset condition never held")
    for name, value in result["regs"].items():
        if value:
            problems.append(f"{name} reads {value:#x} after reset, not 0")
    if result["irq"]:
        problems.append("irq high after reset")
    if result["traffic_after"]:
        problems.append(f"{result['traffic_after']} AR/AW after reset without a job")
    return problems


def perf_problems(job, result):
    """The performance counters against the traffic the bus log saw: RD_BYTES = the bytes the
    ARs asked for, WR_BYTES = the strobes set, the busy and stall cycles within CYCLES, MACS =
    R·C·ARRAY_BUSY, and ARRAY_BUSY = the GEMM's activation rows when it completed."""
    perf, bus = result["perf"], result["bus"]
    problems = []
    requested = sum((length + 1) * job.beat_bytes for _o, _c, _a, length in bus["ars"])
    if perf["RD_BYTES"] != requested:
        problems.append(f"PERF_RD_BYTES {perf['RD_BYTES']}, the ARs asked for {requested}")
    strobed = sum(bin(strb).count("1") for _o, _c, strb, _l in bus["ws"])
    if perf["WR_BYTES"] != strobed:
        problems.append(f"PERF_WR_BYTES {perf['WR_BYTES']}, W strobes set {strobed}")
    busy = perf["ARRAY_BUSY"] + perf["STALL_OPERAND"] + perf["STALL_OUTPUT"]
    if busy > perf["CYCLES"]:
        problems.append(
            f"ARRAY_BUSY + STALL_OPERAND + STALL_OUTPUT = {busy} > CYCLES {perf['CYCLES']}"
        )
    if job.pes and perf["MACS"] != job.pes * perf["ARRAY_BUSY"]:
        problems.append(f"PERF_MACS {perf['MACS']} != {job.pes} × ARRAY_BUSY")
    if job.compare_c and job.act_rows and perf["ARRAY_BUSY"] != job.act_rows:
        problems.append(f"PERF_ARRAY_BUSY {perf['ARRAY_BUSY']}, the GEMM has {job.act_rows} rows")
    return problems


def error_cycle(result):
    """``(direction, cycle)`` of the first error response of the job's bus log, or None."""
    bus = result["bus"]
    firsts = [("read", c) for c, resp, _last in bus["rs"] if resp]
    firsts += [("write", c) for c, resp in bus["bs"] if resp]
    return min(firsts, key=lambda x: x[1]) if firsts else None


def axi_error_problems(job, result):
    """A job that ended on an AXI error response: ERR_ADDR is the failing burst's AxADDR (the
    memory's fault log, and the bus log's burst of the first error response); no AR or AW
    offered after the error response was taken starts a new tile (a new DMA command); W beats
    offered after a write error carry no strobes and belong to bursts issued before it."""
    problems = []
    bus, log = result["bus"], result["fault_log"]
    if len(log) != 1:
        return [f"fault log has {len(log)} entries, expected 1: {log}"]
    direction, addr, _beat, _resp = log[0]
    if result["err_addr"] != addr:
        problems.append(f"ERR_ADDR {result['err_addr']:#x}, the failing burst is at {addr:#x}")
    first = error_cycle(result)
    if first is None or first[0] != direction:
        return problems + [f"no {direction} error response in the bus log"]
    cycle = first[1]
    if direction == "read":
        # The failing beat's burst: count last beats before it.
        index = sum(1 for c, _r, last in bus["rs"] if last and c < cycle)
        if bus["ars"][index][2] != addr:
            problems.append(
                f"the first error beat belongs to the AR at {bus['ars'][index][2]:#x}, "
                f"the fault log says {addr:#x}"
            )
    else:
        index = sum(1 for c, _r in bus["bs"] if c < cycle)
        if bus["aws"][index][2] != addr:
            problems.append(
                f"the first error B belongs to the AW at {bus['aws'][index][2]:#x}, "
                f"the fault log says {addr:#x}"
            )
    # Bursts of commands the DMAs took before the error may still go out; a burst at the
    # first byte of a tile would start a new command.
    for name in ("ars", "aws"):
        late = [(o, a) for o, _c, a, _l in bus[name] if o > cycle and a in job.command_origins]
        if late:
            o, a = late[0]
            problems.append(
                f"{len(late)} {name[:2].upper()} starting a new tile after the {direction} error "
                f"response (cycle {cycle}); the first at cycle {o}, address {a:#x}"
            )
    if direction == "write":
        issued = sum(length + 1 for _o, c, _a, length in bus["aws"] if c <= cycle)
        for n, (offered, _c, strb, _last) in enumerate(bus["ws"]):
            if offered > cycle and strb:
                problems.append(
                    f"W beat {n} offered at cycle {offered} after the write error (cycle "
                    f"{cycle}) has WSTRB {strb:#x}"
                )
                break
        if len(bus["ws"]) > issued:
            problems.append(f"{len(bus['ws'])} W beats for {issued} beats of AWs issued")
    return problems


def _name(code):
    try:
        return ErrorCode(code).name
    except ValueError:
        return "unknown"


def run_accel_jobs(
    array_config,
    frontend_config,
    jobs,
    *,
    latency=4,
    write_latency=None,
    seed=None,
    check=True,
    attention=None,
):
    """Run ``jobs`` (:class:`tb.accel_jobs.AccelJob`) in one simulation; return their
    :class:`AccelResult` (``None`` for a job cut short by reset).

    ``latency`` is the memory's read latency in cycles (AR handshake to first R beat),
    ``write_latency`` its write response latency (default the same). ``attention`` builds
    the accelerator with that attention unit (for ATTENTION jobs).
    """
    frontend_config = FrontendConfig() if frontend_config is None else frontend_config
    spec = {
        "frontend": asdict(frontend_config),
        "latency": latency,
        "write_latency": latency if write_latency is None else write_latency,
        "write_bursts": write_bursts_in_flight(frontend_config),
    }
    results, _ = accel_build(array_config, frontend_config, attention).run_jobs(
        "tb.tb_accel",
        [job.as_dict() for job in jobs],
        env={"SYSTOLIX_ACCEL_SPEC": json.dumps(spec)},
        seed=random.randrange(1 << 31) if seed is None else seed,
        jobs_var="SYSTOLIX_ACCEL_JOBS",
        results_var="SYSTOLIX_ACCEL_RESULTS",
    )
    if not check:
        return results
    return [check_result(job, result) for job, result in zip(jobs, results, strict=True)]


def accel_bound(
    array_config,
    frontend_config,
    m,
    k,
    n,
    latency,
    *,
    flags=0,
    write_latency=None,
    a_stride=None,
    b_stride=None,
    c_stride=None,
):
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
        # A burst's slot frees one cycle after its last beat (the read DMA's burst FIFO), so
        # a window of bursts repeats every L + b + 1 cycles, not L + b.
        latency + 1,
        start="tile",
        output=output,
        qp_records=uses_qp_table(flags, mac),
        requant_latency=output_latency(array_config, frontend_config),
        write_latency=(latency if write_latency is None else write_latency) + FINISH_LATENCY,
        writeback="tile",
        start_latency=START_LATENCY,
        command_overhead=COMMAND_OVERHEAD,
        a_stride=a_stride,
        b_stride=b_stride,
        c_stride=c_stride,
    )
    return cycles.bound


def descriptor_bound(array_config, frontend_config, desc, latency, **kwargs):
    """:func:`accel_bound` for a :class:`~golden.descriptor.Descriptor`: its shape, flags and
    strides."""
    return accel_bound(
        array_config,
        frontend_config,
        desc.m,
        desc.k,
        desc.n,
        latency,
        flags=desc.flags,
        a_stride=desc.a_stride,
        b_stride=desc.b_stride,
        c_stride=desc.c_stride,
        **kwargs,
    )


#: Cycles the model's prologue leaves out: from START (the CTRL write's commit) to the first
#: AR on the bus (the register block's start pulse, the controller's descriptor check, the
#: sequencer and load queues, the read DMA's command and AR registers), and from the first
#: tile's last beat to its first activation row (the bank's full bit, the feeder's read).
START_LATENCY = (1 + CHECK_CYCLES + 3 + 2) + 3
#: Cycles a read command costs beyond its beats: the read DMA's command and AR registers,
#: and the landed tile's full bit and first bank read in the feeder.
COMMAND_OVERHEAD = 2 + 3
#: Cycles from the last B response to the end of the job (the write DMA's completion, the
#: controller's finish).
FINISH_LATENCY = 2


def output_latency(array_config, frontend_config):
    """Cycles from a summed accumulator row to its first write beat: the accumulator's
    finishing stages (FP8's rounding), the converter's pipeline and the output buffer's."""
    from hdl.arith import arithmetic_for
    from hdl.mem.outbuf import OutputBuffer
    from hdl.post.convert import OutputConverter

    blocks = (
        OutputConverter(array_config, frontend_config),
        OutputBuffer(array_config, frontend_config),
    )
    for block in blocks:
        block._MustUse__silence = True  # built for its latency only, never elaborated
    finishing = arithmetic_for(array_config).finish_latency
    return finishing + sum(block.latency for block in blocks)
