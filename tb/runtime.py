"""Host-side API: run GEMMs on a generated array configuration in Verilator.

``run_gemm(config, a, b)`` generates the Verilog (once per configuration and generator
version), builds the simulator (once), drives the GEMM through the cocotb testbench and
returns the result matrix with the measured cycles. ``waves=True`` (or ``SYSTOLIX_WAVES=1`` in
the environment) runs it on a separate traced build and writes a VCD per run under
``build/<top>/<config id>-waves/runs/``.
"""

import numbers
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden.checks import check_operand
from golden.errors import UsageTypeError, UsageValueError, check_bool, check_choice, check_int
from hdl.arith.ecp5_mac import simulation_sources
from hdl.config import ArrayConfig
from hdl.generate import ARRAY_TOP, GEMM_TOP, array_verilog, gemm_verilog
from tb.numerics import numerics_for
from tb.verilator import VerilatorBuild, waves_format


@dataclass
class GemmJob:
    """One GEMM for the testbench, with its stimulus options.

    Parameters
    ----------
    a, b : int arrays (M×K activations, K×N int8 weights)
    act_unsigned : bool
        Activations are uint8 instead of int8.
    weight_stall, act_stall : float
        Probability, each cycle, that the driver withholds the next beat (0 ≤ p < 1).
    result_stall : float
        Probability, each cycle, that the result consumer is not ready.
    reset_after : int or None
        Assert reset this many cycles into the job and abandon it (its result is ``None``).
    check : bool
        Compare with the golden model inside the testbench.
    """

    a: np.ndarray
    b: np.ndarray
    act_unsigned: bool = False
    weight_stall: float = 0.0
    act_stall: float = 0.0
    result_stall: float = 0.0
    reset_after: int | None = None
    check: bool = True

    def as_dict(self):
        return {
            "a": np.asarray(self.a, dtype=np.int64),
            "b": np.asarray(self.b, dtype=np.int64),
            "act_unsigned": bool(self.act_unsigned),
            "weight_stall": float(self.weight_stall),
            "act_stall": float(self.act_stall),
            "result_stall": float(self.result_stall),
            "reset_after": self.reset_after,
            "check": bool(self.check),
        }


@dataclass
class GemmRun:
    """Result of one GEMM in simulation: ``c`` (M×N) and the measured ``cycles``.

    ``c`` is int64 for INT8 and float32 (rounded once from the exact sum) for FP8 kinds.
    ``waves`` is the waveform of the simulation that ran it (shared by the jobs of one batch),
    or ``None`` when it ran untraced. ``stats`` holds the counters of every stream end
    (:meth:`tb.array_driver.ArrayTB.stats`: beats, paused and stalled cycles).
    """

    c: np.ndarray
    cycles: int
    waves: Path | None = None
    stats: dict | None = None


#: Largest M and N of a simulated GEMM (the testbench drives one row per cycle from Python).
MAX_MN = 65536
#: Largest M·K + K·N + M·N of a simulated GEMM: the elements of A, B and C, each held as int64
#: several times over (operands, pickled jobs, testbench, result), 256 MiB per copy.
MAX_GEMM_ELEMENTS = 1 << 25
#: Largest simulation seed (cocotb seeds are 32-bit).
MAX_SEED = (1 << 32) - 1


