"""Weight-stationary processing element with a shadow weight register."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.arith import CODE_SHAPE


def pe_signature(arith):
    """The ports of a :class:`ProcessingElement` with arithmetic ``arith`` (its Members).

    Shared by the PE itself and by :class:`~hdl.array.SystolicArray`, which, when it
    instantiates a separately generated PE module, connects an interface created from this
    signature: the flattened member names (``a_in``, ``psum_out``, …) are the Verilog port
    names of the PE module.
    """
    return wiring.Signature(
        {
            "a_in": In(arith.act_operand_shape),
            "switch_in": In(1),
            "w_in": In(CODE_SHAPE),
            "w_load_in": In(1),
            "psum_in": In(arith.column_psum_shape),
            "a_out": Out(arith.act_operand_shape),
            "switch_out": Out(1),
            "w_out": Out(CODE_SHAPE),
            "w_load_out": Out(1),
            "psum_out": Out(arith.column_psum_shape),
        }
    )


class ProcessingElement(wiring.Component):
    """One PE: stationary weight, shadow weight, MAC and the registers of the systolic links.

    Activations travel left to right and partial sums top to bottom, one register per PE.
    Weights for the next fold travel down the column (one register per PE) as codes and are
    captured into the shadow register, decoded into the multiplier's operand
    (``arith.weight_operand``), when ``w_load_in`` is set; ``w_load`` travels left to right one
    cycle per PE, so loading follows the same diagonal wavefront as the activations.

    The ``switch`` bit arrives with the first activation of a fold: in that cycle the MAC
    uses the shadow weight and the shadow is copied into the stationary weight, so consecutive
    folds run back to back with no bubble. A shadow write and a switch in the same cycle are
    safe: the switch reads the old shadow.

    Parameters
    ----------
    arith : arithmetic object (see :mod:`hdl.arith.arithmetic`)

    Members
    -------
    a_in, a_out : In/Out(arith.act_operand_shape)
        Activation operand; ``a_out`` is ``a_in`` one cycle later.
    switch_in, switch_out : In/Out(1)
    w_in, w_out : In/Out(8)
        Weight code travelling down the column; ``w_out`` is ``w_in`` one cycle later.
    w_load_in, w_load_out : In/Out(1)
        Capture ``w_in`` into the shadow weight; ``w_load_out`` is ``w_load_in`` delayed.
    psum_in, psum_out : In/Out(arith.column_psum_shape)
        ``psum_out`` is ``psum_in`` plus a product, one cycle later (see Latency).

    Latency: one cycle on every link; the partial sum includes the product of the operands
    that arrived ``arith.mac_latency`` cycles before (``mac_pipeline`` registers in the MAC;
    with an ECP5 MAC also the DSP block's input and output registers).

    With the ECP5 ``MULT18X18D`` MAC the DSP block's input registers take the place of the
    operand registers: the PE hands it the activation and the selected weight directly.
    """

    def __init__(self, *, arith):
        self._arith = arith
        super().__init__(pe_signature(arith))

    @property
    def arith(self):
        return self._arith

    def elaborate(self, platform):
        m = Module()
        m.submodules.mac = mac = self._arith.create_mac()

        # The shadow holds the weight already decoded into the multiplier's operand, so the
        # decoder sits on the column's load path, which has a cycle to itself, and the switch
        # bit only chooses between two registers in front of the multiplier.
        arith = self._arith
        shadow_weight = Signal(arith.weight_operand_shape, reset_less=True)
        with m.If(self.w_load_in):
            m.d.sync += shadow_weight.eq(arith.weight_operand(m, self.w_in))
        # Data registers need no reset: results are qualified by the array's valid pipeline.
        a_reg = Signal.like(self.a_out, reset_less=True)
        weight = Signal(arith.weight_operand_shape, reset_less=True)
        with m.If(self.switch_in):
            m.d.sync += weight.eq(shadow_weight)
        active_weight = Signal(arith.weight_operand_shape)
        m.d.comb += active_weight.eq(Mux(self.switch_in, shadow_weight, weight))
        if arith.operand_register:
            # The multiplier sees registered operands: the activation register that feeds
            # the next PE anyway, and the weight as selected in the cycle the activation
            # arrived, so the switch mux does not precede the multiplier.
            mac_weight = Signal(arith.weight_operand_shape, reset_less=True)
            m.d.sync += mac_weight.eq(active_weight)
            mac_act = a_reg
        else:
            mac_weight, mac_act = active_weight, self.a_in
        m.d.comb += [mac.a.eq(mac_act), mac.w.eq(mac_weight)]
        m.d.comb += mac.psum_in.eq(self.psum_in)
        w_reg = Signal.like(self.w_out, reset_less=True)
        psum_reg = Signal.like(self.psum_out, reset_less=True)
        # Every PE on one anti-diagonal sees the switch in the same cycle, so the switch
        # registers of those PEs are equivalent and synthesis would merge them into one
        # register whose output crosses the array (on a 16×16 ECP5 ``auto`` array, to PEs on
        # DSP blocks at the far side of the die). ``keep`` marks each PE's own copy; the yosys
        # flow (:data:`scripts.synth.KEEP_REGISTERS`) keeps the register apart.
        switch_reg = Signal(name="switch_reg", attrs={"keep": 1})
        m.d.sync += [
            a_reg.eq(self.a_in),
            w_reg.eq(self.w_in),
            psum_reg.eq(mac.psum_out),
            switch_reg.eq(self.switch_in),
            self.w_load_out.eq(self.w_load_in),
        ]
        m.d.comb += [
            self.switch_out.eq(switch_reg),
            self.a_out.eq(a_reg),
            self.w_out.eq(w_reg),
            self.psum_out.eq(psum_reg),
        ]
        return m
