# amaranth: UnusedElaboratable=no
"""OperandFeeder in Amaranth's simulator, between two PingPongBanks and a real SystolicArray.

The testbench loads the A and B tiles of a GEMM into the bank halves as the load engine would
(the layouts of the accelerator spec, one DMA beat per cycle at most, random gap/sentinel bytes
past ``tk`` and ``tn``, ``last`` on each tile's final beat; a write into a full half waits for
its release), sends one tile record per k-tile of ``golden.frontend.tile_loop``, and checks
every beat on ``weights``, ``acts`` and ``folds`` against a NumPy model built from the same
loop. Random pauses sit on ``weights`` and ``acts`` (between feeder and array), on ``folds``
and on the array's ``results``. A monitor checks the stream rules, that every bank read hits
a full half, that each half is released once per tile (B) or A load (A) in order, and that a
fold's record is taken no later than its first activation row. INT8 runs also sum the array's
results by the fold records, as the tile accumulator does, and compare the GEMM with A·B.
A run without pauses and with the banks filled ahead checks that ``acts`` offers a row in
every cycle from the job's first row to its last, and that the array takes one each cycle.
"""

import random
from math import ceil

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from sim_streams import StreamBench, bursts, stream_get, stream_put

from golden.errors import UsageTypeError, UsageValueError
from golden.frontend import FrontendConfig, tile_loop
from hdl.array import OperandFeeder, SystolicArray
from hdl.config import ArrayConfig
from hdl.mem import PingPongBank

TIMEOUT = 4000


# --- Reference model ------------------------------------------------------------------------


def job_tiles(shape, acfg, fcfg):
    """The GEMM's tiles and their feeder records (``keep_a``: the next tile reuses the A half)."""
    m, k, n = shape
    tiles = list(tile_loop(m, k, n, rows=acfg.rows, cols=acfg.cols, config=fcfg))
    records = []
    for i, t in enumerate(tiles):
        keep_a = i + 1 < len(tiles) and not tiles[i + 1].load_a
        records.append(
            {
                "tm": t.tm,
                "tn": t.tn,
                "tk": t.tk,
                "first_k": t.first_k,
                "last_k": t.last_k,
                "a_half": t.a_bank,
                "b_half": t.b_bank,
                "qp_half": t.qp_bank,
                "keep_a": keep_a,
            }
        )
    return tiles, records


def expected_streams(tiles, a, b, acfg, act_unsigned):
    """Weight beats, activation rows ``(codes, act_unsigned, last)`` and fold records
    ``(acc_base, first, emit)`` in stream order, straight from the fold commands."""
    rows, cols = acfg.rows, acfg.cols
    weights, acts, folds = [], [], []
    for t in tiles:
        for f in t.folds:
            for j in range(rows):
                weights.append(
                    tuple(
                        int(b[f.k0 + j, f.n0 + c]) if j < f.k_len and c < f.n_len else 0
                        for c in range(cols)
                    )
                )
            for r in range(f.rows):
                codes = tuple(
                    int(a[f.m0 + r, f.k0 + lane]) if lane < f.k_len else 0 for lane in range(rows)
                )
                acts.append((codes, act_unsigned, r == f.rows - 1))
            folds.append((f.acc_base, int(f.first), int(f.emit)))
    return weights, acts, folds


def dma_beats(tiles, a, b, fcfg, rng):
    """Bank writes ``(half, addr, data)`` per A load and per B tile, in loop order: tile rows
    of ``ceil(size / W)`` beats from beat address 0, bytes past the tile random garbage."""
    w = fcfg.beat_bytes

    def tile_beats(matrix, r0, c0, height, width):
        pitch = ceil(width / w)
        out = []
        for i in range(height):
            for bt in range(pitch):
                value = 0
                for j in range(w):
                    col = bt * w + j
                    byte = int(matrix[r0 + i, c0 + col]) if col < width else rng.randrange(1, 256)
                    value |= byte << (8 * j)
                out.append((i * pitch + bt, value))
        return out

    a_loads = [(t.a_bank, tile_beats(a, t.m0, t.k0, t.tm, t.tk)) for t in tiles if t.load_a]
    b_loads = [(t.b_bank, tile_beats(b, t.k0, t.n0, t.tk, t.tn)) for t in tiles]
    return a_loads, b_loads