def check_gemm_shape(config, m, k, n, *, allow_overflow=False, names=None):
    """Check the shape ``(M, K, N)`` of a GEMM to simulate on ``config``; return it as ints.

    M and N are at most :data:`MAX_MN`, K at most ``config.max_k`` (the accumulator is exact
    up to there) unless ``allow_overflow``, and the three matrices together hold at most
    :data:`MAX_GEMM_ELEMENTS` elements, so that a typing slip is refused before it allocates
    gigabytes or simulates for days.

    Parameters
    ----------
    config : ArrayConfig
    m, k, n : int
    allow_overflow : bool
        Accept K above ``config.max_k`` (the sums then wrap).
    names : dict or None
        How messages spell ``m``, ``k``, ``n`` and ``max_k`` (default ``M``, ``K``, ``N``,
        ``max_k``); the command line passes its option names.

    Raises
    ------
    golden.errors.UsageValueError, golden.errors.UsageTypeError
        Naming the dimension and its limit.
    """
    names = {"m": "M", "k": "K", "n": "N", "max_k": "max_k", **(names or {})}
    m = check_int(names["m"], m, 1, MAX_MN)
    n = check_int(names["n"], n, 1, MAX_MN)
    k_max = MAX_GEMM_ELEMENTS if allow_overflow else config.max_k
    try:
        k = check_int(names["k"], k, 1, k_max)
    except UsageValueError:
        if k < 1 or allow_overflow:
            raise
        raise UsageValueError(
            f"{names['k']} must be at most {names['max_k']}={config.max_k} of configuration "
            f"{config.id}, got {k}",
            parameter=names["k"],
        ) from None
    total = m * k + k * n + m * n
    if total > MAX_GEMM_ELEMENTS:
        raise UsageValueError(
            f"a GEMM of {names['m']}={m}, {names['k']}={k}, {names['n']}={n} has {total} "
            f"elements in A, B and C; at most {MAX_GEMM_ELEMENTS} are simulated"
        )
    return m, k, n


def validate_gemm(config, a, b, *, act_unsigned=False, allow_overflow=False):
    """Check a GEMM's operands against the configuration; return them as int64 matrices.

    ``a`` holds the configuration's activations (int8, uint8 with ``act_unsigned``, or codes
    of the FP8 activation format) and ``b`` its weights, with a's columns equal to b's rows;
    the shape passes :func:`check_gemm_shape`.

    Raises
    ------
    golden.errors.UsageValueError, golden.errors.UsageTypeError
        Naming the operand or parameter at fault.
    """
    act_unsigned = check_bool("act_unsigned", act_unsigned)
    numerics = numerics_for(config)
    if config.is_fp8:
        akind, wkind = (f"{fmt} codes" for fmt in config.fp8_formats)
    else:
        akind = "uint8 activations" if act_unsigned else "int8 activations"
        wkind = "int8 weights"
    a = check_operand("a", a, *numerics.act_range(act_unsigned), kind=akind, allow_empty=False)
    b = check_operand("b", b, *numerics.weight_range, kind=wkind, allow_empty=False)
    if a.shape[1] != b.shape[0]:
        raise UsageValueError(
            f"a is {a.shape[0]}×{a.shape[1]} but b is {b.shape[0]}×{b.shape[1]}: "
            "a's columns must equal b's rows (K)"
        )
    check_gemm_shape(config, *a.shape, b.shape[1], allow_overflow=allow_overflow)
    return a, b


_builds = {}

#: Accumulator SRAM rows of the simulated SystolicGemm top (largest M per fold).
GEMM_ACC_ROWS = 256


def array_build(config, *, top="array", waves=None):
    """The (cached) Verilator build of ``top`` (``array`` or ``gemm``) for ``config``.

    ``waves`` selects the traced build (``True``/``"vcd"``, ``"fst"``), the untraced one
    (``False``) or, with ``None``, whatever ``SYSTOLIX_WAVES`` says; see
    :class:`tb.verilator.VerilatorBuild`.
    """
    waves = waves_format(waves)
    key = (config, top, waves)
    if key not in _builds:
        if top == "array":
            build = VerilatorBuild(
                "array",
                config,
                ARRAY_TOP,
                lambda: array_verilog(config),
                waves=waves or False,
                sim_sources=simulation_sources(config),
            )
        elif top == "gemm":
            build = VerilatorBuild(
                "gemm",
                config,
                GEMM_TOP,
                lambda: gemm_verilog(config, acc_rows=GEMM_ACC_ROWS),
                waves=waves or False,
                sim_sources=simulation_sources(config),
            )
        else:
            raise UsageValueError(f"top must be one of array, gemm, got {top!r}", parameter="top")
        _builds[key] = build.ensure_built()
    return _builds[key]


def random_operands(config, rng, m, k, n, *, act_unsigned=False):
    """Random legal operands of an M×K×N GEMM: int8/uint8 values for INT8, finite codes of
    the activation and weight formats for FP8 kinds."""
    if not config.is_fp8:
        lo, hi = (0, 256) if act_unsigned else (-128, 128)
        return rng.integers(lo, hi, (m, k)), rng.integers(-128, 128, (k, n))

    from golden.fp8 import fp8_to_float

    def finite_codes(fmt, shape):
        values = fp8_to_float(np.arange(256), fmt)
        return rng.choice(np.flatnonzero(np.isfinite(values)), shape)

    fa, fb = config.fp8_formats
    return finite_codes(fa, (m, k)), finite_codes(fb, (k, n))


