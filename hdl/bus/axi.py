"""AXI4 and AXI4-Lite signatures, and conventional Verilog port names for a component's buses.

The signatures are written from the master's view, in amaranth-soc's style: keyword-only
parameters checked on construction, read-only properties, :meth:`create`. A slave takes
``In(AxiLiteSignature(...))`` (or ``.flip()``). Members are named as the AXI specification
names the signals, channel prefix included (``awaddr``, ``wstrb``, ``rlast``), so that
:func:`verilog_ports` turns a member ``s_axil`` into the ports ``s_axil_awaddr`` … that Vivado's
IP packager, LiteX and FuseSoC recognize.
"""

from amaranth.hdl import Const, Signal, ValueCastable

# ``verilog.convert(ports=...)`` wants a ``PortDirection`` for each port (Amaranth 0.5 rejects
# the strings "i"/"o"); the class is not re-exported by ``amaranth.hdl``, and ``convert`` itself
# takes it from here.
from amaranth.hdl._ir import PortDirection
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from golden.errors import UsageTypeError, UsageValueError

__all__ = ["Axi4Signature", "AxiLiteSignature", "Burst", "Resp", "verilog_ports"]

#: Largest AXI address width.
ADDR_WIDTH_LIMIT = 64
#: AXI4-Lite data widths (AMBA AXI spec, B1.1: 32 or 64 bits).
AXI_LITE_DATA_WIDTHS = (32, 64)
#: AXI4 data widths: a power of two, 8 to 1024 bits.
AXI4_DATA_WIDTHS = tuple(8 << i for i in range(8))
#: Largest ID width this generator emits.
ID_WIDTH_LIMIT = 32


class Resp(enum.Enum, shape=2):
    """xRESP values."""

    OKAY = 0b00
    EXOKAY = 0b01
    SLVERR = 0b10
    DECERR = 0b11


class Burst(enum.Enum, shape=2):
    """AxBURST values."""

    FIXED = 0b00
    INCR = 0b01
    WRAP = 0b10


def _check_int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageTypeError(
            f"{name} must be an integer between {lo} and {hi}, not {value!r}", parameter=name
        )
    if not lo <= value <= hi:
        raise UsageValueError(
            f"{name} must be an integer between {lo} and {hi}, not {value!r}", parameter=name
        )
    return value


