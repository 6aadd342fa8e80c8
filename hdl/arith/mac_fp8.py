"""FP8 multiply with exact fixed-point (Kulisch) accumulation (docs/numerics.md §2.1–§2.5)."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FORMATS
from hdl.arith.fp8_decode import fp8_operand_layout, operand_inf
from hdl.arith.multiplier import product_signal


def kulisch_psum_layout(acc_width):
    """An exact partial sum: the W-bit integer in units of ``2^L`` and the sticky flags (§2.5)."""
    return data.StructLayout(
        {
            "sum": signed(acc_width),
            "nan": unsigned(1),
            "pinf": unsigned(1),
            "ninf": unsigned(1),
        }
    )


def fp8_product_width(act_fmt, weight_fmt):
    """Bits of |sig_a·sig_b| << (exp_a + exp_b): significand product plus the largest shift."""
    fa, fb = FORMATS[act_fmt], FORMATS[weight_fmt]
    sig_bits = fa.man_bits + 1 + fb.man_bits + 1
    max_shift = (1 << fa.exp_bits) - 2 + (1 << fb.exp_bits) - 2
    return sig_bits + max_shift


class Fp8Product(wiring.Component):
    """Exact product of two decoded FP8 operands as a signed integer and special flags.

    ``product = ±(sig_a·sig_b) << (exp_a + exp_b)`` in units of ``2^L`` (§2.2), combinational.
    Flags follow §2.5: a NaN operand or Inf × 0 gives ``nan``; Inf × non-zero gives ``pinf``
    or ``ninf`` by the sign XOR, with a zero integer product. ``lut_multiplier`` marks the
    significand multiplier for logic-only mapping (see :mod:`hdl.arith.multiplier`).

    Members
    -------
    a : In(fp8_operand_layout(act_fmt))
    w : In(fp8_operand_layout(weight_fmt))
    product : Out(signed(fp8_product_width + 1))
    magnitude : Out(fp8_product_width)
        ``|product|``.
    sign : Out(1)
        Sign of the product (also for a zero product): ``product = ±magnitude``.
    nan, pinf, ninf : Out(1)
    """

    def __init__(self, *, act_fmt, weight_fmt, lut_multiplier=False):
        self._act_fmt = act_fmt
        self._weight_fmt = weight_fmt
        self._lut_multiplier = lut_multiplier
        super().__init__(
            {
                "a": In(fp8_operand_layout(act_fmt)),
                "w": In(fp8_operand_layout(weight_fmt)),
                "product": Out(signed(fp8_product_width(act_fmt, weight_fmt) + 1)),
                "magnitude": Out(fp8_product_width(act_fmt, weight_fmt)),
                "sign": Out(1),
                "nan": Out(1),
                "pinf": Out(1),
                "ninf": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        a, w = self.a, self.w
        sig_product = product_signal(
            unsigned(len(a.sig) + len(w.sig)), lut=self._lut_multiplier, name="sig_product"
        )
        m.d.comb += sig_product.eq(a.sig * w.sig)
        magnitude, sign = self.magnitude, self.sign
        m.d.comb += [magnitude.eq(sig_product << (a.exp + w.exp)), sign.eq(a.sign ^ w.sign)]
        m.d.comb += self.product.eq(Mux(sign, -magnitude, magnitude))

        a_inf = operand_inf(a, self._act_fmt)
        w_inf = operand_inf(w, self._weight_fmt)
        a_zero = (a.sig == 0) & ~a.nan & ~a_inf
        w_zero = (w.sig == 0) & ~w.nan & ~w_inf
        nan = a.nan | w.nan | (a_inf & w_zero) | (w_inf & a_zero)
        inf = (a_inf | w_inf) & ~nan
        m.d.comb += [
            self.nan.eq(nan),
            self.pinf.eq(inf & ~sign),
            self.ninf.eq(inf & sign),
        ]
        return m


class Fp8Mac(wiring.Component):
    """FP8 MAC: exact product, an optional product register, exact W-bit add, sticky flags.

    With ``product_register`` (the default), ``psum_out`` (combinational) is ``psum_in`` plus
    the product of the operands presented one cycle earlier; every PE of a column has the same
    product stage, so the skew of the array is unchanged and its latency grows by
    :attr:`latency` cycles. Without it the whole MAC is combinational.

    Parameters
    ----------
    act_fmt, weight_fmt : str
        ``"e4m3"`` or ``"e5m2"``.
    acc_width : int
        Width W of the Kulisch accumulator (§2.3).
    product_register : bool
    lut_multiplier : bool
        Mark the significand multiplier for logic-only mapping (see :mod:`hdl.arith.multiplier`).

    Members
    -------
    a : In(fp8_operand_layout(act_fmt))
    w : In(fp8_operand_layout(weight_fmt))
    psum_in : In(kulisch_psum_layout(acc_width))
    psum_out : Out(kulisch_psum_layout(acc_width))
    """

    def __init__(
        self, *, act_fmt, weight_fmt, acc_width, product_register=True, lut_multiplier=False
    ):
        need = fp8_product_width(act_fmt, weight_fmt) + 1
        if not isinstance(acc_width, int) or not need <= acc_width <= 256:
            raise ValueError(f"acc_width must be between {need} and 256, got {acc_width!r}")
        self._act_fmt = act_fmt
        self._weight_fmt = weight_fmt
        self._product_register = product_register
        self._lut_multiplier = lut_multiplier
        super().__init__(
            {
                "a": In(fp8_operand_layout(act_fmt)),
                "w": In(fp8_operand_layout(weight_fmt)),
                "psum_in": In(kulisch_psum_layout(acc_width)),
                "psum_out": Out(kulisch_psum_layout(acc_width)),
            }
        )

    @property
    def latency(self):
        """Cycles from operands to their product entering the sum."""
        return int(self._product_register)

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiplier = product = Fp8Product(
            act_fmt=self._act_fmt, weight_fmt=self._weight_fmt, lut_multiplier=self._lut_multiplier
        )
        m.d.comb += [product.a.eq(self.a), product.w.eq(self.w)]

        staged = [product.magnitude, product.sign, product.nan, product.pinf, product.ninf]
        if self._product_register:
            # The product register needs no reset: its value only matters under a valid row.
            registers = [Signal.like(v, name=f"p_{v.name}", reset_less=True) for v in staged]
            m.d.sync += [r.eq(v) for r, v in zip(registers, staged, strict=True)]
            staged = registers
        p_magnitude, p_sign, p_nan, p_pinf, p_ninf = staged
        # The sign is applied in the accumulating add, not before the register: −x is ~x + 1,
        # and the +1 enters the adder as its carry-in, so no second carry chain is needed.
        ones_complement = (Cat(p_magnitude, 0) ^ p_sign.replicate(len(p_magnitude) + 1)).as_signed()
        m.d.comb += [
            # Truncation to W bits: a wrap that a legal max_k never reaches (§2.3).
            self.psum_out.sum.eq(self.psum_in.sum + ones_complement + p_sign),
            self.psum_out.nan.eq(self.psum_in.nan | p_nan),
            self.psum_out.pinf.eq(self.psum_in.pinf | p_pinf),
            self.psum_out.ninf.eq(self.psum_in.ninf | p_ninf),
        ]
        return m
