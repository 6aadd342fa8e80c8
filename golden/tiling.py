"""Fold decomposition of a GEMM onto an R×C weight-stationary array (docs/performance.md).

A fold is one stationary ``rows × cols`` tile of B. Column strips of N are the outer loop and
K chunks the inner loop, so the K folds of one output strip are consecutive: that is the order
the array runs them in and the order partial sums are added.
"""

from dataclasses import dataclass
from math import ceil

import numpy as np

from golden.int8 import wrap


@dataclass(frozen=True)
class Fold:
    """One stationary weight tile: ``B[k0:k0+k_len, n0:n0+n_len]``."""

    index: int
    k0: int
    n0: int
    k_len: int
    n_len: int


def _check_dims(**dims):
    for name, value in dims.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def fold_schedule(rows, cols, k, n):
    """List the folds of a ``K × N`` weight matrix on a ``rows × cols`` array, in run order."""
    _check_dims(rows=rows, cols=cols, k=k, n=n)
    folds = []
    for n0 in range(0, n, cols):
        for k0 in range(0, k, rows):
            folds.append(Fold(len(folds), k0, n0, min(rows, k - k0), min(cols, n - n0)))
    return folds


def split_folds(a, b, rows, cols):
    """Cut a GEMM into per-fold operands, zero-padded to the array size.

    Returns
    -------
    list of (Fold, weights, acts)
        ``weights`` is ``rows × cols`` (array row r holds ``B[k0 + r, n0:n0+cols]``) and
        ``acts`` is ``M × rows`` (``A[:, k0:k0+rows]``).
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a must be M×K and b K×N, got a {a.shape} and b {b.shape}")
    m, k = a.shape
    n = b.shape[1]
    out = []
    for fold in fold_schedule(rows, cols, k, n):
        weights = np.zeros((rows, cols), dtype=np.int64)
        weights[: fold.k_len, : fold.n_len] = b[
            fold.k0 : fold.k0 + fold.k_len, fold.n0 : fold.n0 + fold.n_len
        ]
        acts = np.zeros((m, rows), dtype=np.int64)
        acts[:, : fold.k_len] = a[:, fold.k0 : fold.k0 + fold.k_len]
        out.append((fold, weights, acts))
    return out


def sum_folds(folds, partials, m, n, acc_width):
    """Add per-fold partial sums (each ``M × cols``) into ``C`` with the accumulator's wrap rule."""
    c = np.zeros((m, n), dtype=np.int64)
    for fold, partial in zip(folds, partials, strict=True):
        strip = slice(fold.n0, fold.n0 + fold.n_len)
        c[:, strip] = wrap(c[:, strip] + np.asarray(partial)[:, : fold.n_len], acc_width)
    return c


def strip_count(size, tile):
    """Number of ``tile``-wide pieces needed to cover ``size``."""
    return ceil(size / tile)
