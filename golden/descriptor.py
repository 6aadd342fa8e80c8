"""The descriptor check of the front end: a descriptor and the hardware's limits give one
error code (docs/accelerator.md §2.3, "Error codes"), before any AXI traffic. An ATTENTION
descriptor (:data:`OPCODE_ATTENTION`) goes through the same checks, in the same order, with
its own fields (:class:`Descriptor`).

:func:`check_descriptor` is the reference that ``hdl.ctrl.desc_check.DescriptorCheck`` must
equal code for code. The checks run in a fixed priority order (:data:`CHECK_ORDER`): the first
that fails names the error. Everything is plain Python integers: an extent is computed exactly,
so nothing wraps silently.

The error codes are defined here, the lowest layer, and re-exported by the register map
(``hdl.ctrl.regs``), which also generates the C header and the documentation from them.
"""

import enum
from dataclasses import dataclass, field, fields
from math import ceil

from golden.errors import UsageValueError, check_int
from golden.frontend import (
    BIAS_EN,
    MAC_KINDS,
    OUT_FP8,
    OUT_RAW,
    PER_CHANNEL_Q,
    QP_RECORD_BYTES,
    FrontendConfig,
)
from golden.requant import MULT_MAX, SHIFT_MAX, SHIFT_MIN


class ErrorCode(enum.IntEnum):
    """ERR_CODE values (docs/accelerator.md §2.3), as STATUS[15:8] and ERR_INFO[7:0] report them."""

    NONE = 0x00
    DESC_ZERO_DIM = 0x01
    DESC_DIM_RANGE = 0x02
    DESC_ALIGN = 0x03
    DESC_STRIDE = 0x04
    DESC_RANGE = 0x05
    DESC_QPARAM = 0x06
    BUSY = 0x07
    DESC_OPCODE = 0x08
    AXI_RD_SLVERR = 0x10
    AXI_RD_DECERR = 0x11
    AXI_WR_SLVERR = 0x12
    AXI_WR_DECERR = 0x13
    ABORTED = 0x20


#: What each error code means (the documentation and the C header's comments).
ERROR_DESCRIPTIONS = {
    ErrorCode.NONE: "none",
    ErrorCode.DESC_ZERO_DIM: "M, K or N is 0 (ATTENTION: Lq, d, Lk or DV)",
    ErrorCode.DESC_DIM_RANGE: "M or N above max_dim, or K above min(max_dim, max_k) (the "
    "accumulator would no longer be exact); ATTENTION: Lq above max_dim, d above max_d, Lk "
    "above max_lk, DV above max_dv, or KEY_PAD above Lk",
    ErrorCode.DESC_ALIGN: "an A, B or C base address or stride (or B_TILE_STRIDE) is not a "
    "multiple of the bus width in bytes; QP_ADDR (when the QP table is used) is not a multiple "
    "of max(16, bus bytes); ATTENTION: a Q, K, V or O base address or stride is not a "
    "multiple of the bus width in bytes",
    ErrorCode.DESC_STRIDE: "a row stride is below the row's bytes (A: K; B: N, or tile_n when "
    "packed; C: N times the output bytes), or B_TILE_STRIDE is below a packed panel's bytes; "
    "ATTENTION: Q or K stride below d, V or O stride below DV",
    ErrorCode.DESC_RANGE: "a tensor's extent base + (rows-1)*stride + row bytes passes 2^AW or "
    "leaves [MEM_BASE, MEM_LIMIT)",
    ErrorCode.DESC_QPARAM: "requantizing (INT8 without OUT_RAW): qmin > qmax, or, without "
    "PER_CHANNEL_Q, Q_SHIFT outside [1, 62] or Q_MULT >= 2^31; ATTENTION: SCALE_SHIFT or "
    "Q_SHIFT outside [1, 62], SCALE_MULT or Q_MULT >= 2^31, or Q_ZP outside [-128, 127]",
    ErrorCode.BUSY: "START written while busy (the START is ignored)",
    ErrorCode.DESC_OPCODE: "the CTRL opcode names an operation this hardware does not have "
    "(ATTENTION without an attention unit)",
    ErrorCode.AXI_RD_SLVERR: "a read burst answered SLVERR",
    ErrorCode.AXI_RD_DECERR: "a read burst answered DECERR",
    ErrorCode.AXI_WR_SLVERR: "a write burst answered SLVERR",
    ErrorCode.AXI_WR_DECERR: "a write burst answered DECERR",
    ErrorCode.ABORTED: "ABORT: the job stopped issuing, drained and finished",
}

