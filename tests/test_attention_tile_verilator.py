# amaranth: UnusedElaboratable=no
"""The attention tile's Verilog under Verilator (cocotb testbench ``tb.attention_tile``): a
mid-size tile (Lq = 8, Lk = 64, d = 32, dv = 16 on a 4×4 array), a few small ones and rows of
100 and 128 keys as preload and online key blocks, with causal and padding masks and with
random stalls on every stream, bit-exact against ``golden.attention.attention_tile``; with no
stalls the cycles equal ``golden.perf.attention_cycles``."""

import numpy as np
import pytest
from test_attention_tile import make_job, online_jobs, preload_jobs

from hdl.attention.tile import TILE_MODES
from tb.attention_runtime import TileBuildConfig, run_tiles

pytestmark = pytest.mark.verilator

CONFIG = TileBuildConfig(
    rows=4, cols=4, max_lq=16, max_lk=64, max_d=32, max_dv=16, max_lk_total=128
)


def test_attention_tile_verilator_bit_exact():
    rng = np.random.default_rng(11)
    jobs = [
        make_job(rng, 8, 64, 32, 16),
        make_job(rng, 8, 64, 32, 16, causal=True, pad=5),
        make_job(rng, 16, 64, 32, 16, causal=True, offset=-4),  # rows 0–3 fully masked
        make_job(rng, 5, 13, 7, 9, pad=3),
        make_job(rng, 1, 1, 1, 1),
    ]
    # Rows of 100 and 128 keys as key blocks of 64 (mode preload), one with stalls.
    jobs += preload_jobs(rng, 8, 100, 32, 16, 64, causal=True, pad=7)
    stalled = preload_jobs(rng, 6, 128, 20, 9, 64)
    for job in stalled:
        job["stall"] = 0.3
    jobs += stalled
    jobs[1]["stall"] = 0.3
    jobs[3]["stall"] = 0.5
    runs = run_tiles(CONFIG, jobs, seed=5)
    for n, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        p = job["params"]
        last = not p["mode"] or p["last_block"]
        if last:
            np.testing.assert_array_equal(run["o"], job["want"], err_msg=f"job {n}")
        if not job.get("stall"):
            mode = TILE_MODES[p["mode"]]
            want = CONFIG.cycles(p["lq"], p["lk"], p["d"], p["dv"], mode=mode, last_block=last)
            assert run["cycles"] == want, f"job {n}"
    assert (runs[2]["o"][:4] == jobs[2]["params"]["out_zp"]).all()


def test_attention_tile_verilator_online():
    """Mode ``online``: a causal padded row of 100 keys as blocks of 64 (no stalls: the
    model's cycles), a row of 128 keys as blocks of 40, 64 and 24 with stalls."""
    rng = np.random.default_rng(13)
    jobs = online_jobs(rng, 8, 100, 32, 16, 64, causal=True, pad=7, spread=2.0)
    stalled = online_jobs(rng, 6, 128, 20, 9, [40, 64, 24], spread=3.0)
    for job in stalled:
        job["stall"] = 0.3
    jobs += stalled
    assert all(job["grow"] > 0 for job in jobs)  # the max grows: the rescale runs
    runs = run_tiles(CONFIG, jobs, seed=7)
    for n, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        p = job["params"]
        if p["last_block"]:
            np.testing.assert_array_equal(run["o"], job["want"], err_msg=f"job {n}")
        if not job.get("stall"):
            want = CONFIG.cycles(
                p["lq"], p["lk"], p["d"], p["dv"], mode="online", last_block=bool(p["last_block"])
            )
            assert run["cycles"] == want, f"job {n}"


@pytest.mark.parametrize(
    "rows, sizes",
    [
        (8, {}),  # the generator's default maxima: Lq 128, Lk 512, d and dv 128
        (16, {"max_lq": 16, "max_lk": 64, "max_d": 32, "max_dv": 32, "max_lk_total": 256}),
    ],
    ids=["8x8", "16x16"],
)
def test_attention_tile_generates_and_lints_clean(rows, sizes, tmp_path):
    """8×8 and 16×16 tiles become Verilog that ``verilator --lint-only -Wall`` (with the
    project's waivers) passes."""
    from amaranth.back import verilog

    from hdl.attention.tile import AttentionTile
    from scripts.lint import lint_verilog

    path = tmp_path / "attention_tile.v"
    path.write_text(
        verilog.convert(AttentionTile(rows=rows, cols=rows, **sizes), name="attention_tile")
    )
    ok, output = lint_verilog(path, "attention_tile")
    assert ok, output
