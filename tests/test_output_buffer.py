# amaranth: UnusedElaboratable=no
"""OutputBuffer in Amaranth's simulator against a NumPy model of the C tile's bytes.

Random tile sequences (tm from 1 to Tm, tn from 1 to Tn, often not a multiple of C) go in as
strip-major rows whose lanes carry random 32-bit words (also past ``tn`` in a partial strip,
and above the low byte of narrow elements: both must not reach the valid bytes), with random
pauses on ``tiles`` and ``i`` and random backpressure on ``beats``. Every beat's valid bytes
(bytes ``[0, tn·ob)`` of each tile row) and its ``last`` bit are checked against the model, for
strip rows narrower than, equal to and wider than a word, at W = 8, 16 and 32 and both element
widths. A run without pauses checks the rates and latency of the docstring, and the ping-pong
overlap of filling one tile while the previous one streams out.
"""

import random
from math import ceil

import numpy as np
import pytest
from sim_streams import StreamBench, bursts, stream_get, stream_put

from golden.errors import UsageTypeError, UsageValueError
from golden.frontend import FrontendConfig
from hdl.config import ArrayConfig
from hdl.mem import OutputBuffer, converted_row_layout, store_tile_layout

TIMEOUT = 20000


def _dut(cols, beat, tile_m, tile_n):
    array = ArrayConfig(rows=4, cols=cols)
    frontend = FrontendConfig(data_width=8 * beat, tile_m=tile_m, tile_n=tile_n, tile_k=beat)
    return OutputBuffer(array, frontend)


def _tiles(rng, count, *, cols, tile_m, tile_n):
    """``count`` random tiles: (tm, tn, lanes) with lanes tm × ceil(tn/C)·C random words."""
    out = []
    for _ in range(count):
        tm = int(rng.integers(1, tile_m + 1))
        tn = int(rng.choice([1, tile_n, int(rng.integers(1, tile_n + 1))]))
        lanes = rng.integers(0, 1 << 32, size=(tm, ceil(tn / cols) * cols), dtype=np.uint64)
        out.append((tm, tn, lanes))
    return out


def _rows(tiles, cols, layout):
    """The converter's stream: per tile, strip-major rows with ``last`` on each strip's end."""
    rows = []
    for tm, tn, lanes in tiles:
        for s in range(ceil(tn / cols)):
            for r in range(tm):
                chunk = [int(v) for v in lanes[r, s * cols : (s + 1) * cols]]
                rows.append(layout.const({"data": chunk, "last": r == tm - 1}))
    return rows


def _expected(tiles, *, wide, beat):
    """Per beat: (row's valid bytes within this beat, byte offset in the row, last)."""
    ob = 4 if wide else 1
    out = []
    for tm, tn, lanes in tiles:
        elems = lanes[:, :tn]
        if wide:
            image = elems.astype("<u4").view(np.uint8).reshape(tm, 4 * tn)
        else:
            image = (elems & 0xFF).astype(np.uint8)
        row_beats = ceil(tn * ob / beat)
        for r in range(tm):
            for b in range(row_beats):
                last = r == tm - 1 and b == row_beats - 1
                out.append((image[r, b * beat : (b + 1) * beat].tobytes(), last))
    return out


def _run(dut, tiles, *, wide, rng=None, pauses=True):
    """Simulate one job; returns (row cycles, beats as (cycle, data bytes, last))."""
    cols = dut.array_config.cols
    beat = dut.frontend_config.beat_bytes
    rows = _rows(tiles, cols, converted_row_layout(dut.array_config))
    tile_layout = store_tile_layout(dut.frontend_config)
    records = [tile_layout.const({"tm": tm, "tn": tn}) for tm, tn, _ in tiles]
    ob = 4 if wide else 1
    count = sum(tm * ceil(tn * ob / beat) for tm, tn, _ in tiles)
    bench = StreamBench(dut)
    result = {}

    def pause(chance, length):
        return bursts(rng, chance=chance, length=length) if pauses else None

    @bench.add_testbench
    async def put_tiles(ctx):
        ctx.set(dut.wide, wide)
        await stream_put(ctx, bench, dut.tiles, records, idle=pause(0.3, (1, 6)), timeout=TIMEOUT)

    @bench.add_testbench
    async def put_rows(ctx):
        result["rows"] = await stream_put(
            ctx, bench, dut.i, rows, idle=pause(0.2, (1, 4)), timeout=TIMEOUT
        )

    @bench.add_testbench
    async def get_beats(ctx):
        stall = pause(0.25, (1, 8))
        got = await stream_get(
            ctx,
            bench,
            dut.beats,
            count,
            ready=None if stall is None else (lambda valid: not stall()),
            timeout=TIMEOUT,
        )
        result["beats"] = [
            (cycle, int(p.data).to_bytes(beat, "little"), bool(p.last)) for cycle, p in got
        ]
        # Nothing more comes out, and the buffer is idle once drained.
        for _ in range(4):
            await ctx.tick()
            assert not ctx.get(dut.beats.valid), "a beat past the job's end"
        assert ctx.get(dut.idle)

    bench.run()
    return result["rows"], result["beats"]


