"""What a testbench needs to know about a MAC kind: operand ranges, the golden result, and how
per-fold partial sums from the array combine into the final output.

Both families add the folds of a strip exactly as the accumulator would (W-bit wrap; for FP8
the exact Kulisch integer and ORed flags), so the only rounding is the final one.

The checker lives here too: :meth:`Int8Numerics.mismatch` / :meth:`Fp8Numerics.mismatch` name
the first element (row-major) where the hardware differs from the golden model, with both
values; FP8 results compare as bit patterns, so −0.0 differs from +0.0 and NaNs compare by
their bits.
"""

import numpy as np

from golden import fp8 as gfp8
from golden.int8 import gemm_int8, operand_range, wrap
from golden.tiling import sum_folds


def first_mismatch(got, want):
    """The first element, in row-major order, where two matrices of one shape differ.

    Parameters
    ----------
    got, want : 2-D arrays of integers (comparable values, e.g. FP32 bit patterns)

    Returns
    -------
    (row, col, got_value, want_value) as ints, or None when every element is equal.
    """
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        raise ValueError(f"got has shape {got.shape}, want has shape {want.shape}")
    diff = np.argwhere(got != want)
    if diff.size == 0:
        return None
    i, j = (int(x) for x in diff[0])
    return i, j, int(got[i, j]), int(want[i, j])


class _Numerics:
    def mismatch(self, got, want):
        """``"C[i][j]: hardware …, golden …"`` for the first differing element, or ``None``.

        A shape difference is a mismatch too.
        """
        got = self.comparable(got)
        want = self.comparable(want)
        if got.shape != want.shape:
            return f"C has shape {got.shape}, golden {want.shape}"
        bad = first_mismatch(got, want)
        if bad is None:
            return None
        i, j, got_v, want_v = bad
        return f"C[{i}][{j}]: hardware {self.describe(got_v)}, golden {self.describe(want_v)}"


class Int8Numerics(_Numerics):
    """INT8 GEMM: outputs are W-bit two's-complement integers (int64 arrays)."""

    def __init__(self, config):
        self.config = config

    def act_range(self, act_unsigned):
        return operand_range(act_unsigned)

    weight_range = (-128, 127)

    def expected(self, a, b, act_unsigned):
        return gemm_int8(a, b, self.config.acc_width, act_unsigned=act_unsigned)

    def combine(self, folds, partials, m, n):
        """Sum per-fold partial sums (lists of M rows of C ints) with the W-bit wrap."""
        return sum_folds(folds, partials, m, n, self.config.acc_width)

    def comparable(self, c):
        return np.asarray(c, dtype=np.int64)

    def describe(self, value):
        """One comparable value as text."""
        return str(value)


class Fp8Numerics(_Numerics):
    """FP8 GEMM: exact Kulisch sums, one RNE rounding to binary32 (float32 arrays)."""

    def __init__(self, config):
        self.config = config
        self.act_fmt, self.weight_fmt = config.fp8_formats

    def act_range(self, act_unsigned):
        return (0, 255)

    weight_range = (0, 255)

    def expected(self, a, b, act_unsigned):
        return gfp8.fp8_matmul_exact(a, b, self.act_fmt, self.weight_fmt).result

    def combine(self, folds, partials, m, n):
        """Add the folds' exact integers (W-bit wrap, never reached for K ≤ max_k), OR the
        flags, then round once to binary32."""
        width = self.config.acc_width
        sums = [[0] * n for _ in range(m)]
        flags = {name: np.zeros((m, n), dtype=bool) for name in ("nan", "pinf", "ninf")}
        for fold, rows in zip(folds, partials, strict=True):
            for i, row in enumerate(rows):
                for j in range(fold.n_len):
                    elem = row[j]
                    col = fold.n0 + j
                    sums[i][col] = wrap(sums[i][col] + elem["sum"], width)
                    for name in flags:
                        flags[name][i, col] |= bool(elem[name])
        return gfp8.finalize_f32(
            sums,
            flags["nan"],
            flags["pinf"],
            flags["ninf"],
            gfp8.product_lsb_exp(self.act_fmt, self.weight_fmt),
        )

    def comparable(self, c):
        """Bit patterns, so −0.0, +0.0 and NaNs compare exactly."""
        return np.asarray(c, dtype=np.float32).view(np.uint32).astype(np.int64)

    def describe(self, value):
        """One FP32 bit pattern as text: hex bits and the value."""
        value = int(value)
        return f"{value:#010x} ({float(np.uint32(value).view(np.float32))!r})"


def numerics_for(config):
    return Fp8Numerics(config) if config.is_fp8 else Int8Numerics(config)