def run_gemm_batch(
    config, jobs, *, seed=None, allow_overflow=False, top="array", waves=None, testbench=None
):
    """Run several GEMM jobs in one simulation, in order, each checked against golden.

    ``top="array"`` simulates the bare array (the folds are summed here, as the accumulator
    would); ``top="gemm"`` simulates :class:`hdl.array.gemm.SystolicGemm`, which sums the folds and
    rounds FP8 results in hardware (M at most ``GEMM_ACC_ROWS``).

    ``waves`` asks for a waveform of the simulation: ``True`` or ``"vcd"`` (VCD), ``"fst"``
    (FST, needs the system's lz4), ``False`` (none); ``None`` follows ``SYSTOLIX_WAVES``. The
    traced simulator is a separate build; the waveform lands in the run's folder and each
    :class:`GemmRun` names it.

    ``testbench`` is the cocotb module to run instead of ``tb.tb_<top>``: one that drives the
    same jobs through :mod:`tb.array_driver` (tests of the failure report use it).

    Returns a list with one :class:`GemmRun` per job (``None`` for jobs abandoned by reset).
    Raises :class:`tb.verilator.SimulationError` on the first mismatch, naming the job, the
    element and both values, and the waveform (or how to get one).
    """
    if not isinstance(config, ArrayConfig):
        raise UsageTypeError(
            f"config must be an ArrayConfig, got {type(config).__name__}", parameter="config"
        )
    check_choice("top", top, ("array", "gemm"))
    for job in jobs:
        a, _ = validate_gemm(
            config, job.a, job.b, act_unsigned=job.act_unsigned, allow_overflow=allow_overflow
        )
        for name in ("weight_stall", "act_stall", "result_stall"):
            p = getattr(job, name)
            if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
                raise UsageValueError(
                    f"{name} must be a probability in [0, 1), got {p!r}", parameter=name
                )
        if top == "gemm" and a.shape[0] > GEMM_ACC_ROWS:
            raise UsageValueError(
                f"M must be at most {GEMM_ACC_ROWS} (accumulator rows), got {a.shape[0]}"
            )
    if seed is None:
        seed = random.randrange(1 << 31)
    seed = check_int("seed", seed, 0, MAX_SEED)
    build = array_build(config, top=top, waves=waves)
    outputs, run_dir = build.run_jobs(
        testbench or f"tb.tb_{top}",
        [job.as_dict() for job in jobs],
        env=config.to_env(),
        seed=seed,
        jobs_var="SYSTOLIX_JOBS",
        results_var="SYSTOLIX_RESULTS",
    )
    waves_path = build.waves_path(run_dir)
    return [
        None if out is None else GemmRun(out["c"], out["cycles"], waves_path, out.get("stats"))
        for out in outputs
    ]


def run_gemm(config, a, b, *, act_unsigned=False, seed=None, waves=None):
    """Run ``C = A·B`` on ``config`` in simulation; return a :class:`GemmRun`.

    ``a`` (M×K) holds int8 activations (uint8 with ``act_unsigned=True``) or codes of the FP8
    activation format, ``b`` (K×N) the weights; M and N are at most :data:`MAX_MN`, K at most
    ``config.max_k``, and the three matrices at most :data:`MAX_GEMM_ELEMENTS` elements.
    ``seed`` (0 to :data:`MAX_SEED`, random if ``None``) seeds the simulation.
    ``waves=True`` writes a VCD of the run (``"fst"``: FST) and names it in ``GemmRun.waves``;
    see :func:`run_gemm_batch`.

    Raises
    ------
    golden.errors.UsageValueError, golden.errors.UsageTypeError
        On bad input, naming the argument and what it must be.
    tb.verilator.SimulationError
        If the hardware's result differs from the golden model's.
    """
    (run,) = run_gemm_batch(
        config, [GemmJob(a, b, act_unsigned=act_unsigned)], seed=seed, waves=waves
    )
    return run
