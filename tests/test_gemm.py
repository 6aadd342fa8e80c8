"""SystolicGemm in Amaranth's simulator: whole GEMMs (the K folds of each column strip summed
in the accumulator SRAM), cycle-exact against the model without stalls, and under random
stalls on every stream."""

import random

import numpy as np
import pytest
from sim_streams import StreamBench, stream_get, stream_put

from golden.fp8 import decode_table, fp8_matmul_exact
from golden.int8 import wrap
from golden.tiling import split_folds
from hdl.array import SystolicGemm
from hdl.array.layouts import act_row_layout, weight_row_layout
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for


def gemm_beats(cfg, a, b, act_unsigned):
    """Weight and activation beats of ``A·B`` (codes), folds in strip order."""
    weight_layout, act_layout = weight_row_layout(cfg), act_row_layout(cfg)
    weights, acts = [], []
    for _, w_tile, a_tile in split_folds(a, b, cfg.rows, cfg.cols):
        weights += [weight_layout.const([int(w) & 0xFF for w in row]) for row in w_tile]
        acts += [
            act_layout.const(
                {
                    "data": [int(x) & 0xFF for x in row],
                    "act_unsigned": act_unsigned,
                    "last": i == len(a_tile) - 1,
                }
            )
            for i, row in enumerate(a_tile)
        ]
    return weights, acts


def expected_rows(cfg, a, b):
    """Finished rows in output order (strip by strip): W-bit sums of Python int products (INT8)
    or the golden binary32 bits (FP8). The last strip's padding columns hold what the array
    computes there, ``A`` times zero weights: 0, or NaN for a row with a NaN or Inf."""
    m, k = a.shape
    n = -(-b.shape[1] // cfg.cols) * cfg.cols
    b = np.pad(b, ((0, 0), (0, n - b.shape[1])))  # code 0 is +0 in every format
    if cfg.is_fp8:
        c = fp8_matmul_exact(a, b, *cfg.fp8_formats).result.view(np.uint32)
    else:
        c = [
            [
                wrap(sum(int(a[i, j]) * int(b[j, col]) for j in range(k)), cfg.acc_width)
                for col in range(n)
            ]
            for i in range(m)
        ]
    return [
        [int(c[i][n0 + col]) for col in range(cfg.cols)]
        for n0 in range(0, n, cfg.cols)
        for i in range(m)
    ]


def run_gemm(cfg, a, b, *, act_unsigned=0, stalls=False, rng=None):
    """Stream ``A·B`` through a SystolicGemm; returns the design and ``seen``: the transfer
    cycles of ``weights`` and ``acts`` and the ``(cycle, payload)`` beats of ``results``."""
    m, k = a.shape
    dut = SystolicGemm(cfg, acc_rows=m)
    bench = StreamBench(dut)
    weights, acts = gemm_beats(cfg, a, b, act_unsigned)
    count = m * -(-b.shape[1] // cfg.cols)
    seen = {}

    def gap():
        return stalls and rng.random() < 0.3

    @bench.add_testbench
    async def weight_producer(ctx):
        ctx.set(dut.k_folds, -(-k // cfg.rows))
        seen["weights"] = await stream_put(ctx, bench, dut.weights, weights, idle=gap)

    @bench.add_testbench
    async def act_producer(ctx):
        seen["acts"] = await stream_put(ctx, bench, dut.acts, acts, idle=gap)

    @bench.add_testbench
    async def result_consumer(ctx):
        ready = (lambda valid: rng.random() < 0.6) if stalls else None
        seen["results"] = await stream_get(ctx, bench, dut.results, count, ready=ready)

    bench.run()
    return dut, seen


def check(cfg, seen, a, b):
    want = expected_rows(cfg, a, b)
    got = [list(row.data) for _, row in seen["results"]]
    for r, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"result row {r}: got {g}, want {w}"
    m = a.shape[0]
    assert [row.last for _, row in seen["results"]] == [
        int(i % m == m - 1) for i in range(len(want))
    ]


@pytest.mark.parametrize("act_unsigned", [0, 1], ids=["int8", "uint8"])
def test_gemm_int8_cycles_and_sums(act_unsigned, seed):
    """A 2×2 INT8 array, M=3 K=5 N=3 (3 K folds × 2 strips, the last ones zero-padded): the
    wrapped sums, every row one latency after its last-fold activation row, and the whole GEMM
    in exactly ``cycles_for(config, shape, "gemm")`` cycles."""
    cfg = ArrayConfig(rows=2, cols=2, max_k=5)
    rng = np.random.default_rng(seed)
    lo, hi = (0, 256) if act_unsigned else (-128, 128)
    a = rng.integers(lo, hi, (3, 5))
    b = rng.integers(-128, 128, (5, 3))
    a[0, :] = hi - 1  # extreme products
    b[:, 0] = -128
    dut, seen = run_gemm(cfg, a, b, act_unsigned=act_unsigned)
    check(cfg, seen, a, b)
    m, k_folds = 3, 3
    # Activation rows of each strip's last fold: the rows whose finished sums leave.
    last_fold_rows = [
        seen["acts"][strip * k_folds * m + (k_folds - 1) * m + i]
        for strip in range(2)
        for i in range(m)
    ]
    assert [c for c, _ in seen["results"]] == [t + dut.latency for t in last_fold_rows]
    assert seen["results"][-1][0] - seen["weights"][0] + 1 == cycles_for(cfg, (3, 5, 3), "gemm")


def finite_codes(rng, fmt, shape):
    """Random codes of ``fmt`` without NaN or Inf (those are placed by hand)."""
    table = decode_table(fmt)
    finite = np.flatnonzero(~table["is_nan"] & ~table["is_inf"])
    return rng.choice(finite, shape)


@pytest.mark.parametrize("mac", ["int8", "e4m3xe5m2"])
def test_gemm_random_stalls(mac, seed):
    """Random gaps on ``weights`` and ``acts`` and a random ``results.ready``, with one-row
    folds (M=1) and M=4: the same finished rows, NaN and Inf included for FP8."""
    cfg = ArrayConfig(rows=2, cols=2, mac=mac, max_k=7)
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    for m in (1, 4):
        if cfg.is_fp8:
            a = finite_codes(np_rng, cfg.fp8_formats[0], (m, 7))
            b = finite_codes(np_rng, cfg.fp8_formats[1], (7, 3))
            a[m - 1, 1] = 0x7F  # a NaN activation: the last row is NaN in every column
            b[3, 2] = 0xFC  # −Inf in column 2 (NaN where a row has a zero there)
        else:
            a = np_rng.integers(-128, 128, (m, 7))
            b = np_rng.integers(-128, 128, (7, 3))
        _, seen = run_gemm(cfg, a, b, stalls=True, rng=rng)
        check(cfg, seen, a, b)
