"""FP8 multiply with exact fixed-point (Kulisch) accumulation (docs/numerics.md §2.1–§2.5)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import FORMATS
from hdl.arith.fp8_decode import fp8_operand_layout, operand_inf
from hdl.arith.multiplier import product_signal


def kulisch_psum_layout(acc_width, carries=0):
    """An exact partial sum: the W-bit integer in units of ``2^L`` and the sticky flags (§2.5).

    With ``carries`` (a partial sum travelling down a column of segmented adds,
    :func:`kulisch_segments`) it also holds one pending carry per segment boundary: bit ``j``
    of ``carry`` adds one at the lowest bit of segment ``j + 1``. Its value is then
    ``sum + Σ carry[j]·2^lo(j+1)`` modulo ``2^W``.
    """
    fields = {"sum": signed(acc_width)}
    if carries:
        fields["carry"] = unsigned(carries)
    fields.update({"nan": unsigned(1), "pinf": unsigned(1), "ninf": unsigned(1)})
    return data.StructLayout(fields)


#: Widest segment of a segmented partial-sum add (``mac_pipeline=4``): a 16-bit carry chain
#: is 8 ECP5 carry cells, about a quarter of an E5M2 sum's 77-bit chain.
KULISCH_SEGMENT_WIDTH = 16


def kulisch_segments(acc_width, segment_width=KULISCH_SEGMENT_WIDTH):
    """``[(lo, hi), …]``: the W bits cut into ``ceil(W / segment_width)`` segments of equal
    width (the last may be narrower), lowest first."""
    count = -(-acc_width // segment_width)
    size = -(-acc_width // count)
    return [(lo, min(lo + size, acc_width)) for lo in range(0, acc_width, size)]


def segmented_psum_layout(acc_width):
    """A partial sum between the PEs of a column of segmented adds: one pending carry per
    boundary of :func:`kulisch_segments`."""
    return kulisch_psum_layout(acc_width, len(kulisch_segments(acc_width)) - 1)


def align_product(sig_product, exp_sum, width):
    """``sig_product << exp_sum`` as a ``width``-bit unsigned value: the product's magnitude in
    units of ``2^L`` (§2.2). The shift is a barrel shifter, the deep half of the product."""
    return (sig_product << exp_sum)[:width]


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
        ``|product| = sig_product << exp_sum`` (:func:`align_product`).
    sig_product : Out(sig_a bits + sig_b bits)
        ``sig_a·sig_b``, before the shift.
    exp_sum : Out(exp_a bits + 1)
        ``exp_a + exp_b``, the shift.
    sign : Out(1)
        Sign of the product (also for a zero product): ``product = ±magnitude``.
    nan, pinf, ninf : Out(1)
    """

    def __init__(self, *, act_fmt, weight_fmt, lut_multiplier=False):
        self._act_fmt = act_fmt
        self._weight_fmt = weight_fmt
        self._lut_multiplier = lut_multiplier
        fa, fb = FORMATS[act_fmt], FORMATS[weight_fmt]
        super().__init__(
            {
                "a": In(fp8_operand_layout(act_fmt)),
                "w": In(fp8_operand_layout(weight_fmt)),
                "product": Out(signed(fp8_product_width(act_fmt, weight_fmt) + 1)),
                "magnitude": Out(fp8_product_width(act_fmt, weight_fmt)),
                "sig_product": Out(fa.man_bits + 1 + fb.man_bits + 1),
                "exp_sum": Out(max(fa.exp_bits, fb.exp_bits) + 1),
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
        m.d.comb += [
            sig_product.eq(a.sig * w.sig),
            self.sig_product.eq(sig_product),
            self.exp_sum.eq(a.exp + w.exp),
        ]
        magnitude, sign = self.magnitude, self.sign
        m.d.comb += [
            magnitude.eq(align_product(sig_product, self.exp_sum, len(magnitude))),
            sign.eq(a.sign ^ w.sign),
        ]
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
    """FP8 MAC: exact product, up to two product registers, exact W-bit add, sticky flags.

    ``psum_out`` (combinational) is ``psum_in`` plus the product of the operands presented
    :attr:`latency` cycles earlier, with their flags ORed in. Every PE of a column has the same
    product stages, so the skew of the array is unchanged and its latency grows by
    :attr:`latency` cycles.

    * 0 registers: the whole MAC is combinational.
    * 1 register (the default): the multiply and the shift in one cycle, then the magnitude,
      sign and flags are registered before the add.
    * 2 registers: the significand product, the exponent sum, the sign and the flags are
      registered; the next cycle shifts the significand product into place (the barrel shift
      by ``exp_a + exp_b``) and registers it, already in ones' complement, so the last cycle
      is the W-bit add alone.

    Parameters
    ----------
    act_fmt, weight_fmt : str
        ``"e4m3"`` or ``"e5m2"``.
    acc_width : int
        Width W of the Kulisch accumulator (§2.3).
    product_register : bool
        One product register (``True``) or none; ignored when ``product_registers`` is given.
    lut_multiplier : bool
        Mark the significand multiplier for logic-only mapping (see :mod:`hdl.arith.multiplier`).
    product_registers : int or None
        Instead of ``product_register``: 0 to 2 registers between the operands and the add.
    segmented : bool
        Cut the W-bit add into :func:`kulisch_segments` whose carries are not propagated
        here but handed on with the partial sum, one pending bit per segment boundary
        (``kulisch_psum_layout(acc_width, carries)``): each segment's add takes the pending
        carry from above as its carry-in, so the longest carry chain is one segment, not W
        bits. A :class:`KulischCarryResolver` below the column turns the partial sum back
        into a W-bit integer.

    Members
    -------
    a : In(fp8_operand_layout(act_fmt))
    w : In(fp8_operand_layout(weight_fmt))
    psum_in : In(kulisch_psum_layout(acc_width, carries))
    psum_out : Out(kulisch_psum_layout(acc_width, carries))
        ``carries`` is 0, or one fewer than the segments when ``segmented``.
    """

    def __init__(
        self,
        *,
        act_fmt,
        weight_fmt,
        acc_width,
        product_register=True,
        lut_multiplier=False,
        product_registers=None,
        segmented=False,
    ):
        need = fp8_product_width(act_fmt, weight_fmt) + 1
        if not isinstance(acc_width, int) or not need <= acc_width <= 256:
            raise ValueError(f"acc_width must be between {need} and 256, got {acc_width!r}")
        if product_registers is None:
            product_registers = int(bool(product_register))
        elif isinstance(product_registers, bool) or product_registers not in (0, 1, 2):
            raise ValueError(f"product_registers must be 0 to 2, got {product_registers!r}")
        self._act_fmt = act_fmt
        self._weight_fmt = weight_fmt
        self._product_registers = product_registers
        self._lut_multiplier = lut_multiplier
        self._segments = kulisch_segments(acc_width) if segmented else [(0, acc_width)]
        psum_layout = (
            segmented_psum_layout(acc_width) if segmented else kulisch_psum_layout(acc_width)
        )
        super().__init__(
            {
                "a": In(fp8_operand_layout(act_fmt)),
                "w": In(fp8_operand_layout(weight_fmt)),
                "psum_in": In(psum_layout),
                "psum_out": Out(psum_layout),
            }
        )

    @property
    def segments(self):
        """``[(lo, hi), …]`` of the partial-sum add's segments (one when not segmented)."""
        return list(self._segments)

    @property
    def latency(self):
        """Cycles from operands to their product entering the sum."""
        return self._product_registers

    @staticmethod
    def _register(m, value, name):
        """``value`` one cycle later. No reset: a product only matters under a valid row."""
        reg = Signal(value.shape(), name=name, reset_less=True)
        m.d.sync += reg.eq(value)
        return reg

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiplier = product = Fp8Product(
            act_fmt=self._act_fmt, weight_fmt=self._weight_fmt, lut_multiplier=self._lut_multiplier
        )
        m.d.comb += [product.a.eq(self.a), product.w.eq(self.w)]
        width = len(product.magnitude)

        flags = {name: getattr(product, name) for name in ("nan", "pinf", "ninf")}
        sign = product.sign
        if self._product_registers == 2:
            # First stage: the significand multiply and the exponent add, side by side; the
            # shift they feed is as deep again, so it gets a cycle of its own. (Taking the low
            # bits of the shift into this stage, behind the exponent add, made it the longer
            # one: 2×2 E5M2 ran at 147 instead of 173 MHz.)
            sig_product = self._register(m, product.sig_product, "p_sig_product")
            exp_sum = self._register(m, product.exp_sum, "p_exp_sum")
            sign = self._register(m, sign, "p_sign")
            flags = {n: self._register(m, f, f"p_{n}") for n, f in flags.items()}
            magnitude = Signal(width, name="aligned")
            m.d.comb += magnitude.eq(align_product(sig_product, exp_sum, width))
            # Second stage: the aligned magnitude, complemented here rather than in front of
            # the add, so that the last stage is the carry chain alone.
            ones = self._register(m, magnitude ^ sign.replicate(width), "q_ones_complement")
            sign = self._register(m, sign, "q_sign")
            flags = {n: self._register(m, f, f"q_{n}") for n, f in flags.items()}
        else:
            magnitude = product.magnitude
            if self._product_registers == 1:
                magnitude = self._register(m, magnitude, "p_magnitude")
                sign = self._register(m, sign, "p_sign")
                flags = {n: self._register(m, f, f"p_{n}") for n, f in flags.items()}
            ones = magnitude ^ sign.replicate(width)
        # The sign is applied in the accumulating add: −x is ~x + 1, and the +1 enters the
        # adder as its carry-in, so no second carry chain is needed. Truncation to W bits is
        # a wrap that a legal max_k never reaches (§2.3).
        if len(self._segments) == 1:
            ones_complement = Cat(ones, sign).as_signed()
            m.d.comb += self.psum_out.sum.eq(self.psum_in.sum + ones_complement + sign)
        else:
            # Each segment adds its slice of the product with the carry pending at its lowest
            # bit (the sign for the lowest segment) as the carry-in, and hands its carry-out
            # on as the pending carry of the segment above. The top segment's carry-out is the
            # wrap modulo 2^W.
            acc_width = len(self.psum_in.sum)
            addend = Cat(ones, sign.replicate(acc_width - width))  # sign-extended to W bits
            carry_in, sums, carries = sign, [], []
            for index, (lo, hi) in enumerate(self._segments):
                part = Signal(hi - lo + 1, name=f"segment_{index}")
                m.d.comb += part.eq(self.psum_in.sum[lo:hi] + addend[lo:hi] + carry_in)
                sums.append(part[:-1])
                carries.append(part[-1])
                if index + 1 < len(self._segments):
                    carry_in = self.psum_in.carry[index]
            m.d.comb += [
                self.psum_out.sum.eq(Cat(*sums)),
                self.psum_out.carry.eq(Cat(*carries[:-1])),
            ]
        m.d.comb += [self.psum_out[n].eq(self.psum_in[n] | f) for n, f in flags.items()]
        return m


class KulischCarryResolver(wiring.Component):
    """A segmented partial sum (:class:`Fp8Mac` with ``segmented``) back to a W-bit integer,
    in two register stages, without a W-bit carry chain.

    The first stage adds each segment's pending carry (an increment as wide as the segment)
    and notes whether the segment carried out and whether it is now all ones. The second
    forms each segment's incoming carry from those bits (carry lookahead across the few
    segments) and adds it, an increment as wide as the segment; the carry out of the top
    segment is the wrap modulo ``2^W``. The flags travel beside. Latency
    :attr:`LATENCY`, a new input every cycle.

    Members
    -------
    i : In(segmented_psum_layout(acc_width))
    o : Out(kulisch_psum_layout(acc_width))
        ``i`` resolved, :attr:`LATENCY` cycles later.
    """

    LATENCY = 2

    def __init__(self, acc_width):
        self._acc_width = acc_width
        self._segments = kulisch_segments(acc_width)
        super().__init__(
            {
                "i": In(segmented_psum_layout(acc_width)),
                "o": Out(kulisch_psum_layout(acc_width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        width, segments = self._acc_width, self._segments
        # No reset anywhere: the array's valid pipeline qualifies what comes out.
        flags = ("nan", "pinf", "ninf")
        # Stage 1: each segment plus its own pending carry. Segment 0 has none (the MAC's
        # sign enters it as a carry-in).
        partial = Signal(width, name="partial", reset_less=True)
        generate = Signal(len(segments), name="generate", reset_less=True)
        all_ones = Signal(len(segments), name="all_ones", reset_less=True)
        staged = {n: Signal(name=f"staged_{n}", reset_less=True) for n in flags}
        for index, (lo, hi) in enumerate(segments):
            pending = self.i.carry[index - 1] if index else Const(0)
            bits = self.i.sum[lo:hi]
            ones = (1 << (hi - lo)) - 1
            m.d.sync += [
                partial[lo:hi].eq(bits + pending),
                # Both flags from the segment's bits directly, beside the increment rather
                # than behind its carry chain.
                generate[index].eq(pending & (bits == ones)),
                all_ones[index].eq(Mux(pending, bits == ones - 1, bits == ones)),
            ]
        m.d.sync += [staged[n].eq(self.i[n]) for n in flags]
        # Stage 2: a segment's incoming carry is generated below it, or propagated through
        # an all-ones segment below it; then one increment per segment.
        resolved = Signal(width, name="resolved", reset_less=True)
        incoming = Const(0)
        for index, (lo, hi) in enumerate(segments):
            if index:
                incoming = generate[index - 1] | (all_ones[index - 1] & incoming)
            m.d.sync += resolved[lo:hi].eq(partial[lo:hi] + incoming)
        out_flags = {n: Signal(name=f"resolved_{n}", reset_less=True) for n in flags}
        m.d.sync += [out_flags[n].eq(staged[n]) for n in flags]
        m.d.comb += [self.o.sum.eq(resolved), *(self.o[n].eq(f) for n, f in out_flags.items())]
        return m
