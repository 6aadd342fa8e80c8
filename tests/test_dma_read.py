# amaranth: UnusedElaboratable=no
"""AxiReadDma in Amaranth's simulator, against an AXI4 read slave model and ``golden.dma``.

The slave model (:class:`ReadSlave`) answers ARs after a fixed latency with beats whose data
is a hash of their address, stalls ARREADY and RVALID at random, injects SLVERR/DECERR at
chosen (burst, beat) positions, and checks the master side of the protocol as it goes: ARVALID
held and the AR payload stable until ARREADY, the constant AR fields, ARLEN below max_burst,
no 4 KiB crossing, and never more than ``outstanding_reads`` bursts in flight (counted from
AR handshake to the last R handshake). A run stops once nothing has moved for a while; the
expected ARs, beats and completions are then derived from the golden planner, the error
positions and the cycles at which commands were taken, and compared whole.
"""

import hashlib
import random
from collections import deque
from dataclasses import dataclass, field

import pytest
from sim_streams import StreamBench, bursts, stream_put

from golden.dma import ReadCommand, beat_addresses, plan_bursts, row_beats
from golden.errors import UsageTypeError, UsageValueError
from golden.frontend import AXI_BOUNDARY_BYTES, FrontendConfig
from hdl.bus.axi import Burst, Resp, verilog_ports
from hdl.dma.read import AxiReadDma

TAG_WIDTH, BANK_WIDTH, DEST_WIDTH = 4, 2, 16
#: Cycles without any activity after which a run is over.
QUIET = 40
#: Bound on a run's cycles.
MAX_CYCLES = 60_000

CONFIGS = [
    pytest.param(FrontendConfig(data_width=64, max_burst=4, outstanding_reads=3), id="d64-b4-o3"),
    pytest.param(
        FrontendConfig(data_width=128, max_burst=16, outstanding_reads=4), id="d128-b16-o4"
    ),
    pytest.param(
        FrontendConfig(data_width=256, addr_width=64, max_burst=256, outstanding_reads=16),
        id="d256-a64-b256-o16",
    ),
]


def word(addr, config):
    """The slave's data at beat address ``addr``: a hash, so a beat from the wrong address
    cannot pass."""
    digest = hashlib.blake2b(addr.to_bytes(8, "little"), digest_size=config.beat_bytes).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class Job:
    """A command as the test sends it."""

    cmd: ReadCommand
    tag: int = 0
    bank: int = 0
    base: int = 0


@dataclass
class Ar:
    """An AR as the slave saw it."""

    present: int  # first cycle ARVALID was high for it
    accept: int  # handshake cycle
    addr: int
    len: int


@dataclass
class _Burst:
    index: int
    addr: int
    len: int
    ready: int  # first cycle its first beat may be presented
    beat: int = 0


