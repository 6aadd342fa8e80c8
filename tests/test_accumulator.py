# amaranth: UnusedElaboratable=no
"""FoldAccumulator in Amaranth's simulator: fold boundaries, one-row folds, backpressure, input
gaps, a reset in the middle of a strip, the INT8 wrap and the FP8 exact sum rounded once.

Expected rows are computed here from the input partial sums with plain Python ints: the W-bit
wrap for INT8 (docs/numerics.md §3.2); for FP8 the exact sum with the flags ORed (§2.5), rounded
once to binary32 by the golden model's ``finalize_f32`` (§2.4).
"""

import math
import random

import numpy as np
import pytest
from sim_streams import StreamBench, stream_get, stream_put

from golden.formats import product_lsb_exp
from golden.fp8 import finalize_f32
from golden.int8 import wrap
from hdl.array.accumulator import FoldAccumulator
from hdl.array.layouts import result_row_layout
from hdl.config import ArrayConfig

INT8 = ArrayConfig(rows=2, cols=3, max_k=3)  # W = 18: random partial sums overflow on adding


def int8_row(rng, cfg):
    """A row of random W-bit partial sums, the extremes included."""
    lo, hi = -(1 << (cfg.acc_width - 1)), (1 << (cfg.acc_width - 1)) - 1
    return [rng.choice([lo, hi, -1, 0, rng.randint(lo, hi)]) for _ in range(cfg.cols)]


def make_strips(rng, cfg, k_folds, m_rows, row=int8_row):
    """Strips of ``k_folds`` folds, strip s with ``m_rows[s]`` rows per fold:
    ``strips[s][fold][i]`` is one input row of ``cols`` partial sums."""
    return [[[row(rng, cfg) for _ in range(m)] for _ in range(k_folds)] for m in m_rows]


def input_beats(cfg, strips):
    """The rows the array would send: strips in order, folds in order, ``last`` on each fold's
    final row."""
    layout = result_row_layout(cfg)
    return [
        layout.const({"data": row, "last": i == len(fold) - 1})
        for strip in strips
        for fold in strip
        for i, row in enumerate(fold)
    ]


def expected_int8(cfg, psums):
    return wrap(sum(psums), cfg.acc_width)


def expected_fp8(cfg, psums):
    total = sum(p["sum"] for p in psums)  # exact: Python ints
    flags = [[any(p[name] for p in psums)] for name in ("nan", "pinf", "ninf")]
    lsb = product_lsb_exp(*cfg.fp8_formats)
    return int(finalize_f32([total], *flags, lsb).view(np.uint32)[0])


def expected_rows(cfg, strips):
    """``(elements, last)`` of every finished row, in output order."""
    expect = expected_fp8 if cfg.is_fp8 else expected_int8
    return [
        (
            [expect(cfg, [fold[i][c] for fold in strip]) for c in range(cfg.cols)],
            int(i == len(strip[0]) - 1),
        )
        for strip in strips
        for i in range(len(strip[0]))
    ]


def emitted_inputs(strips):
    """Indices, among all input beats, of the rows of each strip's last fold (the rows that
    leave on ``o``)."""
    indices, start = [], 0
    for strip in strips:
        m = len(strip[0])
        start += m * (len(strip) - 1)
        indices += range(start, start + m)
        start += m
    return indices


def check_rows(got, want):
    """Every output row equals its expected row; the first mismatch names row and column."""
    assert len(got) == len(want), f"{len(got)} rows out, want {len(want)}"
    for r, ((_, row), (w_data, w_last)) in enumerate(zip(got, want, strict=True)):
        for c, w in enumerate(w_data):
            assert row.data[c] == w, f"output row {r} column {c}: got {row.data[c]}, want {w}"
        assert row.last == w_last, f"output row {r}: last {row.last}, want {w_last}"


