"""Shared pytest fixtures and functions: explicit seeds, per-configuration parameters, random
operands, and a reference GEMM that shares no code with ``golden/`` or ``tb/``.

Test modules import the functions with ``from conftest import …`` (pytest puts this folder on
``sys.path``).
"""

import math
import os
import zlib
from fractions import Fraction

import numpy as np
import pytest

from hdl.config import ArrayConfig


@pytest.fixture
def seed(request):
    """Random-stimulus seed: ``SYSTOLIX_SEED`` if set, else a stable hash of the test's id.

    It is printed, so a failing test's output names the seed to rerun it with.
    """
    value = int(os.environ.get("SYSTOLIX_SEED", "0")) or zlib.crc32(request.node.nodeid.encode())
    print(f"seed={value}")
    return value


def config_param(*values, group="", prefix="", marks=(), **config):
    """A ``pytest.param`` for one array configuration, named by its id and grouped by it.

    Tests sharing one Verilator build (the same configuration and top) land on one
    pytest-xdist worker with ``--dist loadgroup``, so each build happens once.

    Parameters
    ----------
    *values
        The parameter values (default: the :class:`~hdl.config.ArrayConfig` itself).
    group : str
        Prefix of the xdist group, e.g. ``"g-"`` for the GEMM top's separate build.
    prefix : str
        Prefix of the test id, e.g. ``"gemm-"``.
    marks : tuple
        Extra marks, e.g. ``pytest.mark.slow``.
    **config
        :class:`~hdl.config.ArrayConfig` arguments.
    """
    cfg = ArrayConfig(**config)
    return pytest.param(
        *(values or (cfg,)),
        id=f"{prefix}{cfg.id}",
        marks=(pytest.mark.xdist_group(f"{group}{cfg.id}"), *marks),
    )


def fp8_codes(rng, fmt, shape, special_rate=0.0):
    """Random FP8 codes of ``fmt``: finite codes (subnormals, zeros and extremes included),
    with a fraction ``special_rate`` of NaN/Inf codes."""
    codes = np.arange(256)
    special = np.array([fp8_value(int(c), fmt) for c in codes], dtype=np.float64)
    finite = codes[np.isfinite(special)]
    specials = codes[~np.isfinite(special)]
    out = rng.choice(finite, shape)
    mask = rng.random(shape) < special_rate
    out[mask] = rng.choice(specials, int(mask.sum()))
    return out


def operands(cfg, rng, m, k, n, *, act_unsigned=False, special_rate=None):
    """Random operands of an M×K×N GEMM on ``cfg``.

    INT8: int8 weights and int8 (uint8 with ``act_unsigned``) activations over their whole
    range. FP8: every code uniformly (NaN and Inf included) when ``special_rate`` is ``None``,
    else finite codes with that fraction of NaN/Inf.
    """
    if not cfg.is_fp8:
        lo, hi = (0, 256) if act_unsigned else (-128, 128)
        return rng.integers(lo, hi, (m, k)), rng.integers(-128, 128, (k, n))
    if special_rate is None:
        return rng.integers(0, 256, (m, k)), rng.integers(0, 256, (k, n))
    fa, fb = cfg.fp8_formats
    return fp8_codes(rng, fa, (m, k), special_rate), fp8_codes(rng, fb, (k, n), special_rate)


# --- a reference GEMM from first principles -------------------------------------------------
# Plain Python loops over ints and Fractions, written from docs/numerics.md §2–§3 without the golden
# model's vectorized routines or the fold bookkeeping, so a bug there cannot hide in both the
# testbench's assembly and the expectation.

#: (exponent bits, mantissa bits, bias, has Inf) of the OCP FP8 formats.
_FP8_FIELDS = {"e4m3": (4, 3, 7, False), "e5m2": (5, 2, 15, True)}


