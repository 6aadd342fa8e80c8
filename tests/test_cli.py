"""The systolix command line: bad input, generation and lint of generated Verilog."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hdl.config import ArrayConfig
from scripts.cli import _config, build_parser, main

#: (argv, fragment of the one-line message). ``{file}`` stands for an existing file.
#: A valid attention shape.
ATT = ["--lq", "4", "--lk", "4", "--d", "4", "--dv", "4"]

BAD_INPUT = [
    # --out of every command that has one: a file, under a file, uncreatable, empty.
    (["generate", "--out", "{file}"], "--out must be a folder systolix can create and write"),
    (["generate", "--out", "{file}/sub"], "'{file}' is a file"),
    (["generate", "--out", "/proc/x"], "got '/proc/x': No such file or directory"),
    (["generate", "--out", ""], "--out must name a folder, got ''"),
    (["lint", "--out", "{file}"], "got '{file}': it is a file"),
    (["synth", "--out", "{file}/sub"], "got '{file}/sub': '{file}' is a file"),
    (["pnr", "--out", "{file}"], "got '{file}': it is a file"),
    (["bench", "--sizes", "2x2", "--macs", "int8", "--out", "{file}"], "it is a file"),
    (["bench", "--out", ""], "--out must name a folder, got ''"),
    # Configuration options.
    (["generate", "--rows", "0", "--out", "x"], "--rows must be between 1 and 128, got 0"),
    (
        ["generate", "--cols", "1000", "--out", "x"],
        "--cols must be between 1 and 128, got 1000",
    ),
    (["generate", "--rows", "True", "--out", "x"], "argument --rows: invalid int value: 'True'"),
    (["generate", "--mac", "e9m9", "--out", "x"], "--mac must be one of int8, e4m3, e5m2"),
    (["generate", "--max-k", "0", "--out", "x"], "--max-k must be between 1 and 16777216, got 0"),
    (["generate", "--acc-width", "3", "--out", "x"], "--acc-width must be between 28 and 64"),
    (["generate", "--mac-pipeline", "5", "--out", "x"], "--mac-pipeline must be between 0 and 2"),
    (["generate", "--multiplier", "dsp48", "--out", "x"], "--multiplier must be one of dsp, lut"),
    (["lint", "--rows", "-1"], "--rows must be between 1 and 128, got -1"),
    # GEMM shape and seed.
    (["run-gemm", "--m", "4", "--k", "5000", "--n", "4"], "--k must be at most --max-k=4096"),
    (["run-gemm", "--m", "0", "--k", "5", "--n", "4"], "--m must be between 1 and 65536, got 0"),
    (["run-gemm", "--m", "4", "--k", "0", "--n", "4"], "--k must be between 1 and 4096, got 0"),
    (["run-gemm", "--m", str(2**40), "--k", "4", "--n", "4"], "--m must be between 1 and 65536"),
    (["run-gemm", "--m", "2**40", "--k", "4", "--n", "4"], "argument --m: invalid int value"),
    (["run-gemm", "--m", "4", "--k", "4", "--n", "65537"], "--n must be between 1 and 65536"),
    (
        ["run-gemm", "--m", "65536", "--k", "4096", "--n", "65536"],
        "has 4831838208 elements in A, B and C; at most 33554432 are simulated",
    ),
    (["run-gemm", "--m", "4", "--k", "4", "--n", "4", "--seed", "-1"], "--seed must be between 0"),
    (["run-gemm", "--m", "4", "--k", "4", "--n", "4", "--seed", str(2**32)], "4294967295, got"),
    (["run-gemm", "--m", "4", "--k", "5"], "required: --n"),
    (["demo", "--seed", "-1"], "--seed must be between 0 and 4294967295, got -1"),
    (["demo", "--m", "0"], "--m must be between 1 and 65536, got 0"),
    # Attention: the tile alone and an ATTENTION descriptor on the accelerator.
    (
        ["run-attention", "--lq", "0", "--lk", "4", "--d", "4", "--dv", "4"],
        "--lq must be between 1 and 4096, got 0",
    ),
    (["run-attention", "--rows", "4", "--cols", "2", *ATT], "--cols must equal rows"),
    (["run-attention", "--top", "gpu", *ATT], "--top must be one of tile, accel, got 'gpu'"),
    (
        ["run-attention", "--top", "accel", "--mode", "online", *ATT],
        "--mode does not apply to --top accel",
    ),
    (
        ["run-attention", "--top", "accel", "--lq", "4", "--lk", "0", "--d", "4", "--dv", "4"],
        "--lk must be between 1 and 1048576, got 0",
    ),
    (
        ["run-attention", "--top", "accel", "--rows", "4", "--cols", "8", *ATT],
        "--top accel needs --rows equal to --cols, got 4 and 8",
    ),
    (
        ["run-attention", "--top", "accel", "--block", "0", *ATT],
        "--block must be between 1 and 65535, got 0",
    ),
    (
        ["run-attention", "--top", "accel", "--block-lq", "0", *ATT],
        "--block-lq must be between 1 and 4096, got 0",
    ),
    (
        ["run-attention", "--top", "accel", "--bus-width", "48", *ATT],
        "--bus-width must be one of 64, 128, 256, got 48",
    ),
    # Synthesis and place and route.
    (["synth", "--target", "xilinx"], "--target must be one of generic, ecp5, ice40, got 'xilinx'"),
    (
        ["synth", "--mac", "int8,fp16"],
        "--mac must be one of int8, e4m3, e5m2, e4m3xe5m2, got 'fp16'",
    ),
    (["synth", "--mac", "int8,"], "--mac must be one of int8, e4m3, e5m2, e4m3xe5m2, got ''"),
    (["pnr", "--target", "xilinx"], "--target must be one of ecp5, ice40, got 'xilinx'"),
    (["pnr", "--device", "1k"], "--device must be one of 25k, 45k, 85k for ecp5, got '1k'"),
    (["pnr", "--clock-mhz", "-5"], "--clock-mhz must be between 1 and 1000, got -5.0"),
    (["pnr", "--clock-mhz", "nan"], "--clock-mhz must be between 1 and 1000, got nan"),
    (["pnr", "--seed", "0"], "--seed must be between 1 and 2147483647, got 0"),
    (["pnr", "--target", "ice40", "--device", "hx8k"], "has no DSP blocks: use multiplier=lut"),
    # The sweep.
    (["bench", "--jobs", "0"], "--jobs must be between 1 and 256, got 0"),
    (["bench", "--sizes", "0x4"], "--sizes 0x4: rows must be between 1 and 128, got 0"),
    (["bench", "--sizes", "4"], "--sizes must be ROWSxCOLS items separated by commas, got '4'"),
    (["bench", "--sizes", ""], "--sizes must be ROWSxCOLS items separated by commas, got ''"),
    (["bench", "--macs", "fp16"], "--macs must be one of int8, e4m3, e5m2, e4m3xe5m2"),
    (
        ["bench", "--multipliers", "dsp48"],
        "--multipliers must be one of dsp, lut, ecp5, auto, got 'dsp48'",
    ),
    (
        ["bench", "--multipliers", "lut,ecp5", "--target", "ice40", "--device", "hx8k"],
        "--multipliers: multiplier 'ecp5' instantiates ECP5 MULT18X18D cells: it needs target "
        "'ecp5', got 'ice40'",
    ),
    (["bench", "--mac-pipelines", "5"], "--mac-pipelines must be between 0 and 2, got 5"),
    (["bench", "--mac-pipelines", "x"], "--mac-pipelines must be integers separated by commas"),
    (
        ["bench", "--mac-pipelines", "3", "--macs", "int8"],
        "--mac-pipelines must be between 0 and 2 for mac=int8, got 3",
    ),
    (["bench", "--pnr-budget", "-1"], "--pnr-budget must be a non-negative integer, got -1"),
    (["bench", "--clock-mhz", "-1"], "--clock-mhz must be between 1 and 1000, got -1.0"),
    (["bench", "--target", "xilinx"], "--target must be one of ecp5, ice40, got 'xilinx'"),
    (["bench", "--device", "up5k"], "--device must be one of 25k, 45k, 85k for ecp5, got 'up5k'"),
    (["bench", "--dask-scheduler", "garbage"], "--dask-scheduler must be a scheduler address"),
    (["bench", "--rows", "4"], "unrecognized arguments: --rows 4"),
    (["frobnicate"], "invalid choice"),
]


@pytest.fixture
def no_work(tmp_path, monkeypatch):
    """Run in an empty folder, with every command's real work replaced by a failure: bad input
    must be refused before any of it starts. Returns the path of an existing file."""
    import hdl.generate
    import scripts.bench
    import scripts.pnr
    import scripts.synth
    import tb.accel_runtime
    import tb.attention_runtime
    import tb.runtime

    def started(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    for module, name in [
        (hdl.generate, "generate"),
        (scripts.synth, "synthesize"),
        (scripts.pnr, "synthesize_harness"),
        (scripts.bench, "run_sweep"),
        (tb.runtime, "random_operands"),
        (tb.runtime, "run_gemm"),
        (tb.attention_runtime, "run_tiles"),
        (tb.accel_runtime, "run_accel_jobs"),
    ]:
        monkeypatch.setattr(module, name, started)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    return "afile"


@pytest.mark.parametrize(
    ("argv", "message"), BAD_INPUT, ids=[" ".join(argv) or "''" for argv, _ in BAD_INPUT]
)
def test_cli_bad_input_one_line_exit_2(argv, message, no_work, capsys):
    argv = [arg.replace("{file}", no_work) for arg in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("systolix: error: ") and err.endswith("\n") and err.count("\n") == 1
    assert message.replace("{file}", no_work) in err and "Traceback" not in err
    assert captured.out == ""


def test_cli_bench_auto_fills_the_devices_dsp_blocks(monkeypatch, tmp_path):
    """``--multipliers auto`` sweeps INT8 only, with ``dsp_blocks`` from ``--device``."""
    import scripts.bench

    swept = []

    def run_sweep(configs, options, out, **kwargs):
        swept.extend(configs)
        raise SystemExit(0)

    monkeypatch.setattr(scripts.bench, "run_sweep", run_sweep)
    with pytest.raises(SystemExit):
        main(["bench", "--sizes", "16x16", "--multipliers", "auto", "--device", "45k",
              "--out", str(tmp_path)])  # fmt: skip
    assert swept == [ArrayConfig(rows=16, cols=16, multiplier="auto", dsp_blocks=72)]


def test_cli_bad_environment_is_bad_input(monkeypatch, tmp_path, capsys):
    """A bad ``SYSTOLIX_WAVES`` is refused like a bad option, before any simulator is built."""

    def build(*args, **kwargs):
        raise AssertionError("simulator build started")

    monkeypatch.setenv("SYSTOLIX_WAVES", "garbage")
    monkeypatch.setattr("tb.runtime.VerilatorBuild", build)
    monkeypatch.chdir(tmp_path)
    argv = ["run-gemm", "--rows", "1", "--cols", "1", "--m", "1", "--k", "1", "--n", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == "systolix: error: SYSTOLIX_WAVES must be 0, 1, vcd or fst, got 'garbage'\n"


def test_cli_bad_input_creates_nothing(no_work):
    """A refused command leaves no folder behind, and ``--out ""`` writes nothing here."""
    assert main(["generate", "--rows", "0", "--out", "x"]) == 2
    assert main(["generate", "--out", ""]) == 2
    assert main(["bench", "--sizes", "0x4", "--out", "report"]) == 2
    assert sorted(p.name for p in Path.cwd().iterdir()) == [no_work]


def test_cli_console_script_exit_status(tmp_path):
    """Through a real process: exit status 2 and no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "generate", "--cols", "0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr == "systolix: error: --cols must be between 1 and 128, got 0\n"