class ReadSlave:
    """AXI4 read slave model with protocol checks (see the module docstring).

    Parameters
    ----------
    axi : the DMA's ``axi`` interface
    bench : StreamBench
    config : FrontendConfig
    latency : int
        Cycles from an AR handshake to the first cycle its first beat may be valid, ≥ 1.
    rng : random.Random
    ar_stall, r_stall : float
        Chance per cycle that ARREADY is low, and that a beat not yet presented is held back.
    errors : dict
        ``{address: Resp}``: RRESP of the beat at that bus address (OKAY elsewhere).
    """

    def __init__(self, axi, bench, config, *, latency, rng, ar_stall=0.0, r_stall=0.0, errors=None):
        assert latency >= 1
        self.axi, self.bench, self.config = axi, bench, config
        self.latency, self.rng = latency, rng
        self.ar_stall, self.r_stall = ar_stall, r_stall
        self.errors = dict(errors or {})
        self.ars = []  # Ar, in handshake order
        self.r_beats = []  # (cycle, burst, beat, resp), in handshake order
        self.outstanding = 0
        self.max_outstanding = 0
        self.ar_stalled = 0  # cycles ARVALID high, ARREADY low
        self.r_stalled = 0  # cycles RVALID high, RREADY low
        self._pending = deque()

    @property
    def busy(self):
        return bool(self._pending) or self.outstanding > 0

    async def run(self, ctx):
        axi, cfg = self.axi, self.config
        w = cfg.beat_bytes
        now = 0
        waiting = None  # (present cycle, payload) of an AR offered and not yet taken
        current = None  # the burst whose beats are being sent
        presenting = False
        resp = Resp.OKAY
        while True:
            arready = self.rng.random() >= self.ar_stall
            ctx.set(axi.arready, arready)
            if not presenting:
                if current is None and self._pending and self._pending[0].ready <= now:
                    current = self._pending.popleft()
                if current is not None and self.rng.random() >= self.r_stall:
                    presenting = True
                    addr = current.addr + current.beat * w
                    resp = self.errors.get(addr, Resp.OKAY)
                    ctx.set(axi.rdata, word(addr, cfg))
                    ctx.set(axi.rresp, resp)
                    ctx.set(axi.rlast, current.beat == current.len)
                    ctx.set(axi.rid, 0)
                ctx.set(axi.rvalid, presenting)
            sampled = await ctx.tick().sample(
                self.bench.cycle,
                axi.arvalid,
                axi.araddr,
                axi.arlen,
                axi.arsize,
                axi.arburst,
                axi.arcache,
                axi.arprot,
                axi.arid,
                axi.arlock,
                axi.rready,
            )
            _, _, cycle, arvalid, araddr, arlen, arsize, arburst, arcache, arprot, arid, arlock = (
                sampled[:12]
            )
            rready = sampled[12]
            now = cycle + 1

            # R first: a burst that completes in the cycle another is accepted leaves room.
            if presenting and rready:
                self.r_beats.append((cycle, current.index, current.beat, resp))
                presenting = False
                if current.beat == current.len:
                    current = None
                    self.outstanding -= 1
                else:
                    current.beat += 1
            elif presenting:
                self.r_stalled += 1

            payload = (araddr, arlen, arsize, arburst, arcache, arprot, arid, arlock)
            if waiting is not None:
                assert arvalid, f"cycle {cycle}: ARVALID dropped before ARREADY"
                assert payload == waiting[1], f"cycle {cycle}: AR payload changed while stalled"
            if not arvalid:
                continue
            if waiting is None:
                waiting = (cycle, payload)
            assert (arsize, arburst, arcache, arprot, arid, arlock) == (
                w.bit_length() - 1,
                Burst.INCR.value,
                0b0011,  # ARCACHE: normal non-cacheable bufferable (docs/accelerator.md §2.2)
                0b010,  # ARPROT: unprivileged, non-secure, data
                0,
                0,
            ), f"cycle {cycle}: AR fields {payload}"
            if not arready:
                self.ar_stalled += 1
                continue
            assert arlen < cfg.max_burst, f"cycle {cycle}: ARLEN {arlen} >= {cfg.max_burst}"
            last = araddr + (arlen + 1) * w - 1
            assert araddr // AXI_BOUNDARY_BYTES == last // AXI_BOUNDARY_BYTES, (
                f"cycle {cycle}: burst {araddr:#x}..{last:#x} crosses 4 KiB"
            )
            index = len(self.ars)
            self.ars.append(Ar(waiting[0], cycle, araddr, arlen))
            self._pending.append(_Burst(index, araddr, arlen, cycle + self.latency))
            waiting = None
            self.outstanding += 1
            self.max_outstanding = max(self.max_outstanding, self.outstanding)
            assert self.outstanding <= cfg.outstanding_reads, (
                f"cycle {cycle}: {self.outstanding} bursts in flight, limit {cfg.outstanding_reads}"
            )


