"""Exact integer (with special flags) → binary32, one round-to-nearest-even (numerics §2.4)."""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.arith.mac_fp8 import kulisch_psum_layout

F32_CANONICAL_NAN = 0x7FC00000
F32_POS_INF = 0x7F800000
F32_NEG_INF = 0xFF800000


class IntToF32(wiring.Component):
    """Round ``sum · 2^lsb_exp`` to binary32 once, after all folds are summed.

    Leading-zero count, normalising shift, guard and sticky bits, one incrementer; a carry out
    of the significand moves to the next binade. Specials (§2.5): NaN, or +Inf together with
    −Inf, give the canonical NaN ``0x7FC00000``; +Inf / −Inf give ±Inf; an exact zero gives
    +0.0. For every legal accumulator width the result is a normal number (§2.4), so there is
    no overflow or subnormal path. Combinational.

    Parameters
    ----------
    acc_width : int
        Width W of the integer, at least 25.
    lsb_exp : int
        Exponent L of the integer's LSB (−18 E4M3×E4M3, −32 E5M2×E5M2, −25 mixed).

    Members
    -------
    i : In(kulisch_psum_layout(acc_width))
    o : Out(32)
        binary32 bit pattern.
    """

    def __init__(self, *, acc_width, lsb_exp):
        if not isinstance(acc_width, int) or not 25 <= acc_width <= 256:
            raise ValueError(f"acc_width must be between 25 and 256, got {acc_width!r}")
        if lsb_exp + 126 < 1 or lsb_exp + acc_width + 126 > 254:
            raise ValueError(
                f"lsb_exp {lsb_exp} with acc_width {acc_width} leaves the binary32 normal range"
            )
        self._acc_width = acc_width
        self._lsb_exp = lsb_exp
        super().__init__({"i": In(kulisch_psum_layout(acc_width)), "o": Out(32)})

    def elaborate(self, platform):
        m = Module()
        width = self._acc_width
        total = self.i.sum
        negative = total[width - 1]
        magnitude = Signal(unsigned(width))
        # −2^(W−1) negates to itself, which read unsigned is its magnitude.
        m.d.comb += magnitude.eq(Mux(negative, -total, total))

        leading_zeros = Signal(range(width + 1))
        m.d.comb += leading_zeros.eq(width)
        for bit in range(width):  # the highest set bit wins: later statements take priority
            with m.If(magnitude[bit]):
                m.d.comb += leading_zeros.eq(width - 1 - bit)
        normalised = Signal(unsigned(width))
        m.d.comb += normalised.eq(magnitude << leading_zeros)

        significand = normalised[width - 24 :]
        guard = normalised[width - 25]
        sticky = normalised[: width - 25].any()
        round_up = guard & (sticky | significand[0])
        rounded = Signal(25)
        m.d.comb += rounded.eq(significand + round_up)
        carry = rounded[24]
        exponent = Signal(range(256))
        m.d.comb += exponent.eq(self._lsb_exp + width + 126 - leading_zeros + carry)
        finite = Cat(Mux(carry, 0, rounded[:23]), exponent[:8], negative)

        flags = self.i
        with m.If(flags.nan | (flags.pinf & flags.ninf)):
            m.d.comb += self.o.eq(F32_CANONICAL_NAN)
        with m.Elif(flags.pinf):
            m.d.comb += self.o.eq(F32_POS_INF)
        with m.Elif(flags.ninf):
            m.d.comb += self.o.eq(F32_NEG_INF)
        with m.Elif(magnitude == 0):
            m.d.comb += self.o.eq(0)
        with m.Else():
            m.d.comb += self.o.eq(finite)
        return m
