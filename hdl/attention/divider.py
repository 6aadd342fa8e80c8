"""The exact rounded division of the deferred softmax normalisation (docs/numerics.md §4.1 step 4,
§4.2 "DIV_RHU in hardware"): ``y = L > 0 ? DIV_RHU(O_acc·2^16, L) : 0``."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.attention import Y_FRAC_BITS
from golden.errors import check_bool, check_int
from hdl.attention.layouts import (
    RECIPROCAL_WIDTH,
    o_acc_beat_layout,
    reciprocal_layout,
    y_beat_layout,
)
from hdl.attention.pipeline import shift_round_half_up, stage
from hdl.attention.reciprocal import RowReciprocal

#: Width of y (signed): 24 bits hold every y of the single and pre-loaded modes, 25 the
#: running-max mode's (docs/numerics.md §4.3); the divider is built for 25.
Y_WIDTH = 25


class DivRhu(wiring.Component):
    """``y = L > 0 ? DIV_RHU(O_acc·2^16, L) : 0`` per element, one beat per cycle, bit-exact
    to ``golden.attention.div_rhu`` (``DIV_RHU(a, b) = floor((2a + b) / (2b))``).

    The route of ``golden.attention.div_rhu_reciprocal`` (§4.2): per row, the reciprocal
    ``R``, ``k`` of :class:`~hdl.attention.reciprocal.RowReciprocal`; per element,
    ``q = (O_acc·R + 2^(k−17)) >> (k − 16)`` (one ``acc_width × 32`` multiply and a rounding
    shift by ``bit_length(L) + 15``: 14 fixed, the rest variable), then
    ``t = 2·O_acc·2^16 − 2·q·L`` and one ±1 correction (``t ≥ L``: +1, ``t < −L``: −1). As q
    is off by at most one, ``t ∈ [−3L, 3L)``, so t is computed modulo ``2^(l_width+3)`` from
    the low bits of ``O_acc`` and of ``q·L``: a ``(l_width + 2) × l_width`` product whose
    high half is never formed. A row with ``L = 0`` (fully masked) gives ``y = 0``.

    **Streams.** Each query row takes one beat on ``l`` (its L) and one or more beats of
    ``O_acc`` on ``i``, ``last`` on the row's final beat (dv outputs in ``ceil(dv / cols)``
    beats); each ``i`` beat leaves as one beat of y on ``o``, ``last`` copied. L is known
    once P is, long before the row's ``O_acc``: the divider works on the next row's L while
    the current row's beats flow, so a row takes ``max(beats, RowReciprocal.latency)``
    cycles when its L arrives in time.

    With ``reciprocal_in`` the divider has no reciprocal unit of its own: each row takes one
    beat of ``R``, ``k`` and L on ``r`` instead (``reciprocal_layout``, as
    :class:`~hdl.attention.reciprocal.RowReciprocal` makes it), so a user that has every
    row's L early can compute the reciprocals ahead and run the rows back to back, one beat
    per cycle.

    Exact for ``|O_acc| < 2^8·L`` (y within 25 bits); the datapath keeps ``|O_acc| ≤ 222·L``
    (§4.2–§4.3).

    Parameters
    ----------
    cols : int
        Lanes per beat, 1 to 128.
    acc_width : int
        Width of the signed ``O_acc`` elements, 2 to 64.
    l_width : int
        Width of L, 1 to 31.
    reciprocal_in : bool
        Take the rows' reciprocals on ``r`` instead of their L on ``l``.

    Members
    -------
    l : In(stream.Signature(unsigned(l_width)))
        One L per row (without ``reciprocal_in``).
    r : In(stream.Signature(reciprocal_layout(l_width=l_width)))
        One reciprocal per row (with ``reciprocal_in``); the next row's loads in the cycle
        the current row's last beat is taken.
    i : In(stream.Signature(o_acc_beat_layout(cols=cols, acc_width=acc_width)))
    o : Out(stream.Signature(y_beat_layout(cols=cols, y_width=25)))

    Timing with no stalls: an ``i`` beat accepted at cycle t leaves ``o`` at ``t +``
    :attr:`latency`. A row's first beat is accepted at the earliest
    ``RowReciprocal.latency + 1`` cycles after its L.
    """

    #: Cycles from an ``O_acc`` beat accepted on ``i`` to its y on ``o``: ``O_acc·R``, q,
    #: ``q·L``, the corrected y.
    latency = 4

    def __init__(self, *, cols, acc_width, l_width, reciprocal_in=False):
        self._cols = check_int("cols", cols, 1, 128)
        self._acc_width = check_int("acc_width", acc_width, 2, 64)
        self._l_width = check_int("l_width", l_width, 1, 31)
        self._reciprocal_in = check_bool("reciprocal_in", reciprocal_in)
        row_port = (
            {"r": In(stream.Signature(reciprocal_layout(l_width=l_width)))}
            if reciprocal_in
            else {"l": In(stream.Signature(unsigned(l_width)))}
        )
        super().__init__(
            {
                **row_port,
                "i": In(stream.Signature(o_acc_beat_layout(cols=cols, acc_width=acc_width))),
                "o": Out(stream.Signature(y_beat_layout(cols=cols, y_width=Y_WIDTH))),
            }
        )

    @property
    def cols(self):
        return self._cols

    @property
    def acc_width(self):
        return self._acc_width

    @property
    def l_width(self):
        return self._l_width

    def elaborate(self, platform):
        m = Module()
        cols, acc_width, l_width = self._cols, self._acc_width, self._l_width
        q_width = Y_WIDTH + 1  # q before its correction is y ± 1
        t_width = l_width + 3  # t ∈ [−3L, 3L)
        low_width = max(t_width - (Y_FRAC_BITS + 1), 1)  # bits of O_acc that reach t

        if self._reciprocal_in:
            recip_o = self.r
        else:
            m.submodules.reciprocal = recip = RowReciprocal(l_width=l_width)
            wiring.connect(m, wiring.flipped(self.l), recip.i)
            recip_o = recip.o

        # --- the current row: its reciprocal, taken from the divider ----------------------
        row_valid = Signal()
        row_r = Signal(RECIPROCAL_WIDTH)
        row_bits = Signal(range(l_width + 1))  # bit_length(L) = k − 31
        row_l = Signal(l_width)
        mul_ready = Signal()
        m.d.comb += self.i.ready.eq(row_valid & mul_ready)
        take = self.i.valid & self.i.ready
        row_done = take & self.i.payload.last
        # The next row's reciprocal loads in the cycle the current row's last beat goes in.
        m.d.comb += recip_o.ready.eq(~row_valid | row_done)
        with m.If(row_done):
            m.d.sync += row_valid.eq(0)
        with m.If(recip_o.valid & recip_o.ready):
            m.d.sync += [
                row_valid.eq(1),
                row_r.eq(recip_o.payload.r),
                row_bits.eq(recip_o.payload.k - 31),
                row_l.eq(recip_o.payload.l),
            ]

        # --- stage 1: O_acc·R --------------------------------------------------------------
        quot_ready = Signal()
        s1_valid, s1_ready, s1_load = stage(m, valid_in=take, ready_out=quot_ready, name="mul")
        m.d.comb += mul_ready.eq(s1_ready)
        prod_width = acc_width + RECIPROCAL_WIDTH  # |O_acc·R| < 2^(acc_width−1)·2^32
        s1_prod = [Signal(signed(prod_width), name=f"mul_prod_{c}") for c in range(cols)]
        s1_low = [Signal(low_width, name=f"mul_low_{c}") for c in range(cols)]
        s1_bits = Signal.like(row_bits)
        s1_l = Signal(l_width)
        s1_last = Signal()
        with m.If(s1_load):
            for c in range(cols):
                o_acc = self.i.payload.data[c]
                # .eq truncates O_acc modulo 2^low_width, or sign-extends a narrower one.
                m.d.sync += [s1_prod[c].eq(o_acc * row_r), s1_low[c].eq(o_acc)]
            m.d.sync += [s1_bits.eq(row_bits), s1_l.eq(row_l), s1_last.eq(self.i.payload.last)]

        # --- stage 2: q = (O_acc·R + 2^(k−17)) >> (k − 16), shifted by 14 + (k − 31) + 1 -----
        ql_ready = Signal()
        s2_valid, s2_ready, s2_load = stage(m, valid_in=s1_valid, ready_out=ql_ready, name="quot")
        m.d.comb += quot_ready.eq(s2_ready)
        s2_q = [Signal(signed(q_width), name=f"quot_q_{c}") for c in range(cols)]
        s2_low = [Signal(low_width, name=f"quot_low_{c}") for c in range(cols)]
        s2_l = Signal(l_width)
        s2_last = Signal()
        rounded = [
            shift_round_half_up(m, s1_prod[c] >> 14, s1_bits, prod_width, name=f"q_{c}")
            for c in range(cols)
        ]
        with m.If(s2_load):
            m.d.sync += [s2_q[c].eq(rounded[c]) for c in range(cols)]
            m.d.sync += [s2_low[c].eq(s1_low[c]) for c in range(cols)]
            m.d.sync += [s2_l.eq(s1_l), s2_last.eq(s1_last)]

        # --- stage 3: q·L modulo 2^(t_width − 1) -------------------------------------------
        corr_ready = Signal()
        s3_valid, s3_ready, s3_load = stage(m, valid_in=s2_valid, ready_out=corr_ready, name="ql")
        m.d.comb += ql_ready.eq(s3_ready)
        s3_q = [Signal(signed(q_width), name=f"ql_q_{c}") for c in range(cols)]
        s3_ql = [Signal(t_width - 1, name=f"ql_{c}") for c in range(cols)]
        s3_low = [Signal(low_width, name=f"ql_low_{c}") for c in range(cols)]
        s3_l = Signal(l_width)
        s3_last = Signal()
        for c in range(cols):
            q_low = Signal(t_width - 1, name=f"q_low_{c}")  # q modulo 2^(t_width − 1)
            m.d.comb += q_low.eq(s2_q[c])  # sign-extends a q narrower than that
            with m.If(s3_load):
                m.d.sync += [
                    s3_q[c].eq(s2_q[c]),
                    s3_ql[c].eq(q_low * s2_l),
                    s3_low[c].eq(s2_low[c]),
                ]
        with m.If(s3_load):
            m.d.sync += [s3_l.eq(s2_l), s3_last.eq(s2_last)]

        # --- stage 4: t and the ±1 correction into the output register; L = 0 gives 0 ------
        s4_valid, s4_ready, s4_load = stage(
            m, valid_in=s3_valid, ready_out=self.o.ready, name="corr"
        )
        m.d.comb += [corr_ready.eq(s4_ready), self.o.valid.eq(s4_valid)]
        for c in range(cols):
            t = Signal(signed(t_width), name=f"t_{c}")
            m.d.comb += t.eq((s3_low[c] << (Y_FRAC_BITS + 1)) - (s3_ql[c] << 1))
            y = Mux(t >= s3_l, s3_q[c] + 1, Mux(t < -s3_l, s3_q[c] - 1, s3_q[c]))
            with m.If(s4_load):
                m.d.sync += self.o.payload.data[c].eq(Mux(s3_l == 0, 0, y))
        with m.If(s4_load):
            m.d.sync += self.o.payload.last.eq(s3_last)
        return m
