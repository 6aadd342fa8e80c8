"""Verilator lint of generated Verilog with the project's documented waivers."""

import subprocess
from pathlib import Path

from tb.verilator import LINT_WALL_WAIVERS, setup_environment, verilator_root


def lint_verilog(verilog_path, toplevel):
    """Run ``verilator --lint-only -Wall`` with :data:`tb.verilator.LINT_WALL_WAIVERS`.

    Parameters
    ----------
    verilog_path : path
        One generated file (the top, its submodules and the PE module).
    toplevel : str
        Module to elaborate from.

    Returns
    -------
    (bool, str)
        ``ok`` is false when Verilator reports any warning or error; ``output`` is what it
        printed (empty for a clean file: ``--quiet`` drops the statistics report).
    """
    setup_environment()
    verilog_path = Path(verilog_path)
    cmd = [
        str(verilator_root() / "bin" / "verilator"),
        "--lint-only",
        "--quiet",
        "-Wall",
        *LINT_WALL_WAIVERS,
        "--top-module",
        toplevel,
        verilog_path.name,
    ]
    proc = subprocess.run(cmd, cwd=verilog_path.parent, capture_output=True, text=True)
    output = (proc.stdout + proc.stderr).strip()
    ok = proc.returncode == 0 and "%Warning" not in output and "%Error" not in output
    return ok, output
