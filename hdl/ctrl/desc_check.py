"""The descriptor check: a latched descriptor gives its error code before any AXI traffic
(accelerator §2.3 "Error codes", §3.2). The reference is :func:`golden.descriptor.check_descriptor`.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.descriptor import CHECK_ORDER, OPCODES, DescriptorLimits, ErrorCode
from golden.frontend import BIAS_EN, OUT_FP8, OUT_RAW, PER_CHANNEL_Q, QP_RECORD_BYTES
from golden.requant import SHIFT_MAX, SHIFT_MIN
from hdl.ctrl.regs import desc_layout

__all__ = ["DescriptorCheck", "reciprocal"]

#: Width of the error code output.
ERR_WIDTH = 8


def _bit(flag):
    return flag.bit_length() - 1


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


class DescriptorCheck(wiring.Component):
    """Two-stage check of a descriptor against the hardware's limits.

    Checks, first failing wins (:data:`golden.descriptor.CHECK_ORDER`): DESC_OPCODE,
    DESC_ZERO_DIM, DESC_DIM_RANGE, DESC_ALIGN, DESC_STRIDE, DESC_RANGE, DESC_QPARAM. Stage 1
    registers the simple checks, each tensor's extent end ``base + (rows−1)·stride + row bytes``
    (one multiplier per term, sized by Amaranth's exact arithmetic so nothing wraps: 66 bits
    for a 64-bit base) and which bases lie below MEM_BASE; stage 2 compares the ends with 2^AW
    and MEM_LIMIT and registers the code.

    Dimensions enter the multipliers with ``max_dim.bit_length()`` bits only: a wider value
    already fails DESC_DIM_RANGE, which has priority, so the narrowed extents are exact
    whenever they decide the code.

    Parameters
    ----------
    limits : golden.descriptor.DescriptorLimits
        The MAC kind, ``max_k``, ``max_dim`` and front-end configuration (see
        :func:`hdl.ctrl.regs.descriptor_limits`).

    Members
    -------
    desc : In(desc_layout())
        The descriptor.
    err : Out(8)
        Its :class:`~golden.descriptor.ErrorCode`, :attr:`latency` cycles later: ``desc``
        present in cycle t gives its code from cycle t + 2 on. 0 after reset.
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
        """Cycles from a descriptor to its code: 2 (two register stages)."""
        return 2

    def elaborate(self, platform):
        m = Module()
        lim = self._limits
        d = self.desc
        int8 = lim.mac == "int8"
        dim_bits = lim.max_dim.bit_length()
        tile_n = lim.frontend.tile_n

        flag = {f: d.flags[_bit(f)] for f in (OUT_RAW, OUT_FP8, PER_CHANNEL_Q, BIAS_EN)}
        if int8:
            requant = ~flag[OUT_RAW]
            uses_qp = flag[BIAS_EN] | (requant & flag[PER_CHANNEL_Q])
            out_word = flag[OUT_RAW]  # int32 outputs, else int8
        else:
            requant = uses_qp = 0  # FP8 never requantizes; the INT8 flags are ignored
            out_word = ~flag[OUT_FP8]  # binary32 outputs, else E4M3

        # Narrowed dimensions (see the class docstring) and their row counts minus one.
        m_dim, k_dim, n_dim = d.m[:dim_bits], d.k[:dim_bits], d.n[:dim_bits]
        m_less, k_less, n_less = ((x - 1)[:dim_bits] for x in (m_dim, k_dim, n_dim))

        # --- stage 1 ----------------------------------------------------------------------
        bad_opcode = 1
        for opcode in OPCODES:
            bad_opcode = bad_opcode & (d.opcode != opcode)
        zero_dim = (d.m == 0) | (d.k == 0) | (d.n == 0)
        dim_range = (d.m > lim.max_dim) | (d.n > lim.max_dim) | (d.k > lim.max_k_dim)

        beat_bits = lim.beat_bytes.bit_length() - 1
        qp_bits = lim.qp_alignment.bit_length() - 1
        strides = (
            d.a_addr,
            d.a_stride,
            d.b_addr,
            d.b_stride,
            d.b_tile_stride,
            d.c_addr,
            d.c_stride,
        )
        misaligned = 0
        for value in strides:
            misaligned = misaligned | value[:beat_bits].any()
        misaligned = misaligned | (uses_qp & d.qp_addr[:qp_bits].any())

        packed = d.b_tile_stride.any()
        c_row = Mux(out_word, n_dim << 2, n_dim)
        panel = k_less * d.b_stride + tile_n  # bytes of one packed panel
        short_stride = (
            (d.a_stride < d.k)
            | (d.c_stride < Mux(out_word, d.n << 2, d.n))
            | Mux(
                packed,
                (d.b_stride < tile_n) | (d.b_tile_stride < panel),
                d.b_stride < d.n,
            )
        )

        panels_less = _floor_div(n_less, tile_n)
        ends = {
            "a": d.a_addr + m_less * d.a_stride + k_dim,
            "b": d.b_addr
            + Mux(packed, panels_less * d.b_tile_stride + panel, k_less * d.b_stride + n_dim),
            "c": d.c_addr + m_less * d.c_stride + c_row,
            "qp": d.qp_addr + n_dim * QP_RECORD_BYTES,
        }
        used = {"a": 1, "b": 1, "c": 1, "qp": uses_qp}
        bases = {"a": d.a_addr, "b": d.b_addr, "c": d.c_addr, "qp": d.qp_addr}

        bad_qparams = requant & (
            (d.qmin > d.qmax)
            | (
                ~flag[PER_CHANNEL_Q]
                & ((d.q_shift < SHIFT_MIN) | (d.q_shift > SHIFT_MAX) | d.q_mult[31])
            )
        )

        s1 = {
            ErrorCode.DESC_OPCODE: bad_opcode,
            ErrorCode.DESC_ZERO_DIM: zero_dim,
            ErrorCode.DESC_DIM_RANGE: dim_range,
            ErrorCode.DESC_ALIGN: misaligned,
            ErrorCode.DESC_STRIDE: short_stride,
            ErrorCode.DESC_QPARAM: bad_qparams,
        }
        s1_fail = {}
        for code, value in s1.items():
            s1_fail[code] = Signal(name=f"s1_{code.name.lower()}")
            m.d.sync += s1_fail[code].eq(value)
        s1_end, s1_below = {}, Signal(name="s1_below_mem_base")
        below = 0
        for name, end in ends.items():
            s1_end[name] = Signal(end.shape(), name=f"s1_{name}_end")
            m.d.sync += s1_end[name].eq(end)
            below = below | (used[name] & (bases[name] < d.mem_base))
        s1_used_qp = Signal(name="s1_uses_qp")
        s1_mem_limit = Signal.like(d.mem_limit, name="s1_mem_limit")
        m.d.sync += [s1_below.eq(below), s1_used_qp.eq(uses_qp), s1_mem_limit.eq(d.mem_limit)]

        # --- stage 2 ----------------------------------------------------------------------
        addr_limit = lim.addr_limit
        out_of_range = s1_below
        for name, end in s1_end.items():
            outside = (end > addr_limit) | (end > s1_mem_limit)
            out_of_range = out_of_range | ((s1_used_qp if name == "qp" else 1) & outside)
        fails = {**s1_fail, ErrorCode.DESC_RANGE: out_of_range}

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