@dataclass
class Run:
    """What a simulation saw."""

    accepted: list = field(default_factory=list)  # cycle each command was taken
    beats: list = field(default_factory=list)  # (cycle, tag, bank, addr, data, last)
    dones: list = field(default_factory=list)  # (cycle, tag, resp, err_addr)
    error_valid: list = field(default_factory=list)  # first cycle of each error completion
    slave: ReadSlave = None
    dut: AxiReadDma = None


def simulate(
    config,
    phases,
    *,
    seed,
    latency=2,
    ar_stall=0.0,
    r_stall=0.0,
    beat_stall=0.0,
    done_stall=0.0,
    cmd_idle=0.0,
    errors=None,
    phase_starts=None,
):
    """Run ``phases`` (lists of :class:`Job`) through an :class:`AxiReadDma`; a phase starts
    once every command sent so far has completed or an error completion has arrived, or, with
    ``phase_starts``, at that cycle (or later, once the previous phase is sent)."""
    rng = random.Random(seed)
    dut = AxiReadDma(config, tag_width=TAG_WIDTH, bank_width=BANK_WIDTH, dest_width=DEST_WIDTH)
    bench = StreamBench(dut)
    slave = ReadSlave(
        dut.axi,
        bench,
        config,
        latency=latency,
        rng=random.Random(rng.getrandbits(32)),
        ar_stall=ar_stall,
        r_stall=r_stall,
        errors=errors,
    )
    run = Run(slave=slave, dut=dut)
    state = {"producing": True}
    cmd_layout = dut.cmd.payload.shape()

    def pauses(chance):
        return bursts(random.Random(rng.getrandbits(32)), chance=chance, length=(1, 4))

    async def take(ctx, stream, chance, record):
        pause = pauses(chance)
        offered = None
        while True:
            ready = not pause()
            ctx.set(stream.ready, ready)
            _, _, cycle, valid, payload = await ctx.tick().sample(
                bench.cycle, stream.valid, stream.payload
            )
            if offered is not None:
                assert valid and payload == offered, f"cycle {cycle}: offered beat withdrawn"
            offered = None
            if valid and ready:
                record(cycle, payload)
            elif valid:
                offered = payload

    def beat_record(cycle, p):
        run.beats.append((cycle, p.tag, p.bank, p.addr, p.data, p.last))

    def done_record(cycle, p):
        run.dones.append((cycle, p.tag, Resp(p.resp), p.err_addr))

    bench.add_testbench(slave.run, background=True)

    @bench.add_testbench(background=True)
    async def take_beats(ctx):
        await take(ctx, dut.beat, beat_stall, beat_record)

    @bench.add_testbench(background=True)
    async def take_dones(ctx):
        await take(ctx, dut.done, done_stall, done_record)

    @bench.add_testbench
    async def produce(ctx):
        for number, phase in enumerate(phases):
            payloads = [
                cmd_layout.const(
                    {
                        "addr": j.cmd.addr,
                        "rows": j.cmd.rows,
                        "row_bytes": j.cmd.row_bytes,
                        "stride": j.cmd.stride,
                        "tag": j.tag,
                        "bank": j.bank,
                        "base": j.base,
                    }
                )
                for j in phase
            ]
            run.accepted += await stream_put(
                ctx, bench, dut.cmd, payloads, idle=pauses(cmd_idle), timeout=MAX_CYCLES
            )
            if number == len(phases) - 1:
                break
            for _ in range(MAX_CYCLES):
                if phase_starts is not None:
                    if ctx.get(bench.cycle) >= phase_starts[number + 1]:
                        break
                elif any(d[2] != Resp.OKAY for d in run.dones) or len(run.dones) == len(
                    run.accepted
                ):
                    break
                await ctx.tick()
        state["producing"] = False

    @bench.add_testbench
    async def watch(ctx):
        quiet = 0
        offered = False
        for _ in range(MAX_CYCLES):
            *_, cycle, arvalid, rvalid, beat, done, ready, resp = await ctx.tick().sample(
                bench.cycle,
                dut.axi.arvalid,
                dut.axi.rvalid,
                dut.beat.valid,
                dut.done.valid,
                dut.done.ready,
                dut.done.payload.resp,
            )
            if done and not offered and resp != Resp.OKAY:
                run.error_valid.append(cycle)
            offered = done and not ready
            active = state["producing"] or slave.busy or arvalid or rvalid or beat or done
            quiet = 0 if active else quiet + 1
            if quiet == QUIET:
                return
        raise AssertionError(f"still active after {MAX_CYCLES} cycles")

    bench.run()
    return run