def run_accumulator(
    cfg, k_folds, strips, *, acc_rows, idle=None, ready=None, timeout=200, monitor=None
):
    """Stream ``strips`` through a FoldAccumulator; returns ``(dut, input cycles, output
    beats)``. ``monitor(ctx, bench)``, if given, runs in the background."""
    dut = FoldAccumulator(cfg, acc_rows=acc_rows)
    bench = StreamBench(dut)
    beats = input_beats(cfg, strips)
    count = sum(len(strip[0]) for strip in strips)
    seen = {}

    @bench.add_testbench
    async def producer(ctx):
        ctx.set(dut.k_folds, k_folds)
        seen["in"] = await stream_put(ctx, bench, dut.i, beats, idle=idle, timeout=timeout)

    @bench.add_testbench
    async def consumer(ctx):
        seen["out"] = await stream_get(ctx, bench, dut.o, count, ready=ready, timeout=timeout)

    if monitor is not None:

        @bench.add_testbench(background=True)
        async def run_monitor(ctx):
            await monitor(ctx, bench)

    bench.run()
    return dut, seen["in"], seen["out"]


def check_latency(dut, strips, in_cycles, out):
    """With ``o`` always ready, a row of a strip's last fold accepted at cycle t leaves at
    t + latency."""
    accepted = [in_cycles[i] for i in emitted_inputs(strips)]
    assert [cycle for cycle, _ in out] == [t + dut.latency for t in accepted]
    # The read-modify-write stage, and for FP8 the two stages of the rounding to binary32.
    assert dut.latency == (1 if dut._config.mac == "int8" else 3)


@pytest.mark.parametrize("k_folds", [1, 2, 5])
def test_accumulator_fold_boundaries(k_folds, seed):
    """Three strips of 4, 2 and 3 rows (4 fills the SRAM), back to back: every finished row is
    the wrapped sum of its folds, one input row per cycle, each on ``o`` after the latency."""
    rng = random.Random(seed)
    strips = make_strips(rng, INT8, k_folds, [4, 2, 3])
    dut, in_cycles, out = run_accumulator(INT8, k_folds, strips, acc_rows=4)
    check_rows(out, expected_rows(INT8, strips))
    assert in_cycles == list(range(len(in_cycles))), "an input row waited"
    check_latency(dut, strips, in_cycles, out)


@pytest.mark.parametrize("k_folds", [2, 5])
def test_accumulator_one_row_folds(k_folds, seed):
    """M = 1, rows back to back: each fold reads the SRAM row the previous fold writes in the
    same cycle, which only the transparent read port returns."""
    rng = random.Random(seed)
    strips = make_strips(rng, INT8, k_folds, [1, 1, 1, 1])
    dut, in_cycles, out = run_accumulator(INT8, k_folds, strips, acc_rows=1)
    check_rows(out, expected_rows(INT8, strips))
    assert in_cycles == list(range(len(in_cycles)))
    check_latency(dut, strips, in_cycles, out)


@pytest.mark.parametrize("consumer", ["random_ready", "ready_only_while_valid"])
def test_accumulator_backpressure(consumer, seed):
    """Random gaps on ``i`` and a consumer that holds rows back on ``o``: the same rows come
    out, and ``i`` is refused only while a finished row waits on ``o``, so rows of the
    folds that only update the SRAM never stall. A consumer that raises ``ready`` only while
    ``valid`` is high must not deadlock the accumulator (a bounded wait fails the test)."""
    rng = random.Random(seed)
    k_folds = 3
    strips = make_strips(rng, INT8, k_folds, [3, 1, 4, 2, 4])
    held = []
    refused = []

    def ready(valid):
        if consumer == "random_ready":
            take = rng.random() < 0.5
        else:
            take = valid and rng.random() < 0.5
        if valid and not take:
            held.append(1)
        return take

    async def monitor(ctx, bench):
        dut = bench.dut
        while True:
            _, reset, cycle, i_ready, o_valid, o_ready = await ctx.tick().sample(
                bench.cycle, dut.i.ready, dut.o.valid, dut.o.ready
            )
            if not reset and not i_ready and not (o_valid and not o_ready):
                refused.append(cycle)

    _, _, out = run_accumulator(
        INT8,
        k_folds,
        strips,
        acc_rows=4,
        idle=lambda: rng.random() < 0.25,
        ready=ready,
        timeout=100,
        monitor=monitor,
    )
    check_rows(out, expected_rows(INT8, strips))
    assert not refused, f"i refused a row with no finished row waiting, cycles {refused[:5]}"
    assert len(held) >= 5, "the consumer never held a row back"


