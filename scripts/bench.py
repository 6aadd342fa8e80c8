"""``systolix bench``: the QoR and performance sweep behind docs/performance.md.

For each configuration of a sweep, one worker (a local process, or a task on a Dask cluster):

1. synthesizes one PE (yosys) and estimates the whole design from it;
2. if the estimate can fit the device, synthesizes the array in the pin-light QoR harness and
   checks the real counts against the device (:func:`scripts.pnr.check_fit`);
3. places and routes what fits (nextpnr): fmax, utilization, critical path;
4. for configurations small enough to simulate, runs standard GEMM shapes on the RTL
   (Verilator) and records the measured cycles beside the cycle model's.

The report then adds, per configuration and standard GEMM shape, the model's exact cycles, the
tiers T1/T2/T3/ideal, utilization, and peak and achieved GOPS at the measured fmax, and writes
``qor.json``, ``qor.md`` and PNG plots. Expensive results are cached per configuration under
``<out>/points/``, keyed by a digest of the sources and tools that produced them.
"""

import json
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from golden.errors import UsageValueError
from golden.perf import GemmShape, tier_cycles, utilization
from hdl.config import ECP5_DSP_BLOCKS, ECP5_MULTIPLIERS, MAC_KINDS, ArrayConfig, max_mac_pipeline
from hdl.cycles import cycles_for

#: Standard GEMM shapes ``C[M×N] = A[M×K]·B[K×N]`` of the report.
STANDARD_SHAPES = {
    "GEMM 64³": (64, 64, 64),
    "GEMM 256³": (256, 256, 256),
    "BERT-base FFN": (128, 768, 3072),
    "attention QKᵀ": (128, 64, 128),
    "decode GEMV": (1, 4096, 4096),
}
#: Array sizes of the default sweep: squares up to 32×32 and one non-square array.
DEFAULT_SIZES = ((2, 2), (4, 4), (8, 8), (16, 16), (32, 32), (2, 8))
#: RTL cycles are measured for configurations up to this many PEs ...
RTL_MAX_PES = 64
#: ... on the standard shapes the model puts at or under this many cycles.
RTL_MAX_CYCLES = 70_000
#: A design is synthesized whole only if its estimate from one PE is within this factor of
#: the device; beyond it the estimate stands in the report, marked as such.
ESTIMATE_MARGIN = 1.25
#: Sources whose change invalidates cached results.
_SOURCES = ("hdl", "golden", "tb", "scripts/synth.py", "scripts/pnr.py", "scripts/tools.py")


@dataclass(frozen=True)
class BenchOptions:
    """What each point of a sweep runs: FPGA target, device and clock constraint, whether to
    place and route, whether to measure RTL cycles, and the GEMM shapes ``{name: (M, K, N)}``
    of the performance figures.

    ``pnr_budget`` bounds the work per configuration: a design whose estimate from one PE
    needs more logic cells (TRELLIS_COMB on ECP5) than this is neither synthesized whole nor
    placed (nextpnr takes most of an hour on 70 000 cells on two cores); 0 lifts the bound.
    """

    target: str = "ecp5"
    device: str = "85k"
    clock_mhz: float = 200.0
    pnr: bool = True
    rtl: bool = True
    pnr_budget: int = 40_000
    shapes: dict = field(default_factory=lambda: dict(STANDARD_SHAPES))

    def __post_init__(self):
        from scripts.pnr import check_flow

        check_flow(self.target, self.device, self.clock_mhz)
        if not isinstance(self.pnr_budget, int) or self.pnr_budget < 0:
            raise UsageValueError(
                f"pnr_budget must be a non-negative integer, got {self.pnr_budget!r}",
                parameter="pnr_budget",
            )
        if not self.shapes:
            raise UsageValueError("shapes must name at least one GEMM shape", parameter="shapes")
        for name, mkn in self.shapes.items():
            GemmShape(*mkn)  # positive integers, or a ValueError naming the bad one
            self.shapes[name] = tuple(int(v) for v in mkn)


