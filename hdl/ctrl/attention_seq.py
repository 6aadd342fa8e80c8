"""The ATTENTION descriptor's tile loop: query blocks, key blocks, and for each tile the
attention unit's parameter beat, the Q, K and V reads and (per query block) the O write
(docs/attention.md §6)."""

from amaranth.hdl import Module, Mux, ResetInserter, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.descriptor import AttentionConfig
from golden.errors import check_instance
from hdl.attention.tile import TILE_MODES, params_layout
from hdl.ctrl.regs import desc_layout
from hdl.ctrl.tiles import Operand
from hdl.dma.read import ROW_BYTES_WIDTH, ROWS_WIDTH

__all__ = ["AttentionSequencer", "attention_params_layout", "attention_tile_kwargs"]

_SINGLE = TILE_MODES.index("single")
_ONLINE = TILE_MODES.index("online")
#: The read commands of a tile, in the order they are sent, with the bank code of each
#: (the read DMA's tag: Q travels as A, K as B, V as QP).
ATTENTION_OPERANDS = {"q": Operand.A, "k": Operand.B, "v": Operand.QP}


def attention_tile_kwargs(attention):
    """The :class:`~hdl.attention.tile.AttentionTile` size parameters of an attention unit."""
    return {
        "max_lq": attention.block_lq,
        "max_lk": attention.block_lk,
        "max_d": attention.max_d,
        "max_dv": attention.max_dv,
        "max_lk_total": attention.max_lk,
        "p_bits": attention.p_bits,
    }


def attention_params_layout(attention):
    """The tile's parameter beat for an attention unit."""
    kwargs = attention_tile_kwargs(attention)
    del kwargs["p_bits"]
    return params_layout(**kwargs)


def _clamp(value, lo, hi):
    return Mux(value < lo, lo, Mux(value > hi, hi, value))