def _check_choice(name, value, choices):
    if isinstance(value, bool) or value not in choices:
        allowed = ", ".join(map(str, choices))
        raise UsageValueError(f"{name} must be one of {allowed}, not {value!r}", parameter=name)
    return value


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite, from the master's view.

    Parameters
    ----------
    addr_width : int
        Address bits, 1 to 64.
    data_width : int
        32 or 64; WSTRB has ``data_width // 8`` bits.

    Members
    -------
    awaddr : Out(addr_width)
    awprot : Out(3)
    awvalid : Out(1)
    awready : In(1)
        Write address channel.
    wdata : Out(data_width)
    wstrb : Out(data_width // 8)
    wvalid : Out(1)
    wready : In(1)
        Write data channel.
    bresp : In(2)
    bvalid : In(1)
    bready : Out(1)
        Write response channel.
    araddr : Out(addr_width)
    arprot : Out(3)
    arvalid : Out(1)
    arready : In(1)
        Read address channel.
    rdata : In(data_width)
    rresp : In(2)
    rvalid : In(1)
    rready : Out(1)
        Read data channel.
    """

    def __init__(self, *, addr_width, data_width):
        self._addr_width = _check_int("addr_width", addr_width, 1, ADDR_WIDTH_LIMIT)
        self._data_width = _check_choice("data_width", data_width, AXI_LITE_DATA_WIDTHS)
        super().__init__(
            {
                "awaddr": Out(addr_width),
                "awprot": Out(3),
                "awvalid": Out(1),
                "awready": In(1),
                "wdata": Out(data_width),
                "wstrb": Out(data_width // 8),
                "wvalid": Out(1),
                "wready": In(1),
                "bresp": In(2),
                "bvalid": In(1),
                "bready": Out(1),
                "araddr": Out(addr_width),
                "arprot": Out(3),
                "arvalid": Out(1),
                "arready": In(1),
                "rdata": In(data_width),
                "rresp": In(2),
                "rvalid": In(1),
                "rready": Out(1),
            }
        )

    @property
    def addr_width(self):
        return self._addr_width

    @property
    def data_width(self):
        return self._data_width

    def create(self, *, path=None, src_loc_at=0):
        """An interface of this signature (:class:`wiring.PureInterface`)."""
        return wiring.PureInterface(self, path=path, src_loc_at=1 + src_loc_at)

    def __eq__(self, other):
        return (
            type(other) is type(self)
            and other.addr_width == self.addr_width
            and other.data_width == self.data_width
        )

    def __hash__(self):
        return hash((type(self), self.addr_width, self.data_width))

    def __repr__(self):
        return f"AxiLiteSignature(addr_width={self.addr_width}, data_width={self.data_width})"


class Axi4Signature(wiring.Signature):
    """AXI4 (full), from the master's view: bursts, one ID width for every channel.

    The optional AxQOS, AxREGION and xUSER signals are left out; a bus that needs them ties
    them to 0.

    Parameters
    ----------
    addr_width : int
        Address bits, 1 to 64.
    data_width : int
        A power of two, 8 to 1024; WSTRB has ``data_width // 8`` bits.
    id_width : int
        AxID, BID and RID bits, 1 to 32.

    Members
    -------
    awid, awaddr, awlen (8), awsize (3), awburst (2), awlock (1), awcache (4), awprot (3),
    awvalid : Out; awready : In
        Write address channel.
    wdata, wstrb, wlast, wvalid : Out; wready : In
        Write data channel.
    bid, bresp, bvalid : In; bready : Out
        Write response channel.
    arid, araddr, arlen, arsize, arburst, arlock, arcache, arprot, arvalid : Out; arready : In
        Read address channel.
    rid, rdata, rresp, rlast, rvalid : In; rready : Out
        Read data channel.
    """

    def __init__(self, *, addr_width, data_width, id_width=1):
        self._addr_width = _check_int("addr_width", addr_width, 1, ADDR_WIDTH_LIMIT)
        self._data_width = _check_choice("data_width", data_width, AXI4_DATA_WIDTHS)
        self._id_width = _check_int("id_width", id_width, 1, ID_WIDTH_LIMIT)
        members = {}
        for ch in ("aw", "ar"):
            members.update(
                {
                    f"{ch}id": Out(id_width),
                    f"{ch}addr": Out(addr_width),
                    f"{ch}len": Out(8),
                    f"{ch}size": Out(3),
                    f"{ch}burst": Out(2),
                    f"{ch}lock": Out(1),
                    f"{ch}cache": Out(4),
                    f"{ch}prot": Out(3),
                    f"{ch}valid": Out(1),
                    f"{ch}ready": In(1),
                }
            )
            if ch == "aw":
                members.update(
                    {
                        "wdata": Out(data_width),
                        "wstrb": Out(data_width // 8),
                        "wlast": Out(1),
                        "wvalid": Out(1),
                        "wready": In(1),
                        "bid": In(id_width),
                        "bresp": In(2),
                        "bvalid": In(1),
                        "bready": Out(1),
                    }
                )
        members.update(
            {
                "rid": In(id_width),
                "rdata": In(data_width),
                "rresp": In(2),
                "rlast": In(1),
                "rvalid": In(1),
                "rready": Out(1),
            }
        )
        super().__init__(members)

    @property
    def addr_width(self):
        return self._addr_width

    @property
    def data_width(self):
        return self._data_width

    @property
    def id_width(self):
        return self._id_width

    def create(self, *, path=None, src_loc_at=0):
        """An interface of this signature (:class:`wiring.PureInterface`)."""
        return wiring.PureInterface(self, path=path, src_loc_at=1 + src_loc_at)

    def __eq__(self, other):
        return (
            type(other) is type(self)
            and other.addr_width == self.addr_width
            and other.data_width == self.data_width
            and other.id_width == self.id_width
        )

    def __hash__(self):
        return hash((type(self), self.addr_width, self.data_width, self.id_width))

    def __repr__(self):
        return (
            f"Axi4Signature(addr_width={self.addr_width}, data_width={self.data_width}, "
            f"id_width={self.id_width})"
        )


def verilog_ports(component):
    """Ports of ``component`` for ``amaranth.back.verilog.convert(component, ports=...)``, named
    by the Vivado/LiteX convention: the member path joined by single underscores.

    A member ``s_axil`` of :class:`AxiLiteSignature` becomes ``s_axil_awaddr`` …, a member
    ``m_axi`` of :class:`Axi4Signature` ``m_axi_arlen`` …, a plain member ``irq`` stays ``irq``
    (Amaranth's default would be ``s_axil__awaddr``). A struct-valued member is one packed
    port. ``clk`` and ``rst`` are added by ``convert`` itself.

    Parameters
    ----------
    component : wiring.Component

    Returns
    -------
    dict
        ``{name: (Signal, PortDirection)}`` in signature order.

    Raises
    ------
    ValueError
        If two members would get the same port name (``a_b`` + ``c`` and ``a`` + ``b_c``).
    """
    if not isinstance(getattr(component, "signature", None), wiring.Signature):
        raise TypeError(f"component must have a wiring.Signature, not {component!r}")
    ports = {}
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Const):
            continue  # a constant member (e.g. an always-ready stream's ready) is no port
        if not isinstance(value, Signal):
            raise TypeError(f"member {'.'.join(map(str, path))} is not a signal: {value!r}")
        name = "_".join(map(str, path))
        if name in ports or name in ("clk", "rst"):
            raise ValueError(f"two members map to the Verilog port name {name!r}")
        direction = PortDirection.Input if member.flow == In else PortDirection.Output
        ports[name] = (value, direction)
    return ports


#: Channel-name prefixes of the two halves of an AXI4 master port.
READ_CHANNELS = ("ar", "r")
WRITE_CHANNELS = ("aw", "w", "b")


def axi4_channels_signature(signature, channels):
    """The members of an :class:`Axi4Signature` whose names start with one of ``channels``
    (:data:`READ_CHANNELS` or :data:`WRITE_CHANNELS`), as a plain signature: the port of an
    engine that drives only one half of the bus."""
    return wiring.Signature(
        {name: member for name, member in signature.members.items() if name.startswith(channels)}
    )
