"""FP8 code → integer operand decoder (docs/numerics.md §1.1, integer form)."""

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FORMATS


def fp8_operand_layout(fmt):
    """Decoded FP8 operand: ``v = (−1)^sign · sig · 2^(exp_field + 1 − bias − m)``.

    ``exp_field = max(E, 1) − 1``, so the product of two operands is
    ``(sig_a·sig_b) << (exp_a + exp_b)`` in units of the format pair's LSB ``2^L`` (§2.2).
    For NaN and infinity ``sig`` is 0, so a special product leaves the integer sum untouched.
    Only formats with infinities (E5M2) have the ``inf`` field.
    """
    f = FORMATS[fmt]
    fields = {
        "sign": unsigned(1),
        "sig": unsigned(f.man_bits + 1),
        "exp": unsigned(f.exp_bits),
        "nan": unsigned(1),
    }
    if f.has_inf:
        fields["inf"] = unsigned(1)
    return data.StructLayout(fields)


def operand_inf(operand, fmt):
    """The operand's infinity bit, or constant 0 for a format without infinities."""
    return operand.inf if FORMATS[fmt].has_inf else 0


class Fp8Decoder(wiring.Component):
    """Combinational decoder of one FP8 code into sign, significand, exponent and class.

    E4M3 (OCP "fn"): NaN is S.1111.111, there is no infinity. E5M2: S.11111.00 is infinity,
    S.11111.{01,10,11} NaN.

    Parameters
    ----------
    fmt : str
        ``"e4m3"`` or ``"e5m2"``.

    Members
    -------
    code : In(8)
    operand : Out(fp8_operand_layout(fmt))
    """

    def __init__(self, fmt):
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self._fmt = fmt
        super().__init__({"code": In(8), "operand": Out(fp8_operand_layout(fmt))})

    @property
    def fmt(self):
        return self._fmt

    def elaborate(self, platform):
        m = Module()
        f = FORMATS[self._fmt]
        man = self.code[: f.man_bits]
        exp = self.code[f.man_bits : f.man_bits + f.exp_bits]
        sign = self.code[7]
        exp_all_ones = exp == (1 << f.exp_bits) - 1
        if f.has_inf:
            nan = exp_all_ones & (man != 0)
            m.d.comb += self.operand.inf.eq(exp_all_ones & (man == 0))
            special = exp_all_ones
        else:  # E4M3 has no infinity
            nan = exp_all_ones & (man == (1 << f.man_bits) - 1)
            special = nan
        normal = exp != 0
        out = self.operand
        m.d.comb += [
            out.sign.eq(sign),
            out.nan.eq(nan),
            # Subnormals (E = 0) share the exponent of E = 1 and have no hidden bit.
            out.exp.eq(exp - normal),
        ]
        with m.If(~special):
            m.d.comb += out.sig.eq(man | (normal << f.man_bits))
        return m
