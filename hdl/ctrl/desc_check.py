"""The descriptor check: a latched GEMM or ATTENTION descriptor gives its error code before
any AXI traffic (accelerator §2.3 "Error codes", §3.2). The reference is
:func:`golden.descriptor.check_descriptor`.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.descriptor import (
    CHECK_ORDER,
    OPCODE_ATTENTION,
    OPCODES,
    DescriptorLimits,
    ErrorCode,
)
from golden.frontend import BIAS_EN, OUT_FP8, OUT_RAW, PER_CHANNEL_Q, QP_RECORD_BYTES
from golden.requant import SHIFT_MAX, SHIFT_MIN
from hdl.ctrl.regs import desc_layout

__all__ = ["CHECK_LATENCY", "DescriptorCheck", "reciprocal"]

#: Width of the error code output.
ERR_WIDTH = 8
#: Cycles from a descriptor to its code (:attr:`DescriptorCheck.latency`).
CHECK_LATENCY = 7


def _bit(flag):
    return flag.bit_length() - 1


def _bad_shift(shift):
    """A requantization shift outside ``[SHIFT_MIN, SHIFT_MAX]``."""
    return (shift < SHIFT_MIN) | (shift > SHIFT_MAX)


def reciprocal(divisor, bits):
    """``(mult, shift)`` with ``(x·mult) >> shift == x // divisor`` for every ``0 ≤ x < 2^bits``
    (Granlund and Montgomery, "Division by invariant integers using multiplication", 1994,
    theorem 4.2: ``shift = bits + ceil(log2 divisor)``, ``mult = ceil(2^shift / divisor)``)."""
    shift = bits + (divisor - 1).bit_length()
    return -(-(1 << shift) // divisor), shift


def _floor_div(value, divisor):
    """``value // divisor`` for a constant ``divisor``: a shift for a power of two, else a
    multiplication by :func:`reciprocal` (no divider in the netlist)."""
    if divisor & (divisor - 1) == 0:
        return value >> (divisor.bit_length() - 1)
    mult, shift = reciprocal(divisor, len(value))
    return (value * mult) >> shift


#: Bits of the wide factor each partial product of :func:`_pipelined_product` takes: one
#: 18×18 DSP multiplier each with a narrow factor of up to 17 bits.
PRODUCT_SLICE = 16


def _delay(m, value, cycles, *, name):
    """``value`` through ``cycles`` registers (a constant stays as it is)."""
    if isinstance(value, int):
        return value
    for i in range(cycles):
        reg = Signal(value.shape(), name=f"{name}_d{i + 1}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


def _pipelined_product(m, narrow, wide, *, name):
    """``narrow · wide`` (both unsigned) three cycles later, with at most one narrow-by-16-bit
    product or one two-input add between registers: the partial products of 16-bit slices
    of ``wide``, then their pairwise sums, then the total."""
    slices = [wide[i : i + PRODUCT_SLICE] for i in range(0, len(wide), PRODUCT_SLICE)]
    terms = []
    for j, part in enumerate(slices):
        reg = Signal(len(narrow) + len(part), name=f"{name}_pp{j}")
        m.d.sync += reg.eq(narrow * part)
        terms.append((reg, j * PRODUCT_SLICE))
    if len(terms) > 4:
        raise ValueError(f"{name}: {len(wide)} bits is wider than four slices")
    for stage in (1, 2):
        paired = []
        for i in range(0, len(terms), 2):
            (low, low_shift), *high = terms[i : i + 2]
            value = low if not high else low + (high[0][0] << (high[0][1] - low_shift))
            reg = Signal(len(value), name=f"{name}_s{stage}_{i // 2}")
            m.d.sync += reg.eq(value)
            paired.append((reg, low_shift))
        terms = paired
    ((value, shift),) = terms
    return value << shift


class DescriptorCheck(wiring.Component):
    """Pipelined check of a descriptor against the hardware's limits.

    Checks, first failing wins (:data:`golden.descriptor.CHECK_ORDER`): DESC_OPCODE,
    DESC_ZERO_DIM, DESC_DIM_RANGE, DESC_ALIGN, DESC_STRIDE, DESC_RANGE, DESC_QPARAM. Each
    tensor's extent end ``base + (rows−1)·stride + row bytes`` is computed wide enough never to
    wrap (66 bits for a 64-bit base). The pipeline takes a descriptor every cycle and keeps
    at most one narrow multiplier or one wide add or compare between registers, so the check
    is never the accelerator's critical path:

    - cycles 1–3: the ``(rows−1)·stride`` products (:func:`_pipelined_product`), the simple
      checks and the bases below MEM_BASE;
    - cycle 4: the packed-B sum of two products, the packed panel size (for DESC_STRIDE);
    - cycle 5: the ends; cycle 6: the ends against 2^AW and MEM_LIMIT;
    - cycle 7: the first failing check's code.

    An ATTENTION descriptor (only with ``limits.attention``; without it, it is DESC_OPCODE)
    has its own rules for each check (:func:`golden.descriptor.check_descriptor`) and puts its
    four tensors in the same four extent slots, selected by the opcode in cycle 0: A holds Q
    (Lq rows of d bytes), B holds K (Lk rows of d bytes, never packed), C holds O (Lq rows of
    DV bytes) and the QP slot holds V (Lk rows of DV bytes at QP_ADDR), whose
    ``(Lk−1)·V_STRIDE`` has a fifth product, zero for a GEMM. Without an attention unit none
    of this logic is generated.

    Dimensions enter the multipliers with the fewest bits that hold every value passing
    DESC_DIM_RANGE: ``max_dim.bit_length()`` for a GEMM's M, K and N and for Lq, and with an
    attention unit also those of ``max_d`` (d), ``max_lk`` (Lk) and ``max_dv`` (DV). A wider
    value already fails DESC_DIM_RANGE, which has priority, so the narrowed extents are exact
    whenever they decide the code.

    Parameters
    ----------
    limits : golden.descriptor.DescriptorLimits
        The MAC kind, ``max_k``, ``max_dim``, front-end configuration and attention unit
        (see :func:`hdl.ctrl.regs.descriptor_limits`).

    Members
    -------
    desc : In(desc_layout())
        The descriptor.
    err : Out(8)
        Its :class:`~golden.descriptor.ErrorCode`, :attr:`latency` cycles later: ``desc``
        present in cycle t gives its code from cycle t + latency on. 0 after reset.
    """

    def __init__(self, limits):
        if not isinstance(limits, DescriptorLimits):
            raise TypeError(f"limits must be a DescriptorLimits, not {limits!r}")
        self._limits = limits
        super().__init__({"desc": In(desc_layout()), "err": Out(ERR_WIDTH)})

    @property
    def limits(self):
        return self._limits

    @property
    def latency(self):
        """Cycles from a descriptor to its code: :data:`CHECK_LATENCY` register stages."""
        return CHECK_LATENCY

    def elaborate(self, platform):
        m = Module()
        lim = self._limits
        att = lim.attention
        d = self.desc
        int8 = lim.mac == "int8"
        tile_n = lim.frontend.tile_n

        flag = {f: d.flags[_bit(f)] for f in (OUT_RAW, OUT_FP8, PER_CHANNEL_Q, BIAS_EN)}
        if int8:
            requant = ~flag[OUT_RAW]
            uses_qp = flag[BIAS_EN] | (requant & flag[PER_CHANNEL_Q])
            out_word = flag[OUT_RAW]  # int32 outputs, else int8
        else:
            requant = uses_qp = 0  # FP8 never requantizes; the INT8 flags are ignored
            out_word = ~flag[OUT_FP8]  # binary32 outputs, else E4M3

        # Narrowed dimensions (see the class docstring) and their row counts minus one. Each
        # width holds the largest value that passes DESC_DIM_RANGE for either opcode.
        dim_bits = lim.max_dim.bit_length()
        m_bits = k_bits = n_bits = dim_bits
        if att is not None:
            k_bits = max(dim_bits, att.max_d.bit_length())
            n_bits = max(dim_bits, att.max_lk.bit_length())
        m_dim, k_dim, n_dim = d.m[:m_bits], d.k[:k_bits], d.n[:n_bits]
        m_less, k_less, n_less = (
            (x - 1)[:bits] for x, bits in ((m_dim, m_bits), (k_dim, k_bits), (n_dim, n_bits))
        )

        # --- cycle 0: the checks without products -------------------------------------------
        # Without an attention unit nothing below depends on the ATTENTION fields.
        is_att = (d.opcode == OPCODE_ATTENTION) if att is not None else 0
        bad_opcode = 1
        for opcode in OPCODES:
            if opcode != OPCODE_ATTENTION or att is not None:
                bad_opcode = bad_opcode & (d.opcode != opcode)
        zero_dim = (d.m == 0) | (d.k == 0) | (d.n == 0)
        dim_range = (d.m > lim.max_dim) | (d.n > lim.max_dim) | (d.k > lim.max_k_dim)

        beat_bits = lim.beat_bytes.bit_length() - 1
        qp_bits = lim.qp_alignment.bit_length() - 1
        common = (d.a_addr, d.a_stride, d.b_addr, d.b_stride, d.c_addr, d.c_stride)
        misaligned = 0
        for value in common:
            misaligned = misaligned | value[:beat_bits].any()
        gemm_misaligned = d.b_tile_stride[:beat_bits].any() | (uses_qp & d.qp_addr[:qp_bits].any())

        packed = d.b_tile_stride.any()
        c_row = Mux(out_word, n_dim << 2, n_dim)
        # DESC_STRIDE but for the packed panel size, which needs a product (cycle 4).
        short_stride_now = (
            (d.a_stride < d.k)
            | (d.c_stride < Mux(out_word, d.n << 2, d.n))
            | Mux(packed, d.b_stride < tile_n, d.b_stride < d.n)
        )

        bad_qparams = requant & (
            (d.qmin > d.qmax) | (~flag[PER_CHANNEL_Q] & (_bad_shift(d.q_shift) | d.q_mult[31]))
        )
        used_qp = uses_qp
        # The end of each tensor minus its product term: base plus the last row's bytes.
        offsets = {
            "a": d.a_addr + k_dim,
            # unpacked: + (K−1)·stride + N; packed: + panels·tile stride + (K−1)·stride + Tn
            "b": d.b_addr + Mux(packed, tile_n, n_dim),
            "c": d.c_addr + c_row,
            "qp": d.qp_addr + n_dim * QP_RECORD_BYTES,
        }
        b_rows_less = k_less

        if att is not None:
            # ATTENTION reads its fields into the same four slots: a = Q (Lq rows of d bytes,
            # as A), b = K (Lk rows of d bytes, never packed), c = O (Lq rows of DV bytes) and
            # qp = V (Lk rows of DV bytes, with a product of its own).
            dv_dim = d.dv[: att.max_dv.bit_length()]
            zero_dim = zero_dim | (is_att & (d.dv == 0))
            dim_range = Mux(
                is_att,
                (d.m > lim.max_dim)
                | (d.k > att.max_d)
                | (d.n > att.max_lk)
                | (d.dv > att.max_dv)
                | (d.key_pad > d.n),
                dim_range,
            )
            att_misaligned = d.qp_addr[:beat_bits].any() | d.v_stride[:beat_bits].any()
            misaligned = misaligned | Mux(is_att, att_misaligned, gemm_misaligned)
            short_stride_now = Mux(
                is_att,
                (d.a_stride < d.k) | (d.b_stride < d.k) | (d.v_stride < d.dv) | (d.c_stride < d.dv),
                short_stride_now,
            )
            att_qparams = (
                _bad_shift(d.scale_shift)
                | _bad_shift(d.q_shift)
                | d.scale_mult[31]
                | d.q_mult[31]
                | (d.q_zp < -128)
                | (d.q_zp > 127)
            )
            bad_qparams = Mux(is_att, att_qparams, bad_qparams)
            packed = packed & ~is_att
            used_qp = is_att | uses_qp
            offsets["b"] = d.b_addr + Mux(is_att, k_dim, Mux(packed, tile_n, n_dim))
            offsets["c"] = d.c_addr + Mux(is_att, dv_dim, c_row)
            offsets["qp"] = d.qp_addr + Mux(is_att, dv_dim, n_dim * QP_RECORD_BYTES)
            b_rows_less = Mux(is_att, n_less, k_less)
        else:
            misaligned = misaligned | gemm_misaligned

        used = {"a": 1, "b": 1, "c": 1, "qp": used_qp}
        bases = {"a": d.a_addr, "b": d.b_addr, "c": d.c_addr, "qp": d.qp_addr}
        below = 0
        for name, base in bases.items():
            below = below | (used[name] & (base < d.mem_base))

        # --- cycles 1–3: products -------------------------------------------------------------
        # Only a GEMM has panels: its N fits max_dim's bits whenever DIM_RANGE passes.
        panels_less = _floor_div(n_less[:dim_bits], tile_n)
        a_product = _pipelined_product(m, m_less, d.a_stride, name="a_rows")
        b_product = _pipelined_product(m, b_rows_less, d.b_stride, name="b_rows")
        panels_product = _pipelined_product(m, panels_less, d.b_tile_stride, name="b_panels")
        c_product = _pipelined_product(m, m_less, d.c_stride, name="c_rows")
        if att is not None:
            # V's (Lk−1)·v_stride, zero for a GEMM (its QP records need no product).
            v_rows_less = Mux(is_att, n_less, 0)
            v_product = _pipelined_product(m, v_rows_less, d.v_stride, name="v_rows")
            qp_sum = _delay(m, v_product, 1, name="qp_sum")
        else:
            qp_sum = 0

        # --- cycle 4: packed B's sum and panel size -------------------------------------------
        packed_3 = _delay(m, packed, 3, name="packed")
        b_sum = Signal(len(b_product) + 1, name="b_sum")
        b_panel_short = Signal(name="b_panel_short")
        # b_tile_stride < (K−1)·b_stride + Tn, with the subtraction done in cycle 0.
        spare = Signal(len(d.b_tile_stride) + 1, name="b_tile_spare")
        m.d.comb += spare.eq(d.b_tile_stride - tile_n)
        spare_3 = _delay(m, spare[:-1], 3, name="b_tile_spare")
        negative_3 = _delay(m, spare[-1], 3, name="b_tile_below_tn")
        m.d.sync += [
            b_sum.eq(Mux(packed_3, panels_product + b_product, b_product)),
            b_panel_short.eq(packed_3 & (negative_3 | (spare_3 < b_product))),
        ]
        sums = {
            "a": _delay(m, a_product, 1, name="a_sum"),
            "b": b_sum,
            "c": _delay(m, c_product, 1, name="c_sum"),
            "qp": qp_sum,
        }

        # --- cycle 5: the ends ----------------------------------------------------------------
        ends = {}
        for name, offset in offsets.items():
            offset_4 = _delay(m, offset, 4, name=f"{name}_offset")
            end = offset_4 + sums[name]
            ends[name] = Signal(end.shape(), name=f"{name}_end")
            m.d.sync += ends[name].eq(end)

        # --- cycle 6: the ends against the limits --------------------------------------------
        mem_limit_5 = _delay(m, d.mem_limit, 5, name="mem_limit")
        uses_qp_5 = _delay(m, used_qp, 5, name="uses_qp")
        outside = 0
        for name, end in ends.items():
            beyond = (end > lim.addr_limit) | (end > mem_limit_5)
            outside = outside | ((uses_qp_5 if name == "qp" else 1) & beyond)
        out_of_range = Signal(name="out_of_range")
        m.d.sync += out_of_range.eq(outside | _delay(m, below, 5, name="below_mem_base"))

        fails = {
            ErrorCode.DESC_OPCODE: bad_opcode,
            ErrorCode.DESC_ZERO_DIM: zero_dim,
            ErrorCode.DESC_DIM_RANGE: dim_range,
            ErrorCode.DESC_ALIGN: misaligned,
            ErrorCode.DESC_QPARAM: bad_qparams,
        }
        fails = {code: _delay(m, v, 6, name=code.name.lower()) for code, v in fails.items()}
        stride_4 = _delay(m, short_stride_now, 4, name="short_stride") | b_panel_short
        fails[ErrorCode.DESC_STRIDE] = _delay(m, stride_4, 2, name="stride")
        fails[ErrorCode.DESC_RANGE] = out_of_range

        # --- cycle 7: the first failing check -------------------------------------------------
        if set(fails) != set(CHECK_ORDER):
            raise RuntimeError(f"checks {sorted(fails)} differ from {sorted(CHECK_ORDER)}")
        order = list(CHECK_ORDER)
        with m.If(fails[order[0]]):
            m.d.sync += self.err.eq(order[0])
        for code in order[1:]:
            with m.Elif(fails[code]):
                m.d.sync += self.err.eq(code)
        with m.Else():
            m.d.sync += self.err.eq(ErrorCode.NONE)
        return m
