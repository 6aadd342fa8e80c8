"""The memory front end in NumPy: configuration, tile loop and cycle bound (accelerator §3–§4).

:func:`tile_loop` lists the controller's loop nest of docs/accelerator.md §3.3 (m-blocks, n-tiles,
k-tiles, strips, folds) as records, one per k-tile with its folds and their accumulator
sideband ``{acc_base, first, emit}``. :func:`frontend_gemm` runs a GEMM through exactly that
loop, with the bias as the initial partial sum and requantization (or the raw sums) on emit;
it must equal the untiled models (``golden.int8.gemm_int8`` with ``golden.requant``, and
``golden.fp8.fp8_matmul_exact``). :func:`frontend_cycles` is the tile-level cycle bound of
docs/accelerator.md §4.2. Nothing here imports Amaranth: the same code serves the generator, the
testbenches and the reports.

This module will move beside ``golden.perf`` once that file settles (docs/accelerator.md §4.5).
"""

import numbers
from dataclasses import dataclass
from fractions import Fraction
from math import ceil

import numpy as np

from golden.errors import UsageValueError, check_choice, check_int
from golden.fp8 import f32_to_fp8, finalize_f32, fp8_matmul_exact
from golden.int8 import operand_range, wrap
from golden.perf import tier_cycles
from golden.requant import (
    INT32_MAX,
    INT32_MIN,
    MULT_MAX,
    SHIFT_MAX,
    SHIFT_MIN,
    check_clamp,
    requantize,
)

# --- FLAGS register (accelerator §2.3, offset 0x04C) --------------------------------------------

#: Activations are uint8 (INT8 only).
ACT_UNSIGNED = 1 << 0
#: Write the raw sums: W-bit INT8 sums as int32, FP8 sums as binary32. No requantization.
OUT_RAW = 1 << 1
#: Requantize with the per-channel QP records instead of Q_MULT / Q_SHIFT (INT8 only).
PER_CHANNEL_Q = 1 << 2
#: Start each accumulator column at its QP record's bias (INT8 only, docs/numerics.md §3.3).
BIAS_EN = 1 << 3
#: FP8 kinds: write E4M3 codes (saturating, docs/numerics.md §1.2) instead of binary32. FRONTEND
#: "Decisions taken" asks for this flag but §2.3 assigns it no bit; bit 4 is a proposal.
OUT_FP8 = 1 << 4

_FLAG_NAMES = {
    ACT_UNSIGNED: "ACT_UNSIGNED",
    OUT_RAW: "OUT_RAW",
    PER_CHANNEL_Q: "PER_CHANNEL_Q",
    BIAS_EN: "BIAS_EN",
    OUT_FP8: "OUT_FP8",
}
_ALL_FLAGS = ACT_UNSIGNED | OUT_RAW | PER_CHANNEL_Q | BIAS_EN | OUT_FP8
_INT8_ONLY_FLAGS = ACT_UNSIGNED | PER_CHANNEL_Q | BIAS_EN

#: MAC kinds and their (activation, weight) FP8 formats; the same names as ``hdl.config``
#: (golden may not import hdl, which sits above it).
FP8_KINDS = {"e4m3": ("e4m3", "e4m3"), "e5m2": ("e5m2", "e5m2"), "e4m3xe5m2": ("e4m3", "e5m2")}
MAC_KINDS = ("int8", *FP8_KINDS)

# --- Generator parameters (docs/accelerator.md §0, §2.2, §2.3 HWCFG fields) -------------

#: AXI data widths D in bits.
DATA_WIDTHS = (64, 128, 256)
#: AXI address widths.
ADDR_WIDTHS = (32, 64)
#: Largest AXI4 INCR burst (AxLEN is 8 bits).
MAX_BURST_LIMIT = 256
#: Largest outstanding-read count (HWCFG2 [31:24]).
OUTSTANDING_LIMIT = 255
#: Largest tile dimension (HWCFG1/HWCFG2 fields are 16 bits).
TILE_LIMIT = (1 << 16) - 1
#: Largest array dimension (``hdl.config.MAX_DIM``), which also bounds the requant lanes.
ARRAY_DIM_LIMIT = 128
#: AXI bursts never cross a 4 KiB boundary.
AXI_BOUNDARY_BYTES = 4096
#: Bytes of one per-channel QP record {int32 bias, u32 mult, u8 shift, u8 rsv[7]}.
QP_RECORD_BYTES = 16
#: Output kinds of the cycle model and their bytes per element (ob of docs/accelerator.md §4.1).
OUTPUT_BYTES = {"int8": 1, "raw": 4, "fp8": 1}
#: Start rules of the cycle model (accelerator §4.2): compute starts when the first fold's rows
#: have landed (``row``) or when the whole first tile has (``tile``).
START_RULES = ("row", "tile")
#: Write-back rules of the cycle model (``frontend_cycles(writeback=)``).
WRITEBACK_MODES = ("strip", "tile")


