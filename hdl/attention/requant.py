"""Requantisation B of the attention output (docs/numerics.md §3.6, §4.1 step 5)."""

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.errors import check_int
from golden.requant import MULT_MAX, SHIFT_MAX, SHIFT_MIN
from hdl.attention.layouts import out_beat_layout, y_beat_layout
from hdl.attention.pipeline import shift_right_window, stage

#: int8 clamp bounds of the tile's output.
QMIN, QMAX = -128, 127
#: Bits of ``y·M >> (n − 1)`` the clamp needs exactly (see :class:`Requantizer`).
WINDOW = 10


class Requantizer(wiring.Component):
    """``O = clamp(((y·M + 2^(n−1)) >> n) + z_o, −128, 127)`` per element, one beat per cycle:
    ``golden.requant.requantize(y, M, n, z_o)`` (decision B, a single rounding half up).

    A ``y_width × 31`` multiply, then the rounding shift by ``n`` as
    ``((y·M >> (n − 1)) + 1) >> 1`` (:func:`~hdl.attention.pipeline.shift_round_half_up`),
    the zero point and the clamp. Only a 10-bit window of ``y·M >> (n − 1)`` is formed
    (:func:`~hdl.attention.pipeline.shift_right_window`): the output is exact inside it, and
    outside it ``|r| ≥ 256`` clamps whatever ``z_o`` is, which one flag (every product bit
    from ``n + 8`` up equals the sign) tells. So the zero point is never added to a wrapped
    value, and the shifter and adders are 10 bits wide rather than 56. ``M``, ``n`` and
    ``z_o`` are per tensor, held steady while beats are in flight.

    Parameters
    ----------
    cols : int
        Lanes per beat, 1 to 128.
    y_width : int
        Width of the signed inputs, 2 to 33.

    Members
    -------
    i : In(stream.Signature(y_beat_layout(cols=cols, y_width=y_width)))
    o : Out(stream.Signature(out_beat_layout(cols=cols)))
    mult : In(unsigned(31))
        M, 0 to 2^31 − 1.
    shift : In(range(1, 63))
        n, the right shift, 1 to 62.
    zero_point : In(signed(8))
        z_o.

    Timing with no stalls: a beat accepted at cycle t leaves at ``t +`` :attr:`latency`.
    """

    #: Cycles from a beat accepted on ``i`` to ``o``: the product register, the output register.
    latency = 2

    def __init__(self, *, cols, y_width):
        self._cols = check_int("cols", cols, 1, 128)
        self._y_width = check_int("y_width", y_width, 2, 33)
        super().__init__(
            {
                "i": In(stream.Signature(y_beat_layout(cols=cols, y_width=y_width))),
                "o": Out(stream.Signature(out_beat_layout(cols=cols))),
                "mult": In(unsigned(MULT_MAX.bit_length())),
                "shift": In(range(SHIFT_MIN, SHIFT_MAX + 1), init=SHIFT_MIN),
                "zero_point": In(signed(8)),
            }
        )

    @property
    def cols(self):
        return self._cols

    @property
    def y_width(self):
        return self._y_width

    def elaborate(self, platform):
        m = Module()
        cols = self._cols
        prod_width = self._y_width + MULT_MAX.bit_length()  # |y·M| < 2^(y_width−1)·2^31

        out_ready = Signal()
        s1_valid, s1_ready, s1_load = stage(
            m, valid_in=self.i.valid, ready_out=out_ready, name="mul"
        )
        m.d.comb += self.i.ready.eq(s1_ready)
        s1_prod = [Signal(signed(prod_width), name=f"mul_prod_{c}") for c in range(cols)]
        s1_last = Signal()
        with m.If(s1_load):
            m.d.sync += [s1_prod[c].eq(self.i.payload.data[c] * self.mult) for c in range(cols)]
            m.d.sync += s1_last.eq(self.i.payload.last)

        s2_valid, s2_ready, s2_load = stage(
            m, valid_in=s1_valid, ready_out=self.o.ready, name="out"
        )
        m.d.comb += [out_ready.eq(s2_ready), self.o.valid.eq(s2_valid)]
        shift_m1 = Signal(range(SHIFT_MAX))
        m.d.comb += shift_m1.eq(self.shift - 1)
        # The clamp needs x = prod >> (n − 1) exactly only while x ∈ [−2^9, 2^9): then
        # r = (x + 1) >> 1 ∈ [−256, 256] and r + z_o may land in [−128, 127]; beyond that
        # r + z_o is clamped whatever z_o, towards the sign of the product. So x is taken as a
        # 10-bit window (shift_right_window) beside a flag: all bits of the product from
        # n − 1 + 9 up equal its sign.
        top = prod_width - 1
        fits_from = Signal(prod_width)  # bit i: i ≥ n − 1 + 9
        m.d.comb += fits_from.eq(Const(-1, prod_width) << (shift_m1 + (WINDOW - 1)))
        for c in range(cols):
            prod = s1_prod[c]
            x = shift_right_window(m, prod, shift_m1, WINDOW, name=f"window_{c}")
            sign = prod[top]
            fits = ~((prod ^ sign.replicate(prod_width)) & fits_from).any()
            scaled = Signal(signed(WINDOW + 1), name=f"scaled_{c}")
            biased = Signal(signed(WINDOW + 2), name=f"biased_{c}")
            m.d.comb += [scaled.eq((x + 1) >> 1), biased.eq(scaled + self.zero_point)]
            in_range = Mux(biased > QMAX, QMAX, Mux(biased < QMIN, QMIN, biased))
            clamped = Mux(fits, in_range, Mux(sign, QMIN, QMAX))
            with m.If(s2_load):
                m.d.sync += self.o.payload.data[c].eq(clamped)
        with m.If(s2_load):
            m.d.sync += self.o.payload.last.eq(s1_last)
        return m
