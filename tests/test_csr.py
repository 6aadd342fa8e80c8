# amaranth: UnusedElaboratable=no
"""AxiLiteCsr in Amaranth's simulator, driven by a small AXI4-Lite master.

The master (:class:`AxiLiteMaster`) offers AW, W and AR and takes B and R, each channel its
own coroutine, so a test can run the write address and write data producers and the response
consumer as separate testbenches. Every run also has a background protocol monitor: a response
never comes without its request, at most one per request, and a response offered and not taken
stays offered with the same payload. Expected register values come from the register table
(``hdl.ctrl.regs``) and from the values the test wrote, never from the block under test.
"""

import random

import pytest
from amaranth.hdl import Fragment, Module, Signal
from amaranth.sim import Simulator

from golden.descriptor import Descriptor, ErrorCode
from golden.frontend import FrontendConfig
from hdl.config import ArrayConfig
from hdl.ctrl.csr import STATUS_LAYOUT, AxiLiteCsr, perf_event_layout
from hdl.ctrl.regs import (
    PERF_COUNTERS,
    REGS,
    Access,
    ErrSource,
    desc_layout,
    descriptor_registers,
    hwcfg_values,
)

ARRAY = ArrayConfig(rows=4, cols=4)
FRONTEND = FrontendConfig()
#: Bound, in cycles, on any single handshake or response.
TIMEOUT = 100
U32 = (1 << 32) - 1
OKAY = 0


def find_register(fragment, name):
    """The signal called ``name`` that ``fragment``'s ``sync`` statements assign (the CSR's
    counters are internal: a test presets one to reach 2^32 without counting there)."""
    found = {}

    def walk(statements):
        for stmt in statements:
            if hasattr(stmt, "cases"):
                for _patterns, body, _src_loc in stmt.cases:
                    walk(body)
            elif isinstance(getattr(stmt, "lhs", None), Signal) and stmt.lhs.name == name:
                found[id(stmt.lhs)] = stmt.lhs

    walk(fragment.statements.get("sync", ()))
    assert len(found) == 1, f"{len(found)} sync signals named {name!r}"
    return next(iter(found.values()))


class Bench:
    """The CSR block in a module with a cycle counter, and its AXI4-Lite master.

    Members
    -------
    dut : AxiLiteCsr
    cycle : Signal(32)
        Cycles elapsed; cycle t ends with the t-th clock edge (from 0).
    master : AxiLiteMaster
    counts : dict
        Handshakes per channel seen by the protocol monitor.
    """

    def __init__(self, array_config=ARRAY, frontend_config=FRONTEND):
        self.dut = AxiLiteCsr(array_config, frontend_config)
        self.fragment = Fragment.get(self.dut, None)
        self.cycle = Signal(32)
        self._module = Module()
        self._module.submodules.dut = self.fragment
        self._module.d.sync += self.cycle.eq(self.cycle + 1)
        self.master = AxiLiteMaster(self)
        self.counts = dict.fromkeys(("aw", "w", "b", "ar", "r"), 0)

    def run(self, *testbenches, background=()):
        sim = Simulator(self._module)
        sim.add_clock(1e-8)
        for testbench in testbenches:
            sim.add_testbench(testbench)
        for testbench in (self._protocol_monitor, *background):
            sim.add_testbench(testbench, background=True)
        sim.run()

    async def _protocol_monitor(self, ctx):
        bus = self.dut.s_axil
        held = {"b": None, "r": None}
        async for _clk, _rst, *s in ctx.tick().sample(
            bus.awvalid,
            bus.awready,
            bus.wvalid,
            bus.wready,
            bus.bvalid,
            bus.bready,
            bus.bresp,
            bus.arvalid,
            bus.arready,
            bus.rvalid,
            bus.rready,
            bus.rdata,
            bus.rresp,
        ):
            awv, awr, wv, wr, bv, br, bresp, arv, arr, rv, rr, rdata, rresp = s
            c = self.counts
            if bv:
                assert c["b"] < min(c["aw"], c["w"]), "B without an AW and W waiting for it"
            if rv:
                assert c["r"] < c["ar"], "R without an AR waiting for it"
            for name, valid, ready, payload in (
                ("b", bv, br, (bresp,)),
                ("r", rv, rr, (rdata, rresp)),
            ):
                if held[name] is not None:
                    assert valid and payload == held[name], f"{name} withdrawn or changed"
                held[name] = payload if valid and not ready else None
            c["aw"] += awv and awr
            c["w"] += wv and wr
            c["b"] += bv and br
            c["ar"] += arv and arr
            c["r"] += rv and rr


