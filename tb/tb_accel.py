"""cocotb testbench of the accelerator top (``hdl.accel.Accelerator``) in Verilator.

The registers are reached through cocotbext-axi's AXI4-Lite master and programmed by the host
driver (:mod:`host.driver`), exactly as software on a board would; memory is an AXI4 slave with
a fixed latency (:mod:`tb.drivers.memory`). Protocol checkers watch every AXI channel and a
containment monitor every strobed write byte on every cycle.

A bus log (:class:`BusLog`) records every AR, AW, W, R and B handshake of a job with its cycle
(and, for AR, AW and W, the cycle the transfer was first offered), so the host can check what
happened around a fault: the failing burst's address, no burst offered after the error, zero
strobes after a write error, the performance counters against the traffic. It also checks that
ARVALID, AWVALID and WVALID are low while ``rst`` is high (after its first cycle, in which the
registers still hold their old state) and in the cycle after.

Jobs come from the host (:mod:`tb.accel_runtime`) as a pickle of :class:`tb.accel_jobs.AccelJob`
dicts (``SYSTOLIX_ACCEL_JOBS``); the testbench writes one result per job (C as read back,
status, error, performance counters, violations) to ``SYSTOLIX_ACCEL_RESULTS``, and the host
compares them with the golden model.
"""

import json
import os
import pickle
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, First, RisingEdge, Timer, with_timeout
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster

from golden.descriptor import Descriptor
from golden.frontend import FrontendConfig
from hdl.ctrl.regs import REGS
from host.driver import AsyncDriver
from tb.drivers.axi_checks import (
    AxiReadChecker,
    AxiReadMonitor,
    AxiWriteChecker,
    AxiWriteMonitor,
    ContainmentMonitor,
)
from tb.drivers.memory import LatencyAxiRam
from tb.drivers.pause import RandomPause

CLOCK_NS = 10
#: Cycles one AXI4-Lite register access may take, pauses included.
REGISTER_TIMEOUT = 2000
#: Cycles the testbench waits for a ``reset_on`` condition before it resets anyway.
RESET_WAIT = 20_000
#: Cycles a job may take before the testbench gives up on it.
JOB_TIMEOUT = int(os.environ.get("SYSTOLIX_JOB_TIMEOUT", "300000"))


