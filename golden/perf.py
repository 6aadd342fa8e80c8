"""Analytical cycle model of the generated hardware (DESIGN.md, Performance reference).

:func:`array_cycles` is the exact cycle count of the bare :class:`~hdl.array.SystolicArray`
with no stalls; the tests hold the RTL to it. :func:`tier_cycles` gives the reference tiers
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


def array_cycles(rows, cols, m, k, n, *, mac_latency=0):
    """Exact cycles of one GEMM on the bare array, with no stalls on any stream.

    Counted from the cycle the first weight beat is accepted to the cycle the last result row
    is accepted, inclusive. Fold f's first activation is accepted at ``T_f = R + f·max(M, R)``
    (the weights of fold f+1 load while fold f computes, R beats, so a fold lasts
    ``max(M, R)``), and a row accepted at t leaves the result stream at
    ``t + R + C + 1 + mac_latency``: one input register, R−1 skew stages plus R PE rows, C−1
    activation hops across and C−1−c de-skew stages for column c, then the result FIFO.

    Parameters
    ----------
    mac_latency : int
        Extra pipeline stages of the MAC kind beyond the INT8 datapath.
    """
    shape = GemmShape(m, k, n)
    folds = fold_count(rows, cols, shape.k, shape.n)
    period = max(shape.m, rows)
    last_row_accepted = rows + (folds - 1) * period + shape.m - 1
    last_result = last_row_accepted + rows + cols + 1 + mac_latency
    return last_result + 1


def tier_cycles(rows, cols, m, k, n):
    """Reference cycle counts of DESIGN.md's performance tiers for a WS GEMM.

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


def gemm_cycles(rows, cols, m, k, n, *, mac_latency=0):
    """Exact cycles of one GEMM on :class:`~hdl.gemm.SystolicGemm` (array + accumulator SRAM),
    with no stalls: the array's count plus the accumulator's one read-modify-write stage."""
    return array_cycles(rows, cols, m, k, n, mac_latency=mac_latency) + 1
