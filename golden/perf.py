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
