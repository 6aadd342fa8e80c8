"""The arithmetic of each MAC kind, behind one interface shared by every block that touches
partial sums.

An :class:`Arithmetic` object answers everything the PE, the array, the accumulator and the
blocks after it need to know about a number format: how raw 8-bit codes become multiplier
operands, which MAC a PE holds, what a partial sum looks like, how two partial sums add and
how a finished sum leaves the accumulator. None of those blocks branches on the format; adding
a format means adding a subclass here and its MAC component, never another array.
"""

from amaranth.hdl import Mux, signed, unsigned

from golden.formats import product_lsb_exp
from hdl.arith.ecp5_mac import MULT18X18D_LATENCY, Ecp5Int8Mac
from hdl.arith.fp8_decode import Fp8Decoder, fp8_operand_layout
from hdl.arith.mac_fp8 import (
    Fp8Mac,
    KulischCarryResolver,
    kulisch_psum_layout,
    segmented_psum_layout,
)
from hdl.arith.mac_int8 import Int8Mac
from hdl.arith.round_f32 import IntToF32
from hdl.config import FP8_FORMAT_PAIRS

#: Raw operand codes on every stream: one byte per element, whatever the format.
CODE_SHAPE = unsigned(8)


class Arithmetic:
    """Interface of a MAC kind's arithmetic.

    Parameters
    ----------
    acc_width : int
        Partial-sum width W.
    mac_pipeline : int
        Registers inside each PE's MAC, 0 to 2 (FP8: 0 to 4): 1 is the MAC's product register,
        2 adds the PE's operand register in front of the multiplier, 3 (FP8) a second product
        register, 4 (FP8) a segmented partial-sum add (:class:`Fp8Arithmetic`).
    multiplier : str
        ``"dsp"`` or ``"lut"`` (see :mod:`hdl.arith.multiplier`); INT8 also takes ``"ecp5"``
        (:class:`Int8Arithmetic`).

    Members
    -------
    name : str
        MAC kind, as in :data:`hdl.config.MAC_KINDS`.
    act_operand_shape, weight_operand_shape : shape
        Decoded multiplier operands.
    psum_shape : shape
        One partial sum, as it leaves the array and sits in the accumulator.
    column_psum_shape : shape
        One partial sum as it travels down a column between PEs: :attr:`psum_shape`, unless
        the PEs hand on pending carries (:meth:`column_resolve`).
    output_shape : shape
        One finished element leaving the accumulator.
    """

    name = None

    def __init__(self, acc_width, *, mac_pipeline=2, multiplier="dsp"):
        self._acc_width = acc_width
        self._mac_pipeline = mac_pipeline
        self._multiplier = multiplier

    @property
    def acc_width(self):
        return self._acc_width

    @property
    def mac_pipeline(self):
        return self._mac_pipeline

    @property
    def operand_register(self):
        """Whether the PE registers the operands in front of the multiplier."""
        return self._mac_pipeline >= 2

    @property
    def product_registers(self):
        """Registers inside the MAC between the multiplier operands and the partial-sum add
        (the MAC's ``latency``): 1 from ``mac_pipeline`` 1 on, 2 at ``mac_pipeline`` 3."""
        return {0: 0, 1: 1, 2: 1, 3: 2, 4: 2}[self._mac_pipeline]

    @property
    def product_register(self):
        """Whether the MAC registers the product before the partial-sum add."""
        return self.product_registers >= 1

    @property
    def mac_latency(self):
        """Pipeline stages of a PE's MAC path beyond its partial-sum register: the operand
        register and the MAC's product registers (its ``latency``), each one cycle."""
        return int(self.operand_register) + self.product_registers

    # --- operands -------------------------------------------------------------------------

    act_operand_shape = None
    weight_operand_shape = None

    def act_operand(self, m, code, act_unsigned, *, name):
        """The multiplier operand of an activation code (decoded once per row at the edge)."""
        raise NotImplementedError

    def weight_operand(self, m, code):
        """The multiplier operand of a weight code (decoded inside the PE)."""
        raise NotImplementedError

    def create_mac(self):
        """A new MAC component: ``psum_out = psum_in + a·w`` after its :attr:`latency`."""
        raise NotImplementedError

    # --- partial sums ---------------------------------------------------------------------

    @property
    def psum_shape(self):
        raise NotImplementedError

    def psum_add(self, m, a, b, out):
        """Drive ``out`` (combinationally) with the sum of partial sums ``a`` and ``b``."""
        raise NotImplementedError

    @property
    def column_psum_shape(self):
        return self.psum_shape

    #: Register stages of :meth:`column_resolve`, below each column of the array.
    column_resolve_latency = 0

    def column_resolve(self, m, column_psum, *, name):
        """The :attr:`psum_shape` value of a column's :attr:`column_psum_shape` partial sum,
        :attr:`column_resolve_latency` cycles later; ``name`` names any submodule this adds."""
        return column_psum

    @property
    def output_shape(self):
        raise NotImplementedError

    #: Register stages of :meth:`finish`.
    finish_latency = 0

    def finish(self, m, total, out, *, name, advance=None):
        """Drive ``out`` (an :attr:`output_shape` element) from a finished partial sum.

        ``out`` follows ``total`` by :attr:`finish_latency` cycles of ``advance`` (the
        caller's pipeline enable; unused when the latency is 0); ``name`` names any
        submodule this adds (one per column)."""
        raise NotImplementedError


