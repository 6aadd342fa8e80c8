# amaranth: UnusedElaboratable=no
"""AxiWriteDma in Amaranth's simulator, against an AXI4 write slave model and ``golden.dma``.

The slave model (:class:`WriteSlave`) stalls AWREADY and WREADY at random, answers each burst
with a B a fixed latency after its last W beat, injects SLVERR/DECERR on chosen bursts (counted
from 0 over the whole run), keeps a byte-level memory, and checks as it goes: AWVALID and
WVALID held and their payloads stable until ready, the constant AW fields, AWLEN below
max_burst, no 4 KiB crossing, AWLEN + 1 W beats per burst with WLAST exactly on the last,
WVALID never low inside a burst, at most ``outstanding_writes`` bursts from AW to B, every
enabled byte inside the command's rows × valid_bytes and equal to the data sent, WSTRB equal
to that region's mask (or 0 for beats first presented after an error B).
"""

import random
from dataclasses import dataclass, field

import pytest
from sim_streams import StreamBench, bursts, stream_put

from golden.dma import ReadCommand, beat_addresses, plan_bursts, row_beats
from golden.errors import UsageTypeError, UsageValueError
from golden.frontend import AXI_BOUNDARY_BYTES, FrontendConfig
from hdl.bus.axi import Burst, Resp, verilog_ports
from hdl.dma.write import AxiWriteDma

TAG_WIDTH = 4
MAX_CYCLES = 40_000


@dataclass(frozen=True)
class Job:
    """A write as the test sends it: the 2-D shape, ``valid_bytes`` per row, a tag."""

    cmd: ReadCommand
    valid_bytes: int
    tag: int = 0


def region(job, beats, config):
    """``{address: byte}`` the job may write: bytes below ``valid_bytes`` of each row."""
    w = config.beat_bytes
    per_row = row_beats(job.cmd.row_bytes, config)
    out = {}
    for i, (addr, beat) in enumerate(zip(beat_addresses(job.cmd, config), beats, strict=True)):
        col = (i % per_row) * w
        for j in range(w):
            if col + j < job.valid_bytes:
                out[addr + j] = (beat >> (8 * j)) & 0xFF
    return out


@dataclass
class Run:
    aws: list = field(default_factory=list)  # (present, accept, addr, len)
    bs: list = field(default_factory=list)  # (cycle, resp)
    dones: list = field(default_factory=list)  # (tag, resp, err_addr)
    memory: dict = field(default_factory=dict)
    max_outstanding: int = 0
    aw_stalled: int = 0
    w_stalled: int = 0