#: The descriptor checks, highest priority first: the first failing check gives the code.
CHECK_ORDER = (
    ErrorCode.DESC_OPCODE,
    ErrorCode.DESC_ZERO_DIM,
    ErrorCode.DESC_DIM_RANGE,
    ErrorCode.DESC_ALIGN,
    ErrorCode.DESC_STRIDE,
    ErrorCode.DESC_RANGE,
    ErrorCode.DESC_QPARAM,
)

#: CTRL.OPCODE values: a tiled GEMM, or attention (only on hardware built with an attention
#: unit, :class:`AttentionConfig`).
OPCODE_GEMM = 0
OPCODE_ATTENTION = 1
OPCODES = (OPCODE_GEMM, OPCODE_ATTENTION)

#: Largest max_dim: the 24-bit HWCFG3 field.
MAX_DIM_LIMIT = (1 << 24) - 1
#: Default max_dim: M, K and N up to 65 535 (16-bit loop counters in the controller).
DEFAULT_MAX_DIM = (1 << 16) - 1
#: Largest max_k of an array (``hdl.config.MAX_K_LIMIT``; golden may not import hdl).
MAX_K_LIMIT = 1 << 24

_U32 = (0, (1 << 32) - 1)
_U64 = (0, (1 << 64) - 1)
#: Register-field range of each descriptor field (what the CSR block can hold).
FIELD_RANGES = {
    "opcode": (0, 15),
    "m": _U32,
    "k": _U32,
    "n": _U32,
    "flags": (0, 31),
    "a_addr": _U64,
    "a_stride": _U32,
    "b_addr": _U64,
    "b_stride": _U32,
    "b_tile_stride": _U32,
    "c_addr": _U64,
    "c_stride": _U32,
    "qp_addr": _U64,
    "q_mult": _U32,
    "q_shift": (0, 63),
    "q_zp": (-(1 << 31), (1 << 31) - 1),
    "qmin": (-128, 127),
    "qmax": (-128, 127),
    "mem_base": _U64,
    "mem_limit": _U64,
    "dv": _U32,
    "v_stride": _U32,
    "scale_mult": _U32,
    "scale_shift": (0, 63),
    "causal": (0, 1),
    "causal_offset": (-(1 << 31), (1 << 31) - 1),
    "key_pad": _U32,
}


@dataclass(frozen=True)
class Descriptor:
    """A GEMM descriptor as the CSR block latches it at START (docs/accelerator.md §2.3).

    Field names are those of ``hdl.ctrl.regs.desc_layout``; values are what the registers
    hold: addresses and strides in bytes, unsigned; ``q_zp`` (int32), ``qmin`` and ``qmax``
    (int8) signed. Each must fit its register field (:data:`FIELD_RANGES`).

    Parameters
    ----------
    opcode : int
        CTRL.OPCODE, :data:`OPCODE_GEMM`.
    m, k, n : int
        GEMM shape ``C[M×N] = A[M×K]·B[K×N]``.
    flags : int
        FLAGS bits (``golden.frontend.ACT_UNSIGNED`` …).
    a_addr, a_stride, b_addr, b_stride, b_tile_stride, c_addr, c_stride, qp_addr : int
        Tensor bases and strides; ``b_tile_stride`` 0 means row-major B.
    q_mult, q_shift, q_zp, qmin, qmax : int
        Per-tensor requantization (docs/numerics.md §3.6).
    mem_base, mem_limit : int
        Every tensor must lie in ``[mem_base, mem_limit)``.
    dv, v_stride, scale_mult, scale_shift, causal, causal_offset, key_pad : int
        ATTENTION only (:data:`OPCODE_ATTENTION`), with the GEMM fields read as: ``m`` = Lq,
        ``k`` = d, ``n`` = Lk; Q at ``a_addr``/``a_stride``, K at ``b_addr``/``b_stride``, V at
        ``qp_addr``/``v_stride``, O at ``c_addr``/``c_stride``; ``scale_mult``/``scale_shift``
        the softmax scale (Me, ne) and ``q_mult``/``q_shift``/``q_zp`` the output
        requantization (Mo, no, z_o) of ``golden.attention.attention_tile``; ``causal`` with
        ``causal_offset`` (key j is valid for query i iff ``j ≤ i + causal_offset``) and
        ``key_pad`` (the last ``key_pad`` keys are padding). ``flags``, ``qmin``, ``qmax`` and
        ``b_tile_stride`` are not used.
    """

    m: int = 1
    k: int = 1
    n: int = 1
    flags: int = 0
    opcode: int = OPCODE_GEMM
    a_addr: int = 0
    a_stride: int = 0
    b_addr: int = 0
    b_stride: int = 0
    b_tile_stride: int = 0
    c_addr: int = 0
    c_stride: int = 0
    qp_addr: int = 0
    q_mult: int = 0
    q_shift: int = 0
    q_zp: int = 0
    qmin: int = -128
    qmax: int = 127
    mem_base: int = 0
    mem_limit: int = (1 << 64) - 1
    dv: int = 0
    v_stride: int = 0
    scale_mult: int = 0
    scale_shift: int = 0
    causal: int = 0
    causal_offset: int = 0
    key_pad: int = 0

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(
                self, f.name, check_int(f.name, getattr(self, f.name), *FIELD_RANGES[f.name])
            )


