"""Deferred softmax normalisation and the tile's output (docs/numerics.md §4.1 steps 4 and 5)."""

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.attention import P_BITS, attention_widths
from golden.errors import UsageValueError, check_bool, check_int
from golden.requant import MULT_MAX, SHIFT_MAX, SHIFT_MIN
from hdl.attention.divider import Y_WIDTH, DivRhu
from hdl.attention.layouts import o_acc_beat_layout, out_beat_layout, reciprocal_layout
from hdl.attention.requant import Requantizer
from hdl.attention.softmax import LK_MAX


class DivRhuNormalizer(wiring.Component):
    """``O = clamp(((y·Mo + 2^(no−1)) >> no) + z_o, −128, 127)`` with
    ``y = L > 0 ? DIV_RHU(O_acc·2^16, L) : 0``: the tile's output from ``O_acc = P·V`` and
    ``L = ΣP``, bit-exact to ``golden.attention.attention_from_scores``.

    :class:`~hdl.attention.divider.DivRhu` (per-row reciprocal, per-element multiply, rounding
    shift and one ±1 correction) followed by :class:`~hdl.attention.requant.Requantizer`
    (requantisation B with ``μ_o = s_v / (s_o·2^16)``; no 1/255 factor). A fully masked row
    (``L = 0``) gives ``z_o``.

    Each query row takes one beat on ``l`` and one or more beats on ``i`` (``last`` on the
    row's final beat); each ``i`` beat leaves as one int8 beat on ``o``. Exact for
    ``|O_acc| < 2^8·L``, which the attention datapath guarantees (§4.2–§4.3).

    Parameters
    ----------
    cols : int
        Lanes per beat, 1 to 128.
    lk_max : int
        Longest row (keys), 1 to 2^20, for the width of L
        (``golden.attention.attention_widths``); L must fit 31 bits.
    acc_width : int or None
        Width of the signed ``O_acc`` elements, 2 to 64; default the O_acc width of
        ``attention_widths(lk_max, p_bits=p_bits)``.
    p_bits : int
        PB, 8 (default) or 16.
    reciprocal_in : bool
        Take each row's reciprocal on ``r`` instead of its L on ``l``
        (:class:`~hdl.attention.divider.DivRhu`).

    Members
    -------
    l : In(stream.Signature(unsigned(l_width)))
        One L per row (without ``reciprocal_in``).
    r : In(stream.Signature(reciprocal_layout(l_width=l_width)))
        One reciprocal per row (with ``reciprocal_in``).
    i : In(stream.Signature(o_acc_beat_layout(cols=cols, acc_width=acc_width)))
    o : Out(stream.Signature(out_beat_layout(cols=cols)))
    out_mult : In(unsigned(31))
        Mo, 0 to 2^31 − 1.
    out_shift : In(range(1, 63))
        no, the right shift, 1 to 62.
    out_zp : In(signed(8))
        z_o.

    Timing with no stalls: an ``i`` beat accepted at cycle t leaves ``o`` at ``t +``
    :attr:`latency`; see :class:`~hdl.attention.divider.DivRhu` for the rows' pace.
    """

    #: Cycles from an ``O_acc`` beat accepted on ``i`` to its int8 beat on ``o``.
    latency = DivRhu.latency + Requantizer.latency

    def __init__(self, *, cols, lk_max, acc_width=None, p_bits=8, reciprocal_in=False):
        self._cols = check_int("cols", cols, 1, 128)
        self._lk_max = check_int("lk_max", lk_max, 1, LK_MAX)
        if isinstance(p_bits, bool) or p_bits not in P_BITS:
            raise UsageValueError(
                f"p_bits must be one of {', '.join(map(str, P_BITS))}, got {p_bits!r}",
                parameter="p_bits",
            )
        widths = attention_widths(lk_max, p_bits=p_bits)
        if widths["l"] > 31:
            raise UsageValueError(
                f"lk_max must keep L below 2^31, got lk_max={lk_max} with p_bits={p_bits} "
                f"(L of {widths['l']} bits)",
                parameter="lk_max",
            )
        self._l_width = widths["l"]
        self._acc_width = (
            widths["o_acc"] if acc_width is None else check_int("acc_width", acc_width, 2, 64)
        )
        self._reciprocal_in = check_bool("reciprocal_in", reciprocal_in)
        row_port = (
            {"r": In(stream.Signature(reciprocal_layout(l_width=self._l_width)))}
            if reciprocal_in
            else {"l": In(stream.Signature(unsigned(self._l_width)))}
        )
        super().__init__(
            {
                **row_port,
                "i": In(stream.Signature(o_acc_beat_layout(cols=cols, acc_width=self._acc_width))),
                "o": Out(stream.Signature(out_beat_layout(cols=cols))),
                "out_mult": In(unsigned(MULT_MAX.bit_length())),
                "out_shift": In(range(SHIFT_MIN, SHIFT_MAX + 1), init=SHIFT_MIN),
                "out_zp": In(signed(8)),
            }
        )

    @property
    def cols(self):
        return self._cols

    @property
    def lk_max(self):
        return self._lk_max

    @property
    def acc_width(self):
        return self._acc_width

    @property
    def l_width(self):
        return self._l_width

    def elaborate(self, platform):
        m = Module()
        m.submodules.divider = divider = DivRhu(
            cols=self._cols,
            acc_width=self._acc_width,
            l_width=self._l_width,
            reciprocal_in=self._reciprocal_in,
        )
        m.submodules.requant = requant = Requantizer(cols=self._cols, y_width=Y_WIDTH)
        if self._reciprocal_in:
            wiring.connect(m, wiring.flipped(self.r), divider.r)
        else:
            wiring.connect(m, wiring.flipped(self.l), divider.l)
        wiring.connect(m, wiring.flipped(self.i), divider.i)
        wiring.connect(m, divider.o, requant.i)
        wiring.connect(m, requant.o, wiring.flipped(self.o))
        m.d.comb += [
            requant.mult.eq(self.out_mult),
            requant.shift.eq(self.out_shift),
            requant.zero_point.eq(self.out_zp),
        ]
        return m
