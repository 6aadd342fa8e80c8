"""The accelerator's register map (docs/accelerator.md §2.3): one table that everything else reads.

:data:`REGS` lists every 32-bit register of the AXI4-Lite window with its offset, access,
reset value and fields. From it come the CSR block's decode (``hdl.ctrl.csr.AxiLiteCsr``), the
descriptor layout the block latches at START (:func:`desc_layout`), the constants of
testbenches and drivers (``REGS.CTRL.offset``, ``REGS.CTRL.START.mask``), the C header and the
Markdown table (:mod:`hdl.ctrl.regs_text`; ``scripts/regs.py`` writes them to files).

The error codes and the descriptor check's priority order live one layer down, in
:mod:`golden.descriptor` (the golden model needs them and may not import ``hdl``); they are
re-exported here as part of the map.
"""

import enum
from dataclasses import dataclass, field

from golden.descriptor import (
    CHECK_ORDER,
    DEFAULT_MAX_DIM,
    ERROR_DESCRIPTIONS,
    OPCODE_ATTENTION,
    OPCODE_GEMM,
    Descriptor,
    DescriptorLimits,
    ErrorCode,
)
from golden.frontend import ACT_UNSIGNED, BIAS_EN, OUT_FP8, OUT_RAW, PER_CHANNEL_Q

__all__ = [
    "CHECK_ORDER",
    "DEFAULT_MAX_DIM",
    "ERROR_DESCRIPTIONS",
    "ID_VALUE",
    "MAC_KIND_CODES",
    "OPCODE_ATTENTION",
    "OPCODE_GEMM",
    "PERF_COUNTERS",
    "REGS",
    "Access",
    "ErrSource",
    "ErrorCode",
    "Field",
    "Register",
    "RegisterMap",
    "desc_layout",
    "descriptor_from_registers",
    "descriptor_limits",
    "descriptor_registers",
    "hwcfg_values",
]

#: Bytes of the register window (the AXI4-Lite address is 12 bits).
WINDOW_BYTES = 4096
#: Register width in bits.
WORD_BITS = 32
_WORD_MASK = (1 << WORD_BITS) - 1
#: The ID register's value: "SYSX" in ASCII, first letter in the high byte.
ID_VALUE = 0x5359_5358


class Access(enum.Enum):
    """How software reaches a register or field."""

    #: Read only; writes are ignored.
    RO = "RO"
    #: Read and write; writes honour WSTRB byte by byte.
    RW = "RW"
    #: Read; writing 1 clears a bit, writing 0 leaves it.
    RW1C = "RW1C"
    #: Write 1 to act (a one-cycle pulse); self-clearing, reads 0.
    WO = "WO, self-clearing"


class ErrSource(enum.IntEnum):
    """ERR_INFO.SOURCE: where the error arose."""

    DESCRIPTOR = 0
    READ_A = 1
    READ_B = 2
    READ_QP = 3
    WRITE_C = 4


#: HWCFG0.MAC_KIND codes, by ``ArrayConfig.mac``.
MAC_KIND_CODES = {"int8": 0, "e4m3": 1, "e5m2": 2, "e4m3xe5m2": 3}


@dataclass(frozen=True)
class Field:
    """Bits ``[msb:lsb]`` of a register.

    Parameters
    ----------
    name : str
        Upper-case name, unique within the register (``VALUE`` for a whole-word field).
    msb, lsb : int
        Bit range, ``31 ≥ msb ≥ lsb ≥ 0``.
    description : str
    access : Access or None
        ``None``: the register's access.
    desc : str or None
        Name of the descriptor field (:func:`desc_layout`) this field feeds, if any.
    desc_lsb : int
        Position of the field's bit 0 in that descriptor field (32 for a ``_HI`` word).
    signed : bool
        The descriptor field is two's complement.
    """

    name: str
    msb: int
    lsb: int
    description: str
    access: Access | None = None
    desc: str | None = None
    desc_lsb: int = 0
    signed: bool = False

    def __post_init__(self):
        if not 0 <= self.lsb <= self.msb < WORD_BITS:
            raise ValueError(
                f"field {self.name} bits must satisfy 31 >= msb >= lsb >= 0, "
                f"got [{self.msb}:{self.lsb}]"
            )

    @property
    def width(self):
        return self.msb - self.lsb + 1

    @property
    def shift(self):
        """Position of the field's bit 0 in the register."""
        return self.lsb

    @property
    def mask(self):
        """The field's bits in place."""
        return ((1 << self.width) - 1) << self.lsb

    @property
    def bits(self):
        """``"[msb:lsb]"`` or ``"[bit]"``."""
        return f"[{self.msb}]" if self.width == 1 else f"[{self.msb}:{self.lsb}]"

    def extract(self, word):
        """The field's value in a register word (unsigned)."""
        return (word & self.mask) >> self.lsb