def ecp5_int8_mac_latency(mac_pipeline):
    """MAC latency of the ECP5 ``MULT18X18D`` INT8 PE: the PE's operand registers, the DSP
    block's input and output registers (:data:`~hdl.arith.ecp5_mac.MULT18X18D_LATENCY`) and
    ``mac_pipeline`` fabric product registers. An ``auto`` array's LUT PEs are padded to it."""
    return 1 + MULT18X18D_LATENCY + mac_pipeline


class Int8Arithmetic(Arithmetic):
    """INT8 weights times int8 or uint8 activations into a wrapping accumulator.

    Activations enter as 8-bit codes with a per-row ``act_unsigned`` flag and are extended to
    a 9-bit signed operand at the array edge, so the PEs hold one 9×8 signed multiplier for
    both modes. Partial sums are W-bit two's complement and wrap; a finished sum leaves as it
    is.

    ``multiplier="ecp5"`` builds the MAC on an ECP5 ``MULT18X18D``
    (:class:`~hdl.arith.ecp5_mac.Ecp5Int8Mac`): the PE's operand registers (the activation
    and the weight selected for it), the block's input and output registers and
    ``mac_pipeline`` fabric product registers give a MAC latency of ``3 + mac_pipeline``
    (:func:`ecp5_int8_mac_latency`).

    Parameters
    ----------
    mac_latency : int or None
        A ``dsp`` or ``lut`` MAC padded to this latency, at least ``mac_pipeline`` (an
        ``auto`` array's LUT PEs match its ECP5 PEs this way): the operand register, then
        ``mac_latency − 1`` product registers that pipeline the multiplier itself
        (``product_registers`` of :class:`~hdl.arith.mac_int8.Int8Mac`). ``None``:
        ``mac_pipeline`` alone sets it.
    """

    name = "int8"
    act_operand_shape = signed(9)
    weight_operand_shape = signed(8)

    def __init__(self, acc_width, *, mac_pipeline=2, multiplier="dsp", mac_latency=None):
        if mac_pipeline not in (0, 1, 2):
            raise ValueError(f"mac_pipeline must be 0 to 2 for INT8, got {mac_pipeline!r}")
        super().__init__(acc_width, mac_pipeline=mac_pipeline, multiplier=multiplier)
        if multiplier == "ecp5":
            if mac_latency is not None:
                raise ValueError("mac_latency applies to dsp and lut multipliers only")
        elif mac_latency is not None and mac_latency < mac_pipeline:
            raise ValueError(f"mac_latency must be at least {mac_pipeline}, got {mac_latency}")
        self._mac_latency = mac_latency

    @property
    def operand_register(self):
        if self._multiplier == "ecp5":
            # Fabric registers in front of the DSP block's own: every path into the block
            # then starts at a register of the PE, placed beside it, and the weight select
            # runs between fabric registers.
            return True
        if self._mac_latency is not None:
            return self._mac_latency >= 2
        return super().operand_register

    @property
    def product_registers(self):
        """Registers between the multiplier and the partial-sum add in the MAC (the ECP5
        MAC's fabric registers after its output register)."""
        if self._multiplier == "ecp5":
            return self._mac_pipeline
        if self._mac_latency is not None:
            return self._mac_latency - int(self.operand_register)
        return super().product_registers

    @property
    def product_register(self):
        return self.product_registers >= 1

    @property
    def mac_latency(self):
        if self._multiplier == "ecp5":
            return ecp5_int8_mac_latency(self._mac_pipeline)
        return int(self.operand_register) + self.product_registers

    def act_operand(self, m, code, act_unsigned, *, name):
        return Mux(act_unsigned, code.as_unsigned(), code.as_signed())

    def weight_operand(self, m, code):
        return code.as_signed()

    def create_mac(self):
        if self._multiplier == "ecp5":
            return Ecp5Int8Mac(acc_width=self._acc_width, fabric_registers=self._mac_pipeline)
        if self._mac_latency is None:
            return Int8Mac(
                acc_width=self._acc_width,
                product_register=self.product_register,
                lut_multiplier=self._multiplier == "lut",
            )
        return Int8Mac(
            acc_width=self._acc_width,
            product_registers=self.product_registers,
            lut_multiplier=self._multiplier == "lut",
        )

    @property
    def psum_shape(self):
        return signed(self._acc_width)

    def psum_add(self, m, a, b, out):
        m.d.comb += out.eq(a + b)  # W-bit wrap by truncation

    @property
    def output_shape(self):
        return self.psum_shape

    def finish(self, m, total, out, *, name, advance=None):
        m.d.comb += out.eq(total)