#: Largest ``block_lq``, ``max_d`` and ``max_dv`` of an attention unit (the tile's own limit).
ATTENTION_DIM_LIMIT = 4096
#: Largest ``block_lk`` (a 16-bit HWCFG4 field).
ATTENTION_BLOCK_LK_LIMIT = (1 << 16) - 1
#: Largest ``max_lk``: the longest key row the golden model keeps exact.
ATTENTION_LK_LIMIT = 1 << 20


@dataclass(frozen=True)
class AttentionConfig:
    """The attention unit of an accelerator (ATTENTION descriptors, docs/attention.md §6).

    The unit runs one tile of up to ``block_lq`` query rows and ``block_lk`` keys at a time.
    A descriptor's Lq is cut into query blocks of ``block_lq`` rows; a key row longer than
    ``block_lk`` runs as key blocks of ``block_lk`` keys in the online mode (running max,
    numerics §4.3), so its result is ``golden.attention.attention_tile(..., mode="online",
    block=block_lk)``; a row of at most ``block_lk`` keys runs as one ``single`` tile.

    Parameters
    ----------
    block_lq : int
        Query rows per tile, 1 to 4096.
    block_lk : int
        Keys per tile, 1 to 65535.
    max_lk : int or None
        Longest key row (Lk) of a descriptor, ``block_lk`` to 2^20; ``None``: ``block_lk``.
    max_d, max_dv : int
        Largest d and dv, 1 to 4096.
    p_bits : int
        PB of the softmax, 8 or 16 (numerics §4.4).
    """

    block_lq: int = 64
    block_lk: int = 256
    max_lk: int | None = None
    max_d: int = 128
    max_dv: int = 128
    p_bits: int = 8

    def __post_init__(self):
        check = object.__setattr__
        check(self, "block_lq", check_int("block_lq", self.block_lq, 1, ATTENTION_DIM_LIMIT))
        check(self, "block_lk", check_int("block_lk", self.block_lk, 1, ATTENTION_BLOCK_LK_LIMIT))
        max_lk = self.block_lk if self.max_lk is None else self.max_lk
        check(self, "max_lk", check_int("max_lk", max_lk, self.block_lk, ATTENTION_LK_LIMIT))
        check(self, "max_d", check_int("max_d", self.max_d, 1, ATTENTION_DIM_LIMIT))
        check(self, "max_dv", check_int("max_dv", self.max_dv, 1, ATTENTION_DIM_LIMIT))
        if isinstance(self.p_bits, bool) or self.p_bits not in (8, 16):
            raise UsageValueError(
                f"p_bits must be one of 8, 16, got {self.p_bits!r}", parameter="p_bits"
            )

    def mode(self, lk):
        """The tile mode a key row of ``lk`` keys runs in: ``single`` or ``online``."""
        return "single" if lk <= self.block_lk else "online"