@dataclass(frozen=True)
class Register:
    """One 32-bit register of the window.

    Parameters
    ----------
    name : str
    offset : int
        Byte offset, a multiple of 4 below :data:`WINDOW_BYTES`.
    access : Access
        The register's access; each field may override it.
    reset : int or None
        Value after reset (read with an idle controller); ``None`` for a value set by the
        configuration (:func:`hwcfg_values`).
    description : str
    fields : tuple of Field
        Non-overlapping; bits outside every field read 0 and ignore writes.

    A field is an attribute: ``REGS.CTRL.START.mask``.
    """

    name: str
    offset: int
    access: Access
    reset: int | None
    description: str
    fields: tuple = field(default=())

    def __post_init__(self):
        if self.offset % 4 or not 0 <= self.offset < WINDOW_BYTES:
            raise ValueError(
                f"register {self.name} offset must be a multiple of 4 below {WINDOW_BYTES:#x}, "
                f"got {self.offset:#x}"
            )
        bound = tuple(
            f if f.access is not None else Field(**{**f.__dict__, "access": self.access})
            for f in self.fields
        )
        object.__setattr__(self, "fields", bound)
        used = 0
        for f in bound:
            if used & f.mask:
                raise ValueError(f"register {self.name}: field {f.name} overlaps another field")
            used |= f.mask
        names = [f.name for f in bound]
        if len(set(names)) != len(names):
            raise ValueError(f"register {self.name}: field names repeat: {names}")
        if self.reset is not None and self.reset & ~used & _WORD_MASK:
            raise ValueError(
                f"register {self.name}: reset {self.reset:#010x} sets bits outside its fields"
            )

    def __getattr__(self, name):
        if not name.startswith("_"):
            for f in self.__dict__.get("fields", ()):
                if f.name == name:
                    return f
        raise AttributeError(f"register {self.__dict__.get('name')!r} has no field {name!r}")

    def mask_of(self, *accesses):
        """Bits of the fields with one of ``accesses``."""
        mask = 0
        for f in self.fields:
            if f.access in accesses:
                mask |= f.mask
        return mask

    @property
    def storage_mask(self):
        """Bits held in flip-flops that software writes: RW and RW1C fields."""
        return self.mask_of(Access.RW, Access.RW1C)

    def pack(self, **values):
        """A register word from field values (unsigned, or negative for signed fields).

        Raises
        ------
        ValueError
            If a field is unknown or its value does not fit, naming the register, the field and
            the range.
        """
        word = 0
        for name, value in values.items():
            f = getattr(self, name)
            if f.signed:
                lo, hi = -(1 << (f.width - 1)), (1 << (f.width - 1)) - 1
            else:
                lo, hi = 0, (1 << f.width) - 1
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(
                    f"{self.name}.{name} must be an integer between {lo} and {hi}, got {value!r}"
                )
            word |= (value << f.lsb) & f.mask
        return word

    def unpack(self, word):
        """``{field name: unsigned value}`` of a register word."""
        return {f.name: f.extract(word) for f in self.fields}


class RegisterMap:
    """The registers of the window, by name (``REGS.CTRL``) and by offset (:meth:`at`).

    Parameters
    ----------
    registers : iterable of Register
        Unique names and offsets.
    """

    def __init__(self, registers):
        self._registers = tuple(registers)
        self._by_name = {}
        self._by_offset = {}
        for reg in self._registers:
            if reg.name in self._by_name:
                raise ValueError(f"register name {reg.name} repeats")
            if reg.offset in self._by_offset:
                other = self._by_offset[reg.offset].name
                raise ValueError(f"registers {other} and {reg.name} share offset {reg.offset:#x}")
            self._by_name[reg.name] = reg
            self._by_offset[reg.offset] = reg

    def __getattr__(self, name):
        if not name.startswith("_") and name in self.__dict__.get("_by_name", {}):
            return self._by_name[name]
        raise AttributeError(f"no register named {name!r}")

    def __getitem__(self, name):
        return self._by_name[name]

    def __contains__(self, name):
        return name in self._by_name

    def __iter__(self):
        return iter(self._registers)

    def __len__(self):
        return len(self._registers)

    def at(self, offset):
        """The register at byte ``offset`` (``addr & ~3``), or ``None`` for a reserved one."""
        return self._by_offset.get(offset & ~3)

    def desc_fields(self):
        """``[(Register, Field)]`` of every field that feeds the descriptor, in map order."""
        return [(reg, f) for reg in self for f in reg.fields if f.desc is not None]