def expected_beats(job, config):
    """The beats of ``job`` as the DMA must deliver them, from the golden beat map."""
    addresses = beat_addresses(job.cmd, config)
    return [
        (
            job.tag,
            job.bank,
            (job.base + i) % (1 << DEST_WIDTH),
            word(a, config),
            i == len(addresses) - 1,
        )
        for i, a in enumerate(addresses)
    ]


def check(run, config, jobs):
    """Compare ``run`` with what ``jobs`` (in sending order) must give, given the R beats the
    slave answered with an error.

    After the first failing beat (cycle ``f``): the failing command's remaining beats, and
    every command taken before ``f`` after it, are abandoned; their ARs offered up to ``f``
    are a prefix of their plans, and no AR is offered after ``f`` until the error completion
    is valid. Commands taken after ``f`` run normally; a later failure starts over.
    """
    slave = run.slave
    assert len(run.accepted) == len(jobs), "not every command was taken"
    assert not slave.busy, "bursts left in flight"
    assert len(slave.r_beats) == sum(a.len + 1 for a in slave.ars), "a burst did not complete"
    failures = [r for r in slave.r_beats if r[3] != Resp.OKAY]
    error_dones = iter(run.error_valid)
    beats, dones, ars = [], [], []
    ar_index = 0
    index = 0
    while index < len(jobs):
        job = jobs[index]
        plan = plan_bursts(job.cmd, config)
        failure = next((f for f in failures if f[1] >= ar_index), None)
        if failure is None or failure[1] >= ar_index + len(plan):
            ars += [(b.addr, b.len) for b in plan]
            beats += expected_beats(job, config)
            dones.append((job.tag, Resp.OKAY, 0))
            ar_index += len(plan)
            index += 1
            continue
        cycle, burst, beat, resp = failure
        failed = plan[burst - ar_index]
        beats += expected_beats(job, config)[: failed.beat + beat]
        dones.append((job.tag, resp, failed.addr))
        abandoned = [(b.addr, b.len) for b in plan]
        index += 1
        while index < len(jobs) and run.accepted[index] < cycle:
            abandoned += [(b.addr, b.len) for b in plan_bursts(jobs[index].cmd, config)]
            index += 1
        issued = [a for a in slave.ars[ar_index:] if a.present <= cycle]
        assert burst - ar_index < len(issued) <= len(abandoned)
        ars += abandoned[: len(issued)]
        ar_index += len(issued)
        done_valid = next(error_dones)
        late = [a for a in slave.ars[ar_index:] if a.present <= done_valid]
        assert not late, f"AR offered after the error at cycle {cycle}: {late[0]}"
        taken = [t for t in run.accepted if cycle <= t < done_valid]
        assert not taken, f"command taken at cycle {taken[0]}, during the error's drain"
    assert [(a.addr, a.len) for a in slave.ars] == ars
    got_beats = [b[1:] for b in run.beats]
    for i, (got, want) in enumerate(zip(got_beats, beats, strict=False)):
        assert got == want, f"beat {i}: got {got}, want {want}"
    assert len(got_beats) == len(beats), f"{len(got_beats)} beats, want {len(beats)}"
    assert [d[1:] for d in run.dones] == dones


