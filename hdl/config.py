"""The one configuration object of a generated systolic array."""

import dataclasses
import json
from dataclasses import dataclass

from golden.errors import UsageValueError, check_choice, check_int
from golden.formats import fp8_acc_width, int8_acc_width

#: MAC kinds the generator builds: INT8, and FP8 as activation × weight formats
#: (``e4m3xe5m2`` is E4M3 activations times E5M2 weights).
MAC_KINDS = ("int8", "e4m3", "e5m2", "e4m3xe5m2")
FP8_FORMAT_PAIRS = {
    "e4m3": ("e4m3", "e4m3"),
    "e5m2": ("e5m2", "e5m2"),
    "e4m3xe5m2": ("e4m3", "e5m2"),
}

#: How a MAC's multiplier is built: FPGA DSP blocks inferred by the vendor tool, logic (LUTs
#: and carry chains) only, an instantiated ECP5 ``MULT18X18D`` with its registers used, or
#: ECP5 primitives up to a DSP budget and logic for the remaining PEs.
MULTIPLIERS = ("dsp", "lut", "ecp5", "auto")
#: The multiplier choices that instantiate ECP5 primitives (INT8 only).
ECP5_MULTIPLIERS = ("ecp5", "auto")
#: ``MULT18X18D`` blocks of each ECP5 device (LFE5U-12F to -85F), one per ``ecp5`` PE: the
#: ``dsp_blocks`` budget that fills a device.
ECP5_DSP_BLOCKS = {"12k": 28, "25k": 28, "45k": 72, "85k": 156}

#: Largest ``rows`` and ``cols``.
MAX_DIM = 128
#: Largest ``max_k``.
MAX_K_LIMIT = 1 << 24
#: Widest accumulator per MAC kind (INT8 results leave as int64; FP8 Kulisch sums up to 256).
ACC_WIDTH_LIMIT = {"int8": 64, "e4m3": 256, "e5m2": 256, "e4m3xe5m2": 256}
#: Deepest result FIFO.
MAX_RESULT_FIFO_DEPTH = 4096


def max_mac_pipeline(mac):
    """The deepest ``mac_pipeline`` of a MAC kind: 4 for FP8 (3: the product's shift gets a
    cycle of its own; 4: the partial-sum add is segmented), 2 for INT8."""
    return 2 if mac == "int8" else 4


