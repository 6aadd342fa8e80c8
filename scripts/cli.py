"""``systolix``: generate, lint, simulate and synthesize weight-stationary systolic arrays."""

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from golden import tier_cycles
from golden.errors import UsageError, UsageValueError, check_choice, check_int
from golden.fp8 import fp8_to_float
from golden.perf import utilization
from hdl.config import MAC_KINDS, MULTIPLIERS, ArrayConfig
from hdl.cycles import cycles_for

#: Command-line spelling of each :class:`~hdl.config.ArrayConfig` parameter.
CONFIG_OPTIONS = {
    "rows": "--rows",
    "cols": "--cols",
    "mac": "--mac",
    "max_k": "--max-k",
    "acc_width": "--acc-width",
    "multiplier": "--multiplier",
    "mac_pipeline": "--mac-pipeline",
    "dsp_blocks": "--dsp-blocks",
}
#: Largest ``bench --jobs``.
MAX_JOBS = 256


class _Parser(argparse.ArgumentParser):
    """argparse whose complaints are raised as usage errors, so that :func:`main` reports them
    like every other bad input."""

    def error(self, message):
        raise UsageValueError(message)


@contextmanager
def _options(**spelling):
    """Reword a usage error about one of the parameters named in ``spelling`` with its option:
    ``rows must be between 1 and 128, got 0`` becomes ``--rows must be between …``."""
    try:
        yield
    except UsageError as exc:
        option = spelling.get(exc.parameter)
        if option is None:
            raise
        message = str(exc)
        if message.startswith(exc.parameter):
            message = option + message[len(exc.parameter) :]
        else:
            message = f"{option}: {message}"
        raise type(exc)(message, parameter=option) from None


def _out_dir(path, option="--out"):
    """Create the output folder ``path`` now, before any work, and return it as a ``Path``.

    An empty path (which would mean the current folder), an existing file, a path under a file
    and a folder that cannot be created or written are usage errors naming ``option``.
    """
    text = os.fspath(path)
    if not text.strip():
        raise UsageValueError(f"{option} must name a folder, got {text!r}", parameter=option)
    out = Path(text)
    refused = f"{option} must be a folder systolix can create and write, got {text!r}"
    for place in (out, *out.parents):
        if place.exists():
            if not place.is_dir():
                what = "it is" if place == out else f"{os.fspath(place)!r} is"
                raise UsageValueError(f"{refused}: {what} a file", parameter=option)
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageValueError(f"{refused}: {exc.strerror}", parameter=option) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageValueError(f"{refused}: it is not writable", parameter=option)
    return out


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
        help="MAC pipeline registers 0-2 (FP8 0-4): 1 product, 2 also operands, 3 also the "
        "FP8 product before its shift, 4 also a segmented FP8 sum (default 2)",
    )
    parser.add_argument(
        "--dsp-blocks",
        type=int,
        default=None,
        help="DSP blocks for --multiplier ecp5 or auto (an ECP5-85k has 156)",
    )


def _config(args, mac=None):
    """The configuration the options ask for (``mac`` overrides ``--mac``); a bad value is a
    usage error naming its option."""
    with _options(**CONFIG_OPTIONS):
        return ArrayConfig(
            rows=args.rows,
            cols=args.cols,
            mac=args.mac if mac is None else mac,
            max_k=args.max_k,
            acc_width=args.acc_width,
            multiplier=args.multiplier,
            mac_pipeline=args.mac_pipeline,
            dsp_blocks=args.dsp_blocks,
        )


#: Command-line spelling of each :class:`~golden.frontend.FrontendConfig` parameter.
FRONTEND_OPTIONS = {
    "data_width": "--bus-width",
    "addr_width": "--addr-width",
    "max_burst": "--max-burst",
    "outstanding_reads": "--outstanding-reads",
    "tile_m": "--tiles",
    "tile_n": "--tiles",
    "tile_k": "--tiles",
    "requant_lanes": "--requant-lanes",
}


