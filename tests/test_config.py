"""ArrayConfig validation, derived widths and JSON round trip."""

import numpy as np
import pytest

from golden.errors import UsageTypeError, UsageValueError
from hdl.config import ArrayConfig


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 0}, "rows must be between 1 and 128, got 0"),
        ({"cols": 129}, "cols must be between 1 and 128, got 129"),
        ({"mac": "fp16"}, "mac must be one of int8, e4m3, e5m2, e4m3xe5m2, got 'fp16'"),
        ({"mac": "e5m2", "acc_width": 76}, "acc_width must be between 77 and 256 for mac=e5m2"),
        ({"max_k": 0}, "max_k must be between 1 and 16777216, got 0"),
        ({"acc_width": 27}, "acc_width must be between 28 and 64 for mac=int8 max_k=4096"),
        ({"acc_width": 65}, "acc_width must be between 28 and 64"),
        ({"result_fifo_depth": 0}, "result_fifo_depth must be between 1 and 4096, got 0"),
        ({"multiplier": "dsp48"}, "multiplier must be one of dsp, lut, ecp5, auto, got 'dsp48'"),
        (
            {"mac": "e4m3", "multiplier": "ecp5"},
            "multiplier='ecp5' is INT8 only .* for mac='e4m3' multiplier must be one of dsp, lut",
        ),
        ({"mac": "e5m2", "multiplier": "auto"}, "multiplier='auto' is INT8 only"),
        ({"multiplier": "auto", "dsp_blocks": None}, "multiplier='auto' needs dsp_blocks"),
        ({"multiplier": "lut", "dsp_blocks": 4}, "dsp_blocks applies to multiplier='ecp5' or"),
        ({"multiplier": "auto", "dsp_blocks": -1}, "dsp_blocks must be between 0 and 16384"),
        (
            {"rows": 16, "cols": 16, "multiplier": "ecp5", "dsp_blocks": 156},
            "dsp_blocks must be at least 256 for multiplier='ecp5' on a 16×16 array",
        ),
        ({"mac_pipeline": 3}, "mac_pipeline must be between 0 and 2 for mac=int8, got 3"),
        (
            {"multiplier": "lut", "mac_pipeline": 3},
            "mac_pipeline must be between 0 and 2 for mac=int8, got 3",
        ),
        ({"mac": "e4m3", "mac_pipeline": 5}, "mac_pipeline must be between 0 and 4 for mac=e4m3"),
        ({"mac": "e5m2", "mac_pipeline": -1}, "mac_pipeline must be between 0 and 4 for mac=e5m2"),
        ({"mac_pipeline": np.int64(-1)}, "mac_pipeline must be between 0 and 2, got -1"),
    ],
)
def test_config_rejects_bad_parameters(kwargs, message):
    with pytest.raises(UsageValueError, match=message) as info:
        ArrayConfig(**kwargs)
    assert isinstance(info.value, ValueError) and info.value.parameter == list(kwargs)[-1]


#: Every integer parameter, with a legal value for each.
INTEGER_FIELDS = {
    "rows": 4,
    "cols": 3,
    "max_k": 64,
    "acc_width": 30,
    "result_fifo_depth": 5,
    "mac_pipeline": 1,
}


@pytest.mark.parametrize("name", INTEGER_FIELDS)
@pytest.mark.parametrize("value", [True, False, 2.5, 4.0, "4", np.float64(4)])
def test_config_integer_fields_refuse_non_integers(name, value):
    """A bool is an int to Python, but ``rows=True`` is a mistake; so are floats and strings."""
    with pytest.raises(UsageTypeError, match=rf"^{name} must be an integer between \d+ and \d+"):
        ArrayConfig(**{name: value})


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint16])
def test_config_integer_fields_take_numpy_integers_as_int(dtype):
    cfg = ArrayConfig(**{name: dtype(value) for name, value in INTEGER_FIELDS.items()})
    assert all(type(getattr(cfg, name)) is int for name in INTEGER_FIELDS)
    plain = ArrayConfig(**INTEGER_FIELDS)
    assert cfg == plain and hash(cfg) == hash(plain) and cfg.id == plain.id
    assert cfg.to_json() == plain.to_json()


def test_config_derives_exact_width_and_full_rate_fifo():
    cfg = ArrayConfig(rows=8, cols=4)
    assert cfg.acc_width == 28  # docs/numerics.md §3.1, K = 4096
    # uint8 activations (Pmax 32640) need one more bit than int8 (32) at K = 131071.
    assert ArrayConfig(max_k=131071).acc_width == 33
    assert ArrayConfig(max_k=65536).acc_width == 32
    assert cfg.mac_pipeline == 2 and cfg.mac_latency == 2
    # Latency R + C + 1 + 2 rows in flight, plus the cycle a delivered row's slot takes to
    # come back.
    assert cfg.result_fifo_depth == (8 + 4 + 1 + 2) + 2
    assert cfg.id == "r8c4-int8"


def test_config_fp8_widths_and_latency():
    # docs/numerics.md §2.3 at K = 4096.
    assert ArrayConfig(mac="e4m3").acc_width == 49
    assert ArrayConfig(mac="e5m2").acc_width == 77
    assert ArrayConfig(mac="e4m3xe5m2").acc_width == 63
    cfg = ArrayConfig(rows=4, cols=4, mac="e4m3")
    assert cfg.mac_latency == 2 and cfg.result_fifo_depth == (4 + 4 + 1 + 2) + 2
    assert cfg.id == "r4c4-e4m3"


