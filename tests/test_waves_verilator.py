"""Waveforms: a traced simulator in its own build folder, one VCD per run, and failure reports
that name the waveform (or say how to get one)."""

from math import ceil

import numpy as np
import pytest

from hdl.config import ArrayConfig
from hdl.generate import ARRAY_TOP
from scripts.cli import main
from tb.runtime import GemmJob, run_gemm, run_gemm_batch
from tb.verilator import (
    BUILD_ROOT,
    WAVES_ENV,
    SimulationError,
    VerilatorBuild,
    waves_format,
    widest_vector,
)

#: A small array whose result port (4 × 64 + 1 bits) is wider than Verilator traces by default.
CFG = ArrayConfig(rows=2, cols=4, acc_width=64)
GROUP = pytest.mark.xdist_group(f"g-{CFG.id}-waves")


def read_vcd(path):
    """``(signals, edges)`` of a VCD: ``signals`` maps ``scope.name`` to its width; ``edges`` is,
    for every rising edge of the top's ``clk``, the values every signal held just before it.

    A small reader of the IEEE 1364 §18 text format: pyvcd's reader refuses the ``$rootio``
    scope in which Verilator puts the top's ports."""
    scopes, names, widths = [], {}, {}
    values, before, edges = {}, {}, []
    with open(path) as f:
        words = iter(f.read().split())
    for word in words:
        if word == "$scope":
            next(words)  # scope kind: module
            scopes.append(next(words))
        elif word == "$upscope":
            scopes.pop()
        elif word == "$var":
            _kind, size, code, ref = (next(words) for _ in range(4))
            name = ".".join([*scopes, ref])
            names.setdefault(code, []).append(name)
            widths[name] = int(size)
            while next(words) != "$end":  # an optional [msb:lsb]
                pass
        elif word in ("$version", "$date", "$comment", "$timescale"):
            while next(words) != "$end":
                pass
        elif word.startswith("#"):
            before = dict(values)
        elif word[0] in "01xz" and word[1:] in names:
            set_value(names[word[1:]], word[0], values, before, edges)
        elif word[0] == "b":
            set_value(names[next(words)], word[1:], values, before, edges)
    return widths, edges


def set_value(names, bits, values, before, edges):
    value = int(bits, 2) if set(bits) <= {"0", "1"} else bits
    for name in names:
        if name == "$rootio.clk" and values.get(name) == 0 and value == 1:
            edges.append(before)
        values[name] = value


def int8_operands(rng, m, k, n):
    return rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n))


@pytest.mark.verilator
@GROUP
def test_waves_run_writes_vcd_of_ports_and_cycles(seed):
    m, k, n = 3, 5, 3
    a, b = int8_operands(np.random.default_rng(seed), m, k, n)
    run = run_gemm(CFG, a, b, seed=seed, waves=True)
    assert np.array_equal(run.c, a @ b)
    # One VCD per run, in the traced build's own folder, never in the untraced one's.
    assert run.waves.name == "dump.vcd"
    assert run.waves.parent.parent == BUILD_ROOT / "array" / f"{CFG.id}-waves" / "runs"
    widths, edges = read_vcd(run.waves)
    for port in ("clk", "rst", "results__valid", "results__ready", "acts__valid"):
        assert widths[f"$rootio.{port}"] == 1
    assert widths["$rootio.results__payload"] == 4 * 64 + 1
    assert any(name.startswith("systolic_array.pe_1_3.") for name in widths)
    # Amaranth's unnamed temporaries ($12) are left out; named signals are all there.
    assert not [name for name in widths if name.rsplit(".", 1)[1].startswith("$")]
    # Two reset cycles, the GEMM's measured cycles, and a few cycles of driver hand-off.
    assert run.cycles <= len(edges) <= run.cycles + 8, (len(edges), run.cycles)
    # Every result row is one transfer at a clock edge: M rows for each of the F folds.
    folds = ceil(k / CFG.rows) * ceil(n / CFG.cols)
    transfers = sum(e["$rootio.results__valid"] & e["$rootio.results__ready"] for e in edges)
    assert transfers == m * folds


