# amaranth: UnusedElaboratable=no
"""``systolix generate --top attention``: the attention tile's Verilog with one PE module, its
manifest (ports, generator parameters, payload layouts), filelist and FuseSoC core, lint clean
under ``verilator -Wall`` with the project's waivers; attention options are refused with any
other top."""

import json
import re

import pytest

from hdl.attention.tile import params_layout
from hdl.generate import _module_ports, core_vlnv, module_names
from scripts.cli import main
from scripts.lint import lint_verilog

PARAMS = {
    "rows": 4,
    "cols": 4,
    "max_lq": 8,
    "max_lk": 16,
    "max_d": 8,
    "max_dv": 8,
    "max_lk_total": 32,
    "p_bits": 16,
    "reciprocal_units": 1,
}
ARGV = [
    "generate", "--top", "attention", "--rows", "4", "--cols", "4", "--max-lq", "8",
    "--max-lk", "16", "--max-d", "8", "--max-dv", "8", "--max-lk-total", "32",
    "--p-bits", "16", "--reciprocal-units", "1",
]  # fmt: skip
NAME = "systolix_attention_r4c4_lq8_lk16_d8_dv8_lkt32_p16_u1"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("attention")
    assert main([*ARGV, "--out", str(out)]) == 0
    return out


def test_generate_attention_files(generated):
    verilog = generated / f"{NAME}.v"
    assert verilog.exists()
    assert (generated / "filelist.f").read_text() == f"{NAME}.v\n"
    core = (generated / f"{NAME}.core").read_text()
    assert f'name: "{core_vlnv(NAME)}"' in core and f'toplevel: "{NAME}"' in core
    assert f'- "{NAME}.v"' in core
    text = verilog.read_text()
    names = module_names(text)
    assert names[0] == NAME and len(names) == len(set(names))
    assert all(n == NAME or n.startswith(NAME + "_") for n in names)
    # One PE definition, instantiated once per grid position.
    assert names.count(f"{NAME}_pe") == 1
    instances = re.findall(rf"^\s*{NAME}_pe\s+pe_(\d+)_(\d+)\s*\(", text, re.M)
    assert sorted(instances) == [(str(r), str(c)) for r in range(4) for c in range(4)]


def test_generate_attention_manifest(generated):
    manifest = json.loads((generated / "manifest.json").read_text())
    assert manifest["top_kind"] == "attention" and manifest["top"] == NAME
    assert manifest["parameters"] == PARAMS
    assert manifest["files"] == [f"{NAME}.v"]
    ports = {p["name"]: (p["direction"], p["width"]) for p in manifest["ports"]}
    text = (generated / f"{NAME}.v").read_text()
    assert set(ports) == _module_ports(text, NAME)
    # Widths as declared in the Verilog ("input [118:0] params__payload;" or no range: 1 bit).
    for name, (direction, width) in ports.items():
        declared = rf"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):0\]\s+)?{name};"
        found = re.search(declared, text, re.M)
        assert found, name
        assert found.group(1) == direction, name
        assert (int(found.group(2)) + 1 if found.group(2) else 1) == width, name
    layout = params_layout(**{k: PARAMS[k] for k in ("max_lq", "max_lk", "max_d", "max_dv")},
                           max_lk_total=PARAMS["max_lk_total"])  # fmt: skip
    assert ports["params__payload"] == ("input", layout.size)
    fields = manifest["payload_layouts"]["params__payload"]["fields"]
    assert [f["name"] for f in fields] == [name for name, _ in layout]
    for f in fields:
        assert (f["offset"], f["width"]) == (layout[f["name"]].offset, layout[f["name"]].width)
    assert {f["name"]: f["signed"] for f in fields}["causal_offset"] is True
    assert manifest["payload_layouts"]["q__payload"] == {
        "lanes": 4,
        "lane_width": 8,
        "signed": True,
    }
    assert ports["q__payload"] == ports["k__payload"] == ports["v__payload"] == ("input", 32)
    assert ports["o__ready"] == ("input", 1) and ports["busy"] == ("output", 1)


@pytest.mark.verilator
def test_generate_attention_lint_clean(generated):
    ok, output = lint_verilog(generated / f"{NAME}.v", NAME)
    assert ok, output


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-lq", "8"], "--max-lq applies to --top attention or --top accel --attention only, "
         "got it for --top array"),
        (["--top", "gemm", "--acc-rows", "4", "--p-bits", "16"], "--p-bits applies to --top"),
        (["--top", "accel", "--max-lk-total", "64"], "--max-lk-total applies to --top attention "
         "or --top accel --attention only, got it for --top accel without --attention"),
        (["--top", "accel", "--attention", "--reciprocal-units", "2"],
         "--reciprocal-units applies to --top attention only"),
        (["--attention"], "--attention applies to --top accel only, got it for --top array"),
        (["--top", "accel", "--attention", "--rows", "4", "--cols", "8"],
         "--attention needs --rows equal to --cols, got 4 and 8"),
        (["--top", "accel", "--attention", "--max-lk", "64", "--max-lk-total", "8"],
         "--max-lk-total must be between 64 and 1048576, got 8"),
        (["--top", "attention", "--mac", "e4m3"], "--mac does not apply to --top attention"),
        (["--top", "attention", "--mac-pipeline", "1"], "--mac-pipeline does not apply to --top"),
        (["--top", "attention", "--max-d", "0"], "--max-d must be between 1 and 4096, got 0"),
        (["--top", "attention", "--p-bits", "9"], "--p-bits must be one of 8, 16, got 9"),
        (["--top", "attention", "--max-lk", "64", "--max-lk-total", "8"], "--max-lk-total must"),
        (["--top", "attention", "--reciprocal-units", "9"], "--reciprocal-units must be between"),
        (["--top", "attention", "--rows", "4", "--cols", "2"], "--cols must equal rows"),
        (["--top", "attention", "--acc-rows", "4"], "--acc-rows applies to the gemm top only"),
    ],
)  # fmt: skip
def test_cli_generate_attention_rejects(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


@pytest.mark.verilator
def test_generate_accel_with_attention_unit(tmp_path):
    """``generate --top accel --attention``: the front-end options and the attention unit
    reach the design (manifest, HWCFG words, a second PE module for the unit's array), and
    the Verilog lints clean."""
    from golden.descriptor import AttentionConfig
    from golden.frontend import FrontendConfig
    from hdl.config import ArrayConfig
    from hdl.ctrl.regs import hwcfg_values

    argv = ["generate", "--top", "accel", "--rows", "4", "--cols", "4", "--bus-width", "64",
            "--tiles", "16x16x32", "--attention", "--max-lq", "8", "--max-lk", "16",
            "--max-lk-total", "48", "--max-d", "24", "--max-dv", "8", "--name", "acc"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    frontend = FrontendConfig(data_width=64, tile_m=16, tile_n=16, tile_k=32)
    unit = AttentionConfig(block_lq=8, block_lk=16, max_lk=48, max_d=24, max_dv=8)
    assert manifest["frontend"]["data_width"] == 64
    assert (manifest["frontend"]["tile_m"], manifest["frontend"]["tile_k"]) == (16, 32)
    assert manifest["attention_unit"] == {**vars(unit)}
    words = hwcfg_values(ArrayConfig(rows=4, cols=4), frontend, attention=unit)
    assert manifest["hwcfg"] == {k: f"{v:#010x}" for k, v in words.items()}
    assert {"acc_pe", "acc_pe_att"} <= set(manifest["modules"])
    ok, output = lint_verilog(tmp_path / "acc.v", "acc")
    assert ok, output
