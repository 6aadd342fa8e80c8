"""Arithmetic of each MAC kind, behind one interface the PE and array skeleton share.

A MAC kind says how raw 8-bit codes become multiplier operands (decoded once, at the array
edge, not in every PE), what a partial sum looks like, and which MAC component a PE holds.
Adding a number format means adding a class here and a MAC component, never another array.
"""

from amaranth.hdl import Mux, signed, unsigned

from hdl.mac_int8 import Int8Mac

CODE_SHAPE = unsigned(8)


class Int8Arithmetic:
    """INT8 weights times int8 or uint8 activations into a wrapping accumulator (§3.1–§3.2).

    Activations enter as 8-bit codes with a per-row ``act_unsigned`` flag and are extended to
    a 9-bit signed operand at the array edge, so the PEs hold one 9×8 signed multiplier for
    both modes.
    """

    name = "int8"
    act_operand_shape = signed(9)
    weight_operand_shape = signed(8)
    #: Pipeline stages the MAC adds beyond the PE's own partial-sum register.
    mac_latency = 0

    def __init__(self, acc_width):
        self._acc_width = acc_width

    @property
    def psum_shape(self):
        return signed(self._acc_width)

    def act_operand(self, code, act_unsigned):
        """Operand of an activation code: zero-extended for uint8, sign-extended for int8."""
        return Mux(act_unsigned, code.as_unsigned(), code.as_signed())

    def weight_operand(self, code):
        return code.as_signed()

    def create_mac(self):
        return Int8Mac(acc_width=self._acc_width)


def arithmetic_for(config):
    """The arithmetic object of ``config.mac``."""
    if config.mac == "int8":
        return Int8Arithmetic(config.acc_width)
    raise ValueError(f"mac {config.mac!r} has no arithmetic implementation")
