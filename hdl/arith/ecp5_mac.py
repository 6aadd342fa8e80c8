"""INT8 multiply-accumulate on an instantiated ECP5 ``MULT18X18D`` with its registers used.

Yosys maps an inferred multiplier to ``MULT18X18D`` without the block's internal registers,
so the product's path runs from fabric flip-flops through the DSP block and back into the
fabric adder in one cycle. :class:`Ecp5Int8Mac` instantiates the primitive instead, with the
A and B input registers and the output register enabled, so the DSP block starts and ends
every path at its own registers.

Yosys ships no simulation model of the primitive; :data:`ECP5_MULT18X18D_SIM_MODEL` is a
behavioural Verilog model of exactly the mode used here, for simulation only (synthesis
reads the vendor cell, :func:`simulation_sources`).
"""

from pathlib import Path

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: Behavioural Verilog model of ``MULT18X18D`` in the mode :class:`Ecp5Int8Mac` uses. For
#: simulators only: never give it to synthesis, which must keep the vendor cell.
ECP5_MULT18X18D_SIM_MODEL = Path(__file__).with_name("ecp5_mult18x18d_sim.v")

#: ``MULT18X18D`` parameters of :class:`Ecp5Int8Mac` (Lattice FPGA-TN-02205, "ECP5 and
#: ECP5-5G sysDSP Usage Guide", MULT18X18D): A and B input registers and the output register
#: on CLK0, all always enabled (CE0, tied high); no pipeline register, no cascade
#: (SOURCEA/SOURCEB parallel inputs), synchronous reset unused, GSR off (the data registers
#: need no reset). The B register is not used to hold the stationary weight behind a clock
#: enable of its own: the clock, enable and reset pins are shared by the four multipliers of
#: a DSP block (at most four distinct signals each, which nextpnr enforces), so one enable
#: per PE beside the constant one would leave a quarter of the blocks' multipliers unusable.
MULT18X18D_PARAMS = {
    "REG_INPUTA_CLK": "CLK0",
    "REG_INPUTA_CE": "CE0",
    "REG_INPUTA_RST": "RST0",
    "REG_INPUTB_CLK": "CLK0",
    "REG_INPUTB_CE": "CE0",
    "REG_INPUTB_RST": "RST0",
    "REG_INPUTC_CLK": "NONE",
    "REG_PIPELINE_CLK": "NONE",
    "REG_OUTPUT_CLK": "CLK0",
    "REG_OUTPUT_CE": "CE0",
    "REG_OUTPUT_RST": "RST0",
    "CLK0_DIV": "ENABLED",
    "HIGHSPEED_CLK": "NONE",
    "GSR": "DISABLED",
    "CAS_MATCH_REG": "FALSE",
    "SOURCEB_MODE": "B_SHIFT",
    "MULT_BYPASS": "DISABLED",
    "RESETMODE": "SYNC",
}
#: Operand and product widths of the primitive.
MULT18X18D_WIDTH = 18
MULT18X18D_PRODUCT_WIDTH = 36
#: Cycles from an operand at the block's inputs to its product at ``P``: the input register
#: and the output register.
MULT18X18D_LATENCY = 2


def mult18x18d(m, *, a, b, name):
    """Add a ``MULT18X18D`` in the mode of :data:`MULT18X18D_PARAMS` to ``m``.

    ``a`` and ``b`` are signed operands of at most 18 bits (sign-extended here). Returns the
    36-bit signed product ``P``: ``a`` times ``b`` of cycle t, two cycles later.

    Only the used pins are connected: nextpnr-ecp5 cannot route constants to the cascade
    inputs (SRIA, SRIB), and the unused clocks, enables, resets and the SOURCEA/SOURCEB
    selects (parallel inputs, 0) need nothing.
    """
    width = MULT18X18D_WIDTH
    product = Signal(signed(MULT18X18D_PRODUCT_WIDTH), name=f"{name}_p")
    a_ext = Signal(signed(width), name=f"{name}_a")
    b_ext = Signal(signed(width), name=f"{name}_b")
    m.d.comb += [a_ext.eq(a), b_ext.eq(b)]  # sign extension to the 18-bit operands
    ports = {
        "i_CLK0": ClockSignal(),
        "i_CE0": Const(1, 1),
        "i_SIGNEDA": Const(1, 1),
        "i_SIGNEDB": Const(1, 1),
    }
    for i in range(width):
        ports[f"i_A{i}"] = a_ext[i]
        ports[f"i_B{i}"] = b_ext[i]
    for i in range(MULT18X18D_PRODUCT_WIDTH):
        ports[f"o_P{i}"] = product[i]
    params = {f"p_{key}": value for key, value in MULT18X18D_PARAMS.items()}
    m.submodules[name] = Instance("MULT18X18D", **params, **ports)
    return product


class Ecp5Int8Mac(wiring.Component):
    """``psum_out = wrap(psum_in + a·w, acc_width)`` on an ECP5 ``MULT18X18D``.

    The block's A and B input registers take ``a`` and ``w`` every cycle (the PE presents
    the weight it selected for that activation). Their product leaves the block's output
    register two cycles later, passes ``fabric_registers`` fabric registers and is added to
    ``psum_in`` in cycle t + :attr:`latency` (combinationally; the PE registers the sum).

    Parameters
    ----------
    acc_width : int
        Accumulator width W, 16 to 64 (the 9×8 product fits 17 bits signed).
    fabric_registers : int
        Registers between the DSP block's output and the partial-sum add, 0 to 2: the first
        takes the DSP-to-fabric routing, the second leaves the adder's carry chain a cycle
        of its own.

    Members
    -------
    a : In(signed(9))
        Activation operand.
    w : In(signed(8))
        Weight operand.
    psum_in : In(signed(acc_width))
    psum_out : Out(signed(acc_width))
    """

    def __init__(self, *, acc_width, fabric_registers=2):
        if not isinstance(acc_width, int) or not 16 <= acc_width <= 64:
            raise ValueError(f"acc_width must be between 16 and 64, got {acc_width!r}")
        if fabric_registers not in (0, 1, 2):
            raise ValueError(f"fabric_registers must be 0, 1 or 2, got {fabric_registers!r}")
        self._acc_width = acc_width
        self._fabric_registers = fabric_registers
        super().__init__(
            {
                "a": In(signed(9)),
                "w": In(signed(8)),
                "psum_in": In(signed(acc_width)),
                "psum_out": Out(signed(acc_width)),
            }
        )

    @property
    def acc_width(self):
        return self._acc_width

    @property
    def latency(self):
        """Cycles from ``a`` to its product entering the sum: 2 in the DSP block plus the
        fabric registers."""
        return MULT18X18D_LATENCY + self._fabric_registers

    def elaborate(self, platform):
        m = Module()
        p = mult18x18d(m, a=self.a, b=self.w, name="mult")
        # The 9×8 product fits 17 bits; the upper bits of P are its sign extension.
        product = Signal(signed(17), name="product")
        m.d.comb += product.eq(p[:17].as_signed())
        for stage in range(self._fabric_registers):
            # No reset: the product only matters under a valid row.
            staged = Signal(signed(17), name=f"product_reg{stage + 1}", reset_less=True)
            m.d.sync += staged.eq(product)
            product = staged
        m.d.comb += self.psum_out.eq(self.psum_in + product)
        return m


def simulation_sources(config):
    """Verilog files a simulator needs beside the generated design of ``config``: the
    ``MULT18X18D`` model when a PE uses the ECP5 primitive, else none. Synthesis reads none
    of them."""
    return (ECP5_MULT18X18D_SIM_MODEL,) if config.dsp_pes else ()