def _check(beats, tiles, *, wide, beat):
    want = _expected(tiles, wide=wide, beat=beat)
    assert len(beats) == len(want)
    for index, ((_, data, last), (valid, want_last)) in enumerate(zip(beats, want, strict=True)):
        assert data[: len(valid)] == valid, f"beat {index}: {data.hex()} != {valid.hex()}"
        assert last == want_last, f"beat {index}: last={last}"


# (C, W, Tm, Tn): strip rows of C·ob bytes narrower than, equal to and wider than a word.
CONFIGS = [
    pytest.param(1, 8, 3, 16, id="c1-w8"),
    pytest.param(2, 8, 4, 8, id="c2-w8"),
    pytest.param(8, 8, 3, 16, id="c8-w8"),
    pytest.param(4, 8, 1, 24, id="c4-w8-tm1"),
    pytest.param(4, 16, 5, 32, id="c4-w16"),
    pytest.param(16, 16, 2, 48, id="c16-w16"),
    pytest.param(2, 32, 3, 32, id="c2-w32"),
    pytest.param(8, 32, 4, 64, id="c8-w32"),
    pytest.param(32, 32, 2, 64, id="c32-w32"),
]


@pytest.mark.parametrize("wide", [False, True], ids=["byte", "word"])
@pytest.mark.parametrize("cols, beat, tile_m, tile_n", CONFIGS)
def test_random_tiles(seed, cols, beat, tile_m, tile_n, wide):
    rng = np.random.default_rng(seed)
    pauses = random.Random(seed)
    dut = _dut(cols, beat, tile_m, tile_n)
    tiles = _tiles(rng, 8, cols=cols, tile_m=tile_m, tile_n=tile_n)
    _, beats = _run(dut, tiles, wide=wide, rng=pauses)
    _check(beats, tiles, wide=wide, beat=beat)


@pytest.mark.parametrize("wide", [False, True], ids=["byte", "word"])
@pytest.mark.parametrize("cols, beat, tile_m, tile_n", CONFIGS)
def test_rates(seed, cols, beat, tile_m, tile_n, wide):
    """Without pauses: rows within a tile one per max(1, C·ob/W) cycles, beats of a tile back
    to back, the first beat :attr:`latency` cycles after the last row, and the next tile's
    rows taken while the previous tile streams out."""
    rng = np.random.default_rng(seed)
    dut = _dut(cols, beat, tile_m, tile_n)
    tm, tn = tile_m, tile_n - 1
    tiles = []
    for _ in range(3):
        lanes = rng.integers(0, 1 << 32, size=(tm, ceil(tn / cols) * cols), dtype=np.uint64)
        tiles.append((tm, tn, lanes))
    rows, beats = _run(dut, tiles, wide=wide, pauses=False)
    _check(beats, tiles, wide=wide, beat=beat)

    ob = 4 if wide else 1
    per_row = max(1, cols * ob // beat)
    tile_rows = tm * ceil(tn / cols)
    tile_beats = tm * ceil(tn * ob / beat)
    for t in range(len(tiles)):
        r = rows[t * tile_rows : (t + 1) * tile_rows]
        assert np.all(np.diff(r) == per_row), f"tile {t} rows at cycles {r}"
        b = [cycle for cycle, _, _ in beats[t * tile_beats : (t + 1) * tile_beats]]
        assert np.all(np.diff(b) == 1), f"tile {t} beats at cycles {b}"
        assert b[0] == r[-1] + dut.latency
    # No bubble from tile 0 to tile 1 (half 1 is free), and tile 1 fills while tile 0 streams
    # out (ping-pong).
    assert rows[tile_rows] - rows[tile_rows - 1] == per_row
    assert rows[tile_rows] < beats[tile_beats - 1][0]


@pytest.mark.parametrize(
    "cols, data_width, error, text",
    [
        (3, 64, UsageValueError, "cols must divide the beat size W = 8 bytes"),
        (64, 256, UsageValueError, r"one of 1, 2, 4, 8, 16, 32, got 64"),
        (16, 64, UsageValueError, "cols must divide"),
    ],
)
def test_bad_cols(cols, data_width, error, text):
    frontend = FrontendConfig(data_width=data_width, tile_n=32, tile_k=32)
    with pytest.raises(error, match=text):
        OutputBuffer(ArrayConfig(rows=4, cols=cols), frontend)


def test_bad_config_types():
    with pytest.raises(UsageTypeError, match="array_config must be an ArrayConfig"):
        OutputBuffer({"cols": 8}, FrontendConfig())
    with pytest.raises(UsageTypeError, match="frontend_config must be a FrontendConfig"):
        OutputBuffer(ArrayConfig(), 128)


def test_sizes():
    dut = _dut(4, 16, 5, 32)
    assert dut.row_words == 8
    assert dut.words_per_half == 40