def _add_frontend_args(parser):
    """The accelerator's bus and tile options (``--top accel``)."""
    g = parser.add_argument_group("accelerator (--top accel)")
    g.add_argument("--bus-width", type=int, default=128, help="AXI data bits: 64, 128, 256")
    g.add_argument("--addr-width", type=int, default=32, help="AXI address bits: 32 or 64")
    g.add_argument("--max-burst", type=int, default=64, help="longest burst in beats (64)")
    g.add_argument("--outstanding-reads", type=int, default=16, help="read bursts in flight (16)")
    g.add_argument("--tiles", default="64x64x256", help="tiles TMxTNxTK (64x64x256)")
    g.add_argument(
        "--requant-lanes", type=int, default=None, help="requantizer multipliers (default C)"
    )


def _frontend(args):
    """The :class:`~golden.frontend.FrontendConfig` of the accelerator options."""
    from golden.frontend import FrontendConfig

    parts = args.tiles.lower().split("x")
    try:
        tile_m, tile_n, tile_k = (int(p) for p in parts)
    except ValueError:
        raise UsageValueError(
            f"--tiles must be three integers TMxTNxTK such as 64x64x256, got {args.tiles!r}",
            parameter="--tiles",
        ) from None
    with _options(**FRONTEND_OPTIONS):
        return FrontendConfig(
            data_width=args.bus_width,
            addr_width=args.addr_width,
            max_burst=args.max_burst,
            outstanding_reads=args.outstanding_reads,
            tile_m=tile_m,
            tile_n=tile_n,
            tile_k=tile_k,
            requant_lanes=args.requant_lanes,
        )


def _check_gemm_options(args, cfg):
    """The ``--m``, ``--k``, ``--n`` and ``--seed`` options of a simulated GEMM, checked
    before any operand is allocated (:func:`tb.runtime.check_gemm_shape`)."""
    from tb.runtime import MAX_SEED, check_gemm_shape

    names = {"m": "--m", "k": "--k", "n": "--n", "max_k": "--max-k"}
    check_gemm_shape(cfg, args.m, args.k, args.n, names=names)
    check_int("--seed", args.seed, 0, MAX_SEED)


def _add_top_args(parser):
    """``--top``, ``--acc-rows`` and ``--name`` of ``generate`` and ``lint``."""
    parser.add_argument(
        "--top",
        default="array",
        help="top level: array (the bare array), gemm (array + accumulator SRAM), accel (the "
        "AXI accelerator) or attention (the attention tile)",
    )
    parser.add_argument(
        "--acc-rows",
        type=int,
        default=None,
        help="accumulator SRAM rows, the largest M per fold (1-65536; --top gemm only)",
    )
    parser.add_argument(
        "--name",
        default=None,
        help="top module name and prefix of every module (default systolix_<config id>)",
    )


#: Command-line spelling of the attention tile's generator parameters (``--top attention``).
ATTENTION_OPTIONS = {
    "max_lq": "--max-lq",
    "max_lk": "--max-lk",
    "max_d": "--max-d",
    "max_dv": "--max-dv",
    "max_lk_total": "--max-lk-total",
    "p_bits": "--p-bits",
    "reciprocal_units": "--reciprocal-units",
}


def _add_attention_args(parser):
    """The attention tile's options of ``generate`` and ``lint`` (``--top attention``, or
    ``--top accel --attention``; the array is ``--rows`` × ``--cols``, which must be equal)."""
    g = parser.add_argument_group("attention tile (--top attention, or --top accel --attention)")
    g.add_argument(
        "--attention",
        action="store_true",
        help="--top accel: add the attention unit (ATTENTION descriptors); --max-lq and "
        "--max-lk are its tile, --max-lk-total its longest key row",
    )
    g.add_argument("--max-lq", type=int, default=None, help="largest Lq, 1-4096 (128)")
    g.add_argument("--max-lk", type=int, default=None, help="largest Lk of one tile (512)")
    g.add_argument("--max-d", type=int, default=None, help="largest d, 1-4096 (128)")
    g.add_argument("--max-dv", type=int, default=None, help="largest dv, 1-4096 (128)")
    g.add_argument(
        "--max-lk-total",
        type=int,
        default=None,
        help="longest row over all key blocks (default --max-lk)",
    )
    g.add_argument("--p-bits", type=int, default=None, help="bits of P: 8 (default) or 16")
    g.add_argument(
        "--reciprocal-units", type=int, default=None, help="row reciprocal units, 1-8 (2)"
    )


