"""GEMM jobs for the accelerator testbench: a memory image, a descriptor and what C must hold.

:func:`make_job` lays A, B, the QP records and C out in memory the way a host program would
(base addresses and strides multiples of the bus width, optional gaps between rows filled with
sentinel bytes), computes C with the golden tiled model (:func:`golden.frontend.frontend_gemm`)
and returns an :class:`AccelJob`: everything the cocotb testbench needs, as plain data that
pickles. NumPy only; no cocotb, no Amaranth.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from golden.descriptor import Descriptor, ErrorCode, output_bytes, uses_qp_table
from golden.frontend import (
    ACT_UNSIGNED,
    BIAS_EN,
    OUT_FP8,
    OUT_RAW,
    PER_CHANNEL_Q,
    QP_RECORD_BYTES,
    FrontendConfig,
    frontend_gemm,
)

__all__ = [
    "AccelJob",
    "act_rows",
    "make_job",
    "operand_address",
    "qp_records",
    "random_job",
    "with_error",
    "with_faults",
]

#: Byte that fills every gap in A, B and C before a job: a stray read shows up as a wrong
#: result, a stray write as a changed sentinel.
SENTINEL = 0xA5
#: Where the tensors of a job start (above it: A, B, QP, C in that order, 4 KiB apart).
MEMORY_BASE = 0x0010_0000


def _round_up(value, step):
    return -(-value // step) * step


@dataclass
class AccelJob:
    """One accelerator run: memory writes, the descriptor, and the expected outcome.

    Members
    -------
    desc : golden.descriptor.Descriptor
    regions : list of (int, bytes)
        Memory to write before START (tensors with their gap bytes, C's sentinel fill).
    c_rows : list of (int, bytes)
        ``(address, expected bytes)`` of every row of C (``N·ob`` bytes each).
    c_extent : (int, int, int, int)
        ``(c_addr, c_stride, row_bytes, rows)``: the bytes the accelerator may write.
    expect_error : int
        The ERR_CODE the job must end with (0: success).
    faults : list of dict
        Memory faults to inject: ``{"addr", "kind": "read"|"write", "resp": "SLVERR"|"DECERR"}``.
    options : dict
        Testbench options (pauses, ``abort_after``, ``reset_after``; see
        ``tb.tb_accel.AccelTB.run``).
    label : str
    expect_source : int or None
        The ERR_INFO.SOURCE the job must report (``None``: not checked).
    expect_c : bool or None
        C must equal ``c_rows`` (``None``: when no error is expected).
    beat_bytes, pes : int
        Bus bytes per beat and the array's R·C (performance counter checks).
    act_rows : int
        Activation rows the whole GEMM fires into the array (PERF_ARRAY_BUSY of a complete
        job).
    command_origins : frozenset of int
        The first byte of every tile the controller reads or writes: the address of the
        first burst of each DMA command (:func:`command_origins`).
    """

    desc: Descriptor
    regions: list
    c_rows: list
    c_extent: tuple
    expect_error: int = 0
    faults: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    label: str = ""
    expect_source: int | None = None
    expect_c: bool | None = None
    beat_bytes: int = 0
    pes: int = 0
    act_rows: int = 0
    command_origins: frozenset = frozenset()

    @property
    def compare_c(self):
        """C must be bit-exact after this job."""
        return not self.expect_error if self.expect_c is None else self.expect_c

    def as_dict(self):
        return {
            "desc": {f: getattr(self.desc, f) for f in self.desc.__dataclass_fields__},
            "regions": self.regions,
            "c_rows": self.c_rows,
            "c_extent": self.c_extent,
            "expect_error": int(self.expect_error),
            "faults": self.faults,
            "options": self.options,
            "label": self.label,
        }


def qp_records(n, *, bias=None, mult=None, shift=None):
    """The QP table of N columns: 16-byte records ``{int32 bias, u32 mult, u8 shift, 0…}``."""
    out = bytearray()
    for j in range(n):
        out += int(0 if bias is None else bias[j]).to_bytes(4, "little", signed=True)
        out += int(0 if mult is None else mult[j]).to_bytes(4, "little")
        out += bytes([int(0 if shift is None else shift[j])]) + bytes(7)
    return bytes(out)


def _rows_image(matrix_bytes, stride, rng):
    """Rows of ``matrix_bytes`` (a 2-D uint8 array) at ``stride`` bytes, gaps random."""
    rows, width = matrix_bytes.shape
    image = bytearray(rng.integers(0, 256, rows * stride, dtype=np.uint8).tobytes())
    for r in range(rows):
        image[r * stride : r * stride + width] = matrix_bytes[r].tobytes()
    return bytes(image)


def make_job(
    array_config,
    frontend_config,
    a,
    b,
    *,
    flags=0,
    q_mult=1 << 30,
    q_shift=31,
    q_zp=0,
    qmin=-128,
    qmax=127,
    qp_bias=None,
    qp_mult=None,
    qp_shift=None,
    gaps=(0, 0, 0),
    base=MEMORY_BASE,
    rng=None,
    label="",
    **options,
):
    """An :class:`AccelJob` computing ``C = A·B`` with the given flags and parameters.

    ``gaps`` = extra beats per row of A, B and C (strides ``round_up(row, W) + gap·W``); the
    gap bytes of A and B are random, those of C the :data:`SENTINEL`.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    cfg = frontend_config if frontend_config is not None else FrontendConfig()
    w = cfg.beat_bytes
    mac = array_config.mac
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    m, k = a.shape
    n = b.shape[1]
    ob = output_bytes(flags, mac)

    lda = _round_up(k, w) + gaps[0] * w
    ldb = _round_up(n, w) + gaps[1] * w
    ldc = _round_up(n * ob, w) + gaps[2] * w
    a_bytes = (a & 0xFF).astype(np.uint8)
    b_bytes = (b & 0xFF).astype(np.uint8)
    page = 4096
    a_addr = base
    b_addr = _round_up(a_addr + m * lda, page) + w * int(rng.integers(0, 4))
    qp_addr = _round_up(b_addr + k * ldb, page)
    c_addr = _round_up(qp_addr + QP_RECORD_BYTES * n, page) + w * int(rng.integers(0, 4))
    regions = [(a_addr, _rows_image(a_bytes, lda, rng)), (b_addr, _rows_image(b_bytes, ldb, rng))]
    int8 = mac == "int8"
    if int8 and flags & (BIAS_EN | PER_CHANNEL_Q):
        regions.append((qp_addr, qp_records(n, bias=qp_bias, mult=qp_mult, shift=qp_shift)))
    regions.append((c_addr, bytes([SENTINEL]) * (m * ldc)))

    golden_flags = flags & ~(OUT_FP8 if int8 else (ACT_UNSIGNED | PER_CHANNEL_Q | BIAS_EN))
    c = frontend_gemm(
        a,
        b,
        rows=array_config.rows,
        cols=array_config.cols,
        config=cfg,
        mac=mac,
        acc_width=array_config.acc_width if int8 else None,
        flags=golden_flags,
        q_mult=q_mult if int8 and not flags & (OUT_RAW | PER_CHANNEL_Q) else None,
        q_shift=q_shift if int8 and not flags & (OUT_RAW | PER_CHANNEL_Q) else None,
        q_zp=q_zp,
        qmin=qmin,
        qmax=qmax,
        qp_bias=qp_bias if int8 and flags & BIAS_EN else None,
        qp_mult=qp_mult if int8 and flags & PER_CHANNEL_Q and not flags & OUT_RAW else None,
        qp_shift=qp_shift if int8 and flags & PER_CHANNEL_Q and not flags & OUT_RAW else None,
    )
    if ob == 1:  # int8 values or E4M3 codes
        c_bits = (np.asarray(c).astype(np.int64) & 0xFF).astype("<u1")
    else:  # int32 sums or binary32 patterns
        c_bits = np.ascontiguousarray(c).astype(c.dtype.newbyteorder("<")).view("<u4")
    c_rows = [(c_addr + r * ldc, c_bits[r].tobytes()) for r in range(m)]
    desc = Descriptor(
        m=m,
        k=k,
        n=n,
        flags=flags,
        a_addr=a_addr,
        a_stride=lda,
        b_addr=b_addr,
        b_stride=ldb,
        c_addr=c_addr,
        c_stride=ldc,
        qp_addr=qp_addr if uses_qp_table(flags, mac) else 0,
        q_mult=q_mult,
        q_shift=q_shift,
        q_zp=q_zp,
        qmin=qmin,
        qmax=qmax,
    )
    return AccelJob(
        desc=desc,
        regions=regions,
        c_rows=c_rows,
        c_extent=(c_addr, ldc, n * ob, m),
        options=options,
        label=label or f"{m}x{k}x{n} flags={flags:#x}",
        beat_bytes=w,
        pes=array_config.rows * array_config.cols,
        act_rows=act_rows(array_config, cfg, m, k, n),
        command_origins=command_origins(desc, cfg, ob),
    )


def command_origins(desc, frontend_config, out_bytes):
    """The first byte of every A, B, QP and C tile of ``desc`` (unpacked B): where each of
    the controller's read and write commands starts its first burst. A burst of a command
    already under way never starts at another tile's first byte, since tiles do not overlap."""
    cfg, d = frontend_config, desc
    m_starts = range(0, d.m, cfg.tile_m)
    n_starts = range(0, d.n, cfg.tile_n)
    k_starts = range(0, d.k, cfg.tile_k)
    origins = {d.a_addr + m0 * d.a_stride + k0 for m0 in m_starts for k0 in k_starts}
    origins |= {d.b_addr + k0 * d.b_stride + n0 for k0 in k_starts for n0 in n_starts}
    origins |= {d.c_addr + m0 * d.c_stride + n0 * out_bytes for m0 in m_starts for n0 in n_starts}
    if d.qp_addr:
        origins |= {d.qp_addr + n0 * QP_RECORD_BYTES for n0 in n_starts}
    return frozenset(origins)


def act_rows(array_config, frontend_config, m, k, n):
    """Activation rows a complete M×K×N job fires into the array: per k-tile, ``tm`` rows for
    each of its ``ceil(tn/C)·ceil(tk/R)`` folds (docs/accelerator.md §3.3)."""
    cfg = frontend_config
    rows, cols = array_config.rows, array_config.cols
    total = 0
    for m0 in range(0, m, cfg.tile_m):
        tm = min(cfg.tile_m, m - m0)
        for n0 in range(0, n, cfg.tile_n):
            tn = min(cfg.tile_n, n - n0)
            for k0 in range(0, k, cfg.tile_k):
                tk = min(cfg.tile_k, k - k0)
                total += -(-tn // cols) * -(-tk // rows) * tm
    return total


def operand_address(job, operand, row, col):
    """Byte address of element ``(row, col)`` of ``operand`` (``"A"``, ``"B"``, ``"C"``, or
    ``"QP"``: byte ``col`` of record ``row``) of ``job``; negative indices count from the end
    (``row=-1, col=-1``: the tensor's last byte that is read or written)."""
    d = job.desc
    shapes = {
        "A": (d.a_addr, d.a_stride, d.m, d.k),
        "B": (d.b_addr, d.b_stride, d.k, d.n),
        "C": (d.c_addr, d.c_stride, d.m, job.c_extent[2]),
        "QP": (d.qp_addr, QP_RECORD_BYTES, d.n, QP_RECORD_BYTES),
    }
    base, stride, rows, width = shapes[operand]
    row, col = row % rows, col % width
    return base + row * stride + col


def with_faults(job, faults, code, source, **options):
    """``job`` with memory ``faults`` (see ``tb.drivers.memory.Fault.cast``) and the error
    ``code`` and ERR_INFO.SOURCE ``source`` expected; ``options`` are added."""
    return replace(
        job,
        faults=list(faults),
        expect_error=int(code),
        expect_source=int(source),
        options={**job.options, **options},
        label=f"{job.label} {code.name} {source.name} {options}".rstrip(" {}"),
    )


def random_job(array_config, frontend_config, rng, *, m, k, n, flags=0, gaps=None, **options):
    """A job with random operands and, for INT8, random but sensible requantization
    parameters (outputs spread over the int8 range rather than all clamped)."""
    from tb.runtime import random_operands

    act_unsigned = bool(flags & ACT_UNSIGNED) and array_config.mac == "int8"
    a, b = random_operands(array_config, rng, m, k, n, act_unsigned=act_unsigned)
    gaps = tuple(int(g) for g in rng.integers(0, 3, 3)) if gaps is None else gaps
    params = {}
    if array_config.mac == "int8":
        # |acc| is about 128·128·sqrt(K)/3; choose M/2^n to map a few sigma onto ±128.
        spread = 128 * 128 * max(1.0, np.sqrt(k)) / 2
        shift = int(np.clip(np.ceil(np.log2(spread / 128)) + 30, 1, 62))
        params = dict(
            q_mult=int(rng.integers(1 << 29, 1 << 31)),
            q_shift=shift,
            q_zp=int(rng.integers(-20, 21)),
            qmin=-128,
            qmax=127,
        )
        if flags & BIAS_EN:
            params["qp_bias"] = rng.integers(-(1 << 20), 1 << 20, n)
        if flags & PER_CHANNEL_Q:
            params["qp_mult"] = rng.integers(1 << 29, 1 << 31, n)
            params["qp_shift"] = np.clip(shift + rng.integers(-2, 3, n), 1, 62)
    return make_job(array_config, frontend_config, a, b, flags=flags, gaps=gaps, rng=rng,
                    **params, **options)  # fmt: skip


def with_error(job, code, **desc_changes):
    """``job`` with its descriptor changed and ``code`` expected (an illegal descriptor)."""
    return replace(
        job, desc=replace(job.desc, **desc_changes), expect_error=int(ErrorCode(code)), c_rows=[]
    )
