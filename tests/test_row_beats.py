# amaranth: UnusedElaboratable=no
"""RowSplitter and RowPacker in Amaranth's simulator against a pure-Python model of the rows.

Rows of random lengths go through each block with random gaps on the input and random stalls
on the output (also a sink that raises ``ready`` only while ``valid`` is high). The splitter's
lane beats must be the rows' ``lanes``-byte chunks in order, ``ceil(row_bytes / lanes)`` per
row, and each bus beat must be taken in the cycle its last wanted chunk leaves. The packer's
bus beats must carry each row's lane beats in order, ``ceil(beats / (beat_bytes / lanes))``
per row, ``row_last`` on the row's last bus beat only; chunks past a row's end are stale and
not compared. Without stalls both blocks move one lane beat per cycle.
"""

import random

import pytest
from sim_streams import StreamBench, bursts, stream_get, stream_put

from golden.errors import UsageValueError
from hdl.mem.row_beats import RowPacker, RowSplitter

#: (beat_bytes, lanes): lanes equal to the beat, and narrower.
SHAPES = [(16, 4), (8, 8), (8, 2), (16, 16), (4, 1)]
#: Output ``ready`` policies: always high, random stalls, high only while ``valid`` is.
SINKS = ["always", "stalls", "while_valid"]
ROWS = 60


