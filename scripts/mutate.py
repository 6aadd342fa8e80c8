"""Mutation check of the test suite: plant known bugs one at a time and see the tests fail.

Each entry of :data:`MUTATIONS` is a bug a careless edit could introduce: a file, an exact
piece of its text and the text that replaces it, what breaks, and the tests expected to catch
it. For each, the script copies the repository's files (``git ls-files``, tracked and new, as
they are in the working copy; ``build/`` and ``.venv/`` left out) into a temporary folder,
plants the bug there, runs the tests in that copy and reports whether they failed (caught) or
passed (missed). Simulator builds of the copies go to a temporary build root
(``SYSTOLIX_BUILD``), never to the working copy's ``build/``.

Usage::

    python -m scripts.mutate                 # every mutation, its targeted tests (minutes)
    python -m scripts.mutate --list          # the documented bug list
    python -m scripts.mutate acc-read-not-transparent checker-column-0-only
    python -m scripts.mutate --all --jobs 2  # the whole default suite per mutation (hours)

Before the mutations, the union of the selected tests runs once on an unmutated copy: a
failure there would make every "caught" meaningless (``--no-baseline`` skips it). The exit
status is 0 when every mutation was caught, 1 when one was missed, hung past ``--timeout`` or
no longer applies (its text is gone from the file), 2 when the baseline fails.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Folders of the working copy never copied (build products, the virtualenv).
EXCLUDED = ("build/", ".venv/")


@dataclass(frozen=True)
class Mutation:
    """One planted bug.

    Parameters
    ----------
    name : str
        Short identifier, used on the command line.
    path : str
        File to change, relative to the repository root.
    old, new : str
        Exact text (it must occur once in the file) and its replacement.
    breaks : str
        What goes wrong in the hardware, model or testbench.
    tests : tuple of str
        pytest node ids or paths that must fail.
    """

    name: str
    path: str
    old: str
    new: str
    breaks: str
    tests: tuple


ARRAY = "tests/test_array_verilator.py"
GEMM = "tests/test_gemm_verilator.py"
FP8 = "tests/test_array_fp8_verilator.py"
CHECKER = "tests/test_tb_checker.py"

MUTATIONS = (
    Mutation(
        "acc-read-not-transparent",
        "hdl/array/accumulator.py",
        "sums.read_port(transparent_for=(write,))",
        "sums.read_port(transparent_for=())",
        "a one-row fold reads the accumulator row the previous fold writes in the same cycle "
        "and gets the stale sum",
        (f"{GEMM}::test_gemm_top_one_row_folds",),
    ),
    Mutation(
        "acc-finish-waits-for-ready",
        "hdl/array/accumulator.py",
        "advance.eq(~o.valid | o.ready)",
        "advance.eq(o.ready)",
        "the FP8 rounding pipeline moves only on results.ready, even while it has nothing to "
        "offer; a consumer that raises ready only while valid is high deadlocks",
        (f"{GEMM}::test_gemm_top_ready_when_valid",),
    ),
    Mutation(
        "checker-column-0-only",
        "tb/numerics.py",
        "diff = np.argwhere(got != want)",
        "diff = np.argwhere(got[:, :1] != want[:, :1])",
        "the testbench compares only column 0 of C: wrong columns pass",
        (CHECKER,),
    ),
    Mutation(
        "checker-swaps-coordinates",
        "tb/numerics.py",
        "i, j = (int(x) for x in diff[0])",
        "j, i = (int(x) for x in diff[0])",
        "a mismatch is reported at the wrong element (or the checker crashes)",
        (CHECKER,),
    ),
    Mutation(
        "checker-values-not-bits",
        "tb/numerics.py",
        "return np.asarray(c, dtype=np.float32).view(np.uint32).astype(np.int64)",
        "return np.asarray(c, dtype=np.float32).astype(np.int64)",
        "FP8 results compare as truncated values: -0.0 equals +0.0, fractions are ignored",
        (CHECKER,),
    ),
    Mutation(
        "driver-ignores-result-stall",
        "tb/array_driver.py",
        "driver.set_pause_generator(patterns[name].generator(self.rng))",
        'driver.set_pause_generator(None if name == "results" else '
        "patterns[name].generator(self.rng))",
        "the result consumer never applies backpressure, whatever a test asks for",
        (
            f"{ARRAY}::test_array_stalls_and_reset[r1c1-int8]",
            f"{ARRAY}::test_array_long_deterministic_stalls[r1c1-int8]",
        ),
    ),
    Mutation(
        "tb-gemm-ragged-strip",
        "tb/tb_gemm.py",
        "c[i, n0 : n0 + width] = values[:width]",
        "c[i, n0 : n0 + width] = values[cols - width :]",
        "the testbench takes the wrong columns of a ragged last strip of the GEMM top",
        (f"{GEMM}::test_gemm_top_whole_gemms[r3c5-int8]",),
    ),
    Mutation(
        "result-fifo-one-short",
        "hdl/array/array.py",
        "width=result_layout.size, depth=cfg.result_fifo_depth",
        "width=result_layout.size, depth=cfg.result_fifo_depth - 1",
        "the result FIFO holds one row less than the credits allow: a long result stall "
        "overflows it and a row is lost",
        (f"{ARRAY}::test_array_long_deterministic_stalls",),
    ),
    Mutation(
        "credit-one-too-many",
        "hdl/array/array.py",
        "below_last_slot = outstanding < cfg.result_fifo_depth - 1",
        "below_last_slot = outstanding < cfg.result_fifo_depth",
        "slot_free stays high on the last slot: one row more than the FIFO holds is accepted",
        (f"{ARRAY}::test_array_long_deterministic_stalls",),
    ),
    Mutation(
        "act-skew-off-by-one",
        "hdl/array/array.py",
        'skewed_operand = _delay(m, operand, r, f"act_skew_{r}")',
        'skewed_operand = _delay(m, operand, r + (r == 1), f"act_skew_{r}")',
        "row 1's activations enter one cycle late and meet the wrong partial sums",
        (f"{ARRAY}::test_array_random_gemms_exact_cycles[r3c5-int8]",),
    ),
    Mutation(
        "switch-not-copied",
        "hdl/array/pe.py",
        "m.d.sync += weight.eq(shadow_weight)",
        "m.d.sync += weight.eq(weight)",
        "the switch never copies the shadow weight into the stationary one: only a fold's "
        "first row uses the new weights",
        (f"{ARRAY}::test_array_random_gemms_exact_cycles[r3c5-int8]",),
    ),
    Mutation(
        "last-flag-dropped",
        "hdl/array/array.py",
        "m.d.comb += out_row.last.eq(_delay(m, self.acts.payload.last, pipeline_stages, "
        '"row_last"))',
        "m.d.comb += out_row.last.eq(0)",
        "result rows never carry last: a consumer cannot find the end of a fold",
        (f"{ARRAY}::test_array_random_gemms_exact_cycles[r1c1-int8]",),
    ),
    Mutation(
        "act-unsigned-ignored",
        "hdl/arith/arithmetic.py",
        "return Mux(act_unsigned, code.as_unsigned(), code.as_signed())",
        "return code.as_signed()",
        "uint8 activations above 127 are read as negative int8",
        (f"{ARRAY}::test_array_random_gemms_exact_cycles[r3c5-int8]",),
    ),
    Mutation(
        "int8-wrap-width",
        "hdl/arith/arithmetic.py",
        "    def psum_shape(self):\n        return signed(self._acc_width)\n",
        "    def psum_shape(self):\n        return signed(self._acc_width - 1)\n",
        "INT8 partial sums wrap one bit too early",
        (f"{ARRAY}::test_array_narrow_accumulator_wraps_like_golden",),
    ),
    Mutation(
        "fp8-nan-or-dropped",
        "hdl/arith/mac_fp8.py",
        "m.d.comb += [self.psum_out[n].eq(self.psum_in[n] | f) for n, f in flags.items()]",
        "m.d.comb += [self.psum_out[n].eq(f if n == 'nan' else self.psum_in[n] | f) "
        "for n, f in flags.items()]",
        "a NaN from a PE higher up the column is forgotten by the next PE's add",
        (f"{FP8}::test_fp8_array_bit_exact[r3c5-e4m3]",),
    ),
    Mutation(
        "segment-carry-dropped",
        "hdl/arith/mac_fp8.py",
        "carry_in = self.psum_in.carry[index]",
        "carry_in = 0",
        "with mac_pipeline=4, a PE's segmented add ignores the carry pending from the PE above",
        (f"{FP8}::test_fp8_array_mac_pipeline_4[r3c2-e4m3-p4]",),
    ),
    Mutation(
        "carry-lookahead-no-propagate",
        "hdl/arith/mac_fp8.py",
        "incoming = generate[index - 1] | (all_ones[index - 1] & incoming)",
        "incoming = generate[index - 1]",
        "the carry resolver below a column does not carry through an all-ones segment",
        (f"{GEMM}::test_gemm_top_whole_gemms[r3c4-e5m2-p4]",),
    ),
    Mutation(
        "golden-ties-away",
        "golden/fp8.py",
        "if rem > half or (rem == half and q & 1):",
        "if rem >= half:",
        "the golden model rounds FP8 sums half away from zero; on the bare array the testbench "
        "assembles with the same routine, so only the independent reference sees it",
        (f"{FP8}::test_fp8_array_bit_exact[r1c1-e4m3]",),
    ),
)


class Stale(Exception):
    """A mutation's text is not in its file exactly once."""


