"""Protocol checks of an AXI4 master's read channels (AR and R) and write channels (AW, W, B),
and the containment check of its writes.

:class:`AxiReadChecker` is plain Python: it takes one :class:`ReadSample` per clock cycle (the
AR and R signals as they were during the cycle) and reports every broken rule as a line in
:attr:`~AxiReadChecker.violations`. :class:`AxiReadMonitor` samples a top level's
``<prefix>_ar*``/``<prefix>_r*`` ports (the Vivado/LiteX names, ``m_axi_arvalid`` …) at each
rising clock edge under cocotb and feeds a checker, so the rules are unit-tested on the host
without a simulator and applied unchanged to the Verilog.

Master-side rules (accelerator §5.2 item 5): ARVALID stays high until ARREADY and the AR payload
does not change meanwhile; ARLEN + 1 ≤ ``max_burst``; ARSIZE = log2 of the bus bytes; ARBURST
is INCR; a burst does not cross a 4 KiB boundary; ARID is the expected one; at most
``outstanding`` bursts are in flight, counted from the AR handshake to the R handshake of the
burst's last beat. Slave-side rules, which catch a wrong memory model: RVALID stays high until
RREADY with RDATA, RRESP and RLAST unchanged; no R beat without a burst in flight; RLAST on a
burst's last beat and only there.

:class:`AxiWriteChecker` (with :class:`WriteSample` and :class:`AxiWriteMonitor`) mirrors it for
AW/W/B: AWVALID and WVALID held until READY with a stable payload; AWLEN + 1 ≤ ``max_burst``,
AWSIZE = log2 of the bus bytes, INCR only, no 4 KiB crossing, the expected AWID; W beats are
matched to AWs in order (a W beat may come before its AW) and WLAST must be set on beat AWLEN
and only there; at most ``outstanding`` bursts in flight, from the AW handshake to the B
handshake. Slave side: BVALID held until BREADY with BRESP and BID stable; no B before the
burst's last W beat.

:class:`ContainmentMonitor` takes the same samples and checks that every byte written with its
WSTRB bit set lies in one row of the destination tensor (accelerator §5.2 "Containment").
"""

from collections import deque
from dataclasses import dataclass, fields

__all__ = [
    "ArRecord",
    "AwRecord",
    "AxiReadChecker",
    "AxiReadMonitor",
    "AxiWriteChecker",
    "AxiWriteMonitor",
    "ContainmentMonitor",
    "ReadSample",
    "WRecord",
    "WriteSample",
]

#: ARBURST INCR.
INCR = 0b01
#: Bursts never cross this boundary.
BOUNDARY_BYTES = 4096


@dataclass(frozen=True)
class ReadSample:
    """The AR and R signals during one clock cycle."""

    arvalid: bool = False
    arready: bool = False
    araddr: int = 0
    arlen: int = 0
    arsize: int = 0
    arburst: int = INCR
    arid: int = 0
    rvalid: bool = False
    rready: bool = False
    rdata: int = 0
    rresp: int = 0
    rlast: bool = False


@dataclass(frozen=True)
class ArRecord:
    """One AR handshake: the cycle it was first offered, the handshake cycle, ARADDR and
    ARLEN."""

    offered: int
    cycle: int
    addr: int
    len: int


_AR_FIELDS = ("araddr", "arlen", "arsize", "arburst", "arid")
_R_FIELDS = ("rdata", "rresp", "rlast")


