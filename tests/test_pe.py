"""ProcessingElement in Amaranth's simulator: links, shadow loading and the switch timing."""

import random
from collections import deque

import pytest
from amaranth.sim import Simulator

from golden.int8 import wrap
from hdl.arith import Int8Arithmetic
from hdl.arith.arithmetic import ecp5_int8_mac_latency
from hdl.array.pe import ProcessingElement

ACC_WIDTH = 20


class PEModel:
    """Cycle-level reference of one PE, written from the PE's documented behaviour: the
    partial sum adds the product of the operands that arrived ``latency`` cycles earlier."""

    def __init__(self, latency):
        self.shadow = None
        self.weight = None
        self.outputs = None
        self.products = deque([None] * latency)

    def step(self, a, switch, w, w_load, psum):
        if switch:
            active = self.shadow
            self.weight = self.shadow
        else:
            active = self.weight
        self.products.append(None if active is None else a * active)
        product = self.products.popleft()
        product_sum = None if product is None else wrap(psum + product, ACC_WIDTH)
        outputs = {
            "a_out": a,
            "switch_out": switch,
            "w_out": w,
            "w_load_out": w_load,
            "psum_out": product_sum,
        }
        if w_load:
            self.shadow = w
        self.outputs = outputs


@pytest.mark.parametrize("mac_pipeline", [0, 1, 2])
def test_pe_random_traffic_matches_model(mac_pipeline):
    """Random loads, switches and operands; every output, every cycle, equals the model."""
    dut = ProcessingElement(arith=Int8Arithmetic(ACC_WIDTH, mac_pipeline=mac_pipeline))
    _random_traffic(dut, PEModel(latency=mac_pipeline))


def _random_traffic(dut, model):
    rng = random.Random(7)
    problems = []

    async def testbench(ctx):
        # Load a first weight before any switch, as the array guarantees.
        for cycle in range(3000):
            a = rng.randrange(-256, 256)
            w = rng.randrange(-128, 128)
            w_load = cycle == 0 or rng.random() < 0.3
            switch = cycle == 1 or (cycle > 1 and rng.random() < 0.2)
            psum = rng.randrange(-(1 << (ACC_WIDTH - 1)), 1 << (ACC_WIDTH - 1))
            ctx.set(dut.a_in, a)
            ctx.set(dut.switch_in, switch)
            ctx.set(dut.w_in, w & 0xFF)
            ctx.set(dut.w_load_in, w_load)
            ctx.set(dut.psum_in, psum)
            model.step(a, switch, w, w_load, psum)
            await ctx.tick()
            want = model.outputs
            got = {
                "a_out": ctx.get(dut.a_out),
                "switch_out": ctx.get(dut.switch_out),
                "w_out": ctx.get(dut.w_out),
                "w_load_out": ctx.get(dut.w_load_out),
                "psum_out": ctx.get(dut.psum_out),
            }
            want["w_out"] &= 0xFF
            for name, value in want.items():
                if value is not None and got[name] != value and not problems:
                    problems.append(f"cycle {cycle}: {name} = {got[name]}, expected {value}")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert not problems, problems[0]


@pytest.mark.parametrize("mac_pipeline", [0, 1, 2])
def test_pe_padded_lut_mac_matches_model(mac_pipeline):
    """The LUT PE of an ``auto`` array: padded to the ECP5 PE's latency ``3 + mac_pipeline``
    with the pipelined multiplier, same links and switch timing."""
    latency = ecp5_int8_mac_latency(mac_pipeline)
    assert latency == 3 + mac_pipeline
    arith = Int8Arithmetic(
        ACC_WIDTH, mac_pipeline=mac_pipeline, multiplier="lut", mac_latency=latency
    )
    assert arith.mac_latency == latency
    _random_traffic(ProcessingElement(arith=arith), PEModel(latency=latency))


def test_pe_switch_uses_shadow_written_same_cycle_safely():
    """A shadow write in the switch cycle must not leak into the switching fold."""
    dut = ProcessingElement(arith=Int8Arithmetic(ACC_WIDTH, mac_pipeline=0))
    seen = []

    async def testbench(ctx):
        ctx.set(dut.w_in, 5)
        ctx.set(dut.w_load_in, 1)
        await ctx.tick()
        # Switch to weight 5 while weight 9 for the next fold is written.
        ctx.set(dut.w_in, 9)
        ctx.set(dut.switch_in, 1)
        ctx.set(dut.a_in, 3)
        await ctx.tick()
        seen.append(ctx.get(dut.psum_out))
        ctx.set(dut.w_load_in, 0)
        ctx.set(dut.switch_in, 0)
        ctx.set(dut.a_in, -2)
        await ctx.tick()
        seen.append(ctx.get(dut.psum_out))
        ctx.set(dut.switch_in, 1)
        await ctx.tick()
        seen.append(ctx.get(dut.psum_out))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert seen == [15, -10, -18]
