# amaranth: UnusedElaboratable=no
"""A bounded proof (SymbiYosys, yices) that AxiLiteCsr behaves as an AXI4-Lite slave for every
input sequence: its B and R responses stay valid with a stable payload until taken, it never
answers without a request, never answers a request twice, and always answers OKAY.

The master is free, within the AXI rules it must keep itself: a valid stays high with a stable
payload until its ready. The controller inputs (``status``, ``perf``) are free in every cycle.
"""

from amaranth.hdl import Assert, Assume, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from golden.frontend import FrontendConfig
from hdl.bus.axi import AxiLiteSignature
from hdl.config import ArrayConfig
from hdl.ctrl.csr import CSR_ADDR_WIDTH, CSR_DATA_WIDTH, STATUS_LAYOUT, AxiLiteCsr
from hdl.ctrl.csr import perf_event_layout as perf_layout
from scripts.formal import prove

ARRAY = ArrayConfig(rows=2, cols=2)
FRONTEND = FrontendConfig(data_width=64, tile_n=64, tile_k=64)
#: Steps of the bounded check: reaches two writes and two reads with stalls in between.
DEPTH = 12


def _past(m, value, name):
    """``value`` one cycle ago (Amaranth 0.5 has no ``Past``)."""
    reg = Signal.like(value, name=f"past_{name}", reset_less=True)
    m.d.sync += reg.eq(value)
    return reg


class CsrAxiLiteProperties(wiring.Component):
    """The CSR block with AXI4-Lite slave assertions; every port is a free input.

    Members
    -------
    s_axil : In(AxiLiteSignature(addr_width=12, data_width=32))
        The master's side (the block's responses are checked, not driven here).
    status : In(STATUS_LAYOUT)
    perf : In(perf_event_layout(...))
    """

    def __init__(self):
        super().__init__(
            {
                "s_axil": In(
                    AxiLiteSignature(addr_width=CSR_ADDR_WIDTH, data_width=CSR_DATA_WIDTH)
                ),
                "status": In(STATUS_LAYOUT),
                "perf": In(perf_layout(ARRAY, FRONTEND)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.csr = csr = AxiLiteCsr(ARRAY, FRONTEND)
        bus = csr.s_axil
        master = self.s_axil
        m.d.comb += [csr.status.eq(self.status), csr.perf.eq(self.perf), Assume(~ResetSignal())]
        for name in ("awaddr", "awprot", "awvalid", "wdata", "wstrb", "wvalid", "bready",
                     "araddr", "arprot", "arvalid", "rready"):  # fmt: skip
            m.d.comb += getattr(bus, name).eq(getattr(master, name))

        started = Signal(init=0)  # the past registers hold something from cycle 1 on
        m.d.sync += started.eq(1)

        # The master's rules: a valid waits for its ready, its payload unchanged.
        for valid, ready, payload in (
            (bus.awvalid, bus.awready, (bus.awaddr, bus.awprot)),
            (bus.wvalid, bus.wready, (bus.wdata, bus.wstrb)),
            (bus.arvalid, bus.arready, (bus.araddr, bus.arprot)),
        ):
            waiting = _past(m, valid & ~ready, valid.name)
            with m.If(started & waiting):
                m.d.comb += Assume(valid)
                for signal in payload:
                    m.d.comb += Assume(signal == _past(m, signal, signal.name))

        # The slave's rules: a response waits for its ready, unchanged.
        for valid, ready, payload in (
            (bus.bvalid, bus.bready, (bus.bresp,)),
            (bus.rvalid, bus.rready, (bus.rdata, bus.rresp)),
        ):
            waiting = _past(m, valid & ~ready, valid.name)
            pasts = [_past(m, signal, signal.name) for signal in payload]
            with m.If(started & waiting):
                m.d.comb += Assert(valid)
                for signal, before in zip(payload, pasts, strict=True):
                    m.d.comb += Assert(signal == before)
        m.d.comb += [Assert(~bus.bvalid | (bus.bresp == 0)), Assert(~bus.rvalid | (bus.rresp == 0))]

        # Requests not yet answered: AW and W each count a write, AR a read. A response needs
        # one of each waiting; none is ever answered twice (the counts never go below 0), and
        # the block holds at most two writes (one buffered, one answering) and one read.
        aw_open, w_open, ar_open = Signal(range(4)), Signal(range(4)), Signal(range(4))
        for count, request in (
            (aw_open, bus.awvalid & bus.awready),
            (w_open, bus.wvalid & bus.wready),
        ):
            m.d.sync += count.eq(count + request - (bus.bvalid & bus.bready))
        m.d.sync += ar_open.eq(ar_open + (bus.arvalid & bus.arready) - (bus.rvalid & bus.rready))
        m.d.comb += [
            Assert(~bus.bvalid | ((aw_open > 0) & (w_open > 0))),
            Assert(~bus.rvalid | (ar_open > 0)),
            Assert((aw_open <= 2) & (w_open <= 2) & (ar_open <= 1)),
        ]
        return m


def test_csr_formal_axi_lite_slave(tmp_path):
    """Bounded model check from reset, DEPTH cycles (a few seconds)."""
    proof = CsrAxiLiteProperties()
    result = prove(proof, "csr_axil", tmp_path, mode="bmc", depth=DEPTH, timeout=300)
    assert result.passed, result.log[-3000:]
