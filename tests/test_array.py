"""SystolicArray in Amaranth's simulator: the documented handshake timing, cycle by cycle, and
partial sums under random stalls on every stream."""

import random

import pytest
from sim_streams import StreamBench, bursts, stream_get, stream_put

from golden.int8 import wrap
from hdl.array import SystolicArray
from hdl.array.layouts import act_row_layout, weight_row_layout
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for


def fold_beats(cfg, folds):
    """Payloads of ``folds``, each ``(weight rows, activation rows)`` of int8 values: the
    weight beats and the activation beats (``last`` on each fold's final row)."""
    weight_layout, act_layout = weight_row_layout(cfg), act_row_layout(cfg)
    weights, acts = [], []
    for w_rows, a_rows in folds:
        weights += [weight_layout.const([w & 0xFF for w in row]) for row in w_rows]
        acts += [
            act_layout.const(
                {"data": [a & 0xFF for a in row], "act_unsigned": 0, "last": i == len(a_rows) - 1}
            )
            for i, row in enumerate(a_rows)
        ]
    return weights, acts


def fold_partials(cfg, folds):
    """Expected result rows: ``(partial sums, last)`` per activation row, in plain Python."""
    want = []
    for w_rows, a_rows in folds:
        for i, a in enumerate(a_rows):
            sums = [
                wrap(sum(a[k] * w_rows[k][n] for k in range(cfg.rows)), cfg.acc_width)
                for n in range(cfg.cols)
            ]
            want.append((sums, int(i == len(a_rows) - 1)))
    return want


def test_array_2x2_timing_matches_readme():
    """README "How a GEMM runs": weights at 0–1, rows at 2–4, results at 9–11
    (t + R + C + 1 + mac_latency, the default MAC pipeline of 2), then nothing more."""
    cfg = ArrayConfig(rows=2, cols=2)
    dut = SystolicArray(cfg)
    bench = StreamBench(dut)
    w_rows = [[1, 2], [3, 4]]  # B
    a_rows = [[5, 6], [-7, 8], [9, -10]]  # A, M = 3
    weights, acts = fold_beats(cfg, [(w_rows, a_rows)])
    seen = {}

    @bench.add_testbench
    async def weight_producer(ctx):
        seen["weights"] = await stream_put(ctx, bench, dut.weights, weights)

    @bench.add_testbench
    async def act_producer(ctx):
        seen["acts"] = await stream_put(ctx, bench, dut.acts, acts)

    @bench.add_testbench
    async def result_consumer(ctx):
        seen["results"] = await stream_get(ctx, bench, dut.results, 3)
        # Three rows in, three rows out: nothing follows.
        seen["valid_after"] = set()
        for _ in range(8):
            _, _, valid = await ctx.tick().sample(dut.results.valid)
            seen["valid_after"].add(valid)

    bench.run()
    assert seen["weights"] == [0, 1]
    assert seen["acts"] == [2, 3, 4]
    assert cfg.mac_latency == 2
    assert dut.latency == 2 + 2 + 1 + 2
    assert [cycle for cycle, _ in seen["results"]] == [9, 10, 11]
    want = [[sum(a[k] * w_rows[k][n] for k in range(2)) for n in range(2)] for a in a_rows]
    assert [list(row.data) for _, row in seen["results"]] == want
    assert [row.last for _, row in seen["results"]] == [0, 0, 1]
    assert seen["valid_after"] == {0}


@pytest.mark.parametrize("traffic", ["no_stalls", "random_stalls", "shallow_fifo"])
def test_array_folds_partial_sums(traffic, seed):
    """A 3×2 array, five folds of random int8 operands (extremes included): every result row,
    in order, with ``last``.

    ``no_stalls``: M = R, so each fold's weights load in exactly the fold before it; the folds
    run back to back, one activation row per cycle, in the model's exact cycle count.
    ``random_stalls``: M from 1 to 6, random gaps on ``weights``/``acts`` and a random
    ``results.ready``: the same rows, the stream rules kept. ``shallow_fifo``: the same with a
    2-row result FIFO, so ``acts`` waits for a free result slot most of the time and an
    off-by-one in the slot count would overflow the FIFO."""
    stalls = traffic != "no_stalls"
    depth = 2 if traffic == "shallow_fifo" else None
    cfg = ArrayConfig(rows=3, cols=2, max_k=3, result_fifo_depth=depth)
    dut = SystolicArray(cfg)
    bench = StreamBench(dut)
    rng = random.Random(seed)
    m_rows = [4, 1, 6, 3, 3] if stalls else [cfg.rows] * 5

    def int8():
        return rng.choice([-128, 127, rng.randrange(-128, 128)])

    folds = [
        (
            [[int8() for _ in range(cfg.cols)] for _ in range(cfg.rows)],
            [[int8() for _ in range(cfg.rows)] for _ in range(m)],
        )
        for m in m_rows
    ]
    weights, acts = fold_beats(cfg, folds)
    want = fold_partials(cfg, folds)

    stalled = {"gaps": 0, "held": 0}
    # Gaps of one to three cycles; the consumer also stops for up to 20 cycles at a time,
    # long enough for every row in flight to reach the result FIFO.
    gap_pause = bursts(rng, chance=0.2, length=(1, 3))
    ready_pause = bursts(rng, chance=0.15, length=(1, 20))

    def gap():
        idle = stalls and gap_pause()
        stalled["gaps"] += idle
        return idle

    def ready(valid):
        take = not ready_pause()
        stalled["held"] += valid and not take
        return take

    seen = {}

    @bench.add_testbench
    async def weight_producer(ctx):
        seen["weights"] = await stream_put(ctx, bench, dut.weights, weights, idle=gap)

    @bench.add_testbench
    async def act_producer(ctx):
        seen["acts"] = await stream_put(ctx, bench, dut.acts, acts, idle=gap)

    @bench.add_testbench
    async def result_consumer(ctx):
        seen["results"] = await stream_get(
            ctx, bench, dut.results, len(want), ready=ready if stalls else None
        )

    bench.run()
    got = [(list(row.data), row.last) for _, row in seen["results"]]
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"result row {i}: got {g}, want {w}"
    if stalls:
        assert stalled["gaps"] >= 5 and stalled["held"] >= 5, stalled
    else:
        m, k, n = m_rows[0], cfg.rows * len(folds), cfg.cols  # one strip, five K chunks
        first, last = seen["weights"][0], seen["results"][-1][0]
        assert last - first + 1 == cycles_for(cfg, (m, k, n))
        assert seen["acts"] == list(range(seen["acts"][0], seen["acts"][0] + len(acts)))
        assert [c for c, _ in seen["results"]] == [t + dut.latency for t in seen["acts"]]
