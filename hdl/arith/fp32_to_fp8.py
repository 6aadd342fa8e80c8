"""binary32 → FP8 output conversion, SAT or NONSAT (docs/numerics.md §1.2)."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FORMATS


class Fp32ToFp8(wiring.Component):
    """Round a binary32 value to an FP8 code: RNE on the mantissa first, then the range check.

    NONSAT: overflow and ±Inf give NaN (E4M3) or ±Inf (E5M2); SAT: ±max. Values at or below
    half the smallest subnormal give ±0. NaN gives the positive canonical NaN (E4M3 ``0x7F``,
    E5M2 ``0x7E``). Combinational.

    Parameters
    ----------
    fmt : str
        ``"e4m3"`` or ``"e5m2"``.
    saturate : bool
        SAT mode instead of NONSAT.

    Members
    -------
    i : In(32)
        binary32 bit pattern.
    o : Out(8)
        FP8 code.
    """

    i: In(32)
    o: Out(8)

    def __init__(self, fmt, *, saturate=False):
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self._fmt = FORMATS[fmt]
        self._saturate = bool(saturate)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        f = self._fmt
        sign = self.i[31]
        e32 = self.i[23:31]
        m32 = self.i[:23]
        significand = Signal(24)
        m.d.comb += significand.eq(m32 | (1 << 23))

        # Target biased exponent and the right shift that keeps man_bits + 1 significant bits
        # (more for target subnormals), capped once everything falls into the sticky bit.
        e_target = Signal(signed(10))
        m.d.comb += e_target.eq(e32 - 127 + f.bias)
        base = 23 - f.man_bits
        # At 25 every bit, the guard bit included, is below the rounding point: the result is 0.
        wanted = Signal(signed(11))
        m.d.comb += wanted.eq(Mux(e_target >= 1, base, base + 1 - e_target))
        shift = Signal(range(26))
        m.d.comb += shift.eq(Mux(wanted > 25, 25, wanted))
        kept = Signal(24)
        m.d.comb += kept.eq(significand >> shift)
        lost = Signal(25)
        m.d.comb += lost.eq(significand & ((1 << shift) - 1))
        half = Signal(25)
        m.d.comb += half.eq((1 << shift) >> 1)
        round_up = (lost > half) | ((lost == half) & kept[0])
        rounded = Signal(25)
        m.d.comb += rounded.eq(kept + round_up)

        # (max(E,1) − 1)·2^m + q: a carry out of q moves into the exponent by itself.
        magnitude = Signal(signed(14))
        m.d.comb += magnitude.eq((Mux(e_target >= 1, e_target - 1, 0) << f.man_bits) + rounded)
        is_inf = (e32 == 0xFF) & (m32 == 0)
        is_nan = (e32 == 0xFF) & (m32 != 0)
        overflow = is_inf | (magnitude > f.max_code)
        if self._saturate:
            overflow_code = f.max_code
        else:
            overflow_code = 0x7C if f.has_inf else f.nan_code
        # E4M3 NONSAT overflow is a NaN, and the hardware's NaN is always positive.
        nan_out = is_nan | (overflow if overflow_code == f.nan_code else 0)
        code = Signal(7)
        with m.If(overflow):
            m.d.comb += code.eq(overflow_code)
        with m.Elif(e32 == 0):  # zero and binary32 subnormals are far below FP8's range
            m.d.comb += code.eq(0)
        with m.Else():
            m.d.comb += code.eq(magnitude)
        m.d.comb += self.o.eq(Mux(nan_out, f.nan_code, code | (sign << 7)))
        return m
