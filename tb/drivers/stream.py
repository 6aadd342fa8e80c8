"""cocotb drivers and a monitor for ``amaranth.lib.stream`` valid/ready streams.

Amaranth names the ports of a stream member ``<member>__valid``, ``<member>__payload`` and
``<member>__ready``; the classes here find them by that prefix, so one driver serves every
stream of every top (array, accumulator, AXI, attention). A beat is the payload as a Python
int: pack and unpack it with the HDL's layout (:class:`tb.payload.PayloadCodec`).

Transfer rules (``amaranth.lib.stream``): a beat transfers in a cycle where ``valid`` and
``ready`` are both high; a source raises ``valid`` without waiting for ``ready`` and then holds
``valid`` and the payload until the beat transfers; ``ready`` may depend on ``valid``.

Timing: every driver wakes on each rising clock edge, reads the handshake signals as they were
during the cycle that just ended (cocotb reads pre-edge values at the edge), accounts that
cycle, and drives its outputs for the next cycle. A sink in ``ready_when_valid`` mode instead
waits for the edge's updates to settle (``ReadWrite``) and raises ``ready`` only if ``valid``
is high in the new cycle, so it only follows a ``valid`` that no input of the same cycle
changes combinationally.

Pause generators follow cocotbext-axi's ``set_pause_generator``: an iterator of bools, one
value per cycle, ``True`` pausing that cycle (a source withholds its next beat, a sink holds
``ready`` low). :mod:`tb.drivers.pause` describes common ones as picklable patterns.

Every driver keeps :class:`StreamStats` (beats, paused and stalled cycles, first and last
beat times) so tests can assert that the backpressure they asked for really happened.
"""

import collections
import itertools
from dataclasses import asdict, dataclass

import cocotb
from cocotb.queue import Queue
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, ReadWrite, RisingEdge


@dataclass
class StreamStats:
    """Counters of one stream end since the last :meth:`clear`.

    Members
    -------
    beats : int
        Beats transferred (cycles with ``valid`` and ``ready`` high).
    paused : int
        Cycles the pause generator held this end back: a source with a beat waiting kept
        ``valid`` low, a sink kept ``ready`` low. Always 0 for a monitor.
    stalled : int
        Cycles ``valid`` was high and ``ready`` low.
    starved : int
        Cycles ``ready`` was high and ``valid`` low (counted by sinks and monitors).
    cycles : int
        Clock cycles observed out of reset.
    first_beat_time, last_beat_time : int or None
        Simulation time (steps) of the rising edge that ended the first and the last transfer
        cycle; their difference over the clock period, plus one, is the inclusive span in
        cycles.
    """

    beats: int = 0
    paused: int = 0
    stalled: int = 0
    starved: int = 0
    cycles: int = 0
    first_beat_time: int | None = None
    last_beat_time: int | None = None

    def clear(self):
        for name, value in asdict(StreamStats()).items():
            setattr(self, name, value)

    def as_dict(self):
        return asdict(self)

    def _beat(self, now):
        self.beats += 1
        if self.first_beat_time is None:
            self.first_beat_time = now
        self.last_beat_time = now


class _StreamPort:
    """The signals of one stream, found by prefix, and the per-cycle bookkeeping."""

    def __init__(self, dut, prefix, clk, reset=None):
        self.prefix = prefix
        self.log = dut._log.getChild(prefix)
        try:
            self._valid = getattr(dut, f"{prefix}__valid")
        except AttributeError:
            raise ValueError(f"{dut._name} has no port {prefix}__valid") from None
        self._payload = getattr(dut, f"{prefix}__payload", None)
        self._ready = getattr(dut, f"{prefix}__ready", None)
        self._clk = clk
        self._reset = reset
        self.stats = StreamStats()
        self._pause = None

    def set_pause_generator(self, generator=None):
        """Pause according to ``generator`` (one bool per cycle, ``True`` = pause) from the
        next clock edge on; ``None`` or an exhausted generator never pauses."""
        self._pause = None if generator is None else iter(generator)

    def clear_pause_generator(self):
        self.set_pause_generator(None)

    def _next_pause(self):
        if self._pause is None:
            return False
        return bool(next(self._pause, False))

    def _in_reset(self):
        return self._reset is not None and bool(self._reset.value)

    def _read_payload(self):
        return None if self._payload is None else self._payload.value.to_unsigned()


class StreamSource(_StreamPort):
    """Drives ``<prefix>__valid`` and ``<prefix>__payload``, honouring ``<prefix>__ready``.

    Beats queued with :meth:`send_nowait` leave in order, back to back unless the pause
    generator or the sink holds them back. While ``reset`` is high the source drives
    ``valid`` low and forgets the beat it was presenting (its queue stays).

    Parameters
    ----------
    dut : cocotb handle of the top level
    prefix : str
        Stream member name, e.g. ``"acts"``.
    clk : cocotb handle
    reset : cocotb handle or None
        Active-high synchronous reset.
    """

    def __init__(self, dut, prefix, clk, reset=None):
        super().__init__(dut, prefix, clk, reset)
        self._queue = collections.deque()
        self._current = None
        self._idle = Event()
        self._idle.set()
        self._valid.value = 0
        self._driven_valid = False
        self._task = cocotb.start_soon(self._run())

    def send_nowait(self, payload):
        """Queue one beat (an int, or ``None`` for a stream without payload)."""
        self._queue.append(payload)
        self._idle.clear()

    def count(self):
        """Beats not yet transferred (queued or presented)."""
        return len(self._queue) + (self._current is not None)

    def idle(self):
        return self.count() == 0

    async def wait(self):
        """Wait until every queued beat has transferred."""
        await self._idle.wait()

    def clear(self):
        """Drop every queued beat and the one presented now; drive ``valid`` low at once."""
        self._queue.clear()
        self._current = None
        self._drive_valid(False)
        self._idle.set()

    def _drive_valid(self, value):
        if value != self._driven_valid:
            self._valid.value = int(value)
            self._driven_valid = value

    async def _run(self):
        edge = RisingEdge(self._clk)
        while True:
            await edge
            pause = self._next_pause()
            if self._in_reset():
                self._current = None
                self._drive_valid(False)
                continue
            stats = self.stats
            stats.cycles += 1
            if self._current is not None:
                if self._ready is None or bool(self._ready.value):
                    stats._beat(get_sim_time())
                    self._current = None
                else:
                    stats.stalled += 1
            if self._current is None:
                if self._queue and pause:
                    stats.paused += 1
                    self._drive_valid(False)
                elif self._queue:
                    self._current = self._queue.popleft()
                    if self._payload is not None:
                        self._payload.value = self._current
                    self._drive_valid(True)
                else:
                    self._drive_valid(False)
                    self._idle.set()


