"""Host driver of the systolix accelerator: run a GEMM through the AXI4-Lite register window
(docs/accelerator.md §2.3, docs/registers.md, docs/host.md).

The driver is written once, without I/O ("sans-IO"): every operation (:func:`identify`,
:func:`program`, :func:`start`, :func:`wait`, :func:`abort`, :func:`read_perf`,
:func:`clear_irq`, :func:`run_gemm`) is a generator that yields :class:`Read`, :class:`Write`
and :class:`Idle` requests, receives the value of each read, and returns its result. Two
runners carry the requests to a bus:

- :class:`SyncDriver` calls plain ``read32(addr)`` / ``write32(addr, value)`` functions: a
  board through ``/dev/mem`` or UIO (an ``mmap``), a LiteX bridge, a register-file model;
- :class:`AsyncDriver` awaits coroutine functions: cocotbext-axi's ``AxiLiteMaster``
  (``read_dword`` / ``write_dword``) in a cocotb testbench.

Both expose the same methods, so a test written against one runs on the other. Register
offsets, fields and the descriptor's words come from the register map ``hdl.ctrl.regs.REGS``,
the table the RTL is generated from.
"""

from dataclasses import dataclass, field

from golden.descriptor import (
    OPCODE_GEMM,
    AttentionConfig,
    Descriptor,
    DescriptorLimits,
    check_descriptor,
)
from hdl.ctrl.regs import (
    ID_VALUE,
    MAC_KIND_CODES,
    PERF_COUNTERS,
    REGS,
    ErrorCode,
    ErrSource,
    descriptor_registers,
)

__all__ = [
    "DEFAULT_POLL_LIMIT",
    "PERF_NAMES",
    "AsyncDriver",
    "DeviceError",
    "GemmError",
    "GemmTimeout",
    "HwInfo",
    "Idle",
    "JobResult",
    "Read",
    "SyncDriver",
    "Write",
    "abort",
    "clear_irq",
    "identify",
    "program",
    "read_perf",
    "run_gemm",
    "start",
    "wait",
]

#: STATUS reads :func:`wait` makes before it gives up.
DEFAULT_POLL_LIMIT = 1_000_000
#: Names of the performance counters (``read_perf`` keys), in map order: ``"CYCLES"`` …
PERF_NAMES = tuple(name for name, _offset, _what in PERF_COUNTERS)

_WORD_MASK = (1 << 32) - 1
_MAC_KINDS = {code: kind for kind, code in MAC_KIND_CODES.items()}


