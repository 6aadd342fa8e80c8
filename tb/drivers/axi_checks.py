"""Protocol checks of an AXI4 master's read channels (AR and R).

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
"""

from collections import deque
from dataclasses import dataclass, fields

__all__ = ["AxiReadChecker", "AxiReadMonitor", "ArRecord", "ReadSample"]

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


class AxiReadChecker:
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
        self.beat_bytes = data_width // 8
        self.arsize = self.beat_bytes.bit_length() - 1
        self.max_burst = max_burst
        self.limit = outstanding
        self.arid = arid
        self.violations = []
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
        self._ar_held = None  # (first cycle offered, AR payload) of a stalled AR
        self._r_held = None  # R payload of a stalled beat
        self._ar_offered = None  # first cycle the current AR was offered

    def _violation(self, cycle, message):
        self.violations.append(f"cycle {cycle}: {message}")

    def step(self, cycle, s):
        """Check the cycle ``cycle`` whose signals are ``s``; return its new violations."""
        before = len(self.violations)
        self._step_r(cycle, s)
        self._step_ar(cycle, s)
        return self.violations[before:]

    def _step_r(self, cycle, s):
        payload = tuple(getattr(s, f) for f in _R_FIELDS)
        if self._r_held is not None:
            if not s.rvalid:
                self._violation(cycle, "RVALID dropped before RREADY")
            elif payload != self._r_held:
                self._violation(
                    cycle, f"R beat changed while RREADY was low: {self._r_held} -> {payload}"
                )
        self._r_held = None
        if not s.rvalid:
            return
        if not s.rready:
            self.r_stalled += 1
            self._r_held = payload
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
        payload = tuple(getattr(s, f) for f in _AR_FIELDS)
        if self._ar_held is not None:
            if not s.arvalid:
                self._violation(cycle, "ARVALID dropped before ARREADY")
            elif payload != self._ar_held[1]:
                self._violation(
                    cycle,
                    f"AR changed while ARREADY was low: {self._describe(self._ar_held[1])} -> "
                    f"{self._describe(payload)}",
                )
        if not s.arvalid:
            self._ar_held = None
            return
        offered = cycle if self._ar_held is None else self._ar_held[0]
        if self._ar_held is None:
            self._check_ar(cycle, s)
        if not s.arready:
            self.ar_stalled += 1
            self._ar_held = (offered, payload)
            return
        self._ar_held = None
        self.ars.append(ArRecord(offered, cycle, s.araddr, s.arlen))
        self._bursts.append(s.arlen + 1)
        self.max_outstanding = max(self.max_outstanding, len(self._bursts))
        if len(self._bursts) > self.limit:
            self._violation(
                cycle, f"{len(self._bursts)} bursts in flight, more than the limit {self.limit}"
            )

    def _check_ar(self, cycle, s):
        beats = s.arlen + 1
        if beats > self.max_burst:
            self._violation(cycle, f"ARLEN {s.arlen}: {beats} beats, more than {self.max_burst}")
        if s.arsize != self.arsize:
            self._violation(cycle, f"ARSIZE {s.arsize}, not {self.arsize} (the bus width)")
        if s.arburst != INCR:
            self._violation(cycle, f"ARBURST {s.arburst}, not INCR")
        if self.arid is not None and s.arid != self.arid:
            self._violation(cycle, f"ARID {s.arid}, not {self.arid}")
        first = s.araddr
        last = s.araddr + beats * (1 << s.arsize) - 1
        if first // BOUNDARY_BYTES != last // BOUNDARY_BYTES:
            self._violation(cycle, f"burst {first:#x}..{last:#x} crosses a 4 KiB boundary")

    @staticmethod
    def _describe(payload):
        return ", ".join(
            f"{name}={value:#x}" for name, value in zip(_AR_FIELDS, payload, strict=True)
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
