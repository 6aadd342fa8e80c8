"""cocotb tests of the read DMA (``hdl.dma.read.AxiReadDma``) in Verilator.

The top level has the DMA's streams under Amaranth's names (``cmd__valid`` …, driven by
:mod:`tb.drivers.stream`) and its AXI port under the conventional ones (``m_axi_arvalid`` …).
Memory is :class:`tb.drivers.memory.LatencyAxiRam` on the read half of the bus: cocotbext-axi's
sparse memory, sized ``2^addr_width`` (at most :data:`MEMORY_LIMIT`) and never wrapped, so that
no address aliases, answering each burst a fixed number of cycles after its AR and keeping any
number of bursts in flight. :class:`AxiReadMonitor` checks the protocol on every cycle.

Configuration comes through the environment: ``SYSTOLIX_DMA_CONFIG`` (the ``FrontendConfig``
fields and the DMA's tag, bank and destination widths) and ``SYSTOLIX_DMA_JOB`` (the memory
latency, pause probabilities and command count of the test).
"""

import json
import os
import random

import cocotb
from amaranth.hdl import Shape
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, select
from cocotbext.axi import AxiReadBus, AxiResp

from golden.dma import ReadCommand, beat_addresses, plan_bursts, row_beats
from golden.frontend import AXI_BOUNDARY_BYTES, FrontendConfig, bus_efficiency
from hdl.dma.read import read_beat_layout, read_cmd_layout, read_done_layout
from tb.drivers.axi_checks import AxiReadChecker, AxiReadMonitor
from tb.drivers.memory import LatencyAxiRam
from tb.drivers.pause import RandomPause
from tb.drivers.stream import StreamMonitor, StreamSink, StreamSource

CLOCK_NS = 10
#: Largest memory: cocotbext-axi's ``Memory`` takes ``len()`` of its sparse memory, which
#: Python limits to ``sys.maxsize`` (2^63 − 1), so a 64-bit address space gets its lower 2^62
#: bytes (commands stay below; the memory refuses anything above instead of aliasing it).
MEMORY_LIMIT = 1 << 62
#: Bound on the cycles of one wait.
TIMEOUT = 50_000


class StructCodec:
    """Packs and unpacks a ``StructLayout`` payload as a dict of ints, offsets from the
    layout."""

    def __init__(self, layout):
        self.fields = {
            name: (field.offset, Shape.cast(field.shape).width) for name, field in layout
        }

    def pack(self, **values):
        bits = 0
        for name, value in values.items():
            offset, width = self.fields[name]
            bits |= (int(value) & ((1 << width) - 1)) << offset
        return bits

    def unpack(self, bits):
        return {
            name: (bits >> off) & ((1 << width) - 1) for name, (off, width) in self.fields.items()
        }