class AxiLiteMaster:
    """AXI4-Lite master coroutines for the simulator, one per channel, plus whole
    transactions (:meth:`write`, :meth:`read`)."""

    def __init__(self, bench):
        self.bench = bench
        self.bus = bench.dut.s_axil

    async def _offer(self, ctx, valid, ready, values):
        for signal, value in values:
            ctx.set(signal, value)
        ctx.set(valid, 1)
        for _ in range(TIMEOUT):
            _, _, cycle, taken = await ctx.tick().sample(self.bench.cycle, ready)
            if taken:
                ctx.set(valid, 0)
                return cycle
        raise AssertionError(f"{valid.name} not taken within {TIMEOUT} cycles")

    async def _take(self, ctx, valid, ready, payload, delay):
        ctx.set(ready, 0)
        if delay:
            await ctx.tick().repeat(delay)
        ctx.set(ready, 1)
        for _ in range(TIMEOUT):
            _, _, cycle, offered, *values = await ctx.tick().sample(
                self.bench.cycle, valid, *payload
            )
            if offered:
                ctx.set(ready, 0)
                return (cycle, *values)
        raise AssertionError(f"{valid.name} not seen within {TIMEOUT} cycles")

    async def aw(self, ctx, addr):
        """Offer a write address; returns its handshake cycle."""
        bus = self.bus
        return await self._offer(
            ctx, bus.awvalid, bus.awready, [(bus.awaddr, addr), (bus.awprot, 0)]
        )

    async def w(self, ctx, data, strb=0xF):
        bus = self.bus
        return await self._offer(
            ctx, bus.wvalid, bus.wready, [(bus.wdata, data), (bus.wstrb, strb)]
        )

    async def b(self, ctx, delay=0):
        """Take a write response after ``delay`` cycles with ``bready`` low; returns
        ``(cycle, bresp)``."""
        return await self._take(ctx, self.bus.bvalid, self.bus.bready, [self.bus.bresp], delay)

    async def ar(self, ctx, addr):
        bus = self.bus
        return await self._offer(
            ctx, bus.arvalid, bus.arready, [(bus.araddr, addr), (bus.arprot, 0)]
        )

    async def r(self, ctx, delay=0):
        """Take a read response; returns ``(cycle, rdata, rresp)``."""
        bus = self.bus
        return await self._take(ctx, bus.rvalid, bus.rready, [bus.rdata, bus.rresp], delay)

    async def write(self, ctx, addr, data, strb=0xF):
        """AW and W offered in the same cycles, then B; returns the B cycle."""
        bus = self.bus
        ctx.set(bus.awaddr, addr)
        ctx.set(bus.awprot, 0)
        ctx.set(bus.wdata, data)
        ctx.set(bus.wstrb, strb)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        pending = [(bus.awvalid, bus.awready), (bus.wvalid, bus.wready)]
        for _ in range(TIMEOUT):
            sampled = await ctx.tick().sample(*(ready for _valid, ready in pending))
            for (valid, _ready), taken in zip(list(pending), sampled[2:], strict=True):
                if taken:
                    ctx.set(valid, 0)
                    pending = [p for p in pending if p[0] is not valid]
            if not pending:
                break
        else:
            raise AssertionError(f"write of {addr:#x} not taken within {TIMEOUT} cycles")
        cycle, resp = await self.b(ctx)
        assert resp == OKAY
        return cycle

    async def read(self, ctx, addr):
        await self.ar(ctx, addr)
        _, data, resp = await self.r(ctx)
        assert resp == OKAY
        return data

    async def snapshot(self, ctx):
        """``{name: word}`` of every register, read in map order."""
        return {reg.name: await self.read(ctx, reg.offset) for reg in REGS}


def expected_resets(array_config=ARRAY, frontend_config=FRONTEND):
    configured = hwcfg_values(array_config, frontend_config)
    return {reg.name: configured[reg.name] if reg.reset is None else reg.reset for reg in REGS}