class BusLog:
    """Every handshake of the master's five channels, per job, in one cycle count.

    Sampled at each rising edge of ``clk`` (the values of the cycle that just ended).
    ``ars`` / ``aws``: ``(offered, cycle, addr, len)``; ``ws``: ``(offered, cycle, strb, last)``;
    ``rs``: ``(cycle, resp, last)``; ``bs``: ``(cycle, resp)``. ``offered`` is the first cycle
    the transfer's VALID was high (it stays high until READY).

    ``watch(name)`` returns an Event set at the first cycle a condition holds:
    ``"ar_outstanding"`` (two or more read bursts without their last R), ``"r_burst"`` (an R
    beat that is not its burst's last taken this cycle), ``"w_incomplete"`` (an AW taken whose
    W beats are not all taken), ``"b_pending"`` (a burst's last W taken, its B not).
    """

    CHANNELS = {
        "ar": ("arvalid", "arready", "araddr", "arlen"),
        "aw": ("awvalid", "awready", "awaddr", "awlen"),
        "w": ("wvalid", "wready", "wstrb", "wlast"),
    }

    def __init__(self, dut, prefix="m_axi"):
        self.dut = dut
        self.sig = {
            name: getattr(dut, f"{prefix}_{name}")
            for name in (
                "arvalid arready araddr arlen rvalid rready rresp rlast awvalid awready awaddr "
                "awlen wvalid wready wstrb wlast bvalid bready bresp"
            ).split()
        }
        self.cycle = 0
        self.violations = []
        self.clear()
        self._forget()
        self._watch = None
        cocotb.start_soon(self._run())

    def clear(self):
        """Start a new job's lists."""
        self.ars, self.aws, self.ws, self.rs, self.bs = [], [], [], [], []

    def _forget(self):
        self._offered = {"ar": None, "aw": None, "w": None}
        self.reads_inflight = 0
        self.w_owed = 0
        self.b_owed = 0

    def watch(self, name):
        self._watch = (name, Event())
        return self._watch[1]

    def _condition(self, name, r_mid):
        return {
            "ar_outstanding": self.reads_inflight >= 2,
            "r_burst": r_mid,
            "w_incomplete": self.w_owed > 0,
            "b_pending": self.b_owed > 0,
        }[name]

    async def _run(self):
        edge = RisingEdge(self.dut.clk)
        sig = self.sig
        in_reset = 0  # cycles of the current reset so far
        after_reset = False
        while True:
            await edge
            self.cycle += 1
            v = {name: int(h.value) for name, h in sig.items()}
            if int(self.dut.rst.value):
                in_reset += 1
                # The first reset cycle still shows the state from before the reset.
                if in_reset > 1:
                    self._check_idle("during reset", v)
                self._forget()
                after_reset = True
                continue
            if after_reset:
                self._check_idle("in the first cycle after reset", v)
            in_reset, after_reset = 0, False
            records = {}
            for ch, (valid, ready, a, b) in self.CHANNELS.items():
                if not v[valid]:
                    self._offered[ch] = None
                    continue
                if self._offered[ch] is None:
                    self._offered[ch] = self.cycle
                if v[ready]:
                    records[ch] = (self._offered[ch], self.cycle, v[a], v[b])
                    self._offered[ch] = None
            r_mid = False
            if v["rvalid"] and v["rready"]:
                self.rs.append((self.cycle, v["rresp"], v["rlast"]))
                r_mid = not v["rlast"]
                self.reads_inflight -= v["rlast"]
            if v["bvalid"] and v["bready"]:
                self.bs.append((self.cycle, v["bresp"]))
                self.b_owed -= 1
            if "ar" in records:
                self.ars.append(records["ar"])
                self.reads_inflight += 1
            if "aw" in records:
                self.aws.append(records["aw"])
                self.w_owed += records["aw"][3] + 1
            if "w" in records:
                self.ws.append(records["w"])
                self.w_owed -= 1
                self.b_owed += records["w"][3]
            if self._watch is not None and self._condition(self._watch[0], r_mid):
                self._watch[1].set()
                self._watch = None

    def _check_idle(self, when, v):
        high = [n.upper() for n in ("arvalid", "awvalid", "wvalid") if v[n]]
        if high:
            self.violations.append(f"bus cycle {self.cycle}: {', '.join(high)} high {when}")

    def snapshot(self):
        return {
            "ars": list(self.ars),
            "aws": list(self.aws),
            "ws": list(self.ws),
            "rs": list(self.rs),
            "bs": list(self.bs),
        }


