# amaranth: UnusedElaboratable=no
"""PingPongBank in Amaranth's simulator against the address map of ``golden.scratchpad``.

Tiles are packed into beats by the golden map, written with random gaps and complementary
partial masks (each beat twice, garbage in the masked-off bytes), and read back row by row in
random order; every byte must sit where :func:`golden.scratchpad.a_location` /
:func:`~golden.scratchpad.b_location` put it. The ping-pong test reads one half while the other
is written, checks that a write into a full half is held off until ``release``, and that reset
clears the owner bits.
"""

import random

import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from golden.errors import UsageValueError
from golden.scratchpad import a_location, b_location, beat_rows, row_pitch, rows_per_beat
from hdl.mem import PingPongBank


def _bench(dut, testbench):
    top = Module()
    cd = ClockDomain("sync")
    top.domains.sync = cd
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8, domain="sync")
    rst = cd.rst

    async def run(ctx):
        await testbench(ctx, rst)

    sim.add_testbench(run)
    sim.run()


def _image(dut, place, shape, rng):
    """Tile of random bytes and the half's row image it maps to through ``place``."""
    tile = {(i, j): rng.randrange(256) for i in range(shape[0]) for j in range(shape[1])}
    image = [[None] * dut.row_bytes for _ in range(dut.rows)]
    for (i, j), byte in tile.items():
        row, lane = place(i, j)
        assert image[row][lane] is None
        image[row][lane] = byte
    return tile, image


