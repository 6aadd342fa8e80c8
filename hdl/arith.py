"""Arithmetic of each MAC kind, behind one interface the PE and array skeleton share.

A MAC kind says how raw 8-bit codes become multiplier operands (activations are decoded once
per row at the array edge, weights inside the PE), what a partial sum looks like, and which
MAC component a PE holds. Adding a number format means adding a class here and a MAC
component, never another array.
"""

from amaranth.hdl import Mux, signed, unsigned

from hdl.config import FP8_FORMAT_PAIRS as FP8_PAIRS
from hdl.fp8_decode import Fp8Decoder, fp8_operand_layout
from hdl.mac_fp8 import Fp8Mac, kulisch_psum_layout
from hdl.mac_int8 import Int8Mac

CODE_SHAPE = unsigned(8)


class _Pipelined:
    """Pipeline depth shared by every arithmetic: ``mac_pipeline`` registers (0 to 2) inside
    each PE's MAC. Stage 1 is the MAC's product register, stage 2 the PE's operand register."""

    mac_pipeline = 0

    @property
    def mac_latency(self):
        """Pipeline stages the MAC adds beyond the PE's own partial-sum register."""
        return self.mac_pipeline

    @property
    def operand_register(self):
        return self.mac_pipeline >= 2


class Int8Arithmetic(_Pipelined):
    """INT8 weights times int8 or uint8 activations into a wrapping accumulator (§3.1–§3.2).

    Activations enter as 8-bit codes with a per-row ``act_unsigned`` flag and are extended to
    a 9-bit signed operand at the array edge, so the PEs hold one 9×8 signed multiplier for
    both modes.
    """

    name = "int8"
    act_operand_shape = signed(9)
    weight_operand_shape = signed(8)

    def __init__(self, acc_width, *, mac_pipeline=2, multiplier="dsp"):
        self._acc_width = acc_width
        self.mac_pipeline = mac_pipeline
        self._multiplier = multiplier

    @property
    def psum_shape(self):
        return signed(self._acc_width)

    def act_operand(self, m, code, act_unsigned, *, name):
        """Operand of an activation code: zero-extended for uint8, sign-extended for int8."""
        return Mux(act_unsigned, code.as_unsigned(), code.as_signed())

    def weight_operand(self, m, code):
        return code.as_signed()

    def create_mac(self):
        return Int8Mac(
            acc_width=self._acc_width,
            product_register=self.mac_pipeline >= 1,
            lut_multiplier=self._multiplier == "lut",
        )


class Fp8Arithmetic(_Pipelined):
    """FP8 operands (E4M3 / E5M2, either side) with exact Kulisch accumulation (§2).

    Partial sums are the exact W-bit integer in units of ``2^L`` plus NaN/+Inf/−Inf flags;
    rounding to binary32 happens once, after all folds are summed (``hdl.round_f32``).
    The ``act_unsigned`` flag of the activation stream is ignored.
    """

    def __init__(self, name, acc_width, *, mac_pipeline=2, multiplier="dsp"):
        self.name = name
        self.act_fmt, self.weight_fmt = FP8_PAIRS[name]
        self._acc_width = acc_width
        self.mac_pipeline = mac_pipeline
        self._multiplier = multiplier

    @property
    def act_operand_shape(self):
        return fp8_operand_layout(self.act_fmt)

    @property
    def weight_operand_shape(self):
        return fp8_operand_layout(self.weight_fmt)

    @property
    def psum_shape(self):
        return kulisch_psum_layout(self._acc_width)

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
            product_register=self.mac_pipeline >= 1,
            lut_multiplier=self._multiplier == "lut",
        )


def arithmetic_for(config):
    """The arithmetic object of ``config.mac``."""
    options = {"mac_pipeline": config.mac_pipeline, "multiplier": config.multiplier}
    if config.mac == "int8":
        return Int8Arithmetic(config.acc_width, **options)
    if config.mac in FP8_PAIRS:
        return Fp8Arithmetic(config.mac, config.acc_width, **options)
    raise ValueError(f"mac {config.mac!r} has no arithmetic implementation")
