"""The accelerator's read DMA: 2-D strided reads over the AR/R half of an AXI4 master
(docs/accelerator.md §2.2, §3.2 ``AxiReadDma``)."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.dma import MAX_ROW_BYTES, MAX_ROWS
from golden.errors import check_instance, check_int
from golden.frontend import AXI_BOUNDARY_BYTES, FrontendConfig
from hdl.bus.axi import READ_CHANNELS, Axi4Signature, Burst, Resp, axi4_channels_signature

__all__ = [
    "ARCACHE",
    "ARPROT",
    "AxiReadDma",
    "axi4_read_signature",
    "read_beat_layout",
    "read_cmd_layout",
    "read_done_layout",
]

#: ARCACHE: normal non-cacheable bufferable (accelerator §2.2, as verilog-axi's ``axi_dma_rd``).
ARCACHE = 0b0011
#: ARPROT: unprivileged, non-secure, data access.
ARPROT = 0b010
#: Bits of a command's ``rows`` field.
ROWS_WIDTH = MAX_ROWS.bit_length()
#: Bits of a command's ``row_bytes`` field.
ROW_BYTES_WIDTH = MAX_ROW_BYTES.bit_length()


def check_dma_config(config):
    """``config`` if it is a :class:`~golden.frontend.FrontendConfig`; a usage error otherwise."""
    return check_instance("config", config, FrontendConfig)


def axi4_read_signature(config, *, id_width=1):
    """The AR and R members of :class:`~hdl.bus.axi.Axi4Signature` for ``config``'s bus, from
    the master's view (``arid`` … ``arready``, ``rid`` … ``rready``)."""
    config = check_dma_config(config)
    full = Axi4Signature(
        addr_width=config.addr_width, data_width=config.data_width, id_width=id_width
    )
    return axi4_channels_signature(full, READ_CHANNELS)


def read_cmd_layout(config, *, tag_width, bank_width, dest_width):
    """Payload of a read command: the 2-D source of :class:`golden.dma.ReadCommand` (``addr``,
    ``rows``, ``row_bytes``, ``stride``), the caller's ``tag``, and the destination ``bank`` and
    ``base`` (beat address of the command's first beat in the bank)."""
    config = check_dma_config(config)
    return data.StructLayout(
        {
            "addr": config.addr_width,
            "rows": ROWS_WIDTH,
            "row_bytes": ROW_BYTES_WIDTH,
            "stride": config.addr_width,
            "tag": tag_width,
            "bank": bank_width,
            "base": dest_width,
        }
    )


def read_beat_layout(config, *, tag_width, bank_width, dest_width):
    """Payload of a data beat: the command's ``tag`` and ``bank``, ``addr`` = ``base`` + the
    beat's index in the command (modulo ``2^dest_width``), the R ``data``, and ``last`` on the
    command's last beat."""
    config = check_dma_config(config)
    return data.StructLayout(
        {
            "tag": tag_width,
            "bank": bank_width,
            "addr": dest_width,
            "data": config.data_width,
            "last": 1,
        }
    )


def read_done_layout(config, *, tag_width):
    """Payload of a completion: the command's ``tag``, ``resp`` (OKAY, or the first SLVERR or
    DECERR) and ``err_addr`` (ARADDR of the burst that failed; 0 with OKAY)."""
    config = check_dma_config(config)
    return data.StructLayout({"tag": tag_width, "resp": Resp, "err_addr": config.addr_width})