@dataclass(frozen=True)
class DescriptorLimits:
    """What the hardware allows: the array's MAC kind and ``max_k``, the front end's
    configuration, and the largest dimension its counters hold.

    Parameters
    ----------
    mac : str
        MAC kind (``golden.frontend.MAC_KINDS``): INT8 requantizes, FP8 writes binary32 or E4M3.
    max_k : int
        The array's ``max_k``: the largest K its accumulator holds exactly, 1 to 2^24.
    max_dim : int
        Largest M, K or N (HWCFG3), 1 to 2^24 − 1.
    frontend : FrontendConfig
        Bus width (alignment), address width (extents) and ``tile_n`` (packed B panels).
    attention : AttentionConfig or None
        The attention unit; ``None``: the hardware has none (ATTENTION gives DESC_OPCODE).
    """

    mac: str = "int8"
    max_k: int = 4096
    max_dim: int = DEFAULT_MAX_DIM
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    attention: AttentionConfig | None = None

    def __post_init__(self):
        if self.mac not in MAC_KINDS:
            raise ValueError(f"mac must be one of {', '.join(MAC_KINDS)}, got {self.mac!r}")
        object.__setattr__(self, "max_k", check_int("max_k", self.max_k, 1, MAX_K_LIMIT))
        object.__setattr__(self, "max_dim", check_int("max_dim", self.max_dim, 1, MAX_DIM_LIMIT))
        if not isinstance(self.frontend, FrontendConfig):
            raise TypeError(f"frontend must be a FrontendConfig, got {self.frontend!r}")
        if self.attention is not None and not isinstance(self.attention, AttentionConfig):
            raise TypeError(f"attention must be an AttentionConfig or None, got {self.attention!r}")

    @property
    def max_k_dim(self):
        """Largest K: ``min(max_dim, max_k)``."""
        return min(self.max_dim, self.max_k)

    @property
    def beat_bytes(self):
        """Alignment of every base address and stride: the bus width in bytes."""
        return self.frontend.beat_bytes

    @property
    def qp_alignment(self):
        """Alignment of QP_ADDR: a 16-byte record, and a whole beat (docs/accelerator.md
        §0: every base address is beat-aligned)."""
        return max(QP_RECORD_BYTES, self.beat_bytes)

    @property
    def addr_limit(self):
        """2^AW: no extent may pass it."""
        return 1 << self.frontend.addr_width


def output_bytes(flags, mac):
    """Bytes per element of C: INT8 writes int8 (1) or, with OUT_RAW, int32 (4); FP8 writes
    binary32 (4) or, with OUT_FP8, E4M3 (1). Flags of the other kind are ignored."""
    if mac == "int8":
        return 4 if flags & OUT_RAW else 1
    return 1 if flags & OUT_FP8 else 4


def requantizes(flags, mac):
    """Requantization applies: INT8 without OUT_RAW (docs/accelerator.md §0)."""
    return mac == "int8" and not flags & OUT_RAW


def uses_qp_table(flags, mac):
    """The QP records are read: INT8 with a bias (BIAS_EN) or per-channel requantization."""
    return mac == "int8" and bool(
        flags & BIAS_EN or (requantizes(flags, mac) and flags & PER_CHANNEL_Q)
    )


def b_packed(desc):
    """B is pre-packed in panels of tile_n columns (B_TILE_STRIDE ≠ 0)."""
    return desc.b_tile_stride != 0


def is_attention(desc):
    """The descriptor is an ATTENTION descriptor (CTRL.OPCODE = :data:`OPCODE_ATTENTION`)."""
    return desc.opcode == OPCODE_ATTENTION


def tensor_extents(desc, limits):
    """The byte range ``[start, end)`` of each tensor the descriptor reads or writes.

    ``end = base + (rows − 1)·stride + row bytes``. A GEMM: A: M rows of K bytes; B: K rows of
    N bytes, or ``ceil(N / tile_n)`` panels of K rows of ``tile_n`` bytes each (a packed panel
    is read whole); C: M rows of ``N·output_bytes``; QP (when used): N records of 16 bytes.
    ATTENTION (int8 throughout): Q: Lq rows of d bytes; K: Lk rows of d bytes; V: Lk rows of
    DV bytes; O: Lq rows of DV bytes.

    Parameters
    ----------
    desc : Descriptor
        With M, K, N (and DV for ATTENTION) ≥ 1.
    limits : DescriptorLimits

    Returns
    -------
    dict
        GEMM: ``{"a": (start, end), "b": …, "c": …}`` and ``"qp"`` when the QP table is used;
        ATTENTION: ``{"q": …, "k": …, "v": …, "o": …}``.
    """
    m, k, n = desc.m, desc.k, desc.n
    if is_attention(desc):
        lq, d, lk, dv = m, k, n, desc.dv
        return {
            "q": (desc.a_addr, desc.a_addr + (lq - 1) * desc.a_stride + d),
            "k": (desc.b_addr, desc.b_addr + (lk - 1) * desc.b_stride + d),
            "v": (desc.qp_addr, desc.qp_addr + (lk - 1) * desc.v_stride + dv),
            "o": (desc.c_addr, desc.c_addr + (lq - 1) * desc.c_stride + dv),
        }
    extents = {"a": (desc.a_addr, desc.a_addr + (m - 1) * desc.a_stride + k)}
    if b_packed(desc):
        tile_n = limits.frontend.tile_n
        panel = (k - 1) * desc.b_stride + tile_n
        panels = ceil(n / tile_n)
        extents["b"] = (desc.b_addr, desc.b_addr + (panels - 1) * desc.b_tile_stride + panel)
    else:
        extents["b"] = (desc.b_addr, desc.b_addr + (k - 1) * desc.b_stride + n)
    row_c = n * output_bytes(desc.flags, limits.mac)
    extents["c"] = (desc.c_addr, desc.c_addr + (m - 1) * desc.c_stride + row_c)
    if uses_qp_table(desc.flags, limits.mac):
        extents["qp"] = (desc.qp_addr, desc.qp_addr + QP_RECORD_BYTES * n)
    return extents


