"""The accelerator's controller: descriptor check, tile loop, load and store engines, drain
(docs/accelerator.md §3.2, §3.3)."""

from math import ceil

from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.descriptor import OPCODE_ATTENTION
from golden.frontend import ACT_UNSIGNED, BIAS_EN, OUT_FP8, OUT_RAW, PER_CHANNEL_Q, QP_RECORD_BYTES
from hdl.bus.axi import Resp
from hdl.ctrl.attention_seq import AttentionSequencer, attention_params_layout
from hdl.ctrl.csr import STATUS_LAYOUT
from hdl.ctrl.desc_check import CHECK_LATENCY, DescriptorCheck
from hdl.ctrl.regs import ErrorCode, ErrSource, desc_layout, descriptor_limits
from hdl.ctrl.tiles import (
    Operand,
    check_accelerator_configs,
    dest_width,
    job_layout,
    out_tile_layout,
    strip_layout,
    tile_layout,
)
from hdl.dma.read import read_cmd_layout, read_done_layout
from hdl.dma.write import write_cmd_layout, write_done_layout

__all__ = ["GemmController", "READ_TAG_WIDTH", "WRITE_TAG_WIDTH", "READ_BANK_WIDTH"]

#: Read DMA tag: the operand (:class:`~hdl.ctrl.tiles.Operand`) a command loads.
READ_TAG_WIDTH = 2
#: Read DMA bank field: ``{half, operand}`` (operand in the low two bits).
READ_BANK_WIDTH = 3
#: Write DMA tag (unused: one command at a time).
WRITE_TAG_WIDTH = 1
#: Depth of the record queues between the tile sequencer and the engines.
QUEUE_DEPTH = 4
#: Cycles the controller waits after START for :class:`DescriptorCheck` and holds the datapath
#: in reset: the check's latency, plus the cycle the descriptor is latched.
CHECK_CYCLES = CHECK_LATENCY + 1

_ERROR_SOURCE = {
    Operand.A: ErrSource.READ_A,
    Operand.B: ErrSource.READ_B,
    Operand.QP: ErrSource.READ_QP,
}


def _queue(m, name, layout, reset, depth=QUEUE_DEPTH):
    """A synchronous FIFO of ``layout`` records, emptied by ``reset``: ``(fifo, write view,
    read view)``."""
    q = fifo.SyncFIFOBuffered(width=layout.size, depth=depth)
    m.submodules[name] = ResetInserter(reset)(q)
    return q, layout(q.w_data), layout(q.r_data)