def _attention(args):
    """The attention parameters the options give (``None`` unless ``--top attention``); an
    attention option with another top (but for ``--top accel --attention``) is a usage error
    naming it."""
    given = {key: getattr(args, key) for key in ATTENTION_OPTIONS}
    if args.attention and args.top != "accel":
        raise UsageValueError(
            f"--attention applies to --top accel only, got it for --top {args.top}",
            parameter="--attention",
        )
    if args.top != "attention":
        unit_keys = () if not args.attention else tuple(UNIT_OPTIONS)
        for key, value in given.items():
            if value is not None and key not in unit_keys:
                where = (
                    "--top attention or --top accel --attention"
                    if key in UNIT_OPTIONS
                    else ("--top attention")
                )
                raise UsageValueError(
                    f"{ATTENTION_OPTIONS[key]} applies to {where} only, got it for "
                    f"--top {args.top}" + (" without --attention" if args.top == "accel" else ""),
                    parameter=ATTENTION_OPTIONS[key],
                )
        return None
    return given


def _check_tile_array_options(args):
    """The attention tile builds its own INT8 array, sized from ``--max-d`` and
    ``--max-lk-total``: array options other than ``--rows``/``--cols`` would be ignored, so
    they are usage errors."""
    ignored = {
        "--mac": args.mac != "int8",
        "--max-k": args.max_k != 4096,
        "--acc-width": args.acc_width is not None,
        "--multiplier": args.multiplier is not None,
        "--mac-pipeline": args.mac_pipeline is not None,
        "--dsp-blocks": args.dsp_blocks is not None,
    }
    for option, given in ignored.items():
        if given:
            raise UsageValueError(
                f"{option} does not apply to --top attention: the tile's array is INT8, sized "
                "from --max-d and --max-lk-total (only --rows and --cols choose it)",
                parameter=option,
            )


#: The attention unit of ``--top accel --attention``: ``AttentionConfig`` field ← option.
UNIT_OPTIONS = {
    "max_lq": "block_lq",
    "max_lk": "block_lk",
    "max_lk_total": "max_lk",
    "max_d": "max_d",
    "max_dv": "max_dv",
    "p_bits": "p_bits",
}


def _attention_unit(args, cfg):
    """The :class:`~golden.descriptor.AttentionConfig` of ``--top accel --attention`` (``None``
    without ``--attention``); the array must be square."""
    if not (args.top == "accel" and args.attention):
        return None
    from golden.descriptor import AttentionConfig

    if cfg.rows != cfg.cols:
        raise UsageValueError(
            f"--attention needs --rows equal to --cols, got {cfg.rows} and {cfg.cols}",
            parameter="--attention",
        )
    values = {
        field: getattr(args, key)
        for key, field in UNIT_OPTIONS.items()
        if getattr(args, key) is not None
    }
    with _options(**{field: ATTENTION_OPTIONS[key] for key, field in UNIT_OPTIONS.items()}):
        return AttentionConfig(**values)


def _add_measure_top_arg(parser):
    """``--top`` of ``synth`` and ``pnr``."""
    parser.add_argument(
        "--top",
        default="array",
        choices=("array", "accel"),
        help="array (the bare array) or accel (the AXI accelerator; front end counted apart)",
    )


#: Command-line spelling of :func:`hdl.generate.generate`'s parameters.
GENERATE_OPTIONS = {
    "top": "--top",
    "acc_rows": "--acc-rows",
    "name": "--name",
    "rows": "--rows",
    "cols": "--cols",
    **ATTENTION_OPTIONS,
}


def _check_generate_options(args):
    """``--top``, ``--acc-rows``, ``--name`` and the attention options, checked before the
    output folder is made."""
    from hdl.generate import attention_params, check_name, check_top

    with _options(**GENERATE_OPTIONS):
        check_top(args.top, args.acc_rows)
        attention = _attention(args)
        if attention is not None:
            _check_tile_array_options(args)
            attention_params(attention, _config(args))
        _attention_unit(args, _config(args))
        if args.name is not None:
            check_name(args.name)


def _generate(args, cfg, out):
    """Generate the ``--top`` design of ``cfg`` into ``out``; the path of the Verilog, whose
    stem is the top module's name."""
    from hdl.generate import generate

    frontend = _accel_frontend(args, [cfg]) if args.top == "accel" else None
    with _options(**GENERATE_OPTIONS):
        return generate(
            cfg,
            out,
            top=args.top,
            name=args.name,
            acc_rows=args.acc_rows,
            frontend=frontend,
            attention=_attention(args),
            attention_unit=_attention_unit(args, cfg),
        )


