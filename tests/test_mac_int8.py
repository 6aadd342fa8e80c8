# amaranth: UnusedElaboratable=no
"""INT8 MAC unit: exhaustive over every 9-bit × 8-bit operand pair, in Amaranth's simulator."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from golden.int8 import wrap
from hdl.arith import Int8Arithmetic
from hdl.arith.mac_int8 import Int8Mac


def _run(dut, testbench):
    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("acc_width", [17, 28])
def test_mac_int8_exhaustive(acc_width):
    """All 512 × 256 operand pairs (covers int8×int8 and uint8×int8), psum_in at the wrap edges."""
    dut = Int8Mac(acc_width=acc_width)
    hi = (1 << (acc_width - 1)) - 1
    lo = -(1 << (acc_width - 1))
    psums = [0, hi, lo, -1, 12345]
    rng = np.random.default_rng(acc_width)
    failures = []

    async def testbench(ctx):
        for w in range(-128, 128):
            ctx.set(dut.w, w)
            for a in range(-256, 256):
                psum = psums[(a + w) % len(psums)] if a % 7 else int(rng.integers(lo, hi + 1))
                ctx.set(dut.a, a)
                ctx.set(dut.psum_in, psum)
                got = ctx.get(dut.psum_out)
                want = wrap(psum + a * w, acc_width)
                if got != want and not failures:
                    failures.append((a, w, psum, got, want))

    _run(dut, testbench)
    assert not failures, "a={} w={} psum_in={}: got {}, want {}".format(*failures[0])


@pytest.mark.parametrize("stages", [2, 3])
def test_mac_int8_pipelined_multiplier(stages):
    """``product_registers`` 2 and 3 (the split multiplier): ``psum_out`` adds the product of
    the operands ``stages`` cycles earlier, for random and extreme operands."""
    acc_width = 24
    dut = Int8Mac(acc_width=acc_width, product_registers=stages, lut_multiplier=True)
    assert dut.latency == stages
    rng = np.random.default_rng(stages)
    count = 3000
    a = rng.integers(-128, 256, count)
    w = rng.integers(-128, 128, count)
    a[::5], w[::7] = 255, -128
    a[1::5], w[1::7] = -128, 127
    psum = rng.integers(-(1 << (acc_width - 1)), 1 << (acc_width - 1), count)
    failures = []

    async def testbench(ctx):
        for t in range(count):
            ctx.set(dut.a, int(a[t]))
            ctx.set(dut.w, int(w[t]))
            ctx.set(dut.psum_in, int(psum[t]))
            if t >= stages:
                want = wrap(int(psum[t]) + int(a[t - stages]) * int(w[t - stages]), acc_width)
                got = ctx.get(dut.psum_out)
                if got != want and not failures:
                    failures.append((t, got, want))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert not failures, "cycle {}: got {}, want {}".format(*failures[0])


def test_mac_int8_rejects_narrow_accumulator():
    with pytest.raises(ValueError, match="acc_width must be between 16 and 64, got 8"):
        Int8Mac(acc_width=8)


@pytest.mark.parametrize("act_unsigned", [False, True])
def test_act_operand_extension(act_unsigned):
    """Every 8-bit code becomes the right 9-bit operand: sign-extended int8, zero-extended uint8."""
    m = Module()
    code = Signal(8)
    flag = Signal()
    operand = Signal(signed(9))
    m.d.comb += operand.eq(Int8Arithmetic(28).act_operand(m, code, flag, name="decoder"))
    seen = []

    async def testbench(ctx):
        ctx.set(flag, act_unsigned)
        for c in range(256):
            ctx.set(code, c)
            seen.append(ctx.get(operand))

    _run(m, testbench)
    want = [c if act_unsigned else (c - 256 if c >= 128 else c) for c in range(256)]
    assert seen == want