class Fp8Arithmetic(Arithmetic):
    """FP8 operands (E4M3 / E5M2, either side) with exact Kulisch accumulation.

    Partial sums are the exact W-bit integer in units of ``2^L`` plus NaN/+Inf/−Inf flags;
    they add exactly with the flags ORed, and a finished sum is rounded once to binary32
    (:class:`~hdl.arith.round_f32.IntToF32`). The ``act_unsigned`` flag of the activation
    stream is ignored.

    ``mac_pipeline`` goes to 3 here: the operand register, then two product registers in the
    :class:`~hdl.arith.mac_fp8.Fp8Mac`, one after the significand multiply and exponent add and
    one after the shift that aligns the product, so the multiply, the shift and the W-bit add
    each have a cycle (MAC latency 3). At 4 the MAC is the same, but its W-bit add is cut into
    segments (:func:`~hdl.arith.mac_fp8.kulisch_segments`) whose carries travel down the column
    beside the partial sum, and a :class:`~hdl.arith.mac_fp8.KulischCarryResolver` below each
    column resolves them in two more cycles: no carry chain longer than a segment.
    """

    def __init__(self, name, acc_width, *, mac_pipeline=2, multiplier="lut"):
        if mac_pipeline not in (0, 1, 2, 3, 4):
            raise ValueError(f"mac_pipeline must be 0 to 4 for FP8, got {mac_pipeline!r}")
        super().__init__(acc_width, mac_pipeline=mac_pipeline, multiplier=multiplier)
        self.name = name
        self.act_fmt, self.weight_fmt = FP8_FORMAT_PAIRS[name]

    @property
    def act_operand_shape(self):
        return fp8_operand_layout(self.act_fmt)

    @property
    def weight_operand_shape(self):
        return fp8_operand_layout(self.weight_fmt)

    def act_operand(self, m, code, act_unsigned, *, name):
        decoder = m.submodules[name] = Fp8Decoder(self.act_fmt)
        m.d.comb += decoder.code.eq(code)
        return decoder.operand

    def weight_operand(self, m, code):
        decoder = m.submodules.weight_decoder = Fp8Decoder(self.weight_fmt)
        m.d.comb += decoder.code.eq(code)
        return decoder.operand

    def create_mac(self):
        return Fp8Mac(
            act_fmt=self.act_fmt,
            weight_fmt=self.weight_fmt,
            acc_width=self._acc_width,
            product_registers=self.product_registers,
            lut_multiplier=self._multiplier == "lut",
            segmented=self.segmented,
        )

    @property
    def segmented(self):
        """Whether the PEs' partial-sum adds are segmented (``mac_pipeline=4``)."""
        return self._mac_pipeline == 4

    @property
    def psum_shape(self):
        return kulisch_psum_layout(self._acc_width)

    @property
    def column_psum_shape(self):
        if not self.segmented:
            return self.psum_shape
        return segmented_psum_layout(self._acc_width)

    @property
    def column_resolve_latency(self):
        return KulischCarryResolver.LATENCY if self.segmented else 0

    def column_resolve(self, m, column_psum, *, name):
        if not self.segmented:
            return column_psum
        resolver = m.submodules[name] = KulischCarryResolver(self._acc_width)
        m.d.comb += resolver.i.eq(column_psum)
        return resolver.o

    def psum_add(self, m, a, b, out):
        m.d.comb += [
            out.sum.eq(a.sum + b.sum),  # exact: W never overflows for K ≤ max_k
            out.nan.eq(a.nan | b.nan),
            out.pinf.eq(a.pinf | b.pinf),
            out.ninf.eq(a.ninf | b.ninf),
        ]

    @property
    def output_shape(self):
        return unsigned(32)  # binary32 bit pattern

    #: The rounding to binary32 is pipelined (:class:`~hdl.arith.round_f32.IntToF32`): the
    #: W-bit negation and leading-zero count, then the shift and the rounding, each follow a
    #: register, so neither sits behind the accumulator's W-bit add.
    finish_latency = IntToF32.PIPELINED_LATENCY

    def finish(self, m, total, out, *, name, advance=None):
        rounder = m.submodules[name] = IntToF32(
            acc_width=self._acc_width,
            lsb_exp=product_lsb_exp(self.act_fmt, self.weight_fmt),
            pipelined=True,
        )
        m.d.comb += [rounder.i.eq(total), rounder.en.eq(advance), out.eq(rounder.o)]


def arithmetic_for(config, multiplier=None):
    """The arithmetic object of ``config.mac``.

    ``multiplier`` picks one of the PE kinds of the configuration,
    :attr:`~hdl.config.ArrayConfig.pe_kinds` (``ecp5`` or ``lut`` under ``multiplier="auto"``);
    ``None`` is the first PE's. Every kind of one configuration has the same
    :attr:`~Arithmetic.mac_latency` and shapes.
    """
    if multiplier is None:
        multiplier = config.pe_kinds[0]
    elif multiplier not in config.pe_kinds:
        raise ValueError(f"no PE of {config.id} has a {multiplier!r} multiplier")
    options = {"mac_pipeline": config.mac_pipeline, "multiplier": multiplier}
    if config.mac == "int8":
        if config.multiplier == "auto" and multiplier != "ecp5":
            # The LUT PEs of an auto array keep step with its ECP5 PEs.
            options["mac_latency"] = ecp5_int8_mac_latency(config.mac_pipeline)
        return Int8Arithmetic(config.acc_width, **options)
    if config.mac in FP8_FORMAT_PAIRS:
        return Fp8Arithmetic(config.mac, config.acc_width, **options)
    raise ValueError(f"mac {config.mac!r} has no arithmetic implementation")