def default_configs(target="ecp5"):
    """The default sweep: every size of :data:`DEFAULT_SIZES` × every MAC kind (default
    multipliers: DSP for INT8, LUT for FP8); INT8 also with LUT multipliers and with the ECP5
    ``MULT18X18D`` PE (``ecp5``, on an ECP5 ``target`` only; sizes over the device's DSP blocks
    report as not fitting); at 4×4 and 8×8 the other mappings: E4M3 with DSP multipliers and the
    unpipelined INT8 MAC; at 8×8 every FP8 kind at MAC pipeline depth 3; and at 2×2, where the
    exact add limits, E4M3 and E5M2 at depths 3 and 4 (the segmented add)."""
    configs = []
    for rows, cols in DEFAULT_SIZES:
        configs += [ArrayConfig(rows=rows, cols=cols, mac=mac) for mac in MAC_KINDS]
        configs.append(ArrayConfig(rows=rows, cols=cols, multiplier="lut"))
        if target == "ecp5":
            configs.append(ArrayConfig(rows=rows, cols=cols, multiplier="ecp5"))
    for n in (4, 8):
        configs.append(ArrayConfig(rows=n, cols=n, mac="e4m3", multiplier="dsp"))
        configs.append(ArrayConfig(rows=n, cols=n, mac_pipeline=0))
    configs += [
        ArrayConfig(rows=8, cols=8, mac=mac, mac_pipeline=3)
        for mac in MAC_KINDS
        if max_mac_pipeline(mac) >= 3
    ]
    configs += [
        ArrayConfig(rows=2, cols=2, mac=mac, mac_pipeline=depth)
        for mac in ("e4m3", "e5m2")
        for depth in (3, 4)
    ]
    return configs


def sweep_configs(
    sizes=None, macs=None, multipliers=None, mac_pipelines=None, *, target="ecp5", device="85k"
):
    """Every combination of the given sizes ``[(rows, cols)]``, MAC kinds, multipliers and MAC
    pipeline depths (``None`` is the kind's default in both); omitted lists take
    :data:`DEFAULT_SIZES`, every kind, ``[None]`` and ``[None]``. A depth a kind does not have
    (3 for INT8) and an ECP5 multiplier (``ecp5``, ``auto``) for an FP8 kind are left out.
    ``auto`` fills the DSP blocks of the ECP5 ``device`` (:data:`~hdl.config.ECP5_DSP_BLOCKS`).
    ECP5 multipliers need ``target="ecp5"``: a usage error names the option otherwise."""
    ecp5_asked = [m for m in multipliers or () if m in ECP5_MULTIPLIERS]
    if ecp5_asked and target != "ecp5":
        raise UsageValueError(
            f"multiplier {ecp5_asked[0]!r} instantiates ECP5 MULT18X18D cells: it needs target "
            f"'ecp5', got {target!r}",
            parameter="multipliers",
        )
    configs = []
    for rows, cols in sizes or DEFAULT_SIZES:
        for mac in macs or MAC_KINDS:
            for multiplier in multipliers or [None]:
                if multiplier in ECP5_MULTIPLIERS and mac != "int8":
                    continue
                dsp_blocks = ECP5_DSP_BLOCKS[device] if multiplier == "auto" else None
                for pipeline in mac_pipelines or [None]:
                    if pipeline is not None and pipeline > max_mac_pipeline(mac):
                        continue
                    configs.append(
                        ArrayConfig(
                            rows=rows,
                            cols=cols,
                            mac=mac,
                            multiplier=multiplier,
                            mac_pipeline=pipeline,
                            dsp_blocks=dsp_blocks,
                        )
                    )
    return list(dict.fromkeys(configs))


def parse_sizes(text):
    """``"2x2,4x16"`` → ``[(2, 2), (4, 16)]``."""
    sizes = []
    for item in text.split(","):
        try:
            rows, cols = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise UsageValueError(
                f"sizes must be ROWSxCOLS items separated by commas, got {item!r}",
                parameter="sizes",
            ) from None
        sizes.append((rows, cols))
    return sizes


def rtl_shapes(config, shapes):
    """Names of ``shapes`` whose RTL cycles are measured for ``config`` (empty if too large)."""
    if config.pes > RTL_MAX_PES or config.multiplier != config.default_multiplier:
        return []  # the multiplier mapping does not change the RTL's cycles
    return [
        name
        for name, (m, k, n) in shapes.items()
        if cycles_for(config, (m, k, n)) <= RTL_MAX_CYCLES
    ]


def source_digest():
    """Digest of the sources and flow tools whose results a point caches."""
    from scripts.tools import tool_versions
    from tb.verilator import source_digest as tree_digest

    return tree_digest(_SOURCES, extra=json.dumps(tool_versions(), sort_keys=True))[:16]


