"""INT8 multiply-accumulate unit (NUMERICS.md §3.1–§3.2)."""

from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class Int8Mac(wiring.Component):
    """``psum_out = wrap(psum_in + a·w, acc_width)``, combinational.

    ``a`` is the 9-bit signed activation operand (int8 sign-extended or uint8 zero-extended at
    the array edge), ``w`` the int8 weight. The sum wraps in two's complement (§3.2), which
    keeps the result independent of summation order.

    Parameters
    ----------
    acc_width : int
        Accumulator width W, 17 to 64 (a 9×8 product needs 17 bits).

    Members
    -------
    a : In(signed(9))
    w : In(signed(8))
    psum_in : In(signed(acc_width))
    psum_out : Out(signed(acc_width))
    """

    def __init__(self, *, acc_width):
        if not isinstance(acc_width, int) or not 16 <= acc_width <= 64:
            raise ValueError(f"acc_width must be between 16 and 64, got {acc_width!r}")
        self._acc_width = acc_width
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

    def elaborate(self, platform):
        m = Module()
        # Truncating the 18-bit-or-wider sum to W bits is exactly the wrap of §3.2.
        m.d.comb += self.psum_out.eq(self.psum_in + self.a * self.w)
        return m