@pytest.mark.parametrize(
    ("array_config", "frontend_config"),
    [
        (ARRAY, FRONTEND),
        (
            ArrayConfig(rows=16, cols=8, mac="e5m2", max_k=300),
            FrontendConfig(data_width=64, addr_width=64, outstanding_reads=255, tile_n=48),
        ),
    ],
    ids=["r4c4-int8-d128", "r16c8-e5m2-d64-aw64"],
)
def test_csr_reset_values(array_config, frontend_config):
    """Every register reads its table reset value (configuration registers: their packed
    configuration) after reset, with an idle controller."""
    bench = Bench(array_config, frontend_config)
    got = {}

    async def testbench(ctx):
        got.update(await bench.master.snapshot(ctx))

    bench.run(testbench)
    assert got == expected_resets(array_config, frontend_config)
    hw0 = REGS.HWCFG0.unpack(got["HWCFG0"])
    assert (hw0["ROWS"], hw0["COLS"], hw0["ACC_WIDTH"]) == (
        array_config.rows,
        array_config.cols,
        array_config.acc_width,
    )
    assert got["ID"] == 0x5359_5358 and got["Q_CLAMP"] == 0x7F80
    assert got["MEM_LIMIT_LO"] == got["MEM_LIMIT_HI"] == U32


@pytest.mark.parametrize(
    ("aw_delay", "w_delay", "b_delay"),
    [(0, 0, 0), (0, 5, 0), (5, 0, 0), (3, 3, 0), (0, 0, 4), (7, 2, 3)],
    ids=["together", "aw-first", "w-first", "together-late", "b-stalled", "w-first-b-stalled"],
)
def test_csr_write_channel_orders(aw_delay, w_delay, b_delay):
    """AW and W in either order or together, with producers and consumer apart: one B, no
    earlier than two cycles after the later of AW and W (exactly then when B is ready), and the
    register written."""
    bench = Bench()
    master = bench.master
    cycles = {}
    value = 0x1234_5670

    async def aw_producer(ctx):
        if aw_delay:
            await ctx.tick().repeat(aw_delay)
        cycles["aw"] = await master.aw(ctx, REGS.A_STRIDE.offset)

    async def w_producer(ctx):
        if w_delay:
            await ctx.tick().repeat(w_delay)
        cycles["w"] = await master.w(ctx, value)

    async def b_consumer(ctx):
        cycles["b"], resp = await master.b(ctx, delay=b_delay)
        assert resp == OKAY
        cycles["read"] = await master.read(ctx, REGS.A_STRIDE.offset)

    bench.run(aw_producer, w_producer, b_consumer)
    last = max(cycles["aw"], cycles["w"])
    assert cycles["b"] == max(last + 2, b_delay)
    assert cycles["read"] == value
    assert bench.counts["b"] == 1


def test_csr_back_to_back():
    """Streams of writes and then reads with every valid held high: each register written
    once, one B per write and one R per read, each read returning what was written."""
    bench = Bench()
    master = bench.master
    rng = random.Random(7)
    regs = [r for r in REGS if r.access == Access.RW and r.name != "CTRL"]
    values = {r.name: rng.randrange(1 << 32) & r.storage_mask for r in regs}
    reads = []

    async def aw_producer(ctx):
        for reg in regs:
            await master.aw(ctx, reg.offset)

    async def w_producer(ctx):
        for reg in regs:
            await master.w(ctx, values[reg.name])

    writes_done = []

    async def b_consumer(ctx):
        for _ in regs:
            _, resp = await master.b(ctx)
            assert resp == OKAY
        writes_done.append(True)

    async def ar_producer(ctx):
        while not writes_done:
            await ctx.tick()
        for reg in regs:
            await master.ar(ctx, reg.offset)

    async def r_consumer(ctx):
        for _ in regs:
            _, data, resp = await master.r(ctx)
            assert resp == OKAY
            reads.append(data)

    bench.run(aw_producer, w_producer, b_consumer, ar_producer, r_consumer)
    assert dict(zip([r.name for r in regs], reads, strict=True)) == values
    assert bench.counts == dict.fromkeys(("aw", "w", "b", "ar", "r"), len(regs))


