"""cocotb testbench of the accelerator top (``hdl.accel.Accelerator``) in Verilator.

The registers are reached through cocotbext-axi's AXI4-Lite master and programmed by the host
driver (:mod:`host.driver`), exactly as software on a board would; memory is an AXI4 slave with
a fixed latency (:mod:`tb.drivers.memory`). Protocol checkers watch every AXI channel and a
containment monitor every strobed write byte on every cycle.

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
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer
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
#: Cycles a job may take before the testbench gives up on it.
JOB_TIMEOUT = 2_000_000


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
        self.driver = AsyncDriver(self.axil.read_dword, self.axil.write_dword)
        self.cycle = 0
        cocotb.start_soon(self._count())

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
                channel.clear_pause_generator()

    async def reset(self, cycles=4):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def run(self, job):
        """Run one job; return its result dict."""
        desc = Descriptor(**job["desc"])
        options = job["options"]
        self.set_pauses(options.get("pause", 0.0))
        for addr, data in job["regions"]:
            self.mem.write(addr, data)
        self.mem.set_faults(job["faults"])
        c_addr, c_stride, row_bytes, rows = job["c_extent"]
        self.containment.set_tensor(c_addr, c_stride, row_bytes, rows)
        ar_before, aw_before = self.mem.counts.ar, self.mem.counts.aw
        driver = self.driver
        await driver.clear_irq()
        await driver.program(desc)
        started = self.cycle
        await driver.start(desc.opcode, irq_done=True, irq_err=True)
        if options.get("abort_after") is not None:
            await ClockCycles(self.dut.clk, options["abort_after"])
            await driver.abort()
        if options.get("reset_after") is not None:
            await ClockCycles(self.dut.clk, options["reset_after"])
            await self.reset(self.rng.randint(1, 5))
            return {"label": job["label"], "reset": True, "violations": self.violations()}
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
            "ars": self.mem.counts.ar - ar_before,
            "aws": self.mem.counts.aw - aw_before,
            "violations": self.violations(),
            "idle": {
                "outstanding_reads": self.read_checker.outstanding,
                "outstanding_writes": self.write_checker.outstanding,
            },
        }

    def violations(self):
        return (
            list(self.read_checker.violations)
            + list(self.write_checker.violations)
            + list(self.containment.violations)
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
