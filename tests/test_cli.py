"""The systolix command line: bad input, generation and lint of generated Verilog."""

import json
import subprocess
import sys

import pytest

from scripts.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--rows", "0", "--out", "x"], "rows must be between 1 and 128, got 0"),
        (["generate", "--mac", "e9m9", "--out", "x"], "mac must be one of int8"),
        (["run-gemm", "--m", "4", "--k", "5000", "--n", "4"], "--k must be at most --max-k=4096"),
        (["run-gemm", "--m", "0", "--k", "5", "--n", "4"], "--m must be at least 1, got 0"),
        (["run-gemm", "--m", "4", "--k", "5"], "required: --n"),
        (["synth", "--target", "xilinx"], "target must be one of generic, ecp5, ice40"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_cli_bad_input_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_cli_console_script_exit_status(tmp_path):
    """Through a real process: exit status 2 and no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "generate", "--cols", "0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "systolix: error: cols must be between 1 and 128, got 0"


def test_cli_generate_writes_verilog_manifest_filelist(tmp_path):
    assert main(["generate", "--rows", "3", "--cols", "5", "--out", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config"]["rows"] == 3 and manifest["config_id"] == "r3c5-int8"
    assert (tmp_path / "filelist.f").read_text().split() == ["systolic_array.v"]
    verilog = (tmp_path / "systolic_array.v").read_text()
    assert "module systolic_array(" in verilog and "pe_2_4" in verilog
    ports = {p["name"]: p for p in manifest["ports"]}
    # 5 columns × 28-bit sums + last; 3 rows × 8-bit codes + act_unsigned + last.
    assert ports["results__payload"]["width"] == 5 * 28 + 1
    assert ports["acts__payload"]["width"] == 3 * 8 + 2
    assert ports["weights__payload"]["width"] == 5 * 8
    assert ports["results__ready"]["direction"] == "input"


@pytest.mark.verilator
@pytest.mark.parametrize(
    ("rows", "cols", "mac"),
    [
        (1, 1, "int8"),
        (1, 4, "int8"),
        (3, 5, "int8"),
        (4, 4, "int8"),
        (1, 1, "e4m3"),
        (3, 5, "e4m3"),
        (3, 5, "e5m2"),
        (2, 3, "e4m3xe5m2"),
    ],
)
def test_generated_verilog_lints_clean(rows, cols, mac, tmp_path, capsys):
    """``verilator --lint-only -Wall`` with only the README's waivers reports nothing."""
    argv = ["lint", "--rows", str(rows), "--cols", str(cols), "--mac", mac, "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "%Warning" not in capsys.readouterr().out
