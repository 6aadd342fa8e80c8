"""Output conversion of finished rows: bias, requantization B, raw sums, FP8 codes.

:class:`OutputConverter` sits between the tile accumulator and the output buffer. INT8 rows get
the per-column bias (modulo ``2^W``) and are requantized to int8 with decision B of
docs/numerics.md §3.6 (``golden.requant.requantize``), or leave raw as 32-bit integers; FP8 rows
leave as binary32 or as saturating E4M3 codes (docs/numerics.md §1.2).
"""

from math import ceil

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.errors import check_int
from golden.formats import FORMATS
from golden.frontend import QP_RECORD_BYTES
from golden.requant import MULT_MAX
from hdl.array.accumulator import output_row_layout
from hdl.attention.pipeline import shift_right_window
from hdl.ctrl.tiles import check_accelerator_configs

__all__ = ["OutputConverter", "converted_row_layout", "mode_layout", "strip_layout"]

#: Width of M, the unsigned multiplier (docs/numerics.md §3.6).
MULT_BITS = MULT_MAX.bit_length()
#: Bits of ``acc·M >> (n − 1)`` kept exactly. With ``|z_o| ≤ 2^31`` the clamp can only land
#: inside [−128, 127] for ``|r| < 2^32 + 128`` where ``r = (x + 1) >> 1``; a 34-bit window holds
#: every such ``x``, and outside it ``r + z_o`` clamps towards the product's sign.
WINDOW = 34
#: Operand slices of the multiplier: 17-bit unsigned pieces (an 18×18 signed DSP takes them),
#: the top piece of the signed operand up to 18 bits signed.
PIECE = 17


def mode_layout():
    """Job mode of the converter (from the FLAGS register): ``raw`` (OUT_RAW), ``fp8_out``
    (OUT_FP8), ``per_channel`` (PER_CHANNEL_Q), ``bias_en`` (BIAS_EN)."""
    return data.StructLayout({"raw": 1, "fp8_out": 1, "per_channel": 1, "bias_en": 1})


def strip_layout(array_config, frontend_config):
    """One emitted strip: its columns are QP records ``col0 … col0 + n_len − 1`` of half
    ``qp_half``; ``qp_last`` marks the C tile's last strip (the QP half is released after it)."""
    return data.StructLayout(
        {
            "qp_half": 1,
            "col0": range(frontend_config.tile_n),
            "n_len": range(1, array_config.cols + 1),
            "qp_last": 1,
        }
    )


def converted_row_layout(cols):
    """One converted row: ``cols`` 32-bit lanes (the element's bit pattern in the low bits)."""
    return data.StructLayout({"data": data.ArrayLayout(unsigned(32), cols), "last": 1})


def _signed_pieces(width):
    """``(lo, hi)`` bit ranges of a signed ``width``-bit operand: 17-bit unsigned pieces and a
    signed top piece of at most 18 bits."""
    pieces, lo = [], 0
    while width - lo > PIECE + 1:
        pieces.append((lo, lo + PIECE))
        lo += PIECE
    pieces.append((lo, width))
    return pieces


def _unsigned_pieces(width):
    return [(lo, min(lo + PIECE, width)) for lo in range(0, width, PIECE)]


def _carry_save_sum(m, terms, width, *, name):
    """``Σ terms`` modulo ``2^width``: carry-save adders (one LUT level each) reduce the terms
    to two, so a single carry chain remains on the path."""
    vectors = []
    for index, term in enumerate(terms):
        vector = Signal(width, name=f"{name}_t{index}")
        m.d.comb += vector.eq(term)  # a signed term is sign-extended: the sum stays modular
        vectors.append(vector)
    while len(vectors) > 2:
        x, y, z, *rest = vectors
        total = Signal(width, name=f"{name}_s{len(rest)}")
        carry = Signal(width, name=f"{name}_c{len(rest)}")
        m.d.comb += [total.eq(x ^ y ^ z), carry.eq(((x & y) | (x & z) | (y & z)) << 1)]
        vectors = [*rest, total, carry]
    return vectors[0] if len(vectors) == 1 else vectors[0] + vectors[1]