@dataclass(frozen=True)
class FrontendConfig:
    """Generator parameters of the memory front end, beside ``ArrayConfig`` (accelerator §0, §2).

    Parameters
    ----------
    data_width : int
        AXI data width D in bits: 64, 128 or 256. One beat carries ``D/8`` bytes.
    addr_width : int
        AXI address width: 32 or 64.
    max_burst : int
        Longest burst in beats, 1 to 256 (16 for AXI3-style ports such as Zynq-7000 HP).
    outstanding_reads : int
        Read bursts in flight, 1 to 255 (the depth of the DMA's tag FIFO).
    tile_m, tile_n, tile_k : int
        Tiles Tm, Tn, Tk, 1 to 65535. The defaults 64/64/256 are the recommended tiles
        for a 16×16 array on a 128-bit bus (accelerator §0, §4.4). ``tile_n`` and ``tile_k`` must be
        multiples of the beat size ``D/8``: base addresses and strides are beat-aligned
        (docs/accelerator.md §0, DESC_ALIGN), so the byte offsets ``n0`` of a B or C tile
        and ``k0`` of an A tile must be too.
    requant_lanes : int or None
        Requantizer multipliers shared by the array's C columns, 1 to 128; ``None`` means
        one per column (docs/accelerator.md §3.2, §6).
    """

    data_width: int = 128
    addr_width: int = 32
    max_burst: int = 64
    outstanding_reads: int = 16
    tile_m: int = 64
    tile_n: int = 64
    tile_k: int = 256
    requant_lanes: int | None = None

    def __post_init__(self):
        check_choice("data_width", self.data_width, DATA_WIDTHS)
        check_choice("addr_width", self.addr_width, ADDR_WIDTHS)
        check_int("max_burst", self.max_burst, 1, MAX_BURST_LIMIT)
        check_int("outstanding_reads", self.outstanding_reads, 1, OUTSTANDING_LIMIT)
        for name in ("tile_m", "tile_n", "tile_k"):
            check_int(name, getattr(self, name), 1, TILE_LIMIT)
        beat = self.beat_bytes
        for name in ("tile_n", "tile_k"):
            value = getattr(self, name)
            if value % beat:
                raise UsageValueError(
                    f"{name} must be a multiple of the bus width in bytes ({beat} at "
                    f"data_width={self.data_width}), got {value}",
                    parameter=name,
                )
        if self.requant_lanes is not None:
            check_int("requant_lanes", self.requant_lanes, 1, ARRAY_DIM_LIMIT)

    @property
    def beat_bytes(self):
        """W = D/8, bytes per beat."""
        return self.data_width // 8

    @property
    def burst_beats(self):
        """Longest burst actually issued: ``max_burst``, and at most 4 KiB (AXI boundary)."""
        return min(self.max_burst, AXI_BOUNDARY_BYTES // self.beat_bytes)

    def lanes_for(self, cols):
        """Requant lanes on an array of ``cols`` columns (``requant_lanes`` or ``cols``)."""
        cols = check_int("cols", cols, 1, ARRAY_DIM_LIMIT)
        if self.requant_lanes is None:
            return cols
        if self.requant_lanes > cols:
            raise UsageValueError(
                f"requant_lanes must be between 1 and the array's {cols} columns, "
                f"got {self.requant_lanes}"
            )
        return self.requant_lanes


# --- The tile loop (accelerator §3.3) ------------------------------------------------------------


@dataclass(frozen=True)
class FoldCmd:
    """One fold as the controller issues it: an R × C weight tile and ``rows`` activation rows.

    Members
    -------
    tile : int
        Index of the k-tile (:class:`Tile`) the fold belongs to.
    strip, index : int
        Strip s (C output columns) within the tile, and fold r (R-row K chunk) within it.
    m0, k0, n0 : int
        GEMM coordinates of the fold's first activation row, reduction index and column.
    rows : int
        Activation rows tm (the fold takes ``max(rows, R)`` cycles on the array).
    k_len, n_len : int
        Valid weight rows (≤ R) and columns (≤ C); the feeder zeroes the rest.
    acc_base : int
        First accumulator row, ``strip · Tm``; the fold touches rows
        ``acc_base … acc_base + rows − 1``.
    first : bool
        The accumulator starts from the bias (or 0) instead of adding to its contents.
    emit : bool
        The sums are final: they leave through the requantizer and are written to C.
    a_bank, b_bank : int
        Ping-pong banks the fold reads (0 or 1).
    """

    tile: int
    strip: int
    index: int
    m0: int
    k0: int
    n0: int
    rows: int
    k_len: int
    n_len: int
    acc_base: int
    first: bool
    emit: bool
    a_bank: int
    b_bank: int


@dataclass(frozen=True)
class Tile:
    """One k-tile of one C tile, with its loads and folds (docs/accelerator.md §3.3).

    Members
    -------
    index : int
        Position in the loop, from 0.
    m0, n0, k0 : int
        Origin of the tile in the GEMM.
    tm, tn, tk : int
        Clipped tile sizes (the tiles at the edges of M, N, K are smaller).
    load_a : bool
        The A tile ``A[m0:m0+tm, k0:k0+tk]`` is loaded: it differs from the previous tile's
        (always when K > Tk; on the first n-tile of each m-block when K ≤ Tk).
    first_k, last_k : bool
        First and last k-tile of the C tile: the QP records of ``n0:n0+tn`` are loaded on the
        first, results are emitted on the last.
    a_bank, b_bank, qp_bank : int
        Ping-pong banks of A, B and QP (0 or 1).
    folds : tuple of FoldCmd
        The tile's folds: strips outer, folds inner.
    """

    index: int
    m0: int
    n0: int
    k0: int
    tm: int
    tn: int
    tk: int
    load_a: bool
    first_k: bool
    last_k: bool
    a_bank: int
    b_bank: int
    qp_bank: int
    folds: tuple


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_dim(name, value):
    if not _is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def tile_loop(m, k, n, *, rows, cols, config):
    """Iterate over the tiles of a GEMM in the controller's order (docs/accelerator.md §3.3).

    ::

        for m0 in range(0, M, Tm):                  # m-block
          for n0 in range(0, N, Tn):                # C tile
            for k0 in range(0, K, Tk):              # k-tile
              for s in range(ceil(tn / C)):         # strip
                for r in range(ceil(tk / R)):       # fold
                  fold(rows=tm, acc_base=s·Tm,
                       first=(k0 == 0 and r == 0), emit=(k0 == last and r == last))

    Parameters
    ----------
    m, k, n : int
        GEMM shape ``C[M×N] = A[M×K]·B[K×N]``.
    rows, cols : int
        Array size R × C.
    config : FrontendConfig
        Supplies the tiles.

    Yields
    ------
    Tile
    """
    m, k, n = _check_dim("m", m), _check_dim("k", k), _check_dim("n", n)
    rows = check_int("rows", rows, 1, ARRAY_DIM_LIMIT)
    cols = check_int("cols", cols, 1, ARRAY_DIM_LIMIT)
    if not isinstance(config, FrontendConfig):
        raise TypeError(f"config must be a FrontendConfig, got {config!r}")
    tile_m, tile_n, tile_k = config.tile_m, config.tile_n, config.tile_k
    index = 0
    a_loads = 0
    c_tiles = 0
    previous_a = None
    for m0 in range(0, m, tile_m):
        tm = min(tile_m, m - m0)
        for n0 in range(0, n, tile_n):
            tn = min(tile_n, n - n0)
            for k0 in range(0, k, tile_k):
                tk = min(tile_k, k - k0)
                load_a = previous_a != (m0, k0)
                previous_a = (m0, k0)
                a_loads += load_a
                first_k, last_k = k0 == 0, k0 + tile_k >= k
                c_tiles += first_k
                a_bank, b_bank = (a_loads - 1) % 2, index % 2
                strips, folds_per_strip = ceil(tn / cols), ceil(tk / rows)
                folds = tuple(
                    FoldCmd(
                        tile=index,
                        strip=s,
                        index=r,
                        m0=m0,
                        k0=k0 + r * rows,
                        n0=n0 + s * cols,
                        rows=tm,
                        k_len=min(rows, tk - r * rows),
                        n_len=min(cols, tn - s * cols),
                        acc_base=s * tile_m,
                        first=first_k and r == 0,
                        emit=last_k and r == folds_per_strip - 1,
                        a_bank=a_bank,
                        b_bank=b_bank,
                    )
                    for s in range(strips)
                    for r in range(folds_per_strip)
                )
                yield Tile(
                    index=index,
                    m0=m0,
                    n0=n0,
                    k0=k0,
                    tm=tm,
                    tn=tn,
                    tk=tk,
                    load_a=load_a,
                    first_k=first_k,
                    last_k=last_k,
                    a_bank=a_bank,
                    b_bank=b_bank,
                    qp_bank=(c_tiles - 1) % 2,
                    folds=folds,
                )
                index += 1


def accumulator_rows(cols, config):
    """Rows of the accumulator the loop addresses: ``Tm · ceil(Tn / C)`` (accelerator §3.2)."""
    cols = check_int("cols", cols, 1, ARRAY_DIM_LIMIT)
    return config.tile_m * ceil(config.tile_n / cols)


# --- The tiled GEMM ---------------------------------------------------------------------------


def _check_flags(flags, mac):
    if not _is_integer(flags) or flags < 0 or flags & ~_ALL_FLAGS:
        raise ValueError(f"flags must combine the bits of {', '.join(_FLAG_NAMES.values())}")
    names = [name for bit, name in _FLAG_NAMES.items() if flags & bit]
    if mac == "int8" and flags & OUT_FP8:
        raise ValueError("flag OUT_FP8 applies to the FP8 MAC kinds only, got mac='int8'")
    if mac != "int8" and flags & _INT8_ONLY_FLAGS:
        bad = [name for bit, name in _FLAG_NAMES.items() if flags & bit & _INT8_ONLY_FLAGS]
        raise ValueError(
            f"flags {', '.join(bad)} apply to mac='int8' only, got mac={mac!r} "
            f"(flags {', '.join(names)})"
        )
    return int(flags)


def _check_matrix(name, x, lo, hi, what):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must hold integer {what}, got dtype {x.dtype}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one column, got {x.shape}")
    if x.min() < lo or x.max() > hi:
        raise ValueError(f"{name} values must be between {lo} and {hi}, got {x.min()}..{x.max()}")
    return x.astype(np.int64)


def _channel_values(name, values, n, lo, hi):
    if values is None:
        raise ValueError(f"{name} is required by the flags (one value per column of C)")
    arr = np.asarray(values)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} must be {n} integers (one per column), got {arr.dtype} {arr.shape}"
        )
    if arr.min() < lo or arr.max() > hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {arr.min()}..{arr.max()}")
    return arr.astype(np.int64)