def _word(name, offset, access, reset, description, fdesc=None, *, desc=None, desc_lsb=0, sign=0):
    """A register holding one whole-word field ``VALUE``."""
    value = Field(
        "VALUE",
        31,
        0,
        fdesc or description,
        desc=desc,
        desc_lsb=desc_lsb,
        signed=bool(sign),
    )
    return Register(name, offset, access, reset, description, (value,))


def _address(prefix, offset, what, reset=0):
    """The LO/HI pair of a 64-bit address register feeding descriptor field ``prefix``."""
    desc = prefix.lower()
    lo = _word(f"{prefix}_LO", offset, Access.RW, reset, f"{what}, bits [31:0]", desc=desc)
    hi = _word(
        f"{prefix}_HI",
        offset + 4,
        Access.RW,
        reset,
        f"{what}, bits [63:32]",
        desc=desc,
        desc_lsb=32,
    )
    return lo, hi


#: The 64-bit performance counters: (name, offset of the LO word, what they count). Each is
#: cleared by an accepted START; reading LO latches HI, so a LO-then-HI read never tears.
PERF_COUNTERS = (
    ("CYCLES", 0x100, "cycles from START to DONE"),
    ("ARRAY_BUSY", 0x108, "activation rows fired into the array"),
    ("STALL_OPERAND", 0x110, "cycles a fold was ready but its bank had not landed"),
    ("STALL_OUTPUT", 0x118, "cycles activations were blocked by result credit"),
    ("RD_BYTES", 0x120, "bytes read over m_axi"),
    ("WR_BYTES", 0x128, "bytes written over m_axi"),
    ("MACS", 0x130, "multiply-accumulates issued (fired rows times R times C)"),
)


def _perf_registers():
    for name, offset, what in PERF_COUNTERS:
        yield _word(
            f"PERF_{name}_LO",
            offset,
            Access.RO,
            0,
            f"{what} (cleared by START), bits [31:0]; reading it latches bits [63:32] into "
            f"PERF_{name}_HI",
        )
        yield _word(
            f"PERF_{name}_HI",
            offset + 4,
            Access.RO,
            0,
            f"{what}, bits [63:32] as latched by the last read of PERF_{name}_LO",
        )


def _flag(name, bit, description):
    return Field(
        name,
        bit.bit_length() - 1,
        bit.bit_length() - 1,
        description,
        desc="flags",
        desc_lsb=bit.bit_length() - 1,
    )


RO, RW, RW1C, WO = Access.RO, Access.RW, Access.RW1C, Access.WO

