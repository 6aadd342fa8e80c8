# amaranth: UnusedElaboratable=no
"""TileAccumulator in Amaranth's simulator: partial-sum rows and fold records in the order of
golden.frontend.tile_loop (several m-blocks, C tiles, k-tiles and strips, tm below and above
R), random pauses on ``i``, ``folds`` and ``o``, the INT8 W-bit wrap and the FP8 exact sum
rounded once, one-row folds that follow themselves, and folds at random SRAM rows.

The expected rows are computed here without the SRAM's addressing: every emitted row is the
sum of the rows of the same output position (m-block, C tile, strip, row) over all the folds
of its k-tiles, wrapped to W bits after each fold for INT8 (numpy), for FP8 the exact sum
with the flags ORed, rounded once by ``golden.fp8.finalize_f32``, the rule
``golden.frontend.frontend_gemm`` applies.
"""

import random
from math import ceil

import numpy as np
import pytest
from sim_streams import StreamBench, bursts, stream_get, stream_put

from golden.errors import UsageTypeError, UsageValueError
from golden.formats import product_lsb_exp
from golden.fp8 import finalize_f32
from golden.frontend import FrontendConfig, accumulator_rows, tile_loop
from golden.int8 import wrap
from hdl.array import TileAccumulator, fold_layout
from hdl.array.layouts import result_row_layout
from hdl.config import ArrayConfig

INT8 = ArrayConfig(rows=4, cols=2, max_k=4)  # W = 18: random partial sums overflow on adding
FLAGS = ("nan", "pinf", "ninf")


# --- Stimulus -------------------------------------------------------------------------------


def int8_rows(rng, cfg, count, total_folds):
    """``count`` rows of random W-bit partial sums (numpy int64), the extremes included."""
    lo, hi = -(1 << (cfg.acc_width - 1)), (1 << (cfg.acc_width - 1)) - 1
    picks = rng.choice([0, 1, 2, 3, 4, 4, 4], size=(count, cfg.cols))
    values = rng.integers(lo, hi, size=(count, cfg.cols), endpoint=True)
    fixed = np.array([lo, hi, -1, 0], dtype=np.int64)
    return np.where(picks < 4, fixed[np.minimum(picks, 3)], values)


def fp8_rows(rng, cfg, count, total_folds):
    """``count`` rows of random Kulisch partial sums over every binade that ``total_folds`` of
    them can fill without leaving W bits, with NaN/±Inf flags now and then: a list of rows of
    ``{"sum", "nan", "pinf", "ninf"}`` dicts (Python ints)."""
    top = cfg.acc_width - 1 - total_folds.bit_length()
    rows = []
    for _ in range(count):
        row = []
        for _ in range(cfg.cols):
            bits = int(rng.integers(0, top + 1))
            value = 0
            if bits:
                value = int(rng.choice([-1, 1])) * int(rng.integers(1 << (bits - 1), 1 << bits))
            flags = {name: int(rng.random() < 0.03) for name in FLAGS}
            row.append({"sum": value, **flags})
        rows.append(row)
    return rows


def loop_folds(m, k, n, cfg, fcfg, rng, make_rows):
    """The folds of ``tile_loop(m, k, n)`` with random partial sums: a list of
    ``(record, key, rows)``; ``key`` = (m0, n0, strip) names the output rows the fold adds to."""
    folds = list(
        fold
        for tile in tile_loop(m, k, n, rows=cfg.rows, cols=cfg.cols, config=fcfg)
        for fold in tile.folds
    )
    total = ceil(k / cfg.rows)  # folds per output row, over all its k-tiles
    out = []
    for fold in folds:
        rows = make_rows(rng, cfg, fold.rows, total)
        record = {"acc_base": fold.acc_base, "first": fold.first, "emit": fold.emit}
        out.append((record, (fold.m0, fold.n0 - fold.strip * cfg.cols, fold.strip), rows))
    return out


# --- Expected rows --------------------------------------------------------------------------


def expected_by_position(cfg, folds):
    """Expected ``(data, last)`` rows from the output positions alone (no SRAM rows): each
    emitting fold closes the sum of every fold of its key since the key's ``first`` fold."""
    open_sums = {}
    want = []
    for record, key, rows in folds:
        if record["first"]:
            open_sums[key] = []
        open_sums[key].append(rows)
        if record["emit"]:
            parts = open_sums.pop(key)
            want += finish_rows(cfg, parts)
    assert not open_sums, "a strip never emitted"
    return want


