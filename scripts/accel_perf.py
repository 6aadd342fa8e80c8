"""Accelerator utilization: START→DONE cycles in Verilator beside the cycle model's bound.

``python -m scripts.accel_perf [--out build/report]`` runs each point of :data:`POINTS` (a
dense INT8 GEMM memory to memory, per-tensor requantization, a memory with fixed read and
write latency), checks C bit-exact, and writes ``accel_perf.md`` and ``accel_perf.json``: the
measured cycles, the ideal ``M·K·N / (R·C)``, the model's bound
(:func:`tb.accel_runtime.accel_bound`) and both utilizations. ``make bench-accel`` runs it.
"""

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden.frontend import FrontendConfig
from hdl.config import ArrayConfig
from tb.accel_jobs import random_job
from tb.accel_runtime import accel_bound, run_accel_jobs


@dataclass(frozen=True)
class Point:
    rows: int
    cols: int
    m: int
    k: int
    n: int
    latency: int


#: The measured points: 256³ on 16×16 at three memory latencies, and on 8×8.
POINTS = (
    Point(16, 16, 256, 256, 256, 3),
    Point(16, 16, 256, 256, 256, 64),
    Point(16, 16, 256, 256, 256, 200),
    Point(8, 8, 256, 256, 256, 64),
)


def measure(point, frontend=None, seed=1):
    """Run one point; return a dict of its figures."""
    frontend = FrontendConfig() if frontend is None else frontend
    cfg = ArrayConfig(rows=point.rows, cols=point.cols)
    rng = np.random.default_rng(seed)
    job = random_job(cfg, frontend, rng, m=point.m, k=point.k, n=point.n, gaps=(0, 0, 0))
    (result,) = run_accel_jobs(cfg, frontend, [job], latency=point.latency, seed=seed)
    ideal = point.m * point.k * point.n / cfg.pes
    bound = accel_bound(cfg, frontend, point.m, point.k, point.n, point.latency)
    return {
        "array": f"{point.rows}x{point.cols}",
        "shape": f"{point.m}x{point.k}x{point.n}",
        "latency": point.latency,
        "bus_bits": frontend.data_width,
        "tiles": f"{frontend.tile_m}x{frontend.tile_n}x{frontend.tile_k}",
        "cycles": result.cycles,
        "ideal": ideal,
        "bound": bound,
        "utilization": ideal / result.cycles,
        "model_utilization": ideal / bound,
        "perf": result.perf,
    }


def markdown(rows):
    lines = [
        "| array | M×K×N | bus | tiles | memory latency | RTL cycles | model bound | ideal "
        "| RTL utilization | model utilization |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['array']} | {r['shape']} | {r['bus_bits']} | {r['tiles']} | {r['latency']} "
            f"| {r['cycles']:,} | {r['bound']:,} | {r['ideal']:,.0f} | {r['utilization']:.1%} "
            f"| {r['model_utilization']:.1%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/report", help="report folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for point in POINTS:
        row = measure(point)
        print(
            f"{row['array']} {row['shape']} L={row['latency']}: {row['cycles']} cycles "
            f"(bound {row['bound']}, ideal {row['ideal']:.0f}), utilization "
            f"{row['utilization']:.1%}",
            flush=True,
        )
        rows.append(row)
    (out / "accel_perf.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "accel_perf.md").write_text(markdown(rows))
    print(f"wrote {out / 'accel_perf.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