def _add_wrapped(x, y, width):
    """``wrap(x + y, width)`` for int64 arrays, adding modulo 2^64 first (no overflow)."""
    return wrap((x.astype(np.uint64) + y.astype(np.uint64)).view(np.int64), width)


def frontend_gemm(
    a,
    b,
    *,
    rows,
    cols,
    config=None,
    mac="int8",
    acc_width=None,
    flags=0,
    q_mult=None,
    q_shift=None,
    q_zp=0,
    qmin=-128,
    qmax=127,
    qp_bias=None,
    qp_mult=None,
    qp_shift=None,
):
    """Run ``C = A·B`` through the front end's tile loop, fold by fold (accelerator §3.3, §3.4).

    Each fold adds ``A[m0:m0+tm, k0:k0+R] · B[k0:k0+R, n0:n0+C]`` into accumulator rows
    ``acc_base …``; a fold marked ``first`` starts from the bias (``BIAS_EN``) or zero, and a
    fold marked ``emit`` sends its rows out: requantized to int8 (docs/numerics.md §3.6) with the
    per-tensor or per-channel (M, n), or raw. The INT8 accumulator wraps at ``acc_width``
    bits after every fold (docs/numerics.md §3.2); FP8 sums are exact Kulisch integers with sticky
    special-value flags, rounded once to binary32 on emit (docs/numerics.md §2.4, §2.5).

    Parameters
    ----------
    a : array_like (M, K)
        Activations: int8 (or uint8 with ``ACT_UNSIGNED``) values, or FP8 codes.
    b : array_like (K, N)
        Weights: int8 values or FP8 codes.
    rows, cols : int
        Array size R × C.
    config : FrontendConfig or None
        Tiles; ``None`` is ``FrontendConfig()``.
    mac : str
        ``"int8"``, ``"e4m3"``, ``"e5m2"`` or ``"e4m3xe5m2"``.
    acc_width : int or None
        W, the INT8 accumulator width (1 to 64); required for ``mac="int8"``, ignored for
        FP8, whose accumulator is exact by construction (docs/numerics.md §2.3).
    flags : int
        FLAGS register bits: :data:`ACT_UNSIGNED`, :data:`OUT_RAW`, :data:`PER_CHANNEL_Q`,
        :data:`BIAS_EN` (INT8), :data:`OUT_FP8` (FP8).
    q_mult, q_shift : int or None
        Per-tensor Q_MULT (0 to 2^31 − 1) and Q_SHIFT n (1 to 62), required when INT8 results
        are requantized without ``PER_CHANNEL_Q``.
    q_zp, qmin, qmax : int
        Q_ZP (int32) and Q_CLAMP (int8 bounds).
    qp_bias, qp_mult, qp_shift : array_like (N,) or None
        The QP records: the int32 bias (``BIAS_EN``), M and n (``PER_CHANNEL_Q``).

    Returns
    -------
    array (M, N)
        What the front end writes to C: int8 (requantized), int32 (INT8 ``OUT_RAW``: the
        W-bit sum, or its low 32 bits if W > 32), float32 (FP8) or uint8 E4M3 codes
        (``OUT_FP8``).
    """
    config = FrontendConfig() if config is None else config
    check_choice("mac", mac, MAC_KINDS)
    flags = _check_flags(flags, mac)
    if mac == "int8":
        lo, hi = operand_range(bool(flags & ACT_UNSIGNED))
        a = _check_matrix("a", a, lo, hi, "values")
        b = _check_matrix("b", b, -128, 127, "values")
    else:
        a = _check_matrix("a", a, 0, 255, "FP8 codes")
        b = _check_matrix("b", b, 0, 255, "FP8 codes")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {a.shape}, b is {b.shape}")
    m, k = a.shape
    n = b.shape[1]
    loop = tile_loop(m, k, n, rows=rows, cols=cols, config=config)
    acc_rows = accumulator_rows(cols, config)
    if mac != "int8":
        return _gemm_fp8(a, b, loop, acc_rows, cols, mac, flags)

    # INT8: check every parameter the flags use before any work, as the descriptor check does.
    acc_width = check_int("acc_width", acc_width, 1, 64)
    bias = None
    if flags & BIAS_EN:
        bias = _channel_values("qp_bias", qp_bias, n, INT32_MIN, INT32_MAX)
    requant = not flags & OUT_RAW
    mult = shift = None
    if requant and flags & PER_CHANNEL_Q:
        mult = _channel_values("qp_mult", qp_mult, n, 0, MULT_MAX)
        shift = _channel_values("qp_shift", qp_shift, n, SHIFT_MIN, SHIFT_MAX)
    elif requant:
        if q_mult is None or q_shift is None:
            raise ValueError("q_mult and q_shift are required to requantize without PER_CHANNEL_Q")
        mult = check_int("q_mult", q_mult, 0, MULT_MAX)
        shift = check_int("q_shift", q_shift, SHIFT_MIN, SHIFT_MAX)
    if requant:
        q_zp, qmin, qmax = check_clamp(q_zp, qmin, qmax)
    return _gemm_int8(a, b, loop, acc_rows, cols, acc_width, bias, mult, shift, (q_zp, qmin, qmax))


