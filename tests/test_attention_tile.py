# amaranth: UnusedElaboratable=no
"""The attention tile in Amaranth's simulator, bit for bit against
``golden.attention.attention_tile``: small tiles of every size from 1 (multiples of the array's
size and not), causal masks at several query offsets, key padding, fully masked rows (output
zero point), rows split into preload key blocks (row max given) and online key blocks (running
max with the α rescale, blocks of any size), PB = 16, random gaps on every input and random
backpressure on O, several tiles back to back through one instance, a reset inside every phase;
with no stalls the cycle count equals ``golden.perf.attention_cycles``."""

import random

import numpy as np
import pytest
from sim_streams import StreamBench, bursts, stream_get, stream_put

from golden.attention import (
    attention_mask,
    attention_multipliers,
    attention_tile,
    div_rhu,
    exp_core,
    log2_logits,
    p_weights,
)
from golden.errors import UsageError
from golden.requant import requantize
from hdl.attention.tile import TILE_MODES, AttentionTile

#: The multiplier registers of a job's parameters.
MULTS = ("scale_mult", "scale_shift", "out_mult", "out_shift")
#: Cycles the consumer waits for one output beat before a test fails.
TIMEOUT = 20000


def make_job(
    rng, lq, lk, d, dv, *, causal=False, offset=None, pad=0, zp=None, spread=1.0, p_bits=8
):
    """Random int8 operands, scales and masks of one tile, and its golden output."""
    q = rng.integers(-128, 128, (lq, d))
    k = rng.integers(-128, 128, (lk, d))
    v = rng.integers(-128, 128, (lk, dv))
    # |S| is about 5500·sqrt(d) for random int8 rows, and the logits are S·s_q·s_k/sqrt(d):
    # scales that put them about one unit apart, so P is neither flat nor one-hot.
    s_qk = spread * rng.uniform(0.3, 2.0) / 5500
    mult = attention_multipliers(s_qk, 1.0, 1.0 / 128, rng.uniform(0.6, 1.5) / 128, d)
    zp = int(rng.integers(-20, 21)) if zp is None else zp
    if causal and offset is None:
        offset = lk - lq
    params = dict(
        lq=lq,
        lk=lk,
        d=d,
        dv=dv,
        **mult,
        out_zp=zp,
        causal=int(causal),
        causal_offset=offset if causal else 0,
        key_pad=pad,
        mode=0,
    )
    key_valid = np.arange(lk) < lk - pad
    want = attention_tile(
        q,
        k,
        v,
        **mult,
        out_zp=zp,
        key_valid=key_valid,
        causal=causal,
        causal_offset=offset if causal else None,
        p_bits=p_bits,
    )
    return {"q": q, "k": k, "v": v, "params": params, "want": want}


def preload_jobs(rng, lq, lk, d, dv, block, *, causal=False, offset=None, pad=0, zp=None, p_bits=8):
    """One row of ``lk`` keys as key blocks of ``block`` keys, mode ``preload``: one job per
    block (the last one carries the golden output, which is ``attention_tile`` with
    ``mode="preload"`` and equal to the single tile's). The row maxima are computed here from
    S and the valid bits, as a first pass over Q·Kᵀ would."""
    whole = make_job(
        rng, lq, lk, d, dv, causal=causal, offset=offset, pad=pad, zp=zp, p_bits=p_bits
    )
    p = whole["params"]
    offset = p["causal_offset"]
    mults = {key: p[key] for key in ("scale_mult", "scale_shift", "out_mult", "out_shift")}
    valid = attention_mask(
        lq,
        lk,
        key_valid=np.arange(lk) < lk - pad,
        causal=causal,
        causal_offset=offset if causal else None,
    )
    s = whole["q"] @ whole["k"].T
    row_max = np.where(valid, s, np.iinfo(np.int64).min).max(axis=1)
    row_max = np.where(valid.any(axis=1), row_max, 0)  # a row with no valid key: any value
    want = attention_tile(
        whole["q"],
        whole["k"],
        whole["v"],
        **mults,
        out_zp=p["out_zp"],
        key_valid=np.arange(lk) < lk - pad,
        causal=causal,
        causal_offset=offset if causal else None,
        mode="preload",
        block=block,
        p_bits=p_bits,
    )
    np.testing.assert_array_equal(want, whole["want"])  # §4.3: preload equals single
    jobs = []
    for b0 in range(0, lk, block):
        width = min(block, lk - b0)
        params = dict(p, lk=width, mode=1, first_block=int(b0 == 0))
        params["last_block"] = int(b0 + width == lk)
        # Block-relative causal offset (clamped: past the block shows all, below −lq none) and
        # the padding that falls in this block.
        params["causal_offset"] = min(max(offset - b0, -lq), width) if causal else 0
        params["key_pad"] = width - min(max(lk - pad - b0, 0), width)
        jobs.append(
            {
                "q": whole["q"],
                "k": whole["k"][b0 : b0 + width],
                "v": whole["v"][b0 : b0 + width],
                "row_max": row_max,
                "params": params,
                "want": want,
            }
        )
    return jobs