def cmd_generate(args):
    cfg = _config(args)
    _check_generate_options(args)
    out = _out_dir(args.out)
    path = _generate(args, cfg, out)
    files = ", ".join(str(out / f) for f in ("manifest.json", "filelist.f", f"{path.stem}.core"))
    print(f"{path.stem if args.top == 'attention' else cfg.id}: wrote {path}, {files}")
    return 0


def cmd_lint(args):
    from scripts.lint import lint_verilog

    cfg = _config(args)
    _check_generate_options(args)
    out = _out_dir(f"build/lint/{cfg.id}-{args.top}" if args.out is None else args.out)
    path = _generate(args, cfg, out)
    ok, output = lint_verilog(path, path.stem)
    print(output or f"{cfg.id}: {path.stem} verilator -Wall lint clean")
    return 0 if ok else 1


def run_and_report(cfg, m, k, n, seed, act_unsigned=False, waves=None):
    """Run one random GEMM in Verilator, print the check and the cycle figures; return ok.

    ``waves`` (``"vcd"`` or ``"fst"``) runs the traced simulator and prints the waveform's path.
    """
    from tb.numerics import numerics_for
    from tb.runtime import random_operands, run_gemm

    rng = np.random.default_rng(seed)
    a, b = random_operands(cfg, rng, m, k, n, act_unsigned=act_unsigned)
    run = run_gemm(cfg, a, b, act_unsigned=act_unsigned, seed=seed, waves=waves)
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
    if run.waves is not None:
        print(f"  waveform {run.waves}")
    return ok and run.cycles == model


#: ``run-gemm --requant`` choices: INT8 output modes and FP8 output formats.
REQUANT_CHOICES = {"int8": ("per-tensor", "per-channel", "raw"), "fp8": ("binary32", "fp8")}


def run_accel_and_report(cfg, frontend, m, k, n, seed, *, latency, requant, act_unsigned=False):
    """Run one random GEMM memory to memory on the accelerator in Verilator; print the check,
    START→DONE cycles, the ideal, the model's bound and the utilization; return ok."""
    from golden.frontend import ACT_UNSIGNED, OUT_FP8, OUT_RAW, PER_CHANNEL_Q
    from tb.accel_jobs import random_job
    from tb.accel_runtime import accel_bound, run_accel_jobs

    flags = {
        "per-tensor": 0,
        "per-channel": PER_CHANNEL_Q,
        "raw": OUT_RAW,
        "binary32": 0,
        "fp8": OUT_FP8,
    }[requant]
    if act_unsigned:
        flags |= ACT_UNSIGNED
    rng = np.random.default_rng(seed)
    job = random_job(cfg, frontend, rng, m=m, k=k, n=n, flags=flags, gaps=(0, 0, 0))
    try:
        (result,) = run_accel_jobs(cfg, frontend, [job], latency=latency, seed=seed)
        ok, verdict = True, "PASS (bit-exact vs golden model, protocol and containment clean)"
    except AssertionError as exc:
        print(f"{cfg.id} accel: GEMM M={m} K={k} N={n}: FAIL: {exc}")
        return False
    ideal = m * k * n / cfg.pes
    bound = accel_bound(cfg, frontend, m, k, n, latency, flags=flags)
    print(f"{cfg.id} accel ({frontend.data_width}-bit bus, tiles {frontend.tile_m}x"
          f"{frontend.tile_n}x{frontend.tile_k}, memory latency {latency}): GEMM M={m} K={k} "
          f"N={n} {requant} seed={seed}: {verdict}")  # fmt: skip
    within = "within" if ideal <= result.cycles <= bound else "OUTSIDE"
    print(
        f"  START->DONE {result.cycles} cycles; ideal {ideal:.0f}; model bound {bound} ({within})"
    )
    print(f"  utilization {ideal / result.cycles:.1%}")
    return ok and result.cycles <= bound


