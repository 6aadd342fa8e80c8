"""The quantised attention tile (docs/numerics.md §4): ``S = Q·Kᵀ`` and ``O_acc = P·V`` on one
shared weight-stationary array, the integer softmax and the deferred normalisation."""

from math import ceil
from typing import NamedTuple

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.attention import EXP_BITS, P_BITS
from golden.errors import UsageValueError, check_int
from golden.formats import int8_acc_width
from golden.requant import MULT_MAX, SHIFT_MAX, SHIFT_MIN
from hdl.arith import arithmetic_for
from hdl.array.array import SystolicArray, array_latency
from hdl.attention.layouts import out_beat_layout, reciprocal_layout
from hdl.attention.normalizer import DivRhuNormalizer
from hdl.attention.reciprocal import RowReciprocal
from hdl.attention.softmax import LK_MAX, SoftmaxRow
from hdl.config import ArrayConfig

#: Tile modes (``params.mode`` is the index): the whole key row in one tile (§4.1), one key
#: block of a longer row with the row max given (§4.3, pre-loaded max), or one key block with
#: the running max and the α rescale (§4.3, online).
TILE_MODES = ("single", "preload", "online")
_SINGLE, _PRELOAD, _ONLINE = range(len(TILE_MODES))
#: Largest ``max_lq``, ``max_d`` and ``max_dv`` the generator accepts.
MAX_TILE_DIM = 4096
#: Largest ``max_lk`` (keys of one tile).
MAX_TILE_LK = 1 << 16

#: Phases of a tile, in order (the values of :attr:`AttentionTile.phase`).
TILE_PHASES = ("idle", "load", "qk", "softmax", "pv", "norm")
_IDLE, _LOAD, _QK, _SOFTMAX, _PV, _NORM = range(len(TILE_PHASES))


def operand_layout(lanes):
    """One beat of Q, K or V: ``lanes`` int8 values (a chunk of a row)."""
    return data.ArrayLayout(signed(8), lanes)


def params_layout(*, max_lq, max_lk, max_d, max_dv, max_lk_total=None):
    """The tile's parameter beat, latched when a tile starts.

    Fields: ``lq``, ``lk``, ``d``, ``dv`` (sizes, each from 1 to its maximum);
    ``scale_mult``, ``scale_shift`` (Me, ne) and ``out_mult``, ``out_shift``, ``out_zp``
    (Mo, no, z_o) as for ``golden.attention.attention_tile``; ``causal`` and
    ``causal_offset`` (the absolute position of query row 0: key j is valid for row i iff
    ``j ≤ i + causal_offset``); ``key_pad``, the padding keys at the end of the row (keys
    ``j ≥ lk − key_pad`` are invalid); ``mode``, an index into :data:`TILE_MODES` (0
    ``single``, 1 ``preload``, 2 ``online``; 3 is reserved); ``first_block`` and
    ``last_block`` (``preload`` and ``online`` only) mark the first and the last key block of
    a row.

    ``causal_offset`` spans ``±2·max(max_lq, max_lk_total)``; an offset past ``lk − 1``
    shows every key and one below ``−lq`` none, so a caller may clamp to ``[−lq, lk]``.
    """
    max_lk_total = max_lk if max_lk_total is None else max_lk_total
    span = max(max_lq, max_lk_total)
    return data.StructLayout(
        {
            "lq": unsigned(max_lq.bit_length()),
            "lk": unsigned(max_lk.bit_length()),
            "d": unsigned(max_d.bit_length()),
            "dv": unsigned(max_dv.bit_length()),
            "scale_mult": unsigned(MULT_MAX.bit_length()),
            "scale_shift": range(SHIFT_MIN, SHIFT_MAX + 1),
            "out_mult": unsigned(MULT_MAX.bit_length()),
            "out_shift": range(SHIFT_MIN, SHIFT_MAX + 1),
            "out_zp": signed(8),
            "causal": unsigned(1),
            "causal_offset": signed(span.bit_length() + 2),
            "key_pad": unsigned(max_lk.bit_length()),
            "mode": unsigned(2),
            "first_block": unsigned(1),
            "last_block": unsigned(1),
        }
    )


def _ceil_div(value, divisor):
    # A constant divisor: a shift when it is a power of two.
    if divisor & (divisor - 1) == 0:
        return (value + divisor - 1) >> (divisor.bit_length() - 1)
    return (value + divisor - 1) // Const(divisor)


class _FoldWalk(NamedTuple):
    strip: Signal
    chunk: Signal
    row: Signal
    base: Signal
    pass_: Signal
    last: Signal


def _fold_walk(
    m, name, *, start, step, lq, n_chunks, n_strips, two_pass, row_stride, max_lq, max_strips,
    max_chunks, max_base=None,
):  # fmt: skip
    """The position in a product's fold order, one row per ``step``: strips outermost, then
    chunks (twice over with ``two_pass``: the PB = 16 passes), then the Lq rows of a fold;
    ``base`` is the row's address offset (``row · row_stride``). ``start`` rewinds it;
    ``last`` is high in the step that takes the product's last row. The activation feeder
    and the result side walk the same order."""
    max_base = max_lq * max_chunks if max_base is None else max_base
    walk = _FoldWalk(
        strip=Signal(range(max_strips), name=f"{name}_strip"),
        chunk=Signal(range(max_chunks), name=f"{name}_chunk"),
        row=Signal(range(max_lq), name=f"{name}_row"),
        base=Signal(range(max_base + 1), name=f"{name}_base"),
        pass_=Signal(name=f"{name}_pass"),
        last=Signal(name=f"{name}_last"),
    )
    with m.If(start):
        m.d.sync += [walk.strip.eq(0), walk.chunk.eq(0), walk.pass_.eq(0), walk.row.eq(0),
                     walk.base.eq(0)]  # fmt: skip
    with m.Elif(step):
        end_fold = walk.row == lq - 1
        end_chunks = end_fold & (walk.chunk == n_chunks - 1)
        end_strip = end_chunks & (walk.pass_ | ~two_pass)
        m.d.sync += [
            walk.row.eq(Mux(end_fold, 0, walk.row + 1)),
            walk.base.eq(Mux(end_fold, 0, walk.base + row_stride)),
        ]
        with m.If(end_fold):
            m.d.sync += walk.chunk.eq(Mux(end_chunks, 0, walk.chunk + 1))
        with m.If(end_chunks):
            m.d.sync += walk.pass_.eq(~end_strip)
        with m.If(end_strip):
            m.d.sync += walk.strip.eq(walk.strip + 1)
        m.d.comb += walk.last.eq(end_strip & (walk.strip == n_strips - 1))
    return walk


