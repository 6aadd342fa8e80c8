"""An AXI4 slave memory for cocotb testbenches: fixed latency on reads and writes, any number
of bursts in flight, fault injection and transfer counters.

:class:`LatencyAxiRam` sits on cocotbext-axi's sparse memory and channel models (the AR, AW
and W sinks, the R and B sources), so their pause generators stall ARREADY, AWREADY, WREADY,
RVALID and BVALID. cocotbext-axi's own ``AxiRam`` answers one burst at a time and has no
latency; this one times every response from its request, as a memory behind an interconnect
would, so the master's outstanding-burst window is exercised.

Faults (:class:`Fault`) answer a chosen beat of matching bursts with SLVERR or DECERR, for
the accelerator's fault tests (docs/accelerator.md §5.2 "Faults").
"""

from collections import deque
from dataclasses import dataclass

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, FallingEdge, RisingEdge
from cocotb.utils import get_sim_steps
from cocotbext.axi import AxiBus, AxiReadBus, AxiResp, AxiWriteBus
from cocotbext.axi.axi_channels import (
    AxiARSink,
    AxiAWSink,
    AxiBSource,
    AxiBTransaction,
    AxiRSource,
    AxiRTransaction,
    AxiWSink,
)
from cocotbext.axi.memory import Memory

__all__ = ["BEATS", "DIRECTIONS", "RESPONSES", "AxiCounts", "Fault", "FaultRecord", "LatencyAxiRam"]

#: Fault directions.
DIRECTIONS = ("read", "write")
#: Fault responses, by name.
RESPONSES = {"SLVERR": AxiResp.SLVERR, "DECERR": AxiResp.DECERR}
#: Beat selectors: which beat of a burst carries the fault ("any": the first beat in the range).
BEATS = ("first", "middle", "last", "any")