def test_accumulator_input_gaps(seed):
    """``valid`` low at random on ``i`` (including inside folds): exact rows, each finished
    row one latency after its last-fold input row."""
    rng = random.Random(seed)
    strips = make_strips(rng, INT8, 2, [3, 4, 1, 2])
    gaps = []

    def idle():
        gaps.append(rng.random() < 0.4)
        return gaps[-1]

    dut, in_cycles, out = run_accumulator(INT8, 2, strips, acc_rows=4, idle=idle)
    check_rows(out, expected_rows(INT8, strips))
    check_latency(dut, strips, in_cycles, out)
    assert sum(gaps) >= 5


@pytest.mark.parametrize("during", ["summing_fold", "emitting_fold"])
def test_accumulator_reset_mid_strip(during, seed):
    """Reset in the middle of a strip, then a fresh strip with another ``k_folds``: its first
    fold starts from zero (not from the SRAM's stale rows) at SRAM row 0, and it is exact.

    ``summing_fold``: reset in the cycle after fold 1 of 3 took two of its four rows (a row
    still in flight). ``emitting_fold``: reset after the last fold of a 2-fold strip sent two
    of its four rows, which must be exact."""
    rng = random.Random(seed)
    cfg = INT8
    k_before = 3 if during == "summing_fold" else 2
    before = make_strips(rng, cfg, k_before, [4])[0]
    fresh = make_strips(rng, cfg, 2, [3])
    layout = result_row_layout(cfg)
    # Fold 0 whole, then two rows of fold 1 (no `last`).
    sent = before[0] + before[1][:2]
    before_beats = [layout.const({"data": row, "last": i == 3}) for i, row in enumerate(sent)]
    want = []
    if during == "emitting_fold":
        want = [(data, 0) for data, _ in expected_rows(cfg, [[fold[:2] for fold in before]])]
    want += expected_rows(cfg, fresh)
    dut = FoldAccumulator(cfg, acc_rows=4)
    bench = StreamBench(dut)
    seen = {}

    @bench.add_testbench
    async def producer(ctx):
        ctx.set(dut.k_folds, k_before)
        await stream_put(ctx, bench, dut.i, before_beats)
        if during == "emitting_fold":
            for _ in range(2):  # let the two finished rows leave
                await ctx.tick()
        ctx.set(bench.domain.rst, 1)
        await ctx.tick()
        ctx.set(bench.domain.rst, 0)
        ctx.set(dut.k_folds, 2)
        await stream_put(ctx, bench, dut.i, input_beats(cfg, fresh))

    @bench.add_testbench
    async def consumer(ctx):
        seen["out"] = await stream_get(ctx, bench, dut.o, len(want))

    bench.run()
    check_rows(seen["out"], want)


def test_accumulator_int8_wrap():
    """Sums that overflow W bits wrap (two's complement), at every fold of a 5-fold strip."""
    cfg = INT8
    lo, hi = -(1 << (cfg.acc_width - 1)), (1 << (cfg.acc_width - 1)) - 1
    columns = [  # per column, its five fold values, for each of four rows
        [[hi] * 5, [lo] * 5, [hi, 1, 0, 0, 0]],
        [[lo, -1, 0, 0, 0], [hi, hi, lo, lo, 1], [lo, lo, 0, 0, -1]],
        [[hi, 1, hi, 1, -3], [1, 2, 3, 4, 5], [-hi, lo, -1, 0, 0]],
        [[hi, hi, hi, hi, hi], [lo, 0, 0, 0, -1], [0, 0, 0, 0, 0]],
    ]
    strip = [[[col[f] for col in row] for row in columns] for f in range(5)]
    want = expected_rows(cfg, [strip])
    # Most of these sums do overflow W bits: the wrap is exercised, not avoided.
    overflowing = [sum(col) != wrap(sum(col), cfg.acc_width) for row in columns for col in row]
    assert sum(overflowing) >= 8
    assert want[0][0] == [wrap(5 * hi, cfg.acc_width), wrap(5 * lo, cfg.acc_width), lo]
    _, _, out = run_accumulator(cfg, 5, [strip], acc_rows=4)
    check_rows(out, want)


