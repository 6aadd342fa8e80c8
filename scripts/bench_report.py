"""Tables (Markdown) and plots (PNG) of a ``systolix bench`` report."""

import re
from pathlib import Path

from golden.perf import utilization
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for

#: Array sizes and fixed K, N of the utilization-versus-M plot (BERT-base FFN dimensions).
UTILIZATION_ARRAYS = ((8, 8), (16, 16), (32, 32), (64, 64))
UTILIZATION_KN = (768, 3072)


def short_version(line):
    """``Yosys 0.70 (git sha1 …)`` → ``Yosys 0.70``; nextpnr's banner → ``nextpnr-0.11.1``."""
    match = re.search(r"Version (nextpnr-[\w.+-]+)", line)
    if match:
        tool = re.search(r"yowasp-nextpnr-(\w+)", line)
        return match.group(1).replace("nextpnr", f"nextpnr-{tool.group(1)}" if tool else "nextpnr")
    return line.split(" (")[0]


def _label(config):
    """``int8 dsp p2``: MAC kind, multiplier mapping (``auto156``: ``auto`` with its DSP
    budget), MAC pipeline depth."""
    multiplier = config["multiplier"]
    if multiplier == "auto":
        multiplier += str(config["dsp_blocks"])
    return f"{config['mac']} {multiplier} p{config['mac_pipeline']}"


def _mac_latency(config):
    return ArrayConfig(**config).mac_latency


def _pe_cost(pe):
    return f"{pe['lut']} / {pe['carry']} / {pe['ff']} / {pe['dsp']}"


def _size(config):
    return f"{config['rows']}×{config['cols']}"


def _fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _note(record):
    if record["fit_error"]:
        return record["fit_error"]
    if record.get("over_budget"):
        return record["over_budget"]
    if record["pnr_error"]:
        return f"nextpnr failed: {record['pnr_error']}"
    pnr = record["pnr"]
    if pnr and pnr["critical_path"]:
        p = pnr["critical_path"]
        return f"`{p['from']}` → `{p['to']}` ({p['steps']} steps)"
    return ""