@pytest.mark.parametrize("mac", ["e4m3", "e5m2", "e4m3xe5m2"])
def test_config_fp8_mac_pipeline_3(mac):
    """Depth 3 (FP8 only): the operand register and two product registers, MAC latency 3,
    read by the array latency and the full-rate FIFO; the id names the depth."""
    from hdl.arith import arithmetic_for
    from hdl.array.array import array_latency

    cfg = ArrayConfig(rows=4, cols=6, mac=mac, mac_pipeline=3)
    arith = arithmetic_for(cfg)
    assert arith.operand_register and arith.product_registers == 2
    assert cfg.mac_latency == 3 and array_latency(cfg) == 4 + 6 + 1 + 3
    assert cfg.result_fifo_depth == (4 + 6 + 1 + 3) + 2
    assert cfg.id == f"r4c6-{mac}-p3"
    assert ArrayConfig(mac=mac, mac_pipeline=3, multiplier="dsp").mac_latency == 3
    depths = {p: ArrayConfig(mac=mac, mac_pipeline=p).mac_latency for p in range(5)}
    assert depths == {0: 0, 1: 1, 2: 2, 3: 3, 4: 3}


@pytest.mark.parametrize("mac", ["e4m3", "e5m2", "e4m3xe5m2"])
def test_config_fp8_mac_pipeline_4(mac):
    """Depth 4 (FP8 only): depth 3's MAC with a segmented add, whose carries the two resolver
    stages below each column add back: two cycles more in the array latency and the
    full-rate FIFO, partial sums with pending carries between PEs only."""
    from hdl.arith import arithmetic_for
    from hdl.array.array import array_latency

    cfg = ArrayConfig(rows=4, cols=6, mac=mac, mac_pipeline=4)
    arith = arithmetic_for(cfg)
    assert arith.segmented and arith.product_registers == 2
    assert cfg.mac_latency == 3 and array_latency(cfg) == 4 + 6 + 1 + 3 + 2
    assert cfg.result_fifo_depth == (4 + 6 + 1 + 3 + 2) + 2
    assert cfg.id == f"r4c6-{mac}-p4"
    boundaries = -(-cfg.acc_width // 16) - 1
    assert arith.column_psum_shape.size == arith.psum_shape.size + boundaries
    assert not arithmetic_for(ArrayConfig(mac=mac, mac_pipeline=3)).segmented


def test_config_id_names_non_defaults():
    assert ArrayConfig(rows=3, cols=5, max_k=64, acc_width=30).id == "r3c5-int8-k64-w30"
    assert ArrayConfig(result_fifo_depth=3).id == "r8c8-int8-q3"
    assert ArrayConfig(mac_pipeline=0, multiplier="lut").id == "r8c8-int8-p0-lut"
    assert ArrayConfig(mac="e5m2", mac_pipeline=2, multiplier="lut").id == "r8c8-e5m2"
    # Default multipliers: DSP blocks for INT8's 9×8 product, logic for FP8's 4×4 and 3×3.
    assert ArrayConfig().multiplier == "dsp" and ArrayConfig(mac="e4m3").multiplier == "lut"
    assert ArrayConfig(mac="e4m3", multiplier="dsp").id == "r8c8-e4m3-dsp"
    # A non-default depth keeps a full-rate FIFO unless the depth is given.
    assert ArrayConfig(mac_pipeline=0).result_fifo_depth == (8 + 8 + 1 + 0) + 2


def test_config_ecp5_and_auto_multipliers():
    """ECP5 PEs: MAC latency 3 + mac_pipeline (operand registers, the DSP block's input and
    output registers, fabric product registers) whatever the PE mix; auto
    fills the budget in row-major order and the rest are LUT PEs."""
    ecp5 = ArrayConfig(multiplier="ecp5")
    assert ecp5.mac_latency == ArrayConfig().mac_latency + 3 == 5
    assert ArrayConfig(multiplier="ecp5", mac_pipeline=0).mac_latency == 3
    assert ecp5.dsp_pes == 64 and ecp5.pe_kinds == ("ecp5",) and ecp5.id == "r8c8-int8-ecp5"
    assert ArrayConfig(multiplier="ecp5", dsp_blocks=64).id == "r8c8-int8-ecp5-d64"
    big = ArrayConfig(rows=16, cols=16, multiplier="auto", dsp_blocks=156)
    assert big.dsp_pes == 156 and big.pe_kinds == ("ecp5", "lut")
    assert big.pe_multiplier(9, 11) == "ecp5" and big.pe_multiplier(9, 12) == "lut"
    assert sum(row.count("ecp5") for row in big.pe_multipliers) == 156
    assert big.mac_latency == 5 and big.full_rate_fifo_depth == (16 + 16 + 1 + 5) + 2
    assert big.id == "r16c16-int8-auto-d156"
    none = ArrayConfig(rows=2, cols=2, multiplier="auto", dsp_blocks=0)
    assert none.pe_kinds == ("lut",) and none.mac_latency == 5
    roomy = ArrayConfig(rows=2, cols=2, multiplier="auto", dsp_blocks=100)
    assert roomy.dsp_pes == 4 and roomy.pe_kinds == ("ecp5",)
    assert ArrayConfig.from_json(big.to_json()) == big
    assert ArrayConfig().pe_multipliers == (("dsp",) * 8,) * 8


def test_config_json_round_trip():
    cfg = ArrayConfig(rows=3, cols=5, max_k=100, result_fifo_depth=4)
    again = ArrayConfig.from_json(cfg.to_json())
    assert again == cfg and again.id == cfg.id
    assert cfg.to_env()["SYSTOLIX_CONFIG"] == cfg.to_json()
    with pytest.raises(ValueError, match="unknown ArrayConfig fields: depth"):
        ArrayConfig.from_json('{"rows": 2, "depth": 3}')