def finish_rows(cfg, parts):
    """The emitted rows of one strip from its folds' rows ``parts`` (fold-major)."""
    if not cfg.is_fp8:
        total = np.zeros_like(parts[0])
        for part in parts:  # wrap after every fold, as the SRAM does
            total = wrap(total + part, cfg.acc_width)
        data = total.tolist()
    else:
        lsb = product_lsb_exp(*cfg.fp8_formats)
        count = len(parts[0])
        sums = np.array(
            [[sum(p[r][c]["sum"] for p in parts) for c in range(cfg.cols)] for r in range(count)],
            dtype=object,
        )
        flags = [
            np.array(
                [[any(p[r][c][name] for p in parts) for c in range(cfg.cols)] for r in range(count)]
            )
            for name in FLAGS
        ]
        data = finalize_f32(sums, *flags, lsb).view(np.uint32).tolist()
    return [(row, int(r == len(data) - 1)) for r, row in enumerate(data)]


def expected_by_sram(cfg, acc_rows, folds):
    """Expected rows from a model of the SRAM: ``first`` starts from zero, other folds add to
    rows ``acc_base …``, emitting folds leave the SRAM untouched."""
    sram = [[0] * cfg.cols for _ in range(acc_rows)]
    want = []
    for record, _, rows in folds:
        base = record["acc_base"]
        sums = []
        for r, row in enumerate(rows):
            prev = [0] * cfg.cols if record["first"] else sram[base + r]
            sums.append([wrap(int(row[c]) + prev[c], cfg.acc_width) for c in range(cfg.cols)])
        if record["emit"]:
            want += [(s, int(r == len(sums) - 1)) for r, s in enumerate(sums)]
        else:
            sram[base : base + len(sums)] = sums
    return want


# --- The bench ------------------------------------------------------------------------------


def run_tile_accumulator(cfg, acc_rows, folds, *, idle_i=None, idle_f=None, ready=None):
    """Stream ``folds`` (``(record, key, rows)``) through a TileAccumulator; returns ``(dut,
    input cycles, fold record cycles, output beats)``. The records go on their own stream,
    each offered as soon as the previous one is taken (after ``idle_f`` pauses)."""
    dut = TileAccumulator(cfg, acc_rows=acc_rows)
    bench = StreamBench(dut)
    row_layout = result_row_layout(cfg)
    rec_layout = fold_layout(acc_rows)
    beats = [
        row_layout.const({"data": row, "last": r == len(rows) - 1})
        for _, _, rows in folds
        for r, row in enumerate(_plain(rows))
    ]
    records = [rec_layout.const(record) for record, _, _ in folds]
    count = sum(len(rows) for record, _, rows in folds if record["emit"])
    seen = {}
    timeout = 100 + 8 * len(beats)  # an emitted row may follow many summing folds

    @bench.add_testbench
    async def rows_in(ctx):
        seen["in"] = await stream_put(ctx, bench, dut.i, beats, idle=idle_i, timeout=timeout)

    @bench.add_testbench
    async def records_in(ctx):
        seen["folds"] = await stream_put(
            ctx, bench, dut.folds, records, idle=idle_f, timeout=timeout
        )

    @bench.add_testbench
    async def rows_out(ctx):
        seen["out"] = await stream_get(ctx, bench, dut.o, count, ready=ready, timeout=timeout)

    refused = []

    @bench.add_testbench(background=True)
    async def monitor(ctx):
        # A row with its fold record is refused only while an emitted row waits on `o`.
        signals = (dut.i.valid, dut.i.ready, dut.folds.valid, dut.o.valid, dut.o.ready)
        while True:
            _, reset, cycle, i_valid, i_ready, f_valid, o_valid, o_ready = await ctx.tick().sample(
                bench.cycle, *signals
            )
            if not reset and i_valid and f_valid and not i_ready and not (o_valid and not o_ready):
                refused.append(cycle)

    bench.run()
    assert not refused, f"i refused a row with no emitted row waiting, cycles {refused[:5]}"
    return dut, seen["in"], seen["folds"], seen["out"]


def _plain(rows):
    return rows.tolist() if isinstance(rows, np.ndarray) else rows


def check_rows(got, want):
    """Every output row equals its expected row; the first mismatch names row and column."""
    assert len(got) == len(want), f"{len(got)} rows out, want {len(want)}"
    for r, ((_, row), (w_data, w_last)) in enumerate(zip(got, want, strict=True)):
        for c, w in enumerate(w_data):
            assert row.data[c] == w, f"output row {r} column {c}: got {row.data[c]}, want {w}"
        assert row.last == w_last, f"output row {r}: last {row.last}, want {w_last}"


def check_records_taken_with_last_rows(folds, in_cycles, fold_cycles):
    """Each fold record is consumed in the cycle its fold's last row is taken."""
    ends, index = [], -1
    for _, _, rows in folds:
        index += len(rows)
        ends.append(in_cycles[index])
    assert fold_cycles == ends


