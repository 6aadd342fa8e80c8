# amaranth: UnusedElaboratable=no
"""The attention tile's units in Amaranth's simulator, bit for bit against ``golden.attention``.

Every unit runs with a producer testbench per input stream and a consumer per output stream
(``sim_streams``), random gaps on every input and random backpressure on every output, and is
compared with the golden functions: ``exp_core`` (exhaustively), ``softmax_int``,
``row_reciprocal``, ``div_rhu``, ``golden.requant.requantize`` and the tile's own trace
(``attention_from_scores(..., trace=True)``). The rows of docs/numerics.md §6 items 14–19, 21 and 22
each appear in an edge-case test; fixed latencies are checked in runs without stalls.
"""

import random

import numpy as np
import pytest
from sim_streams import StreamBench, bursts, stream_get, stream_put

from golden.attention import (
    attention_from_scores,
    attention_mask,
    attention_multipliers,
    attention_widths,
    div_rhu,
    exp_core,
    row_reciprocal,
    softmax_int,
)
from golden.errors import UsageError
from golden.requant import requantize
from hdl.attention import (
    DivRhu,
    DivRhuNormalizer,
    Exp2Core,
    Requantizer,
    RowReciprocal,
    SoftmaxRow,
)
from hdl.attention.divider import Y_WIDTH
from hdl.attention.layouts import (
    exp_in_layout,
    o_acc_beat_layout,
    score_beat_layout,
    y_beat_layout,
)

#: ``(Me, ne)`` with ``u = S`` exactly (μ_e = 2^30 / 2^30): edge rows are written in u units.
IDENTITY = (1 << 30, 30)
#: The worked example of docs/numerics.md §4.2: s = 0.004, F = 6.
EXAMPLE_SCALE = (1586259973, 32)


# --- running a unit --------------------------------------------------------------------------


def stalls(rng, stall):
    """``(idle, ready)`` pause generators for one stream: none, or random gaps and bursts."""
    if not stall:
        return None, None
    idle = bursts(rng, chance=0.2, length=(1, 4))
    hold = bursts(rng, chance=0.2, length=(1, 6))
    return idle, (lambda valid: not hold())


def run(dut, *, inputs, outputs, setup=(), rng=None, stall=False, timeout=400):
    """Simulate ``dut``: each ``inputs[name]`` (a list of payloads) is offered on that stream
    by its own producer, each ``outputs[name]`` beats are taken from that stream by its own
    consumer; ``setup`` holds ``(signal, value)`` pairs set before the first cycle. With
    ``stall``, every producer leaves random gaps and every consumer holds beats back.

    Returns
    -------
    cycles : dict
        Name of each input stream to the cycles its beats transferred at.
    beats : dict
        Name of each output stream to its ``(cycle, payload)`` beats.
    """
    bench = StreamBench(dut)
    cycles, beats = {}, {}
    rng = rng or random.Random(0)
    setup = list(setup)

    def producer(name, payloads, idle):
        async def testbench(ctx):
            for signal, value in setup:
                ctx.set(signal, value)
            stream = getattr(dut, name)
            cycles[name] = await stream_put(
                ctx, bench, stream, payloads, idle=idle, timeout=timeout
            )

        return testbench

    def consumer(name, count, ready):
        async def testbench(ctx):
            stream = getattr(dut, name)
            beats[name] = await stream_get(ctx, bench, stream, count, ready=ready, timeout=timeout)

        return testbench

    for name, payloads in inputs.items():
        bench.add_testbench(producer(name, payloads, stalls(rng, stall)[0]))
    for name, count in outputs.items():
        bench.add_testbench(consumer(name, count, stalls(rng, stall)[1]))
    bench.run()
    return cycles, beats


def held_back(beats):
    """True if some consecutive beats of a stream left with a gap (stalls really happened)."""
    out = [cycle for cycle, _ in beats]
    return any(b - a > 1 for a, b in zip(out, out[1:], strict=False))


# --- Exp2Core --------------------------------------------------------------------------------


