"""The AXI protocol checkers (``tb.drivers.axi_checks``: read channels, write channels) and the
write containment monitor on hand-made cycle sequences: a clean sequence passes with the right
counts, and each broken rule is reported with its cycle."""

import pytest

from tb.drivers.axi_checks import (
    AxiReadChecker,
    AxiWriteChecker,
    ContainmentMonitor,
    ReadSample,
    WriteSample,
)

W = 16  # bytes per beat at data_width=128


def ar(addr, length, *, ready=True, **kw):
    return ReadSample(arvalid=True, arready=ready, araddr=addr, arlen=length, arsize=4, **kw)


def r(data=0, *, last=False, ready=True, resp=0, **kw):
    return ReadSample(rvalid=True, rready=ready, rdata=data, rlast=last, rresp=resp, **kw)


def both(a, b):
    """One cycle with the AR fields of ``a`` and the R fields of ``b``."""
    return ReadSample(
        **{f: getattr(a if f.startswith("ar") else b, f) for f in ReadSample.__dataclass_fields__}
    )


def run(cycles, *, max_burst=4, outstanding=2):
    checker = AxiReadChecker(data_width=128, max_burst=max_burst, outstanding=outstanding)
    for cycle, sample in enumerate(cycles):
        checker.step(cycle, sample)
    return checker


IDLE = ReadSample()


def test_axi_checks_clean_sequence():
    checker = run(
        [
            ar(0x1000, 1, ready=False),  # offered at 0, stalled
            ar(0x1000, 1),  # taken at 1
            ar(0x1FC0, 3),  # 4 beats up to 0x1FFF: no crossing
            r(1, ready=False),
            both(IDLE, r(1)),
            r(2, last=True),  # first burst done
            r(3),
            r(4),
            r(5, ready=False),
            r(5),
            r(6, last=True),
            IDLE,
        ]
    )
    assert checker.violations == []
    assert [(a.offered, a.cycle, a.addr, a.len) for a in checker.ars] == [
        (0, 1, 0x1000, 1),
        (2, 2, 0x1FC0, 3),
    ]
    assert len(checker.r_beats) == 6
    assert (checker.ar_stalled, checker.r_stalled) == (1, 2)
    assert (checker.max_outstanding, checker.outstanding) == (2, 0)


@pytest.mark.parametrize(
    ("cycles", "message"),
    [
        ([ar(0, 0, ready=False), IDLE], "cycle 1: ARVALID dropped before ARREADY"),
        ([ar(0, 0, ready=False), ar(0x10, 0)], "cycle 1: AR changed while ARREADY was low"),
        ([ar(0, 0, ready=False), ar(0, 1)], "AR changed while ARREADY was low: araddr=0x0, "
         "arlen=0x0"),
        ([ar(0, 4)], "cycle 0: ARLEN 4: 5 beats, more than 4"),
        ([ReadSample(arvalid=True, arready=True, arsize=3)], "ARSIZE 3, not 4"),
        ([ar(0, 0, arburst=0b00)], "ARBURST 0, not INCR"),
        ([ar(0, 0, arburst=0b10)], "ARBURST 2, not INCR"),
        ([ar(0, 0, arid=1)], "ARID 1, not 0"),
        ([ar(0xFF0, 1)], "burst 0xff0..0x100f crosses a 4 KiB boundary"),
        ([ar(0, 0), ar(0x10, 0), ar(0x20, 0)], "cycle 2: 3 bursts in flight, more than the "
         "limit 2"),
        ([r(1, last=True)], "cycle 0: R beat with no burst in flight"),
        ([ar(0, 1), r(1, last=True)], "cycle 1: RLAST 1 on a beat that is not its burst's last"),
        ([ar(0, 0), r(1)], "cycle 1: RLAST 0 on a beat that is its burst's last"),
        ([ar(0, 0), r(1, last=True, ready=False), IDLE], "cycle 2: RVALID dropped before RREADY"),
        ([ar(0, 0), r(1, last=True, ready=False), r(2, last=True)],
         "cycle 2: R changed while RREADY was low"),
        ([ar(0, 0), r(1, last=True, ready=False), r(1, last=True, resp=2)],
         "R changed while RREADY was low"),
    ],
)  # fmt: skip
def test_axi_checks_flags_violation(cycles, message):
    checker = run(cycles)
    assert checker.violations, "no violation reported"
    assert any(message in line for line in checker.violations), checker.violations