class AxiReadDma(wiring.Component):
    """2-D strided reads from an AXI4 slave into destination banks.

    A command (:class:`golden.dma.ReadCommand` plus tag and destination) is cut into INCR
    bursts exactly as :func:`golden.dma.plan_bursts` cuts it: adjacent rows
    (``stride == ceil(row_bytes/W)·W``) merge into one run, runs split at ``max_burst`` beats
    and at every 4 KiB boundary. Addresses and strides must be multiples of ``W = D/8`` (the
    descriptor check refuses anything else before a command is sent); the DMA does not check.

    Bus: one ID (0), ``ARBURST`` INCR, ``ARSIZE = log2 W``, ``ARCACHE`` 0011, ``ARPROT`` 010,
    ``ARLOCK`` 0; AR outputs come from registers. Up to ``outstanding_reads`` bursts are in
    flight: each burst's ``{tag, bank, base, len, last, addr}`` waits in a FIFO of that depth
    from the cycle its AR is loaded until its last R beat, so a full FIFO holds back the next
    AR. R beats are counted against ARLEN (RLAST is not needed; one ID keeps them in order).

    R data is forwarded as it arrives: ``beat.valid`` follows ``rvalid`` and ``rready`` follows
    ``beat.ready`` in the same cycle (no landing buffer). The last beat of a command is taken
    only while ``done`` is empty, as it loads ``done`` (valid the next cycle).

    Errors: the first R beat with RRESP SLVERR or DECERR is not forwarded; its RRESP and its
    burst's ARADDR are kept, no AR is loaded from that cycle on (an AR already on the bus
    stays until ARREADY, as AXI requires), and every later R beat is taken and dropped. Once
    every issued burst has completed, ``done`` carries ``{tag of the failing command, RRESP,
    ARADDR}``, and the DMA takes commands again (``cmd.ready`` is low from the failing beat's
    cycle until then). The rest of the failing command, and the command taken after it if
    there is one, are abandoned without a ``done`` of their own; each command that completed
    before the error got ``done`` with OKAY. So after a ``done`` with an error every AR issued
    has completed and the DMA is idle.

    Timing: a command taken at cycle t has its first AR valid at t + :attr:`issue_latency`;
    ARs follow every :attr:`issue_interval` cycle while ARREADY is high and fewer than
    ``outstanding_reads`` bursts are in flight, across command boundaries too (the next
    command is taken in the cycle the previous one's last AR is loaded).

    Parameters
    ----------
    config : FrontendConfig
        ``data_width``, ``addr_width``, ``max_burst``, ``outstanding_reads``.
    tag_width : int
        Bits of the caller's command tag, 1 to 16.
    bank_width : int
        Bits of the destination bank number, 1 to 8.
    dest_width : int
        Bits of a beat address within a bank, 1 to 32.
    id_width : int
        ARID/RID bits, 1 to 32 (ARID is driven 0, RID is ignored).

    Members
    -------
    cmd : In(stream.Signature(read_cmd_layout(...)))
        Commands.
    beat : Out(stream.Signature(read_beat_layout(...)))
        Data beats, in command and address order.
    done : Out(stream.Signature(read_done_layout(...)))
        One completion per command, in order (see Errors).
    error : Out(1)
        High from the cycle the first error beat is taken until its ``done`` is taken, so a
        controller can stop issuing work before the outstanding bursts have drained.
    axi : Out(axi4_read_signature(config, id_width=id_width))
        The AR and R channels.
    """

    def __init__(self, config, *, tag_width=4, bank_width=2, dest_width=12, id_width=1):
        self._config = check_dma_config(config)
        self._tag_width = check_int("tag_width", tag_width, 1, 16)
        self._bank_width = check_int("bank_width", bank_width, 1, 8)
        self._dest_width = check_int("dest_width", dest_width, 1, 32)
        self._id_width = check_int("id_width", id_width, 1, 32)
        widths = dict(tag_width=tag_width, bank_width=bank_width, dest_width=dest_width)
        super().__init__(
            {
                "cmd": In(stream.Signature(read_cmd_layout(config, **widths))),
                "beat": Out(stream.Signature(read_beat_layout(config, **widths))),
                "done": Out(stream.Signature(read_done_layout(config, tag_width=tag_width))),
                "error": Out(1),
                "axi": Out(axi4_read_signature(config, id_width=id_width)),
            }
        )

    @property
    def config(self):
        return self._config

    @property
    def tag_width(self):
        return self._tag_width

    @property
    def bank_width(self):
        return self._bank_width

    @property
    def dest_width(self):
        return self._dest_width

    @property
    def id_width(self):
        return self._id_width

    @property
    def issue_latency(self):
        """Cycles from a command's transfer to its first ARVALID: 2 (the command register, then
        the AR register)."""
        return 2

    @property
    def issue_interval(self):
        """Cycles between AR loads when nothing holds them back: 1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        w = cfg.beat_bytes
        beat_shift = w.bit_length() - 1
        page_beats = AXI_BOUNDARY_BYTES // w
        axi = self.axi

        m.d.comb += [
            axi.arid.eq(0),
            axi.arsize.eq(beat_shift),
            axi.arburst.eq(Burst.INCR),
            axi.arlock.eq(0),
            axi.arcache.eq(ARCACHE),
            axi.arprot.eq(ARPROT),
        ]

        # Bursts in flight, oldest first: loaded with the AR, popped by its last R beat.
        entry_layout = data.StructLayout(
            {
                "tag": self._tag_width,
                "bank": self._bank_width,
                "base": self._dest_width,
                "len": 8,
                "last": 1,
                "addr": cfg.addr_width,
            }
        )
        m.submodules.bursts = bursts = fifo.SyncFIFO(
            width=entry_layout.size, depth=cfg.outstanding_reads
        )
        head = entry_layout(bursts.r_data)
        pushed = entry_layout(bursts.w_data)

        # --- Error state -------------------------------------------------------------------
        err = Signal()  # an error was seen; draining
        err_resp = Signal(2)
        err_addr = Signal(cfg.addr_width)
        err_tag = Signal(self._tag_width)

        # --- R side: forward beats, pop bursts, load done ----------------------------------
        beat_count = Signal(8)  # beats of the head burst already taken
        r_end = beat_count == head.len
        r_bad = axi.rresp[1]  # SLVERR (10) or DECERR (11)
        r_cmd_last = r_end & head.last
        # The last beat of a command loads done, so it waits for done to be free.
        r_forward = bursts.r_rdy & ~err & ~r_bad & (~r_cmd_last | ~self.done.valid)
        m.d.comb += [
            self.beat.valid.eq(axi.rvalid & r_forward),
            self.beat.payload.tag.eq(head.tag),
            self.beat.payload.bank.eq(head.bank),
            self.beat.payload.addr.eq(head.base + beat_count),
            self.beat.payload.data.eq(axi.rdata),
            self.beat.payload.last.eq(r_cmd_last),
            axi.rready.eq(bursts.r_rdy & (err | r_bad | (r_forward & self.beat.ready))),
        ]
        r_fire = axi.rvalid & axi.rready
        r_error = r_fire & r_bad & ~err  # the first failing beat
        m.d.comb += self.error.eq(err | r_error)
        with m.If(r_fire):
            m.d.sync += beat_count.eq(Mux(r_end, 0, beat_count + 1))
            m.d.comb += bursts.r_en.eq(r_end)
        with m.If(r_error):
            m.d.sync += [
                err.eq(1),
                err_resp.eq(axi.rresp),
                err_addr.eq(head.addr),
                err_tag.eq(head.tag),
            ]

        with m.If(self.done.valid & self.done.ready):
            m.d.sync += self.done.valid.eq(0)
        with m.If(r_fire & r_forward & r_cmd_last):
            m.d.sync += [
                self.done.valid.eq(1),
                self.done.payload.tag.eq(head.tag),
                self.done.payload.resp.eq(Resp.OKAY),
                self.done.payload.err_addr.eq(0),
            ]
        # Every burst issued before the error has completed (its FIFO entry was pushed when
        # its AR was loaded, so an empty FIFO also means no AR is waiting on the bus).
        with m.If(err & ~bursts.r_rdy & ~self.done.valid):
            m.d.sync += [
                err.eq(0),
                self.done.valid.eq(1),
                self.done.payload.tag.eq(err_tag),
                self.done.payload.resp.eq(err_resp),
                self.done.payload.err_addr.eq(err_addr),
            ]

        # --- Planner: the command being cut into bursts (golden.dma.plan_bursts) ----------
        busy = Signal()
        p_addr = Signal(cfg.addr_width)  # next burst's address
        p_run_addr = Signal(cfg.addr_width)  # start of the current run
        p_stride = Signal(cfg.addr_width)
        # Beats left in the run: a merged run is at most the whole address space.
        p_run_left = Signal(cfg.addr_width - beat_shift + 1)
        p_row_beats = Signal(ROW_BYTES_WIDTH - beat_shift + 1)
        p_runs_left = Signal(ROWS_WIDTH)  # runs after the current one
        p_tag = Signal(self._tag_width)
        p_bank = Signal(self._bank_width)
        p_base = Signal(self._dest_width)  # destination of the next burst's first beat

        to_boundary = Signal(range(page_beats + 1))
        m.d.comb += to_boundary.eq(page_beats - p_addr[beat_shift:12])
        # Beats of the next burst: min(run left, max_burst, beats to the 4 KiB boundary).
        limit = Signal(range(cfg.burst_beats + 1))
        m.d.comb += limit.eq(Mux(to_boundary < cfg.burst_beats, to_boundary, cfg.burst_beats))
        n = Signal(range(cfg.burst_beats + 1))
        m.d.comb += n.eq(Mux(p_run_left < limit, p_run_left, limit))
        run_end = p_run_left == n
        cmd_end = run_end & (p_runs_left == 0)

        # Load the next AR unless an error was seen, in an earlier cycle or in this one.
        load = busy & ~err & ~r_error & bursts.w_rdy & (~axi.arvalid | axi.arready)
        m.d.comb += [
            bursts.w_en.eq(load),
            pushed.tag.eq(p_tag),
            pushed.bank.eq(p_bank),
            pushed.base.eq(p_base),
            pushed.len.eq(n - 1),
            pushed.last.eq(cmd_end),
            pushed.addr.eq(p_addr),
        ]
        with m.If(axi.arvalid & axi.arready):
            m.d.sync += axi.arvalid.eq(0)
        with m.If(load):
            m.d.sync += [
                axi.arvalid.eq(1),
                axi.araddr.eq(p_addr),
                axi.arlen.eq(n - 1),
                p_base.eq(p_base + n),
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
                m.d.sync += busy.eq(0)
        with m.If(r_error):
            m.d.sync += busy.eq(0)  # abandon the rest of the command

        cmd = self.cmd.payload
        # Not in the cycle of the first error either, so that an error completion always
        # leaves the DMA idle.
        m.d.comb += self.cmd.ready.eq(~err & ~r_error & (~busy | (load & cmd_end)))
        row_beats = Signal.like(p_row_beats)
        m.d.comb += row_beats.eq((cmd.row_bytes + (w - 1)) >> beat_shift)
        # Adjacent rows (golden.dma.is_merged) are one run; so is a single row.
        merged = (cmd.stride == (row_beats << beat_shift)) | (cmd.rows == 1)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [
                busy.eq(1),
                p_addr.eq(cmd.addr),
                p_run_addr.eq(cmd.addr),
                p_stride.eq(cmd.stride),
                p_row_beats.eq(row_beats),
                p_tag.eq(cmd.tag),
                p_bank.eq(cmd.bank),
                p_base.eq(cmd.base),
            ]
            with m.If(merged):
                m.d.sync += [p_run_left.eq(cmd.rows * row_beats), p_runs_left.eq(0)]
            with m.Else():
                m.d.sync += [p_run_left.eq(row_beats), p_runs_left.eq(cmd.rows - 1)]

        return m
