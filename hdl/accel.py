"""The accelerator top: registers, controller, DMAs, scratchpad banks, array, accumulator and
output path behind one AXI4-Lite slave and one AXI4 master (docs/accelerator.md §2.2, §3)."""

from math import ceil

from amaranth.hdl import Module, Mux, ResetInserter, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from golden.descriptor import AttentionConfig
from golden.errors import UsageValueError, check_instance
from golden.frontend import FrontendConfig
from hdl.array.accumulator import TileAccumulator
from hdl.array.array import SystolicArray, array_latency
from hdl.array.feeder import OperandFeeder
from hdl.bus.axi import Axi4Signature, AxiLiteSignature
from hdl.ctrl.attention_seq import ATTENTION_OPERANDS, attention_tile_kwargs
from hdl.ctrl.controller import READ_BANK_WIDTH, READ_TAG_WIDTH, WRITE_TAG_WIDTH, GemmController
from hdl.ctrl.csr import CSR_ADDR_WIDTH, CSR_DATA_WIDTH, AxiLiteCsr
from hdl.ctrl.regs import DEFAULT_MAX_DIM, hwcfg_values
from hdl.ctrl.tiles import (
    Operand,
    bank_row_bytes,
    bank_rows,
    check_accelerator_shape,
    dest_width,
)
from hdl.dma.read import AxiReadDma
from hdl.dma.write import AxiWriteDma
from hdl.mem.outbuf import OutputBuffer
from hdl.mem.row_beats import RowPacker, RowSplitter
from hdl.mem.scratchpad import PingPongBank
from hdl.post.convert import OutputConverter

__all__ = ["Accelerator", "write_bursts_in_flight"]


def write_bursts_in_flight(frontend_config):
    """Write bursts in flight: as many as reads (``outstanding_reads``), so that a C tile of
    short rows (one burst per row) streams out at the same bus efficiency as B comes in."""
    return frontend_config.outstanding_reads


def _popcount(m, value):
    total = 0
    for bit in value:
        total = total + bit
    result = Signal(range(len(value) + 1))
    m.d.comb += result.eq(total)
    return result