@pytest.mark.verilator
@GROUP
def test_waves_failing_run_names_its_waveform(seed):
    a, b = int8_operands(np.random.default_rng(seed), 2, 3, 2)
    with pytest.raises(SimulationError) as info:
        run_gemm_batch(
            CFG, [GemmJob(a, b)], seed=seed, waves=True, testbench="tb.tb_array_bad_golden"
        )
    err = info.value
    assert err.waves is not None and err.waves.name == "dump.vcd" and err.waves.exists()
    message = str(err)
    assert f"waveform {err.waves}" in message
    want = int((a @ b)[0, 0])
    assert f"at C[0][0]: hardware {want}, golden {want + 1}" in message
    assert read_vcd(err.waves)[1], "the failing run's waveform has no clock edges"


def test_waves_untraced_failure_says_how_to_get_one(tmp_path):
    log = tmp_path / "sim.log"
    log.write_text("noise\nERROR mismatch at C[1][0]: hardware 3, golden 4\n")
    message = str(SimulationError(log, "1 of 1 tests failed"))
    assert f"{WAVES_ENV}=1 pytest" in message and "run-gemm ... --waves" in message
    assert "mismatch at C[1][0]" in message and "noise" not in message
    assert "waveform /" not in message


def test_waves_traced_build_has_its_own_folder(monkeypatch):
    monkeypatch.delenv(WAVES_ENV, raising=False)
    monkeypatch.delenv("WAVES", raising=False)

    def folder(**kw):
        return VerilatorBuild("array", CFG, ARRAY_TOP, lambda: "", **kw).build_dir.name

    assert folder() == folder(waves=False) == CFG.id
    assert folder(waves=True) == folder(waves="vcd") == f"{CFG.id}-waves"
    assert folder(waves="fst") == f"{CFG.id}-waves-fst"
    for value, want in (("1", "vcd"), ("vcd", "vcd"), ("fst", "fst"), ("0", None), ("", None)):
        monkeypatch.setenv(WAVES_ENV, value)
        assert waves_format(None) == want, value
    assert folder(waves=False) == CFG.id  # an explicit False wins over the environment
    monkeypatch.setenv(WAVES_ENV, "maybe")
    with pytest.raises(ValueError, match="SYSTOLIX_WAVES must be 0, 1, vcd or fst, got 'maybe'"):
        waves_format(None)
    monkeypatch.delenv(WAVES_ENV)
    monkeypatch.setenv("WAVES", "1")  # cocotb's own switch, honoured when ours is unset
    assert folder() == f"{CFG.id}-waves"
    with pytest.raises(ValueError, match="waves must be True, False, None, 'vcd' or 'fst'"):
        waves_format("ghw")


def test_waves_trace_keeps_the_widest_vector(monkeypatch, tmp_path):
    assert widest_vector("wire [640:0] x;\nreg [7:0] y;\nwire z;") == 641
    assert widest_vector("wire z;") == 1
    # Verilator silently drops vectors beyond its limit (4096 bits by default) from a trace.
    monkeypatch.setattr("tb.verilator.BUILD_ROOT", tmp_path)
    build = VerilatorBuild("array", CFG, ARRAY_TOP, lambda: "", waves=True)
    build.build_dir.mkdir(parents=True)
    build.verilog_path.write_text("module systolic_array(o);\n  output [8192:0] o;\nendmodule\n")
    args = build._trace_args()
    assert args[args.index("--trace-max-width") + 1] == "8193"


@pytest.mark.verilator
@GROUP
def test_waves_cli_run_gemm_prints_waveform(capsys):
    argv = ["run-gemm", "--rows", "2", "--cols", "4", "--acc-width", "64"]
    argv += ["--m", "2", "--k", "3", "--n", "5"]
    assert main([*argv, "--waves"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out
    line = next(line for line in out.splitlines() if line.strip().startswith("waveform "))
    path = line.split("waveform ", 1)[1]
    assert path.endswith("dump.vcd") and f"{CFG.id}-waves" in path
    assert read_vcd(path)[1]


@pytest.mark.verilator
def test_waves_fst_builds_or_names_lz4(seed):
    """FST needs the system's lz4: either the run writes dump.fst, or the error says so."""
    cfg = ArrayConfig(rows=1, cols=1)
    a, b = int8_operands(np.random.default_rng(seed), 1, 1, 1)
    try:
        run = run_gemm(cfg, a, b, seed=seed, waves="fst")
    except RuntimeError as exc:
        assert "liblz4-dev" in str(exc) and "build.log" in str(exc)
    else:
        assert run.waves.name == "dump.fst" and run.waves.stat().st_size > 0
