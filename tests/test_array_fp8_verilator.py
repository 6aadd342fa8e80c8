"""FP8 arrays (E4M3, E5M2, E4M3×E5M2) under Verilator: every output bit-identical to the
golden model and to the independent reference (``conftest.reference_gemm``), with specials,
subnormals, maximum magnitudes, rounding ties and random stalls."""

import math

import numpy as np
import pytest
from conftest import assert_same_result, config_param, fp8_codes, fp8_value, reference_gemm

from golden.fp8 import fp8_matmul_exact
from hdl.arith import arithmetic_for
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for
from tb.runtime import GemmJob, run_gemm_batch

pytestmark = pytest.mark.verilator

KINDS = ["e4m3", "e5m2", "e4m3xe5m2"]
SHAPES = [(1, 1), (3, 5), (8, 8)]
#: 8×8 FP8 arrays simulate slowly (wide Kulisch adders): E4M3 runs by default, the others in
#: the slow set.
SLOW = {("e5m2", 8, 8), ("e4m3xe5m2", 8, 8)}


def params():
    return [
        config_param(
            mac,
            rows,
            cols,
            rows=rows,
            cols=cols,
            mac=mac,
            marks=(pytest.mark.slow,) if (mac, rows, cols) in SLOW else (),
        )
        for mac in KINDS
        for rows, cols in SHAPES
    ]


def code_of(value, fmt):
    """The FP8 code of ``fmt`` holding exactly ``value`` (``ValueError`` if there is none)."""
    for code in range(256):
        v = fp8_value(code, fmt)
        if v == value and math.copysign(1.0, v) == math.copysign(1.0, value):
            return code
    raise ValueError(f"{value!r} is not a value of {fmt}")


def tie_jobs(fa, fb):
    """Sums exactly halfway between two binary32 values, 2^24 + 1 and 2^24 + 3 Kulisch units:
    ties to even round the first down and the second up (docs/numerics.md §2.4)."""
    finite = [fp8_value(c, fa) for c in range(1, 128)], [fp8_value(c, fb) for c in range(1, 128)]
    tiny_a, tiny_b = (min(v for v in values if v > 0) for values in finite)
    unit = tiny_a * tiny_b  # the smallest product is one Kulisch unit
    # 2^24 units as one product x·w of representable values.
    x, w = next(
        (x, unit * 2.0**24 / x) for x in finite[0] if x > 0 and unit * 2.0**24 / x in finite[1]
    )
    big_a, big_b = code_of(x, fa), code_of(w, fb)
    ta, tb = code_of(tiny_a, fa), code_of(tiny_b, fb)
    return [
        GemmJob(np.array([[big_a, ta]]), np.array([[big_b], [tb]])),
        GemmJob(np.array([[big_a, ta, ta, ta]]), np.array([[big_b], [tb], [tb], [tb]])),
    ]


def edge_jobs(fa, fb, rows, cols):
    """numerics §6.4–§6.8 through the array: max magnitude, cancellation, specials, zeros."""
    big_a = 0x7E if fa == "e4m3" else 0x7B
    big_b = 0x7E if fb == "e4m3" else 0x7B
    k = 2 * rows + 1
    jobs = [
        GemmJob(np.full((rows + 1, k), big_a), np.full((k, cols), big_b)),  # all max
        GemmJob(np.full((2, k), big_a | 0x80), np.full((k, cols), big_b)),  # all −max
        # 2·max·max then −2·max·max in later folds, plus the smallest product: exact tiny sum.
        GemmJob(
            np.array([[big_a, big_a, 0x01] + [big_a | 0x80] * 2]),
            np.array([[big_b], [big_b], [0x01], [big_b], [big_b]]),
        ),
        GemmJob(np.full((1, 3), 0x80), np.full((3, 1), 0x00)),  # −0 products → +0.0
    ]
    nan_a = 0x7F
    jobs.append(GemmJob(np.array([[0x38, nan_a, 0x38]]), np.array([[0x00], [0x00], [0x38]])))
    if fb == "e5m2":
        # +Inf and −Inf in one dot product, and Inf · 0.
        jobs.append(GemmJob(np.array([[0x38, 0x38, 0x00]]), np.array([[0x7C], [0xFC], [0x7C]])))
        jobs.append(GemmJob(np.array([[0x38, big_a]]), np.array([[0xFC], [big_b]])))
    return jobs


@pytest.mark.parametrize(("mac", "rows", "cols"), params())
def test_fp8_array_bit_exact(mac, rows, cols, seed):
    check_fp8_array(ArrayConfig(rows=rows, cols=cols, mac=mac), seed)