class _AxiChecker:
    """What the read and the write checker share: the address channel's rules (one burst
    per handshake, checked once when first offered), the payload of a stalled transfer held
    until its handshake, and the list of violations.

    ``prefix`` is ``"ar"`` or ``"aw"``: the address channel's signal prefix.
    """

    def __init__(self, *, prefix, data_width, max_burst, outstanding, id_value):
        self._prefix = prefix
        self.beat_bytes = data_width // 8
        self.max_burst = max_burst
        self.limit = outstanding
        self.violations = []
        self._size = self.beat_bytes.bit_length() - 1
        self._id = id_value
        self._addr_held = None  # (first cycle offered, payload) of a stalled AR or AW

    def _violation(self, cycle, message):
        self.violations.append(f"cycle {cycle}: {message}")

    def _held(self, cycle, s, channel, fields_, held):
        """Check a stalled transfer of ``channel`` and return the new held payload or None."""
        valid, ready = getattr(s, f"{channel}valid"), getattr(s, f"{channel}ready")
        payload = tuple(getattr(s, f) for f in fields_)
        name = channel.upper()
        if held is not None:
            if not valid:
                self._violation(cycle, f"{name}VALID dropped before {name}READY")
            elif payload != held:
                self._violation(
                    cycle,
                    f"{name} changed while {name}READY was low: {_describe(fields_, held)} -> "
                    f"{_describe(fields_, payload)}",
                )
        return payload if valid and not ready else None

    def _address_handshake(self, cycle, s, fields_):
        """Follow the address channel for one cycle: the first cycle its burst was offered if
        it is taken in this cycle, else None (idle, or stalled: counted in ``<prefix>_stalled``)."""
        p = self._prefix
        was_held = self._addr_held
        held = self._held(cycle, s, p, fields_, None if was_held is None else was_held[1])
        if not getattr(s, f"{p}valid"):
            self._addr_held = None
            return None
        offered = cycle if was_held is None else was_held[0]
        if was_held is None:
            self._check_burst(cycle, s)
        if not getattr(s, f"{p}ready"):
            setattr(self, f"{p}_stalled", getattr(self, f"{p}_stalled") + 1)
            self._addr_held = (offered, held)
            return None
        self._addr_held = None
        return offered

    def _check_burst(self, cycle, s):
        p, name = self._prefix, self._prefix.upper()
        addr, length, size = (getattr(s, f"{p}{f}") for f in ("addr", "len", "size"))
        beats = length + 1
        if beats > self.max_burst:
            self._violation(cycle, f"{name}LEN {length}: {beats} beats, more than {self.max_burst}")
        if size != self._size:
            self._violation(cycle, f"{name}SIZE {size}, not {self._size} (the bus width)")
        burst = getattr(s, f"{p}burst")
        if burst != INCR:
            self._violation(cycle, f"{name}BURST {burst}, not INCR")
        ident = getattr(s, f"{p}id")
        if self._id is not None and ident != self._id:
            self._violation(cycle, f"{name}ID {ident}, not {self._id}")
        last = addr + beats * (1 << size) - 1
        if addr // BOUNDARY_BYTES != last // BOUNDARY_BYTES:
            self._violation(cycle, f"burst {addr:#x}..{last:#x} crosses a 4 KiB boundary")


class AxiReadChecker(_AxiChecker):
    """The rules of the module docstring, one cycle at a time.

    Parameters
    ----------
    data_width : int
        Bus data bits (ARSIZE must be log2 of its bytes).
    max_burst : int
        Longest burst in beats.
    outstanding : int
        Bursts allowed in flight.
    arid : int or None
        The ARID every AR must carry; ``None`` accepts any.

    Members
    -------
    violations : list of str
        One line per broken rule: the cycle and what happened.
    ars : list of ArRecord
        Every AR handshake, in order.
    r_beats : list of (int, int, bool)
        ``(cycle, RRESP, RLAST)`` of every R handshake, in order.
    outstanding, max_outstanding : int
        Bursts in flight now, and the most seen.
    ar_stalled, r_stalled : int
        Cycles ARVALID (RVALID) was high and ARREADY (RREADY) low.
    """

    def __init__(self, *, data_width, max_burst, outstanding, arid=0):
        super().__init__(
            prefix="ar",
            data_width=data_width,
            max_burst=max_burst,
            outstanding=outstanding,
            id_value=arid,
        )
        self.arsize = self._size
        self.arid = arid
        self.ars = []
        self.r_beats = []
        self.max_outstanding = 0
        self.ar_stalled = 0
        self.r_stalled = 0
        self.reset()

    @property
    def outstanding(self):
        return len(self._bursts)

    def reset(self):
        """Forget the bursts in flight and the stalled transfers (the bus was reset)."""
        self._bursts = deque()  # [beats left] per burst in flight, oldest first
        self._addr_held = None
        self._r_held = None  # R payload of a stalled beat

    def step(self, cycle, s):
        """Check the cycle ``cycle`` whose signals are ``s``; return its new violations."""
        before = len(self.violations)
        self._step_r(cycle, s)
        self._step_ar(cycle, s)
        return self.violations[before:]

    def _step_r(self, cycle, s):
        self._r_held = self._held(cycle, s, "r", _R_FIELDS, self._r_held)
        if not s.rvalid:
            return
        if not s.rready:
            self.r_stalled += 1
            return
        self.r_beats.append((cycle, s.rresp, bool(s.rlast)))
        if not self._bursts:
            self._violation(cycle, "R beat with no burst in flight")
            return
        self._bursts[0] -= 1
        last = self._bursts[0] == 0
        if bool(s.rlast) != last:
            what = "its burst's last" if last else "not its burst's last"
            self._violation(cycle, f"RLAST {int(s.rlast)} on a beat that is {what}")
        if last:
            self._bursts.popleft()

    def _step_ar(self, cycle, s):
        offered = self._address_handshake(cycle, s, _AR_FIELDS)
        if offered is None:
            return
        self.ars.append(ArRecord(offered, cycle, s.araddr, s.arlen))
        self._bursts.append(s.arlen + 1)
        self.max_outstanding = max(self.max_outstanding, len(self._bursts))
        if len(self._bursts) > self.limit:
            self._violation(
                cycle, f"{len(self._bursts)} bursts in flight, more than the limit {self.limit}"
            )