def test_csr_byte_strobes():
    """Each WSTRB pattern writes exactly its bytes: of a whole word, of Q_CLAMP's two int8
    fields, and of CTRL's START bit (no start without byte 0)."""
    bench = Bench()
    master = bench.master
    dut = bench.dut
    starts = []

    async def testbench(ctx):
        for strb in range(16):
            await master.write(ctx, REGS.A_STRIDE.offset, U32)
            await master.write(ctx, REGS.A_STRIDE.offset, 0x1234_5678, strb)
            mask = sum(0xFF << (8 * i) for i in range(4) if strb >> i & 1)
            want = (0x1234_5678 & mask) | (U32 & ~mask)
            assert await master.read(ctx, REGS.A_STRIDE.offset) == want, f"strb={strb:04b}"
        await master.write(ctx, REGS.Q_CLAMP.offset, 0xAAAA_0102, 0b0010)
        assert await master.read(ctx, REGS.Q_CLAMP.offset) == 0x0180
        await master.write(ctx, REGS.CTRL.offset, REGS.CTRL.START.mask, 0b1110)
        await master.write(ctx, REGS.CTRL.offset, REGS.CTRL.START.mask | 0x300, 0b0010)
        assert await master.read(ctx, REGS.CTRL.offset) == 0x300

    async def start_monitor(ctx):
        async for _clk, _rst, start in ctx.tick().sample(dut.start):
            starts.append(start)

    bench.run(testbench, background=[start_monitor])
    assert not any(starts)


def test_csr_reserved_addresses_and_read_only():
    """Writes of all ones to every reserved word and every RO register change nothing;
    reserved words read 0; ``addr[1:0]`` is ignored; RW registers keep only their fields'
    bits."""
    bench = Bench()
    master = bench.master
    mapped = {reg.offset for reg in REGS}
    reserved = [a for a in range(0, 4096, 4) if a not in mapped]

    async def testbench(ctx):
        before = await master.snapshot(ctx)
        for addr in reserved:
            await master.write(ctx, addr, U32)
        for reg in REGS:
            if reg.access == Access.RO:
                await master.write(ctx, reg.offset, U32)
        assert await master.snapshot(ctx) == before
        for addr in reserved:
            # after a read of a nonzero word, so that a stale read-data register shows
            assert await master.read(ctx, REGS.ID.offset) == before["ID"]
            assert await master.read(ctx, addr + (addr >> 2) % 4) == 0, hex(addr)
        assert await master.read(ctx, REGS.ID.offset + 3) == before["ID"]
        for reg in REGS:
            if reg.access == Access.RW:
                await master.write(ctx, reg.offset, U32)
                assert await master.read(ctx, reg.offset) == reg.storage_mask, reg.name

    bench.run(testbench)
    assert len(reserved) == 1024 - len(REGS)


def set_status(ctx, dut, **fields):
    ctx.set(dut.status, STATUS_LAYOUT.const(fields))


async def pulse(ctx, signal):
    ctx.set(signal, 1)
    await ctx.tick()
    ctx.set(signal, 0)


def test_csr_irq_status_w1c_and_masking():
    """IRQ_STATUS bits are set by the controller's pulses and cleared by writing 1; a set in
    the cycle of a clear wins; ``irq`` is IRQ_STATUS masked by the CTRL enables."""
    bench = Bench()
    master = bench.master
    dut = bench.dut
    irq = REGS.IRQ_STATUS
    done, error = irq.DONE.mask, irq.ERROR.mask
    enables = {0: 0, done: REGS.CTRL.IRQ_DONE_EN.mask, error: REGS.CTRL.IRQ_ERR_EN.mask}

    async def check_irq(ctx, causes):
        for enable in range(4):
            ctrl = (enable & 1) * enables[done] | (enable >> 1 & 1) * enables[error]
            await master.write(ctx, REGS.CTRL.offset, ctrl)
            want = bool(causes & done and enable & 1) or bool(causes & error and enable & 2)
            assert ctx.get(dut.irq) == want, (causes, enable)

    async def testbench(ctx):
        assert await master.read(ctx, irq.offset) == 0
        await check_irq(ctx, 0)
        await pulse(ctx, dut.status.done_pulse)
        assert await master.read(ctx, irq.offset) == done
        await check_irq(ctx, done)
        await error_pulse(ctx)
        assert await master.read(ctx, irq.offset) == done | error
        await check_irq(ctx, done | error)
        await master.write(ctx, irq.offset, 0)  # writing 0 changes nothing
        await master.write(ctx, irq.offset, U32, strb=0b1110)  # nor bytes not strobed
        assert await master.read(ctx, irq.offset) == done | error
        await master.write(ctx, irq.offset, done)
        assert await master.read(ctx, irq.offset) == error
        await check_irq(ctx, error)
        # A pulse in the cycle the clear is written wins (an event is never lost); one cycle
        # earlier, the clear wins, which shows that the pulse above hit the write's cycle.
        for offset, survives in ((1, True), (0, False)):
            pulse_at.append(ctx.get(bench.cycle) + 1 + offset)
            await ctx.tick()  # AW and W taken in this cycle, the write in the next
            await master.write(ctx, irq.offset, done | error)
            assert await master.read(ctx, irq.offset) == (error if survives else 0)
            await error_pulse(ctx)
        await master.write(ctx, irq.offset, error)
        assert await master.read(ctx, irq.offset) == 0
        await check_irq(ctx, 0)

    # error_pulse is driven by one background testbench only: high in the cycles of pulse_at.
    pulse_at = []

    async def error_pulse(ctx):
        pulse_at.append(ctx.get(bench.cycle) + 1)
        await ctx.tick().repeat(2)

    async def pulser(ctx):
        async for _clk, _rst, cycle in ctx.tick().sample(bench.cycle):
            ctx.set(dut.status.error_pulse, cycle + 1 in pulse_at)  # for the coming cycle

    bench.run(testbench, background=[pulser])