def simulate(
    config,
    jobs,
    *,
    seed,
    outstanding=4,
    latency=3,
    aw_stall=0.3,
    w_stall=0.3,
    data_idle=0.2,
    errors=None,
):
    """Send ``jobs`` and their data through an :class:`AxiWriteDma` against the slave model;
    ``errors`` maps a burst index of the run to its BRESP. Returns the :class:`Run`."""
    rng = random.Random(seed)
    errors = dict(errors or {})
    w = config.beat_bytes
    dut = AxiWriteDma(config, tag_width=TAG_WIDTH, outstanding_writes=outstanding)
    axi = dut.axi
    bench = StreamBench(dut)
    run = Run()
    data = [
        [rng.getrandbits(8 * w) for _ in range(len(beat_addresses(j.cmd, config)))] for j in jobs
    ]
    regions = [region(j, d, config) for j, d in zip(jobs, data, strict=True)]
    # Jobs write disjoint addresses, so a byte is checked against the union of their rows.
    allowed_all = {a: v for reg in regions for a, v in reg.items()}
    state = {"err_cycle": None}

    def pauses(chance):
        return bursts(random.Random(rng.getrandbits(32)), chance=chance, length=(1, 4))

    async def slave(ctx):
        srng = random.Random(rng.getrandbits(32))
        aw_wait = None  # (present, payload)
        w_wait = None  # (present, payload)
        bursts_w = []  # [index, addr, len, beats seen] accepted AWs whose W is incomplete
        b_queue = []  # [ready cycle, resp]
        b_present = False
        outstanding_now = 0
        in_burst = False
        while True:
            awready = srng.random() >= aw_stall
            # W is taken only for an accepted AW (a slave may wait for AW).
            wready = srng.random() >= w_stall and bool(bursts_w)
            ctx.set(axi.awready, awready)
            ctx.set(axi.wready, wready)
            now = ctx.get(bench.cycle)
            if not b_present and b_queue and b_queue[0][0] <= now:
                b_present = True
                ctx.set(axi.bresp, b_queue[0][1])
                ctx.set(axi.bid, 0)
            ctx.set(axi.bvalid, b_present)
            s = await ctx.tick().sample(
                bench.cycle,
                axi.awvalid,
                axi.awaddr,
                axi.awlen,
                axi.awsize,
                axi.awburst,
                axi.awcache,
                axi.awprot,
                axi.awid,
                axi.awlock,
                axi.wvalid,
                axi.wdata,
                axi.wstrb,
                axi.wlast,
                axi.bready,
                dut.done.valid,
                dut.done.payload.resp,
            )
            cycle, awvalid, awaddr, awlen, *aw_const = s[2:12]
            wvalid, wdata, wstrb, wlast, bready, done_valid, done_resp = s[12:]
            if done_valid and Resp(done_resp) != Resp.OKAY:
                # An error completion is loaded only after every B of its command: later
                # beats belong to the next command.
                state["err_cycle"] = None

            if b_present and bready:
                run.bs.append((cycle, Resp(b_queue[0][1])))
                if b_queue[0][1] != Resp.OKAY and state["err_cycle"] is None:
                    state["err_cycle"] = cycle
                b_queue.pop(0)
                b_present = False
                outstanding_now -= 1

            # W
            payload = (wdata, wstrb, wlast)
            if w_wait is not None:
                assert wvalid, f"cycle {cycle}: WVALID dropped before WREADY"
                assert payload == w_wait[1], f"cycle {cycle}: W payload changed while stalled"
            if in_burst:
                assert wvalid, f"cycle {cycle}: WVALID low inside a burst"
            if wvalid:
                if w_wait is None:
                    w_wait = (cycle, payload)
                if wready:
                    assert bursts_w, f"cycle {cycle}: W beat without an AW"
                    burst = bursts_w[0]
                    index, addr, length, seen = burst
                    assert wlast == (seen == length), f"cycle {cycle}: WLAST {wlast} on beat {seen}"
                    allowed = allowed_all
                    beat_addr = addr + seen * w
                    mask = sum(1 << j for j in range(w) if beat_addr + j in allowed)
                    err_cycle = state["err_cycle"]
                    if err_cycle is not None and w_wait[0] > err_cycle:
                        assert wstrb == 0, f"cycle {cycle}: WSTRB {wstrb:#x} after the error"
                    else:
                        assert wstrb == mask, f"cycle {cycle}: WSTRB {wstrb:#x}, want {mask:#x}"
                    for j in range(w):
                        if wstrb >> j & 1:
                            byte = (wdata >> (8 * j)) & 0xFF
                            assert byte == allowed[beat_addr + j], f"cycle {cycle}: data"
                            run.memory[beat_addr + j] = byte
                    w_wait = None
                    in_burst = not wlast
                    burst[3] += 1
                    if wlast:
                        bursts_w.pop(0)
                        b_queue.append([cycle + latency, errors.get(index, Resp.OKAY)])
                else:
                    run.w_stalled += 1

            # AW
            payload = (awaddr, awlen, *aw_const)
            if aw_wait is not None:
                assert awvalid, f"cycle {cycle}: AWVALID dropped before AWREADY"
                assert payload == aw_wait[1], f"cycle {cycle}: AW payload changed while stalled"
            if awvalid:
                if aw_wait is None:
                    aw_wait = (cycle, payload)
                assert tuple(aw_const) == (
                    w.bit_length() - 1,
                    Burst.INCR.value,
                    0b0011,
                    0b010,
                    0,
                    0,
                ), f"cycle {cycle}: AW fields {payload}"
                if awready:
                    assert awlen < config.max_burst, f"cycle {cycle}: AWLEN {awlen}"
                    last = awaddr + (awlen + 1) * w - 1
                    assert awaddr // AXI_BOUNDARY_BYTES == last // AXI_BOUNDARY_BYTES, (
                        f"cycle {cycle}: burst {awaddr:#x}..{last:#x} crosses 4 KiB"
                    )
                    bursts_w.append([len(run.aws), awaddr, awlen, 0])
                    run.aws.append((aw_wait[0], cycle, awaddr, awlen))
                    aw_wait = None
                    outstanding_now += 1
                    run.max_outstanding = max(run.max_outstanding, outstanding_now)
                    assert outstanding_now <= outstanding, f"cycle {cycle}: {outstanding_now} out"
                else:
                    run.aw_stalled += 1

    cmd_layout = dut.cmd.payload.shape()

    async def put_cmds(ctx):
        payloads = [
            cmd_layout.const(
                {
                    "addr": j.cmd.addr,
                    "rows": j.cmd.rows,
                    "row_bytes": j.cmd.row_bytes,
                    "stride": j.cmd.stride,
                    "valid_bytes": j.valid_bytes,
                    "tag": j.tag,
                }
            )
            for j in jobs
        ]
        await stream_put(ctx, bench, dut.cmd, payloads, idle=pauses(0.3), timeout=MAX_CYCLES)

    async def put_data(ctx):
        beats = [{"data": b} for d in data for b in d]
        layout = dut.data.payload.shape()
        payloads = [layout.const(b) for b in beats]
        await stream_put(ctx, bench, dut.data, payloads, idle=pauses(data_idle), timeout=MAX_CYCLES)

    async def take_dones(ctx):
        pause = pauses(0.3)
        ctx.set(dut.done.ready, 0)
        for _ in range(MAX_CYCLES):
            ready = not pause()
            ctx.set(dut.done.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.done.valid, dut.done.payload)
            if valid and ready:
                run.dones.append((p.tag, Resp(p.resp), p.err_addr))
                if len(run.dones) == len(jobs):
                    for _ in range(20):  # nothing more may happen
                        await ctx.tick()
                    return
        raise AssertionError(f"{len(run.dones)} of {len(jobs)} completions")

    bench.add_testbench(slave, background=True)
    bench.add_testbench(put_cmds, background=True)
    bench.add_testbench(put_data)
    bench.add_testbench(take_dones)
    bench.run()
    run.regions = regions
    return run


