"""``systolix bench``: sweep composition, performance figures, and a tiny real sweep run both
on local processes and on a Dask ``LocalCluster``."""

import json

import pytest

from hdl.config import MAC_KINDS, ArrayConfig
from scripts.bench import (
    DEFAULT_SIZES,
    BenchOptions,
    build_report,
    default_configs,
    parse_sizes,
    performance,
    run_sweep,
    sweep_configs,
    write_report,
)
from scripts.bench_report import markdown
from scripts.pnr import check_fit


def test_default_sweep_covers_sizes_kinds_and_both_multipliers():
    configs = default_configs()
    ids = {c.id for c in configs}
    for rows, cols in DEFAULT_SIZES:
        for mac in MAC_KINDS:
            assert ArrayConfig(rows=rows, cols=cols, mac=mac).id in ids
        assert ArrayConfig(rows=rows, cols=cols, multiplier="lut").id in ids
    assert "r8c8-e4m3-dsp" in ids and "r8c8-int8-p0" in ids
    assert any(c.rows != c.cols for c in configs)
    assert len(ids) == len(configs)
    # The ECP5 MULT18X18D PE at every size on ECP5, and FP8 at MAC pipeline depth 3 at 8×8.
    for rows, cols in DEFAULT_SIZES:
        assert ArrayConfig(rows=rows, cols=cols, multiplier="ecp5") in configs
    for mac in ("e4m3", "e5m2", "e4m3xe5m2"):
        assert ArrayConfig(rows=8, cols=8, mac=mac, mac_pipeline=3) in configs
    # The segmented FP8 add beside depth 3 where the add limits, at 2×2.
    for mac in ("e4m3", "e5m2"):
        assert {"r2c2-" + mac + "-p3", "r2c2-" + mac + "-p4"} <= ids
    assert not any(c.multiplier == "ecp5" for c in default_configs("ice40"))


def test_sweep_configs_ecp5_multipliers():
    configs = sweep_configs([(16, 16)], ["int8", "e4m3"], ["dsp", "auto"], device="45k")
    # auto fills the device's DSP blocks; it and ecp5 are INT8 only, so FP8 keeps dsp alone.
    assert configs == [
        ArrayConfig(rows=16, cols=16),
        ArrayConfig(rows=16, cols=16, multiplier="auto", dsp_blocks=72),
        ArrayConfig(rows=16, cols=16, mac="e4m3", multiplier="dsp"),
    ]
    with pytest.raises(ValueError, match="multiplier 'ecp5' .* needs target 'ecp5', got 'ice40'"):
        sweep_configs([(2, 2)], None, ["lut", "ecp5"], target="ice40", device="hx8k")


def test_sweep_configs_is_a_product_without_duplicates():
    configs = sweep_configs([(2, 2), (3, 1)], ["int8", "e5m2"], ["dsp", "lut"], [0, None])
    assert len(configs) == 2 * 2 * 2 * 2
    assert ArrayConfig(rows=3, cols=1, mac="e5m2", multiplier="lut", mac_pipeline=0) in configs
    # None is the default depth (2): [2, None] is one depth, not two.
    assert len(sweep_configs([(2, 2)], ["int8"], None, [2, None])) == 1


def test_parse_sizes_and_bad_input():
    assert parse_sizes("2x2,4X16") == [(2, 2), (4, 16)]
    with pytest.raises(ValueError, match="sizes must be ROWSxCOLS items"):
        parse_sizes("2x")
    with pytest.raises(ValueError, match="device must be one of up5k, hx8k for ice40"):
        BenchOptions(target="ice40", device="85k")
    with pytest.raises(ValueError, match="m must be a positive integer"):
        BenchOptions(shapes={"bad": (0, 4, 4)})


def test_performance_figures_by_hand():
    """4×4, MAC latency 2, 64³: F = 16·16 folds of max(64, 4) cycles (README formula)."""
    cfg = ArrayConfig(rows=4, cols=4).to_dict()
    perf = performance(cfg, 100.0, {"g": (64, 64, 64), "v": (1, 64, 8)})
    g, v = perf["shapes"]
    assert g["cycles"] == 4 + 255 * 64 + 64 + 4 + 4 + 1 + 2
    assert g["ideal"] == 64**3 // 16 and g["T3"] == 4 + 256 * 64 + 4 + 4 - 2
    assert g["utilization"] == pytest.approx(64**3 / (16 * g["cycles"]))
    assert perf["peak_gops"] == pytest.approx(2 * 16 * 0.1)
    assert g["achieved_gops"] == pytest.approx(2 * 64**3 * 1e8 / g["cycles"] / 1e9)
    # GEMV: one row per fold, the array idles R−1 of every R cycles.
    assert v["cycles"] == 4 + 31 * 4 + 1 + 4 + 4 + 1 + 2
    assert v["utilization"] < 0.3
    assert performance(cfg, None, {"g": (8, 8, 8)})["shapes"][0]["achieved_gops"] is None


def test_check_fit_names_the_short_resource():
    counts = {"lut": 10, "carry": 2, "lutram": 0, "ff": 20, "dsp": 200}
    assert check_fit({**counts, "dsp": 1}, "ecp5", "85k") is None
    message = check_fit(counts, "ecp5", "85k")
    assert "200 MULT18X18D > 156" in message and "--multiplier lut" in message
    assert "SB_MAC16" in check_fit({**counts, "dsp": 1}, "ice40", "hx8k")


TINY = {"tiny": (5, 7, 6), "gemv": (1, 9, 4)}


