"""The accelerator's AXI4-Lite register block (docs/accelerator.md §2.3, §3.2)."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hdl.bus.axi import AxiLiteSignature, Resp
from hdl.ctrl.regs import (
    DEFAULT_MAX_DIM,
    PERF_COUNTERS,
    REGS,
    WINDOW_BYTES,
    Access,
    ErrorCode,
    ErrSource,
    desc_layout,
    hwcfg_values,
)
from hdl.ctrl.tiles import check_accelerator_configs

__all__ = ["STATUS_LAYOUT", "AxiLiteCsr", "perf_event_layout"]

#: AXI4-Lite address bits of the register window.
CSR_ADDR_WIDTH = (WINDOW_BYTES - 1).bit_length()
#: AXI4-Lite data bits.
CSR_DATA_WIDTH = 32

#: What the controller reports: levels (``busy``, ``done``, ``error`` and the first error's
#: code, source and address) and one-cycle pulses that set IRQ_STATUS (``done_pulse`` when a
#: job finishes, ``error_pulse`` when it fails).
STATUS_LAYOUT = data.StructLayout(
    {
        "busy": 1,
        "done": 1,
        "error": 1,
        "err_code": 8,
        "err_source": 4,
        "err_addr": 64,
        "done_pulse": 1,
        "error_pulse": 1,
    }
)


def _counter_key(name):
    return name.lower()


def perf_event_layout(array_config, frontend_config):
    """Per-cycle increments of the performance counters, one field per counter of
    :data:`~hdl.ctrl.regs.PERF_COUNTERS`: 1 bit for the cycle counts, up to a beat's bytes for
    ``rd_bytes`` and ``wr_bytes``, up to R·C for ``macs`` (one fired row)."""
    byte_bits = frontend_config.beat_bytes.bit_length()
    widths = {
        "cycles": 1,
        "array_busy": 1,
        "stall_operand": 1,
        "stall_output": 1,
        "rd_bytes": byte_bits,
        "wr_bytes": byte_bits,
        "macs": array_config.pes.bit_length(),
    }
    return data.StructLayout(
        {_counter_key(name): widths[_counter_key(name)] for name, *_ in PERF_COUNTERS}
    )


def _desc_sources(layout):
    """For each descriptor field, its register fields ``[(Register, Field)]`` low bits first,
    checked to tile the descriptor field exactly."""
    sources = {}
    for reg, f in REGS.desc_fields():
        sources.setdefault(f.desc, []).append((reg, f))
    for name, parts in sources.items():
        parts.sort(key=lambda part: part[1].desc_lsb)
        position = 0
        for _reg, f in parts:
            if f.desc_lsb != position:
                raise RuntimeError(f"descriptor field {name} has a gap at bit {position}")
            position += f.width
        if position != layout[name].width:
            raise RuntimeError(
                f"descriptor field {name} is {layout[name].width} bits, not {position}"
            )
    return sources


class AxiLiteCsr(wiring.Component):
    """AXI4-Lite slave holding the register map :data:`~hdl.ctrl.regs.REGS`.

    Bus behaviour: AW and W are accepted in either order, one of each outstanding; the write
    takes effect once both are in and no B response is pending, and B follows (OKAY). Reads
    are one outstanding (OKAY). Reserved addresses read 0 and ignore writes, as do bits
    outside a register's fields; ``addr[1:0]`` is ignored. WSTRB applies byte by byte to RW
    fields, RW1C bits and the START/ABORT bits. READY outputs depend on registers only.

    Timing: AW and W taken at cycle t (or the later of the two) are written at t+1 and B is
    valid from t+2; an AR taken at cycle t gives R valid at t+1 with the register as it was at
    t.

    START (CTRL bit 0 written 1) while idle copies the descriptor registers (and CTRL.OPCODE
    from the same write) into ``desc`` and pulses ``start`` in the next cycle, clears the
    performance counters and any rejected-START error. While busy it is refused: nothing is
    latched, STATUS.ERROR and IRQ_STATUS.ERROR are set, and ERR_CODE reads BUSY unless the
    running job reports an error of its own, which takes precedence. The controller must
    raise ``status.busy`` in the cycle after ``start`` and hold it until the job ends: the
    next write commits two cycles after ``start`` at the earliest (B must be taken first), so
    it sees busy. ABORT pulses ``abort_req`` in the cycle after the write.

    The performance counters are 64-bit and counted here from the controller's per-cycle
    increments (``perf``): the controller sends a few narrow strobes instead of seven 64-bit
    buses, and clearing at START and latching the high word are in the same place as the
    read. Reading a counter's LO word latches its HI word (one latch per counter), so a LO
    then HI read is one 64-bit sample even while it counts.

    Parameters
    ----------
    array_config : ArrayConfig
    frontend_config : FrontendConfig
        Published in VERSION and HWCFG0–3.
    max_dim : int
        HWCFG3.MAX_DIM, the largest M, K or N, 1 to 2^24 − 1.
    attention : golden.descriptor.AttentionConfig or None
        The attention unit, published in HWCFG4–6 (all 0 without one).

    Members
    -------
    s_axil : In(AxiLiteSignature(addr_width=12, data_width=32))
        The register window.
    desc : Out(desc_layout())
        The descriptor latched at the last accepted START; stable while a job runs.
    start : Out(1)
        One-cycle pulse: start ``desc``.
    abort_req : Out(1)
        One-cycle pulse: CTRL.ABORT was written 1 (not ``abort``, a C++ word Verilator warns
        about).
    status : In(STATUS_LAYOUT)
        The controller's state; drives STATUS, ERR_INFO, ERR_ADDR and sets IRQ_STATUS.
    perf : In(perf_event_layout(array_config, frontend_config))
        Counter increments of this cycle.
    irq : Out(1)
        ``|(IRQ_STATUS & {IRQ_ERR_EN, IRQ_DONE_EN})``, a level.

    Raises
    ------
    ValueError
        If a configuration value does not fit its HWCFG field (e.g. ``acc_width`` above 127).
    """

    def __init__(self, array_config, frontend_config, *, max_dim=DEFAULT_MAX_DIM, attention=None):
        check_accelerator_configs(array_config, frontend_config)
        self._hwcfg = hwcfg_values(
            array_config, frontend_config, max_dim=max_dim, attention=attention
        )
        self._array_config = array_config
        self._frontend_config = frontend_config
        super().__init__(
            {
                "s_axil": In(
                    AxiLiteSignature(addr_width=CSR_ADDR_WIDTH, data_width=CSR_DATA_WIDTH)
                ),
                "desc": Out(desc_layout()),
                "start": Out(1),
                "abort_req": Out(1),
                "status": In(STATUS_LAYOUT),
                "perf": In(perf_event_layout(array_config, frontend_config)),
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
    def hwcfg(self):
        """``{register name: word}`` of the configuration registers (ID, VERSION, HWCFG0–6)."""
        return dict(self._hwcfg)

    def elaborate(self, platform):
        m = Module()
        bus = self.s_axil
        status = self.status

        # --- write channel: one AW and one W buffered, then one B -----------------------------
        aw_full = Signal()
        aw_addr = Signal(CSR_ADDR_WIDTH)
        w_full = Signal()
        w_data = Signal(CSR_DATA_WIDTH)
        w_strb = Signal(CSR_DATA_WIDTH // 8)
        b_valid = Signal()
        commit = Signal()
        m.d.comb += [
            bus.awready.eq(~aw_full),
            bus.wready.eq(~w_full),
            bus.bvalid.eq(b_valid),
            bus.bresp.eq(Resp.OKAY),
            commit.eq(aw_full & w_full & ~b_valid),
        ]
        with m.If(bus.awvalid & ~aw_full):
            m.d.sync += [aw_full.eq(1), aw_addr.eq(bus.awaddr)]
        with m.If(bus.wvalid & ~w_full):
            m.d.sync += [w_full.eq(1), w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]
        with m.If(commit):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), b_valid.eq(1)]
        with m.Elif(bus.bready):
            m.d.sync += b_valid.eq(0)

        # Written bits of this commit: data under the byte strobes.
        strobe_mask = Cat(bit.replicate(8) for bit in w_strb)
        written = Signal(CSR_DATA_WIDTH)
        m.d.comb += written.eq(w_data & strobe_mask)

        def selected(reg):
            return commit & (aw_addr[2:] == reg.offset >> 2)

        # --- START, ABORT, rejected START -----------------------------------------------------
        ctrl = REGS.CTRL
        start_request = selected(ctrl) & written[ctrl.START.lsb]
        accept = Signal()
        rejected = Signal()
        m.d.comb += accept.eq(start_request & ~status.busy)
        reject = start_request & status.busy
        m.d.sync += [
            self.start.eq(accept),
            self.abort_req.eq(selected(ctrl) & written[ctrl.ABORT.lsb]),
        ]
        with m.If(accept):
            m.d.sync += rejected.eq(0)
        with m.Elif(reject):
            m.d.sync += rejected.eq(1)

        # --- stored registers: RW fields, RW1C bits ------------------------------------------
        irq = REGS.IRQ_STATUS
        irq_set = Signal(CSR_DATA_WIDTH)
        m.d.comb += [
            irq_set[irq.DONE.lsb].eq(status.done_pulse),
            irq_set[irq.ERROR.lsb].eq(status.error_pulse | reject),
        ]
        hw_set = {irq.name: irq_set}
        store, after_write = {}, {}
        for reg in REGS:
            if not reg.storage_mask:
                continue
            value = Signal(
                CSR_DATA_WIDTH, init=reg.reset & reg.storage_mask, name=f"reg_{reg.name.lower()}"
            )
            rw = reg.mask_of(Access.RW)
            w1c = reg.mask_of(Access.RW1C)
            nxt = Signal(CSR_DATA_WIDTH, name=f"next_{reg.name.lower()}")
            write = selected(reg)
            m.d.comb += nxt.eq(
                Mux(write, (value & ~(strobe_mask & rw)) | (written & rw), value)
                & ~Mux(write, written & w1c, 0)
            )
            if reg.name in hw_set:
                m.d.sync += value.eq(nxt | hw_set[reg.name])
            else:
                m.d.sync += value.eq(nxt)
            store[reg.name] = value
            after_write[reg.name] = nxt

        # --- the descriptor shadow, latched at an accepted START -----------------------------
        # The descriptor registers cannot change in the START cycle (the write goes to CTRL),
        # except CTRL.OPCODE, which is taken from this very write.
        for name, parts in _desc_sources(self.desc.shape()).items():
            bits = Cat(
                (after_write[reg.name] if reg is ctrl else store[reg.name])[f.lsb : f.msb + 1]
                for reg, f in parts
            )
            with m.If(accept):
                m.d.sync += self.desc[name].eq(bits)

        # --- performance counters ------------------------------------------------------------
        counters, high_latches = {}, {}
        for name, *_ in PERF_COUNTERS:
            key = _counter_key(name)
            count = Signal(64, name=f"perf_{key}")
            with m.If(accept):
                m.d.sync += count.eq(0)
            with m.Else():
                m.d.sync += count.eq(count + self.perf[key])
            counters[name] = count
            high_latches[name] = Signal(32, name=f"perf_{key}_hi")

        # --- what the registers read ---------------------------------------------------------
        own_error = rejected & ~status.error  # a rejected START, and no error from the job
        err_code = Mux(own_error, ErrorCode.BUSY, status.err_code)
        err_source = Mux(own_error, ErrSource.DESCRIPTOR, status.err_source)
        err_addr = Mux(own_error, 0, status.err_addr)
        fields = {
            "STATUS": {
                "BUSY": status.busy,
                "DONE": status.done,
                "ERROR": status.error | rejected,
                "ERR_CODE": err_code,
            },
            "ERR_INFO": {"CODE": err_code, "SOURCE": err_source},
        }
        words = {"ERR_ADDR_LO": err_addr[:32], "ERR_ADDR_HI": err_addr[32:]}
        for name, *_ in PERF_COUNTERS:
            words[f"PERF_{name}_LO"] = counters[name][:32]
            words[f"PERF_{name}_HI"] = high_latches[name]
        for reg_name, values in fields.items():
            word = Signal(CSR_DATA_WIDTH, name=f"read_{reg_name.lower()}")
            for field_name, value in values.items():
                f = getattr(REGS[reg_name], field_name)
                m.d.comb += word[f.lsb : f.msb + 1].eq(value)
            words[reg_name] = word
        for reg_name, value in self._hwcfg.items():
            words[reg_name] = value
        for reg_name, value in store.items():
            words[reg_name] = value & REGS[reg_name].storage_mask
        missing = {reg.name for reg in REGS} - set(words)
        if missing:
            raise RuntimeError(f"registers without a read value: {sorted(missing)}")

        # --- read channel: one AR, then one R ------------------------------------------------
        r_valid = Signal()
        r_data = Signal(CSR_DATA_WIDTH)
        m.d.comb += [
            bus.arready.eq(~r_valid),
            bus.rvalid.eq(r_valid),
            bus.rdata.eq(r_data),
            bus.rresp.eq(Resp.OKAY),
        ]
        with m.If(bus.arvalid & ~r_valid):
            m.d.sync += r_valid.eq(1)
            with m.Switch(bus.araddr[2:]):
                for reg in REGS:
                    with m.Case(reg.offset >> 2):
                        m.d.sync += r_data.eq(words[reg.name])
                        for name, *_ in PERF_COUNTERS:
                            if reg.name == f"PERF_{name}_LO":
                                m.d.sync += high_latches[name].eq(counters[name][32:])
                with m.Default():
                    m.d.sync += r_data.eq(0)
        with m.Elif(bus.rready):
            m.d.sync += r_valid.eq(0)

        # --- interrupt -------------------------------------------------------------------------
        causes = store[irq.name]
        enables = store[ctrl.name]
        m.d.comb += self.irq.eq(
            (causes[irq.DONE.lsb] & enables[ctrl.IRQ_DONE_EN.lsb])
            | (causes[irq.ERROR.lsb] & enables[ctrl.IRQ_ERR_EN.lsb])
        )
        return m