class AttentionTile(wiring.Component):
    """One quantised attention tile, bit-exact to ``golden.attention.attention_tile`` (modes
    ``single``, ``preload`` and ``online``, PB = 8 or 16, F = 6): int8 O [Lq×dv] from int8
    Q [Lq×d], K [Lk×d], V [Lk×dv].

    **Modes** (``params.mode``). ``single``: the whole key row in one tile (Lk ≤ ``max_lk``).
    ``preload``: a row of up to ``max_lk_total`` keys as consecutive tiles (key blocks of up
    to ``max_lk`` keys, ``first_block`` on the first, ``last_block`` on the last), each with
    the same Q and the row maxima on ``row_max``; the softmax takes the given max (no row
    buffer pass), O_acc and L add up over the blocks in the tile, and only the last block
    divides and sends O. The result equals the single tile's bit for bit (§4.3). The caller
    gives each block its own ``lk``, ``key_pad`` and block-relative ``causal_offset``.
    ``online``: key blocks as in ``preload``, with no ``row_max``: each block's softmax takes
    the row buffer pass of ``single`` with the row's running max (kept per query row in the
    tile from block to block) as one more candidate, so P is taken against the max of the
    keys seen so far; when the max grows, the row's stored L and O_acc are rescaled by
    ``α = exp_core(u(m') − u(m))`` with ``(x·α + 2^14) >> 15`` before the block's sums are
    added, as ``golden.attention.attention_tile(..., mode="online", block=B_c)`` does for
    blocks of the caller's sizes. The rescale costs no cycles: L is rescaled as the block's
    L is added, and O_acc in the accumulator's read-modify-write of the block's first P·V
    chunk (a rescale by α = 2^15, when the max did not grow, is the identity). Blocks or rows
    with no valid key leave the state as it is.

    **Phases** (one tile at a time; a tile starts when a beat is taken on ``params``):

    1. *Load.* Q and K rows are written into their buffers (K into ``cols`` banks, key j
       into bank ``j mod cols``, so that a weight beat reads one element of ``cols`` keys);
       V rows load from the start of the tile until ``P·V`` needs them.
    2. *Q·Kᵀ.* The array holds Kᵀ (``ceil(d/R)·ceil(Lk/C)`` folds, strip by strip, R beats
       of C keys each) while the Lq rows of Q stream through; each fold's results are added
       into the accumulator SRAM at ``i·ceil(Lk/C) + strip``, so S ends up row-major.
    3. *Softmax.* S streams row by row, with the causal and padding valid bits, into
       :class:`~hdl.attention.softmax.SoftmaxRow` (single-tile mode: the row max from its
       two-bank row buffer); P goes to the P buffer, L into a FIFO. From there
       ``reciprocal_units`` :class:`~hdl.attention.reciprocal.RowReciprocal` units take the
       rows in turn (33 cycles each) and queue each row's reciprocal, while P·V runs.
    4. *P·V.* The array holds V (``ceil(Lk/R)·ceil(dv/C)`` folds) while the rows of P stream
       as uint8 activations; O_acc is summed in the same SRAM at ``i·ceil(dv/C) + strip``.
    5. *Normalise.* O_acc streams row by row, with the row's reciprocal, into
       :class:`~hdl.attention.normalizer.DivRhuNormalizer` (one beat per cycle, rows back
       to back); its int8 beats leave on ``o``. A preload block other than the last ends
       after phase 4.

    The accumulator SRAM (``max_lq·(ceil(max_lk/C) + ceil(max_dv/C))`` rows of C sums) holds
    S and O_acc; Q (``max_lq·ceil(max_d/R)`` beats), K (``max_lk·ceil(max_d/R)``),
    V (``max_lk·ceil(max_dv/C)``) and P (``max_lq·ceil(max_lk/C)`` beats of C bytes) each
    have a buffer. A fully masked row gives ``out_zp`` (L = 0).

    Parameters
    ----------
    rows, cols : int
        The array, R × C; the tile needs R = C (a P beat of C keys is a fold's activation
        chunk of R keys), 1 to 128.
    max_lq, max_d, max_dv : int
        Largest Lq, d and dv, 1 to 4096.
    max_lk : int
        Largest Lk of one tile (key block), 1 to 65536.
    max_lk_total : int or None
        Longest row over all key blocks in preload and online modes, ``max_lk`` (the
        default) to 2^20: the widths of L and O_acc.
    p_bits : int
        PB, 8 (default) or 16 (§4.4: P buffered as 16 bits, P·V as two uint8 passes over
        the same V, the high one added shifted by 8; twice the P·V time).
    reciprocal_units : int
        Row reciprocal units, 1 to 8 (default 2): with U units the reciprocals keep up with
        rows of ``nk`` beats when ``33/U ≤`` the P·V time per row.
    pe_module : str or None
        As for :class:`~hdl.array.SystolicArray`.

    Members
    -------
    params : In(stream.Signature(params_layout(...)))
        One beat per tile (see :func:`params_layout`), taken only while the tile is idle.
        Sizes and shifts out of range give undefined results.
    q : In(stream.Signature(operand_layout(rows)))
        Lq rows of Q, each ``ceil(d/R)`` beats (lanes past d are ignored); taken from the
        cycle after ``params`` until all are in.
    k : In(stream.Signature(operand_layout(rows)))
        Lk rows of K, each ``ceil(d/R)`` beats; taken like Q. Q·Kᵀ starts when Q and K are in.
    v : In(stream.Signature(operand_layout(cols)))
        Lk rows of V, each ``ceil(dv/C)`` beats (lanes past dv are ignored); taken from the
        cycle after ``params`` on, through Q·Kᵀ and the softmax; P·V waits for the last.
    row_max : In(stream.Signature(signed(int8_acc_width(max_d))))
        Preload mode only (not taken in the other modes): Lq beats per tile, the largest
        valid score S of each query row over the whole row (any value for a row with no
        valid key); taken like Q.
    o : Out(stream.Signature(out_beat_layout(cols=cols)))
        Lq rows of O, each ``ceil(dv/C)`` beats, ``last`` on a row's final beat; lanes past
        dv are undefined.
    busy : Out(1)
        A tile is in flight (``params`` is not taken).

    The attribute :attr:`phase` (not a port) is the phase register, for testbenches.
    The ``sync`` domain's reset returns the tile to idle from any phase (buffers keep their
    contents; every count and flag restarts), ready for a fresh tile.

    Timing with no stalls: :meth:`cycles` (``golden.perf.attention_cycles``) from the cycle
    the ``params`` beat is taken to the cycle the last ``o`` beat is taken, inclusive, with
    Q, K, V (and the row maxima) offered from that cycle on; for a preload or online block
    before the last, to the cycle the next block's ``params`` beat can be taken.
    """

    def __init__(
        self,
        *,
        rows,
        cols,
        max_lq=128,
        max_lk=512,
        max_d=128,
        max_dv=128,
        max_lk_total=None,
        p_bits=8,
        reciprocal_units=2,
        pe_module=None,
    ):
        rows, cols = check_tile_array(rows, cols)
        self._max_lq = check_int("max_lq", max_lq, 1, MAX_TILE_DIM)
        self._max_lk = check_int("max_lk", max_lk, 1, MAX_TILE_LK)
        self._max_d = check_int("max_d", max_d, 1, MAX_TILE_DIM)
        self._max_dv = check_int("max_dv", max_dv, 1, MAX_TILE_DIM)
        self._max_lk_total = (
            max_lk
            if max_lk_total is None
            else check_int("max_lk_total", max_lk_total, max_lk, LK_MAX)
        )
        self._reciprocal_units = check_int("reciprocal_units", reciprocal_units, 1, 8)
        if isinstance(p_bits, bool) or p_bits not in P_BITS:
            raise UsageValueError(
                f"p_bits must be one of {', '.join(map(str, P_BITS))}, got {p_bits!r}",
                parameter="p_bits",
            )
        self._p_bits = p_bits
        self._config = tile_array_config(rows, cols, max_d=max_d, max_lk=self._max_lk_total)
        self._pe_module = pe_module
        self._phase = Signal(range(len(TILE_PHASES)), name="phase")
        self._array_fire = Signal(name="array_fire")
        self._params_layout = params_layout(
            max_lq=max_lq,
            max_lk=max_lk,
            max_d=max_d,
            max_dv=max_dv,
            max_lk_total=self._max_lk_total,
        )
        super().__init__(
            {
                "params": In(stream.Signature(self._params_layout)),
                "q": In(stream.Signature(operand_layout(rows))),
                "k": In(stream.Signature(operand_layout(rows))),
                "v": In(stream.Signature(operand_layout(cols))),
                "row_max": In(stream.Signature(signed(int8_acc_width(max_d)))),
                "o": Out(stream.Signature(out_beat_layout(cols=cols))),
                "busy": Out(1),
            }
        )

    @property
    def phase(self):
        """The phase register (an index into :data:`TILE_PHASES`), for testbenches."""
        return self._phase

    @property
    def array_fire(self):
        """High in each cycle an activation row enters the shared array (not a port: for a
        parent's performance counters and for testbenches)."""
        return self._array_fire

    @property
    def config(self):
        """The shared array's :class:`~hdl.config.ArrayConfig`."""
        return self._config

    @property
    def max_lq(self):
        return self._max_lq

    @property
    def max_lk(self):
        return self._max_lk

    @property
    def max_d(self):
        return self._max_d

    @property
    def max_dv(self):
        return self._max_dv

    @property
    def p_bits(self):
        return self._p_bits

    @property
    def max_lk_total(self):
        return self._max_lk_total

    @property
    def score_width(self):
        """Width of S: ``int8_acc_width(max_d)``."""
        return int8_acc_width(self._max_d)

    def check_shape(self, lq, lk, d, dv):
        """Refuse a tile shape this generator cannot run (:func:`check_tile_shape`)."""
        limits = (self._max_lq, self._max_lk, self._max_d, self._max_dv)
        check_tile_shape(limits, lq, lk, d, dv)

    def cycles(self, lq, lk, d, dv, *, mode="single", last_block=True):
        """Exact cycles of one tile (one key block in ``preload`` and ``online`` modes) with
        no stalls (:func:`tile_cycles`)."""
        self.check_shape(lq, lk, d, dv)
        return tile_cycles(
            self._config,
            lq,
            lk,
            d,
            dv,
            mode=mode,
            last_block=last_block,
            p_bits=self._p_bits,
            reciprocal_units=self._reciprocal_units,
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols = cfg.rows, cfg.cols
        max_lq, max_lk = self._max_lq, self._max_lk
        nd_max = ceil(self._max_d / rows)
        nk_max = ceil(max_lk / cols)
        nv_max = ceil(self._max_dv / cols)
        arith = arithmetic_for(cfg)

        m.submodules.array = array = SystolicArray(cfg, pe_module=self._pe_module)
        m.d.comb += self._array_fire.eq(array.acts.valid & array.acts.ready)
        m.submodules.softmax = softmax = SoftmaxRow(
            cols=cols,
            score_width=self.score_width,
            max_beats=nk_max,
            lk_max=max_lk,
            p_bits=self._p_bits,
            online=True,
        )
        # L and O_acc of a whole row: all its key blocks in preload and online modes.
        m.submodules.normalizer = norm = DivRhuNormalizer(
            cols=cols, lk_max=self._max_lk_total, p_bits=self._p_bits, reciprocal_in=True
        )
        l_width = norm.l_width
        units = self._reciprocal_units
        recips = []
        for u in range(units):
            recips.append(RowReciprocal(l_width=l_width))
            m.submodules[f"reciprocal{u}"] = recips[u]
        # One entry per query row: every L (reciprocal) of a tile may wait for its row.
        m.submodules.l_fifo = l_fifo = fifo.SyncFIFOBuffered(width=l_width, depth=max(max_lq, 2))
        r_layout = reciprocal_layout(l_width=l_width)
        m.submodules.r_fifo = r_fifo = fifo.SyncFIFOBuffered(
            width=r_layout.size, depth=max(max_lq, 2)
        )

        # --- parameters, latched at the start of a tile -------------------------------------
        phase = self._phase
        par = Signal(self._params_layout)
        nd = Signal(range(nd_max + 1))  # chunks of d per Q/K row
        nk = Signal(range(nk_max + 1))  # beats of C keys per S/P row (= chunks of R keys)
        nv = Signal(range(nv_max + 1))  # beats of C values per V/O row
        lk_valid = Signal(range(max_lk + 1))  # keys before the padding
        m.d.comb += [self.params.ready.eq(phase == _IDLE), self.busy.eq(phase != _IDLE)]
        start = self.params.valid & self.params.ready
        pin = self.params.payload
        with m.If(start):
            m.d.sync += [
                par.eq(pin),
                nd.eq(_ceil_div(pin.d, rows)),
                nk.eq(_ceil_div(pin.lk, cols)),
                nv.eq(_ceil_div(pin.dv, cols)),
                lk_valid.eq(Mux(pin.key_pad > pin.lk, 0, pin.lk - pin.key_pad)),
                phase.eq(_LOAD),
            ]
        # Preload mode: the row max comes in on row_max. Online mode: the running max of each
        # row stays in max_buf from block to block. In both the block's O_acc and L add to the
        # earlier blocks' unless it is the first, and only the last block divides.
        preload = par.mode == _PRELOAD
        online = par.mode == _ONLINE
        blocks = preload | online
        first_block = ~blocks | par.first_block
        last_block = ~blocks | par.last_block
        m.d.comb += [
            softmax.scale_mult.eq(par.scale_mult),
            softmax.scale_shift.eq(par.scale_shift),
            softmax.preload.eq(preload),
            softmax.online.eq(online),
            norm.out_mult.eq(par.out_mult),
            norm.out_shift.eq(par.out_shift),
            norm.out_zp.eq(par.out_zp),
        ]

        # --- operand buffers and their loaders ------------------------------------------------
        chunk = data.ArrayLayout(unsigned(8), rows)
        vbeat = data.ArrayLayout(unsigned(8), cols)
        m.submodules.q_buf = q_buf = Memory(shape=chunk, depth=max_lq * nd_max, init=[])
        m.submodules.v_buf = v_buf = Memory(shape=vbeat, depth=max_lk * nv_max, init=[])
        p_beat = data.ArrayLayout(unsigned(self._p_bits), cols)
        m.submodules.p_buf = p_buf = Memory(shape=p_beat, depth=max_lq * nk_max, init=[])
        k_bufs = []
        for c in range(cols):
            k_bufs.append(Memory(shape=chunk, depth=nk_max * nd_max, init=[]))
            m.submodules[f"k_buf{c}"] = k_bufs[c]

        def loader(name, port, lanes, per_row, lane_limit, nrows):
            """Count the beats of ``nrows`` rows of ``per_row`` beats on ``port``; return
            (a beat is taken, it ends a row, every row is in, the payload with lanes past
            ``lane_limit`` zeroed)."""
            beat = Signal(range(max(nd_max, nv_max) + 1), name=f"{name}_beat")
            row = Signal(range(max(max_lq, max_lk) + 1), name=f"{name}_row")
            lane0 = Signal(range(max(self._max_d, self._max_dv) + lanes + 1), name=f"{name}_lane0")
            done = Signal(name=f"{name}_done")
            fire = port.valid & port.ready
            with m.If(start):
                m.d.sync += [beat.eq(0), row.eq(0), lane0.eq(0), done.eq(0)]
            with m.Elif(fire):
                with m.If(beat == per_row - 1):
                    m.d.sync += [beat.eq(0), lane0.eq(0), row.eq(row + 1)]
                    with m.If(row == nrows - 1):
                        m.d.sync += done.eq(1)
                with m.Else():
                    m.d.sync += [beat.eq(beat + 1), lane0.eq(lane0 + lanes)]
            # Lanes past d (dv) are stored as zeros, so whatever the producer sends there
            # never reaches a sum.
            clean = Signal(data.ArrayLayout(unsigned(8), lanes), name=f"{name}_clean")
            for j in range(lanes):
                m.d.comb += clean[j].eq(Mux(lane0 + j < lane_limit, port.payload[j], 0))
            return fire, beat == per_row - 1, done, clean

        # Row maxima: preload mode, one score per query row in the load phase; online mode, the
        # running max of each row, written with the row's L.
        m.submodules.max_buf = max_buf = Memory(
            shape=signed(self.score_width), depth=max_lq, init=[]
        )
        max_w = max_buf.write_port()
        m_addr = Signal(range(max_lq + 1))
        m_done = Signal()
        m.d.comb += self.row_max.ready.eq((phase == _LOAD) & preload & ~m_done)
        m_fire = self.row_max.valid & self.row_max.ready
        max_online = Signal()  # online: the softmax's running max of a row goes in
        max_online_addr = Signal(range(max_lq + 1))
        m.d.comb += [
            max_w.addr.eq(Mux(online, max_online_addr, m_addr)),
            max_w.data.eq(Mux(online, softmax.row_m, self.row_max.payload)),
            max_w.en.eq(Mux(online, max_online, m_fire)),
        ]
        with m.If(start):
            m.d.sync += [m_addr.eq(0), m_done.eq(0)]
        with m.Elif(m_fire):
            m.d.sync += m_addr.eq(m_addr + 1)
            with m.If(m_addr == par.lq - 1):
                m.d.sync += m_done.eq(1)

        loading = (phase == _LOAD) | (phase == _QK) | (phase == _SOFTMAX)
        # Q and K load in the load phase only (Q·Kᵀ reads them); V until P·V starts.
        q_fire, _, q_done, q_clean = loader("q", self.q, rows, nd, par.d, par.lq)
        k_fire, k_row_end, k_done, k_clean = loader("k", self.k, rows, nd, par.d, par.lk)
        v_fire, _, v_done, v_clean = loader("v", self.v, cols, nv, par.dv, par.lk)
        m.d.comb += [
            self.q.ready.eq((phase == _LOAD) & ~q_done),
            self.k.ready.eq((phase == _LOAD) & ~k_done),
            self.v.ready.eq(loading & ~v_done),
        ]
        q_addr = Signal(range(max_lq * nd_max))
        v_addr = Signal(range(max_lk * nv_max))
        k_base = Signal(range(nk_max * nd_max + 1))  # (key div C)·nd
        k_addr = Signal(range(nk_max * nd_max))  # k_base + chunk
        k_bank = Signal(range(cols))
        with m.If(start):
            m.d.sync += [q_addr.eq(0), v_addr.eq(0), k_addr.eq(0), k_base.eq(0), k_bank.eq(0)]
        with m.If(q_fire):
            m.d.sync += q_addr.eq(q_addr + 1)
        with m.If(v_fire):
            m.d.sync += v_addr.eq(v_addr + 1)
        with m.If(k_fire):
            # Key j goes to bank j mod C at (j div C)·nd + chunk.
            with m.If(k_row_end & (k_bank == cols - 1)):
                m.d.sync += [k_bank.eq(0), k_base.eq(k_base + nd), k_addr.eq(k_base + nd)]
            with m.Elif(k_row_end):
                m.d.sync += [k_bank.eq(k_bank + 1), k_addr.eq(k_base)]
            with m.Else():
                m.d.sync += k_addr.eq(k_addr + 1)
        q_w = q_buf.write_port()
        v_w = v_buf.write_port()
        m.d.comb += [
            q_w.addr.eq(q_addr),
            q_w.data.eq(q_clean),
            q_w.en.eq(q_fire),
            v_w.addr.eq(v_addr),
            v_w.data.eq(v_clean),
            v_w.en.eq(v_fire),
        ]
        for c in range(cols):
            k_w = k_bufs[c].write_port()
            m.d.comb += [
                k_w.addr.eq(k_addr),
                k_w.data.eq(k_clean),
                k_w.en.eq(k_fire & (k_bank == c)),
            ]

        # --- fold sequencing shared by Q·Kᵀ and P·V -----------------------------------------
        # Q·Kᵀ: strips of C keys (nk), chunks of R of d (nd). P·V: strips of C of dv (nv),
        # chunks of R keys (nk). Strips outermost, then chunks.
        pv = phase == _PV
        n_strips = Mux(pv, nv, nk)
        n_chunks = Mux(pv, nk, nd)
        # PB = 16: each strip of P·V runs its chunks twice, P's low bytes, then its high
        # bytes (§4.4: two uint8 passes over the same V); the high pass adds its sums << 8.
        two_pass = pv & (self._p_bits == 16)
        go_qk = Signal()  # one-cycle pulses: the feeders and the accumulator start
        go_pv = Signal()
        go = go_qk | go_pv

        # Weight feeder: R beats per fold. Q·Kᵀ: beat r of fold (s, kc) is element r of the
        # chunk kc of keys s·C … s·C+C−1 (the C K banks at s·nd + kc). P·V: beat r is row
        # kc·R + r of V, strip s (v_buf at (kc·R + r)·nv + s).
        w_run = Signal()
        w_strip = Signal(range(max(nk_max, nv_max)))
        w_chunk = Signal(range(max(nk_max, nd_max)))
        w_beat = Signal(range(rows))
        w_base = Signal(range(max(nk_max * nd_max, max_lk * nv_max + rows * nv_max) + 1))
        w_key = Signal(range(max_lk + rows * cols + 1))  # Q·Kᵀ: s·C; P·V: kc·R + r
        w_ovalid = Signal()
        w_tag_beat = Signal(range(rows))
        w_tag_mask = Signal(cols)
        w_ready = ~w_ovalid | array.weights.ready
        w_take = w_run & w_ready
        w_pass = Signal()
        with m.If(go):
            m.d.sync += [
                w_run.eq(1),
                w_strip.eq(0),
                w_chunk.eq(0),
                w_pass.eq(0),
                w_beat.eq(0),
                w_base.eq(0),
                w_key.eq(0),
            ]
        with m.Elif(w_take):
            end_fold = w_beat == rows - 1
            end_chunks = end_fold & (w_chunk == n_chunks - 1)
            end_strip = end_chunks & (w_pass | ~two_pass)
            m.d.sync += w_beat.eq(Mux(end_fold, 0, w_beat + 1))
            with m.If(end_fold):
                m.d.sync += w_chunk.eq(Mux(end_chunks, 0, w_chunk + 1))
            with m.If(end_chunks):
                m.d.sync += w_pass.eq(~end_strip)
            with m.If(end_strip):
                m.d.sync += w_strip.eq(w_strip + 1)
                with m.If(w_strip == n_strips - 1):
                    m.d.sync += w_run.eq(0)
            with m.If(pv):  # V rows from key 0 again for each strip (and each pass)
                m.d.sync += [
                    w_base.eq(Mux(end_chunks, 0, w_base + nv)),
                    w_key.eq(Mux(end_chunks, 0, w_key + 1)),
                ]
            with m.Elif(end_strip):
                m.d.sync += [w_base.eq(w_base + nd), w_key.eq(w_key + cols)]
        with m.If(w_ready):
            m.d.sync += w_ovalid.eq(w_run)
        with m.If(w_take):
            m.d.sync += w_tag_beat.eq(w_beat)
            for c in range(cols):
                key = Mux(pv, w_key, w_key + c)
                m.d.sync += w_tag_mask[c].eq(key < par.lk)
        k_reads = []
        for c in range(cols):
            rd = k_bufs[c].read_port(transparent_for=())
            m.d.comb += [rd.addr.eq(w_base + w_chunk), rd.en.eq(w_ready)]
            k_reads.append(rd)
        v_rd = v_buf.read_port(transparent_for=())
        m.d.comb += [v_rd.addr.eq(w_base + w_strip), v_rd.en.eq(w_ready)]
        pv_now = Signal()  # the phase, for the output registers' data select
        m.d.comb += pv_now.eq(pv)
        m.d.comb += array.weights.valid.eq(w_ovalid)
        for c in range(cols):
            elem = k_reads[c].data[w_tag_beat]
            m.d.comb += array.weights.payload[c].eq(
                Mux(w_tag_mask[c], Mux(pv_now, v_rd.data[c], elem), 0)
            )

        # Activation feeder: Lq rows per fold. Q·Kᵀ: q_buf at i·nd + kc; P·V: p_buf at
        # i·nk + kc (a P beat of C keys is the chunk of R keys).
        a_run = Signal()
        a_ovalid = Signal()
        a_tag_last = Signal()
        a_ready = ~a_ovalid | array.acts.ready
        a_take = a_run & a_ready
        a_tag_pass = Signal()
        a = _fold_walk(
            m, "a", start=go, step=a_take, lq=par.lq, n_chunks=n_chunks, n_strips=n_strips,
            two_pass=two_pass, row_stride=Mux(pv, nk, nd), max_lq=max_lq,
            max_strips=max(nk_max, nv_max), max_chunks=max(nk_max, nd_max),
        )  # fmt: skip
        a_chunk, a_row, a_base, a_pass = a.chunk, a.row, a.base, a.pass_
        with m.If(go):
            m.d.sync += a_run.eq(1)
        with m.Elif(a.last):
            m.d.sync += a_run.eq(0)
        with m.If(a_ready):
            m.d.sync += a_ovalid.eq(a_run)
        with m.If(a_take):
            m.d.sync += [a_tag_last.eq(a_row == par.lq - 1), a_tag_pass.eq(a_pass)]
        q_rd = q_buf.read_port(transparent_for=())
        p_rd = p_buf.read_port(transparent_for=())
        for rd in (q_rd, p_rd):
            m.d.comb += [rd.addr.eq(a_base + a_chunk), rd.en.eq(a_ready)]
        m.d.comb += [
            array.acts.valid.eq(a_ovalid),
            array.acts.payload.last.eq(a_tag_last),
            array.acts.payload.act_unsigned.eq(pv_now),
        ]
        for r in range(rows):
            p_byte = p_rd.data[r][:8]
            if self._p_bits == 16:
                p_byte = Mux(a_tag_pass, p_rd.data[r][8:], p_byte)
            m.d.comb += array.acts.payload.data[r].eq(Mux(pv_now, p_byte, q_rd.data[r]))

        # --- accumulator SRAM: S (rows from 0), O_acc (rows from o_base) ---------------------
        # O_acc has its own rows: in preload mode it outlives the tile (key block).
        o_base = max_lq * nk_max
        acc_depth = o_base + max_lq * nv_max
        psum_row = data.ArrayLayout(arith.psum_shape, cols)
        # Wide enough for S and for O_acc of the longest row (wider than a product's sums
        # at PB = 16, where the high pass is shifted up by 8).
        acc_width = max(arith.psum_shape.width, norm.acc_width)
        acc_row = data.ArrayLayout(signed(acc_width), cols)
        m.submodules.acc = acc = Memory(shape=acc_row, depth=acc_depth, init=[])
        acc_w = acc.write_port()
        acc_r = acc.read_port(transparent_for=(acc_w,))

        # Result rows of fold (s, kc), row i, go to i·n_strips + s (+ o_base for O_acc); a fold
        # kc = 0 starts from 0 (for O_acc: in the first key block).
        res = array.results
        m.d.comb += res.ready.eq(1)  # the read-modify-write never waits
        r_fire = res.valid
        r = _fold_walk(
            m, "r", start=go, step=r_fire, lq=par.lq, n_chunks=n_chunks, n_strips=n_strips,
            two_pass=two_pass, row_stride=n_strips, max_lq=max_lq,
            max_strips=max(nk_max, nv_max), max_chunks=max(nk_max, nd_max), max_base=acc_depth,
        )  # fmt: skip
        r_strip, r_chunk, r_row, r_base, r_pass = r.strip, r.chunk, r.row, r.base, r.pass_
        r_addr = Signal(range(acc_depth))
        m.d.comb += r_addr.eq(r_base + r_strip + Mux(pv, o_base, 0))
        r_done = r.last  # the last result row of the product is taken this cycle
        s1_valid = Signal()
        s1_addr = Signal(range(acc_depth))
        s1_first = Signal()
        s1_high = Signal()
        s1_rescale = Signal()
        s1_data = Signal(psum_row)
        m.d.sync += s1_valid.eq(r_fire)
        with m.If(r_fire):
            m.d.sync += [
                s1_addr.eq(r_addr),
                s1_first.eq((r_chunk == 0) & ~r_pass & (~pv | first_block)),
                s1_high.eq(r_pass),
                s1_rescale.eq((r_chunk == 0) & ~r_pass & pv & online),
                s1_data.eq(res.payload.data),
            ]
        # Online mode: a row's α (2^15 when its max did not grow), read beside O_acc.
        m.submodules.alpha_buf = alpha_buf = Memory(shape=unsigned(16), depth=max_lq, init=[])
        alpha_w = alpha_buf.write_port()
        alpha_rd = alpha_buf.read_port(transparent_for=())
        m.d.comb += [alpha_rd.addr.eq(r_row), alpha_rd.en.eq(r_fire)]
        half = 1 << (EXP_BITS - 1)
        total = Signal(acc_row)
        for c in range(cols):
            # Exact: every sum fits acc_width (no wrap is ever reached).
            addend = Mux(s1_high, s1_data[c] << 8, s1_data[c])
            # The earlier blocks' O_acc, rescaled by α as the block's first chunk is added
            # (§4.3: the state is rescaled before the block's P·V adds to it).
            rescaled = (acc_r.data[c] * alpha_rd.data + half) >> EXP_BITS
            old = Mux(s1_rescale, rescaled, acc_r.data[c])
            m.d.comb += total[c].eq(Mux(s1_first, 0, old) + addend)
        m.d.comb += [acc_w.addr.eq(s1_addr), acc_w.data.eq(total), acc_w.en.eq(s1_valid)]

        # --- row reader: S rows into the softmax, then O_acc rows into the normaliser -------
        # acc row i·n + b for i < Lq, b < n (n = nk, then nv from o_base), in order.
        sm = phase == _SOFTMAX
        n_beats = Mux(sm, nk, nv)
        go_rd = Signal()
        d_run = Signal()
        d_addr = Signal(range(acc_depth + 1))
        d_beat = Signal(range(max(nk_max, nv_max)))
        d_row = Signal(range(max_lq))
        d_key0 = Signal(range(max_lk + cols + 1))  # b·C
        span = max(max_lq, max_lk)
        d_qpos = Signal(signed(span.bit_length() + 3))  # i + causal_offset
        d_ovalid = Signal()
        d_tag_last = Signal()
        d_tag_mask = Signal(cols)
        d_out_ready = Mux(sm, softmax.i.ready, norm.i.ready)
        d_ready = ~d_ovalid | d_out_ready
        d_take = d_run & d_ready
        with m.If(go_rd):
            m.d.sync += [
                d_run.eq(1),
                d_addr.eq(Mux(pv, o_base, 0)),
                d_beat.eq(0),
                d_row.eq(0),
                d_key0.eq(0),
                d_qpos.eq(par.causal_offset),
            ]
        with m.Elif(d_take):
            end_row = d_beat == n_beats - 1
            m.d.sync += [
                d_addr.eq(d_addr + 1),
                d_beat.eq(Mux(end_row, 0, d_beat + 1)),
                d_key0.eq(Mux(end_row, 0, d_key0 + cols)),
            ]
            with m.If(end_row):
                m.d.sync += [d_row.eq(d_row + 1), d_qpos.eq(d_qpos + 1)]
                with m.If(d_row == par.lq - 1):
                    m.d.sync += d_run.eq(0)
        with m.If(d_ready):
            m.d.sync += d_ovalid.eq(d_run)
        with m.If(d_take):
            m.d.sync += d_tag_last.eq(d_beat == n_beats - 1)
            for c in range(cols):
                key = d_key0 + c
                before_pad = key < lk_valid
                seen = key <= d_qpos  # Amaranth compares unsigned with signed exactly
                m.d.sync += d_tag_mask[c].eq(before_pad & (~par.causal | seen))
        max_rd = max_buf.read_port(transparent_for=())
        m.d.comb += [max_rd.addr.eq(d_row), max_rd.en.eq(d_ready)]
        acc_busy = (phase == _QK) | pv
        m.d.comb += [
            acc_r.addr.eq(Mux(acc_busy, r_addr, d_addr)),
            acc_r.en.eq(Mux(acc_busy, r_fire, d_ready)),
        ]
        # Online mode: a row's running max; none (below every score) in the first block.
        no_max = Const(-(1 << (self.score_width - 1)), signed(self.score_width))
        m.d.comb += [
            softmax.i.valid.eq(d_ovalid & sm),
            softmax.i.payload.mask.eq(d_tag_mask),
            softmax.i.payload.last.eq(d_tag_last),
            softmax.i.payload.row_max.eq(Mux(online & first_block, no_max, max_rd.data)),
            norm.i.valid.eq(d_ovalid & (phase == _NORM)),
            norm.i.payload.last.eq(d_tag_last),
        ]
        for c in range(cols):
            # S fits score_width and O_acc the normaliser's width: the truncations are exact.
            m.d.comb += [
                softmax.i.payload.data[c].eq(acc_r.data[c]),
                norm.i.payload.data[c].eq(acc_r.data[c]),
            ]

        # --- softmax outputs: P into the P buffer, L (summed over blocks) into the FIFO ------
        p_w = p_buf.write_port()
        p_addr = Signal(range(max_lq * nk_max + 1))
        l_count = Signal(range(max_lq + 1))
        m.submodules.l_buf = l_buf = Memory(shape=unsigned(l_width), depth=max_lq, init=[])
        l_w = l_buf.write_port()
        l_rd = l_buf.read_port(domain="comb")
        l_total = Signal(l_width)
        l_prev = Signal(l_width)  # the earlier blocks' L (online: rescaled by the row's α)
        l_rescaled = (l_rd.data * softmax.alpha + half) >> EXP_BITS
        l_fire = softmax.l.valid & softmax.l.ready
        m.d.comb += [
            l_prev.eq(Mux(online, l_rescaled, l_rd.data)),
            max_online.eq(l_fire),
            max_online_addr.eq(l_count),
            alpha_w.addr.eq(l_count),
            alpha_w.data.eq(softmax.alpha),
            alpha_w.en.eq(l_fire),
        ]
        m.d.comb += [
            softmax.o.ready.eq(1),
            p_w.addr.eq(p_addr),
            p_w.data.eq(softmax.o.payload.data),
            p_w.en.eq(softmax.o.valid),
            l_rd.addr.eq(l_count),
            l_total.eq(Mux(first_block, 0, l_prev) + softmax.l.payload),
            l_w.addr.eq(l_count),
            l_w.data.eq(l_total),
            l_w.en.eq(softmax.l.valid & softmax.l.ready),
            l_fifo.w_data.eq(l_total),
            l_fifo.w_en.eq(softmax.l.valid & last_block),
            softmax.l.ready.eq(l_fifo.w_rdy),
        ]
        with m.If(start):
            m.d.sync += [p_addr.eq(0), l_count.eq(0)]
        with m.Else():
            with m.If(softmax.o.valid):
                m.d.sync += p_addr.eq(p_addr + 1)
            with m.If(softmax.l.valid & softmax.l.ready):
                m.d.sync += l_count.eq(l_count + 1)
        softmax_done = l_count == par.lq

        # --- reciprocals of the rows' L, computed while P·V runs; the normaliser's rows -----
        # The reciprocal takes RowReciprocal.latency cycles per row: done ahead, the normaliser
        # runs its rows back to back, one beat per cycle, instead of one row per reciprocal.
        # Several units take the rows in turn (row j: unit j mod units), so the L of a row
        # reaches a unit every RowReciprocal.latency / units cycles; results leave in turn.
        to_unit = Signal(range(units))
        from_unit = Signal(range(units))
        for u, recip in enumerate(recips):
            m.d.comb += [
                recip.i.valid.eq(l_fifo.r_rdy & (to_unit == u)),
                recip.i.payload.eq(l_fifo.r_data),
                recip.o.ready.eq(r_fifo.w_rdy & (from_unit == u)),
            ]
            with m.If(to_unit == u):
                m.d.comb += l_fifo.r_en.eq(recip.i.ready)
            with m.If(from_unit == u):
                m.d.comb += [
                    r_fifo.w_data.eq(recip.o.payload.as_value()),
                    r_fifo.w_en.eq(recip.o.valid),
                ]
        with m.If(l_fifo.r_rdy & l_fifo.r_en):
            m.d.sync += to_unit.eq(Mux(to_unit == units - 1, 0, to_unit + 1))
        with m.If(r_fifo.w_en & r_fifo.w_rdy):
            m.d.sync += from_unit.eq(Mux(from_unit == units - 1, 0, from_unit + 1))
        m.d.comb += [
            norm.r.valid.eq(r_fifo.r_rdy),
            norm.r.payload.eq(r_fifo.r_data),
            r_fifo.r_en.eq(norm.r.ready),
        ]
        wiring.connect(m, norm.o, wiring.flipped(self.o))
        o_fire = self.o.valid & self.o.ready
        o_rows = Signal(range(max_lq + 1))
        with m.If(start):
            m.d.sync += o_rows.eq(0)
        with m.Elif(o_fire & self.o.payload.last):
            m.d.sync += o_rows.eq(o_rows + 1)

        # --- phase sequencing ---------------------------------------------------------------
        with m.Switch(phase):
            with m.Case(_LOAD):
                with m.If(q_done & k_done & (m_done | ~preload)):
                    m.d.comb += go_qk.eq(1)
                    m.d.sync += phase.eq(_QK)
            with m.Case(_QK):
                with m.If(r_done):
                    m.d.comb += go_rd.eq(1)
                    m.d.sync += phase.eq(_SOFTMAX)
            with m.Case(_SOFTMAX):
                with m.If(softmax_done & v_done):
                    m.d.comb += go_pv.eq(1)
                    m.d.sync += phase.eq(_PV)
            with m.Case(_PV):
                with m.If(r_done & last_block):
                    m.d.comb += go_rd.eq(1)
                    m.d.sync += phase.eq(_NORM)
                with m.Elif(r_done):
                    m.d.sync += phase.eq(_IDLE)  # a key block before the last: no output
            with m.Case(_NORM):
                with m.If(o_fire & self.o.payload.last & (o_rows == par.lq - 1)):
                    m.d.sync += phase.eq(_IDLE)
        return m


def tile_array_config(rows, cols, *, max_d, max_lk):
    """The :class:`~hdl.config.ArrayConfig` of a tile's shared array: INT8, exact for
    ``max(max_d, max_lk)``-term sums of int8 or uint8 activations."""
    return ArrayConfig(rows=rows, cols=cols, mac="int8", max_k=max(max_d, max_lk))


def check_tile_array(rows, cols):
    """``(rows, cols)`` as ints if a tile can use that array (1 to 128, ``rows == cols``);
    else :class:`golden.errors.UsageValueError` naming the parameter."""
    rows = check_int("rows", rows, 1, 128)
    cols = check_int("cols", cols, 1, 128)
    if rows != cols:
        raise UsageValueError(
            f"cols must equal rows for the attention tile (a P beat of cols keys is a "
            f"fold's chunk of rows keys), got rows={rows} cols={cols}",
            parameter="cols",
        )
    return rows, cols


def check_tile_shape(limits, lq, lk, d, dv):
    """Raise :class:`golden.errors.UsageValueError` (or ``UsageTypeError``) naming the size if
    ``lq``, ``lk``, ``d`` or ``dv`` is not an integer from 1 to its limit in ``limits``
    (``(max_lq, max_lk, max_d, max_dv)``)."""
    for name, value, hi in zip(("lq", "lk", "d", "dv"), (lq, lk, d, dv), limits, strict=True):
        check_int(name, value, 1, hi, where=f" (max_{name} of this tile)")


def tile_cycles(
    config, lq, lk, d, dv, *, mode="single", last_block=True, p_bits=8, reciprocal_units=2
):
    """Exact cycles of one tile on the array ``config`` with no stalls:
    :func:`golden.perf.attention_cycles` with the hardware's latencies."""
    from golden.perf import attention_cycles

    latencies = tile_latencies(config, reciprocal_units=reciprocal_units)
    return attention_cycles(
        config.rows,
        config.cols,
        lq,
        lk,
        d,
        dv,
        mode=mode,
        last_block=last_block,
        p_bits=p_bits,
        **latencies,
    )


def tile_latencies(config, *, reciprocal_units=2):
    """The pipeline latencies :func:`golden.perf.attention_cycles` needs, read from the
    hardware's components."""
    return {
        "array_latency": array_latency(config),
        "softmax_latency": SoftmaxRow.latency,
        "reciprocal_latency": RowReciprocal.latency,
        "normalizer_latency": DivRhuNormalizer.latency,
        "reciprocal_units": reciprocal_units,
        "fifo_latency": 2,  # amaranth.lib.fifo.SyncFIFOBuffered: written at t, read from t + 2
    }
