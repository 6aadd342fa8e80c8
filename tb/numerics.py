"""What a testbench needs to know about a MAC kind: operand ranges, the golden result, and how
per-fold partial sums from the array combine into the final output.

Both families add the folds of a strip exactly as the accumulator would (W-bit wrap; for FP8
the exact Kulisch integer and ORed flags), so the only rounding is the final one.
"""

import numpy as np

from golden import fp8 as gfp8
from golden.int8 import gemm_int8, operand_range, wrap
from golden.tiling import sum_folds


class Int8Numerics:
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


class Fp8Numerics:
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


def numerics_for(config):
    return Fp8Numerics(config) if config.is_fp8 else Int8Numerics(config)