def fp8_value(code, fmt):
    """The value of an FP8 code as a float (exact), ``inf`` or ``nan``."""
    exp_bits, man_bits, bias, has_inf = _FP8_FIELDS[fmt]
    sign = -1.0 if code >> 7 else 1.0
    exp = (code >> man_bits) & ((1 << exp_bits) - 1)
    man = code & ((1 << man_bits) - 1)
    top = (1 << exp_bits) - 1
    if has_inf and exp == top:
        return sign * math.inf if man == 0 else math.nan
    if not has_inf and exp == top and man == (1 << man_bits) - 1:
        return math.nan  # E4M3 keeps S.1111.111 for NaN and has no Inf
    if exp == 0:
        return sign * math.ldexp(man, 1 - bias - man_bits)
    return sign * math.ldexp((1 << man_bits) | man, exp - bias - man_bits)


def _round_f32(x):
    """The binary32 nearest to the Fraction ``x`` (ties to even), in the normal range."""
    if x == 0:
        return np.float32(0.0)
    guess = np.float32(float(x))
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess]
    candidates.append(np.nextafter(guess, np.float32(np.inf)))

    def key(c):
        even = int(np.array(c, dtype=np.float32).view(np.uint32)) & 1
        return abs(Fraction(float(c)) - x), even

    return min(candidates, key=key)


def reference_gemm(cfg, a, b, *, act_unsigned=False):
    """``C = A·B`` on configuration ``cfg`` computed element by element.

    INT8: exact Python-int dot products wrapped to ``cfg.acc_width`` bits (activations read
    as uint8 with ``act_unsigned``). FP8: exact Fraction sums of the decoded products, NaN for
    a NaN operand, Inf·0 or both infinities, ±Inf otherwise if any product is infinite, else
    the sum rounded once to binary32 (+0.0 for an exact zero). Returns int64 or float32.
    """
    a = [[int(x) for x in row] for row in np.asarray(a)]
    b = [[int(x) for x in row] for row in np.asarray(b)]
    m, k, n = len(a), len(b), len(b[0])
    if not cfg.is_fp8:
        width = cfg.acc_width
        act = [[x & 0xFF if act_unsigned else x for x in row] for row in a]
        c = np.zeros((m, n), dtype=np.int64)
        for i in range(m):
            for j in range(n):
                s = sum(act[i][t] * b[t][j] for t in range(k)) % (1 << width)
                c[i, j] = s - (1 << width) if s >> (width - 1) else s
        return c
    fa, fb = cfg.fp8_formats
    av = [[fp8_value(x, fa) for x in row] for row in a]
    bv = [[fp8_value(x, fb) for x in row] for row in b]
    c = np.zeros((m, n), dtype=np.float32)
    for i in range(m):
        for j in range(n):
            products = [av[i][t] * bv[t][j] for t in range(k)]  # exact in float64
            if any(math.isnan(p) for p in products):  # NaN operand, or Inf·0
                c[i, j] = np.float32(np.nan)
            elif math.inf in products and -math.inf in products:
                c[i, j] = np.float32(np.nan)
            elif math.inf in products or -math.inf in products:
                c[i, j] = np.float32(math.inf if math.inf in products else -math.inf)
            else:
                c[i, j] = _round_f32(sum((Fraction(p) for p in products), Fraction(0)))
    return c


def assert_same_result(cfg, got, want, what=""):
    """Assert two GEMM outputs are identical: integers for INT8; for FP8 binary32 bit
    patterns, NaNs as the canonical ``0x7FC00000`` (docs/numerics.md §2.5)."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    if cfg.is_fp8:
        want = want.astype(np.float32).view(np.uint32).copy()
        want[np.isnan(want.view(np.float32))] = 0x7FC00000
        got = got.astype(np.float32).view(np.uint32)
    bad = np.argwhere(got != want)
    if bad.size:
        i, j = bad[0]
        show = (lambda v: f"{int(v):#010x}") if cfg.is_fp8 else int
        raise AssertionError(
            f"{what}: C[{i}][{j}] = {show(got[i, j])}, expected {show(want[i, j])}"
        )
