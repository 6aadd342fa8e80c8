"""Accumulator SRAM: sums the partial sums of the K folds of a column strip, then emits them.

:class:`FoldAccumulator` counts the folds itself (a fixed ``k_folds`` per strip, for
:class:`~hdl.array.SystolicGemm`); :class:`TileAccumulator` takes one record per fold from the
tile sequencer (:func:`fold_layout`: SRAM base row, ``first``, ``emit``). Both share one
read-modify-write stage.
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.errors import check_int
from hdl.arith import arithmetic_for
from hdl.array.layouts import result_row_layout

MAX_K_FOLDS = 1 << 16
#: Largest accumulator SRAM, in rows.
MAX_ACC_ROWS = 1 << 16


def output_row_layout(config):
    """A finished output row: C W-bit integers (INT8) or C binary32 patterns (FP8)."""
    elem = arithmetic_for(config).output_shape
    return data.StructLayout({"data": data.ArrayLayout(elem, config.cols), "last": unsigned(1)})


def fold_layout(acc_rows):
    """One fold's accumulator record: its first SRAM row ``acc_base``; ``first``: start from
    zero instead of the SRAM; ``emit``: the sums are final and leave on the output stream.

    ``acc_rows`` is the SRAM depth, ``golden.frontend.accumulator_rows(cols, frontend_config)``.
    """
    acc_rows = check_int("acc_rows", acc_rows, 1, MAX_ACC_ROWS)
    return data.StructLayout({"acc_base": range(acc_rows), "first": 1, "emit": 1})


def _sum_stage(m, config, acc_rows, i, o, *, addr, first, emit, accept=None):
    """Build the read-modify-write stage shared by the accumulators; returns ``(free, fire)``:
    the stage can take a row this cycle, and a row of ``i`` is taken.

    A row of ``i`` is taken when ``accept`` (if given) is high and the stage is free; it
    reads SRAM row ``addr`` and is latched with ``first`` and ``emit`` (sampled with it). One
    cycle later its sum (the SRAM row's contents, or zero if ``first``, plus the row) is
    written back, or, if ``emit``, goes to ``o`` through ``Arithmetic.finish`` instead, after
    its ``finish_latency`` stages; ``i`` waits only while an emitted row waits on ``o``. The
    read is transparent, so a row read in the cycle its previous sum is written back sees
    that sum.
    """
    arith = arithmetic_for(config)
    row_layout = data.ArrayLayout(arith.psum_shape, config.cols)

    m.submodules.sums = sums = Memory(shape=row_layout, depth=acc_rows, init=[])
    write = sums.write_port()
    read = sums.read_port(transparent_for=(write,))

    # Stage 1: the row being summed, with the SRAM's read data arriving alongside.
    s1_valid = Signal()
    s1_addr = Signal(range(acc_rows))
    s1_first = Signal()
    s1_emit = Signal()
    s1_last = Signal()
    s1_in = Signal(row_layout, reset_less=True)

    # The finishing pipeline (FP8: the rounding to binary32) moves as one, whenever its
    # output is free; with no finishing stages ``o`` comes straight from stage 1.
    finish_stages = arith.finish_latency
    advance = Signal()
    m.d.comb += advance.eq(~o.valid | o.ready)
    s1_ready = Signal()
    m.d.comb += s1_ready.eq(~s1_valid | ~s1_emit | advance)
    m.d.comb += i.ready.eq(s1_ready if accept is None else s1_ready & accept)
    fire = Signal()
    m.d.comb += fire.eq(i.valid & i.ready)
    m.d.comb += [read.addr.eq(addr), read.en.eq(fire)]
    with m.If(fire):
        m.d.sync += [
            s1_addr.eq(addr),
            s1_first.eq(first),
            s1_emit.eq(emit),
            s1_last.eq(i.payload.last),
            s1_in.eq(i.payload.data),
        ]
    with m.If(s1_ready):
        m.d.sync += s1_valid.eq(fire)

    # The first fold of a strip starts from zero instead of the SRAM's stale contents.
    stored = Signal(row_layout)
    with m.If(~s1_first):
        m.d.comb += stored.eq(read.data)
    total = Signal(row_layout)
    for c in range(config.cols):
        arith.psum_add(m, s1_in[c], stored[c], total[c])
    m.d.comb += [
        write.addr.eq(s1_addr),
        write.data.eq(total),
        write.en.eq(s1_valid & ~s1_emit),
    ]

    valid, last = s1_valid & s1_emit, s1_last
    for stage in range(finish_stages):
        valid_reg = Signal(name=f"finish_valid_{stage}")
        last_reg = Signal(name=f"finish_last_{stage}")
        with m.If(advance):
            m.d.sync += [valid_reg.eq(valid), last_reg.eq(last)]
        valid, last = valid_reg, last_reg
    m.d.comb += [o.valid.eq(valid), o.payload.last.eq(last)]
    for c in range(config.cols):
        arith.finish(m, total[c], o.payload.data[c], name=f"finish_{c}", advance=advance)
    return s1_ready, fire


def accumulator_latency(config):
    """Cycles from a row taken by an accumulator to its sum on ``o``: the read-modify-write
    stage, then the arithmetic's finishing stages (none for INT8, the two of the binary32
    rounding for FP8)."""
    return 1 + arithmetic_for(config).finish_latency


class FoldAccumulator(wiring.Component):
    """Adds the ``k_folds`` consecutive folds of each column strip row by row, in an SRAM of
    ``acc_rows`` rows, and emits each finished row; FP8 rows are rounded once to binary32 here.

    Input rows come from :class:`~hdl.array.SystolicArray` (``last`` ends a fold). Fold 0 of a
    strip writes its rows, later folds read-modify-write them (W-bit wrap for INT8; exact
    Kulisch sum and ORed flags for FP8), and the last fold sends the sums to ``o`` instead of
    the SRAM. One row per cycle; the read is transparent, so a one-row fold can follow itself.

    Parameters
    ----------
    config : ArrayConfig
    acc_rows : int
        SRAM rows: the largest M of a fold.

    Members
    -------
    i : In(stream.Signature(result_row_layout(config)))
    o : Out(stream.Signature(output_row_layout(config)))
    k_folds : In(range(1, MAX_K_FOLDS + 1))
        Folds per strip, ``ceil(K / rows)``; hold it steady while a GEMM runs.

    Latency: :attr:`latency` from ``i`` to ``o`` (:func:`accumulator_latency`).
    """

    def __init__(self, config, *, acc_rows):
        if not isinstance(acc_rows, int) or not 1 <= acc_rows <= MAX_ACC_ROWS:
            raise ValueError(f"acc_rows must be between 1 and {MAX_ACC_ROWS}, got {acc_rows!r}")
        self._config = config
        self._acc_rows = acc_rows
        super().__init__(
            {
                "i": In(stream.Signature(result_row_layout(config))),
                "o": Out(stream.Signature(output_row_layout(config))),
                "k_folds": In(range(MAX_K_FOLDS + 1), init=1),
            }
        )

    @property
    def latency(self):
        """Cycles from a row taken on ``i`` to its sum on ``o`` (:func:`accumulator_latency`)."""
        return accumulator_latency(self._config)

    def elaborate(self, platform):
        m = Module()
        row = Signal(range(self._acc_rows))
        fold = Signal(range(MAX_K_FOLDS))
        _, fire = _sum_stage(
            m,
            self._config,
            self._acc_rows,
            self.i,
            self.o,
            addr=row,
            first=fold == 0,
            emit=fold == self.k_folds - 1,
        )
        with m.If(fire):
            with m.If(self.i.payload.last):
                m.d.sync += row.eq(0)
                with m.If(fold == self.k_folds - 1):
                    m.d.sync += fold.eq(0)
                with m.Else():
                    m.d.sync += fold.eq(fold + 1)
            with m.Else():
                m.d.sync += row.eq(row + 1)
        return m


class TileAccumulator(wiring.Component):
    """Accumulates the folds of the tile loop in an SRAM of ``acc_rows`` rows, as told by one
    record per fold, and emits the finished rows; FP8 rows are rounded once to binary32 here.

    Input rows come from :class:`~hdl.array.SystolicArray` (``last`` ends a fold); the fold
    records (:func:`fold_layout`) come from the tile sequencer, one per fold in fold order.
    Row r of a fold goes to SRAM row ``acc_base + r``: a ``first`` fold starts from zero (the
    SRAM's contents are ignored), other folds add to the row (W-bit wrap for INT8; exact
    Kulisch sum and ORed flags for FP8). A fold without ``emit`` writes its sums back; an
    ``emit`` fold sends them to ``o`` instead (``o.last`` on the fold's last row) and leaves
    the SRAM as it was. No bias is added here.

    Timing: one row per cycle. A row of ``i`` is taken only while the fold's record is valid
    on ``folds``; the record is consumed (``folds.ready``) with the fold's last row. ``i``
    waits otherwise only while an emitted row waits on ``o``. The read is transparent, so a
    one-row fold can follow itself at the same SRAM row with no gap.

    Parameters
    ----------
    config : ArrayConfig
    acc_rows : int
        SRAM rows, 1 to 65536: ``golden.frontend.accumulator_rows(cols, frontend_config)``
        (``Tm * ceil(Tn / C)``). Every fold must satisfy ``acc_base + rows <= acc_rows``.

    Members
    -------
    i : In(stream.Signature(result_row_layout(config)))
    folds : In(stream.Signature(fold_layout(acc_rows)))
    o : Out(stream.Signature(output_row_layout(config)))

    Latency: :attr:`latency` from a row taken on ``i`` to its sum on ``o``
    (:func:`accumulator_latency`).

    Raises
    ------
    golden.errors.UsageValueError, golden.errors.UsageTypeError
        If ``acc_rows`` is not an integer from 1 to 65536.
    """

    def __init__(self, config, *, acc_rows):
        self._config = config
        self._acc_rows = check_int("acc_rows", acc_rows, 1, MAX_ACC_ROWS)
        super().__init__(
            {
                "i": In(stream.Signature(result_row_layout(config))),
                "folds": In(stream.Signature(fold_layout(self._acc_rows))),
                "o": Out(stream.Signature(output_row_layout(config))),
            }
        )

    @property
    def latency(self):
        """Cycles from a row taken on ``i`` to its sum on ``o`` (:func:`accumulator_latency`)."""
        return accumulator_latency(self._config)

    def elaborate(self, platform):
        m = Module()
        fold = self.folds.payload
        # The next row of `i` starts a fold: it goes to row acc_base, later rows count up
        # from there (an incrementer, no adder on the record's path).
        at_start = Signal(init=1)
        next_addr = Signal(range(self._acc_rows))
        addr = Signal(range(self._acc_rows))
        m.d.comb += addr.eq(Mux(at_start, fold.acc_base, next_addr))
        free, fire = _sum_stage(
            m,
            self._config,
            self._acc_rows,
            self.i,
            self.o,
            addr=addr,
            first=fold.first,
            emit=fold.emit,
            accept=self.folds.valid,
        )
        # Independent of folds.valid: the record transfers exactly when the last row does.
        m.d.comb += self.folds.ready.eq(self.i.valid & self.i.payload.last & free)
        with m.If(fire):
            m.d.sync += [at_start.eq(self.i.payload.last), next_addr.eq(addr + 1)]
        return m