def _beats(dut, image, rng):
    """(addr, data, mask) writes of ``image``: per beat a garbage-padded write under a random
    mask, then the complementary write; bytes the tile does not use stay 0."""
    n = rows_per_beat(dut.beat_bytes, dut.row_bytes)
    full = (1 << dut.beat_bytes) - 1
    out = []
    for addr in range(dut.words):
        true = [
            image[addr * n + j // dut.row_bytes][j % dut.row_bytes] or 0
            for j in range(dut.beat_bytes)
        ]
        mask = rng.randrange(full + 1)
        for pass_mask in (mask, full & ~mask):
            data = 0
            for j in range(dut.beat_bytes):
                byte = true[j] if pass_mask >> j & 1 else rng.randrange(256)
                data |= byte << (8 * j)
            out.append((addr, data, pass_mask))
    # The golden map of the writes reproduces the image: checks the test's own packing.
    model = {}
    for addr, data, mask in out:
        for row, lane, byte in beat_rows(
            addr, data, mask, beat_bytes=dut.beat_bytes, row_bytes=dut.row_bytes
        ):
            model[row, lane] = byte
    assert all(model[r, ln] == (image[r][ln] or 0) for r, ln in model)
    return out


async def _write(ctx, dut, half, beats, rng, gap=0.3):
    for i, (addr, data, mask) in enumerate(beats):
        while rng.random() < gap:
            ctx.set(dut.w.valid, 0)
            await ctx.tick()
        ctx.set(dut.w.valid, 1)
        ctx.set(
            dut.w.payload,
            {"half": half, "addr": addr, "data": data, "mask": mask, "last": i == len(beats) - 1},
        )
        await ctx.tick().until(dut.w.ready)
    ctx.set(dut.w.valid, 0)


async def _read(ctx, dut, half, row):
    ctx.set(dut.rd_en, 1)
    ctx.set(dut.rd_half, half)
    ctx.set(dut.rd_row, row)
    await ctx.tick()
    # The request lines move on at once; the data must come from the registered request.
    ctx.set(dut.rd_en, 0)
    ctx.set(dut.rd_half, 1 - half)
    ctx.set(dut.rd_row, (row + 1) % dut.rows)
    for _ in range(dut.latency - 1):
        await ctx.tick()
    value = ctx.get(dut.rd_data)
    return [(value >> (8 * i)) & 0xFF for i in range(dut.row_bytes)]


GEOMETRIES = [
    pytest.param(16, 16, id="w16-r16"),
    pytest.param(16, 8, id="w16-r8"),
    pytest.param(32, 8, id="w32-r8"),
    pytest.param(8, 8, id="w8-r8"),
]


@pytest.mark.parametrize("beat_bytes, row_bytes", GEOMETRIES)
@pytest.mark.parametrize("operand", ["a", "b"])
def test_tile_roundtrip(beat_bytes, row_bytes, operand):
    rng = random.Random(f"{beat_bytes}-{row_bytes}-{operand}")
    tile_m, tile_n, tile_k = 6, 3 * row_bytes - 2, 2 * row_bytes
    if operand == "a":
        rows = row_pitch(tile_k, row_bytes, beat_bytes) * tile_m
        shape = (tile_m, tile_k)

        def place(i, j):
            return a_location(i, j, tk=tile_k, rows=row_bytes, beat_bytes=beat_bytes)
    else:
        rows = tile_k * row_pitch(tile_n, row_bytes, beat_bytes)
        shape = (tile_k, tile_n)

        def place(i, j):
            return b_location(i, j, tn=tile_n, cols=row_bytes, beat_bytes=beat_bytes)

    n = beat_bytes // row_bytes
    dut = PingPongBank(beat_bytes=beat_bytes, row_bytes=row_bytes, rows=-(-rows // n) * n)
    tiles = [_image(dut, place, shape, rng) for _ in range(2)]

    async def testbench(ctx, rst):
        for half in (1, 0):
            await _write(ctx, dut, half, _beats(dut, tiles[half][1], rng), rng)
            await ctx.tick()
        assert ctx.get(dut.full) == 0b11
        for half in (0, 1):
            tile, image = tiles[half]
            got = {}
            for row in rng.sample(range(dut.rows), dut.rows):
                got[row] = await _read(ctx, dut, half, row)
            for (i, j), byte in tile.items():
                row, lane = place(i, j)
                assert got[row][lane] == byte, (half, i, j)

    _bench(dut, testbench)


def test_ping_pong_ownership():
    rng = random.Random(7)
    dut = PingPongBank(beat_bytes=16, row_bytes=8, rows=16)
    images = [[[rng.randrange(256) for _ in range(8)] for _ in range(16)] for _ in range(3)]

    async def reader(ctx, half, image):
        for row in rng.sample(range(16), 16):
            assert await _read(ctx, dut, half, row) == image[row], (half, row)

    async def testbench(ctx, rst):
        assert ctx.get(dut.full) == 0 and ctx.get(dut.free) == 0b11
        await _write(ctx, dut, 0, _beats(dut, images[0], rng), rng)
        await ctx.tick()
        assert ctx.get(dut.full) == 0b01 and ctx.get(dut.free) == 0b10

        # Write half 1 while half 0 is read: both sides run in the same cycles.
        beats = _beats(dut, images[1], rng)
        for i, (addr, data, mask) in enumerate(beats):
            ctx.set(dut.w.valid, 1)
            ctx.set(
                dut.w.payload,
                {"half": 1, "addr": addr, "data": data, "mask": mask, "last": i == len(beats) - 1},
            )
            row = i % 16
            ctx.set(dut.rd_en, 1)
            ctx.set(dut.rd_half, 0)
            ctx.set(dut.rd_row, row)
            assert ctx.get(dut.w.ready)
            await ctx.tick()
            got = ctx.get(dut.rd_data)
            assert [(got >> (8 * b)) & 0xFF for b in range(8)] == images[0][row]
        ctx.set(dut.w.valid, 0)
        ctx.set(dut.rd_en, 0)
        await ctx.tick()
        assert ctx.get(dut.full) == 0b11

        # A write into a full half is held off and changes nothing.
        ctx.set(dut.w.valid, 1)
        ctx.set(dut.w.payload, {"half": 0, "addr": 0, "data": 0, "mask": 0xFFFF, "last": 1})
        for _ in range(5):
            assert not ctx.get(dut.w.ready)
            await ctx.tick()
        ctx.set(dut.w.valid, 0)
        await reader(ctx, 0, images[0])
        await reader(ctx, 1, images[1])

        # Release half 0 (its last fold read); the refill may then go in and sets it again.
        ctx.set(dut.release, 1)
        ctx.set(dut.release_half, 0)
        await ctx.tick()
        ctx.set(dut.release, 0)
        assert ctx.get(dut.full) == 0b10
        await _write(ctx, dut, 0, _beats(dut, images[2], rng), rng)
        await ctx.tick()
        assert ctx.get(dut.full) == 0b11
        await reader(ctx, 0, images[2])
        await reader(ctx, 1, images[1])

        ctx.set(rst, 1)
        await ctx.tick()
        ctx.set(rst, 0)
        assert ctx.get(dut.full) == 0 and ctx.get(dut.free) == 0b11

    _bench(dut, testbench)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"beat_bytes": 16, "row_bytes": 12, "rows": 12}, "row_bytes must divide"),
        ({"beat_bytes": 8, "row_bytes": 16, "rows": 16}, "row_bytes"),
        ({"beat_bytes": 24, "row_bytes": 8, "rows": 12}, "beat_bytes must be one of"),
        ({"beat_bytes": 16, "row_bytes": 8, "rows": 7}, "rows must be a multiple of"),
        ({"beat_bytes": 16, "row_bytes": 16, "rows": 0}, "rows"),
    ],
)
def test_refused_geometries(kwargs, match):
    with pytest.raises(UsageValueError, match=match):
        PingPongBank(**kwargs)


def test_golden_map():
    # Hand-worked entries of the map: A row m·p + k // R, lane k % R; B row k·p + n // C,
    # lane n % C (p: bank rows per tile row); beat bytes split into rows of R.
    # A tile 40 bytes wide on a 16-byte bus: 3 beats = 3 rows of 16 per tile row.
    assert a_location(3, 37, tk=40, rows=16, beat_bytes=16) == (3 * 3 + 2, 5)
    # B tile 60 bytes wide, 8-byte rows on a 16-byte bus: 4 beats = 8 rows per tile row.
    assert b_location(5, 40, tn=60, cols=8, beat_bytes=16) == (5 * 8 + 5, 0)
    assert beat_rows(3, 0xAB << 72, 1 << 9, beat_bytes=16, row_bytes=8) == [(7, 1, 0xAB)]
    # Within a tile the map is one-to-one and fills whole rows from row 0.
    spots = {a_location(m, k, tk=24, rows=8, beat_bytes=8) for m in range(5) for k in range(24)}
    assert spots == {(r, ln) for r in range(15) for ln in range(8)}
    spots = {b_location(k, n, tn=16, cols=8, beat_bytes=16) for k in range(3) for n in range(16)}
    assert spots == {(r, ln) for r in range(6) for ln in range(8)}