def markdown(report):
    """The report as Markdown tables: cost and fmax, cycles per shape, GOPS, RTL vs model."""
    options = report["options"]
    records = report["records"]
    device = f"{options['target']}-{options['device']}"
    lines = [
        f"# systolix QoR: {device}, clock constraint {options['clock_mhz']:g} MHz",
        "",
        f"Regenerate with `{report['command']}`.",
        "",
        "Tools: " + ", ".join(short_version(v) for v in report["tools"].values()) + ".",
        "",
        "## Cost and clock",
        "",
        "PE: one PE synthesized alone. Design: the array inside the pin-light QoR harness "
        "(it adds one flip-flop per array input bit and a 32-bit XOR fold of the results); "
        "*estimates* (one PE × PEs) stand where the design cannot fit the device or is over the "
        "place-and-route budget. "
        + {
            "ecp5": "LUT = LUT4, carry = CCU2C (2 LUT4 each), DSP = MULT18X18D.",
            "ice40": "LUT = SB_LUT4, carry = SB_CARRY, DSP = SB_MAC16.",
        }[options["target"]],
        "",
        "| array | MAC | PEs | PE LUT | PE carry | PE FF | PE DSP | LUT | carry | FF | DSP | "
        "LUTRAM | fmax MHz | peak GOPS | critical path or fit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        cfg, pe, d = r["config"], r["pe"], r["design"]
        est = "≈" if r["design_estimated"] else ""
        fmax = r["pnr"]["fmax_mhz"] if r["pnr"] else None
        lines.append(
            f"| {_size(cfg)} | {_label(cfg)} | {cfg['rows'] * cfg['cols']} | {pe['lut']} | "
            f"{pe['carry']} | {pe['ff']} | {pe['dsp']} | "
            + " | ".join(f"{est}{_fmt(d[k])}" for k in ("lut", "carry", "ff", "dsp", "lutram"))
            + f" | {_fmt(fmax)} | {_fmt(r['performance']['peak_gops'])} | {_note(r)} |"
        )

    lines += _side_by_side(records)
    lines += [
        "",
        "## Cycles of the standard shapes (cycle model)",
        "",
        "`cycles` is the exact count of the RTL (`hdl.cycles.cycles_for`, first weight beat to "
        "last result, no stalls); T1/T2/T3/ideal are the reference tiers of docs/performance.md; "
        "utilization is M·K·N / (R·C·cycles).",
    ]
    for shape_index, (name, (m, k, n)) in enumerate(report["shapes"].items()):
        lines += [
            "",
            f"### {name}: M={m}, K={k}, N={n}",
            "",
            "| array | MAC latency | cycles | T1 | T2 | T3 | ideal | utilization |",
            "|---|---|---|---|---|---|---|---|",
        ]
        seen = set()
        for r in records:
            cfg = r["config"]
            key = (cfg["rows"], cfg["cols"], _mac_latency(cfg))
            if key in seen:
                continue
            seen.add(key)
            s = r["performance"]["shapes"][shape_index]
            lines.append(
                f"| {_size(cfg)} | {key[2]} | {s['cycles']:,} | {s['T1']:,} | "
                f"{s['T2']:,} | {s['T3']:,} | {s['ideal']:,} | {s['utilization']:.1%} |"
            )

    names = list(report["shapes"])
    routed = [r for r in records if r["pnr"]]
    lines += [
        "",
        "## Throughput at the measured fmax (GOPS, 2 ops per MAC)",
        "",
        "| array | MAC | fmax MHz | peak | " + " | ".join(names) + " |",
        "|---|---|---|---|" + "---|" * len(names),
    ]
    if not routed:
        lines.append("| (nothing was placed and routed) |" + " |" * (len(names) + 3))
    for r in routed:
        perf = r["performance"]
        lines.append(
            f"| {_size(r['config'])} | {_label(r['config'])} | {r['pnr']['fmax_mhz']:.1f} | "
            f"{perf['peak_gops']:.1f} | "
            + " | ".join(f"{s['achieved_gops']:.2f}" for s in perf["shapes"])
            + " |"
        )

    checked = [(r, x) for r in records for x in r["rtl"]]
    if checked:
        lines += [
            "",
            "## Measured RTL cycles beside the model (Verilator, random operands, bit-exact)",
            "",
            "| array | MAC | shape | RTL cycles | model | equal |",
            "|---|---|---|---|---|---|",
        ]
        for r, x in checked:
            same = "yes" if x["rtl_cycles"] == x["model_cycles"] else "**NO**"
            lines.append(
                f"| {_size(r['config'])} | {_label(r['config'])} | {x['shape']} | "
                f"{x['rtl_cycles']:,} | {x['model_cycles']:,} | {same} |"
            )
    return "\n".join(lines) + "\n"


def _side_by_side(records):
    """Markdown lines comparing, per array size, the INT8 multiplier mappings: the portable
    inferred multiplier (``dsp``, ``lut``) beside the ECP5 ``MULT18X18D`` PE (``ecp5``) and the
    mixed ``auto`` array. Empty when the report has no ECP5 mapping."""
    int8 = [r for r in records if r["config"]["mac"] == "int8"]
    if not any(r["config"]["multiplier"] in ("ecp5", "auto") for r in int8):
        return []
    order = {"dsp": 0, "lut": 1, "ecp5": 2, "auto": 3}
    lines = [
        "",
        "## INT8: portable and ECP5 multipliers side by side",
        "",
        "`dsp` and `lut` are the portable multipliers (yosys infers the DSP block or builds the "
        "product in LUTs); `ecp5` instantiates MULT18X18D with its input and output registers "
        "used, fed the activation and the selected weight; `auto` fills the device's DSP "
        "blocks with `ecp5` PEs and makes the rest LUT PEs of the same latency. PE: LUT4 / "
        "CCU2C / FF / MULT18X18D of one PE (`auto`: each kind).",
        "",
        "| array | mapping | MAC latency | PE | fmax MHz | critical path or fit |",
        "|---|---|---|---|---|---|",
    ]
    sizes = list(dict.fromkeys((r["config"]["rows"], r["config"]["cols"]) for r in int8))
    for size in sizes:
        group = [r for r in int8 if (r["config"]["rows"], r["config"]["cols"]) == size]
        group.sort(key=lambda r: (order[r["config"]["multiplier"]], -r["config"]["mac_pipeline"]))
        for r in group:
            cfg = r["config"]
            by_kind = r.get("pe_by_kind") or {cfg["multiplier"]: r["pe"]}
            pe = ", ".join(
                _pe_cost(counts) if len(by_kind) == 1 else f"{kind}: {_pe_cost(counts)}"
                for kind, counts in by_kind.items()
            )
            fmax = r["pnr"]["fmax_mhz"] if r["pnr"] else None
            lines.append(
                f"| {_size(cfg)} | {_label(cfg)} | {_mac_latency(cfg)} | {pe} | {_fmt(fmax)} | "
                f"{_note(r)} |"
            )
    return lines


def _series(records):
    """Records grouped by MAC label, each group sorted by PE count."""
    groups = {}
    for r in records:
        groups.setdefault(_label(r["config"]), []).append(r)
    for group in groups.values():
        group.sort(key=lambda r: r["config"]["rows"] * r["config"]["cols"])
    return groups


def plot_all(report, out_dir):
    """``resources.png`` (LUT and DSP vs PEs), ``fmax.png`` and ``utilization.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    records = [r for r in report["records"] if r["config"]["rows"] == r["config"]["cols"]]
    groups = _series(records)
    device = f"{report['options']['target']}-{report['options']['device']}"
    paths = []

    fig, (ax_lut, ax_dsp) = plt.subplots(1, 2, figsize=(11, 4.5))
    for label, group in groups.items():
        pes = [r["config"]["rows"] ** 2 for r in group]
        luts = [r["design"]["lut"] + 2 * r["design"]["carry"] for r in group]
        dsps = [max(r["design"]["dsp"], 0.5) for r in group]
        (line,) = ax_lut.plot(pes, luts, "-", label=label)
        ax_dsp.plot(pes, dsps, "-", color=line.get_color(), label=label)
        for ax, values in ((ax_lut, luts), (ax_dsp, dsps)):
            for p, v, r in zip(pes, values, group, strict=True):
                face = "none" if r["design_estimated"] else line.get_color()
                ax.plot(p, v, "o", color=line.get_color(), markerfacecolor=face)
    ax_lut.set(
        xscale="log",
        yscale="log",
        xlabel="PEs (square arrays)",
        ylabel="LUT4 + 2·CCU2C",
        title=f"Logic vs array size ({device})",
    )
    ax_dsp.set(
        xscale="log",
        yscale="log",
        xlabel="PEs (square arrays)",
        ylabel="MULT18X18D",
        title="DSP blocks vs array size (0 drawn at 0.5)",
    )
    if groups:
        ax_lut.legend(fontsize=7)
    for ax in (ax_lut, ax_dsp):
        ax.grid(True, which="both", alpha=0.3)
    fig.text(
        0.5,
        0.01,
        "hollow markers: estimated from one PE (does not fit, or over --pnr-budget)",
        ha="center",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    paths.append(out / "resources.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, group in groups.items():
        routed = [r for r in group if r["pnr"]]
        if routed:
            ax.plot(
                [r["config"]["rows"] ** 2 for r in routed],
                [r["pnr"]["fmax_mhz"] for r in routed],
                "o-",
                label=label,
            )
    ax.set(
        xscale="log",
        xlabel="PEs (square arrays)",
        ylabel="fmax (MHz)",
        title=f"nextpnr fmax vs array size ({device})",
    )
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "nothing was placed and routed", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    paths.append(out / "fmax.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    k, n = UTILIZATION_KN
    ms = sorted({2**i for i in range(11)} | {3, 6, 12, 24, 48, 96, 192, 384, 768})
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for rows, cols in UTILIZATION_ARRAYS:
        config = ArrayConfig(rows=rows, cols=cols)
        util = [utilization(rows, cols, m, k, n, cycles_for(config, (m, k, n))) for m in ms]
        ax.plot(ms, util, "-", label=f"{rows}×{cols}")
    ax.set(
        xscale="log",
        xlabel="M (activation rows)",
        ylabel="utilization",
        title=f"Weight-stationary utilization vs M (K={k}, N={n})",
        ylim=(0, 1.02),
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "utilization.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