def _counts(report):
    return {k: v for k, v in report.items() if k != "cells_by_type"}


def _measure_rtl(config, shapes, seed=1):
    import numpy as np

    from tb.runtime import GemmJob, random_operands, run_gemm_batch

    rng = np.random.default_rng(seed)
    jobs = [GemmJob(*random_operands(config, rng, *mkn)) for mkn in shapes.values()]
    runs = run_gemm_batch(config, jobs, seed=seed)  # raises on any result bit that differs
    out = []
    for (name, (m, k, n)), run in zip(shapes.items(), runs, strict=True):
        model = cycles_for(config, (m, k, n))
        out.append({"shape": name, "rtl_cycles": run.cycles, "model_cycles": model})
    return out


def measure_point(task):
    """Measure one configuration (runs in a worker); returns its record.

    ``task`` is a dict of plain values so that it crosses process and network boundaries:
    ``config`` (JSON), ``options`` (:class:`BenchOptions` fields), ``out`` (report folder),
    ``digest`` (:func:`source_digest`) and ``fresh`` (ignore a cached record).
    """
    from scripts.pnr import (
        DEVICE_CAPACITY,
        check_fit,
        resource_demand,
        route,
        synthesize_harness,
    )
    from scripts.synth import synthesize_pe
    from scripts.tools import ToolError

    config = ArrayConfig.from_json(task["config"])
    options = BenchOptions(**task["options"])
    key = f"{config.id}-{options.target}-{options.device}"
    work = Path(task["out"]) / "points" / key
    cache = work / "record.json"
    # Compared after a JSON round trip, as the cached copy has made one.
    stamp = json.loads(json.dumps({"digest": task["digest"], "options": asdict(options)}))
    if cache.exists() and not task.get("fresh"):
        record = json.loads(cache.read_text())
        if record.get("stamp") == stamp:
            record["cached"] = True
            return record

    start = time.perf_counter()
    record = {
        "config": config.to_dict(),
        "config_id": config.id,
        "stamp": stamp,
        "target": options.target,
        "device": options.device,
        "pe": None,
        "design": None,
        "design_estimated": False,
        "fit_error": None,
        "pnr": None,
        "pnr_error": None,
        "over_budget": None,
        "rtl": [],
        "cached": False,
    }
    # One PE of each multiplier kind (an ``auto`` array has two); the estimate weighs each by
    # the PEs of that kind.
    pe_by_kind = {
        kind: _counts(synthesize_pe(config, options.target, work / f"pe_{kind}", multiplier=kind))
        for kind in config.pe_kinds
    }
    record["pe"] = pe_by_kind[config.pe_kinds[0]]
    record["pe_by_kind"] = pe_by_kind
    pes_of_kind = Counter(kind for row in config.pe_multipliers for kind in row)
    estimate = {
        k: sum(counts[k] * pes_of_kind[kind] for kind, counts in pe_by_kind.items())
        for k in ("cells", "lut", "carry", "ff", "dsp", "lutram")
    }
    capacity = DEVICE_CAPACITY[options.target][options.device]
    demand = resource_demand(estimate, options.target)
    if any(demand[r] > ESTIMATE_MARGIN * capacity[r] for r in capacity):
        record["fit_error"] = check_fit(estimate, options.target, options.device) + (
            f" (estimated from one PE × {config.pes})"
        )
    elif options.pnr_budget and demand["comb"] > options.pnr_budget:
        record["over_budget"] = (
            f"estimated {demand['comb']} logic cells > --pnr-budget {options.pnr_budget}: "
            "not synthesized whole or placed"
        )
    if record["fit_error"] or record["over_budget"]:
        record["design"] = {**estimate, "bram": 0}
        record["design_estimated"] = True
    else:
        design = _counts(synthesize_harness(config, options.target, work / "harness"))
        record["design"] = design
        record["fit_error"] = check_fit(design, options.target, options.device)
        if options.pnr and record["fit_error"] is None:
            try:
                record["pnr"] = route(
                    options.target, options.device, work / "harness", clock_mhz=options.clock_mhz
                )
            except ToolError as exc:  # nextpnr's verdict (e.g. unroutable) is a result too
                lines = str(exc).splitlines()
                errors = [line.strip() for line in lines if line.strip().startswith("ERROR:")]
                record["pnr_error"] = errors[-1] if errors else lines[0]
    names = rtl_shapes(config, options.shapes) if options.rtl else []
    if names:
        record["rtl"] = _measure_rtl(config, {name: options.shapes[name] for name in names})
    record["seconds"] = round(time.perf_counter() - start, 1)
    work.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(record, indent=2) + "\n")
    return record