class AxiReadMonitor:
    """Samples ``<prefix>_ar*`` and ``<prefix>_r*`` at each rising edge of ``clk`` (cocotb reads
    the values of the cycle that just ended) into ``checker``; cycles with ``reset`` high reset
    the checker's in-flight state instead. Cycle 0 is the first edge after the monitor starts.

    Parameters
    ----------
    dut : cocotb handle of the top level
    prefix : str
        Port prefix, e.g. ``"m_axi"``.
    clk : cocotb handle
    reset : cocotb handle or None
        Active-high reset.
    checker : AxiReadChecker

    Members
    -------
    checker : AxiReadChecker
    cycle : int
        Cycles sampled.
    """

    def __init__(self, dut, prefix, clk, reset=None, *, checker):
        import cocotb

        self.checker = checker
        self.cycle = 0
        self._log = dut._log.getChild(prefix)
        self._clk, self._reset = clk, reset
        self._signals = {}
        for f in fields(ReadSample):
            handle = getattr(dut, f"{prefix}_{f.name}", None)
            if handle is None and f.name != "arid":
                raise ValueError(f"{dut._name} has no port {prefix}_{f.name}")
            if handle is not None:
                self._signals[f.name] = handle
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        from cocotb.triggers import RisingEdge

        edge = RisingEdge(self._clk)
        while True:
            await edge
            if self._reset is not None and bool(self._reset.value):
                self.checker.reset()
                continue
            sample = ReadSample(
                **{name: int(handle.value) for name, handle in self._signals.items()}
            )
            for line in self.checker.step(self.cycle, sample):
                self._log.error(line)
            self.cycle += 1


# --- Write channels -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteSample:
    """The AW, W and B signals during one clock cycle."""

    awvalid: bool = False
    awready: bool = False
    awaddr: int = 0
    awlen: int = 0
    awsize: int = 0
    awburst: int = INCR
    awid: int = 0
    wvalid: bool = False
    wready: bool = False
    wdata: int = 0
    wstrb: int = 0
    wlast: bool = False
    bvalid: bool = False
    bready: bool = False
    bresp: int = 0
    bid: int = 0


@dataclass(frozen=True)
class AwRecord:
    """One AW handshake: the cycle it was first offered, the handshake cycle, AWADDR and
    AWLEN."""

    offered: int
    cycle: int
    addr: int
    len: int


@dataclass(frozen=True)
class WRecord:
    """One W handshake matched to its burst: the cycle, the burst's index in ``aws``, the
    beat's index in the burst, the beat's (bus-aligned) address, WSTRB and WLAST."""

    cycle: int
    burst: int
    beat: int
    addr: int
    strb: int
    last: bool


_AW_FIELDS = ("awaddr", "awlen", "awsize", "awburst", "awid")
_W_FIELDS = ("wdata", "wstrb", "wlast")
_B_FIELDS = ("bresp", "bid")


