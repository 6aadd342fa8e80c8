"""The host driver (``host.driver``) against a register-file model of the accelerator's
window: the order of the bus accesses (descriptor words, START last, LO before HI, W1C),
the decoding of HWCFG and of every error, and the same results through the async runner."""

import asyncio
import subprocess
import sys

import pytest

from golden.descriptor import (
    AttentionConfig,
    Descriptor,
    DescriptorLimits,
    ErrorCode,
    check_descriptor,
)
from golden.frontend import BIAS_EN, OUT_RAW, PER_CHANNEL_Q, FrontendConfig
from hdl.config import ArrayConfig
from hdl.ctrl.regs import (
    REGS,
    ErrSource,
    descriptor_from_registers,
    descriptor_limits,
    descriptor_registers,
    hwcfg_values,
)
from host.driver import (
    PERF_NAMES,
    AsyncDriver,
    DeviceError,
    GemmError,
    GemmTimeout,
    SyncDriver,
    wait,
)

BASE = 0x4000_0000
ARRAY = ArrayConfig(rows=4, cols=8, mac="int8")
FRONTEND = FrontendConfig(data_width=128, addr_width=64, tile_m=32, tile_n=32, tile_k=64)
LIMITS = descriptor_limits(ARRAY, FRONTEND)

GOOD = Descriptor(
    m=33,
    k=70,
    n=17,
    flags=PER_CHANNEL_Q | BIAS_EN,
    a_addr=0x1_0000_0000,
    a_stride=80,
    b_addr=0x2000,
    b_stride=32,
    c_addr=0x8000,
    c_stride=32,
    qp_addr=0x9000,
    q_mult=0x4000_0000 - 1,
    q_shift=40,
    q_zp=-5,
    qmin=-100,
    qmax=90,
    mem_base=0x1000,
    mem_limit=0x2_0000_0000,
)


class FakeAccel:
    """The register window as seen from the bus, with a scripted job.

    START (idle) latches the descriptor registers and CTRL.OPCODE, clears DONE/ERROR, and
    checks the descriptor with ``golden.descriptor.check_descriptor``; the job then reads BUSY
    for ``busy_polls`` STATUS reads and ends with the check's error, else ``outcome``
    ``(code, source, address)``, else success. START while busy sets ERROR with BUSY. ABORT
    ends the job with ABORTED. IRQ_STATUS is write-1-to-clear; reading a counter's LO word
    latches its HI word, and the counters advance by ``perf_step`` after every access (so a
    HI-then-LO read would tear). ``log`` records ``("R"|"W", offset, value)``.
    """

    def __init__(self, *, busy_polls=3, outcome=None, limits=LIMITS, ident=None, attention=None):
        self.words = {reg.name: reg.reset or 0 for reg in REGS}
        self.words.update(hwcfg_values(ARRAY, FRONTEND, attention=attention))
        if ident is not None:
            self.words["ID"] = ident
        self.busy_polls = busy_polls
        self.outcome = outcome
        self.limits = limits
        self.log = []
        self.latched = None
        self.perf = {name: (0x1_FFFF_FFF0 + i) for i, name in enumerate(PERF_NAMES)}
        self.perf_step = 0x20
        self.hi_latch = dict.fromkeys(PERF_NAMES, 0)
        self._polls_left = None
        self._error = None
        self._rejected = False

    # --- bus ------------------------------------------------------------------------------

    def read32(self, addr):
        offset = addr - BASE
        reg = REGS.at(offset)
        assert reg is not None and offset % 4 == 0, f"read of reserved {offset:#x}"
        value = self._read(reg)
        self.log.append(("R", offset, value))
        self._tick()
        return value

    def write32(self, addr, value):
        offset = addr - BASE
        reg = REGS.at(offset)
        assert reg is not None and offset % 4 == 0, f"write to reserved {offset:#x}"
        assert 0 <= value < 1 << 32
        self.log.append(("W", offset, value))
        self._write(reg, value)
        self._tick()

    # --- model ----------------------------------------------------------------------------

    def _tick(self):
        for name in PERF_NAMES:
            self.perf[name] += self.perf_step

    def _status(self):
        return REGS.STATUS.unpack(self.words["STATUS"])

    def _set_status(self, **fields):
        self.words["STATUS"] = REGS.STATUS.pack(**{**self._status(), **fields})

    def _read(self, reg):
        name = reg.name
        if name.startswith("PERF_"):
            counter = name[5:-3]
            if name.endswith("_LO"):
                self.hi_latch[counter] = self.perf[counter] >> 32
                return self.perf[counter] & 0xFFFF_FFFF
            return self.hi_latch[counter]
        if name == "STATUS" and self._polls_left is not None:
            if self._polls_left == 0:
                self._finish(self._error)
            else:
                self._polls_left -= 1
        if name == "CTRL":
            return self.words["CTRL"] & ~(REGS.CTRL.START.mask | REGS.CTRL.ABORT.mask)
        return self.words[name]

    def _write(self, reg, value):
        name = reg.name
        if name == "IRQ_STATUS":
            self.words[name] &= ~value
        elif name == "CTRL":
            self.words[name] = value & ~(REGS.CTRL.START.mask | REGS.CTRL.ABORT.mask)
            if value & REGS.CTRL.START.mask:
                self._start()
            if value & REGS.CTRL.ABORT.mask and self._polls_left is not None:
                self._error = (ErrorCode.ABORTED, ErrSource.DESCRIPTOR, 0)
                self._polls_left = 0
        elif reg.storage_mask:
            self.words[name] = value & reg.storage_mask

    def _start(self):
        if self._status()["BUSY"]:
            self._record_error(ErrorCode.BUSY, ErrSource.DESCRIPTOR, 0)
            self._set_status(ERROR=1)
            self._rejected = True
            return
        self._rejected = False
        self.latched = descriptor_from_registers(self.words)
        for name in PERF_NAMES:
            self.perf[name] = 0xFFFF_FF00 + 0x100 * PERF_NAMES.index(name)
        self._set_status(BUSY=1, DONE=0, ERROR=0, ERR_CODE=0)
        code = check_descriptor(self.latched, self.limits)
        self._error = (code, ErrSource.DESCRIPTOR, 0) if code else self.outcome
        self._polls_left = self.busy_polls

    def _record_error(self, code, source, address):
        self.words["ERR_INFO"] = REGS.ERR_INFO.pack(CODE=int(code), SOURCE=int(source))
        self.words["ERR_ADDR_LO"] = address & 0xFFFF_FFFF
        self.words["ERR_ADDR_HI"] = address >> 32
        self._set_status(ERR_CODE=int(code))

    def _finish(self, error):
        self._polls_left = None
        self._set_status(BUSY=0, DONE=1, ERROR=int(error is not None or self._rejected))
        irq = REGS.IRQ_STATUS.DONE.mask
        if error is not None:
            self._record_error(*error)
            irq |= REGS.IRQ_STATUS.ERROR.mask
        self.words["IRQ_STATUS"] |= irq

    # --- views of the log -----------------------------------------------------------------

    def writes(self):
        return [(offset, value) for op, offset, value in self.log if op == "W"]


