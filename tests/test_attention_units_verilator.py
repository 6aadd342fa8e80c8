# amaranth: UnusedElaboratable=no
"""The attention units' Verilog under ``verilator --lint-only -Wall`` with the project's
waivers (``scripts.lint``): every unit, in a small and a wide configuration, lints clean.

The units' behaviour is checked bit for bit in Amaranth's simulator
(``tests/test_attention_units.py``); this checks that the Verilog they become is clean for
Verilator, the simulator every systolix top runs under.
"""

from pathlib import Path

import pytest
from amaranth.back import verilog

from hdl.attention import (
    DivRhu,
    DivRhuNormalizer,
    Exp2Core,
    Requantizer,
    RowReciprocal,
    SoftmaxRow,
)
from scripts.lint import lint_verilog

pytestmark = pytest.mark.verilator

BUILD = Path(__file__).resolve().parent.parent / "build" / "attention-lint"

UNITS = {
    "exp2-f6": lambda: Exp2Core(lanes=3),
    "exp2-f8-tag": lambda: Exp2Core(exp_frac_bits=8, lanes=2, tag_shape=1),
    "softmax-c4": lambda: SoftmaxRow(cols=4, score_width=22, max_beats=4),
    "softmax-c3-p16": lambda: SoftmaxRow(
        cols=3, score_width=32, max_beats=5, p_bits=16, exp_frac_bits=8
    ),
    "reciprocal": lambda: RowReciprocal(l_width=22),
    "divider": lambda: DivRhu(cols=3, acc_width=30, l_width=22),
    "requant": lambda: Requantizer(cols=2, y_width=25),
    "normalizer-c4": lambda: DivRhuNormalizer(cols=4, lk_max=1024),
    "normalizer-c2-p16": lambda: DivRhuNormalizer(cols=2, lk_max=16384, p_bits=16),
}


@pytest.mark.parametrize("unit", UNITS)
def test_attention_unit_lints_clean(unit):
    top = "attn_" + unit.replace("-", "_")
    BUILD.mkdir(parents=True, exist_ok=True)
    path = BUILD / f"{top}.v"
    path.write_text(verilog.convert(UNITS[unit](), name=top))
    ok, output = lint_verilog(path, top)
    assert ok, f"{path}:\n{output}"
