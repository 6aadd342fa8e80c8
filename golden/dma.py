"""The read DMA's burst planner: a 2-D strided read as the AXI bursts the hardware issues
(docs/accelerator.md §3.2 ``AxiReadDma``, §4.2).

A :class:`ReadCommand` reads ``rows`` rows of ``row_bytes`` bytes, row ``r`` starting at
``addr + r·stride``. Each row is ``ceil(row_bytes / W)`` beats of ``W = D/8`` bytes, the last
one padded with whatever follows the row in memory. Addresses and strides are multiples of
``W`` (docs/accelerator.md §0, alignment), so every row starts on a beat.

:func:`plan_bursts` cuts the read into INCR bursts exactly as ``hdl.dma.read.AxiReadDma``
does: when the stride equals a row's beats (``stride == row_beats·W``) the rows are adjacent
and merge into one run; otherwise each row is a run. A run is cut greedily, each burst as long
as the run, :attr:`~golden.frontend.FrontendConfig.max_burst` and the next 4 KiB boundary allow
(AXI bursts never cross one). :func:`beat_map` gives, for each beat of the command in order,
the row and byte offset it carries; the DMA writes beat ``i`` to ``base + i`` of its
destination bank, merged or not.

Plain Python integers only: the generator, the testbenches and the tests share this code.
"""

from dataclasses import dataclass

from golden.errors import UsageTypeError, UsageValueError, check_int
from golden.frontend import AXI_BOUNDARY_BYTES, TILE_LIMIT, FrontendConfig

__all__ = [
    "MAX_ROWS",
    "MAX_ROW_BYTES",
    "Burst",
    "ReadCommand",
    "beat_addresses",
    "beat_map",
    "check_command",
    "is_merged",
    "plan_bursts",
    "row_beats",
]

#: Largest row count of one command: a tile's rows (``golden.frontend.TILE_LIMIT``).
MAX_ROWS = TILE_LIMIT
#: Largest row in bytes: 1 MiB, above a tile's longest row (the QP records of a full n-tile,
#: 16 × 65 535 bytes).
MAX_ROW_BYTES = 1 << 20


@dataclass(frozen=True)
class ReadCommand:
    """A 2-D strided read: ``rows`` rows of ``row_bytes`` bytes, row ``r`` at
    ``addr + r·stride``.

    Parameters
    ----------
    addr : int
        Byte address of row 0, a multiple of the beat size ``W``.
    rows : int
        1 to :data:`MAX_ROWS`.
    row_bytes : int
        1 to :data:`MAX_ROW_BYTES`.
    stride : int
        Bytes from one row's start to the next one's: a multiple of ``W``, at least
        ``row_bytes``.
    """

    addr: int
    rows: int
    row_bytes: int
    stride: int


@dataclass(frozen=True)
class Burst:
    """One AXI INCR burst of a command.

    Members
    -------
    addr : int
        ARADDR, a multiple of ``W``.
    len : int
        ARLEN: beats − 1.
    beat : int
        Index, within the command, of the burst's first beat (its destination offset).
    row : int
        First row the burst carries bytes of.
    rows : int
        Rows it carries bytes of, wholly or in part (more than one only in a merged run).
    last : bool
        The command's last burst.
    """

    addr: int
    len: int
    beat: int
    row: int
    rows: int
    last: bool

    @property
    def beats(self):
        """Beats of the burst, ``len + 1``."""
        return self.len + 1


def _check_config(config):
    if not isinstance(config, FrontendConfig):
        raise UsageTypeError(f"config must be a FrontendConfig, got {config!r}", parameter="config")
    return config