def _gemm_int8(a, b, loop, acc_rows, cols, acc_width, bias, mult, shift, clamp):
    """The INT8 body of :func:`frontend_gemm`: ``mult is None`` means OUT_RAW."""
    n = b.shape[1]
    requant = mult is not None
    per_channel = requant and np.ndim(mult) == 1

    c = np.zeros((a.shape[0], n), dtype=np.int8 if requant else np.int32)
    acc = np.zeros((acc_rows, cols), dtype=np.int64)
    for tile in loop:
        for fold in tile.folds:
            rs = slice(fold.acc_base, fold.acc_base + fold.rows)
            ns = slice(fold.n0, fold.n0 + fold.n_len)
            a_f = a[fold.m0 : fold.m0 + fold.rows, fold.k0 : fold.k0 + fold.k_len]
            # |partial| ≤ R·32640 < 2^22: exact in int64.
            partial = a_f @ b[fold.k0 : fold.k0 + fold.k_len, ns]
            if fold.first:
                start = (
                    np.zeros_like(partial)
                    if bias is None
                    else np.broadcast_to(bias[ns], partial.shape)
                )
            else:
                start = acc[rs, : fold.n_len]
            acc[rs, : fold.n_len] = _add_wrapped(start, partial, acc_width)
            if fold.emit:
                sums = acc[rs, : fold.n_len]
                out_rows = slice(fold.m0, fold.m0 + fold.rows)
                if not requant:
                    # The int32 write carries the W-bit sum, or its low 32 bits if W > 32.
                    c[out_rows, ns] = wrap(sums, 32) if acc_width > 32 else sums
                elif per_channel:
                    c[out_rows, ns] = requantize(sums, mult[ns], shift[ns], *clamp)
                else:
                    c[out_rows, ns] = requantize(sums, mult, shift, *clamp)
    return c