def sync_driver(fake, **kwargs):
    return SyncDriver(fake.read32, fake.write32, base=BASE, **kwargs)


def async_driver(fake, **kwargs):
    async def read32(addr):
        await asyncio.sleep(0)
        return fake.read32(addr)

    async def write32(addr, value):
        await asyncio.sleep(0)
        fake.write32(addr, value)

    return AsyncDriver(read32, write32, base=BASE, **kwargs)


DESC_OFFSETS = [reg.offset for reg, _word in descriptor_registers(GOOD)]
START_WORD = REGS.CTRL.pack(START=1, OPCODE=0)


def test_host_driver_run_gemm_sequence():
    fake = FakeAccel(busy_polls=4)
    result = sync_driver(fake).run_gemm(GOOD)
    assert result.ok and result.code == ErrorCode.NONE and result.polls == 5
    assert fake.latched == GOOD, "the registers do not describe the descriptor"
    writes = fake.writes()
    n = len(DESC_OFFSETS)
    # Every descriptor word once, in map order, then START, then only the W1C.
    assert [offset for offset, _ in writes[:n]] == DESC_OFFSETS
    assert writes[:n] == [(r.offset, w) for r, w in descriptor_registers(GOOD)]
    assert writes[n] == (REGS.CTRL.offset, START_WORD)
    irq_w1c = REGS.IRQ_STATUS.DONE.mask | REGS.IRQ_STATUS.ERROR.mask
    assert writes[n + 1 :] == [(REGS.IRQ_STATUS.offset, irq_w1c)]
    assert fake.words["IRQ_STATUS"] == 0, "IRQ_STATUS not cleared"
    # After START: STATUS polls, then the counters LO, HI; no ERR_INFO read on success.
    after = fake.log[fake.log.index(("W", REGS.CTRL.offset, START_WORD)) + 1 :]
    reads = [offset for op, offset, _ in after if op == "R"]
    assert reads[:5] == [REGS.STATUS.offset] * 5
    perf_offsets = [REGS[f"PERF_{name}_{half}"].offset for name in PERF_NAMES
                    for half in ("LO", "HI")]  # fmt: skip
    assert reads[5:-1] == perf_offsets
    assert reads[-1] == REGS.IRQ_STATUS.offset