def repo_files(root=REPO_ROOT):
    """Tracked and new (not ignored) files of the working copy, without build products."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    names = [n for n in out.split("\0") if n and not n.startswith(EXCLUDED)]
    return [n for n in names if (root / n).is_file()]


def copy_tree(dest, root=REPO_ROOT):
    """Copy the repository's files (as they are in the working copy) into ``dest``."""
    for name in repo_files(root):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    return dest


def plant(tree, mutation):
    """Apply ``mutation`` inside ``tree``; raise :class:`Stale` if its text is not there once."""
    path = tree / mutation.path
    text = path.read_text()
    count = text.count(mutation.old)
    if count != 1:
        raise Stale(f"{mutation.path}: expected text found {count} times: {mutation.old!r}")
    path.write_text(text.replace(mutation.old, mutation.new))


#: Lines of a test log that say why a test failed: the testbench's own messages first.
REASONS = re.compile(
    r"(mismatch in job .*|timeout after .*|result last=.*|payload changed .*|"
    r"valid dropped .*|AssertionError: .*|assert .*)"
)


def failure_summary(output):
    """``"<first failed test>: <why>"`` from a pytest log, or its last line."""
    lines = output.splitlines()
    failed = [
        line.split(" - ")[0] for line in lines if line.startswith(("FAILED tests", "ERROR tests"))
    ]
    # pytest marks the lines of an exception with "E" (the others echo the test's source).
    errors = (REASONS.search(line) for line in lines if line.startswith("E "))
    reasons = [m.group(1) for m in errors if m]
    if not failed:
        return lines[-1] if lines else ""
    test = failed[0].split(" ", 1)[1]
    return f"{test}: {reasons[0][:120]}" if reasons else test


