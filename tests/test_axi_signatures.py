# amaranth: UnusedElaboratable=no
"""AXI4 and AXI4-Lite signatures: members by the AXI names, parameter checks, properties,
``create``, equality; and the Verilog of a small component emitted through
``verilog_ports``: exactly the conventional port names, directions and widths, Verilator-clean."""

import re

import pytest
from amaranth.back import verilog
from amaranth.hdl import Cat, Module, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.frontend import FrontendConfig
from hdl.bus import Axi4Signature, AxiLiteSignature, Burst, Resp, verilog_ports
from hdl.config import ArrayConfig
from hdl.ctrl.csr import AxiLiteCsr
from scripts.lint import lint_verilog

#: AXI4-Lite from the master's view (AMBA AXI spec, B1.1): member → (flow, width).
LITE = {
    "awaddr": ("out", "A"), "awprot": ("out", 3), "awvalid": ("out", 1), "awready": ("in", 1),
    "wdata": ("out", "D"), "wstrb": ("out", "S"), "wvalid": ("out", 1), "wready": ("in", 1),
    "bresp": ("in", 2), "bvalid": ("in", 1), "bready": ("out", 1),
    "araddr": ("out", "A"), "arprot": ("out", 3), "arvalid": ("out", 1), "arready": ("in", 1),
    "rdata": ("in", "D"), "rresp": ("in", 2), "rvalid": ("in", 1), "rready": ("out", 1),
}  # fmt: skip
#: AXI4 from the master's view, without QOS/REGION/USER.
FULL = {
    "awid": ("out", "I"), "awaddr": ("out", "A"), "awlen": ("out", 8), "awsize": ("out", 3),
    "awburst": ("out", 2), "awlock": ("out", 1), "awcache": ("out", 4), "awprot": ("out", 3),
    "awvalid": ("out", 1), "awready": ("in", 1),
    "wdata": ("out", "D"), "wstrb": ("out", "S"), "wlast": ("out", 1), "wvalid": ("out", 1),
    "wready": ("in", 1),
    "bid": ("in", "I"), "bresp": ("in", 2), "bvalid": ("in", 1), "bready": ("out", 1),
    "arid": ("out", "I"), "araddr": ("out", "A"), "arlen": ("out", 8), "arsize": ("out", 3),
    "arburst": ("out", 2), "arlock": ("out", 1), "arcache": ("out", 4), "arprot": ("out", 3),
    "arvalid": ("out", 1), "arready": ("in", 1),
    "rid": ("in", "I"), "rdata": ("in", "D"), "rresp": ("in", 2), "rlast": ("in", 1),
    "rvalid": ("in", 1), "rready": ("out", 1),
}  # fmt: skip