def check(config, jobs, run, errors=None):
    """Compare ``run`` with the plan: AWs, completions, memory, AW count = B count."""
    errors = dict(errors or {})
    assert len(run.aws) == len(run.bs)
    index = 0
    for job, done, reg in zip(jobs, run.dones, run.regions, strict=True):
        plan = plan_bursts(job.cmd, config)
        failed = [k for k in range(len(plan)) if index + k in errors]
        if not failed:
            got = run.aws[index : index + len(plan)]
            assert [(a[2], a[3]) for a in got] == [(b.addr, b.len) for b in plan]
            assert done == (job.tag, Resp.OKAY, 0)
            assert all(run.memory.get(a) == v for a, v in reg.items())
            index += len(plan)
            continue
        first = failed[0]
        err_b = run.bs[index + first][0]
        # AWs of this command: a prefix of the plan, none presented after the error B.
        issued = 0
        while index + issued < len(run.aws) and issued < len(plan):
            aw = run.aws[index + issued]
            if aw[0] > err_b:
                break
            assert (aw[2], aw[3]) == (plan[issued].addr, plan[issued].len)
            issued += 1
        assert first < issued
        assert done == (job.tag, errors[index + first], plan[first].addr)
        index += issued
    assert index == len(run.aws), "AWs after the last completion"
    allowed = {}
    for reg in run.regions:
        allowed.update(reg)
    assert set(run.memory) <= set(allowed), "byte written outside the rows"


CONFIGS = [
    pytest.param(FrontendConfig(data_width=64, max_burst=4), id="d64-b4"),
    pytest.param(FrontendConfig(data_width=128, max_burst=16), id="d128-b16"),
    pytest.param(FrontendConfig(data_width=256, max_burst=256), id="d256-b256"),
]