_INTERNAL_ERROR = """
import sys
import scripts.cli

def broken(args):
    raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

scripts.cli.cmd_generate = broken
sys.exit(scripts.cli.main(["generate", "--out", sys.argv[1]]))
"""


def test_cli_internal_error_is_not_a_usage_error(tmp_path):
    """A plain TypeError from inside a command is a fault in systolix: it keeps its traceback
    and exit status 1, and is not dressed up as bad input."""
    proc = subprocess.run(
        [sys.executable, "-c", _INTERNAL_ERROR, str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "TypeError: unsupported operand" in proc.stderr
    assert "systolix: error" not in proc.stderr


@pytest.mark.parametrize("error", [TypeError("bug"), ValueError("bug"), KeyError("bug")])
def test_cli_lets_internal_errors_through(error, monkeypatch, tmp_path):
    def broken(args):
        raise error

    monkeypatch.setattr("scripts.cli.cmd_generate", broken)
    with pytest.raises(type(error)):
        main(["generate", "--out", str(tmp_path)])


def test_cli_file_system_failure_mid_run(monkeypatch, tmp_path, capsys):
    """An OSError after the input was accepted (a full disk) is a failure: one line, status 1."""

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", "systolic_array.v")

    monkeypatch.setattr("hdl.generate.generate", full)
    assert main(["generate", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == "systolix: failed: [Errno 28] No space left on device: 'systolic_array.v'\n"


@pytest.mark.parametrize("command", ["generate", "lint", "run-gemm", "synth", "pnr", "demo"])
def test_cli_config_options_on_every_command_but_bench(command):
    """The README's promise: these commands take every configuration option of ``generate``;
    ``bench`` takes lists instead."""
    config = ["--rows", "2", "--cols", "3", "--mac", "e4m3", "--max-k", "64", "--acc-width", "60"]
    config += ["--multiplier", "dsp", "--mac-pipeline", "1"]
    extra = {"generate": ["--out", "x"], "run-gemm": ["--m", "1", "--k", "1", "--n", "1"]}
    args = build_parser().parse_args([command, *config, *extra.get(command, [])])
    cfg = _config(args)
    assert cfg == ArrayConfig(
        rows=2, cols=3, mac="e4m3", max_k=64, acc_width=60, multiplier="dsp", mac_pipeline=1
    )


def test_cli_generate_writes_verilog_manifest_filelist(tmp_path):
    assert main(["generate", "--rows", "3", "--cols", "5", "--out", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config"]["rows"] == 3 and manifest["config_id"] == "r3c5-int8"
    assert (tmp_path / "filelist.f").read_text().split() == ["systolix_r3c5_int8.v"]
    verilog = (tmp_path / "systolix_r3c5_int8.v").read_text()
    assert "module systolix_r3c5_int8(" in verilog and "pe_2_4" in verilog
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