@dataclass(frozen=True)
class Fault:
    """An error response injected into the bursts that reach an address range.

    Parameters
    ----------
    addresses : range or (int, int)
        Byte addresses ``[start, end)``.
    direction : str
        ``"read"`` or ``"write"``.
    resp : str
        ``"SLVERR"`` or ``"DECERR"``.
    beat : str
        ``"first"``, ``"middle"`` (beat ``beats // 2``) or ``"last"``: the beat of a burst that
        is checked against ``addresses`` and carries the error. A burst faults when that
        beat's bytes overlap the range. ``"any"``: the first beat of the burst that overlaps
        the range. On a read that beat is answered with the error and zero data (the other
        beats normally); on a write the beats before it are stored, it and the later ones are
        dropped, and B carries the error.
    times : int or None
        Bursts it hits before it disarms; ``None``: every matching burst.
    """

    addresses: range
    direction: str
    resp: str
    beat: str = "first"
    times: int | None = None

    def __post_init__(self):
        addresses = self.addresses
        if not isinstance(addresses, range):
            start, end = addresses
            addresses = range(start, end)
        if addresses.step != 1 or not addresses:
            raise ValueError(f"addresses must be a non-empty range of step 1, got {addresses}")
        object.__setattr__(self, "addresses", addresses)
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.resp not in RESPONSES:
            raise ValueError(f"resp must be one of {tuple(RESPONSES)}, got {self.resp!r}")
        if self.beat not in BEATS:
            raise ValueError(f"beat must be one of {BEATS}, got {self.beat!r}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"times must be None or at least 1, got {self.times}")

    @classmethod
    def cast(cls, spec):
        """A Fault from a Fault, an ``(addresses, direction, resp[, beat[, times]])`` tuple or a
        dict: ``{"addresses" or "addr" (one byte), "direction" or "kind", "resp", "beat"
        (default "any" with "addr", else "first"), "times"}``."""
        if isinstance(spec, cls):
            return spec
        if isinstance(spec, dict):
            spec = dict(spec)
            if "addr" in spec:
                addr = spec.pop("addr")
                spec["addresses"] = range(addr, addr + 1)
                spec.setdefault("beat", "any")
            if "kind" in spec:
                spec["direction"] = spec.pop("kind")
            return cls(**spec)
        return cls(*spec)

    def beat_index(self, beats):
        """Index of the selected beat in a burst of ``beats`` beats (not for ``"any"``)."""
        return {"first": 0, "middle": beats // 2, "last": beats - 1}[self.beat]

    def _overlaps(self, start, beat_bytes):
        return start < self.addresses.stop and self.addresses.start < start + beat_bytes

    def select(self, addr, beats, beat_bytes):
        """The index of the beat that faults in the burst at ``addr`` (full-width beats), or
        ``None`` if the burst does not hit the fault."""
        base = addr // beat_bytes * beat_bytes
        if self.beat == "any":
            return next(
                (n for n in range(beats) if self._overlaps(base + n * beat_bytes, beat_bytes)),
                None,
            )
        n = self.beat_index(beats)
        return n if self._overlaps(base + n * beat_bytes, beat_bytes) else None

    def hits(self, addr, beats, beat_bytes):
        """The burst at ``addr`` hits the fault."""
        return self.select(addr, beats, beat_bytes) is not None


@dataclass
class AxiCounts:
    """Handshakes seen on the slave's channels: AR, R beats with RLAST, AW, W beats, B."""

    ar: int = 0
    r_last: int = 0
    aw: int = 0
    w: int = 0
    b: int = 0


@dataclass(frozen=True)
class FaultRecord:
    """A burst that answered an error: direction, AxADDR, the beat index, the response."""

    direction: str
    addr: int
    beat: int
    resp: AxiResp


def _split_bus(bus):
    if isinstance(bus, AxiBus):
        return bus.read, bus.write
    if isinstance(bus, AxiReadBus):
        return bus, None
    if isinstance(bus, AxiWriteBus):
        return None, bus
    raise TypeError(f"bus must be an AxiBus, AxiReadBus or AxiWriteBus, got {bus!r}")


class LatencyAxiRam(Memory):
    """An AXI4 slave over a sparse memory: each read burst's beats are released ``latency``
    cycles after its AR handshake, each write's B ``write_latency`` cycles after the later of
    its AW and last W handshakes; in order, with any number of bursts in flight. Every burst
    is taken as INCR with full-width beats (the protocol checkers judge AxBURST and AxSIZE);
    WSTRB masks the bytes stored. :meth:`channels` lists the channel models, :meth:`set_faults`
    replaces the faults.

    Parameters
    ----------
    bus : cocotbext.axi.AxiBus, AxiReadBus or AxiWriteBus
        The channels present get a slave; a read-only bus leaves AW/W/B alone.
    clock, reset : cocotb handles
        ``reset`` active high; while it is high, bursts not yet answered are dropped.
    size : int
        Memory bytes; addresses are not wrapped, so an access past ``size`` fails the test.
    latency : int
        At least 2: a read burst whose AR is taken in cycle c may present its first beat from
        cycle c + latency on (later if R is still busy with earlier bursts or paused).
    write_latency : int or None
        At least 2 (``None``: ``latency``): B of a burst whose last W (or AW, if later) is taken
        in cycle c is valid from cycle c + write_latency on (later if B is busy or paused).
    errors : dict or None
        ``{beat address: AxiResp}``: answer that read beat with SLVERR or DECERR (every time).
    faults : iterable of Fault, or of what :meth:`Fault.cast` takes
    period_ns : float or None
        The clock period; ``None``: measured from the clock's first two rising edges (a
        burst taken before then is answered late).

    Members
    -------
    ar_channel, aw_channel, w_channel : cocotbext-axi sinks (None without that channel)
    r_channel, b_channel : cocotbext-axi sources (None without that channel)
        Their ``set_pause_generator`` stalls the READY (sinks) or VALID (sources).
    errors : dict
    faults : list of Fault
        May be changed between bursts (``faults.clear()`` to heal the memory).
    fault_log : list of FaultRecord
        Every burst answered with an error, in the order answered.
    counts : AxiCounts
        Handshakes so far (sampled at each rising edge, not during reset).
    """

    def __init__(
        self,
        bus,
        clock,
        reset=None,
        *,
        size,
        latency,
        write_latency=None,
        errors=None,
        faults=(),
        period_ns=None,
    ):
        super().__init__(size=size)
        write_latency = latency if write_latency is None else write_latency
        for name, value in (("latency", latency), ("write_latency", write_latency)):
            if value < 2:
                raise ValueError(f"{name} must be at least 2, got {value}")
        self.latency = latency
        self.write_latency = write_latency
        self.errors = dict(errors or {})
        self.faults = [Fault.cast(f) for f in faults]
        self.fault_log = []
        self.counts = AxiCounts()
        self._hits = {}  # id(fault) -> bursts hit
        self._clock, self._reset = clock, reset
        self._period = None if period_ns is None else get_sim_steps(period_ns, "ns")
        self._generation = 0  # bumped by reset: answers of older bursts are dropped
        read, write = _split_bus(bus)
        self.ar_channel = self.r_channel = None
        self.aw_channel = self.w_channel = self.b_channel = None
        self._read_pending, self._read_arrived = deque(), Event()
        self._write_pending, self._write_arrived = deque(), Event()
        self._handshakes = []
        if read is not None:
            self.ar_channel = AxiARSink(read.ar, clock, reset)
            self.r_channel = AxiRSource(read.r, clock, reset)
            self.byte_lanes = len(read.r.rdata) // 8
            self._handshakes += [("ar", read.ar, "ar", None), ("r_last", read.r, "r", "rlast")]
            cocotb.start_soon(self._release_reads())
        if write is not None:
            self.aw_channel = AxiAWSink(write.aw, clock, reset)
            self.w_channel = AxiWSink(write.w, clock, reset)
            self.b_channel = AxiBSource(write.b, clock, reset)
            self.byte_lanes = len(write.w.wdata) // 8
            self._handshakes += [
                ("aw", write.aw, "aw", None),
                ("w", write.w, "w", None),
                ("b", write.b, "b", None),
            ]
            cocotb.start_soon(self._release_writes())
        self._accepting = []
        self._start_accepting()
        cocotb.start_soon(self._count())

    def _start_accepting(self):
        if self.ar_channel is not None:
            self._accepting.append(cocotb.start_soon(self._accept_reads()))
        if self.aw_channel is not None:
            self._accepting.append(cocotb.start_soon(self._accept_writes()))

    def _beat_step(self, size, channel):
        step = 1 << size
        if step != self.byte_lanes:
            raise AssertionError(
                f"{channel} with {channel}SIZE {size}: only full-width ({self.byte_lanes}-byte) "
                "beats are modelled"
            )
        return step

    def channels(self):
        """The channel models present (AR, R, AW, W, B order), e.g. to set pause generators."""
        models = (self.ar_channel, self.r_channel, self.aw_channel, self.w_channel, self.b_channel)
        return [c for c in models if c is not None]

    # --- faults ---------------------------------------------------------------------------

    def set_faults(self, faults):
        """Replace the faults (anything :meth:`Fault.cast` takes) and rearm them."""
        self.faults = [Fault.cast(f) for f in faults]
        self._hits = {}

    def _fault(self, direction, addr, beats, step):
        """``(fault, beat index)`` of the first armed fault of ``direction`` that the burst
        hits, counted as hit; ``(None, None)`` if none."""
        for fault in self.faults:
            if fault.direction != direction:
                continue
            beat = fault.select(addr, beats, step)
            if beat is None:
                continue
            hits = self._hits.get(id(fault), 0)
            if fault.times is not None and hits >= fault.times:
                continue
            self._hits[id(fault)] = hits + 1
            return fault, beat
        return None, None

    # --- timing helpers -------------------------------------------------------------------

    async def _period_steps(self):
        if self._period is None:
            edge = RisingEdge(self._clock)
            await edge
            t0 = get_sim_time()
            await edge
            self._period = get_sim_time() - t0
        return self._period

    async def _release_at(self, due):
        """Wait until ``due``, then until the falling edge, so a source queued now drives at
        the next rising edge whatever order the simulator wakes coroutines in."""
        edge = RisingEdge(self._clock)
        while get_sim_time() < due:
            await edge
        await FallingEdge(self._clock)

    # --- reads ----------------------------------------------------------------------------

    async def _accept_reads(self):
        period = await self._period_steps()
        while True:
            ar = await self.ar_channel.recv()  # returns at the edge ending the handshake cycle
            # Queued between the edges latency - 2 and latency - 1 cycles later, the R source
            # drives the first beat at the latter, so it is valid in cycle c + latency.
            due = get_sim_time() + (self.latency - 2) * period
            self._read_pending.append((self._generation, due, ar))
            self._read_arrived.set()

    async def _release_reads(self):
        while True:
            while not self._read_pending:
                self._read_arrived.clear()
                await self._read_arrived.wait()
            generation, due, ar = self._read_pending.popleft()
            if generation != self._generation:
                continue
            await self._release_at(due)
            if generation != self._generation:
                continue
            addr, beats = int(ar.araddr), int(ar.arlen) + 1
            step = self._beat_step(int(ar.arsize), "AR")
            fault, bad_beat = self._fault("read", addr, beats, step)
            for n in range(beats):
                beat_addr = addr // step * step + n * step  # lanes of an unaligned first beat
                if beat_addr + self.byte_lanes > self.size:
                    raise AssertionError(f"read at {beat_addr:#x} beyond the memory")
                resp = self.errors.get(beat_addr, AxiResp.OKAY)
                if n == bad_beat:
                    resp = RESPONSES[fault.resp]
                if resp != AxiResp.OKAY:
                    self.fault_log.append(FaultRecord("read", addr, n, AxiResp(resp)))
                data = bytes(self.byte_lanes)
                if resp == AxiResp.OKAY:
                    data = self.read(beat_addr, self.byte_lanes)
                self.r_channel.send_nowait(
                    AxiRTransaction(
                        rid=int(ar.arid),
                        rdata=int.from_bytes(data, "little"),
                        rresp=resp,
                        rlast=n == beats - 1,
                    )
                )

    # --- writes ---------------------------------------------------------------------------

    async def _accept_writes(self):
        """Pairs each AW with its beats (W may come before its AW), stores them and queues B.

        The time this loop holds a burst's last beat is the later of the AW and last W
        handshakes (both sinks queue at the edge ending the handshake cycle, and earlier
        bursts' beats came before)."""
        period = await self._period_steps()
        while True:
            aw = await self.aw_channel.recv()
            generation = self._generation
            addr, beats = int(aw.awaddr), int(aw.awlen) + 1
            step = self._beat_step(int(aw.awsize), "AW")
            fault, stop = self._fault("write", addr, beats, step)
            stop = beats if fault is None else stop
            for n in range(beats):
                w = await self.w_channel.recv()
                if generation != self._generation:
                    break
                beat_addr = addr // step * step + n * step  # WSTRB masks an unaligned start
                if beat_addr + self.byte_lanes > self.size:
                    raise AssertionError(f"write at {beat_addr:#x} beyond the memory")
                if n < stop:
                    self._store(beat_addr, int(w.wdata), int(w.wstrb))
            if generation != self._generation:
                continue
            resp = AxiResp.OKAY
            if fault:
                resp = RESPONSES[fault.resp]
                self.fault_log.append(FaultRecord("write", addr, stop, resp))
            due = get_sim_time() + (self.write_latency - 2) * period
            self._write_pending.append((generation, due, int(aw.awid), resp))
            self._write_arrived.set()

    def _store(self, addr, data, strb):
        raw = data.to_bytes(self.byte_lanes, "little")
        lane = 0
        while lane < self.byte_lanes:  # one write per run of set strobes
            if not strb >> lane & 1:
                lane += 1
                continue
            end = lane
            while end < self.byte_lanes and strb >> end & 1:
                end += 1
            self.write(addr + lane, raw[lane:end])
            lane = end

    async def _release_writes(self):
        while True:
            while not self._write_pending:
                self._write_arrived.clear()
                await self._write_arrived.wait()
            generation, due, bid, resp = self._write_pending.popleft()
            if generation != self._generation:
                continue
            await self._release_at(due)
            if generation == self._generation:
                self.b_channel.send_nowait(AxiBTransaction(bid=bid, bresp=resp))

    # --- counters and reset ---------------------------------------------------------------

    async def _count(self):
        edge = RisingEdge(self._clock)
        signals = [
            (name, getattr(bus, f"{prefix}valid"), getattr(bus, f"{prefix}ready"),
             getattr(bus, extra) if extra else None)
            for name, bus, prefix, extra in self._handshakes
        ]  # fmt: skip
        in_reset = False
        while True:
            await edge
            if self._reset is not None and bool(self._reset.value):
                if not in_reset:
                    self._drop_pending()
                in_reset = True
                continue
            in_reset = False
            for name, valid, ready, extra in signals:
                if valid.value == 1 and ready.value == 1 and (extra is None or extra.value == 1):
                    setattr(self.counts, name, getattr(self.counts, name) + 1)

    def _drop_pending(self):
        """Reset: forget every burst not yet answered, and whatever the channel models hold
        (they stop during reset but keep their queues)."""
        self._generation += 1
        self._read_pending.clear()
        self._write_pending.clear()
        for task in self._accepting:
            task.cancel()
        self._accepting = []
        for channel in (self.ar_channel, self.r_channel, self.aw_channel, self.w_channel,
                        self.b_channel):  # fmt: skip
            if channel is not None:
                channel.clear()
        self._start_accepting()