@dataclass(frozen=True)
class ArrayConfig:
    """Parameters of a weight-stationary systolic array.

    Parameters
    ----------
    rows : int
        PE rows R (the K direction), 1 to 128.
    cols : int
        PE columns C (the N direction), 1 to 128.
    mac : str
        MAC kind, one of :data:`MAC_KINDS`: ``int8`` (int8 weights, int8 or uint8
        activations) or an FP8 pair with exact Kulisch accumulation (docs/numerics.md §2).
    max_k : int
        Largest total reduction length K the accumulator must hold without overflow.
    acc_width : int or None
        Accumulator width in bits; ``None`` picks the smallest width that is exact for
        ``max_k`` with int8 or uint8 activations (docs/numerics.md §3.1).
    result_fifo_depth : int or None
        Result rows the output buffer holds. The array never stalls inside, so activations
        are only accepted while a slot is free for their result; ``None`` sizes it for full
        throughput with an always-ready consumer (``rows + cols + 2``, plus the MAC's extra
        pipeline stages).
    multiplier : str or None
        ``dsp`` leaves the multipliers to the FPGA's DSP blocks; ``lut`` builds them from
        logic. ``None`` picks ``dsp`` for INT8 (a 9×8 product fills a DSP well) and ``lut`` for
        FP8 (a 4×4 or 3×3 significand product is a few LUTs, faster than a trip through a DSP
        block). The generated Verilog marks LUT multipliers with ``use_dsp = "no"`` and
        ``multstyle = "logic"``, which vendor tools honour; yosys flows pass ``-nodsp``
        (``synth_ecp5``) or leave out ``-dsp`` (``synth_ice40``), as ``systolix synth`` and
        ``pnr`` do. The arithmetic is the same bit for bit.

        ``ecp5`` (INT8 only) instantiates one ECP5 ``MULT18X18D`` per PE with its input and
        output registers used, fed from the PE's operand registers
        (:class:`~hdl.arith.ecp5_mac.Ecp5Int8Mac`). Its MAC latency is 5 at the default
        ``mac_pipeline`` (the portable path's is 2), and it takes the multiplier off the
        critical path that the inferred ``dsp`` path has on ECP5, where yosys leaves its
        registers in the fabric. ``auto`` (INT8 only) gives the first ``dsp_blocks`` PEs in
        row-major order an ``ecp5`` MAC and the rest a pipelined LUT multiplier with the same
        latency (:meth:`pe_multiplier`), so an array larger than the device's DSP budget
        still fits.
    mac_pipeline : int or None
        Pipeline registers inside each PE's MAC, 0 to 2 (FP8 kinds: 0 to 4); each adds
        latency and shortens the critical path. 1 registers the product before the
        partial-sum add; 2 also registers the operands (the selected weight and the activation)
        before the multiplier; 3 (FP8 only) also registers the significand product and the
        exponent sum, so that the shift aligning the product has a cycle of its own
        (:class:`~hdl.arith.mac_fp8.Fp8Mac`); 4 (FP8 only) keeps 3's MAC but cuts its W-bit
        partial-sum add into segments of at most 16 bits whose carries travel down the column
        with the partial sum, resolved in two cycles below the column (array latency 2 more
        than at 3, results identical). ``None`` picks 2 (``systolix bench`` measures
        each depth; an 8×8 FP8 array runs faster at 3, docs/performance.md); 0 saves the
        product and operand flip-flops. With ``multiplier="ecp5"`` or ``"auto"`` it counts
        the fabric registers after the DSP block's output register instead (0 to 2; the MAC
        latency is ``3 + mac_pipeline``, :attr:`mac_latency`); 2 keeps the DSP-to-fabric
        routing and the partial-sum add in separate cycles.
    dsp_blocks : int or None
        ECP5 ``MULT18X18D`` budget, 0 to 16384 (:data:`ECP5_DSP_BLOCKS` lists the devices'):
        required by ``multiplier="auto"``; with ``ecp5`` it is checked (every PE takes one
        block); ``None`` (the default) for every other multiplier.

    Every integer parameter takes a Python or NumPy integer (stored as ``int``), never a
    ``bool``.

    Raises
    ------
    golden.errors.UsageTypeError
        If an integer parameter is not an integer.
    golden.errors.UsageValueError
        If a parameter is out of its range or not one of its choices; the message names the
        parameter and the range, e.g. ``rows must be between 1 and 128, got 0``.
    """

    rows: int = 8
    cols: int = 8
    mac: str = "int8"
    max_k: int = 4096
    acc_width: int | None = None
    result_fifo_depth: int | None = None
    multiplier: str | None = None
    mac_pipeline: int | None = None
    dsp_blocks: int | None = None

    def __post_init__(self):
        # Every integer field goes through check_int: bools are refused, NumPy integers are
        # stored as plain ints so that ``id``, ``to_json`` and hashing treat them alike.
        for name in ("rows", "cols"):
            self._set(name, check_int(name, getattr(self, name), 1, MAX_DIM))
        check_choice("mac", self.mac, MAC_KINDS)
        self._set("max_k", check_int("max_k", self.max_k, 1, MAX_K_LIMIT))
        if self.multiplier is None:
            self._set("multiplier", self.default_multiplier)
        check_choice("multiplier", self.multiplier, MULTIPLIERS)
        self._check_dsp_budget()
        if self.mac_pipeline is None:
            self._set("mac_pipeline", self.default_mac_pipeline)
        # FP8 MACs take a third stage (the product's shift in a cycle of its own); INT8 has
        # none to add. The kind is named where the range depends on it.
        hi = max_mac_pipeline(self.mac)
        where = f" for mac={self.mac}" if self.is_fp8 or self.mac_pipeline == 3 else ""
        self._set("mac_pipeline", check_int("mac_pipeline", self.mac_pipeline, 0, hi, where=where))
        need = self.min_acc_width
        if self.acc_width is None:
            self._set("acc_width", need)
        section = "§3.1" if self.mac == "int8" else "§2.3"
        where = f" for mac={self.mac} max_k={self.max_k} (docs/numerics.md {section})"
        self._set(
            "acc_width",
            check_int("acc_width", self.acc_width, need, ACC_WIDTH_LIMIT[self.mac], where=where),
        )
        if self.result_fifo_depth is None:
            self._set("result_fifo_depth", self.full_rate_fifo_depth)
        self._set(
            "result_fifo_depth",
            check_int("result_fifo_depth", self.result_fifo_depth, 1, MAX_RESULT_FIFO_DEPTH),
        )

    def _set(self, name, value):
        object.__setattr__(self, name, value)

    def _check_dsp_budget(self):
        if self.multiplier in ECP5_MULTIPLIERS and self.mac != "int8":
            allowed = ", ".join(m for m in MULTIPLIERS if m not in ECP5_MULTIPLIERS)
            raise UsageValueError(
                f"multiplier={self.multiplier!r} is INT8 only (an ECP5 MULT18X18D PE); for "
                f"mac={self.mac!r} multiplier must be one of {allowed}",
                parameter="multiplier",
            )
        if self.dsp_blocks is None:
            if self.multiplier == "auto":
                raise UsageValueError(
                    "multiplier='auto' needs dsp_blocks, the MULT18X18D budget (0 to "
                    f"{MAX_DIM * MAX_DIM}; e.g. {ECP5_DSP_BLOCKS['85k']} for an ECP5-85k)",
                    parameter="dsp_blocks",
                )
            return
        if self.multiplier not in ECP5_MULTIPLIERS:
            raise UsageValueError(
                "dsp_blocks applies to multiplier='ecp5' or 'auto' only, got dsp_blocks="
                f"{self.dsp_blocks!r} with multiplier={self.multiplier!r}",
                parameter="dsp_blocks",
            )
        self._set("dsp_blocks", check_int("dsp_blocks", self.dsp_blocks, 0, MAX_DIM * MAX_DIM))
        if self.multiplier == "ecp5" and self.dsp_blocks < self.pes:
            raise UsageValueError(
                f"dsp_blocks must be at least {self.pes} for multiplier='ecp5' on a "
                f"{self.rows}×{self.cols} array (one MULT18X18D per PE), got "
                f"{self.dsp_blocks}; multiplier='auto' maps the rest to LUTs",
                parameter="dsp_blocks",
            )

    @property
    def is_fp8(self):
        return self.mac in FP8_FORMAT_PAIRS

    @property
    def fp8_formats(self):
        """``(activation format, weight format)`` of an FP8 kind."""
        return FP8_FORMAT_PAIRS[self.mac]

    @property
    def min_acc_width(self):
        """Smallest exact accumulator width for ``max_k`` (both activation modes for INT8)."""
        if self.is_fp8:
            return fp8_acc_width(self.max_k, *self.fp8_formats)
        return max(
            int8_acc_width(self.max_k, act_unsigned=False),
            int8_acc_width(self.max_k, act_unsigned=True),
        )

    @property
    def dsp_pes(self):
        """PEs whose MAC is an ECP5 ``MULT18X18D`` (``ecp5``: all; ``auto``: up to
        ``dsp_blocks``; otherwise none)."""
        if self.multiplier == "ecp5":
            return self.pes
        if self.multiplier == "auto":
            return min(self.dsp_blocks, self.pes)
        return 0

    def pe_multiplier(self, row, col):
        """The multiplier of PE ``(row, col)``: ``ecp5`` or ``lut`` under ``auto`` (the
        first :attr:`dsp_pes` PEs in row-major order are ``ecp5``), else :attr:`multiplier`."""
        if self.multiplier != "auto":
            return self.multiplier
        return "ecp5" if row * self.cols + col < self.dsp_pes else "lut"

    @property
    def pe_multipliers(self):
        """:meth:`pe_multiplier` of every PE: a tuple of rows, each a tuple of columns."""
        return tuple(
            tuple(self.pe_multiplier(r, c) for c in range(self.cols)) for r in range(self.rows)
        )

    @property
    def pe_kinds(self):
        """The multipliers the PEs use, each once, the first PE's first."""
        if self.multiplier != "auto":
            return (self.multiplier,)
        return tuple(k for k, n in (("ecp5", self.dsp_pes), ("lut", self.pes - self.dsp_pes)) if n)

    @property
    def default_multiplier(self):
        return "lut" if self.is_fp8 else "dsp"

    @property
    def default_mac_pipeline(self):
        return 2

    @property
    def mac_latency(self):
        """Pipeline stages of the MAC beyond the PE's partial-sum register (read from the
        arithmetic, :attr:`hdl.arith.Arithmetic.mac_latency`)."""
        from hdl.arith import arithmetic_for

        return arithmetic_for(self).mac_latency

    @property
    def full_rate_fifo_depth(self):
        """Result FIFO depth at which an always-ready consumer never throttles the input.

        A row's result slot is reserved from the cycle the row is accepted until the cycle
        after its result leaves (:func:`hdl.array.array.array_latency` cycles after the row;
        the array returns a slot from a register), so two more slots than that many rows are
        needed.
        """
        from hdl.array.array import array_latency

        return array_latency(self) + 2

    @property
    def pes(self):
        return self.rows * self.cols

    @property
    def id(self):
        """Short unique name, e.g. ``r8c8-int8``; non-default widths and depths are appended."""
        name = f"r{self.rows}c{self.cols}-{self.mac}"
        if self.max_k != 4096:
            name += f"-k{self.max_k}"
        if self.acc_width != self.min_acc_width:
            name += f"-w{self.acc_width}"
        if self.result_fifo_depth != self.full_rate_fifo_depth:
            name += f"-q{self.result_fifo_depth}"
        if self.mac_pipeline != self.default_mac_pipeline:
            name += f"-p{self.mac_pipeline}"
        if self.multiplier != self.default_multiplier:
            name += f"-{self.multiplier}"
        if self.dsp_blocks is not None:
            name += f"-d{self.dsp_blocks}"
        return name

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        fields = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(fields) - known
        if unknown:
            raise UsageValueError(f"unknown ArrayConfig fields: {', '.join(sorted(unknown))}")
        return cls(**fields)

    def to_env(self):
        """Environment for a cocotb run of this configuration."""
        return {"SYSTOLIX_CONFIG": self.to_json()}