@pytest.mark.parametrize("frac_bits", [6, 8])
def test_exp2_core_exhaustive(frac_bits, seed):
    """§4.2, §6 items 16 and 19: every d from 0 to 4·(EB+1)·2^F − 1 (every LUT address at
    every ip, ip = EB and EB+1, the saturation boundary and beyond), four lanes a beat, with
    stalls on both sides; then very large d on a 40-bit input, which must saturate to 0."""
    rng = random.Random(seed)
    lanes, width = 4, frac_bits + 6
    values = np.arange(1 << width).reshape(-1, lanes)
    dut = Exp2Core(exp_frac_bits=frac_bits, lanes=lanes, d_width=width, tag_shape=3)
    layout = exp_in_layout(lanes=lanes, d_width=width, tag_shape=3)
    payloads = [layout.const({"d": row.tolist(), "tag": i % 8}) for i, row in enumerate(values)]
    _, beats = run(dut, inputs={"i": payloads}, outputs={"o": len(payloads)}, rng=rng, stall=True)
    got = np.array([[beat.e[j] for j in range(lanes)] for _, beat in beats["o"]])
    want = exp_core(values, exp_frac_bits=frac_bits)
    bad = np.argwhere(got != want)
    assert not bad.size, (
        f"d={values[tuple(bad[0])]}: e {got[tuple(bad[0])]}, want {want[tuple(bad[0])]}"
    )
    assert [beat.tag for _, beat in beats["o"]] == [i % 8 for i in range(len(payloads))]
    assert held_back(beats["o"])

    wide = Exp2Core(exp_frac_bits=frac_bits, lanes=2, d_width=40)
    d = [
        [1 << 39, (16 << frac_bits) - 1],
        [(1 << 40) - 1, 16 << frac_bits],
        [0, 1 << (frac_bits + 5)],
    ]
    layout = exp_in_layout(lanes=2, d_width=40, tag_shape=0)
    _, beats = run(wide, inputs={"i": [layout.const({"d": row}) for row in d]}, outputs={"o": 3})
    got = [[beat.e[j] for j in range(2)] for _, beat in beats["o"]]
    assert got == exp_core(np.array(d), exp_frac_bits=frac_bits).tolist()


def test_exp2_core_latency():
    """Without stalls one beat per cycle, each ``latency`` (2) cycles after it went in."""
    dut = Exp2Core(lanes=1)
    layout = exp_in_layout(lanes=1, d_width=dut.d_width, tag_shape=0)
    payloads = [layout.const({"d": [d]}) for d in range(20)]
    cycles, beats = run(dut, inputs={"i": payloads}, outputs={"o": 20})
    assert cycles["i"] == list(range(20))
    assert [cycle for cycle, _ in beats["o"]] == [t + Exp2Core.latency for t in cycles["i"]]
    assert Exp2Core.latency == 2


def test_exp2_core_parameters():
    """Bad parameters name themselves and their range."""
    with pytest.raises(UsageError, match="exp_frac_bits must be one of"):
        Exp2Core(exp_frac_bits=7)
    with pytest.raises(UsageError, match="lanes must be"):
        Exp2Core(lanes=0)
    with pytest.raises(UsageError, match="d_width must be"):
        Exp2Core(d_width=10)


# --- SoftmaxRow -----------------------------------------------------------------------------


