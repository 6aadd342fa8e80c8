"""Exact integer (with special flags) → binary32, one round-to-nearest-even (numerics §2.4)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.arith.mac_fp8 import kulisch_psum_layout

F32_CANONICAL_NAN = 0x7FC00000
F32_POS_INF = 0x7F800000
F32_NEG_INF = 0xFF800000


def count_leading_zeros(value):
    """Leading zeros of unsigned ``value`` (its width when zero), as a tree of
    ``log2(width)`` two-way choices rather than a priority chain as long as the value."""
    width = len(value)
    size = 2
    while size < width:
        size *= 2
    # Zeros below the value leave the count of a nonzero value as it is.
    padded = Cat(Const(0, size - width), value)

    def tree(bits):
        """``(all zero, leading zeros unless all zero)`` of ``bits`` (a power of two long)."""
        if len(bits) == 2:
            return ~bits.any(), ~bits[1]
        half = len(bits) // 2
        high_zero, high_count = tree(bits[half:])
        low_zero, low_count = tree(bits[:half])
        return high_zero & low_zero, Mux(high_zero, Cat(low_count, 1), Cat(high_count, 0))

    zero, count = tree(padded)
    return Mux(zero, width, count)


class IntToF32(wiring.Component):
    """Round ``sum · 2^lsb_exp`` to binary32 once, after all folds are summed.

    Leading-zero count, normalising shift, guard and sticky bits, one incrementer; a carry out
    of the significand moves to the next binade. Specials (§2.5): NaN, or +Inf together with
    −Inf, give the canonical NaN ``0x7FC00000``; +Inf / −Inf give ±Inf; an exact zero gives
    +0.0. For every legal accumulator width the result is a normal number (§2.4), so there is
    no overflow or subnormal path.

    Combinational by default. ``pipelined`` cuts it into three steps of about equal depth:
    ``i`` is registered, the magnitude (a W-bit negation) and its leading-zero count are
    registered, and the normalising shift and the rounding drive ``o`` from those registers.
    Both registers load when ``en`` is high, so ``o`` is the rounding of the ``i`` presented
    at the :attr:`latency`-th ``en`` cycle before (a whole pipeline that stalls as one).

    Parameters
    ----------
    acc_width : int
        Width W of the integer, at least 25.
    lsb_exp : int
        Exponent L of the integer's LSB (−18 E4M3×E4M3, −32 E5M2×E5M2, −25 mixed).
    pipelined : bool
        Two register stages (``latency`` 2) instead of none.

    Members
    -------
    i : In(kulisch_psum_layout(acc_width))
    o : Out(32)
        binary32 bit pattern.
    en : In(1)
        Only with ``pipelined``: advance the pipeline.
    """

    #: Register stages of the pipelined rounder.
    PIPELINED_LATENCY = 2

    def __init__(self, *, acc_width, lsb_exp, pipelined=False):
        if not isinstance(acc_width, int) or not 25 <= acc_width <= 256:
            raise ValueError(f"acc_width must be between 25 and 256, got {acc_width!r}")
        if lsb_exp + 126 < 1 or lsb_exp + acc_width + 126 > 254:
            raise ValueError(
                f"lsb_exp {lsb_exp} with acc_width {acc_width} leaves the binary32 normal range"
            )
        self._acc_width = acc_width
        self._lsb_exp = lsb_exp
        self._pipelined = bool(pipelined)
        members = {"i": In(kulisch_psum_layout(acc_width)), "o": Out(32)}
        if self._pipelined:
            members["en"] = In(1)
        super().__init__(members)

    @property
    def latency(self):
        """Cycles (of ``en``) from ``i`` to ``o``: 0, or 2 when pipelined."""
        return self.PIPELINED_LATENCY if self._pipelined else 0

    def _stage(self, m, value, name):
        """``value`` itself, or registered on ``en`` when pipelined."""
        if not self._pipelined:
            return value
        reg = Signal(value.shape(), name=name, reset_less=True)
        with m.If(self.en):
            m.d.sync += reg.eq(value)
        return reg

    def elaborate(self, platform):
        m = Module()
        width = self._acc_width
        psum = self._stage(m, self.i, "sum_reg")
        total = psum.sum
        negative = total[width - 1]
        magnitude = Signal(unsigned(width))
        # −2^(W−1) negates to itself, which read unsigned is its magnitude.
        m.d.comb += magnitude.eq(Mux(negative, -total, total))

        leading_zeros = Signal(range(width + 1))
        m.d.comb += leading_zeros.eq(count_leading_zeros(magnitude))
        # The second cut: the shift and the rounding start from registers.
        flags = self._stage(m, Cat(psum.nan, psum.pinf, psum.ninf), "flags_reg")
        nan, pinf, ninf = flags
        negative = self._stage(m, negative, "negative_reg")
        magnitude = self._stage(m, magnitude, "magnitude_reg")
        leading_zeros = self._stage(m, leading_zeros, "leading_zeros_reg")
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

        with m.If(nan | (pinf & ninf)):
            m.d.comb += self.o.eq(F32_CANONICAL_NAN)
        with m.Elif(pinf):
            m.d.comb += self.o.eq(F32_POS_INF)
        with m.Elif(ninf):
            m.d.comb += self.o.eq(F32_NEG_INF)
        with m.Elif(magnitude == 0):
            m.d.comb += self.o.eq(0)
        with m.Else():
            m.d.comb += self.o.eq(finite)
        return m