def run_tests(tree, selection, *, build_root, timeout, pytest_args, log):
    """Run pytest on ``selection`` inside ``tree``, its output into ``log``; return
    ``(returncode or None if it hung, seconds, failure summary)``."""
    env = dict(os.environ)
    env["SYSTOLIX_BUILD"] = str(build_root)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args, *selection]
    start = time.monotonic()
    # A process group of its own, so a hung run is stopped with every simulator it started.
    proc = subprocess.Popen(
        cmd,
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        code = None
    seconds = time.monotonic() - start
    Path(log).write_text(output)
    return code, seconds, failure_summary(output)


def check_imports(tree, build_root):
    """Make sure Python in the copy imports the copy's packages, not the installed ones."""
    env = dict(os.environ, SYSTOLIX_BUILD=str(build_root), PYTHONPATH=str(tree))
    probe = "import hdl, tb.verilator as v; print(hdl.__file__); print(v.BUILD_ROOT)"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tree, env=env, check=True, capture_output=True
    )
    hdl_file, build = out.stdout.decode().split()
    if not Path(hdl_file).is_relative_to(tree) or Path(build) != Path(build_root):
        raise RuntimeError(f"the copy imports {hdl_file} and builds in {build}")


def bug_list(mutations):
    """The documented bug list as a Markdown table."""
    lines = ["| mutation | file | what breaks | caught by |", "|---|---|---|---|"]
    for m in mutations:
        tests = "<br>".join(f"`{t}`" for t in m.tests)
        lines.append(f"| `{m.name}` | `{m.path}` | {m.breaks} | {tests} |")
    return "\n".join(lines)