def random_job(rng, config, *, max_rows=5, max_row_beats=12):
    """A random command near 4 KiB boundaries (sometimes at the top of the address space),
    merged or not, with a random tag and destination."""
    w = config.beat_bytes
    row_bytes = rng.randint(1, max_row_beats * w)
    beats = row_beats(row_bytes, config)
    stride = beats * w if rng.random() < 0.5 else (beats + rng.randint(1, 6)) * w
    rows = rng.randint(1, max_rows)
    extent = (rows - 1) * stride + beats * w
    if rng.random() < 0.1:
        addr = ((1 << config.addr_width) - extent) // w * w
    else:
        addr = rng.randint(1, 64) * AXI_BOUNDARY_BYTES - w * rng.randint(0, 3 * beats + 2)
    return Job(
        ReadCommand(addr, rows, row_bytes, stride),
        tag=rng.randrange(1 << TAG_WIDTH),
        bank=rng.randrange(1 << BANK_WIDTH),
        base=rng.randrange(1 << DEST_WIDTH),
    )


# --- Tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS)
def test_dma_read_random_commands(config, seed):
    """Random commands, random stalls everywhere: ARs, beats and completions as planned."""
    rng = random.Random(seed)
    jobs = [random_job(rng, config, max_row_beats=20) for _ in range(12)]
    # One long row from just below a boundary: a 4 KiB split and full-length bursts for sure.
    w = config.beat_bytes
    long_row = (2 * config.burst_beats + 5) * w
    jobs.insert(rng.randrange(13), Job(ReadCommand(0x10000 - 3 * w, 1, long_row, long_row)))
    # The mix covers what the planner does: 4 KiB and max_burst splits, merged rows.
    plans = [plan_bursts(j.cmd, config) for j in jobs]
    splits = [
        (a.addr + (a.len + 1) * w, b.addr)
        for plan in plans
        for a, b in zip(plan, plan[1:], strict=False)
    ]
    assert any(end == nxt and end % AXI_BOUNDARY_BYTES == 0 for end, nxt in splits)
    assert any(a.len + 1 == config.burst_beats for plan in plans for a in plan)
    assert any(a.rows > 1 for plan in plans for a in plan)
    run = simulate(
        config,
        [jobs],
        seed=seed,
        latency=rng.randint(1, 12),
        ar_stall=0.3,
        r_stall=0.3,
        beat_stall=0.3,
        done_stall=0.5,
        cmd_idle=0.3,
    )
    check(run, config, jobs)
    assert run.slave.ar_stalled and run.slave.r_stalled


def test_dma_read_splits_at_4k_and_max_burst(seed):
    config = FrontendConfig(data_width=128, max_burst=16, outstanding_reads=4)
    # One row of 600 bytes (38 beats) starting 3 beats below a boundary: 3 | 16 + 16 + 3.
    jobs = [Job(ReadCommand(0x2FD0, 1, 600, 608), tag=3, bank=1, base=100)]
    run = simulate(config, [jobs], seed=seed)
    check(run, config, jobs)
    assert [(a.addr, a.len) for a in run.slave.ars] == [
        (0x2FD0, 2),
        (0x3000, 15),
        (0x3100, 15),
        (0x3200, 2),
    ]


def test_dma_read_merges_rows(seed):
    config = FrontendConfig(data_width=64, max_burst=64, outstanding_reads=4)
    # Eight rows of 20 bytes, 24 apart: three beats each, adjacent, so one 24-beat run.
    merged = Job(ReadCommand(0x100, 8, 20, 24), tag=1)
    # The same rows 32 apart: eight 3-beat bursts.
    apart = Job(ReadCommand(0x1000, 8, 20, 32), tag=2)
    run = simulate(config, [[merged, apart]], seed=seed)
    check(run, config, [merged, apart])
    assert [(a.addr, a.len) for a in run.slave.ars[:2]] == [(0x100, 23), (0x1000, 2)]
    assert len(run.slave.ars) == 1 + 8