def test_axi_checks_limit_counts_completion_first():
    """A burst whose last beat and a new AR's handshake share a cycle: the window holds."""
    checker = run([ar(0, 0), ar(0x10, 0), both(ar(0x20, 0), r(1, last=True))], outstanding=2)
    assert checker.violations == []
    assert checker.max_outstanding == 2


def test_axi_checks_stalled_ar_checked_once():
    """A bad AR held for three cycles is one violation, not three."""
    checker = run([ar(0, 7, ready=False)] * 3 + [ar(0, 7)])
    assert len(checker.violations) == 1


def test_axi_checks_reset_forgets_bursts():
    checker = run([ar(0, 3)])
    checker.reset()
    checker.step(1, IDLE)
    assert checker.outstanding == 0 and checker.violations == []


# --- Write channels -----------------------------------------------------------------------------


def aw(addr, length, *, ready=True, **kw):
    return WriteSample(awvalid=True, awready=ready, awaddr=addr, awlen=length, awsize=4, **kw)


def w(data=0, *, last=False, ready=True, strb=0xFFFF, **kw):
    return WriteSample(wvalid=True, wready=ready, wdata=data, wstrb=strb, wlast=last, **kw)


def b(*, ready=True, resp=0, **kw):
    return WriteSample(bvalid=True, bready=ready, bresp=resp, **kw)


def merge(*samples):
    """One cycle with the AW fields of the first sample that drives AW, and so on for W and B."""
    out = {}
    for channel in ("aw", "w", "b"):
        src = next((x for x in samples if getattr(x, f"{channel}valid")), WIDLE)
        out.update({f: getattr(src, f) for f in WriteSample.__dataclass_fields__
                    if f.startswith(channel)})  # fmt: skip
    return WriteSample(**out)


def wrun(cycles, *, max_burst=4, outstanding=2):
    checker = AxiWriteChecker(data_width=128, max_burst=max_burst, outstanding=outstanding)
    for cycle, sample in enumerate(cycles):
        checker.step(cycle, sample)
    return checker


WIDLE = WriteSample()


def test_axi_write_checks_clean_sequence():
    checker = wrun(
        [
            aw(0x1000, 1, ready=False),  # offered at 0, stalled
            merge(aw(0x1000, 1), w(1, ready=False)),  # AW taken at 1, W stalled
            merge(aw(0x1FC0, 3), w(1)),  # second AW (up to 0x1FFF), first W beat
            w(2, last=True),  # first burst's W done
            merge(w(3), b(ready=False)),
            merge(w(4), b()),  # first B
            w(5),
            w(6, last=True),
            b(resp=2),
            WIDLE,
        ]
    )
    assert checker.violations == []
    assert [(a.offered, a.cycle, a.addr, a.len) for a in checker.aws] == [
        (0, 1, 0x1000, 1),
        (2, 2, 0x1FC0, 3),
    ]
    assert [(r.burst, r.beat, r.addr, r.last) for r in checker.w_beats] == [
        (0, 0, 0x1000, False),
        (0, 1, 0x1010, True),
        (1, 0, 0x1FC0, False),
        (1, 1, 0x1FD0, False),
        (1, 2, 0x1FE0, False),
        (1, 3, 0x1FF0, True),
    ]
    assert checker.b_resps == [(5, 0), (8, 2)]
    assert (checker.aw_stalled, checker.w_stalled, checker.b_stalled) == (1, 1, 1)
    assert (checker.max_outstanding, checker.outstanding, checker.pending_w) == (2, 0, 0)


