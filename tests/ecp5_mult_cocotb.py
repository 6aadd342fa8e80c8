"""cocotb half of ``tests/test_ecp5_mult18x18d.py``: drives the operand sequence of
``SYSTOLIX_MULT_STIMULUS`` (an ``.npz`` of ``a`` and ``b``) into the wrapped
``MULT18X18D`` model, one set per clock cycle, and saves ``p`` as sampled after every rising
edge to ``SYSTOLIX_MULT_OBSERVED`` (``.npy``); the test compares it with numpy."""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

CLOCK_NS = 10


@cocotb.test()
async def drive_and_sample(dut):
    stimulus = np.load(os.environ["SYSTOLIX_MULT_STIMULUS"])
    a, b = stimulus["a"], stimulus["b"]
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    dut.rst.value = 0
    observed = []
    for t in range(len(a)):
        # Inputs change between edges; rising edge t samples set t.
        dut.a.value = int(a[t])
        dut.b.value = int(b[t])
        await FallingEdge(dut.clk)
        observed.append(dut.p.value.to_signed())
    np.save(os.environ["SYSTOLIX_MULT_OBSERVED"], np.array(observed, dtype=np.int64))
