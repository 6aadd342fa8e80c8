"""``systolix``: generate, lint, simulate and synthesize weight-stationary systolic arrays."""

import argparse
import sys
from pathlib import Path

import numpy as np

from golden import tier_cycles
from golden.fp8 import fp8_to_float
from golden.perf import utilization
from hdl.config import MAC_KINDS, MULTIPLIERS, ArrayConfig
from hdl.cycles import cycles_for


class UsageError(Exception):
    """Bad input at the command line: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _add_config_args(parser, *, rows=8, cols=8, mac_help=None):
    parser.add_argument("--rows", type=int, default=rows, help=f"PE rows R (default {rows})")
    parser.add_argument("--cols", type=int, default=cols, help=f"PE columns C (default {cols})")
    parser.add_argument(
        "--mac", default="int8", help=mac_help or f"MAC kind: {', '.join(MAC_KINDS)}"
    )
    parser.add_argument("--max-k", type=int, default=4096, help="largest K (default 4096)")
    parser.add_argument(
        "--acc-width", type=int, default=None, help="accumulator bits (default: exact for --max-k)"
    )
    parser.add_argument(
        "--multiplier",
        default=None,
        help=f"multiplier mapping: {', '.join(MULTIPLIERS)} (default dsp for INT8, lut for FP8)",
    )
    parser.add_argument(
        "--mac-pipeline",
        type=int,
        default=None,
        help="MAC pipeline registers 0-2: 1 product, 2 product and operands (default 2)",
    )


def _config(args):
    return ArrayConfig(
        rows=args.rows,
        cols=args.cols,
        mac=args.mac,
        max_k=args.max_k,
        acc_width=args.acc_width,
        multiplier=args.multiplier,
        mac_pipeline=args.mac_pipeline,
    )


def cmd_generate(args):
    from hdl.generate import generate

    cfg = _config(args)
    path = generate(cfg, args.out)
    print(
        f"{cfg.id}: wrote {path}, {Path(args.out) / 'manifest.json'}, "
        f"{Path(args.out) / 'filelist.f'}"
    )
    return 0


def cmd_lint(args):
    from hdl.generate import ARRAY_TOP, generate
    from scripts.lint import lint_verilog

    cfg = _config(args)
    out = Path(args.out or f"build/lint/{cfg.id}")
    path = generate(cfg, out)
    ok, output = lint_verilog(path, ARRAY_TOP)
    print(output or f"{cfg.id}: verilator -Wall lint clean")
    return 0 if ok else 1


def run_and_report(cfg, m, k, n, seed, act_unsigned=False):
    """Run one random GEMM in Verilator, print the check and the cycle figures; return ok."""
    from tb.numerics import numerics_for
    from tb.runtime import random_operands, run_gemm

    rng = np.random.default_rng(seed)
    a, b = random_operands(cfg, rng, m, k, n, act_unsigned=act_unsigned)
    run = run_gemm(cfg, a, b, act_unsigned=act_unsigned, seed=seed)
    numerics = numerics_for(cfg)
    want = numerics.expected(a, b, act_unsigned)
    ok = bool(np.array_equal(numerics.comparable(run.c), numerics.comparable(want)))
    model = cycles_for(cfg, (m, k, n))
    tiers = tier_cycles(cfg.rows, cfg.cols, m, k, n)
    print(
        f"{cfg.id}: GEMM M={m} K={k} N={n} seed={seed}: "
        f"{'PASS' if ok else 'FAIL'} (bit-exact vs golden model)"
    )
    print(
        f"  cycles {run.cycles} (model {model}, "
        f"{'equal' if run.cycles == model else 'DIFFERENT'}); "
        f"T3 {tiers['T3']}, T1 {tiers['T1']}, ideal {tiers['ideal']}"
    )
    print(
        f"  utilization {utilization(cfg.rows, cfg.cols, m, k, n, run.cycles):.1%} of {cfg.pes} PEs"
    )
    if cfg.is_fp8:
        fa, fb = cfg.fp8_formats
        exact = fp8_to_float(a, fa) @ fp8_to_float(b, fb)
        scale = np.maximum(np.abs(exact), np.finfo(np.float32).tiny)
        print(f"  max relative error vs float64: {np.max(np.abs(run.c - exact) / scale):.2e}")
    return ok and run.cycles == model


def cmd_run_gemm(args):
    cfg = _config(args)
    for name in ("m", "k", "n"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.k > cfg.max_k:
        raise ValueError(f"--k must be at most --max-k={cfg.max_k}, got {args.k}")
    ok = run_and_report(cfg, args.m, args.k, args.n, args.seed, args.act_unsigned)
    return 0 if ok else 1


def cmd_synth(args):
    from scripts.synth import compare_pes, synthesize, write_reports

    macs = [mac.strip() for mac in args.mac.split(",")]
    reports = []
    for mac in macs:
        args.mac = mac
        cfg = _config(args)
        out = Path(args.out or "build/synth") / f"{cfg.id}-{args.target}"
        report = synthesize(cfg, args.target, out)
        print(write_reports(report, out).read_text())
        reports.append(report)
    if len(reports) > 1:
        print(compare_pes(reports))
    return 0


def cmd_pnr(args):
    from scripts.pnr import place_and_route

    cfg = _config(args)
    out = Path(args.out or "build/pnr") / f"{cfg.id}-{args.target}-{args.device}"
    r = place_and_route(cfg, args.target, args.device, out, clock_mhz=args.clock_mhz)
    verdict = "met" if r["timing_met"] else "NOT met"
    print(
        f"{cfg.id} on {args.target}-{args.device}: fmax {r['fmax_mhz']} MHz "
        f"(constraint {args.clock_mhz} MHz, {verdict})"
    )
    for cell, used in sorted(r["used"].items()):
        print(f"  {cell}: {used} / {r['available'][cell]}")
    if r["critical_path"]:
        p = r["critical_path"]
        print(f"  critical path: {p['from']} -> {p['to']} ({p['steps']} steps)")
    print(f"  report: {out / 'pnr.json'}")
    return 0


def cmd_bench(args):
    from scripts.bench import (
        BenchOptions,
        build_report,
        default_configs,
        parse_sizes,
        run_sweep,
        sweep_configs,
        write_report,
    )

    options = BenchOptions(
        target=args.target,
        device=args.device,
        clock_mhz=args.clock_mhz,
        pnr=not args.no_pnr,
        rtl=not args.no_rtl,
        pnr_budget=args.pnr_budget,
    )
    custom = (args.sizes, args.macs, args.multipliers, args.mac_pipelines)
    if any(custom):
        configs = sweep_configs(
            parse_sizes(args.sizes) if args.sizes else None,
            args.macs.split(",") if args.macs else None,
            args.multipliers.split(",") if args.multipliers else None,
            [int(p) for p in args.mac_pipelines.split(",")] if args.mac_pipelines else None,
        )
    else:
        configs = default_configs()
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    records = run_sweep(
        configs,
        options,
        args.out,
        jobs=args.jobs,
        dask_scheduler=args.dask_scheduler,
        fresh=args.fresh,
        progress=not args.quiet,
    )
    command = "systolix bench " + " ".join(args.argv) if args.argv else "systolix bench"
    for path in write_report(build_report(records, options, command.strip()), args.out):
        print(f"wrote {path}")
    return 0


def cmd_demo(args):
    from hdl.generate import generate
    from scripts.synth import synthesize, write_reports

    cfg = _config(args)
    out = Path("build/demo")
    path = generate(cfg, out / "verilog")
    print(f"generated {path}")
    ok = run_and_report(cfg, args.m, args.k, args.n, args.seed)
    if not args.no_synth:
        report = synthesize(cfg, "ecp5", out / "synth-ecp5")
        md = write_reports(report, out / "synth-ecp5")
        print(Path(md).read_text())
    return 0 if ok else 1


def build_parser():
    parser = _Parser(prog="systolix", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("generate", help="write Verilog, manifest.json and filelist.f")
    _add_config_args(p)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("lint", help="generate and lint with verilator -Wall")
    _add_config_args(p)
    p.add_argument("--out", default=None, help="output directory (default build/lint/<id>)")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("run-gemm", help="run one random GEMM in Verilator against the golden model")
    _add_config_args(p)
    for name in ("m", "k", "n"):
        p.add_argument(f"--{name}", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--act-unsigned", action="store_true", help="uint8 activations")
    p.set_defaults(func=cmd_run_gemm)

    p = sub.add_parser("synth", help="yosys synthesis: cells, LUT, FF, DSP, BRAM per PE and total")
    _add_config_args(p, mac_help="MAC kind, or a comma-separated list to compare their PEs")
    p.add_argument("--target", default="ecp5", help="generic, ecp5 or ice40")
    p.add_argument("--out", default=None, help="output root (default build/synth)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("pnr", help="place and route in a pin-light harness: fmax, utilization")
    _add_config_args(p)
    p.add_argument("--target", default="ecp5", help="ecp5 or ice40")
    p.add_argument("--device", default="85k", help="ecp5: 25k, 45k, 85k; ice40: up5k, hx8k")
    p.add_argument("--clock-mhz", type=float, default=100.0, help="clock constraint")
    p.add_argument("--out", default=None, help="output root (default build/pnr)")
    p.set_defaults(func=cmd_pnr)

    p = sub.add_parser(
        "bench", help="sweep sizes x MAC kinds: synth, place and route, cycles, GOPS, plots"
    )
    p.add_argument("--sizes", default=None, help="ROWSxCOLS list, e.g. 2x2,8x8 (default sweep)")
    p.add_argument("--macs", default=None, help=f"MAC kinds (default all: {','.join(MAC_KINDS)})")
    p.add_argument("--multipliers", default=None, help="dsp,lut (default: the kind's own)")
    p.add_argument("--mac-pipelines", default=None, help="MAC pipeline depths, e.g. 0,2")
    p.add_argument("--target", default="ecp5", help="ecp5 or ice40")
    p.add_argument("--device", default="85k", help="ecp5: 25k, 45k, 85k; ice40: up5k, hx8k")
    p.add_argument("--clock-mhz", type=float, default=200.0, help="clock constraint (200)")
    p.add_argument("--no-pnr", action="store_true", help="synthesis only")
    p.add_argument("--no-rtl", action="store_true", help="no Verilator cycle measurements")
    p.add_argument(
        "--pnr-budget",
        type=int,
        default=40_000,
        help="largest estimated logic-cell count synthesized whole and placed (40000; 0: any)",
    )
    p.add_argument("--jobs", type=int, default=None, help="local worker processes (all cores)")
    p.add_argument("--dask-scheduler", default=None, help="run on a Dask cluster at ADDRESS")
    p.add_argument("--fresh", action="store_true", help="ignore cached per-config results")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", default="build/report", help="report folder (default build/report)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="generate, simulate one GEMM and synthesize the default array")
    _add_config_args(p)
    for name in ("m", "k", "n"):
        p.add_argument(f"--{name}", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-synth", action="store_true", help="skip the ECP5 area summary")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)[1:]
        return args.func(args)
    except (UsageError, ValueError, TypeError) as exc:
        print(f"systolix: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # a flow tool or a simulation failed: its log tail says why
        print(f"systolix: failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