#: The register map (docs/accelerator.md §2.3).
REGS = RegisterMap(
    [
        _word("ID", 0x000, RO, ID_VALUE, 'identifies systolix: "SYSX"'),
        Register(
            "VERSION",
            0x004,
            RO,
            None,
            "generator version",
            (
                Field("MAJOR", 31, 16, "major"),
                Field("MINOR", 15, 8, "minor"),
                Field("PATCH", 7, 0, "patch"),
            ),
        ),
        Register(
            "HWCFG0",
            0x008,
            RO,
            None,
            "array configuration",
            (
                Field("ROWS", 7, 0, "rows R"),
                Field("COLS", 15, 8, "columns C"),
                Field("MAC_KIND", 19, 16, "MAC kind (MAC_KIND codes)"),
                Field("LOG2_BUS_BYTES", 23, 20, "log2 of the m_axi data width in bytes"),
                Field("ACC_WIDTH", 30, 24, "accumulator width W in bits"),
            ),
        ),
        Register(
            "HWCFG1",
            0x00C,
            RO,
            None,
            "tiles",
            (Field("TILE_M", 15, 0, "tile_m"), Field("TILE_N", 31, 16, "tile_n")),
        ),
        Register(
            "HWCFG2",
            0x010,
            RO,
            None,
            "tile_k and m_axi parameters",
            (
                Field("TILE_K", 15, 0, "tile_k"),
                Field("ADDR_WIDTH", 23, 16, "m_axi address width AW"),
                Field("OUTSTANDING_READS", 31, 24, "read bursts in flight at most"),
            ),
        ),
        Register(
            "HWCFG3",
            0x014,
            RO,
            None,
            "descriptor limits",
            (
                Field("MAX_DIM", 23, 0, "largest M, K or N"),
                Field("ALIGN_LOG2", 31, 24, "log2 of the alignment of bases and strides"),
            ),
        ),
        Register(
            "HWCFG4",
            0x018,
            RO,
            None,
            "attention unit: tile size (0: no attention unit)",
            (
                Field("ATT_BLOCK_LQ", 15, 0, "query rows per attention tile (0: no unit)"),
                Field("ATT_BLOCK_LK", 31, 16, "keys per attention tile (the online key block)"),
            ),
        ),
        Register(
            "HWCFG5",
            0x01C,
            RO,
            None,
            "attention unit: head sizes",
            (
                Field("ATT_MAX_D", 15, 0, "largest d"),
                Field("ATT_MAX_DV", 31, 16, "largest dv"),
            ),
        ),
        Register(
            "CTRL",
            0x020,
            RW,
            0,
            "control",
            (
                Field(
                    "START",
                    0,
                    0,
                    "latch the descriptor and start it; refused while busy (ERR_CODE BUSY)",
                    WO,
                ),
                Field("ABORT", 1, 1, "stop issuing, drain, finish with ABORTED", WO),
                Field(
                    "OPCODE",
                    7,
                    4,
                    "operation the START runs (OPCODE codes); latched with the descriptor",
                    desc="opcode",
                ),
                Field("IRQ_DONE_EN", 8, 8, "irq on IRQ_STATUS.DONE"),
                Field("IRQ_ERR_EN", 9, 9, "irq on IRQ_STATUS.ERROR"),
            ),
        ),
        Register(
            "STATUS",
            0x024,
            RO,
            0,
            "job status",
            (
                Field("BUSY", 0, 0, "a job runs"),
                Field("DONE", 1, 1, "the last job finished (cleared by START)"),
                Field("ERROR", 2, 2, "the last job, or a START, failed"),
                Field("ERR_CODE", 15, 8, "copy of ERR_INFO.CODE"),
                Field("QUEUE_DEPTH", 19, 16, "descriptors queued (reads 0: no queue yet)"),
            ),
        ),
        Register(
            "IRQ_STATUS",
            0x028,
            RW1C,
            0,
            "interrupt causes; irq = |(IRQ_STATUS & {IRQ_ERR_EN, IRQ_DONE_EN})",
            (
                Field("DONE", 0, 0, "a job finished"),
                Field("ERROR", 1, 1, "a job or a START failed"),
            ),
        ),
        Register(
            "ERR_INFO",
            0x02C,
            RO,
            0,
            "first error",
            (
                Field("CODE", 7, 0, "error code (ERR codes)"),
                Field("SOURCE", 11, 8, "where it arose (ERR_SOURCE codes)"),
            ),
        ),
        _word("ERR_ADDR_LO", 0x030, RO, 0, "address of the first failing AR/AW, bits [31:0]"),
        _word("ERR_ADDR_HI", 0x034, RO, 0, "address of the first failing AR/AW, bits [63:32]"),
        Register(
            "HWCFG6",
            0x038,
            RO,
            None,
            "attention unit: key rows",
            (
                Field("ATT_MAX_LK", 23, 0, "longest key row Lk"),
                Field("ATT_P_BITS", 31, 24, "PB of the softmax numerator P (8 or 16)"),
            ),
        ),
        _word("M", 0x040, RW, 0, "M: rows of A and C, 1 to max_dim", desc="m"),
        _word("K", 0x044, RW, 0, "K: reduction length, 1 to min(max_dim, max_k)", desc="k"),
        _word("N", 0x048, RW, 0, "N: columns of B and C, 1 to max_dim", desc="n"),
        Register(
            "FLAGS",
            0x04C,
            RW,
            0,
            "job options",
            (
                _flag("ACT_UNSIGNED", ACT_UNSIGNED, "A holds uint8 (INT8 only)"),
                _flag(
                    "OUT_RAW",
                    OUT_RAW,
                    "write raw sums: INT8 W-bit sums as int32, no requantization",
                ),
                _flag(
                    "PER_CHANNEL_Q",
                    PER_CHANNEL_Q,
                    "requantize with the QP records' M and n (INT8 only)",
                ),
                _flag("BIAS_EN", BIAS_EN, "QP records' bias as the initial sum (INT8 only)"),
                _flag("OUT_FP8", OUT_FP8, "write E4M3 codes instead of binary32 (FP8 only)"),
            ),
        ),
        *_address("A_ADDR", 0x050, "A (M x K, row m at A_ADDR + m*A_STRIDE)"),
        _word("A_STRIDE", 0x058, RW, 0, "bytes between rows of A, at least K", desc="a_stride"),
        *_address("B_ADDR", 0x060, "B (K x N, row k at B_ADDR + k*B_STRIDE)"),
        _word(
            "B_STRIDE",
            0x068,
            RW,
            0,
            "bytes between rows of B, at least N (tile_n when packed)",
            desc="b_stride",
        ),
        _word(
            "B_TILE_STRIDE",
            0x06C,
            RW,
            0,
            "0: row-major B; else bytes between packed panels of tile_n columns "
            "(panel p at B_ADDR + p*B_TILE_STRIDE)",
            desc="b_tile_stride",
        ),
        *_address("C_ADDR", 0x070, "C (M x N, row m at C_ADDR + m*C_STRIDE)"),
        _word(
            "C_STRIDE",
            0x078,
            RW,
            0,
            "bytes between rows of C, at least N times the output bytes",
            desc="c_stride",
        ),
        *_address("QP_ADDR", 0x080, "QP records (N x 16 B: int32 bias, u32 mult, u8 shift)"),
        _word("Q_MULT", 0x090, RW, 0, "per-tensor multiplier M, below 2^31", desc="q_mult"),
        Register(
            "Q_SHIFT",
            0x094,
            RW,
            0,
            "per-tensor right shift",
            (Field("SHIFT", 5, 0, "n, 1 to 62", desc="q_shift"),),
        ),
        _word("Q_ZP", 0x098, RW, 0, "output zero point z_o (int32)", desc="q_zp", sign=1),
        Register(
            "Q_CLAMP",
            0x09C,
            RW,
            0x0000_7F80,
            "output clamp (int8); ReLU and ReLU6 through the bounds",
            (
                Field("QMIN", 7, 0, "qmin (int8)", desc="qmin", signed=True),
                Field("QMAX", 15, 8, "qmax (int8)", desc="qmax", signed=True),
            ),
        ),
        *_address("MEM_BASE", 0x0A0, "lowest address a tensor may use"),
        *_address("MEM_LIMIT", 0x0A8, "end (exclusive) of the memory tensors may use", _WORD_MASK),
        _word("DV", 0x0B0, RW, 0, "ATTENTION: dv, columns of V and O", desc="dv"),
        _word(
            "V_STRIDE",
            0x0B4,
            RW,
            0,
            "ATTENTION: bytes between rows of V (V at QP_ADDR), at least dv",
            desc="v_stride",
        ),
        _word(
            "SCALE_MULT",
            0x0B8,
            RW,
            0,
            "ATTENTION: softmax scale multiplier Me, below 2^31",
            desc="scale_mult",
        ),
        Register(
            "SCALE_SHIFT",
            0x0BC,
            RW,
            0,
            "ATTENTION: softmax scale right shift",
            (Field("SHIFT", 5, 0, "ne, 1 to 62", desc="scale_shift"),),
        ),
        Register(
            "ATT_MASK",
            0x0C0,
            RW,
            0,
            "ATTENTION: mask mode",
            (Field("CAUSAL", 0, 0, "causal mask (with CAUSAL_OFFSET)", desc="causal"),),
        ),
        _word(
            "CAUSAL_OFFSET",
            0x0C4,
            RW,
            0,
            "ATTENTION: key j is valid for query i iff j <= i + CAUSAL_OFFSET (int32)",
            desc="causal_offset",
            sign=1,
        ),
        _word(
            "KEY_PAD",
            0x0C8,
            RW,
            0,
            "ATTENTION: padding keys at the end of the row (keys j >= Lk - KEY_PAD are masked)",
            desc="key_pad",
        ),
        *_perf_registers(),
    ]
)