class _ReceivedBeats:
    """The queue of beats a sink or monitor has seen, for the test to take."""

    def count(self):
        """Beats received and not yet taken with :meth:`recv`."""
        return self._queue.qsize()

    def recv_nowait(self):
        return self._queue.get_nowait()

    async def recv(self):
        """The next beat's payload, waiting for it if needed."""
        return await self._queue.get()

    def clear(self):
        """Drop every received beat."""
        while not self._queue.empty():
            self._queue.get_nowait()


class StreamSink(_ReceivedBeats, _StreamPort):
    """Drives ``<prefix>__ready`` and collects the payloads of the beats it accepts.

    ``ready`` is high unless the pause generator pauses the cycle; with
    ``ready_when_valid=True`` it is, in addition, high only in cycles where ``valid`` is high
    (legal: ``ready`` may depend on ``valid``), the strictest legal consumer: a producer that
    waits for ``ready`` before raising ``valid`` deadlocks against it. While ``reset`` is high
    ``ready`` is low.

    Parameters
    ----------
    dut, prefix, clk, reset
        As for :class:`StreamSource`.
    ready_when_valid : bool
        Raise ``ready`` only while ``valid`` is high.
    """

    def __init__(self, dut, prefix, clk, reset=None, *, ready_when_valid=False):
        super().__init__(dut, prefix, clk, reset)
        if self._ready is None:
            raise ValueError(f"{dut._name} has no port {prefix}__ready to drive")
        self.ready_when_valid = ready_when_valid
        self._queue = Queue()
        self._arrival = Event()
        self._ready.value = 0
        self._driven_ready = False
        self._task = cocotb.start_soon(self._run())

    async def wait_for(self, count):
        """Wait until at least ``count`` beats are waiting to be taken."""
        while self._queue.qsize() < count:
            self._arrival.clear()
            await self._arrival.wait()

    def _drive_ready(self, value):
        if value != self._driven_ready:
            self._ready.value = int(value)
            self._driven_ready = value

    async def _run(self):
        edge = RisingEdge(self._clk)
        settle = ReadWrite()
        while True:
            await edge
            pause = self._next_pause()
            if self._in_reset():
                self._drive_ready(False)
                continue
            stats = self.stats
            stats.cycles += 1
            if bool(self._valid.value):
                if self._driven_ready:
                    stats._beat(get_sim_time())
                    self._queue.put_nowait(self._read_payload())
                    self._arrival.set()
                else:
                    stats.stalled += 1
            elif self._driven_ready:
                stats.starved += 1
            if pause:
                stats.paused += 1
                self._drive_ready(False)
            elif self.ready_when_valid:
                await settle
                self._drive_ready(bool(self._valid.value))
            else:
                self._drive_ready(True)


class StreamMonitor(_ReceivedBeats, _StreamPort):
    """Watches a stream without driving it: counts beats and stalls, keeps the payloads, and
    checks the transfer rules (a stalled beat keeps ``valid`` high and its payload unchanged).

    Parameters
    ----------
    dut, prefix, clk, reset
        As for :class:`StreamSource`.
    keep : bool
        Queue the payload of every beat for :meth:`recv` (off: count only).

    Members
    -------
    stats : StreamStats
    violations : list of str
        One line per broken transfer rule, with the simulation time.
    """

    def __init__(self, dut, prefix, clk, reset=None, *, keep=True):
        super().__init__(dut, prefix, clk, reset)
        self._keep = keep
        self._queue = Queue()
        self.violations = []
        self._held = None  # payload of a beat stalled in the previous cycle
        self._task = cocotb.start_soon(self._run())

    def _violation(self, message):
        line = f"{self.prefix} at {get_sim_time('ns')} ns: {message}"
        self.violations.append(line)
        self.log.error(line)

    async def _run(self):
        edge = RisingEdge(self._clk)
        no_payload = object()
        for _ in itertools.count():
            await edge
            if self._in_reset():
                self._held = None
                continue
            stats = self.stats
            stats.cycles += 1
            valid = bool(self._valid.value)
            ready = self._ready is None or bool(self._ready.value)
            payload = self._read_payload() if valid else no_payload
            if self._held is not None:
                if not valid:
                    self._violation("valid dropped before the beat transferred")
                elif payload != self._held[0]:
                    self._violation(
                        f"payload changed while stalled: {self._held[0]:#x} -> {payload:#x}"
                    )
            self._held = None
            if valid and ready:
                stats._beat(get_sim_time())
                if self._keep:
                    self._queue.put_nowait(payload)
            elif valid:
                stats.stalled += 1
                self._held = (payload,)
            elif ready:
                stats.starved += 1