def result_table(rows):
    header = ("mutation", "result", "seconds", "first failure")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(3)]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:3], widths, strict=True)]
        lines.append("  ".join([*cells, str(row[3])]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m scripts.mutate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="print the bug list and exit")
    parser.add_argument(
        "--all", action="store_true", help="run the default suite (-m 'not slow') per mutation"
    )
    parser.add_argument("--jobs", type=int, default=1, help="pytest-xdist workers (default 1)")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds before a run counts as hung"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument(
        "--no-stop", action="store_true", help="run every selected test, not up to the first fail"
    )
    parser.add_argument(
        "--build-dir", type=Path, help="simulator build root to use (default: a temporary one)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary copies and the test logs"
    )
    args = parser.parse_args(argv)

    known = {m.name: m for m in MUTATIONS}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown mutation {unknown[0]!r}; one of: {', '.join(known)}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    mutations = [known[n] for n in args.names] if args.names else list(MUTATIONS)
    if args.list:
        print(bug_list(mutations))
        return 0

    pytest_args = ["-q", "-rf", "-m", "not slow"]
    if not args.no_stop:
        pytest_args.append("-x")
    pytest_args += ["-n", str(args.jobs), "--dist", "loadgroup"] if args.jobs > 1 else []
    if args.jobs == 1:
        pytest_args += ["-p", "no:xdist"]

    def selection(m):
        return ["tests"] if args.all else list(m.tests)

    workspace = Path(tempfile.mkdtemp(prefix="systolix-mutate-"))
    build_root = args.build_dir.resolve() if args.build_dir else workspace / "build"
    build_root.mkdir(parents=True, exist_ok=True)
    print(f"workspace {workspace}, simulator builds in {build_root}", flush=True)
    rows = []
    try:
        if not args.no_baseline:
            tree = copy_tree(workspace / "baseline")
            check_imports(tree, build_root)
            union = list(dict.fromkeys(t for m in mutations for t in selection(m)))
            print(f"baseline: {len(union)} selections on the unmutated copy", flush=True)
            code, seconds, line = run_tests(
                tree,
                union,
                build_root=build_root,
                timeout=args.timeout,
                pytest_args=pytest_args,
                log=workspace / "baseline.log",
            )
            if code != 0:
                print(f"baseline fails ({seconds:.0f} s): {line}", file=sys.stderr)
                return 2
            print(f"baseline passes ({seconds:.0f} s)", flush=True)
        for m in mutations:
            tree = copy_tree(workspace / m.name)
            try:
                plant(tree, m)
            except Stale as exc:
                rows.append((m.name, "STALE", 0, str(exc)))
                print(result_table(rows[-1:]), flush=True)
                continue
            code, seconds, line = run_tests(
                tree,
                selection(m),
                build_root=build_root,
                timeout=args.timeout,
                pytest_args=pytest_args,
                log=workspace / f"{m.name}.log",
            )
            result = {0: "MISSED", 1: "caught", None: "HUNG"}.get(code, f"ERROR({code})")
            rows.append((m.name, result, round(seconds), line))
            print(f"{m.name}: {result} in {seconds:.0f} s: {line}", flush=True)
            if not args.keep:
                shutil.rmtree(tree, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(workspace, ignore_errors=True)
    print()
    print(result_table(rows))
    bad = [r for r in rows if r[1] != "caught"]
    print(f"\n{len(rows) - len(bad)} of {len(rows)} mutations caught")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