def desc_layout():
    """The descriptor the CSR block latches at START, built from the map's ``desc`` fields.

    One ``data.StructLayout`` field per descriptor field, in map order (so ``opcode`` first),
    as wide as its register fields reach: 64-bit addresses from their LO/HI words, ``q_zp``,
    ``qmin`` and ``qmax`` signed. Names match :class:`golden.descriptor.Descriptor`.
    """
    # Amaranth only here: host software reads the map without it (host/driver.py).
    from amaranth.hdl import signed, unsigned
    from amaranth.lib import data

    widths, signs = {}, {}
    for _reg, f in REGS.desc_fields():
        widths[f.desc] = max(widths.get(f.desc, 0), f.desc_lsb + f.width)
        signs[f.desc] = signs.get(f.desc, False) or f.signed
    return data.StructLayout(
        {name: (signed if signs[name] else unsigned)(width) for name, width in widths.items()}
    )


def descriptor_registers(desc):
    """The register writes that program ``desc``: ``[(Register, word)]`` in map order.

    CTRL is left out (its OPCODE goes with the START write): use
    ``REGS.CTRL.pack(START=1, OPCODE=desc.opcode, …)``.
    """
    words = {}
    for reg, f in REGS.desc_fields():
        if reg is REGS.CTRL:
            continue
        value = getattr(desc, f.desc) >> f.desc_lsb  # arithmetic shift keeps signed fields
        words[reg.name] = words.get(reg.name, 0) | ((value << f.lsb) & f.mask)
    return [(REGS[name], word) for name, word in words.items()]


