"""The behavioural ``MULT18X18D`` model (``hdl/arith/ecp5_mult18x18d_sim.v``) under Verilator
against numpy, in the registered mode :func:`hdl.arith.ecp5_mac.mult18x18d` instantiates:
``P`` after rising edge t is ``A`` times ``B`` of edge t−1 (both input registers and the
output register on CE0, tied high); full-range signed 18-bit operands."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.arith.ecp5_mac import ECP5_MULT18X18D_SIM_MODEL, MULT18X18D_PARAMS, mult18x18d
from tb.verilator import VerilatorBuild

pytestmark = [pytest.mark.verilator, pytest.mark.xdist_group("ecp5-mult")]

TOP = "ecp5_mult_top"
CYCLES = 4000


class MultTop(wiring.Component):
    """One ``MULT18X18D`` as :class:`~hdl.arith.ecp5_mac.Ecp5Int8Mac` uses it, on 18-bit
    operands."""

    def __init__(self):
        super().__init__(
            {
                "a": In(signed(18)),
                "b": In(signed(18)),
                "p": Out(signed(36)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = mult18x18d(m, a=self.a, b=self.b, name="mult")
        m.d.comb += self.p.eq(p)
        return m


@dataclass(frozen=True)
class MultBuild:
    """Name and key of the build (the digest of the wrapper's Verilog)."""

    verilog: str

    @property
    def id(self):
        return "mult18x18d"

    def to_json(self):
        return json.dumps({"verilog": hashlib.sha256(self.verilog.encode()).hexdigest()})


def expected_p(a, b):
    """numpy reference: ``P`` after each edge (zero after the first: the registers start at
    zero)."""
    a, b = a.astype(np.int64), b.astype(np.int64)
    p = np.zeros(len(a), dtype=np.int64)
    p[1:] = a[:-1] * b[:-1]
    return p


def test_model_mode_is_the_instantiated_one():
    """The model documents and checks the parameters the MAC passes."""
    text = ECP5_MULT18X18D_SIM_MODEL.read_text()
    assert "FPGA-TN-02205" in text
    for key in ("REG_INPUTA_CE", "REG_INPUTB_CE", "REG_OUTPUT_CE"):
        assert MULT18X18D_PARAMS[key] == "CE0"
    assert MULT18X18D_PARAMS["REG_PIPELINE_CLK"] == "NONE"
    for key in ("REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_OUTPUT_CLK"):
        assert MULT18X18D_PARAMS[key] == "CLK0"


def test_model_matches_numpy(tmp_path, seed, monkeypatch):
    text = verilog.convert(MultTop(), name=TOP, emit_src=False)
    build = VerilatorBuild(
        "ecp5_mult", MultBuild(text), TOP, lambda: text, sim_sources=[ECP5_MULT18X18D_SIM_MODEL]
    ).ensure_built()
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << 17), (1 << 17) - 1
    a = rng.integers(lo, hi + 1, CYCLES)
    b = rng.integers(lo, hi + 1, CYCLES)
    # Extremes (the largest product, 2^34, and the most negative ones) and INT8 operands.
    extremes = np.array([lo, hi, -1, 0, 1, -128, 127, 255])
    pick = rng.random(CYCLES) < 0.3
    a[pick] = rng.choice(extremes, int(pick.sum()))
    pick = rng.random(CYCLES) < 0.3
    b[pick] = rng.choice(extremes, int(pick.sum()))
    stimulus, observed = tmp_path / "stimulus.npz", tmp_path / "observed.npy"
    np.savez(stimulus, a=a, b=b)
    env = {"SYSTOLIX_MULT_STIMULUS": str(stimulus), "SYSTOLIX_MULT_OBSERVED": str(observed)}
    # The cocotb half lives beside this file; the simulator's Python finds it on PYTHONPATH.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    assert build.run("ecp5_mult_cocotb", extra_env=env, seed=seed, test_dir=tmp_path) == 1
    got = np.load(observed)
    want = expected_p(a, b)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"cycle {bad[0]}: model {got[bad[0]]}, numpy {want[bad[0]]}"
    assert (np.abs(want) == 1 << 34).any()  # the extreme product was exercised