def check_full_rate(folds, in_cycles, out, latency):
    """Rows back to back, each emitted row one latency after its input row."""
    assert in_cycles == list(range(len(in_cycles))), "an input row waited"
    emitted, index = [], 0
    for record, _, rows in folds:
        if record["emit"]:
            emitted += in_cycles[index : index + len(rows)]
        index += len(rows)
    assert [cycle for cycle, _ in out] == [t + latency for t in emitted]


# --- Tests ----------------------------------------------------------------------------------

# (M, K, N, Tm, Tn, Tk): several m-blocks, C tiles, k-tiles (K > Tk) and strips; clipped
# edges; tm < R = 4 (Tm = 3, edge tm = 1 or 2) and tm > R.
SHAPES = [
    (5, 20, 12, 3, 8, 8),
    (7, 19, 16, 6, 16, 8),
    (2, 9, 3, 8, 8, 8),
    (11, 24, 9, 5, 8, 16),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_tile_loop_int8_full_rate(shape, seed):
    """Tile-loop folds, no pauses: exact wrapped sums, one row per cycle, each record taken
    with its fold's last row, each emitted row one cycle after its input row."""
    m, k, n, tm, tn, tk = shape
    rng = np.random.default_rng(seed)
    fcfg = FrontendConfig(data_width=64, tile_m=tm, tile_n=tn, tile_k=tk)
    acc_rows = accumulator_rows(INT8.cols, fcfg)
    folds = loop_folds(m, k, n, INT8, fcfg, rng, int8_rows)
    want = expected_by_position(INT8, folds)
    dut, in_cycles, fold_cycles, out = run_tile_accumulator(INT8, acc_rows, folds)
    check_rows(out, want)
    check_records_taken_with_last_rows(folds, in_cycles, fold_cycles)
    check_full_rate(folds, in_cycles, out, dut.latency)
    assert dut.latency == 1
    # The W-bit wrap is exercised, not avoided: some sums differ from the unwrapped ones.
    unwrapped = expected_by_position(ArrayConfig(rows=4, cols=2, acc_width=64), folds)
    wrapped = sum(w != u for (w, _), (u, _) in zip(want, unwrapped, strict=True))
    assert wrapped >= 3 or len(want) < 10


@pytest.mark.parametrize("shape", SHAPES[:2], ids=lambda s: "x".join(map(str, s)))
def test_tile_loop_int8_pauses(shape, seed):
    """Random gaps on ``i`` and ``folds`` (records late, so rows must wait for them) and a
    consumer that holds rows back on ``o``: the same rows come out."""
    m, k, n, tm, tn, tk = shape
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    fcfg = FrontendConfig(data_width=64, tile_m=tm, tile_n=tn, tile_k=tk)
    acc_rows = accumulator_rows(INT8.cols, fcfg)
    folds = loop_folds(m, k, n, INT8, fcfg, rng, int8_rows)
    pause_o = bursts(prng, chance=0.3, length=(1, 4))
    _, in_cycles, fold_cycles, out = run_tile_accumulator(
        INT8,
        acc_rows,
        folds,
        idle_i=bursts(prng, chance=0.2, length=(1, 3)),
        idle_f=bursts(prng, chance=0.4, length=(1, 6)),
        ready=lambda valid: not pause_o(),
    )
    check_rows(out, expected_by_position(INT8, folds))
    check_records_taken_with_last_rows(folds, in_cycles, fold_cycles)


def test_tile_loop_random_shapes(seed):
    """Random small GEMMs and tiles (K > Tk, clipped edges, tm below and above R), with
    random pauses on every stream in every other run."""
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    for run in range(6):
        tn, tk = (int(rng.choice([8, 16])) for _ in range(2))
        fcfg = FrontendConfig(data_width=64, tile_m=int(rng.integers(1, 7)), tile_n=tn, tile_k=tk)
        m, n = int(rng.integers(1, 13)), int(rng.integers(1, 21))
        k = int(rng.integers(tk + 1, 3 * tk + 1))
        folds = loop_folds(m, k, n, INT8, fcfg, rng, int8_rows)
        pauses = {}
        if run % 2:
            pause_o = bursts(prng, chance=0.3, length=(1, 4))
            pauses = {
                "idle_i": bursts(prng, chance=0.2, length=(1, 3)),
                "idle_f": bursts(prng, chance=0.3, length=(1, 4)),
                "ready": lambda valid, pause_o=pause_o: not pause_o(),
            }
        acc_rows = accumulator_rows(INT8.cols, fcfg)
        _, in_cycles, fold_cycles, out = run_tile_accumulator(INT8, acc_rows, folds, **pauses)
        check_rows(out, expected_by_position(INT8, folds))
        check_records_taken_with_last_rows(folds, in_cycles, fold_cycles)


@pytest.mark.parametrize("mac", ["e4m3xe5m2"])
def test_tile_loop_fp8(mac, seed):
    """FP8: the exact Kulisch sum over every fold of every k-tile with ORed flags, rounded once
    to binary32, with pauses on every stream and a full-rate run."""
    cfg = ArrayConfig(rows=4, cols=2, mac=mac)
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    fcfg = FrontendConfig(data_width=64, tile_m=3, tile_n=8, tile_k=8)
    acc_rows = accumulator_rows(cfg.cols, fcfg)
    folds = loop_folds(5, 20, 10, cfg, fcfg, rng, fp8_rows)
    want = expected_by_position(cfg, folds)
    f32 = np.array([e for data, _ in want for e in data], dtype=np.uint32).view(np.float32)
    assert np.isnan(f32).sum() >= 1 and np.isinf(f32).sum() >= 1 and np.isfinite(f32).sum() >= 10
    dut, in_cycles, fold_cycles, out = run_tile_accumulator(cfg, acc_rows, folds)
    check_rows(out, want)
    check_full_rate(folds, in_cycles, out, dut.latency)
    assert dut.latency == 3  # the read-modify-write stage and the rounding's two stages
    pause_o = bursts(prng, chance=0.3, length=(1, 4))
    _, in_cycles, fold_cycles, out = run_tile_accumulator(
        cfg,
        acc_rows,
        folds,
        idle_i=bursts(prng, chance=0.2, length=(1, 3)),
        idle_f=bursts(prng, chance=0.4, length=(1, 6)),
        ready=lambda valid: not pause_o(),
    )
    check_rows(out, want)
    check_records_taken_with_last_rows(folds, in_cycles, fold_cycles)


def test_one_row_folds_follow_themselves(seed):
    """M = 1 and one strip: every fold is one row at SRAM row 0, back to back, so each reads
    the row the previous fold writes in the same cycle (the transparent read)."""
    rng = np.random.default_rng(seed)
    fcfg = FrontendConfig(data_width=64, tile_m=1, tile_n=8, tile_k=8)
    folds = loop_folds(1, 30, 2, INT8, fcfg, rng, int8_rows)
    assert all(len(rows) == 1 for _, _, rows in folds) and len(folds) == 8
    dut, in_cycles, fold_cycles, out = run_tile_accumulator(INT8, 1, folds)
    check_rows(out, expected_by_position(INT8, folds))
    check_full_rate(folds, in_cycles, out, dut.latency)


def random_records(rng, acc_rows, count):
    """Folds at random SRAM rows with random flags (``first`` forced where a row was never
    written); one-row folds often, and often at the previous fold's rows."""
    written = set()
    folds = []
    base, size = 0, 1
    for _ in range(count):
        if rng.random() < 0.5:  # elsewhere, else the same rows again
            size = int(rng.choice([1, 1, 2, 3]))
            base = int(rng.integers(0, acc_rows - size + 1))
        rows = set(range(base, base + size))
        first = bool(rng.random() < 0.2) or not rows <= written
        emit = bool(rng.random() < 0.3)
        if not emit:
            written |= rows
        record = {"acc_base": base, "first": first, "emit": emit}
        folds.append((record, None, int8_rows(rng, INT8, size, 1)))
    return folds


@pytest.mark.parametrize("paused", [False, True])
def test_random_records(paused, seed):
    """Folds at random rows (not the tile loop's pattern): ``first`` ignores the SRAM, an
    emitting fold leaves the SRAM as it was, a fold may repeat its rows at once."""
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    acc_rows = 5
    folds = random_records(rng, acc_rows, 60)
    pauses = {}
    if paused:
        pause_o = bursts(prng, chance=0.3, length=(1, 3))
        pauses = {
            "idle_i": bursts(prng, chance=0.2),
            "idle_f": bursts(prng, chance=0.3, length=(1, 3)),
            "ready": lambda valid: not pause_o(),
        }
    dut, in_cycles, fold_cycles, out = run_tile_accumulator(INT8, acc_rows, folds, **pauses)
    check_rows(out, expected_by_sram(INT8, acc_rows, folds))
    check_records_taken_with_last_rows(folds, in_cycles, fold_cycles)
    if not paused:
        check_full_rate(folds, in_cycles, out, dut.latency)


def test_fold_layout_and_acc_rows_checks():
    layout = fold_layout(12)
    assert set(layout.members) == {"acc_base", "first", "emit"}
    assert layout.size == 4 + 1 + 1
    with pytest.raises(UsageValueError, match="acc_rows must be between 1 and 65536, got 0"):
        TileAccumulator(INT8, acc_rows=0)
    with pytest.raises(UsageTypeError, match="acc_rows"):
        TileAccumulator(INT8, acc_rows=2.0)