def cmd_run_gemm(args):
    cfg = _config(args)
    _check_gemm_options(args, cfg)
    check_choice("--top", args.top, ("gemm", "accel"))
    if args.top == "accel":
        frontend = _frontend(args)
        check_int("--mem-latency", args.mem_latency, 2, 4096)
        kind = "int8" if cfg.mac == "int8" else "fp8"
        requant = args.requant if cfg.mac == "int8" or args.requant != "per-tensor" else "binary32"
        check_choice("--requant", requant, REQUANT_CHOICES[kind])
        ok = run_accel_and_report(
            cfg,
            frontend,
            args.m,
            args.k,
            args.n,
            args.seed,
            latency=args.mem_latency,
            requant=requant,
            act_unsigned=args.act_unsigned,
        )
        return 0 if ok else 1
    ok = run_and_report(cfg, args.m, args.k, args.n, args.seed, args.act_unsigned, args.waves)
    return 0 if ok else 1


def cmd_synth(args):
    from scripts.synth import TARGETS, compare_pes, synthesize, write_reports

    # Every configuration of the list is checked before the first one is synthesized.
    configs = [_config(args, mac=mac.strip()) for mac in args.mac.split(",")]
    check_choice("--target", args.target, TARGETS)
    check_choice("--top", args.top, SYNTH_TOPS)
    root = _out_dir("build/synth" if args.out is None else args.out)
    if args.top == "accel":
        return _synth_accel(args, configs, root)
    reports = []
    for cfg in configs:
        out = root / f"{cfg.id}-{args.target}"
        report = synthesize(cfg, args.target, out)
        print(write_reports(report, out).read_text())
        reports.append(report)
    if len(reports) > 1:
        print(compare_pes(reports))
    return 0


#: Tops ``synth`` and ``pnr`` measure: the bare array or the whole AXI accelerator.
SYNTH_TOPS = ("array", "accel")


def _accel_frontend(args, configs):
    """The accelerator options of ``synth``/``pnr --top accel``, checked against every
    configuration before any tool runs."""
    from scripts.synth import check_accel

    frontend = _frontend(args)
    with _options(**FRONTEND_OPTIONS, cols="--cols", rows="--rows"):
        for cfg in configs:
            check_accel(cfg, frontend)
    return frontend


def _synth_accel(args, configs, root):
    from scripts.synth import frontend_id, synthesize_accel, write_accel_reports

    frontend = _accel_frontend(args, configs)
    for cfg in configs:
        out = root / f"accel-{cfg.id}-{frontend_id(frontend)}-{args.target}"
        report = synthesize_accel(cfg, frontend, args.target, out)
        print(write_accel_reports(report, out).read_text())
    return 0


def _print_pnr(label, r, clock_mhz):
    verdict = "met" if r["timing_met"] else "NOT met"
    print(f"{label}: fmax {r['fmax_mhz']} MHz (constraint {clock_mhz} MHz, {verdict})")
    for cell, used in sorted(r["used"].items()):
        print(f"  {cell}: {used} / {r['available'][cell]}")
    if r["critical_path"]:
        p = r["critical_path"]
        print(f"  critical path: {p['from']} -> {p['to']} ({p['steps']} steps)")


def cmd_pnr(args):
    from scripts.pnr import MAX_PNR_SEED, check_flow, place_and_route, place_and_route_accel

    cfg = _config(args)
    with _options(target="--target", device="--device", clock_mhz="--clock-mhz"):
        check_flow(args.target, args.device, args.clock_mhz)
    check_int("--seed", args.seed, 1, MAX_PNR_SEED)
    check_choice("--top", args.top, SYNTH_TOPS)
    frontend = _accel_frontend(args, [cfg]) if args.top == "accel" else None
    root = _out_dir("build/pnr" if args.out is None else args.out)
    where = f"{args.target}-{args.device}"
    if frontend is None:
        out = root / f"{cfg.id}-{where}"
        r = place_and_route(
            cfg, args.target, args.device, out, clock_mhz=args.clock_mhz, seed=args.seed
        )
        _print_pnr(f"{cfg.id} on {where}", r, args.clock_mhz)
        print(f"  report: {out / 'pnr.json'}")
        return 0
    from scripts.synth import frontend_id

    fid = frontend_id(frontend)
    out = root / f"accel-{cfg.id}-{fid}-{where}"
    r = place_and_route_accel(
        cfg, frontend, args.target, args.device, out, clock_mhz=args.clock_mhz, seed=args.seed
    )
    accel, array = r["accel"], r["array"]
    _print_pnr(f"accelerator {cfg.id} {fid} on {where}", accel, args.clock_mhz)
    _print_pnr(f"bare array {cfg.id} on {where}", array, args.clock_mhz)
    print(
        f"fmax: accelerator {accel['fmax_mhz']} MHz, bare array {array['fmax_mhz']} MHz "
        f"(constraint {args.clock_mhz} MHz)"
    )
    print(f"  report: {out / 'pnr.json'}")
    return 0