def row_beats(row_bytes, config):
    """Beats of one row: ``ceil(row_bytes / W)``."""
    w = _check_config(config).beat_bytes
    return -(-row_bytes // w)


def check_command(cmd, config):
    """Check ``cmd`` against the bus of ``config``; return it.

    Raises
    ------
    UsageTypeError
        If ``cmd`` is not a :class:`ReadCommand` or a field is not an integer.
    UsageValueError
        Naming the field: ``addr`` or ``stride`` not a multiple of the beat size or outside
        the address space, ``rows`` or ``row_bytes`` out of range, ``stride`` below
        ``row_bytes``, or the read's last byte beyond ``2^addr_width − 1``.
    """
    config = _check_config(config)
    if not isinstance(cmd, ReadCommand):
        raise UsageTypeError(f"cmd must be a ReadCommand, got {cmd!r}", parameter="cmd")
    w, top = config.beat_bytes, 1 << config.addr_width
    addr = check_int("addr", cmd.addr, 0, top - w)
    rows = check_int("rows", cmd.rows, 1, MAX_ROWS)
    row_bytes = check_int("row_bytes", cmd.row_bytes, 1, MAX_ROW_BYTES)
    stride = check_int("stride", cmd.stride, row_bytes, top - w)
    for name, value in (("addr", addr), ("stride", stride)):
        if value % w:
            raise UsageValueError(
                f"{name} must be a multiple of {w} bytes (the bus width at "
                f"data_width={config.data_width}), got {value:#x}",
                parameter=name,
            )
    # The rows' beats, padding of the last row included, must stay below 2^addr_width: the
    # DMA's address counters do not wrap.
    end = addr + (rows - 1) * stride + row_beats(row_bytes, config) * w
    if end > top:
        raise UsageValueError(
            f"addr must leave room for the read: addr {addr:#x} + (rows - 1) * stride "
            f"{stride:#x} + {row_beats(row_bytes, config)} beats passes 2^{config.addr_width}",
            parameter="addr",
        )
    return cmd


def is_merged(cmd, config):
    """True when the rows are adjacent beat for beat (``stride == row_beats·W``) and so read
    as one run; a single row is one run either way."""
    return cmd.stride == row_beats(cmd.row_bytes, config) * config.beat_bytes


def plan_bursts(cmd, config):
    """The AXI bursts of ``cmd``, in issue (and address) order.

    Parameters
    ----------
    cmd : ReadCommand
    config : FrontendConfig
        ``data_width`` (the beat ``W = D/8``), ``addr_width``, ``max_burst``.

    Returns
    -------
    tuple of Burst
    """
    check_command(cmd, config)
    w = config.beat_bytes
    beats_per_row = row_beats(cmd.row_bytes, config)
    page_beats = AXI_BOUNDARY_BYTES // w
    if is_merged(cmd, config):
        runs = [(cmd.addr, cmd.rows * beats_per_row)]
    else:
        runs = [(cmd.addr + r * cmd.stride, beats_per_row) for r in range(cmd.rows)]
    bursts = []
    beat = 0
    for run_index, (addr, run_left) in enumerate(runs):
        row_base = 0 if len(runs) == 1 else run_index
        offset = 0  # beats of the run already issued
        while run_left:
            to_boundary = page_beats - (addr % AXI_BOUNDARY_BYTES) // w
            n = min(run_left, config.max_burst, to_boundary)
            first_row = row_base + offset // beats_per_row
            last_row = row_base + (offset + n - 1) // beats_per_row
            run_left -= n
            bursts.append(
                Burst(
                    addr=addr,
                    len=n - 1,
                    beat=beat,
                    row=first_row,
                    rows=last_row - first_row + 1,
                    last=run_left == 0 and run_index == len(runs) - 1,
                )
            )
            addr += n * w
            offset += n
            beat += n
    return tuple(bursts)


def beat_map(cmd, config):
    """Row and byte offset within the row of each beat of ``cmd``, in the order the beats
    arrive (beat ``i`` goes to ``base + i`` of the destination).

    Returns
    -------
    tuple of (int, int)
        ``(row, offset)``; the beat carries bytes ``offset … offset + W − 1`` of the row, those
        at or past ``row_bytes`` being padding.
    """
    check_command(cmd, config)
    w = config.beat_bytes
    beats_per_row = row_beats(cmd.row_bytes, config)
    return tuple((r, b * w) for r in range(cmd.rows) for b in range(beats_per_row))


def beat_addresses(cmd, config):
    """Bus address of each beat of ``cmd``, in arrival order (from :func:`beat_map`)."""
    return tuple(cmd.addr + r * cmd.stride + offset for r, offset in beat_map(cmd, config))
