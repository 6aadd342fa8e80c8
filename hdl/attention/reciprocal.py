"""The per-row reciprocal of the DIV_RHU divider (docs/numerics.md §4.2, "DIV_RHU in hardware")."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.errors import check_int
from hdl.attention.layouts import RECIPROCAL_WIDTH, reciprocal_layout


class RowReciprocal(wiring.Component):
    """``R = min(floor(2^k / L), 2^32 − 1)`` and ``k = bit_length(L) + 31`` of a row sum L, by
    restoring division, one quotient bit per cycle: ``golden.attention.row_reciprocal(l,
    saturate=True)``.

    L is first normalised, ``L_n = L << (l_width − bit_length(L))`` so that
    ``2^(l_width−1) ≤ L_n < 2^l_width``; then ``R = floor(2^(l_width−1)·2^32 / L_n)``, the same
    quotient. Its 2^32 bit is set only for L a power of two (``L_n = 2^(l_width−1)``), where R
    must saturate to ``2^32 − 1`` (the saturated R gives the same corrected quotient, §4.2),
    so the divider runs the 32 lower bits only: the partial remainder starts at
    ``2^(l_width−1)`` and each cycle doubles it and subtracts ``L_n`` where it fits. For
    ``L_n = 2^(l_width−1)`` the remainder then stays at ``L_n`` and every bit is 1, which is
    the saturated R with no extra logic. A row sum L = 0 (a fully masked row, no division)
    passes through with ``k = 31`` and R = 2^32 − 1, which its user ignores.

    One row at a time: a beat on ``i`` is taken when the divider is idle and its result has
    left (or leaves in that cycle); the result waits on ``o`` until taken. The reciprocal is
    needed once per row, so the divider overlaps the previous row's outputs.

    Parameters
    ----------
    l_width : int
        Width of L, 1 to 31.

    Members
    -------
    i : In(stream.Signature(unsigned(l_width)))
        L.
    o : Out(stream.Signature(reciprocal_layout(l_width=l_width)))
        ``r``, ``k`` and ``l``.

    Latency: :attr:`latency` (33 cycles) from L accepted on ``i`` to its result on ``o``, for
    every L: one cycle to normalise, 32 to divide.
    """

    #: Cycles from an L accepted on ``i`` to its reciprocal on ``o``.
    latency = 1 + RECIPROCAL_WIDTH

    def __init__(self, *, l_width):
        self._l_width = check_int("l_width", l_width, 1, 31)
        super().__init__(
            {
                "i": In(stream.Signature(unsigned(l_width))),
                "o": Out(stream.Signature(reciprocal_layout(l_width=l_width))),
            }
        )

    @property
    def l_width(self):
        return self._l_width

    def elaborate(self, platform):
        m = Module()
        width = self._l_width
        top = 1 << (width - 1)

        busy = Signal()
        step = Signal(range(RECIPROCAL_WIDTH))
        divisor = Signal(width)  # L_n
        remainder = Signal(width + 1)  # < L_n after every step, doubled below 2^(width+1)
        quotient = Signal(RECIPROCAL_WIDTH)
        k = Signal.like(self.o.payload.k)
        l = Signal(width)
        done = Signal()

        # Leading zeros of L: the last assignment (the highest set bit) wins.
        leading = Signal(range(width + 1))
        m.d.comb += leading.eq(width)
        for bit in range(width):
            with m.If(self.i.payload[bit]):
                m.d.comb += leading.eq(width - 1 - bit)

        m.d.comb += self.i.ready.eq(~busy & (~done | self.o.ready))
        with m.If(self.o.ready):
            m.d.sync += done.eq(0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                divisor.eq(self.i.payload << leading),
                remainder.eq(top),
                k.eq(width - leading + 31),
                l.eq(self.i.payload),
                step.eq(0),
                busy.eq(1),
            ]
        with m.If(busy):
            doubled = remainder << 1
            fits = doubled >= divisor
            m.d.sync += [
                remainder.eq(Mux(fits, doubled - divisor, doubled)),
                quotient.eq((quotient << 1) | fits),
                step.eq(step + 1),
            ]
            with m.If(step == RECIPROCAL_WIDTH - 1):
                m.d.sync += [busy.eq(0), done.eq(1)]

        m.d.comb += [
            self.o.valid.eq(done),
            self.o.payload.r.eq(quotient),
            self.o.payload.k.eq(k),
            self.o.payload.l.eq(l),
        ]
        return m