class GemmController(wiring.Component):
    """Runs the GEMM of a latched descriptor: checks it, walks the tile loop, sends the read
    DMA one command per tile operand, hands tile records to the operand feeder and the output
    side, and sends the write DMA one command per finished C tile.

    **Job.** ``start`` (from the register block) starts the job: ``status.busy`` rises in the
    next cycle. For :data:`CHECK_CYCLES` cycles the datapath is held in reset
    (``datapath_reset``) while :class:`~hdl.ctrl.desc_check.DescriptorCheck` runs; an illegal
    descriptor ends the job with its code and no bus traffic.

    **Tile sequencer.** One record per k-tile in the order of
    :func:`golden.frontend.tile_loop`, pushed in one cycle into every queue that takes it: the
    load engine's, the feeder's (``feed``), and for tiles that emit (the last k-tile of a C
    tile) the strip generator's (``strips``, one record per strip), the output buffer's
    (``out_tiles``) and the store engine's. Addresses come from running sums (no multiplier
    per tile).

    **Load engine.** Per tile: the A tile (when it changes), the B tile and, on the first
    k-tile of a C tile that uses them, the QP records, each as one 2-D read command into its
    bank half once that half is free and not already being loaded. A half counts as loading
    from the command until its ``full`` bit rises (the last beat landed).

    **Store engine.** Issues the write command of the next C tile once the output buffer
    offers that tile's first beat (``out_valid``), so a write command never waits on
    computation that a stopped job could leave unfinished.

    **Errors and ABORT.** The first AXI error response (from a DMA's completion) or an ABORT
    stops all new commands; the job waits until every command already issued has completed
    (every burst on the bus has its last R beat or its B), then holds the datapath in reset
    for one cycle and ends with the error code, its source and the failing burst's address.

    Parameters
    ----------
    array_config : ArrayConfig
    frontend_config : golden.frontend.FrontendConfig
    max_dim : int
        Largest M, K or N (HWCFG3.MAX_DIM).

    Members
    -------
    desc : In(desc_layout())
    start, abort_req : In(1)
        Pulses from :class:`~hdl.ctrl.csr.AxiLiteCsr`.
    status : Out(STATUS_LAYOUT)
    job : Out(job_layout())
        The running job's decoded flags (steady from START to the end of the job).
    datapath_reset : Out(1)
        Synchronous reset of the feeder, array, accumulator and output side.
    rd_cmd, rd_done, wr_cmd, wr_done
        The DMAs' command and completion streams.
    dma_error : In(1)
        A DMA has taken an error response and is draining (its ``error``): no new command
        goes out from that cycle, though the error's ``done`` may come much later.
    a_full, b_full, qp_full : In(2)
        The banks' owner bits.
    feed : Out(stream.Signature(tile_layout(...)))
    strips : Out(stream.Signature(strip_layout(...)))
    out_tiles : Out(stream.Signature(out_tile_layout(...)))
    out_valid, out_last : In(1)
        The output buffer's beat stream: a beat is offered / the beat taken is a tile's last
        (``out_last`` must be qualified with the handshake). In an ATTENTION job, ``out_valid``
        is the O packer's (a beat of O offered; ``out_last`` is not used).
    attention_job : Out(1)
        The latched descriptor is an ATTENTION one (0 without an attention unit).
    draining : Out(1)
        The job is stopping (error or ABORT) and waits for the bursts in flight: an ATTENTION
        job's read beats are to be dropped from then on.
    att_params : Out(stream.Signature(attention_params_layout(attention)))
        With an attention unit only: the unit's tile parameter beats
        (:class:`~hdl.ctrl.attention_seq.AttentionSequencer`).

    With an attention unit (``attention``), an ATTENTION descriptor runs the same job (check,
    errors, ABORT, drain) with the :class:`~hdl.ctrl.attention_seq.AttentionSequencer` in
    place of the GEMM tile sequencer: its read records go out through the same command
    register (Q, K and V tagged as A, B and QP, so ERR_INFO.SOURCE reads READ_A, READ_B and
    READ_QP for them), and its O records through the store engine once the O packer offers
    a beat and the previous O write has completed.
    """

    def __init__(self, array_config, frontend_config, *, max_dim, attention=None):
        check_accelerator_configs(array_config, frontend_config)
        self._array_config = array_config
        self._frontend_config = frontend_config
        self._max_dim = max_dim
        self._attention = attention
        self._limits = descriptor_limits(
            array_config, frontend_config, max_dim=max_dim, attention=attention
        )
        cfg = frontend_config
        dest = dest_width(array_config, cfg)
        att_members = {}
        if attention is not None:
            att_members["att_params"] = Out(stream.Signature(attention_params_layout(attention)))
        super().__init__(
            {
                **att_members,
                "attention_job": Out(1),
                "draining": Out(1),
                "desc": In(desc_layout()),
                "start": In(1),
                "abort_req": In(1),
                "status": Out(STATUS_LAYOUT),
                "job": Out(job_layout()),
                "datapath_reset": Out(1),
                "rd_cmd": Out(
                    stream.Signature(
                        read_cmd_layout(
                            cfg,
                            tag_width=READ_TAG_WIDTH,
                            bank_width=READ_BANK_WIDTH,
                            dest_width=dest,
                        )
                    )
                ),
                "rd_done": In(stream.Signature(read_done_layout(cfg, tag_width=READ_TAG_WIDTH))),
                "wr_cmd": Out(stream.Signature(write_cmd_layout(cfg, tag_width=WRITE_TAG_WIDTH))),
                "wr_done": In(stream.Signature(write_done_layout(cfg, tag_width=WRITE_TAG_WIDTH))),
                "dma_error": In(1),
                "a_full": In(2),
                "b_full": In(2),
                "qp_full": In(2),
                "feed": Out(stream.Signature(tile_layout(cfg))),
                "strips": Out(stream.Signature(strip_layout(array_config, cfg))),
                "out_tiles": Out(stream.Signature(out_tile_layout(cfg))),
                "out_valid": In(1),
                "out_last": In(1),
            }
        )

    @property
    def limits(self):
        return self._limits

    def elaborate(self, platform):
        m = Module()
        acfg, cfg = self._array_config, self._frontend_config
        C = acfg.cols
        Tm, Tn, Tk = cfg.tile_m, cfg.tile_n, cfg.tile_k
        AW = cfg.addr_width
        dim_bits = self._max_dim.bit_length()
        desc = self.desc
        int8 = acfg.mac == "int8"

        m.submodules.check = check = DescriptorCheck(self._limits)
        m.d.comb += check.desc.eq(desc)

        # --- ATTENTION: the sequencer stands in for the GEMM tile loop -------------------------
        is_att = self.attention_job
        if self._attention is not None:
            m.submodules.att_seq = att_seq = AttentionSequencer(
                cfg, self._attention, max_dim=self._max_dim
            )
            m.d.comb += [att_seq.desc.eq(desc), is_att.eq(desc.opcode == OPCODE_ATTENTION)]
            wiring.connect(m, att_seq.params, wiring.flipped(self.att_params))

        # --- job flags (flags of the other MAC kind are ignored) ------------------------------
        flags = desc.flags
        job = self.job
        if int8:
            raw = flags[OUT_RAW.bit_length() - 1]
            m.d.comb += [
                job.act_unsigned.eq(flags[ACT_UNSIGNED.bit_length() - 1]),
                job.raw.eq(raw),
                job.per_channel.eq(~raw & flags[PER_CHANNEL_Q.bit_length() - 1]),
                job.bias_en.eq(flags[BIAS_EN.bit_length() - 1]),
                job.wide.eq(raw),
            ]
        else:
            fp8_out = flags[OUT_FP8.bit_length() - 1]
            m.d.comb += [job.fp8_out.eq(fp8_out), job.wide.eq(~fp8_out)]
        uses_qp = job.per_channel | job.bias_en
        out_shift = Mux(job.wide, 2, 0)  # log2 of the output bytes per element

        # --- job state -----------------------------------------------------------------------
        busy = Signal()
        checking = Signal(range(CHECK_CYCLES + 1))
        running = Signal()  # past the check, tiles flowing
        stopping = Signal()  # error or abort: no new commands, draining
        finish = Signal()
        err_code = Signal(8)
        err_source = Signal(4)
        err_addr = Signal(64)
        status = self.status
        m.d.comb += [
            status.busy.eq(busy),
            status.err_code.eq(err_code),
            status.err_source.eq(err_source),
            status.err_addr.eq(err_addr),
        ]

        def record_error(code, source, addr=0):
            with m.If(err_code == 0):
                m.d.sync += [err_code.eq(code), err_source.eq(source), err_addr.eq(addr)]

        # --- tile sequencer ------------------------------------------------------------------
        M = Signal(dim_bits)
        K = Signal(dim_bits)
        N = Signal(dim_bits)
        m0 = Signal(dim_bits)
        n0 = Signal(dim_bits)
        k0 = Signal(dim_bits)
        seq_active = Signal()
        tile_parity = Signal()  # B half
        a_half = Signal()  # half of the current A tile
        qp_half = Signal()  # half of the current C tile's QP records
        a_loads = Signal()  # an A tile has been loaded in this job
        c_tiles = Signal(2 * dim_bits)  # C tiles sent to the store engine
        a_row = Signal(AW)  # A + m0·lda
        b_row = Signal(AW)  # B + k0·ldb
        b_panel = Signal(AW)  # panel base: B + (n0/Tn)·B_TILE_STRIDE (packed B)
        c_row = Signal(AW)  # C + m0·ldc
        a_block = Signal(AW)  # Tm·lda
        b_block = Signal(AW)  # Tk·ldb
        c_block = Signal(AW)  # Tm·ldc
        packed = Signal()

        tm = Signal(range(Tm + 1))
        tn = Signal(range(Tn + 1))
        tk = Signal(range(Tk + 1))
        m.d.comb += [
            tm.eq(Mux(M - m0 < Tm, M - m0, Tm)),
            tn.eq(Mux(N - n0 < Tn, N - n0, Tn)),
            tk.eq(Mux(K - k0 < Tk, K - k0, Tk)),
        ]
        single_k = K <= Tk
        first_k = k0 == 0
        last_k = k0 + Tk >= K
        last_n = n0 + Tn >= N
        last_m = m0 + Tm >= M
        load_a = ~single_k | (n0 == 0)
        keep_a = single_k & ~last_n
        this_a_half = Mux(load_a & a_loads, ~a_half, a_half)
        this_qp_half = Mux(first_k & (c_tiles != 0), ~qp_half, qp_half)
        n_bytes = Signal(AW)
        m.d.comb += n_bytes.eq(n0 << out_shift)

        load_layout = data.StructLayout(
            {
                "a_addr": AW,
                "b_addr": AW,
                "qp_addr": AW,
                "tm": range(Tm + 1),
                "tn": range(Tn + 1),
                "tk": range(Tk + 1),
                "load_a": 1,
                "load_qp": 1,
                "a_half": 1,
                "b_half": 1,
                "qp_half": 1,
            }
        )
        emit_layout = data.StructLayout({"tn": range(Tn + 1), "qp_half": 1})
        store_layout = data.StructLayout({"addr": AW, "tm": range(Tm + 1), "tn": range(Tn + 1)})
        load_q, load_w, load_r = _queue(m, "load_q", reset=self.datapath_reset, layout=load_layout)
        emit_q, emit_w, emit_r = _queue(m, "emit_q", reset=self.datapath_reset, layout=emit_layout)
        store_q, store_w, store_r = _queue(
            m, "store_q", reset=self.datapath_reset, layout=store_layout
        )
        feed_q, feed_w, feed_r = _queue(
            m, "feed_q", reset=self.datapath_reset, layout=tile_layout(cfg)
        )
        out_q, out_w, out_r = _queue(
            m, "out_q", reset=self.datapath_reset, layout=out_tile_layout(cfg)
        )

        m.d.comb += [
            load_w.a_addr.eq(a_row + k0),
            load_w.b_addr.eq(b_row + Mux(packed, b_panel, n0)),
            load_w.qp_addr.eq(desc.qp_addr + n0 * QP_RECORD_BYTES),
            load_w.tm.eq(tm),
            load_w.tn.eq(tn),
            load_w.tk.eq(tk),
            load_w.load_a.eq(load_a),
            load_w.load_qp.eq(first_k & uses_qp),
            load_w.a_half.eq(this_a_half),
            load_w.b_half.eq(tile_parity),
            load_w.qp_half.eq(this_qp_half),
            feed_w.tm.eq(tm),
            feed_w.tn.eq(tn),
            feed_w.tk.eq(tk),
            feed_w.first_k.eq(first_k),
            feed_w.last_k.eq(last_k),
            feed_w.a_half.eq(this_a_half),
            feed_w.b_half.eq(tile_parity),
            feed_w.qp_half.eq(this_qp_half),
            feed_w.keep_a.eq(keep_a),
            emit_w.tn.eq(tn),
            emit_w.qp_half.eq(this_qp_half),
            store_w.addr.eq(c_row + n_bytes),
            store_w.tm.eq(tm),
            store_w.tn.eq(tn),
            out_w.tm.eq(tm),
            out_w.tn.eq(tn),
        ]
        room = (
            load_q.w_rdy & feed_q.w_rdy & (~last_k | (emit_q.w_rdy & store_q.w_rdy & out_q.w_rdy))
        )
        push = Signal()
        m.d.comb += push.eq(seq_active & ~stopping & room)
        m.d.comb += [
            load_q.w_en.eq(push),
            feed_q.w_en.eq(push),
            emit_q.w_en.eq(push & last_k),
            store_q.w_en.eq(push & last_k),
            out_q.w_en.eq(push & last_k),
        ]
        with m.If(push):
            m.d.sync += [
                tile_parity.eq(~tile_parity),
                a_half.eq(this_a_half),
                qp_half.eq(this_qp_half),
            ]
            with m.If(load_a):
                m.d.sync += a_loads.eq(1)
            with m.If(last_k):
                m.d.sync += c_tiles.eq(c_tiles + 1)
            with m.If(~last_k):
                m.d.sync += [k0.eq(k0 + Tk), b_row.eq(b_row + b_block)]
            with m.Else():
                m.d.sync += [k0.eq(0), b_row.eq(desc.b_addr)]
                with m.If(~last_n):
                    m.d.sync += [n0.eq(n0 + Tn), b_panel.eq(b_panel + desc.b_tile_stride)]
                with m.Else():
                    m.d.sync += [n0.eq(0), b_panel.eq(0)]
                    with m.If(~last_m):
                        m.d.sync += [
                            m0.eq(m0 + Tm),
                            a_row.eq(a_row + a_block),
                            c_row.eq(c_row + c_block),
                        ]
                    with m.Else():
                        m.d.sync += seq_active.eq(0)

        # --- feeder and output-side records --------------------------------------------------
        m.d.comb += [
            self.feed.valid.eq(feed_q.r_rdy),
            self.feed.payload.eq(feed_r),
            feed_q.r_en.eq(self.feed.ready),
            self.out_tiles.valid.eq(out_q.r_rdy),
            self.out_tiles.payload.eq(out_r),
            out_q.r_en.eq(self.out_tiles.ready),
        ]
        # Strip generator: ceil(tn/C) strip records per emitting tile.
        strip = Signal(range(ceil(Tn / C) + 1))
        col0 = Signal(range(Tn + C))
        strip_last = col0 + C >= emit_r.tn
        sp = self.strips.payload
        m.d.comb += [
            self.strips.valid.eq(emit_q.r_rdy),
            sp.qp_half.eq(emit_r.qp_half),
            sp.col0.eq(col0),
            sp.n_len.eq(Mux(strip_last, emit_r.tn - col0, C)),
            sp.qp_last.eq(strip_last),
            emit_q.r_en.eq(self.strips.ready & strip_last),
        ]
        with m.If(self.strips.valid & self.strips.ready):
            m.d.sync += [
                strip.eq(Mux(strip_last, 0, strip + 1)),
                col0.eq(Mux(strip_last, 0, col0 + C)),
            ]

        # --- load engine ---------------------------------------------------------------------
        loading = {op: Signal(2, name=f"loading_{op.name.lower()}") for op in Operand}
        full = {Operand.A: self.a_full, Operand.B: self.b_full, Operand.QP: self.qp_full}
        for op in Operand:
            m.d.sync += loading[op].eq(loading[op] & ~full[op])
        rd_outstanding = Signal(range(8))
        rd_err_seen = Signal()
        # The command is built here and registered on its way to the read DMA, so the DMA's
        # command-ready logic never reaches back into the load queue in the same cycle.
        rc = Signal.like(self.rd_cmd.payload, name="rd_cmd_next")
        cmd_valid = Signal()  # a command waits in the register for the DMA
        load_step = Signal(2)  # 0: A, 1: B, 2: QP
        op_half = Mux(
            load_step == 0, load_r.a_half, Mux(load_step == 1, load_r.b_half, load_r.qp_half)
        )
        wanted = Mux(load_step == 0, load_r.load_a, Mux(load_step == 1, 1, load_r.load_qp))
        op_full = Mux(load_step == 0, self.a_full, Mux(load_step == 1, self.b_full, self.qp_full))
        op_loading = Mux(
            load_step == 0,
            loading[Operand.A],
            Mux(load_step == 1, loading[Operand.B], loading[Operand.QP]),
        )
        half_free = ~op_full.bit_select(op_half, 1) & ~op_loading.bit_select(op_half, 1)
        with m.Switch(load_step):
            with m.Case(0):
                m.d.comb += [
                    rc.addr.eq(load_r.a_addr),
                    rc.rows.eq(load_r.tm),
                    rc.row_bytes.eq(load_r.tk),
                    rc.stride.eq(desc.a_stride),
                    rc.tag.eq(Operand.A),
                ]
            with m.Case(1):
                m.d.comb += [
                    rc.addr.eq(load_r.b_addr),
                    rc.rows.eq(load_r.tk),
                    rc.row_bytes.eq(load_r.tn),
                    rc.stride.eq(desc.b_stride),
                    rc.tag.eq(Operand.B),
                ]
            with m.Default():
                m.d.comb += [
                    rc.addr.eq(load_r.qp_addr),
                    rc.rows.eq(1),
                    rc.row_bytes.eq(load_r.tn * QP_RECORD_BYTES),
                    rc.stride.eq(load_r.tn * QP_RECORD_BYTES),
                    rc.tag.eq(Operand.QP),
                ]
        m.d.comb += [rc.bank.eq(Cat(rc.tag, op_half)), rc.base.eq(0)]
        # Not in the cycle a completion arrives: after an error completion the DMA takes
        # commands again, and this job must not give it one.
        # Nor in the cycle of a write error or ABORT, which stop the job from the next cycle.
        wr_bad = self.wr_done.valid & (self.wr_done.payload.resp != Resp.OKAY)
        halt = stopping | self.abort_req | self.dma_error
        can_issue = load_q.r_rdy & wanted & half_free & ~halt & ~self.rd_done.valid & ~wr_bad
        # "Issued" is the command entering the register (only when it is empty: commands come
        # once per tile, so half rate costs nothing). A command still waiting when the job
        # stops is dropped: after an error the DMA would otherwise take it once it drains.
        issued = can_issue & ~cmd_valid
        dropped = cmd_valid & halt
        m.d.comb += self.rd_cmd.valid.eq(cmd_valid & ~halt)
        # An ATTENTION job's reads take the same register (the GEMM load queue stays empty).
        att_issued = Signal()
        att_rc = Signal.like(rc, name="att_rd_cmd")
        if self._attention is not None:
            ar = att_seq.rd.payload
            m.d.comb += [
                att_issued.eq(
                    att_seq.rd.valid & ~halt & ~self.rd_done.valid & ~wr_bad & ~cmd_valid
                ),
                att_seq.rd.ready.eq(att_issued),
                att_rc.addr.eq(ar.addr),
                att_rc.rows.eq(ar.rows),
                att_rc.row_bytes.eq(ar.row_bytes),
                att_rc.stride.eq(ar.stride),
                att_rc.tag.eq(ar.tag),
                att_rc.bank.eq(ar.tag),
                att_rc.base.eq(0),
            ]
        with m.If(issued):
            m.d.sync += [cmd_valid.eq(1), self.rd_cmd.payload.eq(rc)]
        if self._attention is not None:
            with m.Elif(att_issued):
                m.d.sync += [cmd_valid.eq(1), self.rd_cmd.payload.eq(att_rc)]
        with m.Elif((self.rd_cmd.valid & self.rd_cmd.ready) | dropped):
            m.d.sync += cmd_valid.eq(0)
        issued_any = issued | att_issued
        advance = load_q.r_rdy & (issued | ~wanted)
        with m.If(advance):
            with m.If(load_step == 2):
                m.d.sync += load_step.eq(0)
                m.d.comb += load_q.r_en.eq(1)
            with m.Else():
                m.d.sync += load_step.eq(load_step + 1)
        for op in Operand:
            with m.If(issued & (rc.tag == op)):
                m.d.sync += loading[op].eq((loading[op] & ~full[op]) | Mux(op_half, 0b10, 0b01))

        rd_completed = self.rd_done.valid & self.rd_done.ready
        m.d.comb += self.rd_done.ready.eq(1)
        m.d.sync += rd_outstanding.eq(rd_outstanding + issued_any - rd_completed - dropped)
        rd_bad = rd_completed & (self.rd_done.payload.resp != Resp.OKAY)
        with m.If(rd_bad):
            m.d.sync += rd_err_seen.eq(1)
            rd_code = Mux(
                self.rd_done.payload.resp == Resp.DECERR,
                ErrorCode.AXI_RD_DECERR,
                ErrorCode.AXI_RD_SLVERR,
            )
            source = Signal(4)
            with m.Switch(self.rd_done.payload.tag):
                for op, src in _ERROR_SOURCE.items():
                    with m.Case(op):
                        m.d.comb += source.eq(src)
            record_error(rd_code, source, self.rd_done.payload.err_addr)

        # --- store engine --------------------------------------------------------------------
        wr_outstanding = Signal()
        wr_err_seen = Signal()
        tile_cmd_sent = Signal()  # the write command of the tile being streamed is out
        wc = self.wr_cmd.payload
        row_bytes = Signal(range((Tn << 2) + 1))
        m.d.comb += row_bytes.eq(store_r.tn << out_shift)
        write_ok = self.out_valid & ~halt & ~rd_bad & ~self.wr_done.valid
        gemm_wr_valid = store_q.r_rdy & ~tile_cmd_sent & write_ok
        wr_addr, wr_rows, wr_row_bytes = store_r.addr, store_r.tm, row_bytes
        wr_valid = gemm_wr_valid
        if self._attention is not None:
            # The write DMA takes one command at a time, so once the previous O write has
            # completed, a beat on offer is the first of the next query block's O.
            att_o = att_seq.o
            wr_addr = Mux(is_att, att_o.payload.addr, wr_addr)
            wr_rows = Mux(is_att, att_o.payload.rows, wr_rows)
            wr_row_bytes = Mux(is_att, desc.dv, wr_row_bytes)
            wr_valid = Mux(is_att, att_o.valid & ~wr_outstanding & write_ok, wr_valid)
        m.d.comb += [
            wc.addr.eq(wr_addr),
            wc.rows.eq(wr_rows),
            wc.row_bytes.eq(wr_row_bytes),
            wc.stride.eq(desc.c_stride),
            wc.valid_bytes.eq(wr_row_bytes),
            wc.tag.eq(0),
            self.wr_cmd.valid.eq(wr_valid),
        ]
        wr_issued = self.wr_cmd.valid & self.wr_cmd.ready
        m.d.comb += store_q.r_en.eq(wr_issued & ~is_att)
        if self._attention is not None:
            m.d.comb += att_o.ready.eq(wr_issued & is_att)
        with m.If(wr_issued):
            m.d.sync += tile_cmd_sent.eq(1)
        with m.If(self.out_last):
            m.d.sync += tile_cmd_sent.eq(0)
        wr_completed = self.wr_done.valid & self.wr_done.ready
        m.d.comb += self.wr_done.ready.eq(1)
        c_written = Signal.like(c_tiles)
        with m.If(wr_issued):
            m.d.sync += wr_outstanding.eq(1)
        with m.If(wr_completed):
            m.d.sync += [wr_outstanding.eq(0), c_written.eq(c_written + 1)]
            with m.If(self.wr_done.payload.resp != Resp.OKAY):
                m.d.sync += wr_err_seen.eq(1)
                wr_code = Mux(
                    self.wr_done.payload.resp == Resp.DECERR,
                    ErrorCode.AXI_WR_DECERR,
                    ErrorCode.AXI_WR_SLVERR,
                )
                record_error(wr_code, ErrSource.WRITE_C, self.wr_done.payload.err_addr)

        # --- job FSM -------------------------------------------------------------------------
        error_now = rd_bad | wr_bad
        with m.If(busy & (error_now | self.abort_req | self.dma_error)):
            m.d.sync += stopping.eq(1)
        with m.If(busy & self.abort_req):
            record_error(ErrorCode.ABORTED, ErrSource.DESCRIPTOR)
        rd_idle = (rd_outstanding == 0) | rd_err_seen
        wr_idle = ~wr_outstanding | wr_err_seen
        all_written = Signal()
        m.d.comb += all_written.eq(~seq_active & (c_written == c_tiles) & ~store_q.r_rdy)
        if self._attention is not None:
            with m.If(is_att):
                m.d.comb += all_written.eq(
                    ~att_seq.active & (c_written == att_seq.o_blocks) & ~att_seq.o.valid
                )
        m.d.comb += self.draining.eq(stopping)

        m.d.comb += [status.done_pulse.eq(0), status.error_pulse.eq(0), finish.eq(0)]
        m.d.comb += self.datapath_reset.eq(checking != 0)
        if self._attention is not None:
            m.d.comb += [
                att_seq.go.eq((checking == 1) & (check.err == 0) & is_att),
                # A stopped walk must not resume when the next job clears ``stopping``.
                att_seq.clear.eq(finish | (self.start & ~busy)),
            ]
        with m.If(self.start & ~busy):
            m.d.sync += [
                busy.eq(1),
                checking.eq(CHECK_CYCLES),
                running.eq(0),
                stopping.eq(0),
                status.done.eq(0),
                status.error.eq(0),
                err_code.eq(0),
                err_source.eq(0),
                err_addr.eq(0),
                rd_err_seen.eq(0),
                wr_err_seen.eq(0),
                c_written.eq(0),
                c_tiles.eq(0),
                tile_parity.eq(0),
                a_half.eq(0),
                qp_half.eq(0),
                a_loads.eq(0),
                load_step.eq(0),
                tile_cmd_sent.eq(0),
                # A failed job may leave counts behind: the read DMA drops the command after
                # a failing one without a completion. Both DMAs are idle when a job ends.
                rd_outstanding.eq(0),
                cmd_valid.eq(0),
                wr_outstanding.eq(0),
                *(loading[op].eq(0) for op in Operand),
                strip.eq(0),
                col0.eq(0),
            ]
        with m.Elif(checking != 0):
            m.d.sync += checking.eq(checking - 1)
            with m.If(checking == 1):
                with m.If(check.err != 0):
                    record_error(check.err, ErrSource.DESCRIPTOR)
                    m.d.comb += finish.eq(1)
                with m.Else():
                    m.d.sync += [
                        running.eq(1),
                        seq_active.eq(~is_att),
                        M.eq(desc.m),
                        K.eq(desc.k),
                        N.eq(desc.n),
                        m0.eq(0),
                        n0.eq(0),
                        k0.eq(0),
                        a_row.eq(desc.a_addr),
                        b_row.eq(desc.b_addr),
                        b_panel.eq(0),
                        c_row.eq(desc.c_addr),
                        a_block.eq(desc.a_stride * Tm),
                        b_block.eq(desc.b_stride * Tk),
                        c_block.eq(desc.c_stride * Tm),
                        packed.eq(desc.b_tile_stride != 0),
                    ]
        with m.Elif(running):
            with m.If(stopping):
                with m.If(rd_idle & wr_idle & ~error_now):
                    m.d.comb += finish.eq(1)
            with m.Elif(all_written & (rd_outstanding == 0)):
                m.d.comb += finish.eq(1)

        # A job that stopped early leaves records and half-used banks behind: the datapath is
        # reset in the cycle after it ends (and again by the next START's check).
        reset_after = Signal()
        failed = stopping | (err_code != 0) | ((checking == 1) & (check.err != 0))
        m.d.sync += reset_after.eq(finish & failed)
        with m.If(reset_after):
            m.d.comb += self.datapath_reset.eq(1)
        with m.If(finish):
            m.d.sync += [busy.eq(0), running.eq(0), seq_active.eq(0), status.done.eq(1)]
            m.d.comb += status.done_pulse.eq(1)
            with m.If(failed):
                m.d.sync += status.error.eq(1)
                m.d.comb += status.error_pulse.eq(1)

        return m