def test_axi_write_checks_w_before_aw():
    """W beats may come before their AW: they are matched once it arrives."""
    checker = wrun([w(1), w(2, last=True), aw(0x40, 1), b()])
    assert checker.violations == []
    assert [(r.cycle, r.addr, r.last) for r in checker.w_beats] == [(0, 0x40, False),
                                                                    (1, 0x50, True)]  # fmt: skip
    assert checker.outstanding == 0


@pytest.mark.parametrize(
    ("cycles", "message"),
    [
        ([aw(0, 0, ready=False), WIDLE], "cycle 1: AWVALID dropped before AWREADY"),
        ([aw(0, 0, ready=False), aw(0x10, 0)], "cycle 1: AW changed while AWREADY was low: "
         "awaddr=0x0"),
        ([aw(0, 0, ready=False), aw(0, 1)], "AW changed while AWREADY was low"),
        ([aw(0, 4)], "cycle 0: AWLEN 4: 5 beats, more than 4"),
        ([WriteSample(awvalid=True, awready=True, awsize=3)], "AWSIZE 3, not 4"),
        ([aw(0, 0, awburst=0b00)], "AWBURST 0, not INCR"),
        ([aw(0, 0, awburst=0b10)], "AWBURST 2, not INCR"),
        ([aw(0, 0, awid=1)], "AWID 1, not 0"),
        ([aw(0xFF0, 1)], "burst 0xff0..0x100f crosses a 4 KiB boundary"),
        ([aw(0, 0), aw(0x10, 0), aw(0x20, 0)], "cycle 2: 3 write bursts in flight, more than "
         "the limit 2"),
        ([w(1, ready=False), WIDLE], "cycle 1: WVALID dropped before WREADY"),
        ([w(1, ready=False), w(2)], "cycle 1: W changed while WREADY was low"),
        ([w(1, ready=False), w(1, strb=0xFF)], "W changed while WREADY was low"),
        ([w(1, ready=False, last=True), w(1)], "W changed while WREADY was low"),
        ([aw(0, 1), w(1, last=True), w(2, last=True)], "cycle 1: WLAST 1 on beat 0 of the "
         "AWLEN 1 burst at 0x0, a beat that is not its burst's last"),
        ([aw(0, 1), w(1), w(2)], "cycle 2: WLAST 0 on beat 1 of the AWLEN 1 burst at 0x0, a "
         "beat that is its burst's last"),
        ([w(1), aw(0, 0)], "cycle 0: WLAST 0 on beat 0"),
        ([b()], "cycle 0: B response with no burst in flight"),
        ([aw(0, 1), w(1), b()], "cycle 2: B response before its burst's last W beat"),
        ([aw(0, 0), w(1, last=True), b(ready=False), WIDLE], "cycle 3: BVALID dropped before "
         "BREADY"),
        ([aw(0, 0), w(1, last=True), b(ready=False), b(resp=2)], "cycle 3: B changed while "
         "BREADY was low: bresp=0x0, bid=0x0 -> bresp=0x2"),
    ],
)  # fmt: skip
def test_axi_write_checks_flags_violation(cycles, message):
    checker = wrun(cycles)
    assert checker.violations, "no violation reported"
    assert any(message in line for line in checker.violations), checker.violations


def test_axi_write_checks_b_and_last_w_same_cycle():
    """A B in the cycle of its burst's last W beat is too early (B follows the W handshake)."""
    checker = wrun([aw(0, 0), merge(w(1, last=True), b())])
    assert any("before its burst's last W beat" in v for v in checker.violations)


def test_axi_write_checks_limit_counts_completion_first():
    """A B and a new AW in one cycle: the window holds."""
    checker = wrun(
        [aw(0, 0), merge(aw(0x10, 0), w(1, last=True)), w(2, last=True), merge(aw(0x20, 0), b())]
    )
    assert checker.violations == []
    assert checker.max_outstanding == 2