def random_descriptor(rng):
    return Descriptor(
        m=rng.randrange(1 << 32),
        k=rng.randrange(1 << 32),
        n=rng.randrange(1 << 32),
        flags=rng.randrange(32),
        a_addr=rng.randrange(1 << 64),
        a_stride=rng.randrange(1 << 32),
        b_addr=rng.randrange(1 << 64),
        b_stride=rng.randrange(1 << 32),
        b_tile_stride=rng.randrange(1 << 32),
        c_addr=rng.randrange(1 << 64),
        c_stride=rng.randrange(1 << 32),
        qp_addr=rng.randrange(1 << 64),
        q_mult=rng.randrange(1 << 32),
        q_shift=rng.randrange(64),
        q_zp=rng.randrange(-(1 << 31), 1 << 31),
        qmin=rng.randrange(-128, 128),
        qmax=rng.randrange(-128, 128),
        mem_base=rng.randrange(1 << 64),
        mem_limit=rng.randrange(1 << 64),
    )


async def program(ctx, master, desc):
    for reg, word in descriptor_registers(desc):
        await master.write(ctx, reg.offset, word)


def test_csr_start_latches_descriptor(seed):
    """START copies the registers into ``desc`` with one ``start`` pulse; writes while the
    job runs change the registers, not ``desc``; the next START takes them. CTRL.OPCODE comes
    from the START write itself."""
    rng = random.Random(seed)
    first, second = random_descriptor(rng), random_descriptor(rng)
    bench = Bench()
    master = bench.master
    dut = bench.dut
    layout = desc_layout()
    starts = []
    ctrl = REGS.CTRL

    async def start_monitor(ctx):
        async for _clk, _rst, cycle, start in ctx.tick().sample(bench.cycle, dut.start):
            if start:
                starts.append(cycle)

    async def testbench(ctx):
        await program(ctx, master, first)
        await master.write(ctx, ctrl.offset, ctrl.pack(START=1, OPCODE=first.opcode))
        set_status(ctx, dut, busy=1)  # the controller's busy, the cycle after start
        assert ctx.get(dut.desc.as_value()) == layout.const(_fields(first)).as_value().value
        await program(ctx, master, second)
        assert ctx.get(dut.desc.as_value()) == layout.const(_fields(first)).as_value().value
        set_status(ctx, dut)
        opcode = 5
        await master.write(ctx, ctrl.offset, ctrl.pack(START=1, OPCODE=opcode, IRQ_ERR_EN=1))
        want = layout.const(_fields(second, opcode=opcode)).as_value().value
        assert ctx.get(dut.desc.as_value()) == want
        assert await master.read(ctx, ctrl.offset) == ctrl.pack(OPCODE=opcode, IRQ_ERR_EN=1)

    bench.run(testbench, background=[start_monitor])
    assert len(starts) == 2


def _fields(desc, **changes):
    values = {name: getattr(desc, name) for name in desc.__dataclass_fields__}
    values.update(changes)
    return values