def _gemm_fp8(a, b, loop, acc_rows, cols, mac, flags):
    fa, fb = FP8_KINDS[mac]
    m, n = a.shape[0], b.shape[1]
    c = np.zeros((m, n), dtype=np.uint8 if flags & OUT_FP8 else np.float32)
    acc = np.zeros((acc_rows, cols), dtype=object)
    nan, pinf, ninf = (np.zeros((acc_rows, cols), dtype=bool) for _ in range(3))
    lsb = None
    for tile in loop:
        for fold in tile.folds:
            rs = slice(fold.acc_base, fold.acc_base + fold.rows)
            cs = slice(0, fold.n_len)
            ns = slice(fold.n0, fold.n0 + fold.n_len)
            part = fp8_matmul_exact(
                a[fold.m0 : fold.m0 + fold.rows, fold.k0 : fold.k0 + fold.k_len],
                b[fold.k0 : fold.k0 + fold.k_len, ns],
                fa,
                fb,
            )
            lsb = part.lsb_exp
            if fold.first:
                acc[rs, cs] = part.sum
                nan[rs, cs], pinf[rs, cs], ninf[rs, cs] = part.nan, part.pinf, part.ninf
            else:
                # Kulisch sums add exactly (Python ints); the special-value flags are sticky.
                acc[rs, cs] = acc[rs, cs] + part.sum
                nan[rs, cs] |= part.nan
                pinf[rs, cs] |= part.pinf
                ninf[rs, cs] |= part.ninf
            if fold.emit:
                result = finalize_f32(acc[rs, cs], nan[rs, cs], pinf[rs, cs], ninf[rs, cs], lsb)
                out_rows = slice(fold.m0, fold.m0 + fold.rows)
                if flags & OUT_FP8:
                    c[out_rows, ns] = f32_to_fp8(result, "e4m3", saturate=True)
                else:
                    c[out_rows, ns] = result
    return c


# --- Cycle model (accelerator §4) ----------------------------------------------------------------


@dataclass(frozen=True)
class TileCycles:
    """Cycle terms of one k-tile (docs/accelerator.md §4.2), exact rationals.

    Members
    -------
    compute : Fraction
        ``T_c = ceil(tn/C) · ceil(tk/R) · max(tm, R)``.
    read : Fraction
        ``T_r``: the tile's loads (A if it changes, B, QP on the first k-tile) at the bus
        efficiency of their bursts.
    output : Fraction
        Requantizer and write time of the rows the tile emits (0 unless ``last_k``): work
        for the output stage, which runs beside the array (see ``output_end``).
    time : Fraction
        The tile's share of the compute timeline: ``max(T_c(i), T_r(i+1))``, with what the
        prologue left of tile 0's loads added to the read term of tile 0.
    """

    compute: Fraction
    read: Fraction
    output: Fraction
    time: Fraction


@dataclass(frozen=True)
class Traffic:
    """DRAM bytes per tensor (accelerator §4.2): logical bytes, as the formulas count them."""

    a: int
    b: int
    c: int
    qp: int

    @property
    def read(self):
        return self.a + self.b + self.qp

    @property
    def total(self):
        return self.read + self.c


@dataclass(frozen=True)
class FrontendCycles:
    """The front end's tile-level cycle bound of one GEMM (docs/accelerator.md §4.2).

    Members
    -------
    bound : int
        ``ceil(max(prologue + steady, output_end) + epilogue)``: the RTL's START→DONE
        cycles must not exceed it with a fixed-latency memory (docs/accelerator.md §0).
    prologue : Fraction
        Cycles before the first fold can start.
    tiles : tuple of TileCycles
        Per k-tile terms, in loop order.
    steady : Fraction
        ``Σ tiles[i].time``.
    output_end : Fraction
        When the output stage (requantizer lanes, write beats) has taken the last strip's
        rows, on the same clock as ``prologue + steady``; at most that with one lane per
        column and ``C·ob ≤ W``.
    epilogue : int
        Cycles from the last fold's last activation to the last write.
    ideal : int
        ``ceil(M·K·N / (R·C))``: every MAC busy every cycle (``golden.perf.tier_cycles``).
    mac_cycles : Fraction
        ``M·K·N / (R·C)``, the ideal before rounding up.
    read_cycles : Fraction
        Cycles the read channel needs for all loads at their bus efficiency, plus one
        latency L: no schedule finishes sooner (the bandwidth bound).
    traffic : Traffic
        Bytes per tensor.
    """

    bound: int
    prologue: Fraction
    tiles: tuple
    steady: Fraction
    output_end: Fraction
    epilogue: int
    ideal: int
    mac_cycles: Fraction
    read_cycles: Fraction
    traffic: Traffic

    @property
    def utilization(self):
        """``U = (M·K·N/(R·C)) / bound`` (docs/accelerator.md §4.2)."""
        return float(self.mac_cycles / self.bound)

    @property
    def bandwidth_utilization(self):
        """The bandwidth-only bound on U: ``min(1, (M·K·N/(R·C)) / read_cycles)``."""
        return float(min(Fraction(1), self.mac_cycles / self.read_cycles))


