"""The AXI read-channel protocol checker (``tb.drivers.axi_checks``) on hand-made cycle
sequences: a clean sequence passes with the right counts, and each broken rule is reported
with its cycle."""

import pytest

from tb.drivers.axi_checks import AxiReadChecker, ReadSample

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
         "cycle 2: R beat changed while RREADY was low"),
        ([ar(0, 0), r(1, last=True, ready=False), r(1, last=True, resp=2)],
         "R beat changed while RREADY was low"),
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
