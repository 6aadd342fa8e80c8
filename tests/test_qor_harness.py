"""The place-and-route harness's own logic: its parity tree observes every bit it is given."""

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hdl.verify.qor_harness import PARITY_FAN_IN, registered_parity


@pytest.mark.parametrize("width", [1, 2, PARITY_FAN_IN, PARITY_FAN_IN + 1, 17, 226])
def test_registered_parity_is_the_xor_of_its_input_latency_cycles_later(width):
    m = Module()
    value = Signal(width)
    parity, latency = registered_parity(m, value)
    levels = 1
    while PARITY_FAN_IN**levels < width:
        levels += 1
    assert latency == levels  # one LUT level per register
    rng = random.Random(width)
    driven = [rng.getrandbits(width) for _ in range(40)]
    seen = []

    async def testbench(ctx):
        for word in driven:
            ctx.set(value, word)
            await ctx.tick()
            seen.append(ctx.get(parity))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    # After tick t the root holds the parity of the word driven latency − 1 ticks earlier.
    want = [bin(word).count("1") % 2 for word in driven]
    assert seen[latency - 1 :] == want[: len(driven) - latency + 1]
