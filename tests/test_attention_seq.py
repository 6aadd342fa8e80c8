# amaranth: UnusedElaboratable=no
"""AttentionSequencer in Amaranth's simulator against a Python walk of the ATTENTION
descriptor (docs/attention.md §6).

The reference cuts Lq into query blocks of ``block_lq`` rows and Lk into key blocks of
``block_lk`` keys; per (query block, key block) it expects a parameter beat (sizes, scale and
output fields, the causal offset moved to the tile's corner and clamped to ``[−lq, lk]``, the
part of the key padding inside the key block, ``single`` iff Lk ≤ ``block_lk``, first and
last key block) and the Q, K and V read records; after a query block's last key block, its O
record. The three streams drain with independent random stalls; each must carry exactly the
reference's sequence, hold an offered record until it is taken, and stay silent afterwards.
``clear`` mid-walk must stop the walk at once (``active`` low, queued records gone), and a
``go`` after it (or in place of it) must start a clean walk.
"""

import dataclasses
import random

import pytest
from sim_streams import StreamBench, bursts

from golden.descriptor import (
    OPCODE_ATTENTION,
    AttentionConfig,
    Descriptor,
    DescriptorLimits,
    ErrorCode,
    check_descriptor,
)
from golden.frontend import FrontendConfig
from hdl.ctrl.attention_seq import AttentionSequencer
from hdl.ctrl.regs import desc_layout


@dataclasses.dataclass(frozen=True)
class Unit:
    """A sequencer's generator parameters."""

    att: AttentionConfig
    frontend: FrontendConfig
    max_dim: int

    @property
    def limits(self):
        return DescriptorLimits(max_dim=self.max_dim, frontend=self.frontend, attention=self.att)


ATT = AttentionConfig(block_lq=8, block_lk=16, max_lk=64, max_d=32, max_dv=16)
#: Largest Lq: not a power of two, and Lq = MAX_DIM ends on a full query block.
MAX_DIM = 120
UNIT = Unit(ATT, FrontendConfig(data_width=64), MAX_DIM)
#: Blocks that are not powers of two (or a single row and key), other bus and address widths.
OTHER_UNITS = [
    Unit(
        AttentionConfig(block_lq=5, block_lk=12, max_lk=50, max_d=20, max_dv=7),
        FrontendConfig(data_width=128, addr_width=64),
        61,
    ),
    Unit(
        AttentionConfig(block_lq=1, block_lk=1, max_lk=6, max_d=8, max_dv=8),
        FrontendConfig(data_width=256),
        9,
    ),
    Unit(
        AttentionConfig(block_lq=16, block_lk=32, max_d=32, max_dv=16),
        FrontendConfig(data_width=64),
        40,
    ),
]
INT32 = (-(1 << 31), (1 << 31) - 1)
#: Read tags (the read DMA's bank codes): Q as A, K as B, V as QP.
TAG_Q, TAG_K, TAG_V = 0, 1, 2
MODE_SINGLE, MODE_ONLINE = 0, 2
#: Cycles, all ``ready`` high, in which nothing may be offered once a walk is over.
QUIET = 24
STREAMS = ("params", "rd", "o")


# --- the reference walk -----------------------------------------------------------------------


def _clamp(value, lo, hi):
    return max(lo, min(hi, value))


def walk(desc, unit=UNIT):
    """``{"params": [dict], "rd": [tuple], "o": [tuple]}`` an ATTENTION descriptor gives.

    Read records are ``(addr, rows, row_bytes, stride, tag)``, O records ``(addr, rows)``.
    """
    lq, d, lk, dv = desc.m, desc.k, desc.n, desc.dv
    lk_valid = lk - desc.key_pad  # keys j ≥ lk_valid are padding
    att = unit.att
    wrap = (1 << unit.frontend.addr_width) - 1
    out = {"params": [], "rd": [], "o": []}
    for q0 in range(0, lq, att.block_lq):
        lq_b = min(att.block_lq, lq - q0)
        for k0 in range(0, lk, att.block_lk):
            lk_b = min(att.block_lk, lk - k0)
            out["params"].append(
                {
                    "lq": lq_b,
                    "lk": lk_b,
                    "d": d,
                    "dv": dv,
                    "scale_mult": desc.scale_mult,
                    "scale_shift": desc.scale_shift,
                    "out_mult": desc.q_mult,
                    "out_shift": desc.q_shift,
                    "out_zp": desc.q_zp,
                    "causal": desc.causal,
                    # Row 0 of the tile is query q0, key 0 of the tile is key k0.
                    "causal_offset": _clamp(q0 + desc.causal_offset - k0, -lq_b, lk_b),
                    "key_pad": _clamp(k0 + lk_b - lk_valid, 0, lk_b),
                    "mode": MODE_SINGLE if lk <= att.block_lk else MODE_ONLINE,
                    "first_block": int(k0 == 0),
                    "last_block": int(k0 + lk_b == lk),
                }
            )
            out["rd"] += [
                ((desc.a_addr + q0 * desc.a_stride) & wrap, lq_b, d, desc.a_stride, TAG_Q),
                ((desc.b_addr + k0 * desc.b_stride) & wrap, lk_b, d, desc.b_stride, TAG_K),
                ((desc.qp_addr + k0 * desc.v_stride) & wrap, lk_b, dv, desc.v_stride, TAG_V),
            ]
        out["o"].append(((desc.c_addr + q0 * desc.c_stride) & wrap, lq_b))
    return out