def _bad_opcode(desc, limits):
    if is_attention(desc):
        return limits.attention is None
    return desc.opcode not in OPCODES


def _zero_dim(desc, limits):
    dims = (desc.m, desc.k, desc.n, desc.dv) if is_attention(desc) else (desc.m, desc.k, desc.n)
    return 0 in dims


def _dim_range(desc, limits):
    if is_attention(desc):
        att = limits.attention
        return (
            desc.m > limits.max_dim
            or desc.k > att.max_d
            or desc.n > att.max_lk
            or desc.dv > att.max_dv
            or desc.key_pad > desc.n
        )
    return max(desc.m, desc.n) > limits.max_dim or desc.k > limits.max_k_dim


def _misaligned(desc, limits):
    beat = limits.beat_bytes
    if is_attention(desc):
        values = (
            desc.a_addr,
            desc.a_stride,
            desc.b_addr,
            desc.b_stride,
            desc.qp_addr,
            desc.v_stride,
            desc.c_addr,
            desc.c_stride,
        )
        return any(v % beat for v in values)
    values = (
        desc.a_addr,
        desc.a_stride,
        desc.b_addr,
        desc.b_stride,
        desc.b_tile_stride,
        desc.c_addr,
        desc.c_stride,
    )
    if any(v % beat for v in values):
        return True
    return uses_qp_table(desc.flags, limits.mac) and desc.qp_addr % limits.qp_alignment != 0


def _short_stride(desc, limits):
    if is_attention(desc):
        d, dv = desc.k, desc.dv
        return desc.a_stride < d or desc.b_stride < d or desc.v_stride < dv or desc.c_stride < dv
    if desc.a_stride < desc.k:
        return True
    if desc.c_stride < desc.n * output_bytes(desc.flags, limits.mac):
        return True
    if not b_packed(desc):
        return desc.b_stride < desc.n
    tile_n = limits.frontend.tile_n
    return desc.b_stride < tile_n or desc.b_tile_stride < (desc.k - 1) * desc.b_stride + tile_n


def _out_of_range(desc, limits):
    for start, end in tensor_extents(desc, limits).values():
        if end > limits.addr_limit or start < desc.mem_base or end > desc.mem_limit:
            return True
    return False


def _bad_shift(shift):
    return not SHIFT_MIN <= shift <= SHIFT_MAX


def _bad_qparams(desc, limits):
    if is_attention(desc):
        # The softmax scale (Me, ne) and the output requantization (Mo, no, z_o).
        return (
            _bad_shift(desc.scale_shift)
            or _bad_shift(desc.q_shift)
            or desc.scale_mult > MULT_MAX
            or desc.q_mult > MULT_MAX
            or not -128 <= desc.q_zp <= 127
        )
    if not requantizes(desc.flags, limits.mac):
        return False
    if desc.qmin > desc.qmax:
        return True
    if desc.flags & PER_CHANNEL_Q:
        return False  # the records' M and n are checked when they are loaded
    return _bad_shift(desc.q_shift) or desc.q_mult > MULT_MAX


_CHECKS = {
    ErrorCode.DESC_OPCODE: _bad_opcode,
    ErrorCode.DESC_ZERO_DIM: _zero_dim,
    ErrorCode.DESC_DIM_RANGE: _dim_range,
    ErrorCode.DESC_ALIGN: _misaligned,
    ErrorCode.DESC_STRIDE: _short_stride,
    ErrorCode.DESC_RANGE: _out_of_range,
    ErrorCode.DESC_QPARAM: _bad_qparams,
}


def check_descriptor(desc, limits):
    """The error code of a descriptor: the first failing check of :data:`CHECK_ORDER`.

    Parameters
    ----------
    desc : Descriptor
    limits : DescriptorLimits

    Returns
    -------
    ErrorCode
        ``ErrorCode.NONE`` for a descriptor the front end runs.
    """
    if not isinstance(desc, Descriptor):
        raise TypeError(f"desc must be a Descriptor, got {desc!r}")
    if not isinstance(limits, DescriptorLimits):
        raise TypeError(f"limits must be a DescriptorLimits, got {limits!r}")
    for code in CHECK_ORDER:
        if _CHECKS[code](desc, limits):
            return code
    return ErrorCode.NONE