class DmaReadTB:
    """Clock, reset, the command source, beat and completion sinks with monitors, the memory,
    the AXI protocol monitor, and the golden expectations."""

    def __init__(self, dut):
        self.dut = dut
        spec = json.loads(os.environ["SYSTOLIX_DMA_CONFIG"])
        self.widths = {k: spec.pop(k) for k in ("tag_width", "bank_width", "dest_width")}
        self.config = FrontendConfig(**spec)
        self.job = json.loads(os.environ.get("SYSTOLIX_DMA_JOB", "{}"))
        self.rng = random.Random(int(os.environ.get("COCOTB_RANDOM_SEED", "0")))
        cfg = self.config
        self.cmd_codec = StructCodec(read_cmd_layout(cfg, **self.widths))
        self.beat_codec = StructCodec(read_beat_layout(cfg, **self.widths))
        self.done_codec = StructCodec(read_done_layout(cfg, tag_width=self.widths["tag_width"]))
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        self.cmd = StreamSource(dut, "cmd", dut.clk, reset=dut.rst)
        self.beats = StreamSink(dut, "beat", dut.clk, reset=dut.rst)
        self.dones = StreamSink(dut, "done", dut.clk, reset=dut.rst)
        self.monitors = [StreamMonitor(dut, p, dut.clk, reset=dut.rst, keep=False)
                         for p in ("cmd", "beat", "done")]  # fmt: skip
        self.ram = LatencyAxiRam(
            AxiReadBus.from_prefix(dut, "m_axi"),
            dut.clk,
            dut.rst,
            size=min(1 << cfg.addr_width, MEMORY_LIMIT),
            latency=self.job.get("latency", 4),
            period_ns=CLOCK_NS,
        )
        self.checker = AxiReadChecker(
            data_width=cfg.data_width, max_burst=cfg.max_burst, outstanding=cfg.outstanding_reads
        )
        self.axi = AxiReadMonitor(dut, "m_axi", dut.clk, dut.rst, checker=self.checker)
        pauses = {
            "ar_pause": self.ram.ar_channel,
            "r_pause": self.ram.r_channel,
            "cmd_pause": self.cmd,
            "beat_pause": self.beats,
            "done_pause": self.dones,
        }
        for key, driver in pauses.items():
            if self.job.get(key):
                driver.set_pause_generator(RandomPause(self.job[key]).generator(self.rng))

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    # --- Commands and expectations ----------------------------------------------------------

    def random_command(self):
        """A command near 4 KiB boundaries (sometimes at the top of memory), merged or not,
        with random bytes in its rows."""
        cfg, rng = self.config, self.rng
        w = cfg.beat_bytes
        row_bytes = rng.randint(1, 24 * w)
        beats = row_beats(row_bytes, cfg)
        stride = beats * w if rng.random() < 0.5 else (beats + rng.randint(1, 5)) * w
        rows = rng.randint(1, 6)
        extent = (rows - 1) * stride + beats * w
        if rng.random() < 0.1:
            addr = (self.ram.size - extent) // w * w
        else:
            addr = rng.randint(1, 256) * AXI_BOUNDARY_BYTES - w * rng.randint(0, 3 * beats)
        return ReadCommand(addr, rows, row_bytes, stride)

    def fill(self, cmd):
        """Random bytes over every beat of ``cmd``."""
        for addr in beat_addresses(cmd, self.config):
            self.ram.write(addr, self.rng.randbytes(self.config.beat_bytes))

    def send(self, cmd, *, tag, bank=0, base=0):
        self.cmd.send_nowait(
            self.cmd_codec.pack(
                addr=cmd.addr,
                rows=cmd.rows,
                row_bytes=cmd.row_bytes,
                stride=cmd.stride,
                tag=tag,
                bank=bank,
                base=base,
            )
        )

    def expected_beats(self, cmd, *, tag, bank=0, base=0):
        w = self.config.beat_bytes
        addresses = beat_addresses(cmd, self.config)
        return [
            {
                "tag": tag,
                "bank": bank,
                "addr": (base + i) % (1 << self.widths["dest_width"]),
                "data": int.from_bytes(self.ram.read(a, w), "little"),
                "last": int(i == len(addresses) - 1),
            }
            for i, a in enumerate(addresses)
        ]

    async def receive(self, sink, count, codec):
        winner, _ = await select(sink.wait_for(count), ClockCycles(self.dut.clk, TIMEOUT))
        assert winner == 0, f"{sink.prefix}: {sink.count()} of {count} beats in {TIMEOUT} cycles"
        return [codec.unpack(sink.recv_nowait()) for _ in range(count)]

    def assert_clean(self):
        lines = self.checker.violations + [v for m in self.monitors for v in m.violations]
        assert not lines, "\n".join(lines[:20])
        assert self.checker.outstanding == 0, "bursts left in flight"
        assert len(self.checker.r_beats) == sum(a.len + 1 for a in self.checker.ars)


def compare(got, want, what):
    for i, (g, e) in enumerate(zip(got, want, strict=False)):
        if g != e:
            diff = {k: (g[k], e[k]) for k in e if g[k] != e[k]}
            raise AssertionError(f"{what} {i}: (got, expected) {diff}")
    assert len(got) == len(want), f"{len(got)} {what}s, expected {len(want)}"


# --- Tests -------------------------------------------------------------------------------------


@cocotb.test()
async def random_commands(dut):
    """Random commands under random pauses on every channel: ARs as planned, every beat's data
    and destination, completions in order, a clean protocol."""
    tb = DmaReadTB(dut)
    await tb.reset()
    jobs = []
    for _ in range(tb.job.get("commands", 16)):
        cmd = tb.random_command()
        tb.fill(cmd)
        jobs.append((cmd, {"tag": tb.rng.randrange(16), "bank": tb.rng.randrange(4),
                           "base": tb.rng.randrange(1 << tb.widths["dest_width"])}))  # fmt: skip
    for cmd, where in jobs:
        tb.send(cmd, **where)
    want_beats = [b for cmd, where in jobs for b in tb.expected_beats(cmd, **where)]
    beats = await tb.receive(tb.beats, len(want_beats), tb.beat_codec)
    dones = await tb.receive(tb.dones, len(jobs), tb.done_codec)
    await ClockCycles(dut.clk, 10)
    compare(beats, want_beats, "beat")
    compare(dones, [{"tag": w["tag"], "resp": 0, "err_addr": 0} for _, w in jobs], "done")
    planned = [(b.addr, b.len) for cmd, _ in jobs for b in plan_bursts(cmd, tb.config)]
    assert [(a.addr, a.len) for a in tb.checker.ars] == planned
    tb.assert_clean()
    if tb.job.get("ar_pause"):
        assert tb.checker.ar_stalled > 0 and tb.checker.r_stalled > 0
    dut._log.info(
        "%d commands, %d bursts, %d beats, at most %d bursts in flight",
        len(jobs),
        len(planned),
        len(beats),
        tb.checker.max_outstanding,
    )