def performance(config, fmax_mhz, shapes):
    """Cycle model, tiers, utilization and GOPS of ``config`` (a dict) on each of ``shapes``.

    ``fmax_mhz`` may be ``None`` (not routed): the GOPS figures are then ``None`` too.
    """
    r, c = config["rows"], config["cols"]
    array_config = ArrayConfig(**config)
    figures = []
    for name, (m, k, n) in shapes.items():
        cycles = cycles_for(array_config, (m, k, n))
        entry = {
            "shape": name,
            "m": m,
            "k": k,
            "n": n,
            "cycles": cycles,
            **tier_cycles(r, c, m, k, n),
            "utilization": utilization(r, c, m, k, n, cycles),
            "achieved_gops": None,
        }
        if fmax_mhz:
            entry["achieved_gops"] = 2 * m * k * n * fmax_mhz * 1e6 / cycles / 1e9
        figures.append(entry)
    peak = 2 * r * c * fmax_mhz / 1e3 if fmax_mhz else None
    return {"peak_gops": peak, "shapes": figures}


def _local_map(tasks, jobs):
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(measure_point, t) for t in tasks]
        for future in as_completed(futures):
            yield future.result()


def _dask_map(tasks, address):
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_completed

    with Client(address) as client:
        futures = client.map(measure_point, tasks, pure=False)
        for future in dask_completed(futures):
            yield future.result()


def run_sweep(
    configs, options, out_dir, *, jobs=None, dask_scheduler=None, fresh=False, progress=True
):
    """Measure every configuration, in parallel; return the records in sweep order.

    Parameters
    ----------
    configs : list of ArrayConfig
    options : BenchOptions
    out_dir : path
        Report folder; per-configuration work and cache go to ``out_dir/points/``.
    jobs : int or None
        Local worker processes (default: every core). Ignored with ``dask_scheduler``.
    dask_scheduler : str or None
        Address of a running Dask scheduler (``tcp://host:8786``): the points run as tasks on
        its workers, which need systolix installed and the report folder at the same path.
    fresh : bool
        Recompute points whose cached records are still valid.
    """
    if not configs:
        raise UsageValueError("the sweep has no configurations")
    out = Path(out_dir).resolve()
    digest = source_digest()
    # Largest first, so the long place-and-route runs start early and small ones fill in.
    order = sorted(range(len(configs)), key=lambda i: -configs[i].pes)
    tasks = [
        {
            "config": configs[i].to_json(),
            "options": asdict(options),
            "out": str(out),
            "digest": digest,
            "fresh": fresh,
        }
        for i in order
    ]
    results = (
        _dask_map(tasks, dask_scheduler)
        if dask_scheduler
        else _local_map(tasks, jobs or os.cpu_count() or 1)
    )
    if progress:
        from tqdm import tqdm

        results = tqdm(results, total=len(tasks), desc="bench", unit="config")
    by_id = {}
    for record in results:
        by_id[record["config_id"]] = record
        if progress:
            results.set_postfix_str(record["config_id"])
    return [by_id[c.id] for c in configs]


def build_report(records, options, command):
    """The ``qor.json`` document: tool versions, options, shapes and one record per config
    with its :func:`performance` figures."""
    from scripts.tools import tool_versions

    enriched = []
    for record in records:
        fmax = record["pnr"]["fmax_mhz"] if record["pnr"] else None
        perf = performance(record["config"], fmax, options.shapes)
        enriched.append({**record, "performance": perf})
    return {
        "command": command,
        "tools": tool_versions(),
        "options": asdict(options),
        "shapes": {name: list(mkn) for name, mkn in options.shapes.items()},
        "records": enriched,
    }


def write_report(report, out_dir):
    """Write ``qor.json``, ``qor.md`` and the plots into ``out_dir``; return their paths."""
    from scripts.bench_report import markdown, plot_all

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "qor.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "qor.md").write_text(markdown(report))
    plots = plot_all(report, out)
    return [out / "qor.json", out / "qor.md", *plots]