class _WritePairing:
    """Matches W beats to AWs in order; a W beat may come before its AW. A beat's address is
    aligned to its AWSIZE."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.bursts = deque()  # [index, addr, beats, step, beats seen] with W not complete
        self.early = deque()  # (cycle, strb, wlast) of W beats not matched to an AW yet
        self.count = 0  # AWs seen (burst index of the next)

    def add_aw(self, addr, awlen, awsize):
        self.bursts.append([self.count, addr, awlen + 1, 1 << awsize, 0])
        self.count += 1

    def add_w(self, cycle, strb, wlast):
        self.early.append((cycle, strb, bool(wlast)))

    def match(self):
        """Yield ``(WRecord, expected_last, burst_done)`` for every beat that now has its
        AW."""
        while self.early and self.bursts:
            cycle, strb, wlast = self.early.popleft()
            burst = self.bursts[0]
            index, addr, beats, step, seen = burst
            burst[4] += 1
            done = burst[4] == beats
            base = (addr + seen * step) // step * step
            if done:
                self.bursts.popleft()
            yield WRecord(cycle, index, seen, base, strb, wlast), done, done


class AxiWriteChecker(_AxiChecker):
    """The write-channel rules of the module docstring, one cycle at a time.

    Parameters
    ----------
    data_width : int
        Bus data bits (AWSIZE must be log2 of its bytes).
    max_burst : int
        Longest burst in beats.
    outstanding : int
        Write bursts allowed in flight (AW handshake to B handshake).
    awid : int or None
        The AWID every AW must carry; ``None`` accepts any.

    Members
    -------
    violations : list of str
        One line per broken rule: the cycle and what happened.
    aws : list of AwRecord
        Every AW handshake, in order.
    w_beats : list of WRecord
        Every W handshake, once matched to its AW, in order.
    b_resps : list of (int, int)
        ``(cycle, BRESP)`` of every B handshake, in order.
    outstanding, max_outstanding : int
        Bursts in flight now, and the most seen.
    pending_w : int
        W beats taken whose AW has not come yet.
    aw_stalled, w_stalled, b_stalled : int
        Cycles xVALID was high and xREADY low.
    """

    def __init__(self, *, data_width, max_burst, outstanding, awid=0):
        super().__init__(
            prefix="aw",
            data_width=data_width,
            max_burst=max_burst,
            outstanding=outstanding,
            id_value=awid,
        )
        self.awsize = self._size
        self.awid = awid
        self.aws = []
        self.w_beats = []
        self.b_resps = []
        self.max_outstanding = 0
        self.aw_stalled = 0
        self.w_stalled = 0
        self.b_stalled = 0
        self._pairing = _WritePairing()
        self.reset()

    @property
    def outstanding(self):
        return self._inflight

    @property
    def pending_w(self):
        return len(self._pairing.early)

    @property
    def aw_count(self):
        """AW handshakes so far (``len(aws)``)."""
        return len(self.aws)

    def reset(self):
        """Forget the bursts in flight and the stalled transfers (the bus was reset)."""
        self._pairing.reset()
        self._inflight = 0  # AW handshakes not answered by B
        self._b_owed = 0  # bursts whose last W beat is in and whose B is not
        self._addr_held = None
        self._w_held = None  # W payload of a stalled beat
        self._b_held = None  # B payload of a stalled response

    def step(self, cycle, s):
        """Check the cycle ``cycle`` whose signals are ``s``; return its new violations."""
        before = len(self.violations)
        self._step_b(cycle, s)  # B first: a response frees its slot for an AW of this cycle
        self._step_w(cycle, s)
        self._step_aw(cycle, s)
        self._match(cycle)
        return self.violations[before:]

    def _step_b(self, cycle, s):
        self._b_held = self._held(cycle, s, "b", _B_FIELDS, self._b_held)
        if not s.bvalid:
            return
        if not s.bready:
            self.b_stalled += 1
            return
        self.b_resps.append((cycle, s.bresp))
        if self._b_owed:
            self._b_owed -= 1
            self._inflight -= 1
        elif self._inflight:
            self._violation(cycle, "B response before its burst's last W beat")
        else:
            self._violation(cycle, "B response with no burst in flight")

    def _step_w(self, cycle, s):
        self._w_held = self._held(cycle, s, "w", _W_FIELDS, self._w_held)
        if not s.wvalid:
            return
        if not s.wready:
            self.w_stalled += 1
            return
        self._pairing.add_w(cycle, s.wstrb, s.wlast)

    def _step_aw(self, cycle, s):
        offered = self._address_handshake(cycle, s, _AW_FIELDS)
        if offered is None:
            return
        self.aws.append(AwRecord(offered, cycle, s.awaddr, s.awlen))
        self._pairing.add_aw(s.awaddr, s.awlen, s.awsize)
        self._inflight += 1
        self.max_outstanding = max(self.max_outstanding, self._inflight)
        if self._inflight > self.limit:
            self._violation(
                cycle, f"{self._inflight} write bursts in flight, more than the limit {self.limit}"
            )

    def _match(self, cycle):
        for record, expected_last, done in self._pairing.match():
            self.w_beats.append(record)
            if record.last != expected_last:
                aw = self.aws[record.burst]
                what = "its burst's last" if expected_last else "not its burst's last"
                self._violation(
                    record.cycle,
                    f"WLAST {int(record.last)} on beat {record.beat} of the AWLEN {aw.len} burst "
                    f"at {aw.addr:#x}, a beat that is {what}",
                )
            if done:
                self._b_owed += 1


def _describe(names, payload):
    return ", ".join(f"{name}={value:#x}" for name, value in zip(names, payload, strict=True))


class ContainmentMonitor:
    """Every byte written with its WSTRB bit set must lie in a row of the destination: the
    union over ``m < rows`` of ``[c_addr + m·c_stride, c_addr + m·c_stride + row_bytes)``.

    Plain Python, fed one :class:`WriteSample` per cycle like :class:`AxiWriteChecker` (it pairs
    W beats with AWs itself); the protocol rules are the checker's business.

    Beats are located from AWADDR and AWSIZE (lane ``i`` of beat ``n`` is byte
    ``align(AWADDR) + n·2^AWSIZE + i``).

    Parameters
    ----------
    c_addr, c_stride : int or None
        The destination's base and row stride in bytes; ``None`` (no destination yet, see
        :meth:`set_region`): every written byte is stray.
    rows : int
        Rows of the destination (M).
    row_bytes : int
        Bytes of each row that may be written (N times the output bytes).
    data_width : int or None
        Bus data bits (not needed: AWSIZE gives the beat).

    Members
    -------
    violations : list of str
        One line per beat that wrote outside: the cycle, the beat's address and the first
        stray byte addresses.
    stray_bytes : int
        Bytes written outside, in all.
    bytes_written : int
        Bytes written (strobes set), inside or not.
    """

    def __init__(self, *, c_addr=None, c_stride=0, rows=1, row_bytes=1, data_width=None):
        self.violations = []
        self.stray_bytes = 0
        self.bytes_written = 0
        self._pairing = _WritePairing()
        self.c_addr = None
        if c_addr is not None:
            self.set_region(c_addr=c_addr, c_stride=c_stride, rows=rows, row_bytes=row_bytes)

    @classmethod
    def for_descriptor(cls, desc, *, mac, data_width):
        """The region of C that ``desc`` (a ``golden.descriptor.Descriptor``) may write."""
        from golden.descriptor import output_bytes

        return cls(
            c_addr=desc.c_addr,
            c_stride=desc.c_stride,
            rows=desc.m,
            row_bytes=desc.n * output_bytes(desc.flags, mac),
            data_width=data_width,
        )

    def set_region(self, *, c_addr, c_stride, rows, row_bytes):
        """Check later writes against another destination (the next job)."""
        if rows < 1 or row_bytes < 1 or c_stride < 0:
            raise ValueError(
                f"rows and row_bytes must be at least 1 and c_stride at least 0, got rows={rows}, "
                f"row_bytes={row_bytes}, c_stride={c_stride}"
            )
        self.c_addr, self.c_stride, self.rows, self.row_bytes = c_addr, c_stride, rows, row_bytes

    def set_tensor(self, c_addr, c_stride, row_bytes, rows):
        """:meth:`set_region` with positional arguments (C's extent order)."""
        self.set_region(c_addr=c_addr, c_stride=c_stride, rows=rows, row_bytes=row_bytes)

    def reset(self):
        """Forget beats and bursts not yet paired (the bus was reset)."""
        self._pairing.reset()

    def contains(self, addr):
        """Byte ``addr`` lies in a row of the region."""
        if self.c_addr is None:
            return False
        offset = addr - self.c_addr
        if offset < 0:
            return False
        row = self.rows - 1 if self.c_stride == 0 else min(self.rows - 1, offset // self.c_stride)
        # The last row starting at or before the byte leaves the smallest offset into a row.
        return offset - row * self.c_stride < self.row_bytes

    def step(self, cycle, s):
        """Take the cycle's AW and W handshakes; return the new violations."""
        before = len(self.violations)
        if s.wvalid and s.wready:
            self._pairing.add_w(cycle, s.wstrb, s.wlast)
        if s.awvalid and s.awready:
            self._pairing.add_aw(s.awaddr, s.awlen, s.awsize)
        for record, _expected_last, _done in self._pairing.match():
            self.beat(record.cycle, record.addr, record.strb)
        return self.violations[before:]

    def beat(self, cycle, addr, strb):
        """Check one beat at bus-aligned ``addr`` with strobes ``strb``."""
        stray = []
        lane = 0
        while strb >> lane:
            if strb >> lane & 1:
                self.bytes_written += 1
                if not self.contains(addr + lane):
                    stray.append(addr + lane)
            lane += 1
        if stray:
            self.stray_bytes += len(stray)
            shown = ", ".join(f"{a:#x}" for a in stray[:4]) + (" …" if len(stray) > 4 else "")
            self.violations.append(
                f"cycle {cycle}: beat at {addr:#x} writes {len(stray)} byte(s) outside the "
                f"destination: {shown}"
            )


class AxiWriteMonitor:
    """Samples ``<prefix>_aw*``, ``<prefix>_w*`` and ``<prefix>_b*`` at each rising edge of
    ``clk`` into one or more checkers (:class:`AxiWriteChecker`, :class:`ContainmentMonitor`);
    cycles with ``reset`` high reset them instead. Cycle 0 is the first edge after the monitor
    starts.

    Parameters
    ----------
    dut : cocotb handle of the top level
    prefix : str
        Port prefix, e.g. ``"m_axi"``.
    clk : cocotb handle
    reset : cocotb handle or None
        Active-high reset.
    checker : AxiWriteChecker, ContainmentMonitor, or a list of them
    containment : ContainmentMonitor or None
        Fed after ``checker``.

    Members
    -------
    checkers : list
    cycle : int
        Cycles sampled.
    """

    _OPTIONAL = ("awid", "bid", "wstrb", "bresp")

    def __init__(self, dut, prefix, clk, reset=None, *, checker, containment=None):
        import cocotb

        self.checkers = list(checker) if isinstance(checker, list | tuple) else [checker]
        if containment is not None:
            self.checkers.append(containment)
        self.cycle = 0
        self._log = dut._log.getChild(prefix)
        self._clk, self._reset = clk, reset
        self._signals = {}
        for f in fields(WriteSample):
            handle = getattr(dut, f"{prefix}_{f.name}", None)
            if handle is None and f.name not in self._OPTIONAL:
                raise ValueError(f"{dut._name} has no port {prefix}_{f.name}")
            if handle is not None:
                self._signals[f.name] = handle
        # Without WSTRB every byte of a beat is written.
        lanes = len(self._signals["wdata"]) // 8
        self._defaults = {} if "wstrb" in self._signals else {"wstrb": (1 << lanes) - 1}
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        from cocotb.triggers import RisingEdge

        edge = RisingEdge(self._clk)
        while True:
            await edge
            if self._reset is not None and bool(self._reset.value):
                for checker in self.checkers:
                    checker.reset()
                continue
            values = {name: int(handle.value) for name, handle in self._signals.items()}
            sample = WriteSample(**self._defaults, **values)
            for checker in self.checkers:
                for line in checker.step(self.cycle, sample):
                    self._log.error(line)
            self.cycle += 1