class AttentionSequencer(wiring.Component):
    """Walks the tiles of the latched ATTENTION descriptor.

    Lq is cut into query blocks of ``block_lq`` rows, Lk into key blocks of ``block_lk``
    keys (one ``single`` tile when Lk ≤ ``block_lk``, else ``online`` blocks). For every
    (query block, key block) in that order it sends the tile's ``params`` beat and three read
    records (Q rows of the query block, K and V rows of the key block); after the last key
    block of a query block, the O record of its rows. The tile's causal offset is the
    descriptor's moved to the tile's corner and clamped to ``[−lq, lk]``, its padding the part
    of the descriptor's padding inside the key block. Addresses are running sums.

    Parameters
    ----------
    frontend_config : FrontendConfig
    attention : golden.descriptor.AttentionConfig
    max_dim : int
        Largest Lq.

    Members
    -------
    desc : In(desc_layout())
        Steady from ``go`` to the end of the job.
    go : In(1)
        Start the walk (one cycle); also empties the queues.
    clear : In(1)
        Stop the walk and empty the queues (one cycle): the job ended, or a new one starts.
    active : Out(1)
        Records are still to come.
    params : Out(stream.Signature(attention_params_layout(attention)))
        Through a two-entry queue.
    rd : Out(stream.Signature({addr, rows, row_bytes, stride, tag}))
        Read records, one at a time from a register; ``tag`` is the bank code
        (:data:`ATTENTION_OPERANDS`).
    o : Out(stream.Signature({addr, rows}))
        O write records (rows of ``dv`` bytes at ``c_stride``), through a two-entry queue.
    o_blocks : Out(range(max_dim + 1))
        O records sent so far in this job.
    """

    def __init__(self, frontend_config, attention, *, max_dim):
        check_instance("attention", attention, AttentionConfig)
        self._frontend_config = frontend_config
        self._attention = attention
        self._max_dim = max_dim
        aw = frontend_config.addr_width
        self._params_layout = attention_params_layout(attention)
        super().__init__(
            {
                "desc": In(desc_layout()),
                "go": In(1),
                "clear": In(1),
                "active": Out(1),
                "params": Out(stream.Signature(self._params_layout)),
                "rd": Out(
                    stream.Signature(
                        data.StructLayout(
                            {
                                "addr": aw,
                                "rows": ROWS_WIDTH,
                                "row_bytes": ROW_BYTES_WIDTH,
                                "stride": aw,
                                "tag": 2,
                            }
                        )
                    )
                ),
                "o": Out(stream.Signature(data.StructLayout({"addr": aw, "rows": ROWS_WIDTH}))),
                "o_blocks": Out(range(max_dim + 1)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        att = self._attention
        aw = self._frontend_config.addr_width
        BQ, BK = att.block_lq, att.block_lk
        d = self.desc
        dim_bits = self._max_dim.bit_length()
        lk_bits = att.max_lk.bit_length()

        params_q = fifo.SyncFIFOBuffered(width=self._params_layout.size, depth=2)
        o_layout = self.o.payload.shape()
        o_q = fifo.SyncFIFOBuffered(width=o_layout.size, depth=2)
        # A new walk starts with empty queues (a stopped job may leave records behind).
        m.submodules.params_q = ResetInserter(self.go | self.clear)(params_q)
        m.submodules.o_q = ResetInserter(self.go | self.clear)(o_q)
        m.d.comb += [
            self.params.valid.eq(params_q.r_rdy),
            self.params.payload.eq(params_q.r_data),
            params_q.r_en.eq(self.params.ready),
            self.o.valid.eq(o_q.r_rdy),
            self.o.payload.eq(o_q.r_data),
            o_q.r_en.eq(self.o.ready),
        ]

        lq_all = d.m[:dim_bits]
        lk_all = d.n[:lk_bits]
        q0 = Signal(dim_bits)
        k0 = Signal(lk_bits)
        q_addr = Signal(aw)  # Q + q0·a_stride
        k_addr = Signal(aw)  # K + k0·b_stride
        v_addr = Signal(aw)  # V + k0·v_stride
        o_addr = Signal(aw)  # O + q0·c_stride
        q_block = Signal(aw)
        k_block = Signal(aw)
        v_block = Signal(aw)
        o_block = Signal(aw)
        lk_valid = Signal(lk_bits)  # keys before the padding
        step = Signal(range(5))  # 0 params, 1 Q, 2 K, 3 V, 4 O

        lq_b = Signal(range(BQ + 1))
        lk_b = Signal(range(BK + 1))
        m.d.comb += [
            lq_b.eq(Mux(lq_all - q0 < BQ, lq_all - q0, BQ)),
            lk_b.eq(Mux(lk_all - k0 < BK, lk_all - k0, BK)),
        ]
        last_k = k0 + BK >= lk_all
        last_q = q0 + BQ >= lq_all

        # --- the tile's parameter beat ------------------------------------------------------
        par = self._params_layout(params_q.w_data)
        offset_width = len(d.causal_offset) + 2
        corner = Signal(signed(max(offset_width, dim_bits + 2, lk_bits + 2)))
        m.d.comb += corner.eq(q0 + d.causal_offset - k0)
        pad = Signal(signed(lk_bits + 2))
        m.d.comb += pad.eq(k0 + lk_b - lk_valid)
        m.d.comb += [
            par.lq.eq(lq_b),
            par.lk.eq(lk_b),
            par.d.eq(d.k),
            par.dv.eq(d.dv),
            par.scale_mult.eq(d.scale_mult),
            par.scale_shift.eq(d.scale_shift),
            par.out_mult.eq(d.q_mult),
            par.out_shift.eq(d.q_shift),
            par.out_zp.eq(d.q_zp),
            par.causal.eq(d.causal),
            par.causal_offset.eq(_clamp(corner, -lq_b, lk_b)),
            par.key_pad.eq(_clamp(pad, 0, lk_b)),
            par.mode.eq(Mux(lk_all <= BK, _SINGLE, _ONLINE)),
            par.first_block.eq(k0 == 0),
            par.last_block.eq(last_k),
        ]

        # --- read and O records ---------------------------------------------------------------
        rd_next = Signal.like(self.rd.payload)
        with m.Switch(step):
            with m.Case(1):
                m.d.comb += [
                    rd_next.addr.eq(q_addr),
                    rd_next.rows.eq(lq_b),
                    rd_next.row_bytes.eq(d.k),
                    rd_next.stride.eq(d.a_stride),
                    rd_next.tag.eq(ATTENTION_OPERANDS["q"]),
                ]
            with m.Case(2):
                m.d.comb += [
                    rd_next.addr.eq(k_addr),
                    rd_next.rows.eq(lk_b),
                    rd_next.row_bytes.eq(d.k),
                    rd_next.stride.eq(d.b_stride),
                    rd_next.tag.eq(ATTENTION_OPERANDS["k"]),
                ]
            with m.Default():
                m.d.comb += [
                    rd_next.addr.eq(v_addr),
                    rd_next.rows.eq(lk_b),
                    rd_next.row_bytes.eq(d.dv),
                    rd_next.stride.eq(d.v_stride),
                    rd_next.tag.eq(ATTENTION_OPERANDS["v"]),
                ]
        o_w = o_layout(o_q.w_data)
        m.d.comb += [o_w.addr.eq(o_addr), o_w.rows.eq(lq_b)]

        # --- the walk -------------------------------------------------------------------------
        rd_free = ~self.rd.valid | self.rd.ready
        with m.If(self.rd.valid & self.rd.ready):
            m.d.sync += self.rd.valid.eq(0)
        advance = Signal()
        with m.If(self.active):
            with m.Switch(step):
                with m.Case(0):
                    m.d.comb += [params_q.w_en.eq(1), advance.eq(params_q.w_rdy)]
                with m.Case(1, 2, 3):
                    m.d.comb += advance.eq(rd_free)
                    with m.If(rd_free):
                        m.d.sync += [self.rd.valid.eq(1), self.rd.payload.eq(rd_next)]
                with m.Case(4):
                    m.d.comb += [o_q.w_en.eq(last_k), advance.eq(~last_k | o_q.w_rdy)]
        with m.If(advance):
            m.d.sync += step.eq(Mux(step == 4, 0, step + 1))
            with m.If(step == 4):
                with m.If(~last_k):
                    m.d.sync += [
                        k0.eq(k0 + BK),
                        k_addr.eq(k_addr + k_block),
                        v_addr.eq(v_addr + v_block),
                    ]
                with m.Else():
                    m.d.sync += [
                        self.o_blocks.eq(self.o_blocks + 1),
                        k0.eq(0),
                        k_addr.eq(d.b_addr),
                        v_addr.eq(d.qp_addr),
                        q0.eq(q0 + BQ),
                        q_addr.eq(q_addr + q_block),
                        o_addr.eq(o_addr + o_block),
                    ]
                    with m.If(last_q):
                        m.d.sync += self.active.eq(0)

        with m.If(self.go):
            m.d.sync += [
                self.active.eq(1),
                self.rd.valid.eq(0),
                self.o_blocks.eq(0),
                step.eq(0),
                q0.eq(0),
                k0.eq(0),
                q_addr.eq(d.a_addr),
                k_addr.eq(d.b_addr),
                v_addr.eq(d.qp_addr),
                o_addr.eq(d.c_addr),
                q_block.eq(d.a_stride * BQ),
                k_block.eq(d.b_stride * BK),
                v_block.eq(d.v_stride * BK),
                o_block.eq(d.c_stride * BQ),
                lk_valid.eq(d.n[:lk_bits] - d.key_pad[:lk_bits]),
            ]
        with m.If(self.clear):
            m.d.sync += [self.active.eq(0), self.rd.valid.eq(0)]
        return m