def test_axi_write_checks_stalled_aw_checked_once():
    checker = wrun([aw(0, 7, ready=False)] * 3 + [aw(0, 7)])
    assert len(checker.violations) == 1


def test_axi_write_checks_reset_forgets_bursts():
    checker = wrun([aw(0, 3), w(1)])
    checker.reset()
    checker.step(2, b())
    assert checker.outstanding == 0 and checker.pending_w == 0
    assert checker.violations == ["cycle 2: B response with no burst in flight"]


# --- Containment --------------------------------------------------------------------------------

# C: 3 rows of 20 bytes at 0x1000, stride 48 (16-byte beats): rows [0x1000, 0x1014),
# [0x1030, 0x1044), [0x1060, 0x1074).
REGION = {"c_addr": 0x1000, "c_stride": 48, "rows": 3, "row_bytes": 20}


def contain(cycles, **region):
    monitor = ContainmentMonitor(**{**REGION, **region}, data_width=128)
    for cycle, sample in enumerate(cycles):
        monitor.step(cycle, sample)
    return monitor


def test_containment_clean_rows():
    """Every row written through its last valid byte, the rest of its beats masked."""
    monitor = contain(
        [
            aw(0x1000, 1),
            w(1),
            w(2, strb=0x000F, last=True),  # bytes 0x1010..0x1013
            merge(aw(0x1030, 1), w(3)),
            w(4, strb=0x000F, last=True),
            w(5),  # W before its AW
            merge(aw(0x1060, 1), w(6, strb=0x000F, last=True)),
            merge(aw(0x1070, 0), w(0, strb=0, last=True)),  # a beat with every strobe low
        ]
    )
    assert monitor.violations == [] and monitor.stray_bytes == 0
    assert monitor.bytes_written == 3 * 20


@pytest.mark.parametrize(
    ("cycles", "message"),
    [
        # One byte past the row (strobe bit 4 of the row's second beat).
        ([aw(0x1000, 1), w(1), w(2, strb=0x001F, last=True)],
         "cycle 2: beat at 0x1010 writes 1 byte(s) outside the destination: 0x1014"),
        # The gap between rows.
        ([aw(0x1020, 0), w(1, strb=0x8000, last=True)], "0x102f"),
        # Below C and past the last row.
        ([aw(0x0FF0, 0), w(1, strb=0x8000, last=True)], "0xfff"),
        ([aw(0x1090, 0), w(1, strb=0x0001, last=True)], "0x1090"),
        # The second beat of a burst, located through AWADDR.
        ([aw(0x1060, 2), w(1), w(2, strb=0x000F), w(3, strb=0x0001, last=True)],
         "cycle 3: beat at 0x1080 writes 1 byte(s) outside the destination: 0x1080"),
        # A wholly stray beat lists its first bytes.
        ([aw(0x2000, 0), w(1, last=True)], "16 byte(s) outside the destination: 0x2000, "
         "0x2001, 0x2002, 0x2003 …"),
    ],
)  # fmt: skip
def test_containment_flags_stray_bytes(cycles, message):
    monitor = contain(cycles)
    assert monitor.violations, "no violation reported"
    assert any(message in line for line in monitor.violations), monitor.violations


def test_containment_region_shapes():
    """Overlapping rows (stride below the row) and one row with stride 0."""
    overlap = ContainmentMonitor(c_addr=0, c_stride=16, rows=4, row_bytes=40, data_width=64)
    assert all(overlap.contains(a) for a in range(0, 3 * 16 + 40))
    assert not overlap.contains(3 * 16 + 40) and not overlap.contains(-1)
    single = ContainmentMonitor(c_addr=64, c_stride=0, rows=1, row_bytes=8, data_width=64)
    assert [a for a in range(0, 200) if single.contains(a)] == list(range(64, 72))
    region = ContainmentMonitor(**REGION, data_width=128)
    inside = [a for a in range(0x0F00, 0x1100) if region.contains(a)]
    want = [0x1000 + m * 48 + i for m in range(3) for i in range(20)]
    assert inside == want
    region.set_region(c_addr=0x1014, c_stride=48, rows=1, row_bytes=4)
    region.beat(0, 0x1010, 0x00F0)
    assert region.violations == []
    with pytest.raises(ValueError, match="rows"):
        region.set_region(c_addr=0, c_stride=16, rows=0, row_bytes=4)