def score_beats(dut, rows, *, preload=False):
    """The beats of ``rows`` (``(scores, mask)`` pairs) on ``dut.i``: ``cols`` keys a beat,
    the final beat padded with masked lanes; ``row_max`` the largest valid score (pre-load)."""
    cols = dut.cols
    layout = score_beat_layout(cols=cols, score_width=dut.score_width)
    payloads = []
    for s, mask in rows:
        count = -(-len(s) // cols)
        row_max = int(s[mask].max()) if preload and mask.any() else 0
        for b in range(count):
            lanes = range(b * cols, min((b + 1) * cols, len(s)))
            data = [int(s[k]) for k in lanes] + [0] * (cols - len(lanes))
            bits = sum(int(mask[k]) << (k - b * cols) for k in lanes)
            payloads.append(
                layout.const(
                    {"data": data, "mask": bits, "row_max": row_max, "last": b == count - 1}
                )
            )
    return payloads


def run_softmax(dut, rows, scale, *, preload=False, rng=None, stall=False):
    """Stream ``rows`` through a SoftmaxRow; returns (input cycles, P beats, L beats)."""
    payloads = score_beats(dut, rows, preload=preload)
    cycles, beats = run(
        dut,
        inputs={"i": payloads},
        outputs={"o": len(payloads), "l": len(rows)},
        setup=[(dut.scale_mult, scale[0]), (dut.scale_shift, scale[1]), (dut.preload, preload)],
        rng=rng,
        stall=stall,
    )
    return cycles["i"], beats["o"], beats["l"]


def check_softmax(dut, rows, scale, p_beats, l_beats):
    """Every row's P (lane by lane, ``last`` on its final beat, padding lanes 0) and L equal
    ``softmax_int``; the first mismatch names the row and key."""
    cols, at = dut.cols, 0
    for r, (s, mask) in enumerate(rows):
        want_p, want_l = softmax_int(
            s, *scale, mask, p_bits=dut.p_bits, exp_frac_bits=dut.exp_frac_bits
        )
        count = -(-len(s) // cols)
        row_beats = [beat for _, beat in p_beats[at : at + count]]
        at += count
        assert [beat.last for beat in row_beats] == [0] * (count - 1) + [1], f"row {r}: last"
        got = [beat.data[j] for beat in row_beats for j in range(cols)]
        assert got[len(s) :] == [0] * (count * cols - len(s)), f"row {r}: padding lanes"
        for k, (g, w) in enumerate(zip(got, want_p.tolist(), strict=False)):
            assert g == w, f"row {r} key {k}: P {g}, want {w} (S={s[k]}, valid={mask[k]})"
        assert l_beats[r][1] == want_l, f"row {r}: L {l_beats[r][1]}, want {want_l}"
    assert at == len(p_beats)


def random_rows(rng, count, lk_max, width, *, spread):
    """Rows of random length (1 to ``lk_max``), random masks (some fully masked rows), and
    scores either in a narrow band (``spread``: P mostly nonzero) or over the whole W-bit
    range (extremes included)."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    rows = []
    for _ in range(count):
        lk = rng.randint(1, lk_max)
        if rng.random() < 0.5:
            base = rng.randint(max(lo, -(1 << 20)), min(hi, 1 << 20) - spread)
            s = [base + rng.randint(0, spread) for _ in range(lk)]
        else:
            s = [rng.choice([lo, hi, 0, -1, rng.randint(lo, hi)]) for _ in range(lk)]
        density = rng.choice([0.0, 0.3, 0.9, 1.0])
        mask = [rng.random() < density for _ in range(lk)]
        rows.append((np.array(s, np.int64), np.array(mask, bool)))
    return rows


SOFTMAX_CONFIGS = {
    "c4-w22-f6-p8": dict(cols=4, score_width=22, max_beats=4),
    "c3-w32-f8-p16": dict(cols=3, score_width=32, max_beats=6, p_bits=16, exp_frac_bits=8),
}


@pytest.mark.parametrize("name", SOFTMAX_CONFIGS)
def test_softmax_random_rows(name, seed):
    """Random rows (lengths 1 to the buffer, random masks, narrow and full-range scores) under
    random gaps on ``i`` and backpressure on ``o`` and ``l``, for several ``(Me, ne)`` including
    Me = 0, Me = 2^31 − 1 and ne = 1 and 62: P and L equal ``softmax_int``."""
    rng = random.Random(seed)
    dut = SoftmaxRow(**SOFTMAX_CONFIGS[name])
    f = dut.exp_frac_bits
    scales = [
        tuple(attention_multipliers(0.02, 0.03, 1, 1, 64, exp_frac_bits=f).values())[:2],
        EXAMPLE_SCALE,
        IDENTITY,
        ((1 << 31) - 1, 62),
        ((1 << 31) - 1, 1),
        (0, 5),
        (rng.randint(1, (1 << 31) - 1), rng.randint(20, 40)),
    ]
    for scale in scales:
        rows = random_rows(rng, 10, dut.cols * dut.max_beats, dut.score_width, spread=600)
        _, p_beats, l_beats = run_softmax(dut, rows, scale, rng=rng, stall=True)
        check_softmax(dut, rows, scale, p_beats, l_beats)
        assert held_back(p_beats)


def edge_rows(f):
    """docs/numerics.md §6 items 14–19 in u units (use with IDENTITY): ``(name, scores, mask)``."""
    sat = 16 << f  # (EB+1)·2^F
    rows = [
        ("flat-1", [7], [1]),
        ("flat-3", [-5, -5, -5], [1, 1, 1]),
        ("flat-16-masked-odd", [100] * 16, [1] * 13 + [0] * 3),
        ("two-maxima", [9, 3, 9, -40], [1, 1, 1, 1]),
        ("dominant", [1000, 0, 0, 0, 0], [1] * 5),
        ("one-valid", [5, 900, -900, 4], [0, 0, 0, 1]),
        ("fully-masked", [3, 2, 1], [0, 0, 0]),
        ("max-masked", [10**6, 20, 10, 0], [0, 1, 1, 1]),
        ("delta-sat", [0, -sat, -sat + 1, -sat - 1, -(1 << 20)], [1] * 5),
        ("ip-eb", [0, -(15 << f), -(15 << f) - (1 << f) + 1, -(14 << f) - 1], [1] * 4),
        ("fp-ends", [0, -1, -((1 << f) - 1), -(1 << f), -(2 << f) + 1], [1] * 5),
        ("negative", [-(1 << 20), -(1 << 20) - 30, -(1 << 21)], [1, 1, 1]),
    ]
    # §6 item 15: tail keys with e = 64 (P = 0) and e = 65 (P = 1) beside the max.
    e = exp_core(np.arange(sat), exp_frac_bits=f)
    d64, d65 = int(np.argmax(e <= 64)), int(np.argmax(e <= 65))
    rows.append(("tail-64-65", [0, -d64, -d65, -d64 + 1, -d65 + 1], [1] * 5))
    return [(name, np.array(s, np.int64), np.array(m, bool)) for name, s, m in rows]


@pytest.mark.parametrize("name", SOFTMAX_CONFIGS)
def test_softmax_edge_rows(name, seed):
    """§6 items 14–19 as whole rows, back to back with stalls: flat rows (P ≡ 2^PB − 1),
    ties, one dominant key, one valid key, a fully masked row (L = 0), the max at a masked
    key, differences at and beyond (EB+1)·2^F, at ip = EB, at the LUT's ends, the e = 64/65
    tail; then S at the W-bit extremes (−2^(W−1), −128·−128·d) through the example scale."""
    rng = random.Random(seed)
    dut = SoftmaxRow(**SOFTMAX_CONFIGS[name])
    named = edge_rows(dut.exp_frac_bits)
    rows = [(s, mask) for _, s, mask in named]
    _, p_beats, l_beats = run_softmax(dut, rows, IDENTITY, rng=rng, stall=True)
    check_softmax(dut, rows, IDENTITY, p_beats, l_beats)
    assert l_beats[[n for n, _, _ in named].index("fully-masked")][1] == 0

    w = dut.score_width
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    rows = [
        (np.array([lo, hi, lo, hi]), np.array([1, 1, 1, 1], bool)),
        (np.array([lo, lo + 1, lo]), np.array([1, 1, 0], bool)),
        (np.array([min(hi, 16384 * 64), -min(-lo, 16384 * 64), 0]), np.ones(3, bool)),
    ]
    for scale in (EXAMPLE_SCALE, ((1 << 31) - 1, 1)):
        _, p_beats, l_beats = run_softmax(dut, rows, scale, rng=rng, stall=True)
        check_softmax(dut, rows, scale, p_beats, l_beats)


def test_softmax_preload_long_rows(seed):
    """Pre-loaded max (§4.3): rows up to three times the buffer stream straight through and
    equal the single tile (``softmax_int``), with stalls on every stream."""
    rng = random.Random(seed)
    dut = SoftmaxRow(cols=4, score_width=22, max_beats=2, lk_max=24)
    rows = random_rows(rng, 12, 24, 22, spread=700) + [(s, mask) for _, s, mask in edge_rows(6)]
    _, p_beats, l_beats = run_softmax(dut, rows, EXAMPLE_SCALE, preload=True, rng=rng, stall=True)
    check_softmax(dut, rows, EXAMPLE_SCALE, p_beats, l_beats)


def test_softmax_latency():
    """Without stalls: rows of three beats are accepted one beat per cycle, back to back (the
    two banks alternate); a row's P beats leave in consecutive cycles from ``latency + 1``
    cycles after its last score beat, with L beside its last P beat. With ``preload`` every
    beat leaves ``latency`` cycles after it went in."""
    dut = SoftmaxRow(cols=2, score_width=16, max_beats=3)
    rng = random.Random(1)
    rows = [
        (np.array([rng.randint(-500, 500) for _ in range(6)]), np.ones(6, bool)) for _ in range(5)
    ]
    in_cycles, p_beats, l_beats = run_softmax(dut, rows, EXAMPLE_SCALE)
    assert in_cycles == list(range(15))
    out = [cycle for cycle, _ in p_beats]
    want = [in_cycles[3 * r + 2] + 1 + dut.latency + b for r in range(5) for b in range(3)]
    assert out == want
    assert [cycle for cycle, _ in l_beats] == out[2::3]
    assert dut.latency == 7

    in_cycles, p_beats, _ = run_softmax(dut, rows, EXAMPLE_SCALE, preload=True)
    assert in_cycles == list(range(15))
    assert [cycle for cycle, _ in p_beats] == [t + dut.latency for t in in_cycles]


def test_softmax_l_backpressure(seed):
    """``l`` held back for long stretches: the P beats of a row wait behind the previous
    row's L only at the row's last beat, and nothing is lost or reordered."""
    rng = random.Random(seed)
    dut = SoftmaxRow(cols=2, score_width=12, max_beats=4)
    rows = random_rows(rng, 8, 8, 12, spread=200)
    payloads = score_beats(dut, rows)
    hold = bursts(rng, chance=0.3, length=(5, 30))
    bench = StreamBench(dut)
    seen = {}

    @bench.add_testbench
    async def producer(ctx):
        ctx.set(dut.scale_mult, EXAMPLE_SCALE[0])
        ctx.set(dut.scale_shift, EXAMPLE_SCALE[1])
        await stream_put(ctx, bench, dut.i, payloads)

    @bench.add_testbench
    async def p_consumer(ctx):
        seen["o"] = await stream_get(ctx, bench, dut.o, len(payloads))

    @bench.add_testbench
    async def l_consumer(ctx):
        seen["l"] = await stream_get(ctx, bench, dut.l, len(rows), ready=lambda v: not hold())

    bench.run()
    check_softmax(dut, rows, EXAMPLE_SCALE, seen["o"], seen["l"])
    assert held_back(seen["l"])


def test_softmax_reset_mid_row(seed):
    """A reset while a finished row waits in the pipeline (its consumer holds ``o``) and the
    next row is half written to the row buffer: both are dropped, and the rows sent after
    the reset come out exact."""
    rng = random.Random(seed)
    dut = SoftmaxRow(cols=2, score_width=16, max_beats=3)
    before = random_rows(rng, 2, 6, 16, spread=300)
    before[1] = (np.array([1, 2, 3, 4, 5]), np.ones(5, bool))  # three beats, two sent
    after = random_rows(rng, 5, 6, 16, spread=300)
    first = score_beats(dut, before)[:-1]
    payloads = score_beats(dut, after)
    bench = StreamBench(dut)
    state = {"reset": False}
    seen = {}

    @bench.add_testbench
    async def producer(ctx):
        ctx.set(dut.scale_mult, EXAMPLE_SCALE[0])
        ctx.set(dut.scale_shift, EXAMPLE_SCALE[1])
        await stream_put(ctx, bench, dut.i, first)
        await ctx.tick().repeat(12)
        assert ctx.get(dut.o.valid), "the first row's P waits on o"
        ctx.set(bench.domain.rst, 1)
        await ctx.tick()
        ctx.set(bench.domain.rst, 0)
        state["reset"] = True
        await stream_put(ctx, bench, dut.i, payloads, idle=bursts(rng, chance=0.3))

    @bench.add_testbench
    async def p_consumer(ctx):
        seen["o"] = await stream_get(
            ctx, bench, dut.o, len(payloads), ready=lambda v: state["reset"]
        )

    @bench.add_testbench
    async def l_consumer(ctx):
        seen["l"] = await stream_get(ctx, bench, dut.l, len(after), ready=lambda v: state["reset"])

    bench.run()
    check_softmax(dut, after, EXAMPLE_SCALE, seen["o"], seen["l"])


def test_softmax_parameters():
    with pytest.raises(UsageError, match="cols must be"):
        SoftmaxRow(cols=0, score_width=16, max_beats=4)
    with pytest.raises(UsageError, match="score_width must be"):
        SoftmaxRow(cols=4, score_width=33, max_beats=4)
    with pytest.raises(UsageError, match="p_bits must be one of"):
        SoftmaxRow(cols=4, score_width=16, max_beats=4, p_bits=12)
    with pytest.raises(UsageError, match="lk_max must be"):
        SoftmaxRow(cols=4, score_width=16, max_beats=4, lk_max=(1 << 20) + 1)
    dut = SoftmaxRow(cols=16, score_width=22, max_beats=1024, p_bits=8)
    assert dut.l_width == attention_widths(16384)["l"] == 22


# --- RowReciprocal --------------------------------------------------------------------------


def test_reciprocal(seed):
    """§6 item 22 on the reciprocal alone: L = 1, powers of two (R = 2^32 saturates), L at its
    maximum, random L, and L = 0 passed through; R and k equal ``row_reciprocal(l,
    saturate=True)``, each result ``latency`` (33) cycles after its L when nothing stalls,
    and the same results with stalls on both sides."""
    rng = random.Random(seed)
    width = 22
    values = [1, 2, 3, 255, 256, 510, (1 << width) - 1, 1 << (width - 1), 0]
    values += [rng.randint(1, (1 << width) - 1) for _ in range(12)]
    dut = RowReciprocal(l_width=width)
    for stall in (False, True):
        cycles, beats = run(
            dut, inputs={"i": values}, outputs={"o": len(values)}, rng=rng, stall=stall
        )
        for value, (_, beat) in zip(values, beats["o"], strict=True):
            if value == 0:
                assert (beat.k, beat.l) == (31, 0)
                continue
            r, k = row_reciprocal(value, saturate=True)
            assert (beat.r, beat.k, beat.l) == (r, k, value), f"L={value}"
        if not stall:
            out = [cycle for cycle, _ in beats["o"]]
            assert out == [t + RowReciprocal.latency for t in cycles["i"]]
            # The next L goes in as the previous result leaves.
            assert cycles["i"][1:] == out[:-1]
    assert RowReciprocal.latency == 33


def test_reciprocal_every_l():
    """Every L of a 7-bit row sum, back to back: R and k equal ``row_reciprocal``."""
    dut = RowReciprocal(l_width=7)
    values = list(range(1, 128))
    _, beats = run(dut, inputs={"i": values}, outputs={"o": len(values)})
    r, k = row_reciprocal(np.array(values), saturate=True)
    assert [beat.r for _, beat in beats["o"]] == r.tolist()
    assert [beat.k for _, beat in beats["o"]] == k.tolist()


# --- DivRhu ---------------------------------------------------------------------------------


def o_acc_payloads(dut_cols, acc_width, rows):
    """The beats of ``rows`` (each a list of O_acc values): ``cols`` a beat, ``last`` on each
    row's final beat, padding lanes 0."""
    layout = o_acc_beat_layout(cols=dut_cols, acc_width=acc_width)
    payloads = []
    for row in rows:
        count = -(-len(row) // dut_cols)
        for b in range(count):
            data = [int(x) for x in row[b * dut_cols : (b + 1) * dut_cols]]
            data += [0] * (dut_cols - len(data))
            payloads.append(layout.const({"data": data, "last": b == count - 1}))
    return payloads


def row_values(beats, rows, cols):
    """Regroup output beats into rows of the input rows' lengths, checking ``last``."""
    out, at = [], 0
    for r, row in enumerate(rows):
        count = -(-len(row) // cols)
        chunk = [beat for _, beat in beats[at : at + count]]
        at += count
        assert [beat.last for beat in chunk] == [0] * (count - 1) + [1], f"row {r}: last"
        out.append([beat.data[j] for beat in chunk for j in range(cols)][: len(row)])
    assert at == len(beats)
    return out


def divider_rows(rng, l_width, acc_width):
    """``(L, O_acc row)`` pairs of docs/numerics.md §6 item 22 and §4.1's extremes: exact ties of
    ``O_acc·2^16 / L`` (L a multiple of 2^17), near ties (within 2^−8 of a half), L = 1, L a
    power of two, L at its maximum, V = −128 and 127 extremes (O_acc = −128·L, 127·L, the
    uint8 × int8 product of §6 item 21), L = 0, and random rows with |O_acc| ≤ 222·L (and
    within ``acc_width`` bits)."""
    l_max = (1 << l_width) - 1
    rows = []
    for l in (1 << 17, 3 << 17, 5 << 17):  # 2a = (2t + 1)·b: O_acc = (2t + 1)·L / 2^17
        k = l >> 17
        rows.append((l, [o * k for o in (1, -1, 3, -3, 127, -127, 255, -255, 2 * 127 + 1)]))
    for l in (375, 453, 65535, 1000003 % l_max, l_max):  # near ties
        if l <= 1 << 17:  # every O_acc whose 2a mod 2L lies within L/2^8 (or 1) of L
            near = [o for o in range(2 * l) if abs(((o << 17) % (2 * l)) - l) <= max(1, l >> 8)]
            near = [o + 2 * l * rng.randint(-60, 60) for o in near[:12]]
        else:  # O_acc next to (t + 1/2)·L / 2^16: within 2^16/L of a tie
            ts = [rng.randint(-128 << 16, 126 << 16) for _ in range(6)]
            near = [((2 * t + 1) * l >> 17) + j for t in ts for j in (0, 1)]
        assert near, f"no near tie for L={l}"
        rows.append((l, near))
    rows.append((1, [0, 1, -1, 127, -128]))
    rows.append((1 << (l_width - 1), [1, -1, 127 << (l_width - 1), -128 << (l_width - 1)]))
    rows.append((l_max, [127 * l_max, -128 * l_max, l_max // 2, -(l_max // 2), 1, -1]))
    rows.append((255, [-32640, 255 * 127, -128 * 255 + 1]))
    rows.append((510, [-65280, 510 * 127 - 1]))
    rows.append((0, [0, 0, 0]))
    for _ in range(10):
        l = rng.choice([rng.randint(255, 255 * 64), rng.randint(1, l_max)])
        n = rng.randint(1, 7)
        bound = min(rng.choice([128, 222]) * l, (1 << (acc_width - 1)) - 1)
        rows.append((l, [rng.randint(-bound, bound) for _ in range(n)]))
    return rows


def expected_y(rows):
    return [
        (div_rhu(np.array(row, np.int64) << 16, l) if l else np.zeros(len(row), np.int64)).tolist()
        for l, row in rows
    ]


@pytest.mark.parametrize("p_bits", [8, 16])
def test_div_rhu_exact(p_bits, seed):
    """§6 item 22 through the whole divider: y equals ``div_rhu(O_acc·2^16, L)`` (0 for
    L = 0) for ties, near ties, the extremes of L and O_acc and random rows of 1 to 7
    elements (several beats), with stalls on ``l``, ``i`` and ``o``."""
    rng = random.Random(seed)
    widths = attention_widths(16384, p_bits=p_bits)
    cols = 3
    dut = DivRhu(cols=cols, acc_width=widths["o_acc"], l_width=widths["l"])
    rows = divider_rows(rng, widths["l"], widths["o_acc"])
    rng.shuffle(rows)
    payloads = o_acc_payloads(cols, widths["o_acc"], [row for _, row in rows])
    _, beats = run(
        dut,
        inputs={"l": [l for l, _ in rows], "i": payloads},
        outputs={"o": len(payloads)},
        rng=rng,
        stall=True,
    )
    got = row_values(beats["o"], [row for _, row in rows], cols)
    for (l, row), g, w in zip(rows, got, expected_y(rows), strict=True):
        assert g == w, f"L={l} O_acc={row}: y {g}, want {w}"


def test_div_rhu_latency():
    """Without stalls each O_acc beat leaves ``latency`` (4) cycles after it went in; a row's
    first beat goes in ``RowReciprocal.latency + 1`` cycles after its L, and a row whose L
    came early follows the previous row without a gap."""
    dut = DivRhu(cols=2, acc_width=30, l_width=22)
    rows = [(375, [13044, -5, 7, 9]), (1 << 20, [3, -3]), (0, [0])]
    payloads = o_acc_payloads(2, 30, [row for _, row in rows])
    cycles, beats = run(
        dut, inputs={"l": [l for l, _ in rows], "i": payloads}, outputs={"o": len(payloads)}
    )
    assert [cycle for cycle, _ in beats["o"]] == [t + DivRhu.latency for t in cycles["i"]]
    assert cycles["i"][0] == cycles["l"][0] + RowReciprocal.latency + 1
    assert row_values(beats["o"], [row for _, row in rows], 2) == expected_y(rows)
    # §4.2's worked example: y = DIV_RHU(13044·2^16, 375) = 2279604.
    assert beats["o"][0][1].data[0] == 2279604
    assert DivRhu.latency == 4


# --- Requantizer ----------------------------------------------------------------------------


def test_requantizer(seed):
    """Requantisation B on y: ties at μ = 0.5 and 2^−n for odd ±y, M = 0, n = 1 and 62, y at
    the 25-bit extremes, clamps with z_o = −128 and 127, y·M/2^(n−1) on both sides of ±256,
    ±512 and ±1024 (the unit's exact window and its clamp), and random (M, n, z_o); every
    output equals ``golden.requant.requantize``."""
    rng = random.Random(seed)
    cols = 4
    lo, hi = -(1 << (Y_WIDTH - 1)), (1 << (Y_WIDTH - 1)) - 1
    dut = Requantizer(cols=cols, y_width=Y_WIDTH)
    layout = y_beat_layout(cols=cols, y_width=Y_WIDTH)
    edges = [lo, hi, 0, 1, -1, 3, -3, 5, -5, 2279604, -(1 << 23), 127 << 16]
    settings = [
        (1 << 30, 31, 0),  # μ = 0.5: odd y are ties, half up
        (1 << 30, 33, 0),  # μ = 2^−3
        (1 << 30, 46, 0),  # μ = 2^−16: O in V units
        (0, 20, 7),
        ((1 << 31) - 1, 1, 0),
        ((1 << 31) - 1, 62, -128),
        (1 << 30, 46, 127),
        (1 << 30, 46, -128),
        (rng.randint(1 << 30, (1 << 31) - 1), rng.randint(40, 50), rng.randint(-128, 127)),
    ]
    for mult, shift, zp in settings:
        values = edges + [rng.randint(lo, hi) for _ in range(20)]
        if mult:  # y·M >> (n − 1) next to the edges of the exact window and of the clamp
            for x in (255, 256, 257, 383, 384, 511, 512, 513, 1023, 1024, 1025):
                for sign in (1, -1):
                    y = sign * x * (1 << (shift - 1)) // mult
                    values += [min(max(y + j, lo), hi) for j in (-1, 0, 1)]
        values += [0] * (-len(values) % cols)
        payloads = [
            layout.const({"data": values[i : i + cols], "last": 0})
            for i in range(0, len(values), cols)
        ]
        _, beats = run(
            dut,
            inputs={"i": payloads},
            outputs={"o": len(payloads)},
            setup=[(dut.mult, mult), (dut.shift, shift), (dut.zero_point, zp)],
            rng=rng,
            stall=True,
        )
        got = [beat.data[j] for _, beat in beats["o"] for j in range(cols)]
        want = requantize(np.array(values), mult, shift, zp).tolist()
        assert got == want, f"M={mult} n={shift} z_o={zp}"


# --- DivRhuNormalizer -----------------------------------------------------------------------


def tile_trace(rng, lq, lk, dv, *, p_bits=8):
    """A random attention tile's trace (§4.1) with a causal mask, key padding and a fully
    masked row, V with −128 and 127 columns."""
    s = np.array([[rng.randint(-3000, 3000) for _ in range(lk)] for _ in range(lq)])
    v = np.array([[rng.randint(-128, 127) for _ in range(dv)] for _ in range(lk)])
    v[:, 0], v[:, 1] = -128, 127
    key_valid = np.array([rng.random() < 0.85 for _ in range(lk)])
    mask = attention_mask(lq, lk, key_valid=key_valid, causal=True, causal_offset=-1)
    scale = attention_multipliers(0.05, 0.04, 0.02, 0.01, 64)
    return (
        attention_from_scores(
            s, v, **scale, out_zp=rng.randint(-20, 20), mask=mask, p_bits=p_bits, trace=True
        ),
        scale,
    )


def test_normalizer_tile(seed):
    """The normaliser on a whole tile's trace: L and O_acc of every row in, the tile's int8
    output out (a fully masked row gives z_o), dv = 7 as three beats of 3 lanes, stalls on
    every stream; the output latency is ``DivRhu.latency + Requantizer.latency``."""
    rng = random.Random(seed)
    cols, dv = 3, 7
    trace, scale = tile_trace(rng, 9, 20, dv)
    assert (trace.l == 0).any(), "the tile has a fully masked row"
    zp = int(trace.o[trace.l == 0][0, 0])
    dut = DivRhuNormalizer(cols=cols, lk_max=64)
    payloads = o_acc_payloads(cols, dut.acc_width, trace.o_acc.tolist())
    setup = [(dut.out_mult, scale["out_mult"]), (dut.out_shift, scale["out_shift"])]
    setup.append((dut.out_zp, zp))
    for stall in (True, False):
        cycles, beats = run(
            dut,
            inputs={"l": trace.l.tolist(), "i": payloads},
            outputs={"o": len(payloads)},
            setup=setup,
            rng=rng,
            stall=stall,
        )
        assert row_values(beats["o"], trace.o.tolist(), cols) == trace.o.tolist()
    assert [cycle for cycle, _ in beats["o"]] == [t + dut.latency for t in cycles["i"]]
    assert dut.latency == 6


def test_softmax_and_normalizer_chain(seed):
    """SoftmaxRow's P and L, P·V in NumPy (the array's job), then DivRhuNormalizer: the int8
    output equals ``attention_from_scores`` for random tiles with masks, at PB = 8."""
    rng = random.Random(seed)
    cols, lq, lk, dv = 4, 6, 13, 5
    trace, scale = tile_trace(rng, lq, lk, dv)
    zp = rng.randint(-5, 5)
    softmax = SoftmaxRow(cols=cols, score_width=22, max_beats=4)
    rows = [(trace.s[i], trace.valid[i]) for i in range(lq)]
    _, p_beats, l_beats = run_softmax(
        softmax, rows, (scale["scale_mult"], scale["scale_shift"]), rng=rng, stall=True
    )
    p = np.array(row_values(p_beats, [row for row, _ in rows], cols))
    l = np.array([beat for _, beat in l_beats])
    assert (p == trace.p).all() and (l == trace.l).all()
    v = np.array([[rng.randint(-128, 127) for _ in range(dv)] for _ in range(lk)])
    o_acc = p @ v
    norm = DivRhuNormalizer(cols=cols, lk_max=16)
    payloads = o_acc_payloads(cols, norm.acc_width, o_acc.tolist())
    _, beats = run(
        norm,
        inputs={"l": l.tolist(), "i": payloads},
        outputs={"o": len(payloads)},
        setup=[
            (norm.out_mult, scale["out_mult"]),
            (norm.out_shift, scale["out_shift"]),
            (norm.out_zp, zp),
        ],
        rng=rng,
        stall=True,
    )
    want = attention_from_scores(trace.s, v, **scale, out_zp=zp, mask=trace.valid)
    assert row_values(beats["o"], want.tolist(), cols) == want.tolist()


def test_normalizer_parameters():
    with pytest.raises(UsageError, match="lk_max must keep L below 2"):
        DivRhuNormalizer(cols=4, lk_max=1 << 20, p_bits=16)
    with pytest.raises(UsageError, match="p_bits must be one of"):
        DivRhuNormalizer(cols=4, lk_max=64, p_bits=4)
    with pytest.raises(UsageError, match="l_width must be"):
        RowReciprocal(l_width=32)