@cocotb.test()
async def latency_and_throughput(dut):
    """No pauses, one long merged read: cycle for cycle, each AR is taken one cycle after the
    previous one or two cycles after the last beat of the burst ``outstanding_reads`` before
    it (the slot frees, the AR register loads, the handshake), whichever is later; each
    burst's first beat comes ``latency`` cycles after its AR, or right after the previous
    burst; every beat is forwarded in the cycle it arrives."""
    tb = DmaReadTB(dut)
    await tb.reset()
    cfg = tb.config
    b = cfg.burst_beats
    total = min(8 * cfg.outstanding_reads, max(16, 4096 // b)) * b
    cmd = ReadCommand(0x10000, 1, total * cfg.beat_bytes, total * cfg.beat_bytes)
    tb.fill(cmd)
    tb.send(cmd, tag=1)
    beats = await tb.receive(tb.beats, total, tb.beat_codec)
    await tb.receive(tb.dones, 1, tb.done_codec)
    compare(beats, tb.expected_beats(cmd, tag=1), "beat")
    tb.assert_clean()
    ars, r_beats = tb.checker.ars, tb.checker.r_beats
    assert all(a.len + 1 == b for a in ars)
    first = [r_beats[i * b][0] for i in range(len(ars))]
    last = [r_beats[i * b + b - 1][0] for i in range(len(ars))]
    o = cfg.outstanding_reads
    for i, a in enumerate(ars[1:], start=1):
        issue = max(ars[i - 1].cycle + 1, last[i - o] + 2 if i >= o else 0)
        assert a.cycle == issue, f"AR {i} at cycle {a.cycle}, expected {issue}"
    for i, a in enumerate(ars):
        arrive = max(a.cycle + tb.ram.latency, last[i - 1] + 1 if i else 0)
        assert first[i] == arrive, f"burst {i}: first beat at {first[i]}, expected {arrive}"
        assert last[i] == first[i] + b - 1, f"burst {i} was not back to back"
    assert tb.beats.stats.beats == total == tb.monitors[1].stats.beats
    assert tb.monitors[1].stats.stalled == 0  # forwarded in the cycle it came
    span = r_beats[-1][0] - ars[0].cycle + 1
    # In steady state a window of O bursts repeats every max(O·b, L + b + 1) cycles: one
    # cycle more per round trip than docs/accelerator.md §4.2's eta(b) = min(1, O·b / (L + b)).
    period = max(o * b, tb.ram.latency + b + 1)
    if len(ars) >= 2 * o:
        assert ars[-1].cycle - ars[-1 - o].cycle == period
    dut._log.info(
        "latency %d, %d-beat bursts, %d in flight at most: %d beats in %d cycles from the "
        "first AR (%.3f beats/cycle); steady state %.3f beats/cycle, model eta %.3f",
        tb.ram.latency,
        b,
        tb.checker.max_outstanding,
        total,
        span,
        total / span,
        o * b / period,
        float(bus_efficiency(b, o, tb.ram.latency)),
    )


@cocotb.test()
async def read_errors(dut):
    """SLVERR then DECERR in one command: the first is reported with its burst's address once
    every issued burst has completed, no AR is offered after it, and the next command runs."""
    tb = DmaReadTB(dut)
    w = tb.config.beat_bytes
    good = ReadCommand(0x1000, 2, 3 * w, 4 * w)
    b = tb.config.burst_beats
    failing = ReadCommand(0x20000, 5, b * w, b * w)  # one merged run of five bursts
    after = ReadCommand(0x30000, 3, 5 * w, 8 * w)
    bursts = plan_bursts(failing, tb.config)
    bad = bursts[2]
    tb.ram.errors[bad.addr + w * min(1, bad.len)] = AxiResp.SLVERR
    tb.ram.errors[bursts[3].addr] = AxiResp.DECERR
    await tb.reset()
    for cmd in (good, failing, after):
        tb.fill(cmd)
    tb.send(good, tag=1)
    tb.send(failing, tag=2, base=64)
    dones = await tb.receive(tb.dones, 2, tb.done_codec)
    assert dones == [
        {"tag": 1, "resp": 0, "err_addr": 0},
        {"tag": 2, "resp": int(AxiResp.SLVERR), "err_addr": bad.addr},
    ], dones
    error_cycle = next(c for c, resp, _ in tb.checker.r_beats if resp != 0)
    late = [a for a in tb.checker.ars if a.offered > error_cycle]
    assert not late, f"AR offered after the error at cycle {error_cycle}: {late[0]}"
    tb.assert_clean()
    good_beats = tb.expected_beats(good, tag=1)
    kept = bad.beat + min(1, bad.len)  # beats of the failing command before the error
    want = good_beats + tb.expected_beats(failing, tag=2, base=64)[:kept]
    compare(await tb.receive(tb.beats, len(want), tb.beat_codec), want, "beat")
    tb.send(after, tag=3, bank=2)
    want = tb.expected_beats(after, tag=3, bank=2)
    compare(await tb.receive(tb.beats, len(want), tb.beat_codec), want, "beat")
    assert await tb.receive(tb.dones, 1, tb.done_codec) == [{"tag": 3, "resp": 0, "err_addr": 0}]
    await ClockCycles(dut.clk, 10)
    assert tb.beats.count() == 0 and tb.dones.count() == 0
    tb.assert_clean()