def test_host_driver_descriptor_words_round_trip():
    """Signed fields (Q_ZP, QMIN, QMAX) and 64-bit addresses survive the register words."""
    for desc in (GOOD, Descriptor(q_zp=-(1 << 31), qmin=-128, qmax=-1, c_addr=(1 << 64) - 16)):
        fake = FakeAccel()
        drv = sync_driver(fake)
        drv.program(desc)
        assert fake.log and all(op == "W" for op, *_ in fake.log)
        assert descriptor_from_registers({**fake.words, "CTRL": 0}) == desc


def test_host_driver_identify():
    info = sync_driver(FakeAccel()).identify()
    assert (info.rows, info.cols, info.mac, info.acc_width) == (4, 8, "int8", ARRAY.acc_width)
    assert (info.bus_bytes, info.data_width, info.alignment) == (16, 128, 16)
    assert info.tiles == (32, 32, 64)
    assert (info.addr_width, info.outstanding_reads) == (64, FRONTEND.outstanding_reads)
    assert info.max_dim == LIMITS.max_dim
    major, minor, patch = info.version
    assert (
        REGS.VERSION.pack(MAJOR=major, MINOR=minor, PATCH=patch)
        == hwcfg_values(ARRAY, FRONTEND)["VERSION"]
    )


def test_host_driver_identify_attention_unit():
    """HWCFG4–6 give the attention unit back field for field; all zero means none."""
    assert sync_driver(FakeAccel()).identify().attention is None
    unit = AttentionConfig(block_lq=16, block_lk=48, max_lk=3000, max_d=96, max_dv=80, p_bits=16)
    assert sync_driver(FakeAccel(attention=unit)).identify().attention == unit


def test_host_driver_identify_wrong_device():
    with pytest.raises(DeviceError, match="0xdeadbeef"):
        sync_driver(FakeAccel(ident=0xDEADBEEF)).identify()


def test_host_driver_perf_reads_lo_then_hi():
    """Counters above 2^32 that carry into HI between the two reads: one LO-then-HI sample
    (HI first would read a stale latch)."""
    fake = FakeAccel()
    fake.perf_step = 0x40
    values = sync_driver(fake).read_perf()
    assert list(values) == list(PERF_NAMES)
    for i, name in enumerate(PERF_NAMES):
        assert values[name] == 0x1_FFFF_FFF0 + i + 2 * i * fake.perf_step, (name, values[name])


AXI_ERRORS = [
    (ErrorCode.AXI_RD_SLVERR, ErrSource.READ_A, 0x1_0000_0040),
    (ErrorCode.AXI_RD_DECERR, ErrSource.READ_B, 0x2100),
    (ErrorCode.AXI_RD_SLVERR, ErrSource.READ_QP, 0x9000),
    (ErrorCode.AXI_WR_SLVERR, ErrSource.WRITE_C, 0x8020),
    (ErrorCode.AXI_WR_DECERR, ErrSource.WRITE_C, 0xFFFF_FFF0_0000_0000),
]


@pytest.mark.parametrize(("code", "source", "address"), AXI_ERRORS)
def test_host_driver_axi_errors(code, source, address):
    fake = FakeAccel(outcome=(code, source, address))
    with pytest.raises(GemmError) as info:
        sync_driver(fake).run_gemm(GOOD)
    err = info.value
    assert (err.code, err.source, err.address) == (code, source, address)
    assert isinstance(err.code, ErrorCode) and isinstance(err.source, ErrSource)
    assert code.name in str(err) and source.name in str(err) and f"{address:#x}" in str(err)
    assert err.result is not None and err.result.perf is not None
    assert fake.words["IRQ_STATUS"] == 0, "IRQ_STATUS not cleared before raising"
    reads = [offset for op, offset, _ in fake.log if op == "R"]
    assert REGS.ERR_INFO.offset in reads and REGS.ERR_ADDR_HI.offset in reads


def bad(**changes):
    return Descriptor(**{**GOOD.__dict__, **changes})


