# amaranth: UnusedElaboratable=no
"""OutputConverter in Amaranth's simulator against golden.requant and golden.fp8.

Each simulation runs several jobs (mode and per-tensor parameters steady within a job). A job
is a few C tiles; the test writes each tile's QP records into a PingPongBank (the converter
reads them through the bank's read port and releases the halves), sends one strip record per
strip and the strip's rows, with random valid/ready pauses on every stream, and compares every
output element of the strip's valid columns with ``golden.requant.requantize`` (bias added by
``golden.requant.add_bias``, raw sums by ``golden.int8.wrap``) or ``golden.fp8.f32_to_fp8``.
"""

import random
from math import ceil

import numpy as np
import pytest
from amaranth.hdl import Module
from sim_streams import StreamBench, bursts, stream_get, stream_put

from golden.errors import UsageTypeError, UsageValueError
from golden.fp8 import f32_to_fp8
from golden.frontend import FrontendConfig
from golden.int8 import wrap
from golden.requant import INT32_MAX, INT32_MIN, MULT_MAX, add_bias, requantize
from hdl.config import ArrayConfig
from hdl.mem.scratchpad import PingPongBank, bank_write_layout
from hdl.post import OutputConverter, converted_row_layout, strip_layout

RAW, FP8_OUT, PER_CHANNEL, BIAS_EN = 1, 2, 4, 8


# --- stimulus ----------------------------------------------------------------------------


def _rand_mult_shift(rng):
    kind = rng.random()
    if kind < 0.2:  # power-of-two (or 3·2^k) scales: exact ties on odd products
        k = rng.randrange(0, 30)
        return rng.choice([1 << k, 3 << k]), k + 1
    if kind < 0.3:
        return rng.choice([0, 1, MULT_MAX, 1 << 30]), rng.choice([1, 62, rng.randint(1, 62)])
    return rng.randrange(1 << 30, 1 << 31), rng.randint(1, 62)


def _rand_int32(rng):
    if rng.random() < 0.15:
        return rng.choice([INT32_MIN, INT32_MAX, 0, -1])
    return rng.choice([rng.randint(-300, 300), rng.randint(INT32_MIN, INT32_MAX)])