# --- Requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """Read the 32-bit register at byte ``offset`` of the window; the runner sends back its
    value (an int)."""

    offset: int


@dataclass(frozen=True)
class Write:
    """Write ``value`` (32 bits, all byte strobes) to the register at byte ``offset``."""

    offset: int
    value: int


@dataclass(frozen=True)
class Idle:
    """Between two polls of STATUS: the runner may sleep or let clock cycles pass (its
    ``idle`` hook); nothing is sent back."""


# --- Results and errors -------------------------------------------------------------------------


class DeviceError(RuntimeError):
    """The window does not hold a systolix accelerator (ID is not "SYSX")."""


class GemmTimeout(TimeoutError):
    """The job did not finish within the poll limit."""


@dataclass(frozen=True)
class JobResult:
    """How a job ended, as STATUS, ERR_INFO and ERR_ADDR report it.

    Members
    -------
    status : int
        The STATUS word of the last poll (BUSY clear).
    code : ErrorCode
        ``ErrorCode.NONE`` when the job succeeded.
    source : ErrSource or int
        Where the error arose (an int if the hardware reports a value the map does not
        name); ``ErrSource.DESCRIPTOR`` when there was none.
    address : int
        ERR_ADDR: the first failing AR/AW address (AXI errors), else 0.
    polls : int
        STATUS reads it took.
    perf : dict or None
        ``{counter name: value}`` when :func:`run_gemm` read the counters.
    """

    status: int
    code: ErrorCode = ErrorCode.NONE
    source: ErrSource | int = ErrSource.DESCRIPTOR
    address: int = 0
    polls: int = 0
    perf: dict | None = field(default=None, compare=False)

    @property
    def ok(self):
        """The job finished without error."""
        return self.code == ErrorCode.NONE and not REGS.STATUS.ERROR.extract(self.status)

    def raise_for_error(self):
        """Raise :class:`GemmError` if the job failed; return ``self`` otherwise."""
        if not self.ok:
            raise GemmError(self.code, self.source, self.address, result=self)
        return self


class GemmError(RuntimeError):
    """A job (or a START) failed: the error code, its source and the failing address.

    Members
    -------
    code : ErrorCode or int
    source : ErrSource or int
    address : int
    result : JobResult or None
    """

    def __init__(self, code, source, address=0, *, result=None):
        self.code = _decode(ErrorCode, code)
        self.source = _decode(ErrSource, source)
        self.address = address
        self.result = result
        super().__init__(
            f"{_name(self.code)} (code {int(self.code):#04x}) from {_name(self.source)}"
            f" at address {address:#x}"
        )


def _decode(enum_type, value):
    try:
        return enum_type(value)
    except ValueError:
        return int(value)


def _name(value):
    return value.name if hasattr(value, "name") else f"unknown {int(value)}"


@dataclass(frozen=True)
class HwInfo:
    """What the configuration registers (ID, VERSION, HWCFG0–6) publish.

    Members
    -------
    version : tuple of int
        (major, minor, patch) of the generator.
    rows, cols : int
        The array, R × C.
    mac : str or int
        MAC kind (``"int8"``, ``"e4m3"``, ``"e5m2"``, ``"e4m3xe5m2"``), or the raw code.
    acc_width : int
        Accumulator width in bits.
    bus_bytes : int
        m_axi data width in bytes (W); ``data_width`` is in bits.
    tile_m, tile_n, tile_k : int
    addr_width : int
        m_axi address width.
    outstanding_reads : int
    max_dim : int
        Largest M, K or N.
    alignment : int
        Bytes every base address and stride must be a multiple of.
    attention : golden.descriptor.AttentionConfig or None
        The attention unit (ATTENTION descriptors), or ``None`` when the hardware has none.
    """

    version: tuple
    rows: int
    cols: int
    mac: str | int
    acc_width: int
    bus_bytes: int
    tile_m: int
    tile_n: int
    tile_k: int
    addr_width: int
    outstanding_reads: int
    max_dim: int
    alignment: int
    attention: AttentionConfig | None = None

    @property
    def data_width(self):
        return 8 * self.bus_bytes

    @property
    def tiles(self):
        """``(tile_m, tile_n, tile_k)``."""
        return (self.tile_m, self.tile_n, self.tile_k)


# --- Operations (generators) --------------------------------------------------------------------


def identify():
    """Read ID, VERSION and HWCFG0–6; return a :class:`HwInfo`.

    Raises
    ------
    DeviceError
        If ID is not "SYSX" (a wrong base address, or no bitstream).
    """
    ident = yield Read(REGS.ID.offset)
    if ident != ID_VALUE:
        raise DeviceError(f'ID reads {ident:#010x}, not {ID_VALUE:#010x} ("SYSX")')
    words = {}
    for name in ("VERSION", *(f"HWCFG{i}" for i in range(7))):
        words[name] = REGS[name].unpack((yield Read(REGS[name].offset)))
    ver, c0, c1, c2, c3 = (words[n] for n in ("VERSION", "HWCFG0", "HWCFG1", "HWCFG2", "HWCFG3"))
    c4, c5, c6 = (words[f"HWCFG{i}"] for i in (4, 5, 6))
    attention = None
    if c4["ATT_BLOCK_LQ"]:
        attention = AttentionConfig(
            block_lq=c4["ATT_BLOCK_LQ"],
            block_lk=c4["ATT_BLOCK_LK"],
            max_lk=c6["ATT_MAX_LK"],
            max_d=c5["ATT_MAX_D"],
            max_dv=c5["ATT_MAX_DV"],
            p_bits=c6["ATT_P_BITS"],
        )
    return HwInfo(
        version=(ver["MAJOR"], ver["MINOR"], ver["PATCH"]),
        rows=c0["ROWS"],
        cols=c0["COLS"],
        mac=_MAC_KINDS.get(c0["MAC_KIND"], c0["MAC_KIND"]),
        acc_width=c0["ACC_WIDTH"],
        bus_bytes=1 << c0["LOG2_BUS_BYTES"],
        tile_m=c1["TILE_M"],
        tile_n=c1["TILE_N"],
        tile_k=c2["TILE_K"],
        addr_width=c2["ADDR_WIDTH"],
        outstanding_reads=c2["OUTSTANDING_READS"],
        max_dim=c3["MAX_DIM"],
        alignment=1 << c3["ALIGN_LOG2"],
        attention=attention,
    )


def program(desc):
    """Write the descriptor registers of ``desc`` (M … MEM_LIMIT, in map order; CTRL is left
    to :func:`start`). The registers may be written while a job runs: START latches them."""
    if not isinstance(desc, Descriptor):
        raise TypeError(f"desc must be a golden.descriptor.Descriptor, got {desc!r}")
    for reg, word in descriptor_registers(desc):
        yield Write(reg.offset, word)


def start(opcode=OPCODE_GEMM, *, irq_done=False, irq_err=False):
    """Write CTRL with START, ``opcode`` and the interrupt enables (one write: START latches
    the OPCODE of the same write)."""
    ctrl = REGS.CTRL.pack(
        START=1, OPCODE=opcode, IRQ_DONE_EN=int(irq_done), IRQ_ERR_EN=int(irq_err)
    )
    yield Write(REGS.CTRL.offset, ctrl)


def abort():
    """Set CTRL.ABORT, keeping OPCODE and the interrupt enables (read, modify, write). The job
    stops issuing, drains and finishes with ``ABORTED``; :func:`wait` for it."""
    ctrl = yield Read(REGS.CTRL.offset)
    keep = REGS.CTRL.OPCODE.mask | REGS.CTRL.IRQ_DONE_EN.mask | REGS.CTRL.IRQ_ERR_EN.mask
    yield Write(REGS.CTRL.offset, (ctrl & keep) | REGS.CTRL.ABORT.mask)


def clear_irq(*, done=True, error=True):
    """Clear IRQ_STATUS.DONE and/or .ERROR (write 1 to clear); return the IRQ_STATUS word
    read before."""
    before = yield Read(REGS.IRQ_STATUS.offset)
    value = REGS.IRQ_STATUS.pack(DONE=int(done), ERROR=int(error))
    if value:
        yield Write(REGS.IRQ_STATUS.offset, value)
    return before


def read_perf(names=PERF_NAMES):
    """Read 64-bit performance counters, LO then HI (reading LO latches HI, so the pair is one
    sample); return ``{name: value}``."""
    values = {}
    for name in names:
        lo = yield Read(REGS[f"PERF_{name}_LO"].offset)
        hi = yield Read(REGS[f"PERF_{name}_HI"].offset)
        values[name] = (hi << 32) | lo
    return values


def wait(poll_limit=DEFAULT_POLL_LIMIT):
    """Poll STATUS until the job has ended (BUSY clear, DONE or ERROR set); on an error, read
    ERR_INFO and ERR_ADDR. Return a :class:`JobResult` (it does not raise for a failed job:
    see :meth:`JobResult.raise_for_error`).

    Raises
    ------
    GemmTimeout
        After ``poll_limit`` STATUS reads with the job still running (or never started).
    """
    if poll_limit < 1:
        raise ValueError(f"poll_limit must be at least 1, got {poll_limit}")
    status_reg = REGS.STATUS
    for polls in range(1, poll_limit + 1):
        status = yield Read(status_reg.offset)
        busy = status_reg.BUSY.extract(status)
        ended = status_reg.DONE.extract(status) or status_reg.ERROR.extract(status)
        if not busy and ended:
            break
        if polls < poll_limit:
            yield Idle()
    else:
        raise GemmTimeout(
            f"job still running after {poll_limit} STATUS reads (STATUS {status:#010x})"
        )
    if not status_reg.ERROR.extract(status):
        return JobResult(status=status, polls=polls)
    info = REGS.ERR_INFO.unpack((yield Read(REGS.ERR_INFO.offset)))
    lo = yield Read(REGS.ERR_ADDR_LO.offset)
    hi = yield Read(REGS.ERR_ADDR_HI.offset)
    return JobResult(
        status=status,
        code=_decode(ErrorCode, info["CODE"]),
        source=_decode(ErrSource, info["SOURCE"]),
        address=(hi << 32) | lo,
        polls=polls,
    )


def run_gemm(
    desc,
    *,
    poll_limit=DEFAULT_POLL_LIMIT,
    limits=None,
    perf=True,
    irq_done=False,
    irq_err=False,
):
    """Run one GEMM: program ``desc``, START (last), wait, read the counters, clear
    IRQ_STATUS, and return the :class:`JobResult`.

    Parameters
    ----------
    desc : Descriptor
    poll_limit : int
        STATUS reads before :class:`GemmTimeout`.
    limits : DescriptorLimits or None
        If given, ``golden.descriptor.check_descriptor`` runs first and a bad descriptor
        raises :class:`GemmError` (source DESCRIPTOR) without any bus access; the hardware
        would give the same code.
    perf : bool
        Read the performance counters into ``JobResult.perf``.
    irq_done, irq_err : bool
        CTRL interrupt enables written with START (an interrupt-driven caller waits for the
        line, then calls this with a small ``poll_limit`` or uses :func:`wait`).

    Raises
    ------
    GemmError
        The job or its START failed (after the counters are read and IRQ_STATUS cleared).
    GemmTimeout
    """
    if limits is not None:
        if not isinstance(limits, DescriptorLimits):
            raise TypeError(f"limits must be a DescriptorLimits, got {limits!r}")
        code = check_descriptor(desc, limits)
        if code != ErrorCode.NONE:
            raise GemmError(code, ErrSource.DESCRIPTOR, 0)
    yield from program(desc)
    yield from start(desc.opcode, irq_done=irq_done, irq_err=irq_err)
    result = yield from wait(poll_limit)
    if perf:
        counters = yield from read_perf()
        result = JobResult(**{**result.__dict__, "perf": counters})
    yield from clear_irq()
    return result.raise_for_error()


# --- Runners ------------------------------------------------------------------------------------


class _Driver:
    """The operations as methods; :meth:`run` (sync or async) carries the requests.

    With :class:`AsyncDriver` each method returns a coroutine: ``await drv.identify()``.
    """

    def __init__(self, read32, write32, base=0, *, idle=None):
        if not callable(read32) or not callable(write32):
            raise TypeError("read32 and write32 must be callables")
        self.read32 = read32
        self.write32 = write32
        self.base = base
        self.idle = idle

    def _check(self, request):
        if not isinstance(request, Read | Write | Idle):
            raise TypeError(f"operation yielded {request!r}, not a Read, Write or Idle")

    def identify(self):
        """See :func:`identify`."""
        return self.run(identify())

    def program(self, desc):
        """See :func:`program`."""
        return self.run(program(desc))

    def start(self, opcode=OPCODE_GEMM, *, irq_done=False, irq_err=False):
        """See :func:`start`."""
        return self.run(start(opcode, irq_done=irq_done, irq_err=irq_err))

    def wait(self, poll_limit=DEFAULT_POLL_LIMIT):
        """See :func:`wait`."""
        return self.run(wait(poll_limit))

    def abort(self):
        """See :func:`abort`."""
        return self.run(abort())

    def clear_irq(self, *, done=True, error=True):
        """See :func:`clear_irq`."""
        return self.run(clear_irq(done=done, error=error))

    def read_perf(self, names=PERF_NAMES):
        """See :func:`read_perf`."""
        return self.run(read_perf(names))

    def run_gemm(self, desc, **kwargs):
        """See :func:`run_gemm`."""
        return self.run(run_gemm(desc, **kwargs))


class SyncDriver(_Driver):
    """Runs the operations over synchronous register access.

    Parameters
    ----------
    read32 : callable
        ``read32(addr) -> int``: one 32-bit read at byte address ``addr``.
    write32 : callable
        ``write32(addr, value)``: one 32-bit write (all four bytes at once; byte writes would
        split a CTRL write into several).
    base : int
        Address of the register window; requests are at ``base + offset``.
    idle : callable or None
        Called between two STATUS polls (e.g. ``lambda: time.sleep(1e-4)``).
    """

    def run(self, op):
        """Run operation ``op`` (a generator from this module) to its result."""
        value = None
        try:
            while True:
                request = op.send(value)
                self._check(request)
                value = None
                if isinstance(request, Read):
                    value = int(self.read32(self.base + request.offset)) & _WORD_MASK
                elif isinstance(request, Write):
                    self.write32(self.base + request.offset, request.value & _WORD_MASK)
                elif self.idle is not None:
                    self.idle()
        except StopIteration as stop:
            return stop.value


class AsyncDriver(_Driver):
    """Runs the operations over coroutine register access (cocotb).

    Parameters
    ----------
    read32 : coroutine function
        ``await read32(addr) -> int``, e.g. cocotbext-axi ``AxiLiteMaster.read_dword``.
    write32 : coroutine function
        ``await write32(addr, value)``, e.g. ``AxiLiteMaster.write_dword``.
    base : int
    idle : coroutine function or None
        Awaited between two STATUS polls (e.g. ``lambda: ClockCycles(dut.clk, 10)``); each
        AXI4-Lite read already takes a few cycles.
    """

    async def run(self, op):
        """Run operation ``op`` to its result."""
        value = None
        try:
            while True:
                request = op.send(value)
                self._check(request)
                value = None
                if isinstance(request, Read):
                    value = int(await self.read32(self.base + request.offset)) & _WORD_MASK
                elif isinstance(request, Write):
                    await self.write32(self.base + request.offset, request.value & _WORD_MASK)
                elif self.idle is not None:
                    await self.idle()
        except StopIteration as stop:
            return stop.value