def _sweep_lists(args, parse_sizes):
    """The sizes, MAC kinds, multipliers and MAC pipeline depths of ``bench``'s options (``None``
    where an option is absent), each item checked on its own by :class:`ArrayConfig` so that
    the error names the option and the item."""
    sizes = macs = multipliers = pipelines = None
    if args.sizes is not None:
        with _options(sizes="--sizes"):
            sizes = parse_sizes(args.sizes)
        for rows, cols in sizes:
            try:
                ArrayConfig(rows=rows, cols=cols)
            except UsageError as exc:
                raise UsageValueError(f"--sizes {rows}x{cols}: {exc}") from None
    if args.macs is not None:
        macs = [mac.strip() for mac in args.macs.split(",")]
        with _options(mac="--macs"):
            for mac in macs:
                ArrayConfig(mac=mac)
    if args.multipliers is not None:
        multipliers = [item.strip() for item in args.multipliers.split(",")]
        with _options(multiplier="--multipliers"):
            for multiplier in multipliers:
                # auto's DSP budget comes from --device in the sweep itself.
                ArrayConfig(multiplier=multiplier, dsp_blocks=0 if multiplier == "auto" else None)
    if args.mac_pipelines is not None:
        pipelines = []
        for item in args.mac_pipelines.split(","):
            try:
                pipelines.append(int(item))
            except ValueError:
                raise UsageValueError(
                    f"--mac-pipelines must be integers separated by commas, got {item!r}"
                ) from None
        # A depth must suit one of the selected kinds (3 is FP8 only); the sweep leaves out
        # the kinds it does not suit.
        kinds = macs or list(MAC_KINDS)
        with _options(mac_pipeline="--mac-pipelines"):
            for depth in pipelines:
                errors = []
                for mac in kinds:
                    try:
                        ArrayConfig(mac=mac, mac_pipeline=depth)
                        break
                    except UsageError as exc:
                        errors.append(exc)
                else:
                    raise errors[0]
    return sizes, macs, multipliers, pipelines