def _rand_acc(rng, width, mult, shift, offset):
    """An accumulator value: an edge, uniform, or one whose ``acc + offset`` (the bias) lands
    near the int8 range after scaling and the zero point (``offset`` below folds in both)."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    kind = rng.random()
    if kind < 0.15:
        return rng.choice([lo, hi, 0, 1, -1, lo + 1])
    if kind < 0.3 or mult == 0:
        return rng.randint(lo, hi)
    # Near the int8 range after scaling: acc + bias ≈ (t − z_o)·2^n / M.
    target, zp, bias = rng.randint(-150, 150) + rng.random(), *offset
    value = ((int(target * 1024) - zp * 1024) << shift) // (mult * 1024) - bias
    value += rng.randint(-2, 2)
    return min(max(value, lo), hi)


def _fp32_pattern(rng):
    kind = rng.random()
    if kind < 0.2:
        special = [
            0x7F800000,
            0xFF800000,
            0x7FC00000,
            0xFFC00001,
            0x00000000,
            0x80000000,
            0x00000001,
        ]
        values = [448.0, 464.0, 464.00003, 480.0, 2.0**-10, 2.0**-9 * 1.5, 1.0625, 1.1875, 17.0]
        pick = rng.choice(special + [np.float32(v).view(np.uint32) for v in values])
        return int(pick) ^ (rng.randrange(2) << 31 if kind < 0.1 else 0)
    if kind < 0.5:  # around E4M3's range, often an exact tie or ±1 ulp from one
        e32 = rng.randint(110, 137)
        keep = rng.randint(20, 24) if e32 < 121 else 20
        mant = rng.getrandbits(23) >> keep << keep
        mant |= rng.choice([0, 1 << (keep - 1), (1 << (keep - 1)) + 1, (1 << (keep - 1)) - 1])
        return (rng.randrange(2) << 31) | (e32 << 23) | (mant & 0x7FFFFF)
    if kind < 0.7:
        value = np.float32(rng.uniform(-1, 1) * 2.0 ** rng.randint(-14, 12))
        return int(value.view(np.uint32))
    return rng.getrandbits(32)


def _make_job(rng, ac, fc, mode):
    """A job: per-tensor parameters and C tiles of strips with their rows and QP records."""
    cols, fp8 = ac.cols, ac.is_fp8
    q_mult, q_shift = _rand_mult_shift(rng)
    clamp = rng.random()
    if clamp < 0.1:
        qmin = qmax = rng.randint(-128, 127)
    elif clamp < 0.3:
        qmin, qmax = rng.choice([0, -5]), rng.choice([127, 6])  # fused ReLU / ReLU6
    else:
        qmin, qmax = rng.randint(-128, 0), rng.randint(0, 127)
    job = {
        "mode": mode,
        "q_mult": q_mult,
        "q_shift": q_shift,
        "q_zp": rng.choice([rng.randint(-20, 20), rng.randint(-20, 20), _rand_int32(rng)]),
        "qmin": qmin,
        "qmax": qmax,
        "tiles": [],
    }
    for _ in range(rng.randint(1, 3)):
        tn = rng.choice([fc.tile_n, rng.randint(1, fc.tile_n)])
        tm = rng.randint(1, 4)
        records = []
        for _ in range(tn):
            mult, shift = _rand_mult_shift(rng)
            records.append((_rand_int32(rng), mult, shift))
        strips = []
        for s in range(ceil(tn / cols)):
            n_len = min(cols, tn - s * cols)
            rows = []
            for _ in range(tm):
                row = []
                for c in range(cols):
                    if fp8:
                        row.append(_fp32_pattern(rng))
                        continue
                    rec = records[s * cols + c] if c < n_len else records[0]
                    mult, shift = rec[1:] if mode & PER_CHANNEL else (q_mult, q_shift)
                    bias = rec[0] if mode & BIAS_EN else 0
                    offset = (job["q_zp"], bias)
                    row.append(_rand_acc(rng, ac.acc_width, mult, shift, offset))
                rows.append(row)
            strips.append({"col0": s * cols, "n_len": n_len, "rows": rows})
        job["tiles"].append({"records": records, "strips": strips})
    return job


# --- reference -----------------------------------------------------------------------------


def _expected(ac, job, record, acc):
    """Output lane pattern of one element."""
    mode = job["mode"]
    if ac.is_fp8:
        if not mode & FP8_OUT:
            return acc
        code = int(
            f32_to_fp8(np.array([acc], dtype=np.uint32).view(np.float32), "e4m3", saturate=True)[0]
        )
        return 0x7F if code & 0x7F == 0x7F else code  # the hardware's NaN is positive
    bias, mult, shift = record
    if mode & BIAS_EN:
        acc = int(add_bias(np.array([acc], dtype=np.int64), bias, ac.acc_width)[0])
    if mode & RAW:
        value = int(wrap(np.array([acc], dtype=np.int64), 32)[0]) if ac.acc_width > 32 else acc
        return value & 0xFFFFFFFF
    if not mode & PER_CHANNEL:
        mult, shift = job["q_mult"], job["q_shift"]
    q = requantize(acc, mult, shift, job["q_zp"], job["qmin"], job["qmax"])
    return q & 0xFF


# --- harness ---------------------------------------------------------------------------------


def _run(ac, fc, jobs, *, seed, pauses=True):
    """Simulate ``jobs`` in order; returns the input and output cycles of the rows per job."""
    rng = random.Random(seed)
    dut = OutputConverter(ac, fc)
    beat = fc.beat_bytes
    row_bytes = min(16, beat)
    bank = PingPongBank(beat_bytes=beat, row_bytes=row_bytes, rows=fc.tile_n * 16 // row_bytes)
    top = Module()
    top.submodules.dut = dut
    top.submodules.bank = bank
    top.d.comb += [
        bank.rd_en.eq(dut.qp_rd_en),
        bank.rd_half.eq(dut.qp_rd_half),
        bank.rd_row.eq(dut.qp_rd_row),
        dut.qp_rd_data.eq(bank.rd_data),
        bank.release.eq(dut.qp_release),
        bank.release_half.eq(dut.qp_release_half),
        dut.qp_full.eq(bank.full),
    ]
    bench = StreamBench(top)
    wlayout = bank_write_layout(beat_bytes=beat, words=bank.words)
    slayout = strip_layout(ac, fc)
    ilayout = dut.i.payload.shape()
    started = [-1]
    results = []
    in_cycles = []
    chance = 0.3 if pauses else 0.0

    def needs_records(job):
        return not ac.is_fp8 and job["mode"] & (PER_CHANNEL | BIAS_EN)

    async def wait_start(ctx, j):
        while started[0] < j:
            await ctx.tick()

    @bench.add_testbench
    async def writer(ctx):
        for j, job in enumerate(jobs):
            await wait_start(ctx, j)
            if not needs_records(job):
                continue
            for t, tile in enumerate(job["tiles"]):
                image = b"".join(
                    b.to_bytes(4, "little", signed=True)
                    + m.to_bytes(4, "little")
                    + bytes([s])
                    + bytes(rng.randrange(256) for _ in range(7))
                    for b, m, s in tile["records"]
                )
                image += bytes(-len(image) % beat)
                n = len(image) // beat
                beats = [
                    wlayout.const(
                        {
                            "half": t % 2,
                            "addr": a,
                            "data": int.from_bytes(image[a * beat : (a + 1) * beat], "little"),
                            "mask": (1 << beat) - 1,
                            "last": a == n - 1,
                        }
                    )
                    for a in range(n)
                ]
                await stream_put(ctx, bench, bank.w, beats, idle=bursts(rng, chance=chance))

    @bench.add_testbench
    async def strips(ctx):
        for j, job in enumerate(jobs):
            await wait_start(ctx, j)
            records = []
            for t, tile in enumerate(job["tiles"]):
                for s, strip in enumerate(tile["strips"]):
                    records.append(
                        slayout.const(
                            {
                                "qp_half": t % 2,
                                "col0": strip["col0"],
                                "n_len": strip["n_len"],
                                "qp_last": s == len(tile["strips"]) - 1,
                            }
                        )
                    )
            await stream_put(ctx, bench, dut.strips, records, idle=bursts(rng, chance=chance))

    @bench.add_testbench
    async def rows(ctx):
        for j, job in enumerate(jobs):
            await wait_start(ctx, j)
            payloads = [
                ilayout.const({"data": row, "last": r == len(strip["rows"]) - 1})
                for tile in job["tiles"]
                for strip in tile["strips"]
                for r, row in enumerate(strip["rows"])
            ]
            taken = await stream_put(
                ctx, bench, dut.i, payloads, idle=bursts(rng, chance=chance, length=(1, 3))
            )
            in_cycles.append(taken)

    @bench.add_testbench
    async def consumer(ctx):
        for j, job in enumerate(jobs):
            ctx.set(dut.mode.as_value(), job["mode"])
            for name in ("q_mult", "q_shift", "q_zp", "qmin", "qmax"):
                ctx.set(getattr(dut, name), job[name])
            await ctx.tick()
            started[0] = j
            count = sum(len(s["rows"]) for t in job["tiles"] for s in t["strips"])
            pause = bursts(rng, chance=chance, length=(1, 4))
            beats = await stream_get(ctx, bench, dut.o, count, ready=lambda v, p=pause: not p())
            results.append(beats)
            await ctx.tick().repeat(3)
            assert ctx.get(bank.full) == 0, "a QP half was not released"

    bench.run()

    for job, beats in zip(jobs, results, strict=True):
        expect = []
        for tile in job["tiles"]:
            for strip in tile["strips"]:
                for r, row in enumerate(strip["rows"]):
                    lanes = [
                        _expected(ac, job, tile["records"][strip["col0"] + c], row[c])
                        for c in range(strip["n_len"])
                    ]
                    expect.append((lanes, r == len(strip["rows"]) - 1, row))
        for index, ((_, payload), (lanes, last, row)) in enumerate(zip(beats, expect, strict=True)):
            got = [int(payload.data[c]) for c in range(len(lanes))]
            assert got == lanes and int(payload.last) == last, (
                f"job mode {job['mode']:#x} row {index}: acc {row[: len(lanes)]} "
                f"got {got} last {int(payload.last)}, expected {lanes} last {int(last)}"
            )
    return in_cycles, [[cycle for cycle, _ in beats] for beats in results]


INT8_MODES = [
    PER_CHANNEL | BIAS_EN,
    0,
    BIAS_EN,
    PER_CHANNEL,
    RAW,
    RAW | BIAS_EN,
    PER_CHANNEL | BIAS_EN,
    0,
]

INT8_CASES = {
    # name: (ArrayConfig kwargs, FrontendConfig kwargs)
    "c4_w28_d128": ({"cols": 4}, {"data_width": 128, "tile_n": 32}),
    "c4_w64_d64_l3": (
        {"cols": 4, "acc_width": 64},
        {"data_width": 64, "tile_n": 16, "requant_lanes": 3},
    ),
    "c8_w18_d256": ({"cols": 8, "max_k": 4, "acc_width": 18}, {"data_width": 256, "tile_n": 32}),
    "c4_w40_d128_l1": (
        {"cols": 4, "acc_width": 40},
        {"data_width": 128, "tile_n": 16, "requant_lanes": 1},
    ),
}


@pytest.mark.parametrize("name", list(INT8_CASES))
def test_int8_jobs(name):
    ac_kw, fc_kw = INT8_CASES[name]
    ac, fc = ArrayConfig(rows=4, **ac_kw), FrontendConfig(tile_m=8, tile_k=fc_kw["tile_n"], **fc_kw)
    rng = random.Random(name)
    modes = INT8_MODES * (3 if name == "c4_w28_d128" else 2)
    jobs = [_make_job(rng, ac, fc, mode) for mode in modes]
    _run(ac, fc, jobs, seed=hash(name) & 0xFFFF)


def test_fp8_jobs():
    ac, fc = ArrayConfig(rows=4, cols=4, mac="e4m3"), FrontendConfig(tile_m=8, tile_n=16, tile_k=16)
    rng = random.Random(7)
    jobs = [_make_job(rng, ac, fc, mode) for mode in (0, FP8_OUT, FP8_OUT, 0) + (FP8_OUT,) * 6]
    _run(ac, fc, jobs, seed=8)


def test_edge_values():
    """acc min/max with M = 0 and 2^31 − 1, n = 1 and 62, qmin == qmax, extreme zero points."""
    ac, fc = ArrayConfig(rows=4, cols=4, acc_width=64), FrontendConfig(data_width=128, tile_n=16)
    lo, hi = -(1 << 63), (1 << 63) - 1
    accs = [lo, hi, 0, -1, 1, lo + 1, hi - 1, 3]
    jobs = []
    for mult, shift, zp, qmin, qmax in [
        (MULT_MAX, 62, 0, -128, 127),
        (MULT_MAX, 1, INT32_MIN, -128, 127),
        (0, 1, INT32_MAX, 5, 5),
        (1 << 30, 31, 0, -128, 127),  # acc/2: ties on the odd sums
        (MULT_MAX, 62, INT32_MIN, -128, 127),
        (MULT_MAX, 62, INT32_MAX, -3, 100),
    ]:
        rows = [accs[i : i + 4] for i in range(0, len(accs), 4)]
        rows += [[a + k for a in (-(1 << 34), 1 << 34, -(1 << 33), 5 << 32)] for k in (-1, 0, 1)]
        strip = {"col0": 0, "n_len": 4, "rows": rows}
        records = [(0, mult, shift)] * 4
        jobs.append(
            {
                "mode": 0,
                "q_mult": mult,
                "q_shift": shift,
                "q_zp": zp,
                "qmin": qmin,
                "qmax": qmax,
                "tiles": [{"records": records, "strips": [strip]}],
            }
        )
        # The same per channel, with the bias at its limits.
        recs = [
            (INT32_MIN, mult, shift),
            (INT32_MAX, mult, shift),
            (0, mult, shift),
            (-1, mult, shift),
        ]
        jobs.append(
            {
                **jobs[-1],
                "mode": PER_CHANNEL | BIAS_EN,
                "tiles": [{"records": recs, "strips": [strip]}],
            }
        )
    _run(ac, fc, jobs, seed=3)


def test_full_rate_and_latency():
    """With no pauses and records loaded ahead, one row per cycle across strip changes; the
    first row leaves ``latency`` cycles after it enters."""
    ac, fc = (
        ArrayConfig(rows=4, cols=4),
        FrontendConfig(data_width=128, tile_m=8, tile_n=16, tile_k=16),
    )
    rng = random.Random(11)
    job = _make_job(rng, ac, fc, PER_CHANNEL | BIAS_EN)
    for tile in job["tiles"]:  # rows enough to hide the next strip's record reads
        for strip in tile["strips"]:
            strip["rows"] = [[rng.randint(-1000, 1000) for _ in range(4)] for _ in range(8)]
    (taken,), (cycles,) = _run(ac, fc, [job], seed=12, pauses=False)
    dut = OutputConverter(ac, fc)
    assert [c - t for t, c in zip(taken, cycles, strict=True)] == [dut.latency] * len(taken)
    # After the first strip's records (n_len reads), rows flow back to back.
    assert all(b - a == 1 for a, b in zip(cycles, cycles[1:], strict=False)), cycles


def test_lanes_rate():
    """With L = 2 lanes on 4 columns a row takes two cycles; the latency counts from the
    handshake of its last piece."""
    ac = ArrayConfig(rows=4, cols=4)
    fc = FrontendConfig(data_width=128, tile_m=8, tile_n=16, tile_k=16, requant_lanes=2)
    job = _make_job(random.Random(5), ac, fc, 0)
    (taken,), (cycles,) = _run(ac, fc, [job], seed=6, pauses=False)
    dut = OutputConverter(ac, fc)
    assert [c - t for t, c in zip(taken, cycles, strict=True)] == [dut.latency] * len(taken)
    assert all(b - a == 2 for a, b in zip(cycles, cycles[1:], strict=False)), cycles


def test_latency_property():
    ac = ArrayConfig(rows=4, cols=4)
    assert OutputConverter(ac, FrontendConfig()).latency == 6
    assert OutputConverter(ArrayConfig(cols=4, acc_width=64), FrontendConfig()).latency == 7
    assert OutputConverter(ArrayConfig(cols=4, mac="e4m3"), FrontendConfig()).latency == 4
    lanes = OutputConverter(ac, FrontendConfig(requant_lanes=3))
    assert lanes.cycles_per_row == 2 and lanes.lanes == 3


def test_bad_parameters():
    with pytest.raises(UsageValueError, match="requant_lanes"):
        OutputConverter(ArrayConfig(cols=4), FrontendConfig(requant_lanes=5))
    with pytest.raises(UsageTypeError, match="array_config"):
        OutputConverter("int8", FrontendConfig())
    with pytest.raises(UsageTypeError, match="frontend_config"):
        OutputConverter(ArrayConfig(), None)


def test_row_layout():
    layout = converted_row_layout(4)
    assert layout.size == 4 * 32 + 1