@pytest.mark.parametrize("outstanding", [1, 2, 5])
def test_dma_read_outstanding_limit(outstanding, seed):
    """A long latency fills the window: exactly ``outstanding`` bursts in flight at the peak."""
    config = FrontendConfig(data_width=64, max_burst=2, outstanding_reads=outstanding)
    jobs = [Job(ReadCommand(0x4000, 4, 16, 64), tag=5), Job(ReadCommand(0x8000, 1, 64, 64))]
    run = simulate(config, [jobs], seed=seed, latency=20, beat_stall=0.2)
    check(run, config, jobs)
    assert run.slave.max_outstanding == outstanding


def test_dma_read_back_to_back(seed):
    """With no stalls and room in flight, one AR per cycle across command boundaries, the first
    one ``issue_latency`` cycles after its command, and each beat forwarded in the cycle its
    R beat arrives."""
    config = FrontendConfig(data_width=128, max_burst=4, outstanding_reads=16)
    jobs = [Job(ReadCommand(0x1000 * i, 2, 100, 256), tag=i) for i in range(1, 5)]
    run = simulate(config, [jobs], seed=seed, latency=3)
    check(run, config, jobs)
    dut = run.dut
    assert dut.issue_interval == 1
    accepted = [a.accept for a in run.slave.ars]
    assert accepted == list(range(accepted[0], accepted[0] + len(accepted)))
    assert accepted[0] == run.accepted[0] + dut.issue_latency
    assert [b[0] for b in run.beats] == [r[0] for r in run.slave.r_beats]
    # Every completion follows its last beat by one cycle.
    lasts = [b[0] for b in run.beats if b[5]]
    assert [d[0] for d in run.dones] == [c + 1 for c in lasts]


@pytest.mark.parametrize("resp", [Resp.SLVERR, Resp.DECERR])
@pytest.mark.parametrize(
    ("job", "burst", "beat"),
    [pytest.param(0, 0, 0, id="first"), pytest.param(1, 1, 1, id="middle"),
     pytest.param(2, 3, 2, id="last")],
)  # fmt: skip
def test_dma_read_error(resp, job, burst, beat, seed):
    """The first failing beat's RRESP and burst address are reported with the failing
    command's tag once every issued burst has completed; later errors are ignored; no AR is
    offered after the error; the next command runs normally."""
    config = FrontendConfig(data_width=64, max_burst=4, outstanding_reads=3)
    # Three commands of four 3-beat bursts each.
    jobs = [Job(ReadCommand(0x1000 * (i + 1), 4, 24, 32), tag=i + 1, base=16 * i) for i in range(3)]
    plan = plan_bursts(jobs[job].cmd, config)
    other = Resp.SLVERR if resp == Resp.DECERR else Resp.DECERR
    errors = {plan[burst].addr + beat * 8: resp}
    # Later errors in the same command must not replace the first.
    if beat < plan[burst].len:
        errors[plan[burst].addr + (beat + 1) * 8] = other
    if burst + 1 < len(plan):
        errors[plan[burst + 1].addr] = other
    after = [Job(ReadCommand(0x9000, 3, 24, 24), tag=9, bank=2)]
    run = simulate(
        config,
        [jobs, after],
        seed=seed,
        latency=4,
        ar_stall=0.2,
        r_stall=0.2,
        beat_stall=0.2,
        done_stall=0.3,
        errors=errors,
    )
    check(run, config, jobs + after)
    failed = [d[1:] for d in run.dones if d[2] != Resp.OKAY]
    assert failed == [(job + 1, resp, plan[burst].addr)]
    assert run.dones[-1][1:] == (9, Resp.OKAY, 0)


def test_dma_read_error_stops_issue(seed):
    """An error while ARs are still being issued every cycle (the window never fills): the
    AR loaded in the error's cycle would be the first late one."""
    config = FrontendConfig(data_width=64, max_burst=1, outstanding_reads=16)
    jobs = [Job(ReadCommand(0x3000, 1, 8 * 40, 8 * 40), tag=4)]  # forty 1-beat bursts
    run = simulate(config, [jobs], seed=seed, latency=1, errors={0x3000 + 8 * 6: Resp.DECERR})
    check(run, config, jobs)
    assert run.dones[0][1:] == (4, Resp.DECERR, 0x3000 + 8 * 6)
    assert len(run.slave.ars) < 40


