"""The array's result FIFO (``hdl.array.array.ResultFifo``) in Amaranth's simulator against a
Python queue: depths 1 to 8, random writes (never into a full FIFO, the array's contract) and
random reads, including a write and a read in the same cycle at every fill level; a row
written in cycle t is readable from cycle t + 1, as ``SyncFIFO``'s; and a reset in any cycle
leaves it empty."""

import random
from collections import deque

import pytest
from amaranth.hdl import ResetInserter, Signal
from amaranth.sim import Simulator

from hdl.array.array import ResultFifo


def _check_head(ctx, dut, queue, cycle):
    """This cycle's ``r_rdy`` and ``r_data`` against the queue model (both depend on registers
    alone, so they are settled before the inputs are driven)."""
    assert ctx.get(dut.r_rdy) == bool(queue), f"cycle {cycle}: r_rdy with {len(queue)}"
    if queue:
        assert ctx.get(dut.r_data) == queue[0], f"cycle {cycle}: head"


def _drive(ctx, dut, *, write, value, read):
    """One cycle's inputs; every write-enable copy driven alike, as the array drives them."""
    ctx.set(dut.w_en, (1 << len(dut.w_en)) - 1 if write else 0)
    ctx.set(dut.w_data, value)
    ctx.set(dut.r_en, read)


def _simulate(top, bench):
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize(
    "depth, slice_width, copies",
    [(1, 32, False), (2, 32, False), (3, 32, False), (4, 32, False), (5, 32, False)]
    + [(8, 32, False), (3, 5, False), (4, 1, False), (3, 5, True), (2, 4, True), (7, 5, True)],
)
def test_result_fifo_matches_a_queue(depth, slice_width, copies):
    # Slices narrower than the row: each holds its own bits and pointers, and with copies
    # its own write enable (driven equal here, as the array drives them).
    dut = ResultFifo(width=12, depth=depth, slice_width=slice_width, write_enable_copies=copies)
    assert len(dut.w_en) == (dut.slices if copies else 1)
    rng = random.Random(depth)
    checked = []

    async def bench(ctx):
        queue = deque()
        levels_with_both = set()
        for cycle in range(1500):
            _check_head(ctx, dut, queue, cycle)
            write = len(queue) < depth and rng.random() < 0.6
            read = bool(queue) and rng.random() < 0.5
            value = rng.randrange(1 << 12)
            # r_en without r_rdy (an empty FIFO) must be ignored.
            _drive(ctx, dut, write=write, value=value, read=read if queue else rng.random() < 0.5)
            if write and read:
                levels_with_both.add(len(queue))
            await ctx.tick()
            if read:
                queue.popleft()
            if write:
                queue.append(value)
        checked.append(levels_with_both)

    _simulate(dut, bench)
    # Simultaneous read and write happened at every level where both are possible.
    assert checked[0] >= set(range(1, depth)), checked[0]


@pytest.mark.parametrize("depth", [2, 5])
def test_result_fifo_restarts_empty_after_a_reset_mid_stream(depth):
    # The accelerator restarts its datapath with ResetInserter between jobs: a reset in any
    # cycle (reads and writes under way, the consumer's ready high) leaves an empty FIFO that
    # then behaves as a new one.
    dut = ResultFifo(width=12, depth=depth, slice_width=5, write_enable_copies=True)
    restart = Signal()
    top = ResetInserter(restart)(dut)
    rng = random.Random(depth + 100)
    resets = []

    async def bench(ctx):
        queue = deque()
        for cycle in range(2000):
            _check_head(ctx, dut, queue, cycle)
            write = len(queue) < depth and rng.random() < 0.7
            read = rng.random() < 0.4
            reset = rng.random() < 0.03
            value = rng.randrange(1 << 12)
            _drive(ctx, dut, write=write, value=value, read=read)
            ctx.set(restart, reset)
            await ctx.tick()
            if reset:
                resets.append(len(queue))
                queue.clear()
                continue
            if read and queue:
                queue.popleft()
            if write:
                queue.append(value)

    _simulate(top, bench)
    # Resets found a non-empty FIFO, a full one included.
    assert max(resets) == depth and len(resets) > 20, resets