class Accelerator(wiring.Component):
    """A GEMM accelerator: the host writes a descriptor into the register window and sets
    START; the accelerator reads A and B (and the per-channel records) from memory, runs the
    tiled GEMM and writes C back, then raises DONE (and ``irq`` if enabled).

    Ports (with :func:`hdl.bus.axi.verilog_ports`): ``s_axil_*`` (AXI4-Lite slave, 12-bit
    address, 32-bit data), ``m_axi_*`` (AXI4 master, ``frontend_config``'s data and address
    widths, one ID), ``irq``; ``clk`` and ``rst`` (synchronous, active high) from the ``sync``
    domain.

    Parameters
    ----------
    array_config : ArrayConfig
        The array; R and C must divide the bus width in bytes.
    frontend_config : FrontendConfig
        Bus, bursts and tiles.
    max_dim : int
        Largest M, K or N a descriptor may ask for.
    pe_module : str or None
        Passed to :class:`~hdl.array.SystolicArray` (``None``: elaborate the PEs).
    attention : golden.descriptor.AttentionConfig or None
        Build an attention unit (an :class:`~hdl.attention.tile.AttentionTile` of R × C with
        its own array, R = C) that runs ATTENTION descriptors through the same registers,
        controller and DMAs (docs/attention.md §6). ``None``: GEMM only.
    attention_pe_module : str or None
        Passed to the attention unit's array as ``pe_module``.
    """

    def __init__(
        self,
        array_config,
        frontend_config=None,
        *,
        max_dim=DEFAULT_MAX_DIM,
        pe_module=None,
        attention=None,
        attention_pe_module=None,
    ):
        frontend_config = FrontendConfig() if frontend_config is None else frontend_config
        check_accelerator_shape(array_config, frontend_config)
        frontend_config.lanes_for(array_config.cols)
        if attention is not None:
            check_instance("attention", attention, AttentionConfig)
            if array_config.rows != array_config.cols:
                raise UsageValueError(
                    "the attention unit needs a square array (rows == cols), got "
                    f"{array_config.rows}x{array_config.cols}",
                    parameter="attention",
                )
        self._array_config = array_config
        self._frontend_config = frontend_config
        self._max_dim = max_dim
        self._pe_module = pe_module
        self._attention = attention
        self._attention_pe_module = attention_pe_module
        super().__init__(
            {
                "s_axil": In(
                    AxiLiteSignature(addr_width=CSR_ADDR_WIDTH, data_width=CSR_DATA_WIDTH)
                ),
                "m_axi": Out(
                    Axi4Signature(
                        addr_width=frontend_config.addr_width,
                        data_width=frontend_config.data_width,
                        id_width=1,
                    )
                ),
                "irq": Out(1),
            }
        )

    @property
    def array_config(self):
        return self._array_config

    @property
    def frontend_config(self):
        return self._frontend_config

    @property
    def max_dim(self):
        return self._max_dim

    @property
    def attention(self):
        """The attention unit's :class:`~golden.descriptor.AttentionConfig`, or ``None``."""
        return self._attention

    def attention_array_config(self):
        """The :class:`~hdl.config.ArrayConfig` of the attention unit's array (``None``
        without one)."""
        if self._attention is None:
            return None
        from hdl.attention.tile import tile_array_config

        R = self._array_config.rows
        return tile_array_config(R, R, max_d=self._attention.max_d, max_lk=self._attention.max_lk)

    def attention_tile(self):
        """A new :class:`~hdl.attention.tile.AttentionTile` as this accelerator builds it
        (``None`` without an attention unit): for its array configuration and cycle model."""
        if self._attention is None:
            return None
        from hdl.attention.tile import AttentionTile

        R = self._array_config.rows
        return AttentionTile(
            rows=R,
            cols=R,
            **attention_tile_kwargs(self._attention),
            pe_module=self._attention_pe_module,
        )

    @property
    def hwcfg(self):
        """``{register name: word}`` of the configuration registers (ID, VERSION, HWCFG0–6)."""
        return hwcfg_values(
            self._array_config,
            self._frontend_config,
            max_dim=self._max_dim,
            attention=self._attention,
        )

    def elaborate(self, platform):
        m = Module()
        acfg, cfg = self._array_config, self._frontend_config
        W = cfg.beat_bytes

        att = self._attention
        m.submodules.csr = csr = AxiLiteCsr(acfg, cfg, max_dim=self._max_dim, attention=att)
        m.submodules.ctrl = ctrl = GemmController(acfg, cfg, max_dim=self._max_dim, attention=att)
        m.submodules.rdma = rdma = AxiReadDma(
            cfg,
            tag_width=READ_TAG_WIDTH,
            bank_width=READ_BANK_WIDTH,
            dest_width=dest_width(acfg, cfg),
        )
        m.submodules.wdma = wdma = AxiWriteDma(
            cfg, tag_width=WRITE_TAG_WIDTH, outstanding_writes=write_bursts_in_flight(cfg)
        )

        # The datapath restarts clean with every job and after a job that stopped early.
        def datapath(name, component):
            m.submodules[name] = ResetInserter(ctrl.datapath_reset)(component)
            return component

        banks = {
            op: datapath(
                f"bank_{op.name.lower()}",
                PingPongBank(
                    beat_bytes=W,
                    row_bytes=bank_row_bytes(acfg, cfg, op),
                    rows=bank_rows(acfg, cfg, op),
                ),
            )
            for op in Operand
        }
        feeder = datapath("feeder", OperandFeeder(acfg, cfg))
        array = datapath("array", SystolicArray(acfg, pe_module=self._pe_module))
        acc = datapath("accumulator", TileAccumulator(acfg, acc_rows=feeder.acc_rows))
        convert = datapath("convert", OutputConverter(acfg, cfg))
        outbuf = datapath("outbuf", OutputBuffer(acfg, cfg))
        # Folds waiting between the feeder and the accumulator: every fold takes at least R
        # cycles on the array, so at most ceil(latency / R) + 1 are in flight.
        fold_depth = ceil(array_latency(acfg) / acfg.rows) + 2
        fold_q = fifo.SyncFIFOBuffered(width=feeder.folds.payload.shape().size, depth=fold_depth)
        m.submodules.fold_q = ResetInserter(ctrl.datapath_reset)(fold_q)

        # --- registers and controller --------------------------------------------------------
        wiring.connect(m, wiring.flipped(self.s_axil), csr.s_axil)
        m.d.comb += [
            ctrl.desc.eq(csr.desc),
            ctrl.start.eq(csr.start),
            ctrl.abort_req.eq(csr.abort_req),
            csr.status.eq(ctrl.status),
            self.irq.eq(csr.irq),
        ]

        # --- AXI master: the read DMA has AR/R, the write DMA AW/W/B ------------------------
        for dma in (rdma, wdma):
            for name, member in dma.axi.signature.members.items():
                ours = getattr(self.m_axi, name)
                theirs = getattr(dma.axi, name)
                if member.flow == Out:
                    m.d.comb += ours.eq(theirs)
                else:
                    m.d.comb += theirs.eq(ours)
        wiring.connect(m, ctrl.rd_cmd, rdma.cmd)
        wiring.connect(m, rdma.done, ctrl.rd_done)
        wiring.connect(m, ctrl.wr_cmd, wdma.cmd)
        wiring.connect(m, wdma.done, ctrl.wr_done)
        m.d.comb += ctrl.dma_error.eq(rdma.error | wdma.error)

        # --- read beats into the banks: bank field = {half, operand} -------------------------
        beat = rdma.beat
        operand = beat.payload.bank[:2]
        half = beat.payload.bank[2]
        to_banks = ~ctrl.attention_job
        for op, bank in banks.items():
            m.d.comb += [
                bank.w.valid.eq(beat.valid & to_banks & (operand == op)),
                bank.w.payload.half.eq(half),
                bank.w.payload.addr.eq(beat.payload.addr),
                bank.w.payload.data.eq(beat.payload.data),
                bank.w.payload.mask.eq(-1),
                bank.w.payload.last.eq(beat.payload.last),
            ]
            with m.If(operand == op):
                m.d.comb += beat.ready.eq(bank.w.ready)
        m.d.comb += [
            ctrl.a_full.eq(banks[Operand.A].full),
            ctrl.b_full.eq(banks[Operand.B].full),
            ctrl.qp_full.eq(banks[Operand.QP].full),
        ]

        # --- operand feeder and array --------------------------------------------------------
        wiring.connect(m, ctrl.feed, feeder.tile)
        m.d.comb += feeder.act_unsigned.eq(ctrl.job.act_unsigned)
        for prefix, op in (("a", Operand.A), ("b", Operand.B)):
            bank = banks[op]
            m.d.comb += [
                bank.rd_en.eq(getattr(feeder, f"{prefix}_rd_en")),
                bank.rd_half.eq(getattr(feeder, f"{prefix}_rd_half")),
                bank.rd_row.eq(getattr(feeder, f"{prefix}_rd_row")),
                getattr(feeder, f"{prefix}_rd_data").eq(bank.rd_data),
                getattr(feeder, f"{prefix}_full").eq(bank.full),
                bank.release.eq(getattr(feeder, f"{prefix}_release")),
                bank.release_half.eq(getattr(feeder, f"{prefix}_release_half")),
            ]
        wiring.connect(m, feeder.weights, array.weights)
        wiring.connect(m, feeder.acts, array.acts)
        m.d.comb += [
            fold_q.w_en.eq(feeder.folds.valid),
            fold_q.w_data.eq(feeder.folds.payload),
            feeder.folds.ready.eq(fold_q.w_rdy),
            acc.folds.valid.eq(fold_q.r_rdy),
            acc.folds.payload.eq(fold_q.r_data),
            fold_q.r_en.eq(acc.folds.ready),
        ]
        wiring.connect(m, array.results, acc.i)

        # --- output path ---------------------------------------------------------------------
        job = ctrl.job
        desc = csr.desc
        m.d.comb += [
            convert.mode.raw.eq(job.raw),
            convert.mode.fp8_out.eq(job.fp8_out),
            convert.mode.per_channel.eq(job.per_channel),
            convert.mode.bias_en.eq(job.bias_en),
            convert.q_mult.eq(desc.q_mult),
            convert.q_shift.eq(desc.q_shift),
            convert.q_zp.eq(desc.q_zp),
            convert.qmin.eq(desc.qmin),
            convert.qmax.eq(desc.qmax),
        ]
        wiring.connect(m, ctrl.strips, convert.strips)
        qp = banks[Operand.QP]
        m.d.comb += [
            qp.rd_en.eq(convert.qp_rd_en),
            qp.rd_half.eq(convert.qp_rd_half),
            qp.rd_row.eq(convert.qp_rd_row),
            convert.qp_rd_data.eq(qp.rd_data),
            convert.qp_full.eq(qp.full),
            qp.release.eq(convert.qp_release),
            qp.release_half.eq(convert.qp_release_half),
        ]
        wiring.connect(m, acc.o, convert.i)
        wiring.connect(m, convert.o, outbuf.i)
        wiring.connect(m, ctrl.out_tiles, outbuf.tiles)
        m.d.comb += outbuf.wide.eq(job.wide)
        m.d.comb += [
            wdma.data.valid.eq(outbuf.beats.valid),
            wdma.data.payload.data.eq(outbuf.beats.payload.data),
            outbuf.beats.ready.eq(wdma.data.ready),
        ]
        out_fire = outbuf.beats.valid & outbuf.beats.ready
        m.d.comb += [
            ctrl.out_valid.eq(outbuf.beats.valid),
            ctrl.out_last.eq(out_fire & outbuf.beats.payload.last),
        ]
        # Activation rows into an array: the GEMM array's, or the attention unit's.
        act_fire = array.acts.valid & array.acts.ready
        if att is not None:
            act_fire = self._attention_unit(m, ctrl, rdma, wdma, W) | act_fire

        # --- performance events --------------------------------------------------------------
        perf = csr.perf
        m.d.comb += [
            perf.cycles.eq(ctrl.status.busy),
            perf.array_busy.eq(act_fire),
            perf.stall_operand.eq(ctrl.status.busy & feeder.operand_wait),
            perf.stall_output.eq(array.acts.valid & ~array.acts.ready),
            perf.rd_bytes.eq(Mux(self.m_axi.rvalid & self.m_axi.rready, W, 0)),
            perf.wr_bytes.eq(
                Mux(self.m_axi.wvalid & self.m_axi.wready, _popcount(m, self.m_axi.wstrb), 0)
            ),
            perf.macs.eq(Mux(act_fire, acfg.rows * acfg.cols, 0)),
        ]
        return m

    def _attention_unit(self, m, ctrl, rdma, wdma, beat_bytes):
        """The attention unit beside the GEMM datapath: read beats of an ATTENTION job split
        into the tile's Q, K and V lanes (dropped once the job drains), its O lanes packed into
        write beats. Returns the tile's array-fire strobe (for the performance counters)."""
        att = self._attention
        desc = ctrl.desc
        lanes = self._array_config.rows
        tile = self.attention_tile()
        m.submodules.attention = ResetInserter(ctrl.datapath_reset)(tile)
        wiring.connect(m, ctrl.att_params, tile.params)
        beat = rdma.beat
        operand = beat.payload.bank[:2]
        row_bytes = {"q": desc.k, "k": desc.k, "v": desc.dv}
        max_row = {"q": att.max_d, "k": att.max_d, "v": att.max_dv}
        job = ctrl.attention_job
        with m.If(job & ctrl.draining):
            m.d.comb += beat.ready.eq(1)
        for name, code in ATTENTION_OPERANDS.items():
            split = RowSplitter(beat_bytes=beat_bytes, lanes=lanes, max_row_bytes=max_row[name])
            m.submodules[f"att_split_{name}"] = ResetInserter(ctrl.datapath_reset)(split)
            port = getattr(tile, name)
            selected = job & ~ctrl.draining & (operand == code)
            m.d.comb += [
                split.row_bytes.eq(row_bytes[name]),
                split.i.valid.eq(beat.valid & selected),
                split.i.payload.eq(beat.payload.data),
                port.valid.eq(split.o.valid),
                port.payload.eq(split.o.payload),
                split.o.ready.eq(port.ready),
            ]
            with m.If(selected):
                m.d.comb += beat.ready.eq(split.i.ready)
        m.d.comb += tile.row_max.valid.eq(0)  # the accelerator runs no preload blocks
        pack = RowPacker(beat_bytes=beat_bytes, lanes=lanes)
        m.submodules.att_pack = ResetInserter(ctrl.datapath_reset)(pack)
        m.d.comb += [
            pack.i.valid.eq(tile.o.valid),
            pack.i.payload.data.eq(tile.o.payload.data),
            pack.i.payload.last.eq(tile.o.payload.last),
            tile.o.ready.eq(pack.i.ready),
        ]
        with m.If(job):
            m.d.comb += [
                wdma.data.valid.eq(pack.o.valid),
                wdma.data.payload.data.eq(pack.o.payload.data),
                pack.o.ready.eq(wdma.data.ready),
                ctrl.out_valid.eq(pack.o.valid),
                ctrl.out_last.eq(0),
            ]
        return tile.array_fire