def bus_efficiency(burst_beats, outstanding, latency):
    """``η(b) = min(1, O·b / (L + b))``: Little's law for O bursts of b beats (accelerator §4.2).

    ``burst_beats`` may be an average (a Fraction); the result is an exact Fraction.
    """
    b = Fraction(burst_beats)
    if b <= 0:
        raise ValueError(f"burst_beats must be positive, got {burst_beats!r}")
    return min(Fraction(1), outstanding * b / (latency + b))


def _read_time(rows, row_beats, merged, config, latency):
    """Cycles to read ``rows`` rows of ``row_beats`` beats at their bus efficiency.

    Rows whose stride equals their length are one contiguous transfer (the DMA merges them,
    docs/accelerator.md §3.2); either way bursts are cut at :attr:`FrontendConfig.burst_beats`.
    """
    total = rows * row_beats
    if total == 0:
        return Fraction(0)
    longest = config.burst_beats
    bursts = ceil(total / longest) if merged else rows * ceil(row_beats / longest)
    return total / bus_efficiency(Fraction(total, bursts), config.outstanding_reads, latency)


def _write_time(rows, row_beats, merged, config, latency):
    """Cycles to write ``rows`` rows of ``row_beats`` beats: as :func:`_read_time`, with
    ``outstanding_reads`` bursts in flight and each burst's B response ``latency`` cycles
    after its last beat, plus the two cycles the write DMA takes to issue the next AW."""
    total = rows * row_beats
    if total == 0:
        return Fraction(0)
    longest = config.burst_beats
    bursts = ceil(total / longest) if merged else rows * ceil(row_beats / longest)
    return total / bus_efficiency(Fraction(total, bursts), config.outstanding_reads, latency + 2)