DESCRIPTOR_ERRORS = {
    ErrorCode.DESC_OPCODE: bad(opcode=3),
    ErrorCode.DESC_ZERO_DIM: bad(k=0),
    ErrorCode.DESC_DIM_RANGE: bad(k=ARRAY.max_k + 1, a_stride=(ARRAY.max_k // 16 + 1) * 16),
    ErrorCode.DESC_ALIGN: bad(b_addr=0x2008),
    ErrorCode.DESC_STRIDE: bad(c_stride=16),
    ErrorCode.DESC_RANGE: bad(mem_limit=0x9000),
    ErrorCode.DESC_QPARAM: bad(qmin=10, qmax=9),
}


@pytest.mark.parametrize("code", list(DESCRIPTOR_ERRORS), ids=lambda c: c.name)
def test_host_driver_descriptor_errors(code):
    desc = DESCRIPTOR_ERRORS[code]
    assert check_descriptor(desc, LIMITS) == code  # the case is what it claims
    fake = FakeAccel()
    with pytest.raises(GemmError, match=f"{code.name} .* from DESCRIPTOR at address 0x0") as info:
        sync_driver(fake).run_gemm(desc)
    assert info.value.code == code and info.value.source == ErrSource.DESCRIPTOR
    # The same error found on the host: no bus access at all.
    fake = FakeAccel()
    with pytest.raises(GemmError, match=code.name):
        sync_driver(fake).run_gemm(desc, limits=LIMITS)
    assert fake.log == []


def test_host_driver_abort():
    fake = FakeAccel(busy_polls=100)
    drv = sync_driver(fake)
    drv.program(GOOD)
    drv.start(irq_done=True, irq_err=True)
    drv.abort()
    ctrl = fake.writes()[-1]
    enables = REGS.CTRL.IRQ_DONE_EN.mask | REGS.CTRL.IRQ_ERR_EN.mask
    assert ctrl == (REGS.CTRL.offset, enables | REGS.CTRL.ABORT.mask), "ABORT lost the enables"
    result = drv.wait(poll_limit=5)
    assert not result.ok and result.code == ErrorCode.ABORTED
    with pytest.raises(GemmError, match="ABORTED"):
        result.raise_for_error()


def test_host_driver_start_while_busy():
    fake = FakeAccel(busy_polls=2)
    drv = sync_driver(fake)
    drv.program(GOOD)
    drv.start()
    drv.start()  # refused: the running job goes on, ERROR with BUSY
    result = drv.wait()
    assert result.code == ErrorCode.BUSY and result.source == ErrSource.DESCRIPTOR


def test_host_driver_timeout_and_idle():
    fake = FakeAccel(busy_polls=10)
    idles = []
    drv = sync_driver(fake, idle=lambda: idles.append(1))
    drv.program(GOOD)
    drv.start()
    with pytest.raises(GemmTimeout, match="4 STATUS reads"):
        drv.wait(poll_limit=4)
    assert len(idles) == 3  # between polls only
    assert drv.wait(poll_limit=10).ok
    with pytest.raises(ValueError, match="poll_limit"):
        next(wait(0))


def test_host_driver_clear_irq_w1c():
    fake = FakeAccel(busy_polls=0, outcome=(ErrorCode.AXI_RD_SLVERR, ErrSource.READ_A, 0x40))
    drv = sync_driver(fake)
    drv.program(GOOD)
    drv.start()
    assert drv.wait().code == ErrorCode.AXI_RD_SLVERR
    both = REGS.IRQ_STATUS.DONE.mask | REGS.IRQ_STATUS.ERROR.mask
    assert drv.clear_irq(error=False) == both
    assert fake.writes()[-1] == (REGS.IRQ_STATUS.offset, REGS.IRQ_STATUS.DONE.mask)
    assert fake.words["IRQ_STATUS"] == REGS.IRQ_STATUS.ERROR.mask
    assert drv.clear_irq() == REGS.IRQ_STATUS.ERROR.mask
    assert fake.words["IRQ_STATUS"] == 0


def test_host_driver_async_matches_sync():
    outcome = (ErrorCode.AXI_WR_DECERR, ErrSource.WRITE_C, 0x8040)
    sync_fake, async_fake = FakeAccel(outcome=outcome), FakeAccel(outcome=outcome)
    with pytest.raises(GemmError) as sync_err:
        sync_driver(sync_fake).run_gemm(GOOD)

    idles = []

    async def idle():
        idles.append(1)

    async def main():
        drv = async_driver(async_fake, idle=idle)
        info = await drv.identify()
        with pytest.raises(GemmError) as async_err:
            await drv.run_gemm(GOOD)
        return info, async_err.value

    info, err = asyncio.run(main())
    assert info == sync_driver(FakeAccel()).identify()
    assert (err.code, err.source, err.address) == (
        sync_err.value.code,
        sync_err.value.source,
        sync_err.value.address,
    )
    assert async_fake.log[9:] == sync_fake.log  # after identify's nine reads
    assert len(idles) == 3


def test_host_driver_requires_descriptor():
    with pytest.raises(TypeError, match="Descriptor"):
        sync_driver(FakeAccel()).program({"m": 1})
    with pytest.raises(TypeError, match="DescriptorLimits"):
        sync_driver(FakeAccel()).run_gemm(GOOD, limits=FRONTEND)
    assert isinstance(LIMITS, DescriptorLimits) and OUT_RAW


def test_host_driver_imports_without_amaranth():
    code = "import sys, host.driver; assert 'amaranth' not in sys.modules, 'amaranth imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]