def write_payloads(bank, loads):
    layout = bank.w.payload.shape()
    full = (1 << bank.beat_bytes) - 1
    return [
        layout.const(
            {"half": half, "addr": addr, "data": value, "mask": full, "last": i == len(beats) - 1}
        )
        for half, beats in loads
        for i, (addr, value) in enumerate(beats)
    ]


def signed_codes(x, unsigned):
    x = x.astype(np.int64)
    return x if unsigned else np.where(x >= 128, x - 256, x)


# --- The bench ------------------------------------------------------------------------------


def run_feeder(
    acfg,
    fcfg,
    shape,
    *,
    seed,
    act_unsigned=0,
    pauses=0.0,
    prefill=False,
    dma_delay=(0, 0),
):
    """Run one GEMM through feeder, banks and array; returns a dict of what was seen."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    m_, k_, n_ = shape
    a = nrng.integers(0, 256, size=(m_, k_), dtype=np.int64)
    b = nrng.integers(0, 256, size=(k_, n_), dtype=np.int64)
    tiles, records = job_tiles(shape, acfg, fcfg)
    want_w, want_a, want_f = expected_streams(tiles, a, b, acfg, act_unsigned)
    a_loads, b_loads = dma_beats(tiles, a, b, fcfg, rng)

    feeder = OperandFeeder(acfg, fcfg)
    bank_a = PingPongBank(beat_bytes=fcfg.beat_bytes, row_bytes=acfg.rows, rows=feeder.a_rows)
    bank_b = PingPongBank(beat_bytes=fcfg.beat_bytes, row_bytes=acfg.cols, rows=feeder.b_rows)
    array = SystolicArray(acfg)
    top = Module()
    top.submodules.feeder = feeder
    top.submodules.bank_a = bank_a
    top.submodules.bank_b = bank_b
    top.submodules.array = array
    for side, bank in (("a", bank_a), ("b", bank_b)):
        for port in ("rd_en", "rd_half", "rd_row", "release", "release_half"):
            top.d.comb += getattr(bank, port).eq(getattr(feeder, f"{side}_{port}"))
        top.d.comb += [
            getattr(feeder, f"{side}_rd_data").eq(bank.rd_data),
            getattr(feeder, f"{side}_full").eq(bank.full),
        ]
    # Pauses between feeder and array: the array sees no beat and the feeder no ready.
    pause_w, pause_a = Signal(), Signal()
    for name, pause in (("weights", pause_w), ("acts", pause_a)):
        src, dst = getattr(feeder, name), getattr(array, name)
        top.d.comb += [
            dst.payload.eq(src.payload),
            dst.valid.eq(src.valid & ~pause),
            src.ready.eq(dst.ready & ~pause),
        ]

    bench = StreamBench(top)
    seen = {"w": [], "a": [], "valid_a": [], "wait": [], "errors": [], "rel_a": [], "rel_b": []}

    def idle(chance):
        return bursts(rng, chance=chance, length=(1, 3)) if chance else None

    def ready(chance):
        if not chance:
            return None
        pause = bursts(rng, chance=chance, length=(1, 3))
        return lambda valid: not pause()

    @bench.add_testbench
    async def tiles_in(ctx):
        ctx.set(feeder.act_unsigned, act_unsigned)
        if prefill:
            # Both halves of each bank hold their first tiles before the job starts.
            want = (min(2, len(a_loads)), min(2, len(b_loads)))
            while (bin(ctx.get(bank_a.full)).count("1"), bin(ctx.get(bank_b.full)).count("1")) != (
                want
            ):
                await ctx.tick()
        tile_layout = feeder.tile.payload.shape()
        payloads = [tile_layout.const(r) for r in records]
        seen["tile"] = await stream_put(
            ctx, bench, feeder.tile, payloads, idle=idle(pauses), timeout=TIMEOUT
        )

    for bank, loads, delay in ((bank_a, a_loads, dma_delay[0]), (bank_b, b_loads, dma_delay[1])):

        @bench.add_testbench
        async def dma(ctx, bank=bank, loads=loads, delay=delay):
            if delay:
                await ctx.tick().repeat(delay)
            payloads = write_payloads(bank, loads)
            await stream_put(ctx, bench, bank.w, payloads, idle=idle(pauses), timeout=TIMEOUT)

    @bench.add_testbench
    async def folds_out(ctx):
        seen["f"] = await stream_get(
            ctx, bench, feeder.folds, len(want_f), ready=ready(pauses), timeout=TIMEOUT
        )

    @bench.add_testbench
    async def results_out(ctx):
        seen["r"] = await stream_get(
            ctx, bench, array.results, len(want_a), ready=ready(pauses), timeout=TIMEOUT
        )
        await ctx.tick().repeat(4)
        seen["end"] = (ctx.get(feeder.idle), ctx.get(bank_a.full), ctx.get(bank_b.full))

    if pauses:

        @bench.add_testbench(background=True)
        async def pause_driver(ctx):
            pw, pa = bursts(rng, chance=pauses, length=(1, 3)), bursts(rng, chance=pauses)
            while True:
                ctx.set(pause_w, pw())
                ctx.set(pause_a, pa())
                await ctx.tick()

    @bench.add_testbench(background=True)
    async def monitor(ctx):
        held = {"w": None, "a": None}
        released = {"a": [False, False], "b": [False, False]}
        signals = (
            feeder.weights.valid,
            feeder.weights.ready,
            feeder.weights.payload,
            feeder.acts.valid,
            feeder.acts.ready,
            feeder.acts.payload,
            feeder.operand_wait,
            feeder.a_rd_en,
            feeder.a_rd_half,
            feeder.a_release,
            feeder.a_release_half,
            bank_a.full,
            feeder.b_rd_en,
            feeder.b_rd_half,
            feeder.b_release,
            feeder.b_release_half,
            bank_b.full,
        )
        async for _, _, cycle, *v in ctx.tick().sample(bench.cycle, *signals):
            wv, wr, wp, av, ar, ap, wait = v[:7]
            w_beat = tuple(wp[c] for c in range(acfg.cols))
            a_row = (tuple(ap.data[r] for r in range(acfg.rows)), ap.act_unsigned, ap.last)
            for key, valid, rdy, beat in (("w", wv, wr, w_beat), ("a", av, ar, a_row)):
                if held[key] is not None and not (valid and beat == held[key]):
                    seen["errors"].append(f"cycle {cycle}: {key} beat withdrawn or changed")
                held[key] = beat if valid and not rdy else None
                if valid and rdy:
                    seen[key].append((cycle, beat))
            seen["valid_a"].append(av)
            seen["wait"].append(wait)
            for side, (rd_en, rd_half, rel, rel_half, full) in (("a", v[7:12]), ("b", v[12:17])):
                for h in range(2):
                    if released[side][h] and full >> h & 1:
                        released[side][h] = False
                if rd_en and not full >> rd_half & 1:
                    seen["errors"].append(f"cycle {cycle}: {side} read of half {rd_half}, not full")
                if rel:
                    if not full >> rel_half & 1:
                        seen["errors"].append(f"cycle {cycle}: {side} release of an empty half")
                    released[side][rel_half] = True
                    seen[f"rel_{side}"].append(rel_half)

    bench.run()
    seen.update(
        a_matrix=a,
        b_matrix=b,
        tiles=tiles,
        want_w=want_w,
        want_a=want_a,
        want_f=want_f,
    )
    return seen


def check_streams(seen):
    """Every stream beat as the model says, releases in order, halves all free at the end."""
    assert not seen["errors"], seen["errors"][:5]
    got_w = [beat for _, beat in seen["w"]]
    assert len(got_w) == len(seen["want_w"])
    for i, (got, want) in enumerate(zip(got_w, seen["want_w"], strict=True)):
        assert got == want, f"weight beat {i}: got {got}, want {want}"
    got_a = [row for _, row in seen["a"]]
    assert len(got_a) == len(seen["want_a"])
    for i, (got, want) in enumerate(zip(got_a, seen["want_a"], strict=True)):
        assert got == want, f"act row {i}: got {got}, want {want}"
    got_f = [(p.acc_base, p.first, p.emit) for _, p in seen["f"]]
    assert got_f == seen["want_f"]
    # A fold's record is taken before or with its first activation row.
    first_rows, index = [], 0
    for t in seen["tiles"]:
        for _ in t.folds:
            first_rows.append(seen["a"][index][0])
            index += t.tm
    for i, ((f_cycle, _), a_cycle) in enumerate(zip(seen["f"], first_rows, strict=True)):
        assert f_cycle <= a_cycle, f"fold {i}: record at cycle {f_cycle}, first row {a_cycle}"
    tiles = seen["tiles"]
    assert seen["rel_b"] == [t.b_bank for t in tiles]
    assert seen["rel_a"] == [
        t.a_bank for i, t in enumerate(tiles) if i + 1 == len(tiles) or tiles[i + 1].load_a
    ]
    assert seen["end"] == (1, 0, 0), "feeder not idle or a bank half not released at the end"


def check_int8_gemm(seen, acfg, act_unsigned):
    """Sum the array's result rows by the fold records (as the tile accumulator does) and
    compare every emitted C element with A·B."""
    a = signed_codes(seen["a_matrix"], act_unsigned)
    b = signed_codes(seen["b_matrix"], False)
    want = a @ b
    got = np.full(want.shape, -(1 << 62), dtype=np.int64)
    acc = {}
    rows = iter(seen["r"])
    folds = iter(seen["f"])
    for t in seen["tiles"]:
        for f in t.folds:
            _, rec = next(folds)
            for r in range(t.tm):
                _, row = next(rows)
                assert row.last == (r == t.tm - 1)
                vals = [row.data[c] for c in range(acfg.cols)]
                addr = rec.acc_base + r
                if not rec.first:
                    vals = [x + y for x, y in zip(acc[addr], vals, strict=True)]
                if rec.emit:
                    for c in range(f.n_len):
                        got[t.m0 + r, f.n0 + c] = vals[c]
                else:
                    acc[addr] = vals
    np.testing.assert_array_equal(got, want)


# --- Tests ----------------------------------------------------------------------------------

INT8_4X4 = ArrayConfig(rows=4, cols=4, max_k=64)
INT8_2X8 = ArrayConfig(rows=2, cols=8, max_k=64)
E4M3_4X4 = ArrayConfig(rows=4, cols=4, mac="e4m3", max_k=64)


@pytest.mark.parametrize(
    "acfg, fcfg, shape, act_unsigned, seed",
    [
        # K > Tk: A reloaded per tile; tm 6, 6, 1 (below R); tn 16, 5; tk 16, 16, 5.
        (
            INT8_4X4,
            FrontendConfig(data_width=64, tile_m=6, tile_n=16, tile_k=16),
            (13, 37, 21),
            0,
            1,
        ),
        # K <= Tk: A kept across the n-tiles (keep_a); tk = 11, a padded last fold.
        (
            INT8_4X4,
            FrontendConfig(data_width=64, tile_m=6, tile_n=16, tile_k=16),
            (7, 11, 40),
            1,
            2,
        ),
        (
            INT8_2X8,
            FrontendConfig(data_width=128, tile_m=5, tile_n=16, tile_k=16),
            (9, 20, 19),
            1,
            3,
        ),
    ],
)
def test_int8_streams_and_gemm(acfg, fcfg, shape, act_unsigned, seed):
    seen = run_feeder(acfg, fcfg, shape, seed=seed, act_unsigned=act_unsigned, pauses=0.2)
    check_streams(seen)
    check_int8_gemm(seen, acfg, act_unsigned)


def test_fp8_streams():
    """FP8 codes pass untouched and the padding is code 0x00 whatever the gap bytes hold."""
    fcfg = FrontendConfig(data_width=64, tile_m=4, tile_n=8, tile_k=8)
    seen = run_feeder(E4M3_4X4, fcfg, (6, 13, 11), seed=4, pauses=0.25)
    check_streams(seen)


def test_operand_wait_while_tiles_land():
    """Tiles sent before any operand lands: the feeder reports the wait, then runs normally."""
    fcfg = FrontendConfig(data_width=64, tile_m=6, tile_n=16, tile_k=16)
    seen = run_feeder(INT8_4X4, fcfg, (7, 11, 40), seed=5, dma_delay=(30, 30))
    check_streams(seen)
    assert all(seen["wait"][5:25]), "operand_wait low while no operand has landed"


def test_one_row_tiles_wait_for_b():
    """Tiles of one fold of one row each, A landed long before B: the activation side must
    not run ahead of the weight side (a tile's row may only be read once its B half has
    landed), so no tile record is lost or overtaken."""
    fcfg = FrontendConfig(data_width=64, tile_m=1, tile_n=8, tile_k=8)
    seen = run_feeder(INT8_4X4, fcfg, (9, 3, 4), seed=7, dma_delay=(0, 60))
    check_streams(seen)
    check_int8_gemm(seen, INT8_4X4, 0)
    assert any(seen["wait"][10:50]), "operand_wait low while B has not landed"


@pytest.mark.parametrize(
    "tile_m, shape",
    [
        (8, (16, 16, 16)),  # tm = 2R: K > Tk, two strips, two folds per tile
        (8, (16, 6, 16)),  # K <= Tk (A kept), tk = 6: a padded second fold
        (4, (8, 16, 16)),  # tm = R: the weights must arrive one beat per cycle
    ],
)
def test_acts_back_to_back(tile_m, shape):
    """Banks filled ahead, no pauses, tm >= R: from the job's first activation row to its last,
    ``acts`` is valid in every cycle (and the array takes a row in every cycle), across folds,
    strips and tiles."""
    fcfg = FrontendConfig(data_width=64, tile_m=tile_m, tile_n=8, tile_k=8)
    seen = run_feeder(INT8_4X4, fcfg, shape, seed=6, prefill=True)
    check_streams(seen)
    check_int8_gemm(seen, INT8_4X4, 0)
    first, last = seen["a"][0][0], seen["a"][-1][0]
    assert len(seen["tiles"]) > 2
    gaps = [t for t in range(first, last + 1) if not seen["valid_a"][t]]
    assert not gaps, f"acts not valid at cycles {gaps[:10]}"
    assert [t for t, _ in seen["a"]] == list(range(first, last + 1)), "the array waited"
    assert not any(seen["wait"][first : last + 1]), "operand_wait during a full-rate run"


def test_bad_parameters():
    fcfg = FrontendConfig(data_width=64, tile_m=4, tile_n=8, tile_k=8)
    with pytest.raises(UsageValueError, match="cols"):
        OperandFeeder(ArrayConfig(rows=4, cols=16, max_k=64), fcfg)
    with pytest.raises(UsageValueError, match="rows"):
        OperandFeeder(ArrayConfig(rows=3, cols=4, max_k=64), fcfg)
    with pytest.raises(UsageTypeError, match="array_config"):
        OperandFeeder(fcfg, fcfg)
    with pytest.raises(UsageTypeError, match="frontend_config"):
        OperandFeeder(INT8_4X4, INT8_4X4)