def _check_dask_address(address):
    """A usage error unless Dask can parse ``address`` as a scheduler address."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address)
        get_backend(scheme)
        parse_host_port(location)
    except ValueError as exc:
        raise UsageValueError(
            f"--dask-scheduler must be a scheduler address such as tcp://host:8786, "
            f"got {address!r} ({exc})"
        ) from None


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

    flow = {"target": "--target", "device": "--device", "clock_mhz": "--clock-mhz"}
    with _options(**flow, pnr_budget="--pnr-budget"):
        options = BenchOptions(
            target=args.target,
            device=args.device,
            clock_mhz=args.clock_mhz,
            pnr=not args.no_pnr,
            rtl=not args.no_rtl,
            pnr_budget=args.pnr_budget,
        )
    custom = (args.sizes, args.macs, args.multipliers, args.mac_pipelines)
    if any(option is not None for option in custom):
        with _options(multipliers="--multipliers"):
            configs = sweep_configs(
                *_sweep_lists(args, parse_sizes), target=options.target, device=options.device
            )
    else:
        configs = default_configs(options.target)
    if args.jobs is not None:
        check_int("--jobs", args.jobs, 1, MAX_JOBS)
    if args.dask_scheduler is not None:
        _check_dask_address(args.dask_scheduler)
    out = _out_dir(args.out)
    records = run_sweep(
        configs,
        options,
        out,
        jobs=args.jobs,
        dask_scheduler=args.dask_scheduler,
        fresh=args.fresh,
        progress=not args.quiet,
    )
    command = "systolix bench " + " ".join(args.argv) if args.argv else "systolix bench"
    for path in write_report(build_report(records, options, command.strip()), out):
        print(f"wrote {path}")
    return 0


def cmd_demo(args):
    from hdl.generate import generate
    from scripts.synth import synthesize, write_reports

    cfg = _config(args)
    frontend = _frontend(args)
    _check_gemm_options(args, cfg)
    check_int("--mem-latency", args.mem_latency, 2, 4096)
    out = Path("build/demo")
    with _options(rows="--rows", cols="--cols"):
        path = generate(cfg, out / "verilog", top="accel", frontend=frontend)
    print(f"generated {path} (+ manifest.json, {path.stem}_regs.h, filelist.f, {path.stem}.core)")
    requant = "per-tensor" if cfg.mac == "int8" else "binary32"
    ok = run_accel_and_report(
        cfg, frontend, args.m, args.k, args.n, args.seed, latency=args.mem_latency, requant=requant
    )
    if not args.no_synth:
        report = synthesize(cfg, "ecp5", out / "synth-ecp5")
        md = write_reports(report, out / "synth-ecp5")
        print(Path(md).read_text())
    return 0 if ok else 1


def cmd_run_attention(args):
    """One random attention tile in Verilator against the golden model (tb.attention_runtime);
    with ``--top accel``, one ATTENTION descriptor through the whole accelerator."""
    from tb.attention_runtime import run_accel_attention_and_report, run_attention_and_report

    spelling = {name: f"--{name}" for name in ("rows", "cols", "lq", "lk", "d", "dv")}
    options = {"mode": "--mode", "block": "--block", "p_bits": "--p-bits", "seed": "--seed"}
    check_choice("--top", args.top, ("tile", "accel"))
    if args.top == "accel":
        if args.mode != "single":
            raise UsageValueError(
                "--mode does not apply to --top accel: rows longer than --block run as online "
                "key blocks",
                parameter="--mode",
            )
        cfg = _config(args)
        frontend = _accel_frontend(args, [cfg])
        with _options(**spelling, **options, block_lq="--block-lq", latency="--mem-latency",
                      block_lk="--block", max_lk="--lk", max_d="--d", max_dv="--dv"):  # fmt: skip
            if cfg.rows != cfg.cols:
                raise UsageValueError(
                    f"--top accel needs --rows equal to --cols, got {cfg.rows} and {cfg.cols}",
                    parameter="--cols",
                )
            run_accel_attention_and_report(
                cfg,
                frontend,
                args.lq,
                args.lk,
                args.d,
                args.dv,
                causal=args.causal,
                block=args.block,
                block_lq=args.block_lq,
                p_bits=args.p_bits,
                seed=args.seed,
                latency=args.mem_latency,
            )
        return 0
    with _options(**spelling, **options):
        ok = run_attention_and_report(
            args.rows,
            args.cols,
            args.lq,
            args.lk,
            args.d,
            args.dv,
            causal=args.causal,
            mode=args.mode,
            block=args.block,
            p_bits=args.p_bits,
            seed=args.seed,
        )
    return 0 if ok else 1


def build_parser():
    parser = _Parser(prog="systolix", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser(
        "generate", help="write Verilog, manifest.json, filelist.f and a FuseSoC .core"
    )
    _add_config_args(p)
    _add_top_args(p)
    _add_frontend_args(p)
    _add_attention_args(p)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("lint", help="generate and lint with verilator -Wall")
    _add_config_args(p)
    _add_top_args(p)
    _add_frontend_args(p)
    _add_attention_args(p)
    p.add_argument("--out", default=None, help="output directory (default build/lint/<id>-<top>)")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("run-gemm", help="run one random GEMM in Verilator against the golden model")
    _add_config_args(p)
    for name in ("m", "k", "n"):
        p.add_argument(f"--{name}", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--act-unsigned", action="store_true", help="uint8 activations")
    p.add_argument(
        "--top",
        default="gemm",
        help="gemm (the array and its accumulator, streams) or accel (the AXI accelerator, "
        "memory to memory)",
    )
    _add_frontend_args(p)
    p.add_argument(
        "--mem-latency", type=int, default=64, help="--top accel: memory read latency (64)"
    )
    p.add_argument(
        "--requant",
        default="per-tensor",
        help="--top accel, INT8: per-tensor, per-channel or raw (int32 sums); FP8: binary32 "
        "or fp8 output",
    )
    p.add_argument(
        "--waves",
        nargs="?",
        const="vcd",
        default=None,
        choices=("vcd", "fst"),
        help="write a waveform of the run under build/ (vcd, the default; fst needs liblz4)",
    )
    p.set_defaults(func=cmd_run_gemm)

    p = sub.add_parser("synth", help="yosys synthesis: cells, LUT, FF, DSP, BRAM per PE and total")
    _add_config_args(p, mac_help="MAC kind, or a comma-separated list to compare their PEs")
    p.add_argument("--target", default="ecp5", help="generic, ecp5 or ice40")
    _add_measure_top_arg(p)
    _add_frontend_args(p)
    p.add_argument("--out", default=None, help="output root (default build/synth)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("pnr", help="place and route in a pin-light harness: fmax, utilization")
    _add_config_args(p)
    p.add_argument("--target", default="ecp5", help="ecp5 or ice40")
    p.add_argument("--device", default="85k", help="ecp5: 25k, 45k, 85k; ice40: up5k, hx8k")
    p.add_argument("--clock-mhz", type=float, default=100.0, help="clock constraint")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    _add_measure_top_arg(p)
    _add_frontend_args(p)
    p.add_argument("--out", default=None, help="output root (default build/pnr)")
    p.set_defaults(func=cmd_pnr)

    p = sub.add_parser(
        "bench", help="sweep sizes x MAC kinds: synth, place and route, cycles, GOPS, plots"
    )
    p.add_argument("--sizes", default=None, help="ROWSxCOLS list, e.g. 2x2,8x8 (default sweep)")
    p.add_argument("--macs", default=None, help=f"MAC kinds (default all: {','.join(MAC_KINDS)})")
    p.add_argument(
        "--multipliers",
        default=None,
        help="dsp,lut,ecp5,auto (default: the kind's own; ecp5 and auto for INT8 on ECP5, auto "
        "filling the device's DSP blocks)",
    )
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
    p.add_argument(
        "--jobs", type=int, default=None, help=f"local worker processes, 1 to {MAX_JOBS} (all)"
    )
    p.add_argument("--dask-scheduler", default=None, help="run on a Dask cluster at ADDRESS")
    p.add_argument("--fresh", action="store_true", help="ignore cached per-config results")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", default="build/report", help="report folder (default build/report)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "demo",
        help="generate the accelerator, run one GEMM memory to memory in Verilator, ECP5 area",
    )
    _add_config_args(p)
    _add_frontend_args(p)
    for name, default in (("m", 128), ("k", 256), ("n", 128)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mem-latency", type=int, default=64, help="memory read latency (64)")
    p.add_argument("--no-synth", action="store_true", help="skip the ECP5 area summary")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "run-attention", help="run one random attention tile in Verilator against the golden model"
    )
    _add_config_args(p, rows=4, cols=4)
    p.add_argument(
        "--top",
        default="tile",
        help="tile (the attention tile alone) or accel (an ATTENTION descriptor through the "
        "accelerator with an attention unit, memory to memory)",
    )
    _add_frontend_args(p)
    p.add_argument(
        "--mem-latency", type=int, default=64, help="--top accel: memory read latency (64)"
    )
    p.add_argument(
        "--block-lq", type=int, default=None, help="--top accel: query rows per tile (min(Lq, 128))"
    )
    for name in ("lq", "lk", "d", "dv"):
        p.add_argument(f"--{name}", type=int, required=True)
    p.add_argument("--causal", action="store_true", help="causal mask, bottom-right aligned")
    p.add_argument(
        "--mode",
        default="single",
        help="single (the whole key row in one tile), preload (key blocks, row max given) or "
        "online (key blocks, running max with the rescale)",
    )
    p.add_argument(
        "--block",
        type=int,
        default=None,
        help="--mode preload or online: keys per tile (64); --top accel: the unit's key block "
        "(min(Lk, 512))",
    )
    p.add_argument("--p-bits", type=int, default=8, help="bits of P: 8 or 16 (two P·V passes)")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_run_attention)
    return parser


def main(argv=None):
    """Run the ``systolix`` command; return its exit status.

    Bad input (a :class:`golden.errors.UsageError`, from argparse or any layer below) prints
    one line naming the option and exits with 2. A failed flow tool or simulation, or a file
    system that refuses a write (disk full, a folder removed mid-run), prints ``failed`` and
    exits with 1. Any other exception is a fault in systolix and keeps its traceback.
    """
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)[1:]
        return args.func(args)
    except UsageError as exc:
        print(f"systolix: error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as exc:  # a tool's error quotes its log tail
        print(f"systolix: failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