def frontend_cycles(
    array_rows,
    array_cols,
    mac_latency,
    frontend_config,
    m,
    k,
    n,
    mem_latency,
    *,
    start="row",
    output="int8",
    qp_records=True,
    b_packed=False,
    a_stride=None,
    b_stride=None,
    requant_latency=4,
    write_latency=16,
    writeback="strip",
    start_latency=0,
    c_stride=None,
    command_overhead=0,
):
    """Tile-level cycle bound of a GEMM through the front end (docs/accelerator.md §4.2).

    ``T = max(T_pro + Σ_i max(T_c(i), T_r(i+1)), T_out_end) + T_epi`` over the k-tiles of
    :func:`tile_loop`, where

    - ``T_c = ceil(tn/C) · ceil(tk/R) · max(tm, R)`` (the array, folds back to back);
    - ``T_r`` is the tile's reads, each operand at ``η(b) = min(1, O·b/(L + b))`` for its
      average burst length b: A (``tm`` rows of ``ceil(tk/W)`` beats) when the A tile changes,
      B (``tk`` rows of ``ceil(tn/W)`` beats; ``tile_n/W`` when packed), QP (``16·tn`` bytes)
      on the first k-tile of a C tile; rows merge into long bursts when the stride equals
      the row length;
    - ``T_out_end`` is when the output stage finishes: it takes each strip of a last k-tile
      in order, no earlier than the start of that strip's last fold (whose rows then leave
      the array one per cycle), for ``tm · max(ceil(C/lanes), ceil(n_len·ob/W))`` cycles (the
      requantizer's lanes, and a strip row's write beats). With one lane per column and
      ``C·ob ≤ W`` that is one row per cycle, never later than the array, and T reduces to
      docs/accelerator.md §4.2's formula;
    - ``T_pro = L + A_0 + first fold's B`` (``start="row"``) or ``L + A_0 + B_0``
      (``start="tile"``); the rest of tile 0's loads (B after the first fold, QP) is added
      to the read term of tile 0;
    - ``T_epi = R + C + 1 + mac_latency + 1 + requant_latency + write_latency``.

    Where this departs from the first-order formulas and figures of the original design
    (docs/accelerator.md §4.2 summarizes them):

    - **First fold** (row start): the doc's ``R·C/W`` beats assume B arrives strip by strip,
      but B comes in k-rows of ``tn`` bytes, so the first fold needs ``min(R, tk)`` whole
      rows, ``R·ceil(tn/W)`` beats: 64, not 16, at the §4.3 point. The §4.3 prologue is
      ``64 + 1024 + 64 = 1152`` and T = 66,744 (98.19 %), not 1,104 and 66,696 (98.3 %).
    - **Rest of tile 0**: with row start the doc's Σ omits the B rows of tile 0 that land
      after the first fold; §4.4's table includes them (its 86,172 and 74,908 need them).
    - **QP**: §4.2 counts the QP records in T_r, §4.4's table does not (its 70,656 at
      L = 200 needs ``qp_records=False``; with QP it is 70,848). Set ``qp_records`` to the
      flags: records are fetched only for ``PER_CHANNEL_Q`` or ``BIAS_EN``.
    - **Burst length**: merged transfers are cut at ``max_burst`` here; §4.4's O = 4 rows
      (69,536; 70,416) treat packed B as one unlimited burst. §4.4 also reads A row by row
      although A_STRIDE = K = Tk there makes the A tile contiguous (this model merges it;
      ``a_stride=512`` reproduces the table's choice).
    - **Write path**: on a 64-bit bus a 16-byte strip row is two write beats, so the last
      strip's rows leave the output stage ``tm`` cycles after the array (+32 and +64 on
      §4.4's D = 64 rows at Tm = 32 and 64); the doc's epilogue has no such term.
    - **Bandwidth bound**: §4.2's ``R·C·(δ_A/Tm + 1/Tn)`` swaps Tm and Tn (an A tile is reused
      across ``tn`` columns: ``δ_A/Tn + 1/Tm`` bytes per MAC); :attr:`read_cycles` is the
      exact sum instead.
    - ``write_latency`` defaults to the doc's 16 cycles; with a memory model whose write
      response takes L cycles, pass that.

    Parameters
    ----------
    array_rows, array_cols : int
        R × C.
    mac_latency : int
        Extra MAC pipeline stages (``ArrayConfig.mac_latency``).
    frontend_config : FrontendConfig
    m, k, n : int
        GEMM shape.
    mem_latency : int
        L, cycles from an AR handshake to its first R beat.
    start : str
        ``"row"`` (compute starts when A and the first fold's B rows have landed) or
        ``"tile"`` (when the whole first tile has).
    output : str
        ``"int8"`` (requantized), ``"raw"`` (int32 / binary32, 4 bytes) or ``"fp8"``
        (1 byte, no requantizer).
    qp_records : bool
        Whether QP records are fetched (``PER_CHANNEL_Q`` or ``BIAS_EN``).
    b_packed : bool
        Pre-packed B (``B_TILE_STRIDE``): panels of ``tile_n`` columns, rows ``tile_n``
        bytes apart, so the rows of a k-tile are one contiguous block, read whole (padding
        included on an edge panel narrower than ``tile_n``). Reading only the ``tn`` valid
        bytes of each row would break the block into short bursts, and a wider GEMM could
        then be faster than a narrower one.
    a_stride, b_stride : int or None
        Row strides in bytes (``None``: dense rows, K and N rounded up to W). ``b_stride``
        must be ``None`` when ``b_packed``.
    requant_latency, write_latency : int
        Epilogue terms (docs/accelerator.md §3.2: the requantizer has 4 cycles of latency).
    writeback : str
        ``"strip"``: rows go to memory as the output stage produces them (the first-order
        model). ``"tile"``: an output buffer collects a whole C tile and writes it once its
        last strip is in (the generated accelerator, :class:`hdl.mem.outbuf.OutputBuffer`),
        so the last C tile's ``tm · ceil(tn·ob/W)`` write beats follow the output stage,
        after the first burst's beats have gathered in the write DMA (it issues an AW only
        for a burst whose beats are all buffered), at the bus efficiency of the write bursts
        (one per row unless rows are contiguous, see ``c_stride``), with three cycles per
        full-length burst for its AW; earlier tiles' writes overlap later tiles' compute.
        The tiles' writes also form a chain that bounds T from below when they are slower
        than compute (short K): the write DMA takes one tile at a time (after the previous
        tile's last B), and a tile's output waits for the buffer half that the tile two
        before it frees with its last write beat, holding the array back by as much.
    c_stride : int or None
        C's row stride in bytes (``None``: dense rows); with ``writeback="tile"`` the write
        of the last C tile runs at the bus efficiency of its bursts (one per row unless the
        rows are contiguous).
    command_overhead : int
        Cycles each read command adds to its tile's read term beyond its beats (issuing it,
        and handing the landed tile to the feeder), which shows when tiles are small enough
        for loads to bind.
    start_latency : int
        Cycles from START to the first read command on the bus (the controller's descriptor
        check and queues), added to the prologue.

    Returns
    -------
    FrontendCycles
    """
    r = check_int("array_rows", array_rows, 1, ARRAY_DIM_LIMIT)
    c = check_int("array_cols", array_cols, 1, ARRAY_DIM_LIMIT)
    mac_latency = check_int("mac_latency", mac_latency, 0, 64)
    if not isinstance(frontend_config, FrontendConfig):
        raise TypeError(f"frontend_config must be a FrontendConfig, got {frontend_config!r}")
    cfg = frontend_config
    m, k, n = _check_dim("m", m), _check_dim("k", k), _check_dim("n", n)
    latency = check_int("mem_latency", mem_latency, 0, 1 << 20)
    check_choice("start", start, START_RULES)
    check_choice("output", output, tuple(OUTPUT_BYTES))
    requant_latency = check_int("requant_latency", requant_latency, 0, 1 << 10)
    write_latency = check_int("write_latency", write_latency, 0, 1 << 20)
    check_choice("writeback", writeback, WRITEBACK_MODES)
    start_latency = check_int("start_latency", start_latency, 0, 1 << 10)
    command_overhead = check_int("command_overhead", command_overhead, 0, 1 << 10)
    w = cfg.beat_bytes
    ob = OUTPUT_BYTES[output]
    lanes = cfg.lanes_for(c)

    def dense(size):
        return ceil(size / w) * w

    def check_stride(name, stride, row_bytes):
        stride = check_int(name, stride, row_bytes, 1 << 48)
        if stride % w:
            raise ValueError(
                f"{name} must be a multiple of {w} bytes (the bus width), got {stride}"
            )
        return stride

    a_stride = dense(k) if a_stride is None else check_stride("a_stride", a_stride, k)
    if b_packed:
        if b_stride is not None:
            raise ValueError("b_stride must be None with b_packed (packed rows are tile_n apart)")
        b_stride = cfg.tile_n
    else:
        b_stride = dense(n) if b_stride is None else check_stride("b_stride", b_stride, n)

    def a_time(t):
        beats = ceil(t.tk / w)
        return _read_time(t.tm, beats, a_stride == beats * w, cfg, latency)

    def b_time(t, rows):
        if b_packed:
            # A packed panel is tile_n bytes wide whatever tn is (the host pads the last one),
            # so a k-tile of it is one contiguous block, read whole.
            return _read_time(rows, cfg.tile_n // w, True, cfg, latency)
        beats = ceil(t.tn / w)
        return _read_time(rows, beats, b_stride == beats * w, cfg, latency)

    def qp_time(t):
        if not (qp_records and t.first_k):
            return Fraction(0)
        return _read_time(1, ceil(QP_RECORD_BYTES * t.tn / w), True, cfg, latency)

    def out_service(n_len):
        # Cycles per emitted strip row: the requantizer's lanes and the write beats of a row.
        requant = ceil(c / lanes) if output == "int8" else 1
        return max(requant, ceil(n_len * ob / w))

    loop = list(tile_loop(m, k, n, rows=r, cols=c, config=cfg))
    compute, reads, outputs = [], [], []
    for t in loop:
        period = max(t.tm, r)
        if writeback == "tile":
            # The output buffer takes a strip row of all C lanes; a slower output stage holds
            # the array back during the fold that emits (its result FIFO is short).
            emit = max(period, t.tm * max(ceil(c / lanes) if output == "int8" else 1,
                                          ceil(c * ob / w)))  # fmt: skip
            compute.append(Fraction(sum(emit if f.emit else period for f in t.folds)))
        else:
            compute.append(Fraction(ceil(t.tn / c) * ceil(t.tk / r) * period))
        commands = t.load_a + 1 + (qp_records and t.first_k)
        reads.append(
            (a_time(t) if t.load_a else 0)
            + b_time(t, t.tk)
            + qp_time(t)
            + commands * command_overhead
        )
        outputs.append(Fraction(sum(f.rows * out_service(f.n_len) for f in t.folds if f.emit)))

    first = loop[0]
    if start == "row":
        first_fold_rows = min(r, first.tk)
        prologue = start_latency + latency + a_time(first) + b_time(first, first_fold_rows)
        rest0 = b_time(first, first.tk - first_fold_rows) + qp_time(first)
    else:
        prologue = start_latency + latency + a_time(first) + b_time(first, first.tk)
        rest0 = qp_time(first)

    tiles = []
    for i in range(len(loop)):
        next_read = reads[i + 1] if i + 1 < len(loop) else Fraction(0)
        if i == 0:
            next_read += rest0
        time = max(compute[i], next_read)
        tiles.append(TileCycles(compute[i], reads[i], outputs[i], time))
    steady = sum((t.time for t in tiles), Fraction(0))

    c_stride = ceil(n * ob / w) * w if c_stride is None else c_stride

    def tile_write(t):
        # Cycles from a whole C tile in the output buffer to its last beat written: the first
        # burst's beats gather before its AW; each full burst then waits for its own beats
        # behind the previous one (AW handshake and W restart: 3 cycles).
        row_beats = ceil(t.tn * ob / w)
        beats = t.tm * row_beats
        merged = c_stride == row_beats * w or t.tm == 1
        write = _write_time(t.tm, row_beats, merged, cfg, write_latency)
        return ceil(write) + min(beats, cfg.burst_beats) + 3 * ceil(beats / cfg.burst_beats) + 2

    # From a row leaving the output stage's input to the output buffer (the array's drain
    # and the requantizer), and to the last B response of a tile's write.
    pipe = r + c + 1 + mac_latency + 1 + requant_latency
    # The output stage: a strip's rows leave the array from the start of its last fold on,
    # one per cycle, and the stage serves them at out_service cycles each, strip after strip.
    # With writeback="tile" the C tiles' writes form a chain: the write DMA takes one tile at
    # a time, and the output buffer's two halves make tile j wait for tile j−2's write; a
    # wait there holds the array back, shifting everything after it.
    output_end = Fraction(0)
    tile_start = prologue
    held = Fraction(0)  # cycles the array waited for an output buffer half
    written = []  # per C tile: its last beat out of the output buffer (the half is free)
    write_done = []  # per C tile: its last B response
    for t, cycles in zip(loop, tiles, strict=True):
        period = max(t.tm, r)
        emits = [(position, f) for position, f in enumerate(t.folds) if f.emit]
        if emits and writeback == "tile" and len(write_done) >= 2:
            arrives = max(output_end, tile_start + held + emits[0][0] * period) + pipe
            held += max(Fraction(0), written[-2] - arrives)
        for position, f in emits:
            fold_start = tile_start + held + position * period
            output_end = max(output_end, fold_start) + f.rows * out_service(f.n_len)
        if emits and writeback == "tile":
            ready = output_end + pipe
            begin = max(ready, write_done[-1]) if write_done else ready
            written.append(begin + tile_write(t))
            write_done.append(written[-1] + write_latency)
        tile_start += cycles.time

    epilogue = pipe + write_latency
    if writeback == "tile":
        epilogue += tile_write(loop[-1])
    traffic = Traffic(
        a=sum(t.tm * t.tk for t in loop if t.load_a),
        b=sum(t.tk * t.tn for t in loop),
        c=m * n * ob,
        qp=sum(QP_RECORD_BYTES * t.tn for t in loop if t.first_k) if qp_records else 0,
    )
    bound = max(prologue + steady + held, output_end) + epilogue
    if write_done:
        bound = max(bound, write_done[-1])
    return FrontendCycles(
        bound=ceil(bound),
        prologue=prologue,
        tiles=tuple(tiles),
        steady=steady,
        output_end=output_end,
        epilogue=epilogue,
        ideal=tier_cycles(r, c, m, k, n)["ideal"],
        mac_cycles=Fraction(m * k * n, r * c),
        read_cycles=latency + sum(reads, Fraction(0)),
        traffic=traffic,
    )