def random_jobs(config, rng, count):
    w = config.beat_bytes
    jobs = []
    for k in range(count):
        rows = rng.randint(1, 6)
        row_bytes = rng.randint(1, 5 * w)
        beats = -(-row_bytes // w)
        stride = rng.choice([beats * w, beats * w + w * rng.randint(1, 3)])
        addr = (k << 16) + AXI_BOUNDARY_BYTES - w * rng.randint(1, 12)
        valid = rng.randint(1, row_bytes)
        jobs.append(Job(ReadCommand(addr, rows, row_bytes, stride), valid, tag=k % 16))
    return jobs


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_dma_write_random_commands(config, seed):
    """Back-to-back random commands near 4 KiB boundaries, with masks on the last columns."""
    rng = random.Random(seed)
    jobs = random_jobs(config, rng, 6)
    run = simulate(config, jobs, seed=seed)
    check(config, jobs, run)
    assert run.aw_stalled and run.w_stalled


def test_dma_write_splits_and_merges():
    """A merged 2-D write splits at max_burst and at 4 KiB; strided rows do not merge."""
    config = FrontendConfig(data_width=64, max_burst=4)
    merged = Job(ReadCommand(0x1000 - 8 * 6, 4, 20, 24), 20, tag=1)
    strided = Job(ReadCommand(0x20000 - 16, 3, 16, 64), 12, tag=2)
    run = simulate(config, [merged, strided], seed=5)
    check(config, [merged, strided], run)
    assert [(a[2], a[3]) for a in run.aws[:4]] == [(0xFD0, 3), (0xFF0, 1), (0x1000, 3), (0x1020, 1)]
    assert len(run.aws) == 4 + 3


def test_dma_write_page_limits_long_bursts():
    """With max_burst above a 4 KiB page of beats, bursts stop at the page: 10, 128, 62."""
    config = FrontendConfig(data_width=256, max_burst=256)
    job = Job(ReadCommand(0x1000 - 32 * 10, 2, 32 * 100, 32 * 100), 32 * 100 - 5, tag=9)
    run = simulate(config, [job], seed=13)
    check(config, [job], run)
    assert [(a[2], a[3]) for a in run.aws] == [(0xEC0, 9), (0x1000, 127), (0x2000, 61)]


@pytest.mark.parametrize("outstanding", [1, 2, 5])
def test_dma_write_outstanding_limit(outstanding):
    """Bursts from AW to B never exceed outstanding_writes, and reach it with a slow B."""
    config = FrontendConfig(data_width=64, max_burst=2)
    job = Job(ReadCommand(0, 1, 8 * 40, 8 * 40), 8 * 40)
    run = simulate(
        config,
        [job],
        seed=7,
        outstanding=outstanding,
        latency=30,
        aw_stall=0,
        w_stall=0,
        data_idle=0,
    )
    check(config, [job], run)
    assert run.max_outstanding == outstanding


@pytest.mark.parametrize("resp", [Resp.SLVERR, Resp.DECERR])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_dma_write_error(resp, where):
    """An error B: no later AW, WSTRB 0 afterwards, data drained, done with the burst's
    AWADDR; the next command runs normally."""
    config = FrontendConfig(data_width=64, max_burst=2)
    jobs = [
        Job(ReadCommand(0x100, 1, 8 * 4, 8 * 4), 30, tag=3),
        Job(ReadCommand(0x10000, 5, 8 * 3, 8 * 5), 19, tag=4),
        Job(ReadCommand(0x20000, 2, 8 * 2, 8 * 2), 16, tag=5),
    ]
    # Job 1's bursts are run bursts 2 ... 6.
    burst = {"first": 2, "middle": 4, "last": 6}[where]
    errors = {burst: resp}
    run = simulate(config, jobs, seed=11, errors=errors, latency=6)
    check(config, jobs, run, errors)
    assert run.dones[1][1] == resp and run.dones[2][1] == Resp.OKAY


def test_dma_write_error_stops_issue():
    """With a slow B the error comes back while AWs are still possible: none follow it, and
    the beats still owed go out with WSTRB 0."""
    config = FrontendConfig(data_width=64, max_burst=2)
    job = Job(ReadCommand(0, 1, 8 * 40, 8 * 40), 8 * 40, tag=6)
    errors = {0: Resp.SLVERR}
    run = simulate(config, [job], seed=3, errors=errors, latency=8, outstanding=4)
    check(config, [job], run, errors)
    assert 1 < len(run.aws) < 20
    assert len(run.memory) < 8 * 40


def test_dma_write_verilog_ports():
    from amaranth.back import verilog

    dut = AxiWriteDma(FrontendConfig())
    ports = verilog_ports(dut)
    assert {"axi_awvalid", "axi_wstrb", "axi_wlast", "axi_bresp", "axi_bready"} <= set(ports)
    assert not any(name.startswith(("axi_ar", "axi_r")) for name in ports)
    text = verilog.convert(dut, name="dma_write", ports=ports)
    assert "input axi_bvalid;" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"tag_width": 0}, UsageValueError, "tag_width must be between 1 and 16"),
        ({"outstanding_writes": 0}, UsageValueError, "outstanding_writes must be between 1"),
        ({"id_width": 1.5}, UsageTypeError, "id_width must be an integer"),
    ],
)
def test_dma_write_rejects_parameters(kwargs, error, text):
    with pytest.raises(error, match=text):
        AxiWriteDma(FrontendConfig(), **kwargs)
    with pytest.raises(UsageTypeError, match="config must be a FrontendConfig"):
        AxiWriteDma(None)
