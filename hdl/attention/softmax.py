"""The integer softmax numerator of one query row: row max, log2 logits, exp, P and L
(docs/numerics.md §4.1–§4.2)."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.attention import EXP_BITS, EXP_FRAC_BITS, P_BITS, attention_widths
from golden.errors import UsageValueError, check_bool, check_int
from golden.requant import MULT_MAX, SHIFT_MAX, SHIFT_MIN
from hdl.attention.exp_core import Exp2Core
from hdl.attention.layouts import EXP_WIDTH, p_beat_layout, score_beat_layout
from hdl.attention.pipeline import adder_tree, max_tree, shift_round_half_up, stage

#: Largest row length (keys) the units accept, as the golden model does.
LK_MAX = 1 << 20


def _check_choice(name, value, choices):
    if isinstance(value, bool) or value not in choices:
        raise UsageValueError(
            f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}",
            parameter=name,
        )
    return value


class SoftmaxRow(wiring.Component):
    """P and L of each query row of scores, bit-exact to ``golden.attention.softmax_int``.

    Per row, over the keys whose ``mask`` bit is set (docs/numerics.md §4.2)::

        u_j = (S_j·Me + 2^(ne−1)) >> ne ;  m = max u_j
        P_j = (exp_core(m − u_j)·(2^PB − 1) + 2^14) >> 15 ;  masked keys: P_j = 0
        L   = Σ P_j                                   (0 for a row with no valid key)

    A row arrives on ``i`` as consecutive ``cols``-wide beats (``last`` on its final beat); P
    leaves on ``o`` in the same beats, ready to stream into the array as uint8 activations
    for ``P·V`` (PB = 8), and L leaves on ``l`` with the row's last P beat. ``L = 0`` flags a
    fully masked row: the normaliser then outputs the zero point without dividing.

    **Row max.** Since ``u`` is a non-decreasing function of S (``Me ≥ 0``, a floor shift),
    ``m = u(max of the valid S)``: the max is taken over the scores, before any multiply,
    and ``m`` comes out of one extra multiplier lane beside the keys. Two modes, set by
    ``preload`` (hold it steady while rows are in flight):

    * ``preload = 0`` (single tile, §4.1): the row is written to a row buffer of two banks
      of ``max_beats`` beats while its max is taken (pass 1), then read back through the
      datapath (pass 2). The banks alternate, so pass 1 of row r+1 overlaps pass 2 of row r
      and equal-length rows stream at one beat per cycle. Rows must not exceed
      ``max_beats`` beats.
    * ``preload = 1`` (pre-loaded max, §4.3): each beat carries its row's largest valid score
      in ``row_max`` (from a first pass over Q·Kᵀ) and goes straight through pass 2, so rows
      of any length up to ``lk_max`` stream without the buffer. A valid key above
      ``row_max`` (a broken pre-load) gets ``d = 0``, i.e. ``P = 2^PB − 1``.

    **Running max** (``online`` built and set, with ``preload = 0``; §4.3). Each beat's
    ``row_max`` carries the row's running max from the earlier key blocks (the same on every
    beat of the row; −2^(W−1), below every score, when there is none yet), and pass 1 takes it
    as one more candidate: the row's max ``m'`` is the larger of it and the block's valid
    scores, and P is taken against ``u(m')``. With the row's L leave ``row_m = m'`` (the next
    block's running max) and ``alpha = exp_core(u(m') − u(m_prev))``, the rescale factor α of
    §4.3 for the row's stored O_acc and L, from one more lane of the multiplier and the exp
    core (α = 2^15, the identity, when the max did not grow in u; 0 when it grew by 16
    octaves or more).

    **Datapath** (pass 2, one beat per cycle): the registered buffer read (or the input
    beat), ``cols + 1`` products ``S·Me`` (the last one ``row_max·Me``), the rounding shift
    by ``ne`` (:func:`~hdl.attention.pipeline.shift_round_half_up`), ``d = m − u``
    saturated to ``(EB+1)·2^F`` (a masked key is sent in saturated, so its ``e`` and P are
    0), :class:`~hdl.attention.exp_core.Exp2Core`, ``P = ((e << PB) − e + 2^14) >> 15``, and
    the output register, where an adder tree adds the beat's P into L.

    **L by an adder tree, not a ones column.** The alternative of §4.1 appends a column of
    ones to the stationary V, so the array computes L with no extra logic, but that column
    is a whole PE column: with dv a multiple of the array's C columns (dv = 64 on an 8- or
    16-column array) it needs one more column strip of P·V, i.e. ``C/dv`` more array time
    (12.5 % at C = 8, 25 % at C = 16), or a wider array (per row of PEs about one
    MULT18X18D, 16 CCU2C, 9 LUT4 and 58 flip-flops on ECP5). The tree adds the beat's
    ``cols`` P values into one L-wide accumulator: about 210 LUT4 at C = 8 and 380 at
    C = 16 with ``synth_ecp5`` (18-bit L), no DSP and no cycles, since L is ready with the
    row's last P beat, long before P·V ends. Only when dv leaves a column free (dv mod C ≠
    0) is the ones column the cheaper choice.

    Parameters
    ----------
    cols : int
        Lanes per beat (the array's columns), 1 to 128.
    score_width : int
        Width W of the two's complement scores, 2 to 32 (S is an int32 result, §3.1).
    max_beats : int
        Beats per bank of the row buffer, 1 to 65536: the longest row in the single-tile
        mode is ``cols · max_beats`` keys.
    lk_max : int or None
        Longest row in either mode, for the width of L
        (``golden.attention.attention_widths``); default ``cols · max_beats``, at most 2^20.
    p_bits : int
        PB, 8 (default) or 16 (§4.4; the array then takes P as two uint8 passes).
    exp_frac_bits : int
        F, 6 (default) or 8; ``scale_mult`` must quantise ``s·log2(e)·2^F`` for the same F.
    online : bool
        Build the running-max mode (one more multiplier and exp lane, α and ``m'`` out).

    Members
    -------
    i : In(stream.Signature(score_beat_layout(cols=cols, score_width=score_width)))
    o : Out(stream.Signature(p_beat_layout(cols=cols, p_bits=p_bits)))
    l : Out(stream.Signature(unsigned(l_width)))
        One beat per row: L, 0 for a fully masked row.
    scale_mult : In(unsigned(31))
        Me, 0 to 2^31 − 1.
    scale_shift : In(range(1, 63))
        ne, the right shift, 1 to 62.
    preload : In(1)
        Pre-loaded-max mode.
    online : In(1)
        Running-max mode (only with ``online=True``).
    row_m : Out(signed(score_width))
        Running-max mode: the row's max ``m'``, valid with ``l`` (only with ``online=True``).
    alpha : Out(unsigned(16))
        Running-max mode: the row's α, valid with ``l`` (only with ``online=True``).

    Timing with no stalls: in the single-tile mode, pass 2 of a row starts the cycle after
    its last score beat is accepted (if pass 2 is idle) and its first P beat leaves
    :attr:`latency` cycles after that; with ``preload`` a score beat accepted at cycle t
    leaves as P at ``t +`` :attr:`latency`.
    """

    #: Cycles from a beat's issue into pass 2 to its P beat on ``o``: the buffer read (or
    #: input) register, the product, the logit, the exp core, P, the output register.
    latency = 3 + Exp2Core.latency + 2

    def __init__(
        self, *, cols, score_width, max_beats, lk_max=None, p_bits=8, exp_frac_bits=6, online=False
    ):
        self._cols = check_int("cols", cols, 1, 128)
        self._score_width = check_int("score_width", score_width, 2, 32)
        self._max_beats = check_int("max_beats", max_beats, 1, 1 << 16)
        default_lk = min(cols * max_beats, LK_MAX)
        self._lk_max = default_lk if lk_max is None else check_int("lk_max", lk_max, 1, LK_MAX)
        self._p_bits = _check_choice("p_bits", p_bits, P_BITS)
        self._frac_bits = _check_choice("exp_frac_bits", exp_frac_bits, EXP_FRAC_BITS)
        self._l_width = attention_widths(self._lk_max, p_bits=p_bits)["l"]
        self._online = check_bool("online", online)
        extra = {}
        if self._online:
            extra = {
                "online": In(1),
                "row_m": Out(signed(score_width)),
                "alpha": Out(unsigned(EXP_WIDTH)),
            }
        super().__init__(
            {
                **extra,
                "i": In(stream.Signature(score_beat_layout(cols=cols, score_width=score_width))),
                "o": Out(stream.Signature(p_beat_layout(cols=cols, p_bits=p_bits))),
                "l": Out(stream.Signature(unsigned(self._l_width))),
                "scale_mult": In(unsigned(MULT_MAX.bit_length())),
                "scale_shift": In(range(SHIFT_MIN, SHIFT_MAX + 1), init=SHIFT_MIN),
                "preload": In(1),
            }
        )

    @property
    def cols(self):
        return self._cols

    @property
    def score_width(self):
        return self._score_width

    @property
    def max_beats(self):
        return self._max_beats

    @property
    def lk_max(self):
        return self._lk_max

    @property
    def p_bits(self):
        return self._p_bits

    @property
    def exp_frac_bits(self):
        return self._frac_bits

    @property
    def l_width(self):
        """Width of L: ``bit_length((2^PB − 1)·lk_max)``."""
        return self._l_width

    def elaborate(self, platform):
        m = Module()
        cols, width, beats = self._cols, self._score_width, self._max_beats
        f, pb = self._frac_bits, self._p_bits
        beat = self.i.payload
        online = self._online
        # The keys, the row max, then (running max) the previous running max.
        lanes = cols + 1 + online

        entry = data.StructLayout({"data": data.ArrayLayout(signed(width), cols), "mask": cols})
        m.submodules.row_buffer = buf = Memory(shape=entry, depth=2 * beats, init=[])
        write = buf.write_port()
        # Pass 1 writes one bank while pass 2 reads the other: never the same address.
        read = buf.read_port(transparent_for=())

        # --- pass 1: buffer the row and take the max of its valid scores ---------------------
        full = [Signal(name=f"bank{b}_full") for b in range(2)]
        count = [Signal(range(beats), name=f"bank{b}_last_beat") for b in range(2)]
        bank_max = [Signal(signed(width), name=f"bank{b}_max") for b in range(2)]
        w_bank = Signal()
        w_beat = Signal(range(beats))
        run_has = Signal()
        run_max = Signal(signed(width))

        candidates = [(beat.mask[j], beat.data[j]) for j in range(cols)]
        if online:  # the running max of the earlier blocks is one more candidate
            candidates.append((self.online, beat.row_max))
        beat_has, beat_max = max_tree(candidates)
        bank_prev = [Signal(signed(width), name=f"bank{b}_prev") for b in range(2)]
        new_max = Signal(signed(width))
        m.d.comb += new_max.eq(Mux(run_has & (~beat_has | (run_max > beat_max)), run_max, beat_max))
        w_ready = ~self.preload & ~Mux(w_bank, full[1], full[0])
        w_fire = self.i.valid & w_ready
        m.d.comb += [
            write.addr.eq(w_beat + Mux(w_bank, beats, 0)),
            write.data.data.eq(beat.data),
            write.data.mask.eq(beat.mask),
            write.en.eq(w_fire),
        ]
        with m.If(w_fire):
            with m.If(beat.last):
                for b in range(2):
                    with m.If(w_bank == b):
                        m.d.sync += [full[b].eq(1), count[b].eq(w_beat), bank_max[b].eq(new_max)]
                        if online:
                            m.d.sync += bank_prev[b].eq(beat.row_max)
                m.d.sync += [w_bank.eq(~w_bank), w_beat.eq(0), run_has.eq(0)]
            with m.Else():
                m.d.sync += [
                    w_beat.eq(w_beat + 1),
                    run_has.eq(run_has | beat_has),
                    run_max.eq(new_max),
                ]

        # --- pass 2, issue: the next beat from the buffer (or, preloaded, from i) -------------
        r_bank = Signal()
        r_beat = Signal(range(beats))
        r_last_beat = Signal(range(beats))
        m.d.comb += r_last_beat.eq(Mux(r_bank, count[1], count[0]))
        issue_valid = Mux(self.preload, self.i.valid, Mux(r_bank, full[1], full[0]))

        mul_ready = Signal()
        r1_valid, r1_ready, r1_load = stage(
            m, valid_in=issue_valid, ready_out=mul_ready, name="issue"
        )
        m.d.comb += [
            read.addr.eq(r_beat + Mux(r_bank, beats, 0)),
            read.en.eq(r1_ready),  # the read register holds while the stage holds
            self.i.ready.eq(Mux(self.preload, r1_ready, w_ready)),
        ]
        r1_last = Signal()
        r1_max = Signal(signed(width))
        r1_prev = Signal(signed(width))
        r1_bypass = Signal()
        r1_beat = Signal(entry)  # the preloaded mode's input beat
        if online:
            with m.If(r1_load):
                m.d.sync += r1_prev.eq(Mux(r_bank, bank_prev[1], bank_prev[0]))
        with m.If(r1_load):
            m.d.sync += [
                r1_last.eq(Mux(self.preload, beat.last, r_beat == r_last_beat)),
                r1_max.eq(Mux(self.preload, beat.row_max, Mux(r_bank, bank_max[1], bank_max[0]))),
                r1_bypass.eq(self.preload),
                r1_beat.data.eq(beat.data),
                r1_beat.mask.eq(beat.mask),
            ]
            with m.If(~self.preload):
                with m.If(r_beat == r_last_beat):
                    for b in range(2):
                        with m.If(r_bank == b):
                            m.d.sync += full[b].eq(0)
                    m.d.sync += [r_beat.eq(0), r_bank.eq(~r_bank)]
                with m.Else():
                    m.d.sync += r_beat.eq(r_beat + 1)
        r1 = Signal(entry)
        m.d.comb += r1.eq(Mux(r1_bypass, r1_beat, read.data))

        # --- pass 2, products S·Me (lane `cols`: row_max·Me) -----------------------------------
        prod_width = width + 31  # |S·Me| < 2^(W−1)·2^31
        logit_ready = Signal()
        m2_valid, m2_ready, m2_load = stage(m, valid_in=r1_valid, ready_out=logit_ready, name="mul")
        m.d.comb += mul_ready.eq(m2_ready)
        m2_prod = [Signal(signed(prod_width), name=f"mul_prod_{j}") for j in range(lanes)]
        m2_mask = Signal(cols)
        m2_last = Signal()
        m2_max = Signal(signed(width))
        scores = [r1.data[j] for j in range(cols)] + [r1_max] + [r1_prev] * online
        with m.If(m2_load):
            m.d.sync += [p.eq(s * self.scale_mult) for p, s in zip(m2_prod, scores, strict=True)]
            m.d.sync += [m2_mask.eq(r1.mask), m2_last.eq(r1_last), m2_max.eq(r1_max)]

        # --- pass 2, logits u = (S·Me + 2^(ne−1)) >> ne ----------------------------------------
        shift_m1 = Signal(range(SHIFT_MAX))
        m.d.comb += shift_m1.eq(self.scale_shift - 1)
        # The tag: ``last``, and (running max) the row's max m', for row_m.
        tag = data.StructLayout({"last": 1, **({"max": signed(width)} if online else {})})
        m.submodules.exp = exp = Exp2Core(exp_frac_bits=f, lanes=cols + online, tag_shape=tag)
        tag_in = Signal(tag)  # the exp core carries the tag as plain bits
        tag_out = Signal(tag)
        m.d.comb += [exp.i.payload.tag.eq(tag_in), tag_out.eq(exp.o.payload.tag)]
        u_valid, u_ready, u_load = stage(m, valid_in=m2_valid, ready_out=exp.i.ready, name="logit")
        m.d.comb += logit_ready.eq(u_ready)
        u = [Signal(signed(prod_width), name=f"logit_{j}") for j in range(lanes)]
        u_mask = Signal(cols)
        u_last = Signal()
        u_max = Signal(signed(width))
        rounded = [
            shift_round_half_up(m, m2_prod[j], shift_m1, prod_width, name=f"u_{j}")
            for j in range(lanes)
        ]
        with m.If(u_load):
            m.d.sync += [u[j].eq(rounded[j]) for j in range(lanes)]
            m.d.sync += [u_mask.eq(m2_mask), u_last.eq(m2_last), u_max.eq(m2_max)]

        # --- pass 2, d = m − u, saturated, into the exp core ----------------------------------
        saturated = (EXP_BITS + 1) << f
        row_m = u[cols]
        for j in range(cols):
            diff = Signal(signed(prod_width + 1), name=f"diff_{j}")
            m.d.comb += diff.eq(row_m - u[j])
            d = exp.i.payload.d[j]
            with m.If(~u_mask[j] | (diff >= saturated)):
                m.d.comb += d.eq(saturated)  # e = 0, so P = 0
            with m.Elif(diff < 0):
                m.d.comb += d.eq(0)  # only a broken pre-load puts a valid key above m
            with m.Else():
                m.d.comb += d.eq(diff)
        if online:
            # α = exp_core(u(m') − u(m_prev)): m' ≥ m_prev, so the difference is ≥ 0.
            diff = Signal(signed(prod_width + 1), name="diff_alpha")
            m.d.comb += diff.eq(row_m - u[cols + 1])
            d = exp.i.payload.d[cols]
            with m.If(diff >= saturated):
                m.d.comb += d.eq(saturated)
            with m.Elif(diff < 0):
                m.d.comb += d.eq(0)
            with m.Else():
                m.d.comb += d.eq(diff)
            m.d.comb += tag_in.max.eq(u_max)
        m.d.comb += [exp.i.valid.eq(u_valid), tag_in.last.eq(u_last)]

        # --- P = (e·(2^PB − 1) + 2^14) >> 15 ------------------------------------------------------
        out_ready = Signal()
        p_valid, p_ready, p_load = stage(m, valid_in=exp.o.valid, ready_out=out_ready, name="p")
        m.d.comb += exp.o.ready.eq(p_ready)
        p = [Signal(pb, name=f"p_{j}") for j in range(cols)]
        p_last = Signal()
        p_alpha = Signal(EXP_WIDTH)
        p_max = Signal(signed(width))
        with m.If(p_load):
            for j in range(cols):
                e = exp.o.payload.e[j]
                m.d.sync += p[j].eq(((e << pb) - e + (1 << (EXP_BITS - 1))) >> EXP_BITS)
            m.d.sync += p_last.eq(tag_out.last)
            if online:
                m.d.sync += [p_alpha.eq(exp.o.payload.e[cols]), p_max.eq(tag_out.max)]

        # --- output register; L accumulates the beats' sums -----------------------------------
        o_valid = Signal()
        l_acc = Signal(self._l_width)
        l_valid = Signal()
        l_out = Signal(self._l_width)
        # A row's last beat enters only when the previous row's L has left or leaves now.
        m.d.comb += out_ready.eq((~o_valid | self.o.ready) & ~(p_last & l_valid & ~self.l.ready))
        o_load = p_valid & out_ready
        with m.If(o_load):
            m.d.sync += o_valid.eq(1)
        with m.Elif(self.o.ready):
            m.d.sync += o_valid.eq(0)
        with m.If(self.l.ready):
            m.d.sync += l_valid.eq(0)
        with m.If(o_load):
            total = l_acc + adder_tree(p)
            m.d.sync += [self.o.payload.data[j].eq(p[j]) for j in range(cols)]
            m.d.sync += self.o.payload.last.eq(p_last)
            with m.If(p_last):
                m.d.sync += [l_out.eq(total), l_valid.eq(1), l_acc.eq(0)]
                if online:
                    m.d.sync += [self.alpha.eq(p_alpha), self.row_m.eq(p_max)]
            with m.Else():
                m.d.sync += l_acc.eq(total)
        m.d.comb += [
            self.o.valid.eq(o_valid),
            self.l.valid.eq(l_valid),
            self.l.payload.eq(l_out),
        ]
        return m