def expected_members(table, addr_width, data_width, id_width=None):
    sizes = {"A": addr_width, "D": data_width, "S": data_width // 8, "I": id_width}
    return {name: (flow, sizes.get(w, w)) for name, (flow, w) in table.items()}


def members_of(signature):
    return {
        name: ("out" if member.flow == Out else "in", Shape.cast(member.shape).width)
        for name, member in signature.members.items()
    }


@pytest.mark.parametrize(("addr_width", "data_width"), [(12, 32), (1, 64), (64, 32)])
def test_axi_lite_signature_members(addr_width, data_width):
    sig = AxiLiteSignature(addr_width=addr_width, data_width=data_width)
    assert members_of(sig) == expected_members(LITE, addr_width, data_width)
    assert list(sig.members) == list(LITE)  # channel order, as the spec lists them
    assert (sig.addr_width, sig.data_width) == (addr_width, data_width)


@pytest.mark.parametrize(
    ("addr_width", "data_width", "id_width"), [(32, 128, 1), (64, 512, 4), (40, 8, 32)]
)
def test_axi4_signature_members(addr_width, data_width, id_width):
    sig = Axi4Signature(addr_width=addr_width, data_width=data_width, id_width=id_width)
    assert members_of(sig) == expected_members(FULL, addr_width, data_width, id_width)
    assert list(sig.members) == list(FULL)
    assert (sig.addr_width, sig.data_width, sig.id_width) == (addr_width, data_width, id_width)
    assert Axi4Signature(addr_width=32, data_width=64).id_width == 1


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: AxiLiteSignature(addr_width=0, data_width=32), ValueError,
         "addr_width must be an integer between 1 and 64, not 0"),
        (lambda: AxiLiteSignature(addr_width=65, data_width=32), ValueError,
         "addr_width must be an integer between 1 and 64, not 65"),
        (lambda: AxiLiteSignature(addr_width=True, data_width=32), TypeError,
         "addr_width must be an integer between 1 and 64, not True"),
        (lambda: AxiLiteSignature(addr_width=12.0, data_width=32), TypeError,
         "addr_width must be an integer between 1 and 64, not 12.0"),
        (lambda: AxiLiteSignature(addr_width=12, data_width=128), ValueError,
         "data_width must be one of 32, 64, not 128"),
        (lambda: Axi4Signature(addr_width=32, data_width=96), ValueError,
         "data_width must be one of 8, 16, 32, 64, 128, 256, 512, 1024, not 96"),
        (lambda: Axi4Signature(addr_width=32, data_width=2048), ValueError,
         "data_width must be one of 8, 16, 32, 64, 128, 256, 512, 1024, not 2048"),
        (lambda: Axi4Signature(addr_width=32, data_width=64, id_width=0), ValueError,
         "id_width must be an integer between 1 and 32, not 0"),
        (lambda: Axi4Signature(addr_width=32, data_width=64, id_width=33), ValueError,
         "id_width must be an integer between 1 and 32, not 33"),
    ],
)  # fmt: skip
def test_axi_signature_parameters_checked(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


def test_axi_signature_positional_arguments_refused():
    with pytest.raises(TypeError):
        AxiLiteSignature(12, 32)
    with pytest.raises(TypeError):
        Axi4Signature(32, 128)


def test_axi_signature_properties_read_only_create_and_equality():
    lite = AxiLiteSignature(addr_width=12, data_width=32)
    full = Axi4Signature(addr_width=32, data_width=128, id_width=2)
    for sig, name in ((lite, "addr_width"), (full, "id_width")):
        with pytest.raises(AttributeError):
            setattr(sig, name, 8)
    bus = lite.create(path=("s_axil",))
    assert bus.signature == lite and len(bus.awaddr) == 12 and bus.awaddr.name == "s_axil__awaddr"
    assert len(full.create().wstrb) == 16
    assert lite == AxiLiteSignature(addr_width=12, data_width=32)
    assert lite != AxiLiteSignature(addr_width=13, data_width=32)
    assert full == Axi4Signature(addr_width=32, data_width=128, id_width=2)
    assert full != Axi4Signature(addr_width=32, data_width=128)
    assert lite.flip() == AxiLiteSignature(addr_width=12, data_width=32).flip()
    assert hash(lite) == hash(AxiLiteSignature(addr_width=12, data_width=32))
    assert repr(full) == "Axi4Signature(addr_width=32, data_width=128, id_width=2)"
    assert (Resp.SLVERR.value, Resp.DECERR.value, Burst.INCR.value) == (2, 3, 1)


class Bridge(wiring.Component):
    """An AXI4-Lite slave, an AXI4 master and an irq: every output a register holding the
    parity of every input, so nothing is undriven or unused."""

    s_axil: In(AxiLiteSignature(addr_width=12, data_width=32))
    m_axi: Out(Axi4Signature(addr_width=32, data_width=128, id_width=2))
    irq: Out(1)

    def elaborate(self, platform):
        m = Module()
        inputs, outputs = [], []
        for _path, member, value in self.signature.flatten(self):
            (inputs if member.flow == In else outputs).append(value)
        parity = Signal()
        m.d.sync += parity.eq(Cat(*inputs).xor())
        for value in outputs:
            m.d.comb += value.eq(parity.replicate(len(value)))
        return m


def verilog_ports_of(text, module):
    """``{port: (direction, width)}`` of ``module``'s declarations."""
    body = text[text.index(f"module {module}(") :]
    body = body[: body.index("endmodule")]
    found = re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", body, re.M)
    return {name: (direction, int(msb) + 1 if msb else 1) for direction, msb, name in found}


def test_axi_verilog_ports_conventional_names(tmp_path):
    """The Verilog has ``s_axil_awaddr`` … and ``m_axi_arlen`` …, with the slave's view
    flipped, plus clk, rst, irq; nothing else; Verilator -Wall lints it clean."""
    top = Bridge()
    ports = verilog_ports(top)
    assert list(ports)[:2] == ["s_axil_awaddr", "s_axil_awprot"]
    text = verilog.convert(top, name="bridge", ports=ports, emit_src=False)
    flip = {"in": "output", "out": "input"}
    same = {"in": "input", "out": "output"}
    want = {"clk": ("input", 1), "rst": ("input", 1), "irq": ("output", 1)}
    for name, (flow, width) in expected_members(LITE, 12, 32).items():
        want[f"s_axil_{name}"] = (flip[flow], width)
    for name, (flow, width) in expected_members(FULL, 32, 128, 2).items():
        want[f"m_axi_{name}"] = (same[flow], width)
    assert verilog_ports_of(text, "bridge") == want
    path = tmp_path / "bridge.v"
    path.write_text(text)
    ok, output = lint_verilog(path, "bridge")
    assert ok, output


def test_axi_verilog_ports_of_the_csr_block(tmp_path):
    """The CSR block emitted with conventional names lints clean."""
    csr = AxiLiteCsr(ArrayConfig(rows=2, cols=2), FrontendConfig(data_width=64))
    text = verilog.convert(csr, name="csr", ports=verilog_ports(csr), emit_src=False)
    ports = verilog_ports_of(text, "csr")
    assert ports["s_axil_awaddr"] == ("input", 12) and ports["s_axil_rdata"] == ("output", 32)
    assert ports["irq"] == ("output", 1) and ports["start"] == ("output", 1)
    path = tmp_path / "csr.v"
    path.write_text(text)
    ok, output = lint_verilog(path, "csr")
    assert ok, output


def test_axi_verilog_ports_rejects_clashes_and_skips_constants():
    class Clash(wiring.Component):
        a_b: Out(wiring.Signature({"c": Out(1)}))
        a: Out(wiring.Signature({"b_c": Out(1)}))

        def elaborate(self, platform):
            return Module()

    with pytest.raises(ValueError, match="two members map to the Verilog port name 'a_b_c'"):
        verilog_ports(Clash())

    class AlwaysReady(wiring.Component):
        i: In(stream.Signature(8, always_ready=True))

        def elaborate(self, platform):
            return Module()

    assert list(verilog_ports(AlwaysReady())) == ["i_payload", "i_valid"]
    with pytest.raises(TypeError, match="component must have a wiring.Signature"):
        verilog_ports(Module())
