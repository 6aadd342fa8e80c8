"""Host-side API: run GEMMs on a generated array configuration in Verilator.

``run_gemm(config, a, b)`` generates the Verilog (once per configuration and generator
version), builds the simulator (once), drives the GEMM through the cocotb testbench and
returns the result matrix with the measured cycles.
"""

import os
import pickle
import random
import tempfile
from dataclasses import dataclass

import numpy as np

from hdl.config import ArrayConfig
from hdl.generate import ARRAY_TOP, GEMM_TOP, array_verilog, gemm_verilog
from tb.numerics import numerics_for
from tb.verilator import VerilatorBuild


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
    """

    c: np.ndarray
    cycles: int


def validate_gemm(config, a, b, *, act_unsigned=False, allow_overflow=False):
    """Check a GEMM's operands against the configuration; raise ``ValueError`` naming the input."""
    a = np.asarray(a)
    b = np.asarray(b)
    for name, x in (("a", a), ("b", b)):
        if x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"a is {a.shape[0]}×{a.shape[1]} but b is {b.shape[0]}×{b.shape[1]}: "
            "a's columns must equal b's rows (K)"
        )
    numerics = numerics_for(config)
    lo, hi = numerics.act_range(act_unsigned)
    if config.is_fp8:
        kind = f"{config.fp8_formats[0]} codes"
    else:
        kind = "uint8 activations" if act_unsigned else "int8 activations"
    if a.min() < lo or a.max() > hi:
        raise ValueError(
            f"a holds {kind}: values must be between {lo} and {hi}, got {a.min()}..{a.max()}"
        )
    wlo, whi = numerics.weight_range
    wkind = f"{config.fp8_formats[1]} codes" if config.is_fp8 else "int8 weights"
    if b.min() < wlo or b.max() > whi:
        raise ValueError(
            f"b holds {wkind}: values must be between {wlo} and {whi}, got {b.min()}..{b.max()}"
        )
    k = a.shape[1]
    if k > config.max_k and not allow_overflow:
        raise ValueError(
            f"K must be at most max_k={config.max_k} of configuration {config.id}, got {k}"
        )
    return a, b


_builds = {}

#: Accumulator SRAM rows of the simulated SystolicGemm top (largest M per fold).
GEMM_ACC_ROWS = 256


def array_build(config, *, top="array"):
    """The (cached) Verilator build of ``top`` (``array`` or ``gemm``) for ``config``."""
    key = (config, top)
    if key not in _builds:
        if top == "array":
            build = VerilatorBuild("array", config, ARRAY_TOP, lambda: array_verilog(config))
        elif top == "gemm":
            build = VerilatorBuild(
                "gemm", config, GEMM_TOP, lambda: gemm_verilog(config, acc_rows=GEMM_ACC_ROWS)
            )
        else:
            raise ValueError(f"top must be 'array' or 'gemm', got {top!r}")
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


def run_gemm_batch(config, jobs, *, seed=None, allow_overflow=False, top="array"):
    """Run several GEMM jobs in one simulation, in order, each checked against golden.

    ``top="array"`` simulates the bare array (the folds are summed here, as the accumulator
    would); ``top="gemm"`` simulates :class:`hdl.array.gemm.SystolicGemm`, which sums the folds and
    rounds FP8 results in hardware (M at most ``GEMM_ACC_ROWS``).

    Returns a list with one :class:`GemmRun` per job (``None`` for jobs abandoned by reset).
    Raises :class:`tb.verilator.SimulationError` on the first mismatch, naming the job, the
    element and both values.
    """
    if not isinstance(config, ArrayConfig):
        raise TypeError(f"config must be an ArrayConfig, got {type(config).__name__}")
    for job in jobs:
        validate_gemm(
            config, job.a, job.b, act_unsigned=job.act_unsigned, allow_overflow=allow_overflow
        )
        for name in ("weight_stall", "act_stall", "result_stall"):
            p = getattr(job, name)
            if not 0 <= p < 1:
                raise ValueError(f"{name} must be in [0, 1), got {p}")
    if seed is None:
        seed = random.randrange(1 << 31)
    if top == "gemm":
        for job in jobs:
            if job.a.shape[0] > GEMM_ACC_ROWS:
                raise ValueError(
                    f"M must be at most {GEMM_ACC_ROWS} (accumulator rows), got {job.a.shape[0]}"
                )
    build = array_build(config, top=top)
    runs_dir = build.build_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix="run-", dir=runs_dir)
    jobs_path = os.path.join(run_dir, "jobs.pkl")
    results_path = os.path.join(run_dir, "results.pkl")
    with open(jobs_path, "wb") as f:
        pickle.dump([job.as_dict() for job in jobs], f)
    env = config.to_env()
    env.update({"SYSTOLIX_JOBS": jobs_path, "SYSTOLIX_RESULTS": results_path})
    build.run(f"tb.tb_{top}", extra_env=env, seed=seed, test_dir=run_dir)
    with open(results_path, "rb") as f:
        outputs = pickle.load(f)
    return [None if out is None else GemmRun(out["c"], out["cycles"]) for out in outputs]


def run_gemm(config, a, b, *, act_unsigned=False, seed=None):
    """Run ``C = A·B`` on ``config`` in simulation; return a :class:`GemmRun`."""
    (run,) = run_gemm_batch(config, [GemmJob(a, b, act_unsigned=act_unsigned)], seed=seed)
    return run