def test_containment_for_descriptor():
    from golden.descriptor import Descriptor
    from golden.frontend import OUT_RAW

    desc = Descriptor(m=2, k=1, n=5, flags=OUT_RAW, c_addr=0x100, c_stride=32)
    monitor = ContainmentMonitor.for_descriptor(desc, mac="int8", data_width=128)
    assert (monitor.c_addr, monitor.c_stride, monitor.rows, monitor.row_bytes) == (
        0x100, 32, 2, 20)  # fmt: skip


# --- The memory model's fault selector (tb.drivers.memory.Fault) --------------------------------


def test_memory_fault_selects_beat():
    from tb.drivers.memory import Fault

    fault = Fault((0x1030, 0x1040), "read", "SLVERR", "middle")
    assert fault.addresses == range(0x1030, 0x1040)
    assert [fault.beat_index(n) for n in (1, 2, 5, 6)] == [0, 1, 2, 3]
    assert fault.hits(0x1000, 6, 16)  # beat 3 at 0x1030
    assert not fault.hits(0x1000, 4, 16)  # beat 2 at 0x1020
    assert not fault.hits(0x1010, 6, 16)  # beat 3 at 0x1040
    last = Fault(range(0x103F, 0x1040), "write", "DECERR", "last")
    assert last.hits(0x1000, 4, 16) and not last.hits(0x1000, 3, 16)
    assert Fault(range(0x1000, 0x1001), "read", "DECERR", "first").hits(0x100C, 1, 16)
    for bad in (
        dict(direction="rd"),
        dict(resp="OKAY"),
        dict(beat="second"),
        dict(addresses=range(5, 5)),
        dict(times=0),
    ):
        args = {"addresses": range(0, 16), "direction": "read", "resp": "SLVERR", **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            Fault(**args)


def test_containment_without_region_and_set_tensor():
    """No destination yet: every written byte is stray; ``set_tensor`` takes C's extent."""
    monitor = ContainmentMonitor()
    monitor.step(0, merge(aw(0x1000, 0), w(1, strb=0x0003, last=True)))
    assert monitor.stray_bytes == 2 and "0x1000, 0x1001" in monitor.violations[0]
    monitor.set_tensor(0x1000, 48, 20, 3)  # c_addr, c_stride, row_bytes, rows
    assert (monitor.c_addr, monitor.c_stride, monitor.rows, monitor.row_bytes) == (
        0x1000, 48, 3, 20)  # fmt: skip
    monitor.step(1, merge(aw(0x1060, 0), w(1, strb=0x000F, last=True)))
    assert len(monitor.violations) == 1


def test_axi_write_checks_aw_count():
    assert wrun([aw(0, 0), aw(0x10, 0, ready=False), aw(0x10, 0)]).aw_count == 2


def test_memory_fault_any_beat_and_cast():
    from tb.drivers.memory import Fault

    fault = Fault.cast({"addr": 0x1025, "kind": "write", "resp": "DECERR"})
    assert (fault.addresses, fault.direction, fault.beat) == (range(0x1025, 0x1026), "write", "any")
    assert fault.select(0x1000, 4, 16) == 2 and fault.select(0x1030, 4, 16) is None
    assert Fault.cast((range(0, 16), "read", "SLVERR", "last")).select(0, 1, 16) == 0
    assert Fault.cast(fault) is fault