def _ceil(a, b):
    return -(-a // b)


def _sink(kind, rng):
    if kind == "always":
        return None
    pause = bursts(rng, chance=0.3, length=(1, 4))
    if kind == "stalls":
        return lambda valid: not pause()
    return lambda valid: valid and not pause()


def _chunks(value, size, count):
    """The first ``count`` ``size``-byte chunks of the integer ``value``, low bytes first."""
    mask = (1 << (8 * size)) - 1
    return [(value >> (8 * size * j)) & mask for j in range(count)]


# --- RowSplitter ------------------------------------------------------------------------------


def split_model(rows, beat_bytes, lanes):
    """Expected lane beats, and for every bus beat the index of the lane beat that ends it.

    ``rows`` is a list of ``(row_bytes, [bus beat ints])``."""
    per_beat = beat_bytes // lanes
    lane_beats, beat_ends = [], []
    for row_bytes, beats in rows:
        n = _ceil(row_bytes, lanes)
        chunks = [c for beat in beats for c in _chunks(beat, lanes, per_beat)][:n]
        start = len(lane_beats)
        lane_beats += chunks
        beat_ends += [start + min((b + 1) * per_beat, n) - 1 for b in range(len(beats))]
    return lane_beats, beat_ends


def run_splitter(rows, *, beat_bytes, lanes, max_row_bytes, seed, idle, sink):
    """Send ``rows`` (grouped into runs of one ``row_bytes``, the input idle for a cycle while
    ``row_bytes`` changes). Returns (bus beat cycles, [(cycle, lane beat)])."""
    rng = random.Random(seed)
    dut = RowSplitter(beat_bytes=beat_bytes, lanes=lanes, max_row_bytes=max_row_bytes)
    bench = StreamBench(dut)
    total = sum(_ceil(row_bytes, lanes) for row_bytes, _ in rows)
    result = {}
    gaps = bursts(rng, chance=0.3, length=(1, 3)) if idle else None

    @bench.add_testbench
    async def producer(ctx):
        cycles = []
        previous = None
        for row_bytes, beats in rows:
            if row_bytes != previous:
                ctx.set(dut.i.valid, 0)
                ctx.set(dut.row_bytes, row_bytes)
                if previous is not None:
                    await ctx.tick()
                previous = row_bytes
            cycles += await stream_put(ctx, bench, dut.i, beats, idle=gaps)
        result["in"] = cycles

    @bench.add_testbench
    async def consumer(ctx):
        result["out"] = await stream_get(ctx, bench, dut.o, total, ready=_sink(sink, rng))

    bench.run()
    return result["in"], result["out"]


def _grouped(rng, count, beat_bytes, max_row_bytes):
    """Random rows, in runs of a few rows of one length (lengths also repeat across runs)."""
    rows = []
    while len(rows) < count:
        row_bytes = rng.randint(1, max_row_bytes)
        for _ in range(rng.randint(1, 4)):
            beats = [rng.getrandbits(8 * beat_bytes) for _ in range(_ceil(row_bytes, beat_bytes))]
            rows.append((row_bytes, beats))
    return rows[:count]


@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize(("beat_bytes", "lanes"), SHAPES)
def test_splitter_rows(beat_bytes, lanes, sink, seed):
    rng = random.Random(seed)
    # Not a multiple of lanes or of the beat: rows end inside a lane chunk and a bus beat.
    max_row_bytes = 3 * beat_bytes - 1
    rows = _grouped(rng, ROWS, beat_bytes, max_row_bytes)
    rows.append((max_row_bytes, [rng.getrandbits(8 * beat_bytes) for _ in range(3)]))
    rows.append((1, [rng.getrandbits(8 * beat_bytes)]))
    want, beat_ends = split_model(rows, beat_bytes, lanes)
    in_cycles, got = run_splitter(
        rows,
        beat_bytes=beat_bytes,
        lanes=lanes,
        max_row_bytes=max_row_bytes,
        seed=seed,
        idle=True,
        sink=sink,
    )
    assert len(got) == len(want)
    assert len(in_cycles) == sum(len(beats) for _, beats in rows)
    # Row by row, so a failure names the row.
    index = 0
    for r, (row_bytes, _) in enumerate(rows):
        n = _ceil(row_bytes, lanes)
        got_row = [int(v) for _, v in got[index : index + n]]
        assert got_row == want[index : index + n], f"row {r} ({row_bytes} bytes)"
        index += n
    # A bus beat is taken with its last wanted chunk, not before and not after.
    out_cycles = [cycle for cycle, _ in got]
    assert in_cycles == [out_cycles[e] for e in beat_ends]


@pytest.mark.parametrize(("beat_bytes", "lanes"), SHAPES)
def test_splitter_throughput(beat_bytes, lanes, seed):
    """One lane beat per cycle when neither side stalls, across row and bus-beat ends."""
    rng = random.Random(seed)
    # Rows ending in the first chunk of a bus beat, and rows of one whole bus beat.
    for row_bytes in (2 * beat_bytes + 1, beat_bytes):
        rows = [
            (
                row_bytes,
                [rng.getrandbits(8 * beat_bytes) for _ in range(_ceil(row_bytes, beat_bytes))],
            )
            for _ in range(12)
        ]
        want, _ = split_model(rows, beat_bytes, lanes)
        _, got = run_splitter(
            rows,
            beat_bytes=beat_bytes,
            lanes=lanes,
            max_row_bytes=2 * beat_bytes + 1,
            seed=seed,
            idle=False,
            sink="always",
        )
        assert [int(v) for _, v in got] == want
        cycles = [cycle for cycle, _ in got]
        assert cycles == list(range(cycles[0], cycles[0] + len(want)))


# --- RowPacker --------------------------------------------------------------------------------


def pack_model(rows, beat_bytes, lanes):
    """Expected bus beats of ``rows`` (lists of lane beat ints): ``(chunks, row_last)`` per
    beat, ``chunks`` the lane beats it carries (the rest of a row's last beat is stale)."""
    per_beat = beat_bytes // lanes
    out = []
    for row in rows:
        for b in range(0, len(row), per_beat):
            out.append((row[b : b + per_beat], b + per_beat >= len(row)))
    return out


def run_packer(rows, *, beat_bytes, lanes, seed, idle, sink):
    """Send ``rows`` of lane beats through a :class:`RowPacker`. Returns (lane beat cycles,
    [(cycle, bus beat)])."""
    rng = random.Random(seed)
    dut = RowPacker(beat_bytes=beat_bytes, lanes=lanes)
    bench = StreamBench(dut)
    layout = dut.i.payload.shape()
    beats = [
        layout.const({"data": value, "last": int(j == len(row) - 1)})
        for row in rows
        for j, value in enumerate(row)
    ]
    total = sum(_ceil(len(row), beat_bytes // lanes) for row in rows)
    result = {}
    gaps = bursts(rng, chance=0.3, length=(1, 3)) if idle else None

    @bench.add_testbench
    async def producer(ctx):
        result["in"] = await stream_put(ctx, bench, dut.i, beats, idle=gaps)

    @bench.add_testbench
    async def consumer(ctx):
        result["out"] = await stream_get(ctx, bench, dut.o, total, ready=_sink(sink, rng))

    bench.run()
    return result["in"], result["out"]


def _lane_rows(rng, count, beat_bytes, lanes, max_row_bytes):
    """Rows of ``ceil(row_bytes / lanes)`` random lane beats, row_bytes 1 .. max."""
    return [
        [rng.getrandbits(8 * lanes) for _ in range(_ceil(rng.randint(1, max_row_bytes), lanes))]
        for _ in range(count)
    ]


@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize(("beat_bytes", "lanes"), SHAPES)
def test_packer_rows(beat_bytes, lanes, sink, seed):
    rng = random.Random(seed)
    per_beat = beat_bytes // lanes
    rows = _lane_rows(rng, ROWS, beat_bytes, lanes, 3 * beat_bytes - 1)
    rows += [[rng.getrandbits(8 * lanes)], [rng.getrandbits(8 * lanes) for _ in range(per_beat)]]
    want = pack_model(rows, beat_bytes, lanes)
    in_cycles, got = run_packer(
        rows, beat_bytes=beat_bytes, lanes=lanes, seed=seed, idle=True, sink=sink
    )
    assert len(in_cycles) == sum(len(row) for row in rows)
    assert len(got) == len(want)
    index = 0
    for r, row in enumerate(rows):
        n = _ceil(len(row), per_beat)
        for b in range(n):
            (_, beat), (chunks, row_last) = got[index + b], want[index + b]
            sent = _chunks(int(beat.data), lanes, len(chunks))
            assert sent == chunks, f"row {r}, bus beat {b}"
            assert int(beat.row_last) == row_last, f"row {r}, bus beat {b}: row_last"
        index += n


@pytest.mark.parametrize(("beat_bytes", "lanes"), SHAPES)
def test_packer_throughput(beat_bytes, lanes, seed):
    """One lane beat taken per cycle while the bus side never stalls."""
    rng = random.Random(seed)
    rows = _lane_rows(rng, 12, beat_bytes, lanes, 3 * beat_bytes)
    in_cycles, got = run_packer(
        rows, beat_bytes=beat_bytes, lanes=lanes, seed=seed, idle=False, sink="always"
    )
    assert in_cycles == list(range(in_cycles[0], in_cycles[0] + len(in_cycles)))
    assert len(got) == len(pack_model(rows, beat_bytes, lanes))


@pytest.mark.parametrize(("beat_bytes", "lanes"), [(16, 4), (8, 2), (8, 8)])
def test_split_then_pack(beat_bytes, lanes, seed):
    """Splitting bus beats of rows and packing the lane beats again gives back every row's
    bytes (the packer's ``last`` from the row length)."""
    rng = random.Random(seed)
    max_row_bytes = 2 * beat_bytes + 3
    row_bytes = rng.randint(1, max_row_bytes)
    rows = [
        (row_bytes, [rng.getrandbits(8 * beat_bytes) for _ in range(_ceil(row_bytes, beat_bytes))])
        for _ in range(20)
    ]
    lane_beats, _ = split_model(rows, beat_bytes, lanes)
    _, split = run_splitter(
        rows,
        beat_bytes=beat_bytes,
        lanes=lanes,
        max_row_bytes=max_row_bytes,
        seed=seed,
        idle=True,
        sink="stalls",
    )
    assert [int(v) for _, v in split] == lane_beats
    n = _ceil(row_bytes, lanes)
    lane_rows = [lane_beats[i : i + n] for i in range(0, len(lane_beats), n)]
    _, packed = run_packer(
        lane_rows, beat_bytes=beat_bytes, lanes=lanes, seed=seed + 1, idle=True, sink="stalls"
    )
    per_row = _ceil(row_bytes, beat_bytes)
    assert len(packed) == per_row * len(rows)
    mask = (1 << (8 * row_bytes)) - 1
    for r, (_, beats) in enumerate(rows):
        sent = sum(
            int(packed[r * per_row + b][1].data) << (8 * beat_bytes * b) for b in range(per_row)
        )
        row = sum(beat << (8 * beat_bytes * b) for b, beat in enumerate(beats))
        assert sent & mask == row & mask, f"row {r}"


# --- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [RowSplitter, RowPacker])
@pytest.mark.parametrize(
    ("beat_bytes", "lanes", "parameter", "match"),
    [
        (16, 3, "lanes", r"lanes must divide beat_bytes \(16\), got 3"),
        (8, 16, "lanes", r"lanes must be between 1 and 8"),
        (8, 0, "lanes", r"lanes must be between 1 and 8"),
        (12, 4, "beat_bytes", r"beat_bytes must be a power of two, got 12"),
        (0, 1, "beat_bytes", r"beat_bytes must be between 1 and"),
    ],
)
def test_bad_parameters(cls, beat_bytes, lanes, parameter, match):
    kwargs = {"max_row_bytes": 16} if cls is RowSplitter else {}
    with pytest.raises(UsageValueError, match=match) as info:
        cls(beat_bytes=beat_bytes, lanes=lanes, **kwargs)
    assert info.value.parameter == parameter


def test_bad_max_row_bytes():
    with pytest.raises(UsageValueError, match="max_row_bytes must be between 1 and") as info:
        RowSplitter(beat_bytes=8, lanes=2, max_row_bytes=0)
    assert info.value.parameter == "max_row_bytes"
