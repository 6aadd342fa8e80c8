"""Stream testbench pieces for Amaranth's simulator.

A :class:`StreamBench` wraps a design in a module with its own ``sync`` domain (so a test can
reset it) and a free-running cycle counter; :func:`stream_put` is a producer testbench for one
input stream and :func:`stream_get` a consumer testbench for one output stream. They run
concurrently, record the cycle of every transfer and give up with an ``AssertionError`` after a
bounded number of cycles, so a design that deadlocks fails a test instead of hanging it.

Cycle ``t`` is the clock period that ends with the ``t``-th active edge (counting from 0): a
beat "transfers at cycle t" when ``valid`` and ``ready`` are both high just before that edge.
"""

from amaranth.hdl import ClockDomain, Module, Signal
from amaranth.sim import Simulator

#: Default bound, in cycles, on the wait for any single transfer.
TIMEOUT = 1000


class StreamBench:
    """A design under test in a simulation harness.

    Parameters
    ----------
    dut : Elaboratable
        The design; it runs in the harness's ``sync`` domain.

    Members
    -------
    dut : Elaboratable
    domain : ClockDomain
        The ``sync`` domain; set ``domain.rst`` from a testbench to reset the design.
    cycle : Signal(32)
        Cycles elapsed: 0 in the first cycle, never reset.
    """

    def __init__(self, dut):
        self.dut = dut
        self.domain = ClockDomain("sync")
        self.cycle = Signal(32, reset_less=True)
        self._module = Module()
        self._module.domains.sync = self.domain
        self._module.submodules.dut = dut
        self._module.d.sync += self.cycle.eq(self.cycle + 1)
        self._testbenches = []

    def add_testbench(self, testbench=None, *, background=False):
        """Add an ``async def testbench(ctx)``; returns it, so it can be used as a decorator
        (``@bench.add_testbench`` or ``@bench.add_testbench(background=True)``).

        A ``background`` testbench (a monitor) does not keep the simulation running.
        """
        if testbench is None:
            return lambda testbench: self.add_testbench(testbench, background=background)
        self._testbenches.append((testbench, background))
        return testbench

    def run(self):
        """Simulate until every testbench has returned; an exception in one fails the run."""
        sim = Simulator(self._module)
        sim.add_clock(1e-8)
        for testbench, background in self._testbenches:
            sim.add_testbench(testbench, background=background)
        sim.run()


def bursts(rng, *, chance, length=(1, 1)):
    """A pause generator: a callable that returns true for runs of ``length`` calls (a random
    length in that inclusive range), each run starting with probability ``chance`` per call.

    Use it as ``idle=bursts(...)`` of :func:`stream_put`, or for ``ready`` of
    :func:`stream_get` as ``lambda valid: not pause()``.
    """
    remaining = 0

    def pause(*_):
        nonlocal remaining
        if remaining == 0 and rng.random() < chance:
            remaining = rng.randint(*length)
        if remaining:
            remaining -= 1
            return True
        return False

    return pause


async def stream_put(ctx, bench, stream, payloads, *, idle=None, timeout=TIMEOUT):
    """Producer: offer ``payloads`` on ``stream`` in order, holding each until it is taken.

    Parameters
    ----------
    ctx : SimulatorContext
    bench : StreamBench
    stream : stream.Interface
        An input stream of the design.
    payloads : iterable
        Payload values (``Layout.const(...)`` or plain ints for plain shapes).
    idle : callable or None
        Called before each beat is offered: while it returns true, ``valid`` stays low for a
        cycle (a gap). Gaps only fall between beats: an offered beat is never withdrawn.
    timeout : int
        Cycles to wait for ``ready`` on one beat before failing.

    Returns
    -------
    list of int
        The cycle each beat transferred at.
    """
    cycles = []
    for index, payload in enumerate(payloads):
        while idle is not None and idle():
            ctx.set(stream.valid, 0)
            await ctx.tick()
        ctx.set(stream.payload, payload)
        ctx.set(stream.valid, 1)
        for _ in range(timeout):
            _, _, cycle, ready = await ctx.tick().sample(bench.cycle, stream.ready)
            if ready:
                break
        else:
            raise AssertionError(f"beat {index} not taken within {timeout} cycles (cycle {cycle})")
        cycles.append(cycle)
    ctx.set(stream.valid, 0)
    return cycles


async def stream_get(ctx, bench, stream, count, *, ready=None, timeout=TIMEOUT):
    """Consumer: take ``count`` beats from ``stream``, checking the stream rules: a beat offered
    and not taken stays offered, with the same payload, until it is taken (a reset excepted).

    Parameters
    ----------
    ctx : SimulatorContext
    bench : StreamBench
    stream : stream.Interface
        An output stream of the design.
    count : int
    ready : callable or None
        ``ready(valid) -> bool``, asked every cycle with the stream's current ``valid`` (which
        must not depend on ``ready``); ``None`` keeps ``ready`` high.
    timeout : int
        Cycles to wait for one beat before failing.

    Returns
    -------
    list of (int, payload)
        The cycle each beat transferred at, and its payload (a ``data.Const`` for a layout).
    """
    beats = []
    offered = None  # a beat offered and not taken: it must be offered again
    waited = 0
    while len(beats) < count:
        take = True if ready is None else bool(ready(bool(ctx.get(stream.valid))))
        ctx.set(stream.ready, take)
        # One-shot waits, sampled at the clock edge: what the design saw as the handshake.
        _, reset, cycle, valid, taken, payload = await ctx.tick().sample(
            bench.cycle, stream.valid, stream.ready, stream.payload
        )
        if offered is not None and not reset and not (valid and payload == offered):
            raise AssertionError(
                f"cycle {cycle}: a beat offered and not taken was withdrawn or changed"
            )
        offered = None
        if valid and taken and not reset:
            beats.append((cycle, payload))
            waited = 0
            continue
        if valid and not reset:
            offered = payload
        waited += 1
        if waited >= timeout:
            raise AssertionError(
                f"beat {len(beats)} of {count} not received within {timeout} cycles (cycle {cycle})"
            )
    ctx.set(stream.ready, 0)
    return beats