#: ``mac_pipeline=3`` (FP8 only): every kind once, square and not.
P3_SHAPES = [("e4m3", 4, 4), ("e5m2", 3, 5), ("e4m3xe5m2", 5, 2)]


@pytest.mark.parametrize(
    "cfg",
    [config_param(rows=rows, cols=cols, mac=mac, mac_pipeline=3) for mac, rows, cols in P3_SHAPES],
)
def test_fp8_array_mac_pipeline_3(cfg, seed):
    """Three MAC stages (operand register, significand product, aligned product): the same
    bits as ever, and cycle counts that follow the model with MAC latency 3."""
    assert cfg.mac_latency == 3
    # One-row folds switch the weights every cycle; K = 1 is a single product per column.
    check_fp8_array(cfg, seed, extra_shapes=[(1, 3 * cfg.rows + 1, cfg.cols + 1), (cfg.rows, 1, 1)])


#: ``mac_pipeline=4`` (FP8 only): the segmented add at E4M3 (4 segments; the GEMM tests run
#: E5M2's 5).
P4_SHAPES = [("e4m3", 3, 2)]


@pytest.mark.parametrize(
    "cfg",
    [config_param(rows=rows, cols=cols, mac=mac, mac_pipeline=4) for mac, rows, cols in P4_SHAPES],
)
def test_fp8_array_mac_pipeline_4(cfg, seed):
    """Segmented partial-sum adds, their carries resolved below each column: the same bits
    as ever (sums that cross every segment boundary, both signs, and the specials), and
    cycle counts that follow the model with the resolver's two cycles."""
    assert cfg.mac_latency == 3 and arithmetic_for(cfg).column_resolve_latency == 2
    check_fp8_array(cfg, seed, extra_shapes=[(1, 3 * cfg.rows + 1, cfg.cols + 1), (cfg.rows, 1, 1)])


def check_fp8_array(cfg, seed, extra_shapes=()):
    """Random GEMMs (some with specials and random stalls), the edge and tie jobs and random
    GEMMs of ``extra_shapes`` (M, K, N) through ``cfg``: every bit against the golden model
    and the reference, and the cycles of the stall-free random jobs against
    :func:`~hdl.cycles.cycles_for`."""
    rows, cols = cfg.rows, cfg.cols
    fa, fb = cfg.fp8_formats
    rng = np.random.default_rng(seed)
    jobs = []
    for i in range(6):
        m, k, n = (int(x) for x in rng.integers(1, [2 * rows + 4, 3 * rows + 4, 2 * cols + 4]))
        rate = (0.0, 0.0, 0.02, 0.1, 0.0, 0.01)[i]
        stalls = {} if i < 3 else {"weight_stall": 0.3, "act_stall": 0.3, "result_stall": 0.4}
        jobs.append(
            GemmJob(fp8_codes(rng, fa, (m, k), rate), fp8_codes(rng, fb, (k, n), rate), **stalls)
        )
    timed = [0, 1, 2]
    for m, k, n in extra_shapes:
        timed.append(len(jobs))
        jobs.append(GemmJob(fp8_codes(rng, fa, (m, k), 0.05), fp8_codes(rng, fb, (k, n))))
    jobs += edge_jobs(fa, fb, rows, cols)
    jobs += tie_jobs(fa, fb)
    runs = run_gemm_batch(cfg, jobs, seed=seed)
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        want = fp8_matmul_exact(job.a, job.b, fa, fb).result
        assert np.array_equal(run.c.view(np.uint32), want.view(np.uint32)), f"job {i}"
        assert_same_result(cfg, run.c, reference_gemm(cfg, job.a, job.b), f"job {i} vs reference")
        if i in timed:
            (m, k), n = job.a.shape, job.b.shape[1]
            assert run.cycles == cycles_for(cfg, (m, k, n)), f"job {i}"
        if job.result_stall:
            assert run.stats["results"]["paused"] > 0, f"job {i}"


@pytest.mark.xdist_group("r3c5-e4m3")
def test_fp8_result_independent_of_array_shape(seed):
    """§6.9 through hardware: the same E4M3 GEMM gives identical bits on 1×1, 3×5 and 8×8."""
    rng = np.random.default_rng(seed)
    a = fp8_codes(rng, "e4m3", (5, 29))
    b = fp8_codes(rng, "e4m3", (29, 6))
    results = [
        run_gemm_batch(ArrayConfig(rows=r, cols=c, mac="e4m3"), [GemmJob(a, b)], seed=seed)[
            0
        ].c.view(np.uint32)
        for r, c in SHAPES
    ]
    assert all(np.array_equal(results[0], r) for r in results[1:])