def descriptor_from_registers(words):
    """The :class:`~golden.descriptor.Descriptor` that register ``words`` (``{name: word}``,
    CTRL included for the opcode) describe."""
    values = {}
    for reg, f in REGS.desc_fields():
        part = f.extract(words[reg.name]) << f.desc_lsb
        values[f.desc] = values.get(f.desc, 0) | part
    for _reg, f in REGS.desc_fields():
        if f.signed and values[f.desc] >> (f.desc_lsb + f.width - 1):
            values[f.desc] -= 1 << (f.desc_lsb + f.width)
    return Descriptor(**values)


def descriptor_limits(array_config, frontend_config, *, max_dim=DEFAULT_MAX_DIM, attention=None):
    """The :class:`~golden.descriptor.DescriptorLimits` of an array behind a front end, with
    the attention unit ``attention`` (an :class:`~golden.descriptor.AttentionConfig`) if any."""
    return DescriptorLimits(
        mac=array_config.mac,
        max_k=array_config.max_k,
        max_dim=max_dim,
        frontend=frontend_config,
        attention=attention,
    )


def hwcfg_values(array_config, frontend_config, *, max_dim=DEFAULT_MAX_DIM, attention=None):
    """Words of the configuration registers: ``{"ID": …, "VERSION": …, "HWCFG0": …, …}``.

    Raises
    ------
    ValueError
        If a parameter does not fit its field, e.g. an accumulator wider than the 7 bits of
        HWCFG0.ACC_WIDTH (127); the message names the register and field.
    """
    from hdl.generate import GENERATOR_VERSION

    limits = descriptor_limits(array_config, frontend_config, max_dim=max_dim, attention=attention)
    major, minor, patch = (int(part) for part in GENERATOR_VERSION.split("."))
    beat = frontend_config.beat_bytes
    log2_beat = beat.bit_length() - 1
    return {
        "ID": ID_VALUE,
        "VERSION": REGS.VERSION.pack(MAJOR=major, MINOR=minor, PATCH=patch),
        "HWCFG0": REGS.HWCFG0.pack(
            ROWS=array_config.rows,
            COLS=array_config.cols,
            MAC_KIND=MAC_KIND_CODES[array_config.mac],
            LOG2_BUS_BYTES=log2_beat,
            ACC_WIDTH=array_config.acc_width,
        ),
        "HWCFG1": REGS.HWCFG1.pack(TILE_M=frontend_config.tile_m, TILE_N=frontend_config.tile_n),
        "HWCFG2": REGS.HWCFG2.pack(
            TILE_K=frontend_config.tile_k,
            ADDR_WIDTH=frontend_config.addr_width,
            OUTSTANDING_READS=frontend_config.outstanding_reads,
        ),
        "HWCFG3": REGS.HWCFG3.pack(MAX_DIM=limits.max_dim, ALIGN_LOG2=log2_beat),
        "HWCFG4": 0
        if attention is None
        else REGS.HWCFG4.pack(ATT_BLOCK_LQ=attention.block_lq, ATT_BLOCK_LK=attention.block_lk),
        "HWCFG5": 0
        if attention is None
        else REGS.HWCFG5.pack(ATT_MAX_D=attention.max_d, ATT_MAX_DV=attention.max_dv),
        "HWCFG6": 0
        if attention is None
        else REGS.HWCFG6.pack(ATT_MAX_LK=attention.max_lk, ATT_P_BITS=attention.p_bits),
    }
