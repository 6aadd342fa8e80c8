"""Place and route of a real 2×2 array through nextpnr, and the report parser."""

import pytest

from hdl.config import ArrayConfig
from scripts.pnr import parse_report, place_and_route

pytestmark = pytest.mark.synth


def test_pnr_ecp5_2x2_reports_fmax_and_dsps(tmp_path):
    r = place_and_route(ArrayConfig(rows=2, cols=2), "ecp5", "25k", tmp_path, clock_mhz=50)
    assert r["fmax_mhz"] > 0 and r["timing_met"] == (r["fmax_mhz"] >= 50)
    assert r["used"]["MULT18X18D"] == 4  # one DSP per INT8 PE survives place and route
    assert r["used"]["TRELLIS_IO"] <= 4  # the harness: clk, rst, din, dout
    assert r["critical_path"] is not None
    assert (tmp_path / "pnr.json").exists()


def test_parse_report_picks_slowest_clock_and_used_cells():
    report = {
        "fmax": {
            "a": {"achieved": 120.5, "constraint": 100},
            "b": {"achieved": 90.0, "constraint": 100},
        },
        "utilization": {
            "LUT4": {"available": 10, "used": 3},
            "DP16KD": {"available": 2, "used": 0},
        },
        "critical_paths": [],
    }
    r = parse_report(report, 100)
    assert r["fmax_mhz"] == 90.0 and r["timing_met"] is False
    assert r["used"] == {"LUT4": 3} and r["critical_path"] is None


@pytest.mark.parametrize(
    ("target", "device", "message"),
    [
        ("xilinx", "85k", "target must be one of ecp5, ice40"),
        ("ecp5", "12k", "device must be one of 25k, 45k, 85k for ecp5"),
        ("ice40", "85k", "device must be one of up5k, hx8k for ice40"),
    ],
)
def test_pnr_rejects_bad_target_or_device(target, device, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        place_and_route(ArrayConfig(rows=1, cols=1), target, device, tmp_path)


def test_pnr_ice40_up5k_maps_int8_products_to_sb_mac16(tmp_path):
    r = place_and_route(ArrayConfig(rows=1, cols=2), "ice40", "up5k", tmp_path, clock_mhz=20)
    assert r["used"]["ICESTORM_DSP"] == 2 and r["synth"]["dsp"] == 2
    assert r["fmax_mhz"] > 0


def test_pnr_lut_multiplier_uses_no_dsp(tmp_path):
    cfg = ArrayConfig(rows=1, cols=2, multiplier="lut")
    r = place_and_route(cfg, "ecp5", "25k", tmp_path, clock_mhz=50)
    assert "MULT18X18D" not in r["used"] and r["synth"]["dsp"] == 0
    assert r["synth"]["lut"] > 100  # the 9×8 products are now logic


def test_pnr_refuses_what_cannot_fit(tmp_path):
    with pytest.raises(ValueError, match="device ice40-hx8k has no DSP blocks: use multiplier=lut"):
        place_and_route(ArrayConfig(rows=1, cols=1), "ice40", "hx8k", tmp_path)
    # 36 INT8 PEs need 36 MULT18X18D; the 25k has 28. Refused after synthesis, before nextpnr.
    with pytest.raises(ValueError, match=r"r6c6-int8 does not fit ecp5-25k: 36 MULT18X18D > 28"):
        place_and_route(ArrayConfig(rows=6, cols=6), "ecp5", "25k", tmp_path)
    assert not (tmp_path / "report.json").exists()


# --- the accelerator top ---------------------------------------------------------------------


def _small_frontend():
    from golden.frontend import FrontendConfig

    return FrontendConfig(data_width=64, tile_m=16, tile_n=16, tile_k=32)


@pytest.mark.slow
def test_pnr_accel_ecp5_beside_the_bare_array(tmp_path):
    from scripts.pnr import place_and_route_accel

    cfg = ArrayConfig(rows=4, cols=4)
    r = place_and_route_accel(cfg, _small_frontend(), "ecp5", "85k", tmp_path, clock_mhz=50)
    accel, array = r["accel"], r["array"]
    assert accel["fmax_mhz"] > 0 and array["fmax_mhz"] > 0
    assert accel["timing_met"] == (accel["fmax_mhz"] >= 50)
    # Only clk, rst, din and dout reach pins, yet nothing was optimized away: the scratchpad
    # banks stay block RAM and every DSP of the synthesis is placed.
    assert accel["used"]["TRELLIS_IO"] <= 4
    assert accel["used"]["DP16KD"] == accel["synth"]["bram"] >= 3
    assert accel["used"]["MULT18X18D"] == accel["synth"]["dsp"] > cfg.pes
    assert array["used"]["MULT18X18D"] == cfg.pes
    assert accel["synth"]["ff"] > 2 * array["synth"]["ff"]
    assert (tmp_path / "pnr.json").exists() and (tmp_path / "accel" / "report.json").exists()
    assert (tmp_path / "array" / "report.json").exists()


def test_accel_harness_has_four_pins():
    from amaranth.back import rtlil

    from hdl.verify.qor_harness import AccelQorHarness

    harness = AccelQorHarness(ArrayConfig(rows=2, cols=2), _small_frontend())
    text = rtlil.convert(harness, name="qor_top")
    top = text[text.index("module \\qor_top") :]
    top = top[: top.index("\nend\n")]
    # Only the harness's own pins: every accelerator port is driven or observed inside.
    ports = sorted(
        line.split()[-1]
        for line in top.splitlines()
        if line.lstrip().startswith("wire") and (" input " in line or " output " in line)
    )
    assert ports == ["\\clk", "\\din", "\\dout", "\\rst"]


def test_check_fit_counts_block_ram():
    from scripts.pnr import check_fit

    counts = {"lut": 100, "carry": 0, "lutram": 0, "ff": 100, "dsp": 0, "bram": 209}
    assert check_fit(counts, "ecp5", "85k") == "does not fit ecp5-85k: 209 DP16KD > 208"
    assert check_fit({**counts, "bram": 208}, "ecp5", "85k") is None


def test_pnr_accel_refuses_a_bad_pair_before_any_tool(tmp_path):
    from scripts.pnr import place_and_route_accel

    with pytest.raises(ValueError, match="rows must divide the bus width"):
        place_and_route_accel(
            ArrayConfig(rows=3, cols=4), _small_frontend(), "ecp5", "85k", tmp_path
        )
    with pytest.raises(ValueError, match="device must be one of"):
        place_and_route_accel(ArrayConfig(rows=4, cols=4), None, "ecp5", "12k", tmp_path)
    assert not any(tmp_path.iterdir())
