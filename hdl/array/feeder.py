"""Operand feeder: reads the A and B scratchpad banks tile by tile and drives the systolic
array's ``weights`` and ``acts`` streams, with one accumulator record per fold."""

from math import ceil

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.frontend import accumulator_rows
from hdl.array.accumulator import fold_layout
from hdl.array.layouts import act_row_layout, weight_row_layout
from hdl.ctrl.tiles import check_accelerator_shape, tile_layout

__all__ = ["OperandFeeder"]

#: Tile records held between the weight side (which runs ahead) and the activation side.
TILE_QUEUE_DEPTH = 4
#: Fold records waiting on ``folds``.
FOLD_QUEUE_DEPTH = 2


def _low_bits(value, bits):
    """``value mod 2^bits`` (a one-bit zero when ``bits`` is 0)."""
    return value[:bits] if bits else Const(0, 1)


class OperandFeeder(wiring.Component):
    """Streams the tiles of a GEMM from the A and B bank halves into the array, in the loop
    order of :func:`golden.frontend.tile_loop`.

    One record on ``tile`` per k-tile. For each strip ``s`` (C columns) and fold ``f`` (R
    rows of K) of the tile, the weight side sends R beats on ``weights`` (array row ``j`` gets
    B tile row ``f·R + j``, columns ``s·C … s·C + C − 1``) and one record on ``folds``
    (``acc_base = s·Tm``, ``first``, ``emit``); the activation side sends ``tm`` rows on
    ``acts`` (row ``m`` holds A tile row ``m``, ``k = f·R … f·R + R − 1``, ``last`` on row
    ``tm − 1``). Elements past ``tk`` or ``tn`` (whole weight rows past ``tk``) are sent as
    code 0 whatever the bank holds there. Bank layouts: A element ``(m, k)`` at row
    ``m·pitch_a + k // R``, B element ``(k, n)`` at row ``k·pitch_b + n // C``, with
    ``pitch_a = ceil(tk/W)·W/R`` and ``pitch_b = ceil(tn/W)·W/C`` (W bytes per bus beat).

    The two sides run on separate bank ports and meet only in the array. The weight side
    starts a tile once ``b_full[b_half]`` is set and releases the B half with the tile's last
    weight-row read; it runs ahead of the activations as far as the array takes weights (the
    next fold's, while a fold's activations flow). The activation side starts a tile once
    ``a_full[a_half]`` is set and the weight side has started the tile (its B half has
    landed), and releases the A half with the tile's last row read unless ``keep_a``. A fold
    record leaves when the fold's first weight row is read, and a fold's first activation row
    is offered only once its record has been taken, so ``folds`` always leads ``acts``.

    Timing: a bank read is issued in the cycle its output register is free or being taken
    (``rd_en`` depends combinationally on the stream's ``ready``), and its row is offered the
    next cycle (the bank's ``rd_data``, held, masked on the way out). With nothing stalling it
    the activation side offers one row per cycle, back to back across folds and tiles, and
    the weight side one beat per cycle, so the next fold's weights are in the array when its
    first row arrives whenever ``tm >= R``.

    Parameters
    ----------
    array_config : :class:`~hdl.config.ArrayConfig`
    frontend_config : :class:`~golden.frontend.FrontendConfig`
        ``rows`` and ``cols`` must divide its beat size W.

    Members
    -------
    tile : In(stream.Signature(tile_layout(frontend_config)))
        One record per k-tile in loop order; ``tm``, ``tn``, ``tk`` at least 1.
    act_unsigned : In(1)
        Copied into every activation row; hold it steady during a job.
    a_rd_en, a_rd_half, a_rd_row : Out
        Read port of the A bank (rows of R bytes, ``Tm·Tk/R`` rows per half).
    a_rd_data : In(8·R)
        The row read, the cycle after ``a_rd_en`` and held.
    a_full : In(2)
        Owner bits of the A bank.
    a_release, a_release_half : Out(1)
        Strobe that frees an A half.
    b_rd_en, b_rd_half, b_rd_row, b_rd_data, b_full, b_release, b_release_half
        The same for the B bank (rows of C bytes, ``Tk·Tn/C`` rows per half).
    weights : Out(stream.Signature(weight_row_layout(array_config)))
    acts : Out(stream.Signature(act_row_layout(array_config)))
    folds : Out(stream.Signature(fold_layout(acc_rows)))
        One record per fold, taken before or with the fold's first activation row;
        ``acc_rows = Tm·ceil(Tn/C)``.
    operand_wait : Out(1)
        The activation side holds a tile whose A half, or whose B half, has not landed yet.
    idle : Out(1)
        No tile queued or in progress and nothing offered.
    """

    def __init__(self, array_config, frontend_config):
        check_accelerator_shape(array_config, frontend_config)
        self._config = array_config
        self._frontend = frontend_config
        cfg, rows, cols = frontend_config, array_config.rows, array_config.cols
        self._acc_rows = accumulator_rows(cols, cfg)
        self._a_rows = cfg.tile_m * cfg.tile_k // rows
        self._b_rows = cfg.tile_k * cfg.tile_n // cols
        super().__init__(
            {
                "tile": In(stream.Signature(tile_layout(cfg))),
                "act_unsigned": In(1),
                "a_rd_en": Out(1),
                "a_rd_half": Out(1),
                "a_rd_row": Out(range(self._a_rows)),
                "a_rd_data": In(8 * rows),
                "a_full": In(2),
                "a_release": Out(1),
                "a_release_half": Out(1),
                "b_rd_en": Out(1),
                "b_rd_half": Out(1),
                "b_rd_row": Out(range(self._b_rows)),
                "b_rd_data": In(8 * cols),
                "b_full": In(2),
                "b_release": Out(1),
                "b_release_half": Out(1),
                "weights": Out(stream.Signature(weight_row_layout(array_config))),
                "acts": Out(stream.Signature(act_row_layout(array_config))),
                "folds": Out(stream.Signature(fold_layout(self._acc_rows))),
                "operand_wait": Out(1),
                "idle": Out(1),
            }
        )

    @property
    def config(self):
        return self._config

    @property
    def frontend_config(self):
        return self._frontend

    @property
    def acc_rows(self):
        """Accumulator rows the fold records address, ``Tm·ceil(Tn/C)``."""
        return self._acc_rows

    @property
    def a_rows(self):
        """Rows per A bank half, ``Tm·Tk/R``."""
        return self._a_rows

    @property
    def b_rows(self):
        """Rows per B bank half, ``Tk·Tn/C``."""
        return self._b_rows

    def elaborate(self, platform):
        m = Module()
        cfg = self._frontend
        rows, cols = self._config.rows, self._config.cols
        beat = cfg.beat_bytes
        # rows and cols divide the beat (a power of two), so they are powers of two too and
        # every product and quotient below is a shift.
        r_bits, c_bits, w_bits = (v.bit_length() - 1 for v in (rows, cols, beat))
        layout = tile_layout(cfg)

        def pitch(size, row_bits):
            """Bank rows per tile row: ``ceil(size / W)`` beats of ``W / 2^row_bits`` rows."""
            return ((size + beat - 1) >> w_bits) << (w_bits - row_bits)

        # --- tile queue: written from ``tile``, read by the weight side (pointer ``w_ptr``,
        # ahead) and the activation side (``a_ptr``, which frees the entry) -----------------
        ptr_bits = (2 * TILE_QUEUE_DEPTH - 1).bit_length()  # one wrap bit above the index
        index_bits = ptr_bits - 1
        entries = [
            Signal(layout.size, name=f"tile_entry{i}", reset_less=True)
            for i in range(TILE_QUEUE_DEPTH)
        ]
        wr_ptr = Signal(ptr_bits)
        w_ptr = Signal(ptr_bits)
        a_ptr = Signal(ptr_bits)
        queued = Signal(range(TILE_QUEUE_DEPTH + 1))
        m.d.comb += queued.eq((wr_ptr - a_ptr)[:ptr_bits])
        m.d.comb += self.tile.ready.eq(queued != TILE_QUEUE_DEPTH)
        with m.If(self.tile.valid & self.tile.ready):
            m.d.sync += Array(entries)[wr_ptr[:index_bits]].eq(self.tile.payload.as_value())
            m.d.sync += wr_ptr.eq(wr_ptr + 1)

        # --- weight side -------------------------------------------------------------------
        w_next = Signal(layout)  # the next tile to start
        m.d.comb += w_next.eq(Array(entries)[w_ptr[:index_bits]])
        w_busy = Signal()
        w_held = Signal(layout)  # the tile in progress, latched as it starts
        w_cur = Signal(layout)
        m.d.comb += w_cur.eq(Mux(w_busy, w_held, w_next))
        w_k = Signal(range(cfg.tile_k))  # B tile row f·R + j of the next read
        w_strip = Signal(range(ceil(cfg.tile_n / cols)))
        w_addr = Signal(range(self._b_rows))  # k·pitch_b + s
        w_acc = Signal(range(self._acc_rows))  # s·Tm
        w_ncol = Signal(range(cfg.tile_n + cols))
        m.d.comb += w_ncol.eq(w_strip << c_bits)
        w_row_first = _low_bits(w_k, r_bits) == 0
        w_row_last = _low_bits(w_k, r_bits) == rows - 1
        w_last_fold = w_k + 1 >= w_cur.tk  # on the fold's last row
        w_last_strip = w_ncol + cols >= w_cur.tn
        w_tile_end = w_row_last & w_last_fold & w_last_strip

        m.submodules.fold_queue = fold_queue = fifo.SyncFIFO(
            width=self.folds.payload.shape().size, depth=FOLD_QUEUE_DEPTH
        )
        fold_rec = Signal(self.folds.payload.shape())
        m.d.comb += [
            fold_rec.acc_base.eq(w_acc),
            fold_rec.first.eq(w_cur.first_k & (w_k == 0)),
            fold_rec.emit.eq(w_cur.last_k & (w_k + rows >= w_cur.tk)),
            fold_queue.w_data.eq(fold_rec.as_value()),
            self.folds.valid.eq(fold_queue.r_rdy),
            self.folds.payload.eq(fold_queue.r_data),
            fold_queue.r_en.eq(self.folds.ready),
        ]

        w_valid = Signal()  # weights offered: the bank's rd_data under w_mask
        w_mask = Signal(cols)
        w_free = ~w_valid | self.weights.ready
        w_has_tile = w_busy | ((w_ptr != wr_ptr) & self.b_full.bit_select(w_next.b_half, 1))
        w_issue = Signal()
        m.d.comb += w_issue.eq(w_has_tile & w_free & (~w_row_first | fold_queue.w_rdy))
        m.d.comb += [
            self.b_rd_en.eq(w_issue),
            self.b_rd_half.eq(w_cur.b_half),
            self.b_rd_row.eq(w_addr),
            fold_queue.w_en.eq(w_issue & w_row_first),
            self.b_release.eq(w_issue & w_tile_end),
            self.b_release_half.eq(w_cur.b_half),
        ]
        with m.If(w_free):
            m.d.sync += w_valid.eq(w_issue)
        with m.If(w_issue):
            # Rows past tk and columns past tn are zeroed: the bank holds whatever was there.
            lanes = Cat(*(w_ncol + c < w_cur.tn for c in range(cols)))
            m.d.sync += w_mask.eq(Mux(w_k < w_cur.tk, lanes, 0))
            with m.If(~w_busy):
                m.d.sync += [w_held.eq(w_next), w_ptr.eq(w_ptr + 1), w_busy.eq(1)]
            with m.If(~w_row_last | ~w_last_fold):
                # Row 0 of the next fold is the next B row, one pitch on like any other.
                m.d.sync += [w_k.eq(w_k + 1), w_addr.eq(w_addr + pitch(w_cur.tn, c_bits))]
            with m.Elif(~w_last_strip):
                m.d.sync += [
                    w_k.eq(0),
                    w_strip.eq(w_strip + 1),
                    w_addr.eq(w_strip + 1),
                    w_acc.eq(w_acc + cfg.tile_m),
                ]
            with m.Else():
                m.d.sync += [w_k.eq(0), w_strip.eq(0), w_addr.eq(0), w_acc.eq(0), w_busy.eq(0)]
        b_bytes = self.b_rd_data
        for c in range(cols):
            m.d.comb += self.weights.payload[c].eq(Mux(w_mask[c], b_bytes[8 * c : 8 * c + 8], 0))
        m.d.comb += self.weights.valid.eq(w_valid)

        # --- activation side ---------------------------------------------------------------
        a_cur = Signal(layout)
        m.d.comb += a_cur.eq(Array(entries)[a_ptr[:index_bits]])
        a_queued = a_ptr != wr_ptr
        b_landed = a_ptr != w_ptr  # the weight side has started this tile
        a_landed = self.a_full.bit_select(a_cur.a_half, 1)
        a_row = Signal(range(cfg.tile_m))  # m of the next read
        a_fold = Signal(range(ceil(cfg.tile_k / rows)))
        a_strip = Signal(range(ceil(cfg.tile_n / cols)))
        a_addr = Signal(range(self._a_rows))  # m·pitch_a + f
        a_kbase = Signal(range(cfg.tile_k + rows))
        a_ncol = Signal(range(cfg.tile_n + cols))
        m.d.comb += [a_kbase.eq(a_fold << r_bits), a_ncol.eq(a_strip << c_bits)]
        a_row_last = a_row + 1 >= a_cur.tm
        a_last_fold = a_kbase + rows >= a_cur.tk
        a_last_strip = a_ncol + cols >= a_cur.tn
        a_tile_end = a_row_last & a_last_fold & a_last_strip

        # Fold records taken on ``folds`` whose first activation row has not been taken yet.
        credit = Signal(range(2 * FOLD_QUEUE_DEPTH + 4))
        a_valid = Signal()  # a row is in the bank's rd_data
        a_mask = Signal(rows)
        a_first = Signal()
        a_last = Signal()
        m.d.comb += self.acts.valid.eq(a_valid & (~a_first | (credit != 0)))
        acts_fire = self.acts.valid & self.acts.ready
        a_free = ~a_valid | acts_fire
        a_issue = Signal()
        m.d.comb += a_issue.eq(a_queued & b_landed & a_landed & a_free)
        m.d.comb += [
            self.a_rd_en.eq(a_issue),
            self.a_rd_half.eq(a_cur.a_half),
            self.a_rd_row.eq(a_addr),
            self.a_release.eq(a_issue & a_tile_end & ~a_cur.keep_a),
            self.a_release_half.eq(a_cur.a_half),
        ]
        m.d.sync += credit.eq(
            credit + (self.folds.valid & self.folds.ready) - (acts_fire & a_first)
        )
        with m.If(a_free):
            m.d.sync += a_valid.eq(a_issue)
        with m.If(a_issue):
            m.d.sync += [
                a_mask.eq(Cat(*(a_kbase + r < a_cur.tk for r in range(rows)))),
                a_first.eq(a_row == 0),
                a_last.eq(a_row_last),
            ]
            with m.If(~a_row_last):
                m.d.sync += [a_row.eq(a_row + 1), a_addr.eq(a_addr + pitch(a_cur.tk, r_bits))]
            with m.Elif(~a_last_fold):
                m.d.sync += [a_row.eq(0), a_fold.eq(a_fold + 1), a_addr.eq(a_fold + 1)]
            with m.Elif(~a_last_strip):
                m.d.sync += [a_row.eq(0), a_fold.eq(0), a_strip.eq(a_strip + 1), a_addr.eq(0)]
            with m.Else():
                m.d.sync += [
                    a_row.eq(0),
                    a_fold.eq(0),
                    a_strip.eq(0),
                    a_addr.eq(0),
                    a_ptr.eq(a_ptr + 1),
                ]
        a_bytes = self.a_rd_data
        for r in range(rows):
            m.d.comb += self.acts.payload.data[r].eq(Mux(a_mask[r], a_bytes[8 * r : 8 * r + 8], 0))
        m.d.comb += [
            self.acts.payload.act_unsigned.eq(self.act_unsigned),
            self.acts.payload.last.eq(a_last),
        ]

        m.d.comb += [
            self.operand_wait.eq(
                a_queued & (~a_landed | (~b_landed & ~self.b_full.bit_select(a_cur.b_half, 1)))
            ),
            self.idle.eq(~a_queued & ~w_busy & ~w_valid & ~a_valid & ~fold_queue.r_rdy),
        ]
        return m