def test_csr_start_while_busy():
    """START while busy: no pulse, nothing latched; STATUS.ERROR with ERR_CODE BUSY from the
    descriptor source, IRQ_STATUS.ERROR; the job's own error takes precedence; an accepted
    START clears the rejection."""
    bench = Bench()
    master = bench.master
    dut = bench.dut
    ctrl, status = REGS.CTRL, REGS.STATUS
    starts = []

    async def start_monitor(ctx):
        async for _clk, _rst, start in ctx.tick().sample(dut.start):
            starts.append(start)

    async def testbench(ctx):
        await master.write(ctx, REGS.M.offset, 7)
        set_status(ctx, dut, busy=1)
        await master.write(ctx, ctrl.offset, ctrl.pack(START=1, IRQ_ERR_EN=1))
        assert ctx.get(dut.desc.m) == 0  # nothing latched
        assert ctx.get(dut.irq)
        assert await master.read(ctx, status.offset) == status.pack(
            BUSY=1, ERROR=1, ERR_CODE=ErrorCode.BUSY
        )
        info = REGS.ERR_INFO.pack(CODE=ErrorCode.BUSY, SOURCE=ErrSource.DESCRIPTOR)
        assert await master.read(ctx, REGS.ERR_INFO.offset) == info
        assert await master.read(ctx, REGS.IRQ_STATUS.offset) == REGS.IRQ_STATUS.ERROR.mask
        # The running job fails: its error, source and address show instead.
        addr = 0x1234_5678_9ABC_DEF0
        set_status(
            ctx,
            dut,
            busy=1,
            error=1,
            err_code=ErrorCode.AXI_RD_DECERR,
            err_source=ErrSource.READ_B,
            err_addr=addr,
        )
        assert await master.read(ctx, status.offset) == status.pack(
            BUSY=1, ERROR=1, ERR_CODE=ErrorCode.AXI_RD_DECERR
        )
        info = REGS.ERR_INFO.pack(CODE=ErrorCode.AXI_RD_DECERR, SOURCE=ErrSource.READ_B)
        assert await master.read(ctx, REGS.ERR_INFO.offset) == info
        assert await master.read(ctx, REGS.ERR_ADDR_LO.offset) == addr & U32
        assert await master.read(ctx, REGS.ERR_ADDR_HI.offset) == addr >> 32
        # Idle and clean again: the rejection still shows until a START is accepted.
        set_status(ctx, dut, done=1)
        assert await master.read(ctx, status.offset) == status.pack(
            DONE=1, ERROR=1, ERR_CODE=ErrorCode.BUSY
        )
        await master.write(ctx, ctrl.offset, ctrl.pack(START=1))
        set_status(ctx, dut, busy=1)
        assert ctx.get(dut.desc.m) == 7
        assert await master.read(ctx, status.offset) == status.pack(BUSY=1)
        # A second START right behind the first sees busy.
        await master.write(ctx, ctrl.offset, ctrl.pack(START=1))
        assert await master.read(ctx, status.offset) == status.pack(
            BUSY=1, ERROR=1, ERR_CODE=ErrorCode.BUSY
        )

    bench.run(testbench, background=[start_monitor])
    assert sum(starts) == 1


def test_csr_second_start_as_fast_as_the_bus_allows_is_refused():
    """Two STARTs back to back, the controller raising busy in the cycle after ``start`` (its
    contract): the second write commits late enough to see busy and is refused."""
    bench = Bench()
    master = bench.master
    dut = bench.dut
    starts = []

    async def controller(ctx):
        async for _clk, _rst, start in ctx.tick().sample(dut.start):
            starts.append(start)
            if start:
                set_status(ctx, dut, busy=1)

    async def aw_producer(ctx):
        for _ in range(2):
            await master.aw(ctx, REGS.CTRL.offset)

    async def w_producer(ctx):
        for _ in range(2):
            await master.w(ctx, REGS.CTRL.START.mask)

    async def b_consumer(ctx):
        for _ in range(2):
            await master.b(ctx)
        status = await master.read(ctx, REGS.STATUS.offset)
        assert REGS.STATUS.unpack(status)["ERR_CODE"] == ErrorCode.BUSY

    bench.run(aw_producer, w_producer, b_consumer, background=[controller])
    assert sum(starts) == 1


