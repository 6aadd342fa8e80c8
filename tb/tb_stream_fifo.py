"""cocotb tests of the stream drivers (:mod:`tb.drivers.stream`) on a small stream FIFO.

The design under test has an input stream ``i`` and an output stream ``o`` of
``SYSTOLIX_FIFO_WIDTH``-bit payloads and buffers ``SYSTOLIX_FIFO_DEPTH`` beats. Each test
checks what the drivers promise: beats in order, exact pause and stall counts, the
``ready_when_valid`` sink mode, reset handling, and the monitor's protocol checks.
"""

import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, select
from cocotb.utils import get_sim_steps

from tb.drivers.pause import BurstPause, RandomPause
from tb.drivers.stream import StreamMonitor, StreamSink, StreamSource

CLOCK_NS = 10


class FifoTB:
    """Clock, reset, a source on ``i``, a sink on ``o`` and a monitor on each."""

    def __init__(self, dut):
        self.dut = dut
        self.width = int(os.environ["SYSTOLIX_FIFO_WIDTH"])
        self.depth = int(os.environ["SYSTOLIX_FIFO_DEPTH"])
        self.rng = random.Random(int(os.environ.get("COCOTB_RANDOM_SEED", "0")))
        self.period = get_sim_steps(CLOCK_NS, "ns")
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        self.source = StreamSource(dut, "i", dut.clk, reset=dut.rst)
        self.sink = StreamSink(dut, "o", dut.clk, reset=dut.rst)
        self.in_monitor = StreamMonitor(dut, "i", dut.clk, reset=dut.rst)
        self.out_monitor = StreamMonitor(dut, "o", dut.clk, reset=dut.rst)

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def payloads(self, count):
        return [self.rng.randrange(1 << self.width) for _ in range(count)]

    async def receive(self, count, limit=10_000):
        """The next ``count`` beats of the sink; fails after ``limit`` cycles."""
        winner, _ = await select(self.sink.wait_for(count), ClockCycles(self.dut.clk, limit))
        assert winner == 0, f"timeout: {self.sink.count()}/{count} beats after {limit} cycles"
        return [self.sink.recv_nowait() for _ in range(count)]

    def assert_no_violations(self):
        violations = self.in_monitor.violations + self.out_monitor.violations
        assert not violations, "\n".join(violations)


@cocotb.test()
async def beats_in_order_under_random_pauses(dut):
    tb = FifoTB(dut)
    await tb.reset()
    sent = tb.payloads(400)
    tb.source.set_pause_generator(RandomPause(0.3).generator(tb.rng))
    tb.sink.set_pause_generator(RandomPause(0.4).generator(tb.rng))
    for beat in sent:
        tb.source.send_nowait(beat)
    assert await tb.receive(len(sent)) == sent
    assert [tb.in_monitor.recv_nowait() for _ in sent] == sent
    assert [tb.out_monitor.recv_nowait() for _ in sent] == sent
    for stats in (tb.source.stats, tb.sink.stats, tb.in_monitor.stats, tb.out_monitor.stats):
        assert stats.beats == len(sent)
    assert tb.source.stats.paused > 0 and tb.sink.stats.paused > 0
    # Both ends of a stream see the same stalls: the driver counts them, the monitor too.
    assert tb.source.stats.stalled == tb.in_monitor.stats.stalled > 0
    assert tb.sink.stats.stalled == tb.out_monitor.stats.stalled > 0
    tb.assert_no_violations()


@cocotb.test()
async def burst_pause_counts_exactly(dut):
    """A sink paused for 17 cycles while the FIFO holds data: 17 paused cycles, 17 stalled
    ones, the source throttled once the FIFO fills, and the beats 17 cycles late."""
    tb = FifoTB(dut)
    await tb.reset()
    sent = tb.payloads(3 * tb.depth + 8)
    length = 17
    tb.sink.set_pause_generator(BurstPause(start=6, length=length).generator(tb.rng))
    for driver in (tb.source, tb.sink, tb.in_monitor, tb.out_monitor):
        driver.stats.clear()
    for beat in sent:
        tb.source.send_nowait(beat)
    assert await tb.receive(len(sent)) == sent
    sink = tb.sink.stats
    assert sink.paused == length
    assert sink.stalled == tb.out_monitor.stats.stalled == length
    assert tb.source.stats.stalled == tb.in_monitor.stats.stalled > 0  # the FIFO filled up
    assert tb.source.stats.paused == 0
    span = (sink.last_beat_time - sink.first_beat_time) // tb.period + 1
    assert span == len(sent) + length
    tb.assert_no_violations()


@cocotb.test()
async def ready_when_valid_never_waits_alone(dut):
    """``ready_when_valid``: ready is never high without valid, and a beat never waits."""
    tb = FifoTB(dut)
    await tb.reset()
    tb.sink.ready_when_valid = True
    tb.source.set_pause_generator(RandomPause(0.5).generator(tb.rng))
    for driver in (tb.sink, tb.out_monitor):
        driver.stats.clear()
    sent = tb.payloads(200)
    for beat in sent:
        tb.source.send_nowait(beat)
    assert await tb.receive(len(sent)) == sent
    await ClockCycles(dut.clk, 5)
    out = tb.out_monitor.stats
    assert out.beats == len(sent)
    assert out.starved == 0  # ready never rose while valid was low
    assert out.stalled == tb.sink.stats.stalled == 0
    assert tb.source.stats.paused > 0
    tb.assert_no_violations()


@cocotb.test()
async def reset_drops_the_beat_in_flight(dut):
    """A reset in the middle of a stream: the source drives valid low, the FIFO forgets, and
    the beats sent after the reset arrive alone."""
    tb = FifoTB(dut)
    await tb.reset()
    tb.sink.set_pause_generator(iter([True] * 1000))  # the FIFO fills and stays full
    for beat in tb.payloads(2 * tb.depth + 4):
        tb.source.send_nowait(beat)
    await ClockCycles(dut.clk, tb.depth + 6)
    assert tb.source.stats.stalled > 0
    tb.source.clear()
    tb.sink.clear_pause_generator()
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    assert not bool(dut.i__valid.value) and not bool(dut.o__ready.value)
    dut.rst.value = 0
    tb.sink.clear()
    tb.out_monitor.clear()
    after = tb.payloads(10)
    for beat in after:
        tb.source.send_nowait(beat)
    assert await tb.receive(len(after)) == after
    assert tb.sink.count() == 0
    tb.assert_no_violations()


@cocotb.test()
async def monitor_reports_broken_transfer_rules(dut):
    """A hand-driven producer that changes its payload and then drops valid while stalled."""
    tb = FifoTB(dut)
    await tb.reset()
    tb.sink.set_pause_generator(iter([True] * 1000))
    for beat in tb.payloads(tb.depth + 2):
        tb.source.send_nowait(beat)
    for _ in range(100):
        await RisingEdge(dut.clk)
        if tb.source.stats.stalled > 3:
            break
    assert not tb.in_monitor.violations
    tb.source.clear()  # valid low while the beat is stalled: the first violation
    await ClockCycles(dut.clk, 2)
    dut.i__payload.value = 1
    dut.i__valid.value = 1
    await RisingEdge(dut.clk)
    dut.i__payload.value = 2  # payload changes while stalled: the second violation
    await ClockCycles(dut.clk, 2)
    messages = tb.in_monitor.violations
    assert len(messages) == 2, messages
    assert "valid dropped before the beat transferred" in messages[0]
    assert "payload changed while stalled: 0x1 -> 0x2" in messages[1]