def fp8_row_maker(cfg, k_folds):
    """Random exact partial sums spread over every binade that ``k_folds`` of them can fill
    without leaving W bits, with NaN/±Inf flags now and then."""
    top = cfg.acc_width - 1 - k_folds.bit_length()

    def row(rng, cfg):
        out = []
        for _ in range(cfg.cols):
            bits = rng.randrange(0, top + 1)
            value = rng.choice((-1, 1)) * rng.randrange(1 << bits >> 1, 1 << bits) if bits else 0
            flags = {name: int(rng.random() < 0.04) for name in ("nan", "pinf", "ninf")}
            out.append({"sum": value, **flags})
        return out

    return row


def fp8_directed_strip(cfg):
    """Three folds of four rows × two columns: rounding once to binary32 (not once per fold),
    cancellation to +0, and flags raised in one fold and kept through the others."""

    def p(value, nan=0, pinf=0, ninf=0):
        return {"sum": value, "nan": nan, "pinf": pinf, "ninf": ninf}

    tie = (1 << 30) + (1 << 6)  # 31 bits: halfway between two binary32 values, even below
    per_row = [
        # Each fold exactly representable or a tie; only the exact sum rounds up:
        # rounding the folds first would give 2^30.
        ([p(tie), p(1), p(0)], [p(-tie), p(-1), p(0)]),
        # Cancellation: exactly zero gives +0.0; a large sum and a 1-LSB fold.
        ([p(12345), p(-12345), p(0)], [p(1 << 45), p(0), p(1)]),
        # NaN only in fold 0; +Inf in fold 1 and −Inf in fold 2 make NaN.
        ([p(5, nan=1), p(7), p(-3)], [p(1), p(2, pinf=1), p(3, ninf=1)]),
        # One infinity each, raised in the last fold and in the first.
        ([p(-9), p(0), p(4, pinf=1)], [p(8, ninf=1), p(0), p(0)]),
    ]
    return [[[cols[0][f], cols[1][f]] for cols in per_row] for f in range(3)]


@pytest.mark.parametrize("mac", ["e4m3", "e5m2", "e4m3xe5m2"])
def test_accumulator_fp8(mac, seed):
    """Exact Kulisch sum of each row's folds with ORed flags, rounded once to binary32, for a
    directed strip and random strips."""
    cfg = ArrayConfig(rows=2, cols=2, mac=mac)
    rng = random.Random(seed)
    k_folds = 3
    strips = [fp8_directed_strip(cfg)]
    strips += make_strips(rng, cfg, k_folds, [4, 3, 1], row=fp8_row_maker(cfg, k_folds))
    want = expected_rows(cfg, strips)
    f32 = np.array([e for data, _ in want for e in data], dtype=np.uint32).view(np.float32)
    assert np.isnan(f32).sum() >= 2 and np.isinf(f32).sum() >= 2 and (f32 == 0).sum() >= 1
    # The directed row 0, column 0: 2^30 + 2^7 units, where rounding per fold gives 2^30.
    lsb = product_lsb_exp(*cfg.fp8_formats)
    assert f32[0] == np.float32(math.ldexp((1 << 30) + (1 << 7), lsb))
    dut, in_cycles, out = run_accumulator(cfg, k_folds, strips, acc_rows=4)
    check_rows(out, want)
    check_latency(dut, strips, in_cycles, out)


def test_accumulator_rejects_acc_rows():
    with pytest.raises(ValueError, match="acc_rows must be between 1 and 65536, got 0"):
        FoldAccumulator(INT8, acc_rows=0)
