# amaranth: UnusedElaboratable=no
"""Bad input through the Python API: one error family, one operand check, messages that name
the argument and its range, and nothing simulated or built before the input is checked."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

import tb.runtime
from golden.checks import check_operand
from golden.errors import (
    UsageError,
    UsageTypeError,
    UsageValueError,
    check_bool,
    check_choice,
    check_instance,
    check_int,
)
from golden.frontend import FrontendConfig
from golden.int8 import gemm_int8
from hdl.arith.mac_int8 import Int8Mac
from hdl.config import ACC_WIDTH_LIMIT, ArrayConfig
from scripts.bench import parse_sizes
from scripts.pnr import check_flow
from scripts.synth import synthesize
from tb.runtime import (
    MAX_GEMM_ELEMENTS,
    MAX_MN,
    GemmJob,
    check_gemm_shape,
    run_gemm,
    run_gemm_batch,
    validate_gemm,
)


def test_usage_errors_are_value_and_type_errors_that_survive_pickling():
    """Bench workers send errors back pickled; the parameter must come along."""
    for cls, base in ((UsageValueError, ValueError), (UsageTypeError, TypeError)):
        error = pickle.loads(pickle.dumps(cls("rows must be …", parameter="rows")))
        assert isinstance(error, UsageError) and isinstance(error, base)
        assert str(error) == "rows must be …" and error.parameter == "rows"


def test_errors_module_does_not_load_numpy():
    """``hdl`` imports it, and the generator does not need NumPy."""
    code = "import sys, golden.errors, hdl.config; sys.exit('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_scalar_checks():
    assert check_int("n", np.uint8(7), 0, 7) == 7 and type(check_int("n", np.int64(3), 0, 7)) is int
    with pytest.raises(UsageValueError, match=r"^n must be between 0 and 7 for x, got 8$"):
        check_int("n", 8, 0, 7, where=" for x")
    with pytest.raises(UsageTypeError, match=r"^n must be an integer between 0 and 7, got True$"):
        check_int("n", True, 0, 7)
    assert check_bool("flag", np.bool_(True)) is True and check_bool("flag", False) is False
    for value in ("no", 1, 0, None):
        with pytest.raises(UsageTypeError, match=r"^flag must be True or False, got "):
            check_bool("flag", value)
    assert check_choice("mac", "int8", ("int8", "e4m3")) == "int8"
    with pytest.raises(UsageValueError, match=r"^mac must be one of int8, e4m3, got None$"):
        check_choice("mac", None, ("int8", "e4m3"))
    config = ArrayConfig()
    assert check_instance("array_config", config, ArrayConfig) is config
    with pytest.raises(UsageTypeError, match=r"^array_config must be an ArrayConfig, not None$"):
        check_instance("array_config", None, ArrayConfig)
    with pytest.raises(UsageTypeError, match=r"^frontend_config must be a FrontendConfig, not 3$"):
        check_instance("frontend_config", 3, FrontendConfig)


@pytest.fixture
def no_build(monkeypatch):
    """Fail if a simulator would be built: every check must come first."""

    def build(*args, **kwargs):
        raise AssertionError("simulator build started before the input was checked")

    monkeypatch.setattr(tb.runtime, "array_build", build)


CFG = ArrayConfig(rows=2, cols=2, max_k=16)
Z = np.zeros((2, 2), dtype=np.int64)


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "error", "message"),
    [
        (Z, Z, {"act_unsigned": "no"}, TypeError, "act_unsigned must be True or False, got 'no'"),
        (Z, Z, {"act_unsigned": 1}, TypeError, "act_unsigned must be True or False, got 1"),
        (Z, Z, {"seed": -1}, ValueError, "seed must be between 0 and 4294967295, got -1"),
        (Z, Z, {"seed": 2**32}, ValueError, "seed must be between 0 and 4294967295"),
        (Z, Z, {"seed": 1.5}, TypeError, "seed must be an integer between 0 and 4294967295"),
        ([[1, 2], [3]], Z, {}, ValueError, "a must be a 2-D matrix, got rows of different"),
        (Z, [[1, 2], [3]], {}, ValueError, "b must be a 2-D matrix, got rows of different"),
        (np.zeros((0, 2), int), Z, {}, ValueError, r"a must be a 2-D matrix of at least 1×1"),
        (Z, np.zeros(2, int), {}, ValueError, r"b must be a 2-D matrix, got shape \(2,\)"),
        (Z, Z.astype(float), {}, TypeError, "b must hold integers, got dtype float64"),
        (Z + 200, Z, {}, ValueError, r"a values must be between -128 and 127 \(int8 act"),
        (Z - 1, Z, {"act_unsigned": True}, ValueError, r"between 0 and 255 \(uint8 activations"),
        (Z, Z - 129, {}, ValueError, r"b values must be between -128 and 127 \(int8 weights\)"),
        (np.zeros((2, 3), int), Z, {}, ValueError, "a's columns must equal b's rows"),
        (
            np.zeros((2, 17), int),
            np.zeros((17, 2), int),
            {},
            ValueError,
            "K must be at most max_k=16 of configuration r2c2-int8-k16, got 17",
        ),
        (
            np.zeros((MAX_MN + 1, 1), int),
            np.zeros((1, 1), int),
            {},
            ValueError,
            "M must be between 1 and 65536, got 65537",
        ),
    ],
)
def test_run_gemm_refuses_bad_input_before_building(a, b, kwargs, error, message, no_build):
    with pytest.raises(error, match=message) as info:
        run_gemm(CFG, a, b, **kwargs)
    assert isinstance(info.value, UsageError)


def test_run_gemm_batch_refuses_bad_options_before_building(no_build):
    with pytest.raises(UsageTypeError, match="config must be an ArrayConfig, got dict"):
        run_gemm_batch({"rows": 2}, [GemmJob(Z, Z)])
    with pytest.raises(UsageValueError, match="top must be one of array, gemm, got 'accel'"):
        run_gemm_batch(CFG, [GemmJob(Z, Z)], top="accel")
    with pytest.raises(UsageValueError, match=r"act_stall must be a probability in \[0, 1\)"):
        run_gemm_batch(CFG, [GemmJob(Z, Z, act_stall=1.0)])
    with pytest.raises(UsageValueError, match=r"result_stall must be .*, got 'x'"):
        run_gemm_batch(CFG, [GemmJob(Z, Z, result_stall="x")])
    big = np.zeros((257, 2), dtype=np.int64)
    with pytest.raises(UsageValueError, match="M must be at most 256 .accumulator rows., got 257"):
        run_gemm_batch(CFG, [GemmJob(big, Z)], top="gemm")


def test_gemm_shape_limits():
    cfg = ArrayConfig(max_k=4096)
    assert check_gemm_shape(cfg, MAX_MN, 1, 1) == (MAX_MN, 1, 1)
    assert check_gemm_shape(cfg, 1, 4096, np.int64(2)) == (1, 4096, 2)
    with pytest.raises(UsageValueError, match="N must be between 1 and 65536, got 65537"):
        check_gemm_shape(cfg, 1, 1, MAX_MN + 1)
    with pytest.raises(UsageValueError, match="K must be at most max_k=4096"):
        check_gemm_shape(cfg, 1, 4097, 1)
    assert check_gemm_shape(cfg, 1, 4097, 1, allow_overflow=True) == (1, 4097, 1)
    # 4096·2048 + 2048·4096 + 4096·4096 = 2^25 elements exactly: the limit; one row more is over.
    assert 4096 * 2048 * 2 + 4096 * 4096 == MAX_GEMM_ELEMENTS
    assert check_gemm_shape(cfg, 4096, 2048, 4096) == (4096, 2048, 4096)
    with pytest.raises(UsageValueError, match="has 33560576 elements in A, B and C; at most 33"):
        check_gemm_shape(cfg, 4097, 2048, 4096)
    with pytest.raises(UsageValueError, match=r"^a GEMM of M=65536, K=4096, N=65536 has \d+ el"):
        check_gemm_shape(cfg, MAX_MN, 4096, MAX_MN)
    names = {"m": "--m", "k": "--k", "n": "--n", "max_k": "--max-k"}
    with pytest.raises(UsageValueError, match="^--k must be at most --max-k=4096"):
        check_gemm_shape(cfg, 1, 5000, 1, names=names)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([[1, 2], [3]], Z),
        (np.zeros(3, int), Z),
        (Z.astype(np.float32), Z),
        (Z.astype(bool), Z),
        (Z + 128, Z),
        (Z, Z - 200),
    ],
)
def test_golden_and_runtime_share_one_operand_check(a, b, no_build):
    """The golden model and the simulator API say the same thing about the same bad operand."""
    with pytest.raises((ValueError, TypeError)) as golden:
        gemm_int8(a, b, 20)
    with pytest.raises((ValueError, TypeError)) as runtime:
        validate_gemm(ArrayConfig(rows=2, cols=2), a, b)
    assert type(golden.value) is type(runtime.value) and str(golden.value) == str(runtime.value)


def test_check_operand_returns_int64_and_allows_empty_only_when_asked():
    x = check_operand("a", [[1, 2]], -1, 2)
    assert x.dtype == np.int64 and x.tolist() == [[1, 2]]
    assert check_operand("a", np.zeros((0, 3), np.int8), 0, 1).shape == (0, 3)
    with pytest.raises(UsageValueError, match=r"^a must be a 2-D matrix of at least 1×1"):
        check_operand("a", np.zeros((0, 3), np.int8), 0, 1, allow_empty=False)


def test_gemm_int8_refuses_a_non_bool_act_unsigned():
    with pytest.raises(UsageTypeError, match="act_unsigned must be True or False, got 'no'"):
        gemm_int8(Z, Z, 20, act_unsigned="no")


def test_int8_mac_width_range_is_what_config_produces():
    """The MAC's documented and checked range, 16 to 64, is ArrayConfig's INT8 range."""
    narrowest = ArrayConfig(max_k=1).acc_width
    assert narrowest == 16
    Int8Mac(acc_width=narrowest)
    Int8Mac(acc_width=ACC_WIDTH_LIMIT["int8"])
    for width in (narrowest - 1, ACC_WIDTH_LIMIT["int8"] + 1):
        with pytest.raises(ValueError, match="acc_width must be between 16 and 64"):
            Int8Mac(acc_width=width)
    assert "16 to 64" in Int8Mac.__doc__


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("xilinx", "85k", 100), "target must be one of ecp5, ice40, got 'xilinx'"),
        (("ecp5", "hx8k", 100), "device must be one of 25k, 45k, 85k for ecp5, got 'hx8k'"),
        (("ecp5", "85k", "fast"), "clock_mhz must be between 1 and 1000, got 'fast'"),
        (("ecp5", "85k", True), "clock_mhz must be between 1 and 1000, got True"),
        (("ecp5", "85k", float("inf")), "clock_mhz must be between 1 and 1000, got inf"),
    ],
)
def test_flow_options_raise_usage_errors(args, message):
    with pytest.raises(UsageValueError, match=f"^{message}$"):
        check_flow(*args)


def test_synth_and_bench_options_raise_usage_errors(tmp_path):
    with pytest.raises(UsageValueError, match="target must be one of generic, ecp5, ice40"):
        synthesize(ArrayConfig(rows=1, cols=1), "vu9p", tmp_path)
    with pytest.raises(UsageValueError) as info:
        parse_sizes("2x2,4")
    assert info.value.parameter == "sizes"