@pytest.mark.parametrize(("early", "own_ars"), [(3, 2), (2, 1), (1, 0), (0, 0), (-1, 0)])
def test_dma_read_error_next_command(early, own_ars, seed):
    """A command offered ``early`` cycles before the first error's cycle, once the failing
    command has issued everything: taken before that cycle, it is abandoned (with or without
    ARs of its own); offered in that cycle or later, it is held until the error completion
    and then runs whole."""
    config = FrontendConfig(data_width=64, max_burst=16, outstanding_reads=4)
    failing = [Job(ReadCommand(0x5000, 1, 64, 64), tag=1)]
    errors = {0x5000 + 8 * 3: Resp.SLVERR}
    nxt = [Job(ReadCommand(0x6000, 2, 40, 48), tag=2)]
    # A first run finds the failing beat's cycle; the simulation is deterministic.
    probe = simulate(config, [failing], seed=seed, latency=12, errors=errors)
    cycle = next(r[0] for r in probe.slave.r_beats if r[3] != Resp.OKAY)
    run = simulate(
        config,
        [failing, nxt],
        seed=seed,
        latency=12,
        errors=errors,
        phase_starts=[0, cycle - early],
    )
    check(run, config, failing + nxt)
    # ARs of the second command issued before the error (the first one takes its first AR
    # issue_latency cycles later).
    assert len([a for a in run.slave.ars if a.present <= cycle]) == 1 + own_ars
    failed = (1, Resp.SLVERR, 0x5000)
    if early > 0:
        assert run.accepted[1] == cycle - early
        assert [d[1:] for d in run.dones] == [failed]
    else:
        assert run.accepted[1] >= run.error_valid[0]
        assert [d[1:] for d in run.dones] == [failed, (2, Resp.OKAY, 0)]


def test_dma_read_error_drains_in_flight(seed):
    """An error on the first burst with the window full: the bursts already issued complete
    (their data dropped) before the error completion, and nothing else is issued."""
    config = FrontendConfig(data_width=64, max_burst=2, outstanding_reads=4)
    jobs = [Job(ReadCommand(0x2000, 1, 256, 256), tag=7)]  # sixteen 2-beat bursts
    run = simulate(config, [jobs], seed=seed, latency=10, errors={0x2008: Resp.SLVERR})
    check(run, config, jobs)
    assert len(run.slave.ars) == 4
    assert run.dones == [(run.dones[0][0], 7, Resp.SLVERR, 0x2000)]
    assert run.dones[0][0] > run.slave.r_beats[-1][0]
    assert len(run.beats) == 1


def test_dma_read_verilog_ports():
    """The AR/R ports take conventional names and the constants are what accelerator §2.2 asks."""
    from amaranth.back import verilog

    dut = AxiReadDma(FrontendConfig())
    ports = verilog_ports(dut)
    assert {"axi_arvalid", "axi_arlen", "axi_rready", "axi_rresp"} <= set(ports)
    assert not any(name.startswith(("axi_aw", "axi_w", "axi_b")) for name in ports)
    text = verilog.convert(dut, name="dma_read", ports=ports)
    assert "input axi_rvalid;" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"tag_width": 0}, UsageValueError, "tag_width must be between 1 and 16"),
        ({"bank_width": 9}, UsageValueError, "bank_width must be between 1 and 8"),
        ({"dest_width": 33}, UsageValueError, "dest_width must be between 1 and 32"),
        ({"id_width": 1.5}, UsageTypeError, "id_width must be an integer"),
    ],
)
def test_dma_read_rejects_parameters(kwargs, error, text):
    with pytest.raises(error, match=text):
        AxiReadDma(FrontendConfig(), **kwargs)
    with pytest.raises(UsageTypeError, match="config must be a FrontendConfig"):
        AxiReadDma(None)
