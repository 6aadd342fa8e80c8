# amaranth: UnusedElaboratable=no
"""DescriptorCheck in Amaranth's simulator against ``golden.descriptor.check_descriptor``: the
table of illegal and edge descriptors, then seeded random descriptors biased to the edges, one
descriptor per cycle through the pipeline, compared code for code."""

import collections
import dataclasses

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator
from descriptor_cases import (
    ATT_LIMITS,
    CASES,
    LIMITS,
    random_attention_descriptors,
    random_descriptors,
)

from golden.descriptor import CHECK_ORDER, ErrorCode, check_descriptor
from golden.frontend import FrontendConfig
from hdl.config import ArrayConfig
from hdl.ctrl.desc_check import DescriptorCheck, reciprocal
from hdl.ctrl.regs import desc_layout, descriptor_limits

#: Random descriptors per limits; each check must have decided at least MIN_PER_CODE of them.
RANDOM_COUNT = 1500
#: Random ATTENTION descriptors per limits with an attention unit.
ATT_RANDOM_COUNT = 2000
MIN_PER_CODE = 8


def run_pipeline(limits, descriptors):
    """Codes of ``descriptors`` from the hardware, one descriptor offered per cycle."""
    dut = DescriptorCheck(limits)
    layout = desc_layout()
    m = Module()
    m.submodules.dut = dut
    codes = []

    async def testbench(ctx):
        # Descriptor i is offered before edge i (edges counted from 0); its code shows after
        # edge i + latency - 1.
        stream = list(descriptors) + [descriptors[-1]] * (dut.latency - 1)
        for edge, desc in enumerate(stream):
            ctx.set(dut.desc, layout.const(dataclasses.asdict(desc)))
            await ctx.tick()
            if edge >= dut.latency - 1:
                codes.append(ctx.get(dut.err))

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return codes


def describe(desc, got, want):
    return f"hardware {ErrorCode(got).name}, golden {ErrorCode(want).name} for {desc}"


@pytest.mark.parametrize("limits_key", list(LIMITS))
def test_desc_check_cases(limits_key):
    """Every table case of these limits gives its hand-worked code."""
    cases = [(name, d, e) for name, lk, d, e in CASES if lk == limits_key]
    codes = run_pipeline(LIMITS[limits_key], [d for _, d, _ in cases])
    for (name, desc, expected), got in zip(cases, codes, strict=True):
        assert got == expected, f"{name}: {describe(desc, got, expected)}"


@pytest.mark.parametrize("limits_key", list(LIMITS))
def test_desc_check_random(limits_key, seed):
    limits = LIMITS[limits_key]
    descriptors = random_descriptors(seed, limits, RANDOM_COUNT)
    codes = run_pipeline(limits, descriptors)
    seen = collections.Counter()
    for i, (desc, got) in enumerate(zip(descriptors, codes, strict=True)):
        want = check_descriptor(desc, limits)
        assert got == want, f"descriptor {i} (seed={seed}): {describe(desc, got, want)}"
        seen[want] += 1
    # The stimulus must reach every check (DESC_QPARAM needs an INT8 array).
    needed = [c for c in CHECK_ORDER if limits.mac == "int8" or c != ErrorCode.DESC_QPARAM]
    for code in [ErrorCode.NONE, *needed]:
        assert seen[code] >= MIN_PER_CODE, f"only {seen[code]} descriptors gave {code.name}"


@pytest.mark.parametrize("limits_key", ATT_LIMITS)
def test_desc_check_attention_random(limits_key, seed):
    """Random ATTENTION descriptors near every check's edges, code for code with golden."""
    limits = LIMITS[limits_key]
    descriptors = random_attention_descriptors(seed, limits, ATT_RANDOM_COUNT)
    codes = run_pipeline(limits, descriptors)
    seen = collections.Counter()
    for i, (desc, got) in enumerate(zip(descriptors, codes, strict=True)):
        want = check_descriptor(desc, limits)
        assert got == want, f"descriptor {i} (seed={seed}): {describe(desc, got, want)}"
        seen[want] += 1
    for code in [ErrorCode.NONE, *CHECK_ORDER]:
        assert seen[code] >= MIN_PER_CODE, f"only {seen[code]} descriptors gave {code.name}"


def test_desc_check_latency():
    """The code follows its descriptor exactly ``latency`` = 7 cycles later, not earlier; the
    output is NONE after reset."""
    limits = LIMITS["int8"]
    dut = DescriptorCheck(limits)
    assert dut.latency == 7
    layout = desc_layout()
    bad = dataclasses.replace(CASES[0][2], m=0)
    seen = []

    async def testbench(ctx):
        seen.append(ctx.get(dut.err))
        ctx.set(dut.desc, layout.const(dataclasses.asdict(bad)))
        for _ in range(dut.latency + 1):
            await ctx.tick()
            seen.append(ctx.get(dut.err))

    m = Module()
    m.submodules.dut = dut
    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    # reset, NONE until the last stage has taken the descriptor, then its code, and it stays
    zero_dim = ErrorCode.DESC_ZERO_DIM
    assert seen == [0] * dut.latency + [zero_dim, zero_dim]


@pytest.mark.parametrize("divisor", [8, 24, 48, 64, 80, 96, 112, 200, 65520])
def test_desc_check_reciprocal_is_exact(divisor):
    """The constant division behind the packed-B panel count, for every 16-bit dividend."""
    mult, shift = reciprocal(divisor, 16)
    for x in range(1 << 16):
        assert (x * mult) >> shift == x // divisor, (x, divisor)


def test_desc_check_limits_from_configs():
    limits = descriptor_limits(
        ArrayConfig(rows=4, cols=4, mac="e5m2", max_k=100),
        FrontendConfig(addr_width=64),
        max_dim=1000,
    )
    assert (limits.mac, limits.max_k, limits.max_dim, limits.max_k_dim) == ("e5m2", 100, 1000, 100)
    assert limits.addr_limit == 1 << 64
    with pytest.raises(TypeError, match="limits must be a DescriptorLimits"):
        DescriptorCheck(FrontendConfig())