def _comparable(value):
    """A record without its run times and cache flag, which differ from run to run."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in ("seconds", "cached")}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


@pytest.mark.slow  # a place-and-route sweep, 90 s: `make test-full`
@pytest.mark.synth
@pytest.mark.verilator
@pytest.mark.xdist_group("r1c1-int8")
def test_tiny_sweep_local_then_dask_local_cluster(tmp_path):
    from dask.distributed import LocalCluster

    configs = [ArrayConfig(rows=1, cols=1), ArrayConfig(rows=1, cols=2, mac="e4m3")]
    options = BenchOptions(device="25k", clock_mhz=50, shapes=dict(TINY))
    local = run_sweep(configs, options, tmp_path / "local", jobs=2, progress=False)
    assert [r["config_id"] for r in local] == [c.id for c in configs]
    for record, cfg in zip(local, configs, strict=True):
        assert record["fit_error"] is None and not record["design_estimated"]
        # One MULT18X18D per INT8 PE survives; the FP8 significand products are LUTs.
        dsps = cfg.pes if cfg.multiplier == "dsp" else 0
        assert record["design"]["dsp"] == dsps
        assert record["pnr"]["fmax_mhz"] > 0
        assert record["pnr"]["used"].get("MULT18X18D", 0) == dsps
        # Both tiny shapes were simulated, bit-exact, and took the model's cycles.
        assert [x["shape"] for x in record["rtl"]] == list(TINY)
        assert all(x["rtl_cycles"] == x["model_cycles"] for x in record["rtl"])

    # A second run reuses the cached records instead of running the tools again.
    again = run_sweep(configs, options, tmp_path / "local", jobs=1, progress=False)
    assert all(r["cached"] for r in again)
    assert _comparable(again) == _comparable(local)

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True) as cluster:
        remote = run_sweep(
            configs,
            options,
            tmp_path / "dask",
            dask_scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert not any(r["cached"] for r in remote)
    assert _comparable(remote) == _comparable(local)

    report = build_report(local, options, "systolix bench --test")
    paths = write_report(report, tmp_path / "report")
    for path in paths:
        assert path.exists() and path.stat().st_size > 0
    saved = json.loads((tmp_path / "report" / "qor.json").read_text())
    assert [r["config_id"] for r in saved["records"]] == [c.id for c in configs]
    first = saved["records"][0]
    assert first["performance"]["peak_gops"] == pytest.approx(2 * first["pnr"]["fmax_mhz"] / 1e3)
    md = markdown(report)
    rtl = first["rtl"][0]
    assert f"| 1×1 | int8 dsp p2 | tiny | {rtl['rtl_cycles']} | {rtl['model_cycles']} | yes |" in md
    assert "systolix bench --test" in md


@pytest.mark.synth
def test_pnr_budget_leaves_large_designs_as_estimates(tmp_path):
    options = BenchOptions(device="25k", pnr_budget=100, rtl=False, shapes=dict(TINY))
    (record,) = run_sweep([ArrayConfig(rows=4, cols=4)], options, tmp_path, progress=False)
    assert record["design_estimated"] and record["pnr"] is None
    assert record["design"]["dsp"] == 16 == 16 * record["pe"]["dsp"]
    assert "> --pnr-budget 100" in record["over_budget"]
    assert not (tmp_path / "points" / "r4c4-int8-ecp5-25k" / "harness").exists()
    with pytest.raises(ValueError, match="pnr_budget must be a non-negative integer"):
        BenchOptions(pnr_budget=-1)


@pytest.mark.synth
def test_auto_estimate_weighs_each_pe_kind_and_reports_them(tmp_path):
    """A 4×4 ``auto`` array with 10 DSP blocks: 10 ECP5 PEs and 6 LUT PEs, each kind
    synthesized once; the estimate is the sum of both, and the report shows both PEs."""
    options = BenchOptions(device="25k", pnr_budget=1, rtl=False, shapes=dict(TINY))
    config = ArrayConfig(rows=4, cols=4, multiplier="auto", dsp_blocks=10)
    (record,) = run_sweep([config], options, tmp_path, progress=False)
    ecp5, lut = record["pe_by_kind"]["ecp5"], record["pe_by_kind"]["lut"]
    assert record["pe"] == ecp5 and ecp5["dsp"] == 1 and lut["dsp"] == 0
    assert lut["lut"] > ecp5["lut"]  # the LUT PE builds its product in logic
    assert record["design_estimated"]
    for key in ("lut", "carry", "ff", "dsp"):
        assert record["design"][key] == 10 * ecp5[key] + 6 * lut[key]
    md = markdown(build_report([record], options, "systolix bench --test"))
    assert "## INT8: portable and ECP5 multipliers side by side" in md
    row = next(line for line in md.splitlines() if line.startswith("| 4×4 | int8 auto10 p2 | 5 |"))
    assert f"ecp5: {ecp5['lut']} / {ecp5['carry']} / {ecp5['ff']} / 1" in row
    assert f"lut: {lut['lut']} / {lut['carry']} / {lut['ff']} / 0" in row


def test_sweep_leaves_out_depths_a_kind_lacks():
    """``--mac-pipelines 2,3`` sweeps depth 3 for the FP8 kinds only (INT8 has no third stage)."""
    configs = sweep_configs(sizes=[(2, 2)], mac_pipelines=[2, 3])
    got = {(c.mac, c.mac_pipeline) for c in configs}
    assert got == {("int8", 2)} | {(k, p) for k in ("e4m3", "e5m2", "e4m3xe5m2") for p in (2, 3)}
