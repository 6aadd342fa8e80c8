"""Accumulator SRAM: sums the partial sums of the K folds of a column strip, then emits them."""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hdl.arith import arithmetic_for
from hdl.array.layouts import result_row_layout

MAX_K_FOLDS = 1 << 16


def output_row_layout(config):
    """A finished output row: C W-bit integers (INT8) or C binary32 patterns (FP8)."""
    elem = arithmetic_for(config).output_shape
    return data.StructLayout({"data": data.ArrayLayout(elem, config.cols), "last": unsigned(1)})


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

    Latency: :attr:`latency` (one cycle) from ``i`` to ``o``.
    """

    #: Cycles from a row accepted on ``i`` to its sum on ``o`` (the read-modify-write stage).
    latency = 1

    def __init__(self, config, *, acc_rows):
        if not isinstance(acc_rows, int) or not 1 <= acc_rows <= 65536:
            raise ValueError(f"acc_rows must be between 1 and 65536, got {acc_rows!r}")
        self._config = config
        self._acc_rows = acc_rows
        super().__init__(
            {
                "i": In(stream.Signature(result_row_layout(config))),
                "o": Out(stream.Signature(output_row_layout(config))),
                "k_folds": In(range(MAX_K_FOLDS + 1), init=1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        arith = arithmetic_for(cfg)
        row_layout = data.ArrayLayout(arith.psum_shape, cfg.cols)

        m.submodules.sums = sums = Memory(shape=row_layout, depth=self._acc_rows, init=[])
        write = sums.write_port()
        read = sums.read_port(transparent_for=(write,))

        row = Signal(range(self._acc_rows))
        fold = Signal(range(MAX_K_FOLDS))

        # Stage 1: the row being summed, with the SRAM's read data arriving alongside.
        s1_valid = Signal()
        s1_row = Signal.like(row)
        s1_first = Signal()
        s1_emit = Signal()
        s1_last = Signal()
        s1_in = Signal(row_layout, reset_less=True)

        s1_ready = ~s1_valid | ~s1_emit | self.o.ready
        m.d.comb += self.i.ready.eq(s1_ready)
        fire = self.i.valid & self.i.ready
        m.d.comb += [read.addr.eq(row), read.en.eq(fire)]
        with m.If(fire):
            m.d.sync += [
                s1_row.eq(row),
                s1_first.eq(fold == 0),
                s1_emit.eq(fold == self.k_folds - 1),
                s1_last.eq(self.i.payload.last),
                s1_in.eq(self.i.payload.data),
            ]
            with m.If(self.i.payload.last):
                m.d.sync += row.eq(0)
                with m.If(fold == self.k_folds - 1):
                    m.d.sync += fold.eq(0)
                with m.Else():
                    m.d.sync += fold.eq(fold + 1)
            with m.Else():
                m.d.sync += row.eq(row + 1)
        with m.If(s1_ready):
            m.d.sync += s1_valid.eq(fire)

        # The first fold of a strip starts from zero instead of the SRAM's stale contents.
        stored = Signal(row_layout)
        with m.If(~s1_first):
            m.d.comb += stored.eq(read.data)
        total = Signal(row_layout)
        for c in range(cfg.cols):
            arith.psum_add(m, s1_in[c], stored[c], total[c])
        m.d.comb += [
            write.addr.eq(s1_row),
            write.data.eq(total),
            write.en.eq(s1_valid & ~s1_emit),
        ]

        m.d.comb += [self.o.valid.eq(s1_valid & s1_emit), self.o.payload.last.eq(s1_last)]
        for c in range(cfg.cols):
            arith.finish(m, total[c], self.o.payload.data[c], name=f"finish_{c}")
        return m