class AccelTB:
    """Clock, reset, register master, memory, protocol checkers and containment monitor."""

    def __init__(self, dut, spec):
        self.dut = dut
        self.spec = spec
        self.frontend = FrontendConfig(**spec["frontend"])
        self.rng = random.Random(int(os.environ.get("COCOTB_RANDOM_SEED", "0")))
        cfg = self.frontend
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.mem = LatencyAxiRam(
            AxiBus.from_prefix(dut, "m_axi"),
            dut.clk,
            dut.rst,
            size=1 << min(cfg.addr_width, 40),
            latency=spec.get("latency", 4),
            write_latency=spec.get("write_latency", spec.get("latency", 4)),
        )
        self.read_checker = AxiReadChecker(
            data_width=cfg.data_width, max_burst=cfg.max_burst, outstanding=cfg.outstanding_reads
        )
        self.write_checker = AxiWriteChecker(
            data_width=cfg.data_width, max_burst=cfg.max_burst, outstanding=spec["write_bursts"]
        )
        self.containment = ContainmentMonitor()
        AxiReadMonitor(dut, "m_axi", dut.clk, dut.rst, checker=self.read_checker)
        AxiWriteMonitor(
            dut, "m_axi", dut.clk, dut.rst, checker=self.write_checker, containment=self.containment
        )
        self.bus = BusLog(dut)
        self.driver = AsyncDriver(self._read32, self._write32)
        self.cycle = 0
        cocotb.start_soon(self._count())

    async def _read32(self, addr):
        # A register access that never completes is a hang of the CSR's AXI4-Lite slave: fail
        # it with the address rather than run the clock forever.
        return await with_timeout(self.axil.read_dword(addr), REGISTER_TIMEOUT * CLOCK_NS, "ns")

    async def _write32(self, addr, value):
        await with_timeout(self.axil.write_dword(addr, value), REGISTER_TIMEOUT * CLOCK_NS, "ns")

    async def _count(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1

    def set_pauses(self, p):
        """Random pauses with probability ``p`` on every AXI channel, and the register bus."""
        gens = list(self.mem.channels())
        for channel in (
            self.axil.write_if.aw_channel,
            self.axil.write_if.w_channel,
            self.axil.write_if.b_channel,
            self.axil.read_if.ar_channel,
            self.axil.read_if.r_channel,
        ):
            gens.append(channel)
        for channel in gens:
            if p:
                channel.set_pause_generator(RandomPause(p).generator(self.rng))
            else:
                # cocotbext-axi leaves ``pause`` at the generator's last value: a channel
                # cleared in a paused cycle would stay paused for good.
                channel.clear_pause_generator()
                channel.pause = False

    async def reset(self, cycles=4):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def read_regs(self, *names):
        """``{name: word}`` of registers read over AXI4-Lite."""
        return {name: int(await self.axil.read_dword(REGS[name].offset)) for name in names}

    async def run(self, job):
        """Run one job; return its result dict.

        Options (``job["options"]``): ``pause`` (probability of a pause on every channel),
        ``abort_idle`` (write ABORT before programming, while idle), ``abort_after`` (ABORT
        that many cycles after START), ``start_again_after`` (a second START that many cycles
        after the first, while busy), ``reset_after`` with optional ``reset_on`` (wait that
        many cycles, then for the :class:`BusLog` condition, then pulse ``rst``).
        """
        desc = Descriptor(**job["desc"])
        options = job["options"]
        self.set_pauses(options.get("pause", 0.0))
        for addr, data in job["regions"]:
            self.mem.write(addr, data)
        self.mem.set_faults(job["faults"])
        faults_before = len(self.mem.fault_log)
        c_addr, c_stride, row_bytes, rows = job["c_extent"]
        self.containment.set_tensor(c_addr, c_stride, row_bytes, rows)
        counts_before = dict(vars(self.mem.counts))
        driver = self.driver
        extra = {}
        await driver.clear_irq()
        if options.get("abort_idle"):
            # ABORT while idle must change nothing: STATUS as before, no bus traffic.
            before = await self.read_regs("STATUS", "ERR_INFO", "IRQ_STATUS")
            traffic = self.mem.counts.ar + self.mem.counts.aw
            await driver.abort()
            await ClockCycles(self.dut.clk, 8)
            after = await self.read_regs("STATUS", "ERR_INFO", "IRQ_STATUS")
            extra["abort_idle"] = {
                "before": before,
                "after": after,
                "traffic": self.mem.counts.ar + self.mem.counts.aw - traffic,
            }
        await driver.program(desc)
        self.bus.clear()
        started = self.cycle
        await driver.start(desc.opcode, irq_done=True, irq_err=True)
        if options.get("start_again_after") is not None:
            await ClockCycles(self.dut.clk, options["start_again_after"])
            await driver.start(desc.opcode, irq_done=True, irq_err=True)
            extra["after_restart"] = await self.read_regs("STATUS", "ERR_INFO", "IRQ_STATUS")
            # The refused START set IRQ_STATUS.ERROR; clear it to wait for the job's DONE.
            await driver.clear_irq(done=False, error=True)
        if options.get("abort_after") is not None:
            await ClockCycles(self.dut.clk, options["abort_after"])
            await driver.abort()
        if options.get("reset_after") is not None:
            return await self._reset_job(job, options, counts_before)
        if not self.dut.irq.value:
            timeout = ClockCycles(self.dut.clk, JOB_TIMEOUT)
            fired = await First(RisingEdge(self.dut.irq), timeout)
            assert fired is not timeout, f"{job['label']}: no irq in {JOB_TIMEOUT} cycles"
        irq_cycle = self.cycle
        ended = await driver.wait(poll_limit=4)
        status = REGS.STATUS.unpack(ended.status)
        perf = await driver.read_perf()
        await driver.clear_irq()
        await ClockCycles(self.dut.clk, 2)
        assert not self.dut.irq.value, "irq stays high after IRQ_STATUS was cleared"
        # Every issued burst has completed once the job reports its end.
        await ClockCycles(self.dut.clk, 2)
        got = [self.mem.read(addr, len(want)) for addr, want in job["c_rows"]]
        gaps = []
        for r in range(rows):
            start = c_addr + r * c_stride
            row = self.mem.read(start, c_stride)
            gaps.append(row[row_bytes:])
        counts = {k: v - counts_before[k] for k, v in vars(self.mem.counts).items()}
        return {
            "label": job["label"],
            "reset": False,
            "status": status,
            "err_info": {"CODE": int(ended.code), "SOURCE": int(ended.source)},
            "err_addr": ended.address,
            "perf": perf,
            "c_rows": got,
            "c_gaps": gaps,
            "irq_cycles": irq_cycle - started,
            "ars": counts["ar"],
            "aws": counts["aw"],
            "counts": counts,
            "bus": self.bus.snapshot(),
            "fault_log": [
                (f.direction, f.addr, f.beat, int(f.resp))
                for f in self.mem.fault_log[faults_before:]
            ],
            "violations": self.violations(),
            "idle": {
                "outstanding_reads": self.read_checker.outstanding,
                "outstanding_writes": self.write_checker.outstanding,
            },
            **extra,
        }

    async def _reset_job(self, job, options, counts_before):
        """The ``reset_after`` part of :meth:`run`: wait, reset, read the registers back."""
        await ClockCycles(self.dut.clk, options["reset_after"])
        condition = options.get("reset_on")
        met = True
        if condition is not None:
            event = self.bus.watch(condition)
            timeout = ClockCycles(self.dut.clk, RESET_WAIT)
            met = await First(event.wait(), timeout) is not timeout
            self.bus._watch = None
        in_flight = {
            "reads": self.bus.reads_inflight,
            "w_owed": self.bus.w_owed,
            "b_owed": self.bus.b_owed,
        }
        await self.reset(self.rng.randint(1, 5))
        regs = await self.read_regs(
            "STATUS", "ERR_INFO", "ERR_ADDR_LO", "ERR_ADDR_HI", "IRQ_STATUS"
        )
        traffic = self.mem.counts.ar + self.mem.counts.aw
        await ClockCycles(self.dut.clk, 50)
        return {
            "label": job["label"],
            "reset": True,
            "condition_met": met,
            "in_flight": in_flight,
            "regs": regs,
            "irq": int(self.dut.irq.value),
            "traffic_after": self.mem.counts.ar + self.mem.counts.aw - traffic,
            "violations": self.violations(),
        }

    def violations(self):
        return (
            list(self.read_checker.violations)
            + list(self.write_checker.violations)
            + list(self.containment.violations)
            + list(self.bus.violations)
        )


@cocotb.test()
async def run_jobs(dut):
    """Every job of ``SYSTOLIX_ACCEL_JOBS`` in order, on one simulator, with a reset first."""
    spec = json.loads(os.environ["SYSTOLIX_ACCEL_SPEC"])
    with open(os.environ["SYSTOLIX_ACCEL_JOBS"], "rb") as f:
        jobs = pickle.load(f)
    tb = AccelTB(dut, spec)
    await tb.reset()
    results = []
    for job in jobs:
        results.append(await tb.run(job))
        await Timer(1, "ns")
    with open(os.environ["SYSTOLIX_ACCEL_RESULTS"], "wb") as f:
        pickle.dump(results, f)
