"""The accelerator's write DMA: 2-D strided writes over the AW/W/B half of an AXI4 master
(docs/accelerator.md §2.2, §3.2 ``AxiWriteDma``)."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.errors import check_int
from golden.frontend import AXI_BOUNDARY_BYTES, OUTSTANDING_LIMIT
from hdl.bus.axi import WRITE_CHANNELS, Axi4Signature, Burst, Resp, axi4_channels_signature
from hdl.dma.read import ROW_BYTES_WIDTH, ROWS_WIDTH, check_dma_config

__all__ = [
    "AWCACHE",
    "AWPROT",
    "AxiWriteDma",
    "axi4_write_signature",
    "write_cmd_layout",
    "write_data_layout",
    "write_done_layout",
]

#: AWCACHE: normal non-cacheable bufferable (docs/accelerator.md §2.2).
AWCACHE = 0b0011
#: AWPROT: unprivileged, non-secure, data access.
AWPROT = 0b010


def axi4_write_signature(config, *, id_width=1):
    """The AW, W and B members of :class:`~hdl.bus.axi.Axi4Signature` for ``config``'s bus,
    from the master's view (``awid`` … ``awready``, ``wdata`` … ``wready``, ``bid`` …
    ``bready``)."""
    config = check_dma_config(config)
    full = Axi4Signature(
        addr_width=config.addr_width, data_width=config.data_width, id_width=id_width
    )
    return axi4_channels_signature(full, WRITE_CHANNELS)


def write_cmd_layout(config, *, tag_width):
    """Payload of a write command: the 2-D destination (``addr``, ``rows``, ``row_bytes``,
    ``stride``, as :class:`golden.dma.ReadCommand`), ``valid_bytes`` (bytes of each row that
    are written; the rest of the row's beats go out with their strobes low) and ``tag``."""
    config = check_dma_config(config)
    return data.StructLayout(
        {
            "addr": config.addr_width,
            "rows": ROWS_WIDTH,
            "row_bytes": ROW_BYTES_WIDTH,
            "stride": config.addr_width,
            "valid_bytes": ROW_BYTES_WIDTH,
            "tag": tag_width,
        }
    )


def write_data_layout(config):
    """Payload of a data beat: one W beat's ``data``."""
    config = check_dma_config(config)
    return data.StructLayout({"data": config.data_width})


def write_done_layout(config, *, tag_width):
    """Payload of a completion: ``tag``, ``resp`` (OKAY, or the first SLVERR or DECERR) and
    ``err_addr`` (AWADDR of the burst that failed; 0 with OKAY)."""
    config = check_dma_config(config)
    return data.StructLayout({"tag": tag_width, "resp": Resp, "err_addr": config.addr_width})


class AxiWriteDma(wiring.Component):
    """2-D strided writes to an AXI4 slave from a stream of data beats.

    A command is cut into INCR bursts exactly as :func:`golden.dma.plan_bursts` cuts a read
    of the same shape (row merging, ``max_burst``, 4 KiB). ``data`` carries the command's
    ``rows · ceil(row_bytes/W)`` beats in address order; only that many are taken per command.
    Commands are handled one at a time: the next is taken once the previous one's ``done`` is
    loaded.

    An AW is loaded only when all of its burst's beats are in the data FIFO (depth
    ``2·burst_beats``) beyond those owed to bursts already issued, so W never stalls mid-burst
    on the master's side. WSTRB enables byte ``j`` of a beat at row offset ``o`` when
    ``o + j < valid_bytes``. Up to ``outstanding_writes`` bursts are in flight, counted from
    the AW load to its B.

    Errors: the first B with BRESP SLVERR or DECERR records BRESP and its burst's AWADDR. No
    AW is loaded from that cycle on; W beats of bursts already issued go out with WSTRB 0
    (a beat already presented keeps its strobes, as AXI requires a stable payload); the rest
    of the command's data is taken and dropped. Once every issued burst has its B, ``done``
    carries the error, and the DMA takes commands again.

    Parameters
    ----------
    config : FrontendConfig
        ``data_width``, ``addr_width``, ``max_burst``.
    tag_width : int
        Bits of the command tag, 1 to 16.
    outstanding_writes : int
        Bursts in flight, 1 to ``golden.frontend.OUTSTANDING_LIMIT``.
    id_width : int
        AWID/BID bits, 1 to 32 (AWID is driven 0, BID is ignored).

    Members
    -------
    cmd : In(stream.Signature(write_cmd_layout(...)))
        Commands; ``valid_bytes`` is 1 to ``row_bytes`` (not checked here).
    data : In(stream.Signature(write_data_layout(config)))
        The commands' beats, in order.
    done : Out(stream.Signature(write_done_layout(...)))
        One completion per command, in order.
    error : Out(1)
        High from the cycle the first error B is taken until its ``done`` is taken, so a
        controller can stop issuing work before the outstanding bursts have drained.
    axi : Out(axi4_write_signature(config, id_width=id_width))
        The AW, W and B channels.
    """

    def __init__(self, config, *, tag_width=4, outstanding_writes=4, id_width=1):
        self._config = check_dma_config(config)
        self._tag_width = check_int("tag_width", tag_width, 1, 16)
        self._outstanding = check_int(
            "outstanding_writes", outstanding_writes, 1, OUTSTANDING_LIMIT
        )
        self._id_width = check_int("id_width", id_width, 1, 32)
        super().__init__(
            {
                "cmd": In(stream.Signature(write_cmd_layout(config, tag_width=tag_width))),
                "data": In(stream.Signature(write_data_layout(config))),
                "done": Out(stream.Signature(write_done_layout(config, tag_width=tag_width))),
                "error": Out(1),
                "axi": Out(axi4_write_signature(config, id_width=id_width)),
            }
        )

    @property
    def config(self):
        return self._config

    @property
    def tag_width(self):
        return self._tag_width

    @property
    def outstanding_writes(self):
        return self._outstanding

    @property
    def id_width(self):
        return self._id_width

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        w = cfg.beat_bytes
        beat_shift = w.bit_length() - 1
        page_beats = AXI_BOUNDARY_BYTES // w
        axi = self.axi

        m.d.comb += [
            axi.awid.eq(0),
            axi.awsize.eq(beat_shift),
            axi.awburst.eq(Burst.INCR),
            axi.awlock.eq(0),
            axi.awcache.eq(AWCACHE),
            axi.awprot.eq(AWPROT),
        ]

        # Two bursts deep: the next burst's beats gather while this one's go out, so its AW is
        # ready when the bus is.
        fifo_beats = 2 * cfg.burst_beats
        m.submodules.dfifo = dfifo = fifo.SyncFIFO(width=cfg.data_width, depth=fifo_beats)
        # ARLEN of each issued burst whose W beats are not all sent.
        m.submodules.wq = wq = fifo.SyncFIFO(width=8, depth=self._outstanding)
        # AWADDR of each issued burst without its B yet.
        m.submodules.bq = bq = fifo.SyncFIFO(width=cfg.addr_width, depth=self._outstanding)

        busy = Signal()
        issuing = Signal()  # bursts of the command are left to issue
        in_left = Signal(ROWS_WIDTH + ROW_BYTES_WIDTH)  # data beats of the command not yet taken
        w_pending = Signal(range(cfg.burst_beats * (self._outstanding + 1) + 1))
        tag = Signal(self._tag_width)
        valid_bytes = Signal(ROW_BYTES_WIDTH)
        row_beats = Signal(ROW_BYTES_WIDTH - beat_shift + 1)

        err = Signal()
        err_resp = Signal(2)
        err_addr = Signal(cfg.addr_width)

        # --- Data in ----------------------------------------------------------------------
        m.d.comb += [
            self.data.ready.eq(busy & dfifo.w_rdy & (in_left != 0)),
            dfifo.w_data.eq(self.data.payload.data),
            dfifo.w_en.eq(self.data.valid & self.data.ready),
        ]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += in_left.eq(in_left - 1)

        # --- B ----------------------------------------------------------------------------
        m.d.comb += axi.bready.eq(bq.r_rdy)
        b_fire = axi.bvalid & axi.bready
        b_error = b_fire & axi.bresp[1] & ~err
        m.d.comb += self.error.eq(err | b_error)
        m.d.comb += bq.r_en.eq(b_fire)
        with m.If(b_error):
            m.d.sync += [err.eq(1), err_resp.eq(axi.bresp), err_addr.eq(bq.r_data)]

        # --- W ----------------------------------------------------------------------------
        w_count = Signal(8)
        w_col = Signal(ROW_BYTES_WIDTH)  # byte offset of the next beat within its row
        w_row_beat = Signal.like(row_beats)
        # Strobes off for beats presented after the error; a held beat keeps its strobes.
        kill = Signal()
        held = axi.wvalid & ~axi.wready
        with m.If(~held):
            m.d.sync += kill.eq(err | b_error)
        strb = Cat((w_col + j) < valid_bytes for j in range(w))
        m.d.comb += [
            axi.wvalid.eq(wq.r_rdy & dfifo.r_rdy),
            axi.wdata.eq(dfifo.r_data),
            axi.wstrb.eq(Mux(kill, 0, strb)),
            axi.wlast.eq(w_count == wq.r_data),
        ]
        w_fire = axi.wvalid & axi.wready
        # After the error, beats not owed to an issued burst are dropped.
        drop = busy & err & (w_pending == 0) & dfifo.r_rdy
        m.d.comb += [
            dfifo.r_en.eq(w_fire | drop),
            wq.r_en.eq(w_fire & axi.wlast),
        ]
        with m.If(w_fire):
            m.d.sync += w_count.eq(Mux(axi.wlast, 0, w_count + 1))
            with m.If(w_row_beat == row_beats - 1):
                m.d.sync += [w_row_beat.eq(0), w_col.eq(0)]
            with m.Else():
                m.d.sync += [w_row_beat.eq(w_row_beat + 1), w_col.eq(w_col + w)]

        # --- Planner (golden.dma.plan_bursts) ---------------------------------------------
        p_addr = Signal(cfg.addr_width)
        p_run_addr = Signal(cfg.addr_width)
        p_stride = Signal(cfg.addr_width)
        p_run_left = Signal(cfg.addr_width - beat_shift + 1)
        p_row_beats = Signal.like(row_beats)
        p_runs_left = Signal(ROWS_WIDTH)

        to_boundary = Signal(range(page_beats + 1))
        m.d.comb += to_boundary.eq(page_beats - p_addr[beat_shift:12])
        limit = Signal(range(cfg.burst_beats + 1))
        m.d.comb += limit.eq(Mux(to_boundary < cfg.burst_beats, to_boundary, cfg.burst_beats))
        n = Signal(range(cfg.burst_beats + 1))
        m.d.comb += n.eq(Mux(p_run_left < limit, p_run_left, limit))
        run_end = p_run_left == n
        cmd_end = run_end & (p_runs_left == 0)

        # Beats in the FIFO not owed to bursts already issued.
        free_beats = Signal(range(fifo_beats + 1))
        m.d.comb += free_beats.eq(dfifo.r_level - w_pending)
        load = (
            issuing
            & ~err
            & ~b_error
            & (free_beats >= n)
            & wq.w_rdy
            & bq.w_rdy
            & (~axi.awvalid | axi.awready)
        )
        m.d.comb += [
            wq.w_en.eq(load),
            wq.w_data.eq(n - 1),
            bq.w_en.eq(load),
            bq.w_data.eq(p_addr),
        ]
        m.d.sync += w_pending.eq(w_pending + Mux(load, n, 0) - w_fire)
        with m.If(axi.awvalid & axi.awready):
            m.d.sync += axi.awvalid.eq(0)
        with m.If(load):
            m.d.sync += [
                axi.awvalid.eq(1),
                axi.awaddr.eq(p_addr),
                axi.awlen.eq(n - 1),
                p_run_left.eq(p_run_left - n),
                p_addr.eq(p_addr + (n << beat_shift)),
            ]
            with m.If(run_end):
                next_run = p_run_addr + p_stride
                m.d.sync += [
                    p_runs_left.eq(p_runs_left - 1),
                    p_run_addr.eq(next_run),
                    p_addr.eq(next_run),
                    p_run_left.eq(p_row_beats),
                ]
            with m.If(cmd_end):
                m.d.sync += issuing.eq(0)
        with m.If(b_error):
            m.d.sync += issuing.eq(0)

        # --- Done -------------------------------------------------------------------------
        with m.If(self.done.valid & self.done.ready):
            m.d.sync += self.done.valid.eq(0)
        finished = busy & ~issuing & (in_left == 0) & ~dfifo.r_rdy & (w_pending == 0) & ~bq.r_rdy
        with m.If(finished & ~self.done.valid):
            m.d.sync += [
                busy.eq(0),
                err.eq(0),
                self.done.valid.eq(1),
                self.done.payload.tag.eq(tag),
                self.done.payload.resp.eq(Mux(err, err_resp, Resp.OKAY)),
                self.done.payload.err_addr.eq(Mux(err, err_addr, 0)),
            ]

        # --- Commands ---------------------------------------------------------------------
        cmd = self.cmd.payload
        m.d.comb += self.cmd.ready.eq(~busy)
        c_row_beats = Signal.like(row_beats)
        m.d.comb += c_row_beats.eq((cmd.row_bytes + (w - 1)) >> beat_shift)
        merged = (cmd.stride == (c_row_beats << beat_shift)) | (cmd.rows == 1)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [
                busy.eq(1),
                issuing.eq(1),
                in_left.eq(cmd.rows * c_row_beats),
                tag.eq(cmd.tag),
                valid_bytes.eq(cmd.valid_bytes),
                row_beats.eq(c_row_beats),
                w_count.eq(0),
                w_col.eq(0),
                w_row_beat.eq(0),
                p_addr.eq(cmd.addr),
                p_run_addr.eq(cmd.addr),
                p_stride.eq(cmd.stride),
                p_row_beats.eq(c_row_beats),
            ]
            with m.If(merged):
                m.d.sync += [p_run_left.eq(cmd.rows * c_row_beats), p_runs_left.eq(0)]
            with m.Else():
                m.d.sync += [p_run_left.eq(c_row_beats), p_runs_left.eq(cmd.rows - 1)]

        return m
