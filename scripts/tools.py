"""One runner for every external flow tool (YoWASP yosys, nextpnr, sby): finds the tool, runs
it in a work folder, keeps its log, and fails with the log's tail."""

import os
import shutil
import subprocess
import sys
from pathlib import Path


class ToolError(RuntimeError):
    """A flow tool failed; the message names the tool, its status, its log and the log's tail."""


def find_tool(name):
    """Path of ``name``: next to the running Python first (the venv), then on ``PATH``."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} not found: run `make setup` (pip install -e .[dev])")
    return found


def run_tool(name, args, *, cwd, log_name, tail_lines=20):
    """Run tool ``name`` with ``args`` in ``cwd``, writing stdout and stderr to ``cwd/log_name``.

    YoWASP tools run in a WebAssembly sandbox that only sees the current directory, so
    ``args`` must use paths relative to ``cwd``. Returns the log path.
    """
    cwd = Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    log_path = cwd / log_name
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    with open(log_path, "w") as log:
        proc = subprocess.run(
            [find_tool(name), *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env
        )
    if proc.returncode != 0:
        lines = log_path.read_text(errors="replace").splitlines()[-tail_lines:]
        raise ToolError(
            f"{name} failed with status {proc.returncode}; log {log_path}:\n" + "\n".join(lines)
        )
    return log_path


def tool_version(name):
    """First line of ``name --version`` (``-V`` for yosys), or ``"unknown"``."""
    flag = "-V" if "yosys" in name else "--version"
    try:
        proc = subprocess.run([find_tool(name), flag], capture_output=True, text=True, timeout=300)
    except (ToolError, subprocess.TimeoutExpired):
        return "unknown"
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.strip() and not line.startswith("Preparing"):
            return line.strip()
    return "unknown"
