"""INT8 multiply-accumulate unit (docs/numerics.md §3.1–§3.2)."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.arith.multiplier import product_signal


class Int8Mac(wiring.Component):
    """``psum_out = wrap(psum_in + a·w, acc_width)``.

    ``a`` is the 9-bit signed activation operand (int8 sign-extended or uint8 zero-extended at
    the array edge), ``w`` the int8 weight. The sum wraps in two's complement (§3.2), which
    keeps the result independent of summation order.

    Parameters
    ----------
    acc_width : int
        Accumulator width W, 16 to 64. The 9-bit operand only carries int8 or uint8 values,
        so every product lies in [−32640, 16384] and fits 16 bits: the width
        :class:`~hdl.config.ArrayConfig` derives for ``max_k=1`` (docs/numerics.md §3.1).
    product_register : bool
        Register the product: ``psum_out`` adds the product of the operands presented one
        cycle earlier (:attr:`latency` 1). Otherwise the MAC is combinational.
    lut_multiplier : bool
        Mark the multiplier for logic-only mapping (see :mod:`hdl.arith.multiplier`).

    Members
    -------
    a : In(signed(9))
    w : In(signed(8))
    psum_in : In(signed(acc_width))
    psum_out : Out(signed(acc_width))
    """

    def __init__(self, *, acc_width, product_register=False, lut_multiplier=False):
        if not isinstance(acc_width, int) or not 16 <= acc_width <= 64:
            raise ValueError(f"acc_width must be between 16 and 64, got {acc_width!r}")
        self._acc_width = acc_width
        self._product_register = product_register
        self._lut_multiplier = lut_multiplier
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
        """Cycles from operands to their product entering the sum."""
        return int(self._product_register)

    def elaborate(self, platform):
        m = Module()
        product = product_signal(signed(17), lut=self._lut_multiplier, name="product")
        m.d.comb += product.eq(self.a * self.w)
        if self._product_register:
            # No reset: the product only matters under a valid row.
            staged = Signal.like(product, name="product_reg", reset_less=True)
            m.d.sync += staged.eq(product)
            product = staged
        # Truncating the 18-bit-or-wider sum to W bits is exactly the wrap of §3.2.
        m.d.comb += self.psum_out.eq(self.psum_in + product)
        return m