class OutputConverter(wiring.Component):
    """Converts the finished rows of the tile accumulator into output elements, one row per
    cycle, with per-channel parameters double-buffered per strip.

    INT8 arrays: ``acc' = wrap_W(acc + bias[c])`` when ``bias_en`` (the bias as initial partial
    sum, docs/numerics.md §3.3); then ``raw`` sends ``acc'`` sign-extended or truncated to 32
    bits, else requantization B, ``clamp(((acc'·M + 2^(n−1)) >> n) + z_o, qmin, qmax)``
    (``golden.requant.requantize``), with ``(M, n)`` per column from the QP records
    (``per_channel``) or per tensor (``q_mult``, ``q_shift``). The ``W × 31`` product is split
    into 17-bit pieces (one 18×18 DSP each), registered, and summed four pieces per register
    (carry-save, then one carry chain); then a 34-bit window of ``product >> (n − 1)`` in two
    steps (shift by multiples of 8, with a flag for values outside the window, which clamp
    towards the product's sign; then the shift by 0 to 7 with the rounding and zero point as one
    adder, ``(x + 2·z_o + 1) >> 1``), and the clamp; each step has its own register. The
    slowest path is the DSP multiply between two fabric registers (nextpnr on an ECP5-85k, 4
    columns: about 120 MHz for W = 28 and 110 MHz for W = 64, the same kind of path as the
    array's INT8 DSP PEs; the FP8 conversion about 120 MHz).

    FP8 arrays: the binary32 patterns pass through, or become E4M3 SAT codes with ``fp8_out``
    (the conversion of :class:`~hdl.arith.fp32_to_fp8.Fp32ToFp8`, docs/numerics.md §1.2,
    pipelined in three steps). ``requant_lanes`` does not apply (there is no
    multiplier): a row per cycle.

    Requant lanes: with ``L = requant_lanes < C`` the INT8 datapath has ``L`` lanes and a row
    takes ``ceil(C/L)`` cycles (column ``k·L + l`` in cycle ``k`` on lane ``l``); the last
    stage gathers the pieces into the output row.

    Parameters: one record of ``strips`` per emitted strip, in order. Each strip's rows wait
    for its record. When the job needs QP records (``per_channel`` or ``bias_en``, INT8 only),
    the converter reads records ``col0 … col0 + n_len − 1`` of half ``qp_half`` (one bank row
    per cycle, two per record at 8-byte bank rows) into one of two parameter slots, once
    ``qp_full[qp_half]`` is set, and releases the half after a strip with ``qp_last``; the next
    strip's records load while the current strip's rows flow. Otherwise the record is just
    consumed and the QP bank is neither read nor released. Columns ``c ≥ n_len`` of a strip
    carry don't-care values.

    Parameters
    ----------
    array_config : ArrayConfig
    frontend_config : FrontendConfig
        Supplies ``tile_n``, the bus width (QP bank rows of ``min(16, W)`` bytes) and
        ``requant_lanes`` (1 to ``cols``, ``None`` = ``cols``).

    Members
    -------
    mode : In(mode_layout())
        Steady during a job.
    q_mult : In(31), q_shift : In(6), q_zp : In(signed(32)), qmin, qmax : In(signed(8))
        Per-tensor M, n (1 to 62), output zero point and clamp bounds (``qmin ≤ qmax``),
        steady during a job.
    strips : In(stream.Signature(strip_layout(...)))
    qp_rd_en, qp_rd_half, qp_rd_row : Out
        Read port of the QP :class:`~hdl.mem.scratchpad.PingPongBank`; ``qp_rd_data`` is
        taken the cycle after ``qp_rd_en``.
    qp_rd_data : In(8 · min(16, W))
    qp_release, qp_release_half : Out(1)
        Strobe that frees the QP half after the records of a ``qp_last`` strip are read.
    qp_full : In(2, init=0b11)
        The bank's ``full`` bits: records are read only from a full half. Left unconnected it
        reads as always full (the controller then guarantees the records have landed).
    i : In(stream.Signature(output_row_layout(array_config)))
        Finished rows; ``last`` ends a strip.
    o : Out(stream.Signature(converted_row_layout(cols)))
        One row per input row, in order, ``last`` copied: int8 results in the low 8 bits (the
        rest zero), raw sums as 32-bit two's complement, binary32 patterns, or E4M3 codes in
        the low 8 bits.

    Timing: :attr:`latency` cycles from a row's handshake on ``i`` (of its last piece when
    ``L < C``) to ``o.valid``, when ``o`` is ready. The pipeline advances in lock step
    whenever ``o`` is empty or taken; a row per ``ceil(C/L)`` cycles (INT8) or per cycle
    (FP8), with no bubble at a strip change when its parameters are loaded.

    Raises
    ------
    golden.errors.UsageTypeError
        If a config has the wrong type.
    golden.errors.UsageValueError
        If ``requant_lanes`` exceeds ``cols``.
    """

    def __init__(self, array_config, frontend_config):
        check_accelerator_configs(array_config, frontend_config)
        self._ac, self._fc = array_config, frontend_config
        cols = array_config.cols
        lanes = cols if frontend_config.requant_lanes is None else frontend_config.requant_lanes
        self._lanes = check_int(
            "requant_lanes", lanes, 1, cols, where=f" (the array's cols={cols})"
        )
        self._pieces = 1 if array_config.is_fp8 else ceil(cols / self._lanes)
        self._qp_row_bytes = min(QP_RECORD_BYTES, frontend_config.beat_bytes)
        self._qp_rows = frontend_config.tile_n * QP_RECORD_BYTES // self._qp_row_bytes
        super().__init__(
            {
                "mode": In(mode_layout()),
                "q_mult": In(MULT_BITS),
                "q_shift": In(6, init=1),
                "q_zp": In(signed(32)),
                "qmin": In(signed(8), init=-128),
                "qmax": In(signed(8), init=127),
                "strips": In(stream.Signature(strip_layout(array_config, frontend_config))),
                "qp_rd_en": Out(1),
                "qp_rd_half": Out(1),
                "qp_rd_row": Out(range(self._qp_rows)),
                "qp_rd_data": In(8 * self._qp_row_bytes),
                "qp_release": Out(1),
                "qp_release_half": Out(1),
                "qp_full": In(2, init=0b11),
                "i": In(stream.Signature(output_row_layout(array_config))),
                "o": Out(stream.Signature(converted_row_layout(cols))),
            }
        )

    @property
    def lanes(self):
        """Requant lanes L (``cols`` for FP8 arrays)."""
        return self._ac.cols if self._ac.is_fp8 else self._lanes

    @property
    def cycles_per_row(self):
        """Cycles a row occupies the input: ``ceil(C/L)`` (INT8), 1 (FP8)."""
        return self._pieces

    @property
    def sum_stages(self):
        """Registered stages of the partial-product adder tree (four terms each)."""
        if self._ac.is_fp8:
            return 0
        terms = len(_signed_pieces(self._ac.acc_width)) * len(_unsigned_pieces(MULT_BITS))
        stages = 0
        while terms > 1:
            terms = ceil(terms / 4)
            stages += 1
        return stages

    @property
    def latency(self):
        """Cycles from a row's handshake on ``i`` to ``o.valid`` with ``o`` ready.

        INT8: operands (bias added), partial products, :attr:`sum_stages` adder stages, the
        coarse shift, the fine shift with rounding and zero point, the clamp into the output
        register:
        ``5 + sum_stages`` (6 for ``acc_width ≤ 35``, 7 up to 64). FP8: the input register,
        exponent, rounding, the output register, 4.
        """
        return 4 if self._ac.is_fp8 else 5 + self.sum_stages

    # --- elaboration ----------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        cols = self._ac.cols
        fp8 = self._ac.is_fp8

        # Parameter slots: slot_valid[s] says slot s holds the parameters of a strip whose rows
        # have not all entered the pipeline. The loader fills slot `wr`, the rows use slot `rs`.
        slot_valid = Signal(2)
        wr = Signal()
        rs = Signal()
        params = None
        if not fp8:
            params = [
                [
                    {
                        "bias": Signal(signed(32), name=f"bias_{s}_{c}"),
                        "mult": Signal(MULT_BITS, name=f"mult_{s}_{c}"),
                        "shift": Signal(6, name=f"shift_{s}_{c}"),
                    }
                    for c in range(cols)
                ]
                for s in range(2)
            ]
        self._elaborate_loader(m, slot_valid, wr, params)

        # Row side: a row enters when the output moves (lock-step pipeline) and its strip's
        # parameters are loaded; with L < C it enters piece by piece.
        en = Signal()
        m.d.comb += en.eq(~self.o.valid | self.o.ready)
        piece = Signal(range(max(2, self._pieces)))  # never 0 bits wide
        last_piece = Signal()
        m.d.comb += last_piece.eq(piece == self._pieces - 1)
        slot_ready = Signal()
        m.d.comb += slot_ready.eq(slot_valid.bit_select(rs, 1))
        feed = Signal()
        m.d.comb += [
            feed.eq(self.i.valid & slot_ready & en),
            self.i.ready.eq(slot_ready & en & last_piece),
        ]
        with m.If(feed):
            m.d.sync += piece.eq(Mux(last_piece, 0, piece + 1))
        with m.If(self.i.valid & self.i.ready & self.i.payload.last):
            for s in range(2):
                with m.If(rs == s):
                    m.d.sync += slot_valid[s].eq(0)
            m.d.sync += rs.eq(~rs)

        if fp8:
            self._elaborate_fp8(m, en, feed)
        else:
            self._elaborate_int8(m, en, feed, piece, last_piece, rs, params)
        return m

    def _elaborate_loader(self, m, slot_valid, wr, params):
        """Strip records in, QP records from the bank into slot ``wr``."""
        cols = self._ac.cols
        mode = self.mode
        per_record = QP_RECORD_BYTES // self._qp_row_bytes  # bank rows per record: 1 or 2
        need = Signal()
        if params is not None:
            m.d.comb += need.eq(mode.per_channel | mode.bias_en)

        half = Signal()
        col0 = Signal.like(self.strips.payload.col0)
        n_len = Signal.like(self.strips.payload.n_len)
        qp_last = Signal()
        index = Signal(range(cols))  # record within the strip
        sub = Signal(range(per_record))  # bank row within the record
        cap_en = Signal()
        cap_col = Signal(range(cols))
        cap_sub = Signal(range(per_record))
        m.d.sync += cap_en.eq(0)

        def mark_loaded():
            for s in range(2):
                with m.If(wr == s):
                    m.d.sync += slot_valid[s].eq(1)
            m.d.sync += wr.eq(~wr)

        last_read = (index == n_len - 1) & (sub == per_record - 1)
        with m.FSM(name="loader"):
            with m.State("IDLE"):
                m.d.comb += self.strips.ready.eq(~slot_valid.bit_select(wr, 1))
                with m.If(self.strips.valid & self.strips.ready):
                    p = self.strips.payload
                    m.d.sync += [
                        half.eq(p.qp_half),
                        col0.eq(p.col0),
                        n_len.eq(p.n_len),
                        qp_last.eq(p.qp_last),
                        index.eq(0),
                        sub.eq(0),
                    ]
                    with m.If(need):
                        m.next = "LOAD"
                    with m.Else():
                        mark_loaded()
            with m.State("LOAD"):
                m.d.comb += [
                    self.qp_rd_half.eq(half),
                    self.qp_rd_row.eq((col0 + index) * per_record + sub),
                ]
                # Read only a half the load engine has finished writing.
                with m.If(self.qp_full.bit_select(half, 1)):
                    m.d.comb += self.qp_rd_en.eq(1)
                    m.d.sync += [cap_en.eq(1), cap_col.eq(index), cap_sub.eq(sub)]
                    if per_record == 1:
                        m.d.sync += index.eq(index + 1)
                    else:
                        m.d.sync += sub.eq(~sub)
                        with m.If(sub == 1):
                            m.d.sync += index.eq(index + 1)
                    with m.If(last_read):
                        m.next = "FINISH"
            with m.State("FINISH"):
                # The last record's data is captured in this cycle, into slot `wr`.
                mark_loaded()
                m.d.comb += [self.qp_release.eq(qp_last), self.qp_release_half.eq(half)]
                m.next = "IDLE"

        if params is None:
            return
        rd = self.qp_rd_data
        with m.If(cap_en):
            for s in range(2):
                for c in range(cols):
                    slot = params[s][c]
                    with m.If((wr == s) & (cap_col == c)):
                        # Record bytes: int32 bias at 0-3, u32 mult at 4-7 (bit 31 unused),
                        # u8 shift at 8; at 8-byte rows byte 8 is byte 0 of the second row.
                        first = [slot["bias"].eq(rd[0:32]), slot["mult"].eq(rd[32 : 32 + 31])]
                        if per_record == 1:
                            m.d.sync += [*first, slot["shift"].eq(rd[64:70])]
                        else:
                            with m.If(cap_sub == 0):
                                m.d.sync += first
                            with m.Else():
                                m.d.sync += slot["shift"].eq(rd[0:6])

    def _elaborate_fp8(self, m, en, feed):
        """binary32 → E4M3 SAT in three registered steps (the rounding of
        :class:`~hdl.arith.fp32_to_fp8.Fp32ToFp8`, which is one combinational block, split so
        that each step holds at most one short carry chain)."""
        cols = self._ac.cols
        fmt = FORMATS["e4m3"]
        man = fmt.man_bits
        # A normal target keeps man_bits bits below the leading one: shift 23 − man_bits; a
        # subnormal target shifts further, by 1 − e_target; from 25 on nothing is left.
        base = 23 - man
        extra = 25 - base

        def stage(name, src):
            dst = {k: Signal(name=f"{name}_{k}") for k in ("valid", "last")}
            with m.If(en):
                m.d.sync += [dst[k].eq(src[k]) for k in dst]
            return dst

        s0 = stage("in", {"valid": feed, "last": self.i.payload.last})
        sa = stage("exp", s0)
        sb = stage("rnd", sa)
        with m.If(en):
            m.d.sync += [self.o.valid.eq(sb["valid"]), self.o.payload.last.eq(sb["last"])]

        for c in range(cols):
            word = Signal(32, name=f"in_{c}")
            with m.If(en):
                m.d.sync += word.eq(self.i.payload.data[c])

            # Step 1: exponent, shift, special cases.
            sign, e32, m32 = word[31], word[23:31], word[:23]
            # e_target = e32 − 127 + bias ≥ 1 ⇔ e32 ≥ first; below it the shift grows by
            # 1 − e_target = first − e32. Comparing e32 with constants keeps every carry chain
            # of this step parallel.
            first = 128 - fmt.bias
            normal = Signal(name=f"normal_{c}")
            m.d.comb += normal.eq(e32 >= first)
            idx = Mux(normal, 0, Mux(e32 <= first - extra, extra, first - e32))
            a_word = Signal(32, name=f"exp_word_{c}")
            a_sig = Signal(24, name=f"exp_sig_{c}")
            a_idx = Signal(range(extra + 1), name=f"exp_idx_{c}")  # shift − base
            a_field = Signal(9, name=f"exp_field_{c}")  # max(e_target, 1) − 1
            a_flags = Signal(4, name=f"exp_flags_{c}")  # sign, inf, nan, zero
            with m.If(en):
                m.d.sync += [
                    a_word.eq(word),
                    a_sig.eq(m32 | (1 << 23)),
                    a_idx.eq(idx),
                    a_field.eq(Mux(normal, e32 - first, 0)),
                    a_flags.eq(
                        Cat(sign, (e32 == 0xFF) & (m32 == 0), (e32 == 0xFF) & (m32 != 0), e32 == 0)
                    ),
                ]

            # Step 2: the kept bits, guard and sticky (round half to even on them).
            shifts = range(base, 26)
            kept = Array([a_sig[k:] for k in shifts])[a_idx]
            guard = Array([a_sig[k - 1] if k <= 24 else Const(0) for k in shifts])[a_idx]
            sticky = Array([a_sig[: k - 1].any() for k in shifts])[a_idx]
            b_word = Signal(32, name=f"rnd_word_{c}")
            b_rounded = Signal(man + 2, name=f"rnd_q_{c}")
            b_field = Signal(9, name=f"rnd_field_{c}")
            b_flags = Signal(4, name=f"rnd_flags_{c}")
            kept_q = Signal(man + 1, name=f"kept_{c}")  # < 2^(man+1): the shift is ≥ base
            m.d.comb += kept_q.eq(kept)
            with m.If(en):
                m.d.sync += [
                    b_word.eq(a_word),
                    b_rounded.eq(kept_q + (guard & (sticky | kept_q[0]))),
                    b_field.eq(a_field),
                    b_flags.eq(a_flags),
                ]

            # Step 3: (field·2^m) + q (a carry out of q moves into the exponent by itself),
            # the saturating range check, NaN (always the positive canonical NaN). The range
            # check looks at the field and q apart, so it needs no carry chain: with
            # q ≤ 2^(m+1), only fields from (max_code − 2^(m+1)) >> m up can reach beyond
            # max_code.
            magnitude = Signal(man + 5, name=f"magnitude_{c}")
            m.d.comb += magnitude.eq((b_field[:4] << man) + b_rounded)
            low_field = (fmt.max_code - (1 << (man + 1))) >> man
            beyond = b_field >= (fmt.max_code >> man) + 1
            for f in range(low_field, (fmt.max_code >> man) + 1):
                q_min = fmt.max_code + 1 - (f << man)  # smallest q that overflows at field f
                if q_min <= 1 << (man + 1):
                    beyond = beyond | ((b_field == f) & (b_rounded >= q_min))
            b_sign, b_inf, b_nan, b_zero = b_flags[0], b_flags[1], b_flags[2], b_flags[3]
            code = Signal(7, name=f"code_{c}")
            with m.If(b_inf | beyond):
                m.d.comb += code.eq(fmt.max_code)
            with m.Elif(b_zero):  # zero and binary32 subnormals are far below FP8's range
                m.d.comb += code.eq(0)
            with m.Else():
                m.d.comb += code.eq(magnitude)
            fp8 = Mux(b_nan, fmt.nan_code, Cat(code, b_sign))
            with m.If(en):
                m.d.sync += self.o.payload.data[c].eq(Mux(self.mode.fp8_out, fp8, b_word))

    def _elaborate_int8(self, m, en, feed, piece, last_piece, rs, params):
        cols, lanes, pieces = self._ac.cols, self._lanes, self._pieces
        acc_width = self._ac.acc_width
        prod_width = acc_width + MULT_BITS  # |acc·M| < 2^(W−1)·2^31
        mode = self.mode

        def meta(name):
            return {
                "valid": Signal(name=f"{name}_valid"),
                "piece": Signal(range(max(2, pieces)), name=f"{name}_piece"),
                "last": Signal(name=f"{name}_last"),
            }

        def carry(dst, src):
            m.d.sync += [dst[k].eq(src[k]) for k in dst]

        # Stage 1: operands. Lane l takes column piece·L + l with its parameters from slot rs.
        s1 = meta("op")
        with m.If(en):
            m.d.sync += [s1["valid"].eq(feed), s1["piece"].eq(piece)]
            m.d.sync += s1["last"].eq(self.i.payload.last)
        s1_a = [Signal(signed(acc_width), name=f"op_a_{lane}") for lane in range(lanes)]
        s1_m = [Signal(MULT_BITS, name=f"op_m_{lane}") for lane in range(lanes)]
        s1_n = [Signal(6, name=f"op_n_{lane}") for lane in range(lanes)]

        def pick(values):
            return values[0] if len(values) == 1 else Array(values)[piece]

        for lane in range(lanes):
            columns = [k * lanes + lane for k in range(pieces) if k * lanes + lane < cols]

            def param(field, columns=columns):
                return pick([Mux(rs, params[1][c][field], params[0][c][field]) for c in columns])

            acc = pick([self.i.payload.data[c] for c in columns])
            bias = Mux(mode.bias_en, param("bias"), 0)
            mult = Mux(mode.raw, 1, Mux(mode.per_channel, param("mult"), self.q_mult))
            # The pipeline carries n − 1, the shift of the rounding window; raw mode shifts by 0.
            shift = Mux(mode.raw, 0, Mux(mode.per_channel, param("shift"), self.q_shift) - 1)
            with m.If(en):
                # acc + bias truncated to W bits: the wrap of the bias as initial partial sum.
                # In raw mode M = 1 and the shift is 0, so the window is the sum itself.
                m.d.sync += [s1_a[lane].eq(acc + bias), s1_m[lane].eq(mult), s1_n[lane].eq(shift)]

        # Stage 2: partial products of 17-bit pieces (signed top piece of acc').
        s2 = meta("pp")
        with m.If(en):
            carry(s2, s1)
        a_pieces = _signed_pieces(acc_width)
        m_pieces = _unsigned_pieces(MULT_BITS)
        s2_n = [Signal(6, name=f"pp_n_{lane}") for lane in range(lanes)]
        terms = []  # per lane: (shifted) partial products
        for lane in range(lanes):
            lane_terms = []
            for ai, (alo, ahi) in enumerate(a_pieces):
                a_part = s1_a[lane][alo:ahi]
                if ai == len(a_pieces) - 1:
                    a_part = a_part.as_signed()
                for mlo, mhi in m_pieces:
                    pp = Signal(signed(ahi - alo + mhi - mlo + 1), name=f"pp_{lane}_{alo}_{mlo}")
                    with m.If(en):
                        m.d.sync += pp.eq(a_part * s1_m[lane][mlo:mhi])
                    lane_terms.append(pp << (alo + mlo))
            terms.append(lane_terms)
            with m.If(en):
                m.d.sync += s2_n[lane].eq(s1_n[lane])

        # Adder tree, registered every four terms (carry-save, then one carry chain). The last
        # stage also registers the mask of the product bits that must equal its sign for the
        # window to hold x exactly: bits n − 1 + WINDOW − 1 and up.
        prev, prev_n = s2, s2_n
        level = 0
        masks = None
        while len(terms[0]) > 1:
            st = meta(f"sum{level}")
            st_n = [Signal(6, name=f"sum{level}_n_{lane}") for lane in range(lanes)]
            with m.If(en):
                carry(st, prev)
                m.d.sync += [st_n[lane].eq(prev_n[lane]) for lane in range(lanes)]
            next_terms = []
            for lane in range(lanes):
                group_sums = []
                for g in range(0, len(terms[lane]), 4):
                    group = terms[lane][g : g + 4]
                    total = Signal(signed(prod_width), name=f"sum{level}_{lane}_{g // 4}")
                    name = f"csa{level}_{lane}_{g // 4}"
                    expr = _carry_save_sum(m, group, prod_width, name=name)
                    with m.If(en):
                        m.d.sync += total.eq(expr)  # modulo 2^prod_width: the sum fits
                    group_sums.append(total)
                next_terms.append(group_sums)
            if len(next_terms[0]) == 1:
                masks = [Signal(prod_width, name=f"fits_from_{lane}") for lane in range(lanes)]
                for lane in range(lanes):
                    mask = Const(-1, prod_width) << (prev_n[lane] + (WINDOW - 1))
                    with m.If(en):
                        m.d.sync += masks[lane].eq(mask)
            terms, prev, prev_n = next_terms, st, st_n
            level += 1
        products = [t[0] for t in terms]

        # Stage: the coarse shift (multiples of 8) of the window and the flag "x fits".
        sw = meta("win")
        with m.If(en):
            carry(sw, prev)
        sw_y = [Signal(signed(WINDOW + 7), name=f"win_y_{lane}") for lane in range(lanes)]
        sw_n = [Signal(3, name=f"win_n_{lane}") for lane in range(lanes)]
        sw_fits = [Signal(name=f"win_fits_{lane}") for lane in range(lanes)]
        sw_sign = [Signal(name=f"win_sign_{lane}") for lane in range(lanes)]
        for lane in range(lanes):
            prod = products[lane]
            coarse = Cat(Const(0, 3), prev_n[lane][3:])
            y = shift_right_window(m, prod, coarse, WINDOW + 7, name=f"coarse_{lane}")
            sign = prod[prod_width - 1]
            fits = ~((prod ^ sign.replicate(prod_width)) & masks[lane]).any()
            with m.If(en):
                m.d.sync += [
                    sw_y[lane].eq(y),
                    sw_n[lane].eq(prev_n[lane][:3]),
                    sw_fits[lane].eq(fits),
                    sw_sign[lane].eq(sign),
                ]

        # Stage: the fine shift, x = product >> (n − 1) in WINDOW bits, then rounding and zero
        # point in one adder: ((x + 1) >> 1) + z_o = (x + 2·z_o + 1) >> 1 (2·z_o is even, so
        # it passes the floor shift). z_o is steady per job; its register is refreshed every
        # cycle, far ahead of the rows that use it.
        zp_term = Signal(signed(34))
        m.d.sync += zp_term.eq(self.q_zp * 2 + 1)
        sz = meta("zp")
        with m.If(en):
            carry(sz, sw)
        sz_v = [Signal(signed(WINDOW + 1), name=f"zp_v_{lane}") for lane in range(lanes)]
        sz_fits = [Signal(name=f"zp_fits_{lane}") for lane in range(lanes)]
        sz_sign = [Signal(name=f"zp_sign_{lane}") for lane in range(lanes)]
        for lane in range(lanes):
            x = shift_right_window(m, sw_y[lane], sw_n[lane], WINDOW, name=f"window_{lane}")
            with m.If(en):
                m.d.sync += [
                    # Raw mode keeps acc' (the low bits of the product) as it is.
                    sz_v[lane].eq(Mux(mode.raw, x, (x + zp_term) >> 1)),
                    sz_fits[lane].eq(sw_fits[lane]),
                    sz_sign[lane].eq(sw_sign[lane]),
                ]

        # Output stage: the clamp; piece k's lanes land in columns k·L + l.
        qmin, qmax = self.qmin, self.qmax
        with m.If(en):
            m.d.sync += [
                self.o.valid.eq(sz["valid"] & (sz["piece"] == pieces - 1)),
                self.o.payload.last.eq(sz["last"]),
            ]
        for lane in range(lanes):
            biased = sz_v[lane]
            in_range = Mux(biased > qmax, qmax, Mux(biased < qmin, qmin, biased))
            clamped = Signal(signed(8), name=f"clamped_{lane}")
            m.d.comb += clamped.eq(Mux(sz_fits[lane], in_range, Mux(sz_sign[lane], qmin, qmax)))
            value = Signal(32, name=f"value_{lane}")
            m.d.comb += value.eq(Mux(mode.raw, biased[:32], clamped.as_unsigned()))
            for k in range(pieces):
                c = k * lanes + lane
                if c >= cols:
                    continue
                with m.If(en & sz["valid"] & (sz["piece"] == k)):
                    m.d.sync += self.o.payload.data[c].eq(value)
