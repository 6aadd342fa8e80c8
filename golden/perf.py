"""Analytical cycle model of the generated hardware (docs/performance.md, Performance tiers).

:func:`stream_cycles` is the exact cycle count of a GEMM streamed through the array with no
stalls, given the top's latency; ``hdl.cycles.cycles_for`` supplies that latency from the
hardware and the tests hold the RTL to the result. :func:`tier_cycles` gives the reference tiers
T1/T2/T3 and the ideal bound used in reports.
"""

from dataclasses import dataclass
from math import ceil


@dataclass(frozen=True)
class GemmShape:
    """``C[M×N] = A[M×K] · B[K×N]``."""

    m: int
    k: int
    n: int

    def __post_init__(self):
        for name in ("m", "k", "n"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @property
    def macs(self):
        return self.m * self.k * self.n


def fold_count(rows, cols, k, n):
    """``F = ceil(K/R) · ceil(N/C)``: the number of stationary weight tiles."""
    return ceil(k / rows) * ceil(n / cols)


def stream_cycles(rows, cols, m, k, n, *, latency):
    """Exact cycles of one GEMM streamed through the array, with no stalls on any stream.

    Counted from the cycle the first weight beat is accepted to the cycle the last result row
    is accepted, inclusive. Fold f's first activation is accepted at ``T_f = R + f·max(M, R)``
    (the weights of fold f+1 load while fold f computes, R beats, so a fold lasts
    ``max(M, R)``), and a row accepted at t leaves the top's result stream at ``t + latency``.

    Parameters
    ----------
    rows, cols : int
        Array size R × C.
    m, k, n : int
        GEMM shape.
    latency : int
        Cycles from an accepted activation row to its result row at the top's output: the
        ``latency`` of the generated top (``hdl.cycles.cycles_for`` reads it from the
        hardware's components, so there is one source for it).
    """
    shape = GemmShape(m, k, n)
    if isinstance(latency, bool) or not isinstance(latency, int) or latency < 1:
        raise ValueError(f"latency must be a positive integer, got {latency!r}")
    folds = fold_count(rows, cols, shape.k, shape.n)
    period = max(shape.m, rows)
    last_row_accepted = rows + (folds - 1) * period + shape.m - 1
    return last_row_accepted + latency + 1


def tier_cycles(rows, cols, m, k, n):
    """Reference cycle counts of the performance tiers of docs/performance.md for a WS GEMM.

    Returns a dict with ``T1`` (no weight double buffering, SCALE-Sim WS), ``T2`` (double
    buffered, array drains between folds), ``T3`` (folds back to back) and ``ideal`` (every
    MAC busy every cycle).
    """
    shape = GemmShape(m, k, n)
    f = fold_count(rows, cols, shape.k, shape.n)
    r, c = rows, cols
    return {
        "T1": f * (2 * r + c + m - 2),
        "T2": r + f * (m + r + c - 2),
        "T3": r + f * max(m, r) + r + c - 2,
        "ideal": ceil(shape.macs / (r * c)),
    }


def utilization(rows, cols, m, k, n, cycles):
    """Fraction of PE-cycles doing a useful MAC: ``M·K·N / (R·C·cycles)``."""
    return m * k * n / (rows * cols * cycles)


def attention_cycles(
    rows,
    cols,
    lq,
    lk,
    d,
    dv,
    *,
    array_latency,
    softmax_latency,
    reciprocal_latency,
    normalizer_latency,
    reciprocal_units=1,
    fifo_latency=2,
    mode="single",
    last_block=True,
    p_bits=8,
):
    """Exact cycles of one attention tile (``hdl.attention.tile.AttentionTile``, one key
    block in modes ``preload`` and ``online``) with no stalls on any stream.

    Counted from the cycle the parameter beat is taken to the cycle the last output beat is
    taken, inclusive, with Q, K and V offered from that cycle on. The phases follow one
    another (V loads during the first three; the reciprocals run beside the softmax and P·V):

    - load: ``max(Lq, Lk)·nd`` beats of Q and K (``nd = ceil(d/R)``), one per cycle each;
    - Q·Kᵀ on the array: ``F1 = nd·nk`` folds (``nk = ceil(Lk/C)``) of ``max(Lq, R)``
      cycles each, R cycles of first weights and the array's latency (as
      :func:`stream_cycles`);
    - softmax: ``Lq·nk`` beats of S at one per cycle; row j's L leaves with its last P beat,
      ``(j + 2)·nk − 1 + softmax_latency`` cycles after the first S beat (the second pass of
      each row follows its first);
    - reciprocals: ``reciprocal_units`` units take the rows in turn, ``reciprocal_latency``
      cycles each, from the row's L (through a FIFO of ``fifo_latency`` cycles, one L per
      cycle) into another FIFO;
    - P·V on the array: ``F2 = nk·nv`` folds (``nv = ceil(dv/C)``; twice as many at
      PB = 16), as Q·Kᵀ, after the softmax and the last V beat (``Lk·nv``);
    - division: row j's ``nv`` beats of O_acc start once its reciprocal is in and row j−1
      has ended (back to back when the reciprocals ran ahead), plus ``normalizer_latency``.

    The remaining constants are the phases' hand-over cycles (registered done flags and the
    feeders' read registers).

    Parameters
    ----------
    rows, cols : int
        Array size R × C.
    lq, lk, d, dv : int
        Tile shape.
    array_latency, softmax_latency, reciprocal_latency, normalizer_latency, fifo_latency : int
        The hardware's latencies (``hdl.attention.tile.tile_latencies``).
    reciprocal_units : int
        Reciprocal units working in turn.
    mode : str
        ``"single"`` (the softmax reads each row of S twice: max, then P), ``"preload"``
        (one key block of a longer row, the row max given: one read) or ``"online"`` (one key
        block with the running max: two reads, as ``"single"``; the α rescale of L and O_acc
        rides on the additions of the block's L and first P·V chunk and costs no cycle).
    p_bits : int
        PB: 8, or 16 (P·V runs twice, the low and the high bytes of P).
    last_block : bool
        ``preload`` and ``online`` only: ``False`` for a key block before the last, which
        ends after P·V; its count runs to the cycle the next block's parameter beat is taken.
    """
    for name, value in (
        ("rows", rows),
        ("cols", cols),
        ("lq", lq),
        ("lk", lk),
        ("d", d),
        ("dv", dv),
        ("array_latency", array_latency),
        ("softmax_latency", softmax_latency),
        ("reciprocal_latency", reciprocal_latency),
        ("normalizer_latency", normalizer_latency),
        ("reciprocal_units", reciprocal_units),
        ("fifo_latency", fifo_latency),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if p_bits not in (8, 16):
        raise ValueError(f"p_bits must be 8 or 16, got {p_bits!r}")
    if mode not in ("single", "preload", "online"):
        raise ValueError(f"mode must be 'single', 'preload' or 'online', got {mode!r}")
    if mode == "single" and not last_block:
        raise ValueError(
            "last_block=False needs mode='preload' or 'online' (a single tile is its own last "
            "block)"
        )
    nd, nk, nv = ceil(d / rows), ceil(lk / cols), ceil(dv / cols)
    period = max(lq, rows)

    def gemm(first_weight, folds):
        # The cycle the last result row is taken (stream_cycles without its +1).
        return first_weight + rows + (folds - 1) * period + lq - 1 + array_latency

    load_end = max(lq, lk) * nd  # last Q or K beat (the parameter beat is cycle 0)
    qk_end = gemm(load_end + 3, nd * nk)
    first_score = qk_end + 2
    # The single and online softmax reads each row twice (max, then P); a pre-loaded max once.
    passes = 1 if mode == "preload" else 2
    l_out = [first_score + (j + passes) * nk - 1 + softmax_latency for j in range(lq)]
    pv_start = max(l_out[-1], lk * nv) + 1  # V beats run from cycle 1
    pv_end = gemm(pv_start + 2, nk * nv * (p_bits // 8))  # PB = 16: two passes
    if not last_block:
        return pv_end + 1  # the next block's parameter beat is taken in this cycle
    first_beat = pv_end + 2  # the O_acc reader's first beat
    taken = []  # the cycle a reciprocal unit took each row's L
    row_end = None  # the previous row's last O_acc beat
    for j in range(lq):
        start = l_out[j] + fifo_latency
        if j:
            start = max(start, taken[j - 1] + 1)  # one L leaves the FIFO per cycle
        if j >= reciprocal_units:  # the unit is free once its previous row's result left
            start = max(start, taken[j - reciprocal_units] + reciprocal_latency)
        taken.append(start)
        loaded = start + reciprocal_latency + fifo_latency
        if row_end is not None:
            loaded = max(loaded, row_end)
        row_end = max(loaded + 1, first_beat) + nv - 1
    return row_end + normalizer_latency + 1
