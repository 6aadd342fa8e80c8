"""The one check of a GEMM operand matrix, shared by the golden models and the testbench API."""

import numpy as np

from golden.errors import UsageTypeError, UsageValueError


def check_operand(name, x, lo, hi, *, kind=None, allow_empty=True):
    """``x`` as an int64 matrix if it is a 2-D matrix of integers between ``lo`` and ``hi``.

    Parameters
    ----------
    name : str
        Operand name that starts every message (``a``, ``b``).
    x : array_like
        The operand: a NumPy array or nested sequences of equal length.
    lo, hi : int
        Inclusive range of its elements.
    kind : str or None
        What the elements are, added to the range message (``int8 activations``, ``e4m3
        codes``).
    allow_empty : bool
        Accept a matrix with no rows or no columns.

    Returns
    -------
    array of int64

    Raises
    ------
    golden.errors.UsageValueError
        If ``x`` is ragged, not 2-D, empty when that is not allowed, or holds a value outside
        ``[lo, hi]``.
    golden.errors.UsageTypeError
        If it holds anything but integers (floats, bools, objects).
    """
    try:
        x = np.asarray(x)
    except ValueError:  # NumPy refuses rows of different lengths
        raise UsageValueError(
            f"{name} must be a 2-D matrix, got rows of different lengths", parameter=name
        ) from None
    if x.ndim != 2:
        raise UsageValueError(f"{name} must be a 2-D matrix, got shape {x.shape}", parameter=name)
    if not allow_empty and x.size == 0:
        raise UsageValueError(
            f"{name} must be a 2-D matrix of at least 1×1, got shape {x.shape}", parameter=name
        )
    if not np.issubdtype(x.dtype, np.integer):
        raise UsageTypeError(f"{name} must hold integers, got dtype {x.dtype}", parameter=name)
    if x.size and (x.min() < lo or x.max() > hi):
        what = f" ({kind})" if kind else ""
        raise UsageValueError(
            f"{name} values must be between {lo} and {hi}{what}, got {x.min()}..{x.max()}",
            parameter=name,
        )
    return x.astype(np.int64)