def test_csr_abort_pulse():
    """ABORT written 1 gives one ``abort_req`` pulse, busy or not; not without byte 0's
    strobe, and not for a write of 0."""
    bench = Bench()
    master = bench.master
    dut = bench.dut
    pulses = []
    abort = REGS.CTRL.ABORT.mask

    async def monitor(ctx):
        async for _clk, _rst, cycle, value in ctx.tick().sample(bench.cycle, dut.abort_req):
            if value:
                pulses.append(cycle)

    async def testbench(ctx):
        b1 = await master.write(ctx, REGS.CTRL.offset, abort)
        await master.write(ctx, REGS.CTRL.offset, abort, strb=0b1110)
        await master.write(ctx, REGS.CTRL.offset, 0)
        set_status(ctx, dut, busy=1)
        b2 = await master.write(ctx, REGS.CTRL.offset, abort)
        await ctx.tick().repeat(3)
        # write at B − 1, pulse in the next cycle: the B cycle
        assert pulses == [b1, b2]
        assert await master.read(ctx, REGS.CTRL.offset) == 0

    bench.run(testbench, background=[monitor])


def test_csr_perf_counters_count_and_clear(seed):
    """Each counter adds its increment every cycle; an accepted START clears them all."""
    rng = random.Random(seed)
    bench = Bench()
    master = bench.master
    dut = bench.dut
    layout = perf_event_layout(ARRAY, FRONTEND)
    names = [name for name, *_ in PERF_COUNTERS]
    sums = dict.fromkeys(names, 0)
    running = [True]

    async def producer(ctx):
        while running[0]:
            incs = {name.lower(): rng.randrange(1 << layout[name.lower()].width) for name in names}
            ctx.set(dut.perf, layout.const(incs))
            await ctx.tick()
            for name in names:
                sums[name] += incs[name.lower()]
        ctx.set(dut.perf, layout.const({}))

    async def read_counters(ctx):
        values = {}
        for name, offset, _ in PERF_COUNTERS:
            lo = await master.read(ctx, offset)
            values[name] = (await master.read(ctx, offset + 4)) << 32 | lo
        return values

    async def testbench(ctx):
        await ctx.tick().repeat(300)
        running[0] = False
        await ctx.tick().repeat(2)
        assert await read_counters(ctx) == sums
        assert min(sums.values()) > 0
        await master.write(ctx, REGS.CTRL.offset, REGS.CTRL.START.mask)
        assert await read_counters(ctx) == dict.fromkeys(names, 0)

    bench.run(testbench, producer)


def test_csr_perf_reading_lo_latches_hi():
    """A counter about to pass 2^32: reading LO, then HI after the carry, gives the 64-bit
    value of the LO read's cycle; reading HI alone gives the last latched word."""
    bench = Bench()
    master = bench.master
    dut = bench.dut
    count = find_register(bench.fragment, "perf_cycles")
    history = {}
    start = (1 << 32) - 6

    async def recorder(ctx):
        async for _clk, _rst, cycle, value in ctx.tick().sample(bench.cycle, count):
            history[cycle] = value

    async def testbench(ctx):
        ctx.set(dut.perf.cycles, 1)
        await ctx.tick()
        ctx.set(count, start)
        ar_cycle = await master.ar(ctx, REGS.PERF_CYCLES_LO.offset)
        _, lo, _ = await master.r(ctx)
        await ctx.tick().repeat(10)
        hi_cycle = await master.ar(ctx, REGS.PERF_CYCLES_HI.offset)
        _, hi, _ = await master.r(ctx)
        assert history[ar_cycle] >> 32 == 0 and history[hi_cycle] >> 32 == 1  # the carry
        assert (hi << 32 | lo) == history[ar_cycle]
        assert await master.read(ctx, REGS.PERF_CYCLES_HI.offset) == 0  # not re-latched
        ar_cycle = await master.ar(ctx, REGS.PERF_CYCLES_LO.offset)
        _, lo, _ = await master.r(ctx)
        hi = await master.read(ctx, REGS.PERF_CYCLES_HI.offset)
        assert (hi << 32 | lo) == history[ar_cycle] and hi == 1

    bench.run(testbench, background=[recorder])


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (
            (ArrayConfig(rows=2, cols=2, mac="e5m2", acc_width=200), FRONTEND),
            ValueError,
            "HWCFG0.ACC_WIDTH must be an integer between 0 and 127, got 200",
        ),
        ((FRONTEND, FRONTEND), TypeError, "array_config must be an ArrayConfig"),
        ((ARRAY, ARRAY), TypeError, "frontend_config must be a FrontendConfig"),
    ],
)
def test_csr_rejects_configurations(args, error, message):
    with pytest.raises(error, match=message):
        AxiLiteCsr(*args)