def make_desc(rng, *, lq, lk, d=None, dv=None, causal=None, offset=None, key_pad=None, unit=UNIT):
    """A legal ATTENTION descriptor: the given sizes (random where ``None``), beat-aligned
    tensors anywhere in the address space, strides of one or more beats past a row."""
    beat = unit.frontend.beat_bytes
    d = rng.randint(1, unit.att.max_d) if d is None else d
    dv = rng.randint(1, unit.att.max_dv) if dv is None else dv
    fields = {}
    for base, stride, rows, row in (
        ("a_addr", "a_stride", lq, d),
        ("b_addr", "b_stride", lk, d),
        ("qp_addr", "v_stride", lk, dv),
        ("c_addr", "c_stride", lq, dv),
    ):
        step = beat * (-(-row // beat) + rng.choice([0, 0, 1, 3]))
        extent = (rows - 1) * step + row
        # Near the top of the address space now and then: running sums must not lose bits.
        # (Below MEM_LIMIT too, whose largest value is 2^64 − 1.)
        top = min(1 << unit.frontend.addr_width, (1 << 64) - 1) - extent
        fields[base] = beat * (rng.choice([rng.randrange(1 << 16), top // beat]))
        fields[stride] = step
    desc = Descriptor(
        opcode=OPCODE_ATTENTION,
        m=lq,
        k=d,
        n=lk,
        dv=dv,
        scale_mult=rng.randrange(1 << 31),
        scale_shift=rng.randint(1, 62),
        q_mult=rng.randrange(1 << 31),
        q_shift=rng.randint(1, 62),
        q_zp=rng.randint(-128, 127),
        causal=rng.randint(0, 1) if causal is None else causal,
        causal_offset=rng.randint(-80, 80) if offset is None else offset,
        key_pad=rng.randint(0, lk) if key_pad is None else key_pad,
        **fields,
    )
    assert check_descriptor(desc, unit.limits) == ErrorCode.NONE, desc
    return desc


def test_reference_walk():
    """The reference against hand-worked tiles: Lq = 10, Lk = 40 (3 key blocks), the last
    20 keys padding, causal offset 5."""
    desc = Descriptor(
        opcode=OPCODE_ATTENTION, m=10, k=4, n=40, dv=2, causal=1, causal_offset=5, key_pad=20
    )
    ref = walk(desc)
    tiles = [(p["lq"], p["lk"], p["causal_offset"], p["key_pad"]) for p in ref["params"]]
    # Query blocks q0 = 0, 8; key blocks k0 = 0, 16, 32; valid keys 0 .. 19.
    assert tiles == [
        (8, 16, 5, 0),
        (8, 16, -8, 12),
        (8, 8, -8, 8),
        (2, 16, 13, 0),
        (2, 16, -2, 12),
        (2, 8, -2, 8),
    ]
    assert [p["mode"] for p in ref["params"]] == [MODE_ONLINE] * 6
    assert [(p["first_block"], p["last_block"]) for p in ref["params"]] == [
        (1, 0),
        (0, 0),
        (0, 1),
    ] * 2
    assert len(ref["rd"]) == 18 and ref["o"] == [(0, 8), (0, 2)]


# --- the harness ------------------------------------------------------------------------------


class Harness:
    """Drives ``go``, ``clear`` and the three streams' ``ready`` cycle by cycle; records every
    transfer and the cycle each record was first offered; checks that a record offered and
    not taken is offered again unchanged in the next cycle (unless ``go`` or ``clear``
    intervened)."""

    def __init__(self, dut, bench, rng, *, stall, sink="stalls", length=(1, 5)):
        self.dut = dut
        self.bench = bench
        self.layout = dut.params.payload.shape()
        self.streams = {name: getattr(dut, name) for name in STREAMS}
        self.ready = {name: self._policy(rng, stall, sink, length) for name in STREAMS}
        self.held = dict.fromkeys(STREAMS)
        self.new_job()

    @staticmethod
    def _policy(rng, stall, sink, length):
        pause = bursts(rng, chance=stall, length=length)
        if sink == "while_valid":
            return lambda valid: valid and not pause()
        return lambda valid: not pause()

    def new_job(self):
        self.got = {name: [] for name in STREAMS}
        self.offered = {name: [] for name in STREAMS}  # first-offer cycle per record

    def _value(self, name, payload):
        if name == "params":
            return {f: int(getattr(payload, f)) for f, _ in self.layout}
        if name == "rd":
            return (
                int(payload.addr),
                int(payload.rows),
                int(payload.row_bytes),
                int(payload.stride),
                int(payload.tag),
            )
        return (int(payload.addr), int(payload.rows))

    async def cycle(self, ctx, *, go=0, clear=0, ready=None):
        """One clock cycle; ``ready`` overrides the random policies (``{name: bool}``)."""
        dut = self.dut
        for name, stream in self.streams.items():
            if ready is not None and name in ready:
                take = ready[name]
            else:
                take = self.ready[name](bool(ctx.get(stream.valid)))
            ctx.set(stream.ready, take)
        ctx.set(dut.go, go)
        ctx.set(dut.clear, clear)
        signals = [self.bench.cycle, dut.active]
        for stream in self.streams.values():
            signals += [stream.valid, stream.ready, stream.payload]
        _, _, cycle, active, *values = await ctx.tick().sample(*signals)
        for k, name in enumerate(STREAMS):
            valid, taken, payload = values[3 * k : 3 * k + 3]
            value = self._value(name, payload) if valid else None
            if self.held[name] is not None:
                assert value == self.held[name], (
                    f"cycle {cycle}: {name} record offered and not taken was withdrawn or changed"
                )
            self.held[name] = value if valid and not taken and not (go or clear) else None
            if valid and len(self.offered[name]) == len(self.got[name]):
                self.offered[name].append(cycle)
            if valid and taken:
                self.got[name].append(value)
        ctx.set(dut.go, 0)
        ctx.set(dut.clear, 0)
        return {"cycle": cycle, "active": active}

    def set_desc(self, ctx, desc):
        ctx.set(self.dut.desc, desc_layout().const(dataclasses.asdict(desc)))

    async def start(self, ctx, desc):
        """Latch ``desc`` and pulse ``go``; records taken from then on belong to the new job."""
        self.set_desc(ctx, desc)
        await self.cycle(ctx, go=1)
        self.new_job()

    async def finish(self, ctx, want, *, limit=20_000):
        """Drain until ``want`` (a reference walk) is in, then check the streams stay quiet."""
        for _ in range(limit):
            if all(len(self.got[n]) >= len(want[n]) for n in STREAMS):
                break
            await self.cycle(ctx)
        else:
            counts = {n: (len(self.got[n]), len(want[n])) for n in STREAMS}
            raise AssertionError(f"walk incomplete after {limit} cycles (got, want): {counts}")
        await self.quiet(ctx)

    async def quiet(self, ctx):
        """QUIET cycles with every ``ready`` high: nothing offered, ``active`` low."""
        before = {n: len(self.got[n]) for n in STREAMS}
        for _ in range(QUIET):
            state = await self.cycle(ctx, ready=dict.fromkeys(STREAMS, True))
            assert not state["active"], f"cycle {state['cycle']}: active after the walk"
        extra = {n: self.got[n][before[n] :] for n in STREAMS if len(self.got[n]) > before[n]}
        assert not extra, f"records after the walk: {extra}"


def simulate(body, *, seed, stall=0.3, sink="stalls", length=(1, 5), unit=UNIT):
    """Run ``async body(ctx, harness)`` against a fresh sequencer."""
    rng = random.Random(seed)
    dut = AttentionSequencer(unit.frontend, unit.att, max_dim=unit.max_dim)
    bench = StreamBench(dut)
    harness = Harness(dut, bench, rng, stall=stall, sink=sink, length=length)

    @bench.add_testbench
    async def testbench(ctx):
        await body(ctx, harness)

    bench.run()
    return harness


def check_walk(harness, want, desc, o_blocks):
    """The records ``harness`` took are the reference walk ``want`` of ``desc``; ``o_blocks``
    counted its O records."""
    for name in STREAMS:
        got = harness.got[name]
        assert len(got) == len(want[name]), f"{name}: {len(got)} records, want {len(want[name])}"
        for i, (g, w) in enumerate(zip(got, want[name], strict=True)):
            assert g == w, f"{name} record {i} of {desc}"
    # Each query block's O record comes after its last key block's V read record.
    blocks = len(want["params"]) // len(want["o"])
    for qb, cycle in enumerate(harness.offered["o"]):
        v_read = 3 * (qb * blocks + blocks - 1) + 2
        assert cycle > harness.offered["rd"][v_read], f"O record {qb} before its V read"
    assert o_blocks == len(want["o"])


def run_walks(descs, *, seed, stall=0.3, sink="stalls", length=(1, 5), unit=UNIT):
    """Each descriptor walked to its end in turn (one sequencer), checked against ``walk``."""

    async def body(ctx, h):
        for desc in descs:
            want = walk(desc, unit)
            await h.start(ctx, desc)
            await h.finish(ctx, want)
            check_walk(h, want, desc, ctx.get(h.dut.o_blocks))

    simulate(body, seed=seed, stall=stall, sink=sink, length=length, unit=unit)


# --- walks ------------------------------------------------------------------------------------

#: (Lq, Lk): multiples of the blocks or not, Lk ≤ block_lk (single) and past it (online).
SHAPES = [
    (1, 1),
    (8, 16),
    (8, 17),
    (9, 16),
    (20, 50),
    (17, 64),
    (MAX_DIM, 64),
    (MAX_DIM - 3, 33),
    (3, 15),
    (33, 48),
]


@pytest.mark.parametrize("sink", ["stalls", "while_valid"])
def test_shapes(sink, seed):
    rng = random.Random(seed)
    descs = [make_desc(rng, lq=lq, lk=lk) for lq, lk in SHAPES]
    run_walks(descs, seed=seed, sink=sink)


def test_no_stalls(seed):
    rng = random.Random(seed)
    run_walks([make_desc(rng, lq=lq, lk=lk) for lq, lk in SHAPES[:6]], seed=seed, stall=0.0)


#: Causal offsets far outside every tile (both signs), near the tile edges, and the int32
#: extremes, where ``q0 + offset − k0`` needs more than 32 bits.
OFFSETS = [0, 1, -1, 7, -8, -9, 16, 17, 63, -63, 200, -200, 100_000, -100_000, *INT32]
OFFSETS += [INT32[0] + 1, INT32[1] - 1]


def test_causal_offsets(seed):
    rng = random.Random(seed)
    descs = [
        make_desc(rng, lq=rng.choice([13, 24, 40]), lk=rng.choice([16, 40, 64]), offset=o)
        for o in OFFSETS
    ]
    run_walks(descs, seed=seed, stall=0.2)


#: (Lk, key_pad): none, inside the last block, exactly the last block, spanning blocks, all
#: keys; and for one key block.
KEY_PADS = [
    (50, 0),
    (50, 1),
    (50, 2),
    (48, 16),
    (50, 3),
    (50, 20),
    (64, 40),
    (64, 63),
    (50, 50),
    (64, 64),
    (16, 0),
    (16, 5),
    (16, 16),
    (7, 7),
    (1, 1),
]


def test_key_pad(seed):
    rng = random.Random(seed)
    descs = [make_desc(rng, lq=rng.randint(1, 20), lk=lk, key_pad=pad) for lk, pad in KEY_PADS]
    run_walks(descs, seed=seed, stall=0.2)


def test_random(seed):
    rng = random.Random(seed)
    descs = [
        make_desc(
            rng,
            lq=rng.choice([rng.randint(1, 24), rng.randint(1, MAX_DIM)]),
            lk=rng.choice([rng.randint(1, ATT.block_lk), rng.randint(1, ATT.max_lk)]),
            offset=rng.choice([None, rng.randint(*INT32)]),
        )
        for _ in range(16)
    ]
    run_walks(descs, seed=seed, stall=rng.choice([0.1, 0.5]))


def test_long_stalls(seed):
    """Streams stalled for tens of cycles at a time: the two-entry queues fill (an O record
    every tile when Lk ≤ block_lk) and the walk must wait, not drop or repeat records."""
    rng = random.Random(seed)
    descs = [make_desc(rng, lq=lq, lk=lk) for lq, lk in [(MAX_DIM, 5), (64, 16), (40, 40)]]
    run_walks(descs, seed=seed, stall=0.08, length=(10, 60))


@pytest.mark.parametrize("max_dim", [ATT.block_lq, 127])
def test_max_dim(max_dim, seed):
    """Lq up to ``max_dim`` when it is one query block, or 2^n − 1 (q0 counters on the edge)."""
    rng = random.Random(seed)
    unit = dataclasses.replace(UNIT, max_dim=max_dim)
    descs = [
        make_desc(rng, lq=lq, lk=rng.randint(1, 64), unit=unit) for lq in (max_dim, 1, max_dim - 1)
    ]
    run_walks(descs, seed=seed, unit=unit)


@pytest.mark.parametrize(
    "unit", OTHER_UNITS, ids=lambda u: f"bq{u.att.block_lq}-bk{u.att.block_lk}"
)
def test_other_units(unit, seed):
    rng = random.Random(seed)
    att = unit.att
    descs = [
        make_desc(
            rng,
            lq=rng.randint(1, unit.max_dim),
            lk=rng.choice([rng.randint(1, att.block_lk), rng.randint(1, att.max_lk)]),
            offset=rng.choice([rng.randint(-70, 70), rng.randint(*INT32)]),
            unit=unit,
        )
        for _ in range(10)
    ]
    descs.append(
        make_desc(
            rng,
            lq=unit.max_dim,
            lk=att.max_lk,
            key_pad=att.block_lk + 1 if att.max_lk > att.block_lk else 0,
            unit=unit,
        )
    )
    run_walks(descs, seed=seed, unit=unit)


# --- clear and go mid-walk --------------------------------------------------------------------


def _is_prefix(got, want):
    return got == want[: len(got)]


@pytest.mark.parametrize("stop", ["clear", "go"])
def test_stop_mid_walk(stop, seed):
    """``clear`` (or a ``go`` with a new descriptor) at random points of a long walk: the
    records taken so far are a prefix of the walk; from the cycle after ``clear`` ``active``
    is low and nothing is offered; the next ``go`` gives a clean walk of the new descriptor."""
    rng = random.Random(seed)
    long = make_desc(rng, lq=MAX_DIM, lk=64)
    want_long = walk(long)
    points = [0, 1, 2, 3, 5, 8, 13] + [rng.randint(4, 400) for _ in range(8)]

    async def body(ctx, h):
        for after in points:
            await h.start(ctx, long)
            for _ in range(after):
                await h.cycle(ctx)
            desc = make_desc(rng, lq=rng.randint(1, 30), lk=rng.randint(1, 64))
            if stop == "go":
                h.set_desc(ctx, desc)
            await h.cycle(ctx, clear=int(stop == "clear"), go=int(stop == "go"))
            for name in STREAMS:
                assert _is_prefix(h.got[name], want_long[name]), f"{name} before the stop"
            h.new_job()
            if stop == "clear":
                # From the next cycle on: active low, nothing offered.
                await h.quiet(ctx)
                await h.start(ctx, desc)
            want = walk(desc)
            await h.finish(ctx, want)
            check_walk(h, want, desc, ctx.get(h.dut.o_blocks))

    simulate(body, seed=seed)


def test_clear_empties_queues(seed):
    """A finished walk whose O record and parameter beats wait in their queues: ``clear``
    empties them."""
    rng = random.Random(seed)
    desc = make_desc(rng, lq=8, lk=16)
    # Reads drain; parameter beats and O records stay queued.
    ready = {"params": False, "rd": True, "o": False}

    async def body(ctx, h):
        await h.start(ctx, desc)
        for _ in range(40):
            state = await h.cycle(ctx, ready=ready)
        assert not state["active"]
        assert ctx.get(h.dut.params.valid) and ctx.get(h.dut.o.valid)
        await h.cycle(ctx, clear=1, ready=ready)
        assert not ctx.get(h.dut.params.valid) and not ctx.get(h.dut.o.valid)
        assert not ctx.get(h.dut.rd.valid)
        h.new_job()
        await h.quiet(ctx)

    simulate(body, seed=seed)