def _chunks(matrix, lanes):
    """Rows of ``matrix`` as beats of ``lanes`` values, the last beat of a row zero-padded."""
    n, width = matrix.shape
    beats = []
    for i in range(n):
        for j0 in range(0, width, lanes):
            part = [int(x) for x in matrix[i, j0 : j0 + lanes]]
            beats.append(part + [0] * (lanes - len(part)))
    return beats


def run_tiles(dut, jobs, *, stall=0.0, seed=0):
    """Run ``jobs`` through ``dut`` back to back; return ``(output, cycles)`` per job.

    ``cycles`` runs from the cycle the job's parameter beat is taken to the cycle its last
    output beat is taken, inclusive. With ``stall`` every input gets random gaps and the
    output random backpressure.
    """
    bench = StreamBench(dut)
    rows, cols = dut.config.rows, dut.config.cols
    rng = random.Random(seed)

    def pause():
        return bursts(rng, chance=stall, length=(1, 4)) if stall else None

    def beats(name, lanes):
        port = getattr(dut, name)
        shape = port.payload.shape()
        return [shape.const(b) for job in jobs for b in _chunks(job[name], lanes)]

    inputs = {
        "params": [dut.params.payload.shape().const(_params(job)) for job in jobs],
        "q": beats("q", rows),
        "k": beats("k", rows),
        "v": beats("v", cols),
        "row_max": [int(x) for job in jobs for x in job.get("row_max", ())],
    }
    nvs = [-(-job["params"]["dv"] // cols) for job in jobs]
    outputs = [_last_block(job) for job in jobs]
    total = sum(
        job["params"]["lq"] * nv for job, nv, out in zip(jobs, nvs, outputs, strict=True) if out
    )
    cycles = {}

    for name, payloads in inputs.items():
        if not payloads:
            continue

        async def put(ctx, name=name, payloads=payloads):
            port = getattr(dut, name)
            cycles[name] = await stream_put(
                ctx, bench, port, payloads, idle=pause(), timeout=TIMEOUT
            )

        bench.add_testbench(put)

    @bench.add_testbench
    async def get(ctx):
        ready = None
        if stall:
            gap = bursts(rng, chance=stall, length=(1, 4))

            def ready(valid):
                return not gap()

        cycles["o"] = await stream_get(ctx, bench, dut.o, total, ready=ready, timeout=TIMEOUT)

    bench.run()
    results = []
    out = iter(cycles["o"])
    starts = cycles["params"]
    for n, (job, nv, start) in enumerate(zip(jobs, nvs, starts, strict=True)):
        p = job["params"]
        if not outputs[n]:  # a key block before the last: no output; ends at the next start
            results.append((None, starts[n + 1] - start if n + 1 < len(jobs) else None))
            continue
        o = np.zeros((p["lq"], p["dv"]), np.int64)
        for i in range(p["lq"]):
            for b in range(nv):
                end, beat = next(out)
                assert beat.last == (b == nv - 1), f"row {i} beat {b}: last={beat.last}"
                for c in range(cols):
                    if b * cols + c < p["dv"]:
                        o[i, b * cols + c] = beat.data[c]
        results.append((o, end - start + 1))
    return results


def _params(job):
    p = dict(job["params"])
    p.setdefault("first_block", 0)
    p.setdefault("last_block", 0)
    return p


def _last_block(job):
    p = job["params"]
    return p["mode"] == 0 or bool(p.get("last_block"))


def check(results, jobs):
    for n, ((o, _), job) in enumerate(zip(results, jobs, strict=True)):
        p = job["params"]
        if o is None:
            continue
        bad = np.argwhere(o != job["want"])
        assert not bad.size, (
            f"job {n} ({p['lq']}x{p['lk']}x{p['d']}x{p['dv']} causal={p['causal']} "
            f"pad={p['key_pad']}): {len(bad)} mismatches, first at {tuple(bad[0])}: "
            f"got {o[tuple(bad[0])]}, want {job['want'][tuple(bad[0])]}"
        )


def random_jobs(rng, count, limit=20):
    """Random shapes from 1 to ``limit`` with every mask kind: none, causal (default and
    random query offsets), key padding, both."""
    jobs = []
    for n in range(count):
        lq, lk, d, dv = (int(x) for x in rng.integers(1, limit + 1, 4))
        causal = n % 3 == 1
        offset = int(rng.integers(-lq, lk + 1)) if causal and n % 2 else None
        pad = int(rng.integers(0, lk)) if n % 4 >= 2 else 0
        jobs.append(make_job(rng, lq, lk, d, dv, causal=causal, offset=offset, pad=pad))
    return jobs


@pytest.fixture(scope="module")
def tile4():
    return lambda: AttentionTile(rows=4, cols=4, max_lq=20, max_lk=24, max_d=20, max_dv=20)


def test_tiles_bit_exact_with_stalls(tile4):
    """Random small tiles back to back, gaps on every input, backpressure on O."""
    rng = np.random.default_rng(1)
    jobs = random_jobs(rng, 12)
    jobs += [make_job(rng, 1, 1, 1, 1), make_job(rng, 20, 24, 20, 20, causal=True)]
    check(run_tiles(tile4(), jobs, stall=0.3, seed=2), jobs)


def test_fully_masked_rows_give_the_zero_point(tile4):
    """Causal offsets that mask whole rows and a padding of every key: L = 0, O = z_o."""
    rng = np.random.default_rng(3)
    jobs = [
        make_job(rng, 6, 9, 5, 7, causal=True, offset=-3, zp=17),  # rows 0–2 see no key
        make_job(rng, 4, 7, 3, 5, pad=7, zp=-9),  # every key is padding
        make_job(rng, 5, 8, 4, 6, causal=True, offset=-1, pad=6, zp=3),
    ]
    results = run_tiles(tile4(), jobs, stall=0.2, seed=4)
    check(results, jobs)
    assert (results[0][0][:3] == 17).all() and (results[0][0][3:] != 17).any()
    assert (results[1][0] == -9).all()


@pytest.mark.parametrize("units", [1, 2, 3])
def test_cycles_match_the_model(units):
    """With no stalls each tile takes exactly ``golden.perf.attention_cycles``: loads longer
    than the tile and shorter, one-row folds, rows longer than a reciprocal, long V loads,
    divisions waiting for the reciprocal units."""
    rng = np.random.default_rng(5 + units)
    dut = AttentionTile(
        rows=4, cols=4, max_lq=20, max_lk=200, max_d=40, max_dv=160, reciprocal_units=units
    )
    shapes = [(3, 5, 6, 7), (1, 1, 1, 1), (9, 20, 17, 5), (2, 3, 40, 150), (20, 4, 1, 8)]
    if units == 2:
        shapes.append((5, 200, 3, 2))
    jobs = [make_job(rng, *s) for s in shapes]
    results = run_tiles(dut, jobs)
    check(results, jobs)
    for shape, (_, cycles) in zip(shapes, results, strict=True):
        assert cycles == dut.cycles(*shape), shape


def test_preload_key_blocks_bit_exact_with_stalls():
    """Rows longer than the tile as key blocks with the row max given (mode ``preload``):
    O_acc and L carry over between blocks, causal and padding masks per block (blocks and
    rows with no valid key among them), single tiles in between; gaps and backpressure."""
    rng = np.random.default_rng(7)
    dut = AttentionTile(rows=4, cols=4, max_lq=12, max_lk=8, max_d=12, max_dv=12, max_lk_total=40)
    jobs = preload_jobs(rng, 5, 20, 6, 7, 8)
    jobs += [make_job(rng, 3, 8, 5, 6, causal=True)]
    jobs += preload_jobs(rng, 6, 23, 9, 5, 8, causal=True, pad=3)
    jobs += preload_jobs(rng, 7, 19, 4, 12, 5, causal=True, offset=-2, pad=9, zp=11)
    masked = len(jobs) - 1  # causal offset −2: rows 0 and 1 see no key
    jobs += preload_jobs(rng, 1, 40, 12, 1, 8)
    results = run_tiles(dut, jobs, stall=0.25, seed=8)
    check(results, jobs)
    assert jobs[masked]["params"]["last_block"]
    assert (results[masked][0][:2] == 11).all() and (results[masked][0][2:] != 11).any()


def check_with_cycles(dut, jobs, results):
    """:func:`check` the outputs, and every tile's cycles (run without stalls) against the
    model: a key block before the last ends after P·V, the last one divides."""
    check(results, jobs)
    for job, (_, cycles) in zip(jobs, results, strict=True):
        p = job["params"]
        mode = TILE_MODES[p["mode"]]
        last = mode == "single" or bool(p["last_block"])
        want = dut.cycles(p["lq"], p["lk"], p["d"], p["dv"], mode=mode, last_block=last)
        assert cycles == want, p


def test_preload_cycles_match_the_model():
    """No stalls: a key block before the last ends after P·V, the last one divides."""
    rng = np.random.default_rng(8)
    dut = AttentionTile(rows=4, cols=4, max_lq=12, max_lk=8, max_d=12, max_dv=12, max_lk_total=40)
    jobs = preload_jobs(rng, 5, 20, 6, 7, 8) + preload_jobs(rng, 12, 11, 1, 3, 4, causal=True)
    jobs.append(make_job(rng, 2, 3, 4, 5))  # the last preload block needs a successor
    check_with_cycles(dut, jobs, run_tiles(dut, jobs))


@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_p16_bit_exact(stall):
    """PB = 16 (§4.4): P·V as two uint8 passes, single tiles and preload key blocks; with no
    stalls the cycles equal the model's (P·V twice as long)."""
    rng = np.random.default_rng(12)
    dut = AttentionTile(
        rows=4, cols=4, max_lq=12, max_lk=16, max_d=12, max_dv=12, max_lk_total=40, p_bits=16
    )
    jobs = [make_job(rng, 5, 13, 6, 7, p_bits=16, spread=3.0), make_job(rng, 1, 1, 1, 1, p_bits=16)]
    jobs += preload_jobs(rng, 6, 37, 9, 5, 16, causal=True, pad=3, p_bits=16)
    jobs += [make_job(rng, 12, 16, 12, 12, causal=True, offset=-1, p_bits=16, spread=3.0)]
    results = run_tiles(dut, jobs, stall=stall, seed=13)
    check(results, jobs)
    # The golden outputs at PB = 8 differ somewhere: the test tells the two apart.
    p8, p16 = (
        [
            attention_tile(
                job["q"],
                job["k"],
                job["v"],
                **{k: job["params"][k] for k in MULTS},
                out_zp=job["params"]["out_zp"],
                p_bits=p_bits,
            )
            for job in (jobs[0], jobs[-1])
        ]
        for p_bits in (8, 16)
    )
    assert any((a != b).any() for a, b in zip(p8, p16, strict=True))
    if not stall:
        for job, (_, cycles) in zip(jobs, results, strict=True):
            p = job["params"]
            mode = TILE_MODES[p["mode"]]
            last = mode == "single" or bool(p["last_block"])
            want = dut.cycles(p["lq"], p["lk"], p["d"], p["dv"], mode=mode, last_block=last)
            assert cycles == want, p


@pytest.mark.parametrize("size", [1, 3])
def test_other_array_sizes(size):
    """A 1×1 array (one-row folds everywhere) and a 3×3 one (sizes not a power of two)."""
    rng = np.random.default_rng(size)
    dut = AttentionTile(rows=size, cols=size, max_lq=8, max_lk=10, max_d=7, max_dv=7)
    jobs = random_jobs(rng, 4, limit=7) + [make_job(rng, 8, 10, 7, 7, causal=True, pad=2)]
    results = run_tiles(dut, jobs, stall=0.2 if size == 3 else 0.0, seed=size)
    check(results, jobs)
    if size == 1:
        for job, (_, cycles) in zip(jobs, results, strict=True):
            p = job["params"]
            assert cycles == dut.cycles(p["lq"], p["lk"], p["d"], p["dv"])


def test_generator_parameters_are_checked():
    with pytest.raises(UsageError, match="cols must equal rows"):
        AttentionTile(rows=4, cols=8)
    for name in ("max_lq", "max_d", "max_dv"):
        with pytest.raises(UsageError, match=f"{name} must be between 1 and 4096"):
            AttentionTile(rows=4, cols=4, **{name: 0})
    with pytest.raises(UsageError, match="reciprocal_units must be between 1 and 8"):
        AttentionTile(rows=4, cols=4, reciprocal_units=0)
    with pytest.raises(UsageError, match="max_lk_total must be between 16 and 1048576"):
        AttentionTile(rows=4, cols=4, max_lk=16, max_lk_total=8)
    with pytest.raises(UsageError, match="max_lk must be between 1 and 65536"):
        AttentionTile(rows=4, cols=4, max_lk=1 << 17)
    dut = AttentionTile(rows=4, cols=4, max_lq=8, max_lk=16, max_d=8, max_dv=8)
    with pytest.raises(UsageError, match="lk must be between 1 and 16"):
        dut.check_shape(8, 17, 8, 8)
    with pytest.raises(UsageError, match="d must be between 1 and 8"):
        dut.cycles(8, 16, 0, 8)


# --- online mode: key blocks with the running max and the α rescale (§4.3) -------------------


def online_reference(q, k, v, mults, zp, valid, widths, *, p_bits=8):
    """The online tile over key blocks of the given ``widths``, from golden's primitives: per
    row the running max m (log2 domain), on a larger block max the state rescaled by
    ``α = exp_core(m' − m)`` as ``(x·α + 2^14) >> 15``, P against the running max, L and O_acc
    summed, one division at the end. Returns ``(o, grow, excess)``: the output, the largest
    growth ``m' − m`` of any row between blocks (in 2^−6 octaves) and the largest
    ``|O_acc| − 128·L`` at the end (above 0: y beyond 24 bits)."""
    s = q @ k.T
    u = log2_logits(s, mults["scale_mult"], mults["scale_shift"])
    lq = q.shape[0]
    l = np.zeros(lq, np.int64)
    o_acc = np.zeros((lq, v.shape[1]), np.int64)
    m = [None] * lq
    grow = 0
    j0 = 0
    for width in widths:
        for i in range(lq):
            keys = [j for j in range(j0, j0 + width) if valid[i, j]]
            if not keys:
                continue  # a block with no valid key for the row: nothing changes
            bm = max(int(u[i, j]) for j in keys)
            if m[i] is not None and bm > m[i]:
                grow = max(grow, bm - m[i])
                alpha = int(exp_core(bm - m[i]))
                o_acc[i] = (o_acc[i] * alpha + (1 << 14)) >> 15
                l[i] = (int(l[i]) * alpha + (1 << 14)) >> 15
            m[i] = bm if m[i] is None else max(m[i], bm)
            p = np.zeros(v.shape[0], np.int64)
            for j in keys:
                p[j] = int(p_weights(exp_core(m[i] - int(u[i, j])), p_bits=p_bits))
            l[i] += p.sum()
            o_acc[i] += p @ v
        j0 += width
    y = np.zeros_like(o_acc)
    for i in range(lq):
        if l[i]:
            y[i] = div_rhu(o_acc[i] << 16, l[i])
    excess = int((np.abs(o_acc) - 128 * l[:, None]).max())
    return requantize(y, mults["out_mult"], mults["out_shift"], zp, -128, 127), grow, excess


def online_jobs(
    rng,
    lq,
    lk,
    d,
    dv,
    widths,
    *,
    causal=False,
    offset=None,
    pad=0,
    zp=None,
    p_bits=8,
    spread=1.0,
    q=None,
    k=None,
    v=None,
    out_ratio=None,
):
    """One row of ``lk`` keys as online key blocks of ``widths`` keys (an int: equal blocks,
    the last one shorter), one job per block, the last carrying the expected output. With
    equal blocks the reference is checked against ``attention_tile(mode="online")``.
    ``out_ratio``: the output scale ``s_o = s_v / out_ratio`` (a fine output grid)."""
    whole = make_job(
        rng, lq, lk, d, dv, causal=causal, offset=offset, pad=pad, zp=zp, spread=spread
    )
    if out_ratio is not None:
        fine = attention_multipliers(1.0, 1.0, 1.0, 1.0 / out_ratio, d)
        whole["params"].update(out_mult=fine["out_mult"], out_shift=fine["out_shift"])
    for name, given in (("q", q), ("k", k), ("v", v)):
        if given is not None:
            whole[name] = np.asarray(given, np.int64)
    q, k, v, p = whole["q"], whole["k"], whole["v"], whole["params"]
    block = widths if isinstance(widths, int) else None
    if block is not None:
        widths = [min(block, lk - b0) for b0 in range(0, lk, block)]
    assert sum(widths) == lk
    offset = p["causal_offset"]
    mults = {key: p[key] for key in MULTS}
    key_valid = np.arange(lk) < lk - pad
    masks = dict(key_valid=key_valid, causal=causal, causal_offset=offset if causal else None)
    valid = attention_mask(lq, lk, **masks)
    want, grow, excess = online_reference(q, k, v, mults, p["out_zp"], valid, widths, p_bits=p_bits)
    if block is not None:
        golden = attention_tile(
            q, k, v, **mults, out_zp=p["out_zp"], **masks, mode="online", block=block, p_bits=p_bits
        )
        np.testing.assert_array_equal(want, golden)
    jobs = []
    b0 = 0
    for n, width in enumerate(widths):
        params = dict(p, lk=width, mode=2, first_block=int(n == 0))
        params["last_block"] = int(n == len(widths) - 1)
        params["causal_offset"] = min(max(offset - b0, -lq), width) if causal else 0
        params["key_pad"] = width - min(max(lk - pad - b0, 0), width)
        jobs.append(
            {
                "q": q,
                "k": k[b0 : b0 + width],
                "v": v[b0 : b0 + width],
                "params": params,
                "want": want,
                "grow": grow,
                "excess": excess,
            }
        )
        b0 += width
    return jobs


def _random_widths(rng, lk, most):
    widths = []
    while sum(widths) < lk:
        widths.append(int(min(rng.integers(1, most + 1), lk - sum(widths))))
    return widths


@pytest.fixture(scope="module")
def online_tile():
    return lambda **kw: AttentionTile(
        rows=4, cols=4, max_lq=12, max_lk=8, max_d=12, max_dv=12, max_lk_total=48, **kw
    )


def test_online_key_blocks_bit_exact_with_stalls(online_tile):
    """Online key blocks of random sizes (1 key included), causal and padding masks, single
    and preload tiles in between; gaps on every input, backpressure on O."""
    rng = np.random.default_rng(21)
    jobs = online_jobs(rng, 5, 20, 6, 7, 8)
    jobs += online_jobs(rng, 4, 13, 5, 6, [1, 8, 1, 3], spread=3.0)
    jobs += [make_job(rng, 3, 8, 5, 6, causal=True)]
    jobs += online_jobs(rng, 6, 23, 9, 5, _random_widths(rng, 23, 8), causal=True, pad=3)
    jobs += preload_jobs(rng, 3, 11, 4, 5, 8)
    for n in range(4):
        lq, d, dv = (int(x) for x in rng.integers(1, 13, 3))
        lk = int(rng.integers(1, 30))
        causal = n % 2 == 1
        off = int(rng.integers(-lq, lk + 1)) if causal else None
        pad = int(rng.integers(0, lk)) if n >= 2 else 0
        widths = _random_widths(rng, lk, 8)
        jobs += online_jobs(rng, lq, lk, d, dv, widths, causal=causal, offset=off, pad=pad)
    results = run_tiles(online_tile(), jobs, stall=0.25, seed=22)
    check(results, jobs)


def test_online_masked_blocks_and_rows(online_tile):
    """Blocks with no valid key (padding, the causal future) before, between and after valid
    ones, and rows with no valid key at all (output z_o)."""
    rng = np.random.default_rng(23)
    # Causal offset −2 over 4 rows: rows 0, 1 see no key; later blocks are in every row's
    # future (all masked), the padding fills the last blocks.
    first = online_jobs(rng, 4, 19, 5, 6, [3, 8, 8], causal=True, offset=-2, pad=9, zp=13)
    # Padding of every key: L = 0 for every row.
    empty = online_jobs(rng, 3, 12, 4, 5, [4, 8], pad=12, zp=-7)
    # The first block wholly padding-free but the middle one wholly masked by the causal rule
    # for the early rows: rows start with a valid key only in a later block.
    late = online_jobs(rng, 6, 20, 5, 5, [8, 1, 8, 3], causal=True, offset=9)
    jobs = first + empty + late
    results = run_tiles(online_tile(), jobs, stall=0.2, seed=24)
    check(results, jobs)
    o_first = results[len(first) - 1][0]
    assert (o_first[:2] == 13).all() and (o_first[2:] != 13).any()
    assert (results[len(first) + len(empty) - 1][0] == -7).all()


def test_online_large_growth_and_constant_v():
    """The max grows by 16 and by 32 octaves or more between blocks (α = 0: the earlier
    blocks vanish) and by less; V = −128 everywhere under rescales, where the final
    |O_acc| exceeds 128·L (y beyond 24 bits); PB = 8 and 16."""
    rng = np.random.default_rng(25)
    for p_bits in (8, 16):
        dut = AttentionTile(
            rows=4, cols=4, max_lq=8, max_lk=8, max_d=8, max_dv=8, max_lk_total=32, p_bits=p_bits
        )
        lq, d, dv, lk = 5, 6, 5, 24
        q = rng.integers(60, 128, (lq, d))
        # Scores rise block by block: the keys of block b are about 25·b·|q|.
        k = np.concatenate([rng.integers(-5, 6, (8, d)) + 25 * b for b in range(3)])
        jobs = []
        for spread in (60.0, 200.0):
            jobs += online_jobs(rng, lq, lk, d, dv, 8, q=q, k=k, spread=spread, p_bits=p_bits)
        assert jobs[2]["grow"] >= 16 * 64 and jobs[-1]["grow"] >= 32 * 64  # 2^−6 octaves
        steep = rng.integers(-128, 128, (lk, d)) // 3 + np.arange(lk)[:, None] * 3
        jobs += online_jobs(
            rng,
            lq,
            lk,
            d,
            dv,
            [5, 3, 1, 7, 8],
            q=q,
            k=steep,
            v=np.full((lk, dv), -128),
            zp=127,
            out_ratio=1,
            p_bits=p_bits,
        )
        assert 0 < jobs[-1]["grow"] < 16 * 64 and jobs[-1]["excess"] > 0
        results = run_tiles(dut, jobs, stall=0.2, seed=26)
        check(results, jobs)


def test_online_rescale_rounding():
    """Many small rescales, seen on a fine output grid: V in {0, 1}, 256 output steps per V
    step, so O_acc and L off by one (a rescale rounded down instead of half up) show."""
    rng = np.random.default_rng(29)
    dut = AttentionTile(rows=4, cols=4, max_lq=12, max_lk=4, max_d=8, max_dv=8, max_lk_total=48)
    lq, lk, d, dv = 12, 40, 8, 8
    q = rng.integers(-128, 128, (lq, d))
    # Scores drift up through the row, so the max grows a little in most blocks.
    k = rng.integers(-90, 91, (lk, d)) + (np.arange(lk)[:, None] * np.sign(q.sum(axis=0)) * 1)
    v = rng.integers(0, 2, (lk, dv))
    jobs = online_jobs(
        rng, lq, lk, d, dv, 4, q=q, k=k.clip(-128, 127), v=v, zp=-128, out_ratio=256, spread=2.0
    )
    results = run_tiles(dut, jobs, seed=30)
    check(results, jobs)


@pytest.mark.parametrize("p_bits", [8, 16])
def test_online_cycles_match_the_model(p_bits):
    """No stalls: an online block takes the single tile's time (two softmax passes), a block
    before the last ends after P·V; the rescale costs nothing."""
    rng = np.random.default_rng(27 + p_bits)
    dut = AttentionTile(
        rows=4, cols=4, max_lq=12, max_lk=8, max_d=12, max_dv=12, max_lk_total=40, p_bits=p_bits
    )
    jobs = online_jobs(rng, 5, 20, 6, 7, 8, p_bits=p_bits)
    jobs += online_jobs(rng, 12, 11, 1, 3, [4, 1, 6], causal=True, p_bits=p_bits)
    jobs.append(make_job(rng, 2, 3, 4, 5, p_bits=p_bits))
    check_with_cycles(dut, jobs, run_tiles(dut, jobs))


# --- reset in the middle of a tile --------------------------------------------------------------


async def _drive(ctx, bench, dut, jobs, rng, *, stall, reset_in=None):
    """Feed ``jobs`` into ``dut`` cycle by cycle (random gaps and backpressure with ``stall``)
    and collect the outputs of the jobs that send O. With ``reset_in`` (a phase index), once
    the last job's parameter beat is taken, assert ``rst`` at a random cycle spent in that
    phase and return ``None`` (the job's remaining beats are dropped); ``False`` if the job
    ended without the phase being hit."""
    rows, cols = dut.config.rows, dut.config.cols
    queues = {
        "params": [dut.params.payload.shape().const(_params(job)) for job in jobs],
        "q": [dut.q.payload.shape().const(b) for job in jobs for b in _chunks(job["q"], rows)],
        "k": [dut.k.payload.shape().const(b) for job in jobs for b in _chunks(job["k"], rows)],
        "v": [dut.v.payload.shape().const(b) for job in jobs for b in _chunks(job["v"], cols)],
        "row_max": [int(x) for job in jobs for x in job.get("row_max", ())],
    }
    ports = {name: getattr(dut, name) for name in queues}
    nvs = [-(-job["params"]["dv"] // cols) for job in jobs]
    total = sum(
        job["params"]["lq"] * nv for job, nv in zip(jobs, nvs, strict=True) if _last_block(job)
    )
    beats = []
    offered = dict.fromkeys(queues, False)
    started = 0
    for _ in range(TIMEOUT * 4):
        for name, port in ports.items():
            if not offered[name] and queues[name] and not (stall and rng.random() < stall):
                offered[name] = True
            ctx.set(port.valid, offered[name])
            if offered[name]:
                ctx.set(port.payload, queues[name][0])
        ctx.set(dut.o.ready, not (stall and rng.random() < stall))
        samples = await ctx.tick().sample(
            *(port.ready for port in ports.values()), dut.o.valid, dut.o.ready, dut.o.payload,
            dut.phase,
        )  # fmt: skip
        readies, (o_valid, o_ready, o_payload, phase) = samples[2:-4], samples[-4:]
        for name, ready in zip(ports, readies, strict=True):
            if offered[name] and ready:
                queues[name].pop(0)
                offered[name] = False
                started += name == "params"
        if o_valid and o_ready:
            beats.append(o_payload)
        victim = reset_in is not None and started == len(jobs)
        if victim and phase == reset_in and rng.random() < 0.3:
            ctx.set(bench.domain.rst, 1)
            for port in ports.values():
                ctx.set(port.valid, 0)
            ctx.set(dut.o.ready, 0)
            for _ in range(int(rng.integers(1, 3))):
                await ctx.tick()  # a single tick: repeat() raises on a reset
            ctx.set(bench.domain.rst, 0)
            assert not ctx.get(dut.busy) and ctx.get(dut.params.ready)
            assert not ctx.get(dut.o.valid) and ctx.get(dut.phase) == 0
            return None
        done = len(beats) == total and not any(queues.values()) and phase == 0
        if done and not ctx.get(dut.busy):
            if reset_in is not None:
                return False
            break
    else:
        raise AssertionError(f"{len(beats)} of {total} output beats")
    outs, it = [], iter(beats)
    for job, nv in zip(jobs, nvs, strict=True):
        if not _last_block(job):
            continue
        p = job["params"]
        o = np.zeros((p["lq"], p["dv"]), np.int64)
        for i in range(p["lq"]):
            for b in range(nv):
                beat = next(it)
                assert beat.last == (b == nv - 1)
                for c in range(min(cols, p["dv"] - b * cols)):
                    o[i, b * cols + c] = beat.data[c]
        outs.append((o, job))
    return outs


@pytest.mark.parametrize("phase", [1, 2, 3, 4, 5], ids=["load", "qk", "softmax", "pv", "norm"])
def test_reset_in_every_phase(phase):
    """``rst`` at a random cycle of the given phase of a tile (single tiles, online blocks in
    the middle and at the end of a row, preload blocks), with gaps and backpressure; then
    fresh tiles through the same instance (an online row, a single tile) are bit-exact."""
    rng = np.random.default_rng(40 + phase)
    dut = AttentionTile(rows=4, cols=4, max_lq=8, max_lk=8, max_d=8, max_dv=8, max_lk_total=24)
    bench = StreamBench(dut)

    def victims():
        # Two of: a single tile, the last online block of a row, the middle block of an
        # online row (cut short: no norm phase), a preload block.
        row = online_jobs(rng, 5, 20, 6, 7, 8, spread=2.0)
        if phase == 5:
            return [row, preload_jobs(rng, 4, 12, 5, 5, 8)]
        if phase % 2:
            return [row[:2], [make_job(rng, 6, 7, 5, 6, causal=True)]]
        return [row[:2], preload_jobs(rng, 4, 12, 5, 5, 8)]

    @bench.add_testbench
    async def bench_run(ctx):
        random_ = np.random.default_rng(50 + phase)
        for victim in victims():
            for _ in range(20):  # until the phase is hit (each try a fresh instance of it)
                hit = await _drive(ctx, bench, dut, victim, random_, stall=0.2, reset_in=phase)
                if hit is None:
                    break
            else:
                raise AssertionError(f"phase {phase} never hit")
            fresh = online_jobs(rng, 6, 19, 7, 5, [8, 3, 8], causal=True, spread=2.0)
            fresh += [make_job(rng, 7, 8, 8, 8, pad=2)]
            for o, job in await _drive(ctx, bench, dut, fresh, random_, stall=0.2):
                np.testing.assert_array_equal(o, job["want"])

    bench.run()
