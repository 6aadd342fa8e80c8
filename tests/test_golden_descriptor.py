"""The golden descriptor check: the table of illegal and edge descriptors with hand-worked
codes, the priority order, field and limit validation, and the range check against an
independent oracle that walks the rows of each tensor."""

import dataclasses

import pytest
from descriptor_cases import ATT, ATT_128, ATT_CASES, BASE, CASES, INT8, LIMITS
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.descriptor import (
    CHECK_ORDER,
    ERROR_DESCRIPTIONS,
    OPCODE_ATTENTION,
    AttentionConfig,
    Descriptor,
    DescriptorLimits,
    ErrorCode,
    check_descriptor,
    output_bytes,
    requantizes,
    tensor_extents,
    uses_qp_table,
)
from golden.frontend import (
    ACT_UNSIGNED,
    BIAS_EN,
    OUT_FP8,
    OUT_RAW,
    PER_CHANNEL_Q,
    QP_RECORD_BYTES,
    FrontendConfig,
)


@pytest.mark.parametrize(
    ("limits", "desc", "expected"), [pytest.param(LIMITS[lk], d, e, id=n) for n, lk, d, e in CASES]
)
def test_golden_descriptor_case(limits, desc, expected):
    assert check_descriptor(desc, limits) == expected


def test_golden_descriptor_cases_cover_every_check():
    """Every check, and the legal outcome, has at least one case; every pair of neighbours in
    the priority order has a case where both fail and the higher one wins."""
    codes = {expected for *_, expected in CASES}
    assert set(CHECK_ORDER) | {ErrorCode.NONE} <= codes
    names = {name for name, *_ in CASES}
    for high in (
        "opcode-15-over-zero-dim",
        "zero-over-dim-range",
        "dim-range-over-align",
        "align-over-stride",
        "stride-over-range",
        "range-over-qparam",
    ):
        assert high in names


def test_golden_descriptor_attention_cases_cover_every_check():
    """The same for ATTENTION: every check decides some case, each neighbouring pair of the
    priority order has a case where both fail, and an attention descriptor on hardware
    without the unit is DESC_OPCODE."""
    codes = {expected for *_, expected in ATT_CASES}
    assert set(CHECK_ORDER) | {ErrorCode.NONE} <= codes
    names = {name for name, *_ in ATT_CASES}
    for high in (
        "att-opcode-15-over-zero-dim",
        "att-without-unit-over-zero-dim",
        "att-zero-over-dim-range",
        "att-dim-range-over-align",
        "att-align-over-stride",
        "att-stride-over-range",
        "att-range-over-qparam",
    ):
        assert high in names
    without_unit = [lk for name, lk, *_ in ATT_CASES if name.startswith("att-without-unit")]
    assert without_unit and all(LIMITS[lk].attention is None for lk in without_unit)


def test_golden_descriptor_codes_match_frontend_table():
    """docs/accelerator.md §2.3's codes, plus DESC_OPCODE (0x08) for the reserved opcode field."""
    assert {c.name: int(c) for c in ErrorCode} == {
        "NONE": 0x00,
        "DESC_ZERO_DIM": 0x01,
        "DESC_DIM_RANGE": 0x02,
        "DESC_ALIGN": 0x03,
        "DESC_STRIDE": 0x04,
        "DESC_RANGE": 0x05,
        "DESC_QPARAM": 0x06,
        "BUSY": 0x07,
        "DESC_OPCODE": 0x08,
        "AXI_RD_SLVERR": 0x10,
        "AXI_RD_DECERR": 0x11,
        "AXI_WR_SLVERR": 0x12,
        "AXI_WR_DECERR": 0x13,
        "ABORTED": 0x20,
    }
    assert set(ERROR_DESCRIPTIONS) == set(ErrorCode)
    assert list(CHECK_ORDER[1:]) == sorted(CHECK_ORDER[1:])  # §2.3's order after OPCODE


@pytest.mark.parametrize(
    ("mac", "flags", "ob", "requant", "qp"),
    [
        ("int8", 0, 1, True, False),
        ("int8", OUT_RAW, 4, False, False),
        ("int8", OUT_FP8, 1, True, False),
        ("int8", PER_CHANNEL_Q, 1, True, True),
        ("int8", OUT_RAW | PER_CHANNEL_Q, 4, False, False),
        ("int8", OUT_RAW | BIAS_EN, 4, False, True),
        ("int8", BIAS_EN | ACT_UNSIGNED, 1, True, True),
        ("e4m3", 0, 4, False, False),
        ("e5m2", OUT_RAW, 4, False, False),
        ("e4m3xe5m2", OUT_FP8, 1, False, False),
        ("e4m3", OUT_FP8 | OUT_RAW | BIAS_EN | PER_CHANNEL_Q, 1, False, False),
    ],
)
def test_golden_descriptor_output_modes(mac, flags, ob, requant, qp):
    assert output_bytes(flags, mac) == ob
    assert requantizes(flags, mac) == requant
    assert uses_qp_table(flags, mac) == qp


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"m": -1}, "m must be between 0 and 4294967295, got -1"),
        ({"k": 1 << 32}, "k must be between 0 and 4294967295"),
        ({"a_addr": 1 << 64}, "a_addr must be between 0 and 18446744073709551615"),
        ({"q_shift": 64}, "q_shift must be between 0 and 63, got 64"),
        ({"qmin": -129}, "qmin must be between -128 and 127, got -129"),
        ({"q_zp": 1 << 31}, "q_zp must be between -2147483648 and 2147483647"),
        ({"flags": 32}, "flags must be between 0 and 31, got 32"),
        ({"opcode": 16}, "opcode must be between 0 and 15, got 16"),
        ({"n": True}, "n must be an integer between 0 and 4294967295, got True"),
        ({"c_stride": 1.0}, "c_stride must be an integer"),
    ],
)
def test_golden_descriptor_rejects_fields_outside_registers(changes, message):
    # Out of range: ValueError; not an integer at all (True, 1.0): TypeError.
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(")):
        dataclasses.replace(BASE, **changes)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"mac": "int4"}, ValueError, "mac must be one of int8, e4m3, e5m2, e4m3xe5m2"),
        ({"max_k": 0}, ValueError, "max_k must be between 1 and 16777216, got 0"),
        ({"max_dim": 1 << 24}, ValueError, "max_dim must be between 1 and 16777215"),
        ({"frontend": None}, TypeError, "frontend must be a FrontendConfig"),
    ],
)
def test_golden_descriptor_limits_rejected(kwargs, error, message):
    with pytest.raises(error, match=message):
        DescriptorLimits(**kwargs)


def test_golden_descriptor_checks_types():
    with pytest.raises(TypeError, match="desc must be a Descriptor"):
        check_descriptor({"m": 1}, INT8)
    with pytest.raises(TypeError, match="limits must be a DescriptorLimits"):
        check_descriptor(BASE, FrontendConfig())


def test_golden_descriptor_extents():
    """Closed forms of the extents, worked by hand for the base descriptor and packed B."""
    assert tensor_extents(BASE, INT8) == {
        "a": (0x1000, 0x1000 + 63 * 256 + 256),
        "b": (0x2_0000, 0x2_0000 + 255 * 64 + 64),
        "c": (0x4_0000, 0x4_0000 + 63 * 64 + 64),
    }
    packed = dataclasses.replace(BASE, n=130, b_tile_stride=20000 * 16, flags=BIAS_EN)
    extents = tensor_extents(packed, INT8)
    assert extents["b"] == (0x2_0000, 0x2_0000 + 2 * 320_000 + 255 * 64 + 64)
    assert extents["qp"] == (0x5_0000, 0x5_0000 + 130 * QP_RECORD_BYTES)


def test_golden_descriptor_attention_extents():
    """ATTENTION's four tensors, worked by hand: Q Lq×d, K Lk×d, V Lk×DV at QP_ADDR, O Lq×DV
    at C_ADDR; FLAGS (a QP table, OUT_RAW) and B_TILE_STRIDE change nothing."""
    expected = {
        "q": (0x1000, 0x1000 + 15 * 64 + 64),
        "k": (0x2_0000, 0x2_0000 + 127 * 64 + 64),
        "v": (0x3_0000, 0x3_0000 + 127 * 32 + 32),
        "o": (0x4_0000, 0x4_0000 + 15 * 32 + 32),
    }
    assert tensor_extents(ATT, ATT_128) == expected
    odd = dataclasses.replace(ATT, flags=BIAS_EN | OUT_RAW | PER_CHANNEL_Q, b_tile_stride=4096)
    assert tensor_extents(odd, ATT_128) == expected


def test_golden_descriptor_attention_without_unit_only_opcode():
    """Without an attention unit only the opcode decides: GEMM codes are the same with and
    without the unit, and ATTENTION is DESC_OPCODE whatever its fields."""
    for _name, lk, desc, _expected in CASES:
        limits = LIMITS[lk]
        if desc.opcode == OPCODE_ATTENTION:
            bare = dataclasses.replace(limits, attention=None)
            assert check_descriptor(desc, bare) == ErrorCode.DESC_OPCODE
        elif limits.attention is None:
            unit = dataclasses.replace(limits, attention=AttentionConfig())
            assert check_descriptor(desc, unit) == check_descriptor(desc, limits)


# --- DESC_RANGE against row-by-row enumeration ---------------------------------------------

AW32 = DescriptorLimits(mac="int8", frontend=FrontendConfig(data_width=64, tile_n=16))


def _rows(base, count, stride, length):
    """The byte intervals [start, end) of ``count`` rows, one by one."""
    return [(base + i * stride, base + i * stride + length) for i in range(count)]


def _touched(desc, limits):
    """Every row interval the descriptor reads or writes, enumerated without the extent
    formula: A rows, B rows (or every row of every packed panel), C rows, QP records."""
    ob = output_bytes(desc.flags, limits.mac)
    rows = _rows(desc.a_addr, desc.m, desc.a_stride, desc.k)
    if desc.b_tile_stride:
        tile_n = limits.frontend.tile_n
        for p in range(0, desc.n, tile_n):
            panel = desc.b_addr + (p // tile_n) * desc.b_tile_stride
            rows += _rows(panel, desc.k, desc.b_stride, tile_n)
    else:
        rows += _rows(desc.b_addr, desc.k, desc.b_stride, desc.n)
    rows += _rows(desc.c_addr, desc.m, desc.c_stride, desc.n * ob)
    if uses_qp_table(desc.flags, limits.mac):
        rows += _rows(desc.qp_addr, desc.n, QP_RECORD_BYTES, QP_RECORD_BYTES)
    return rows


@st.composite
def small_descriptors(draw):
    beat = AW32.beat_bytes
    m, k, n = (draw(st.integers(1, 40)) for _ in range(3))
    flags = draw(st.integers(0, 31))
    ob = output_bytes(flags, "int8")

    def stride(row):
        return -(-row // beat) * beat + beat * draw(st.integers(0, 3))

    packed = draw(st.booleans())
    b_stride = stride(16 if packed else n)
    b_tile_stride = stride((k - 1) * b_stride + 16) if packed else 0
    top = 1 << 32

    def base(align=beat):
        near = draw(st.sampled_from([0, top - 4096, top - 64 * beat, 0x1000]))
        return near + align * draw(st.integers(0, 300))

    mem_base = beat * draw(st.integers(0, 1 << 28))
    limits = [top, top - beat * draw(st.integers(0, 64)), (1 << 64) - 1]
    limits.append(mem_base + beat * draw(st.integers(0, 1 << 12)))
    mem_limit = draw(st.sampled_from(limits))
    return Descriptor(
        m=m,
        k=k,
        n=n,
        flags=flags,
        a_addr=base(),
        a_stride=stride(k),
        b_addr=base(),
        b_stride=b_stride,
        b_tile_stride=b_tile_stride,
        c_addr=base(),
        c_stride=stride(n * ob),
        qp_addr=base(AW32.qp_alignment),
        q_mult=1,
        q_shift=1,
        mem_base=mem_base,
        mem_limit=mem_limit,
    )


@settings(max_examples=400, deadline=None)
@given(small_descriptors())
def test_golden_descriptor_range_equals_row_walk(desc):
    """DESC_RANGE (or NONE) exactly when some row leaves [MEM_BASE, min(MEM_LIMIT, 2^32))."""
    code = check_descriptor(desc, AW32)
    assert code in (ErrorCode.NONE, ErrorCode.DESC_RANGE)
    end = min(desc.mem_limit, AW32.addr_limit)
    outside = any(start < desc.mem_base or stop > end for start, stop in _touched(desc, AW32))
    assert (code == ErrorCode.DESC_RANGE) == outside


ATT32 = dataclasses.replace(AW32, attention=AttentionConfig(block_lk=8, max_lk=40, max_d=40))


def _touched_attention(desc):
    """The rows of Q, K, V and O, one by one (V at QP_ADDR, O at C_ADDR)."""
    return (
        _rows(desc.a_addr, desc.m, desc.a_stride, desc.k)
        + _rows(desc.b_addr, desc.n, desc.b_stride, desc.k)
        + _rows(desc.qp_addr, desc.n, desc.v_stride, desc.dv)
        + _rows(desc.c_addr, desc.m, desc.c_stride, desc.dv)
    )


@st.composite
def small_attention_descriptors(draw):
    beat = ATT32.beat_bytes
    lq, d, lk, dv = (draw(st.integers(1, 40)) for _ in range(4))

    def stride(row):
        return -(-row // beat) * beat + beat * draw(st.integers(0, 3))

    top = 1 << 32

    def base():
        near = draw(st.sampled_from([0, top - 4096, top - 64 * beat, 0x1000]))
        return near + beat * draw(st.integers(0, 300))

    mem_base = beat * draw(st.integers(0, 1 << 28))
    limits = [top, top - beat * draw(st.integers(0, 64)), (1 << 64) - 1]
    limits.append(mem_base + beat * draw(st.integers(0, 1 << 12)))
    return Descriptor(
        opcode=OPCODE_ATTENTION,
        m=lq,
        k=d,
        n=lk,
        dv=dv,
        key_pad=draw(st.integers(0, lk)),
        a_addr=base(),
        a_stride=stride(d),
        b_addr=base(),
        b_stride=stride(d),
        qp_addr=base(),
        v_stride=stride(dv),
        c_addr=base(),
        c_stride=stride(dv),
        scale_mult=1,
        scale_shift=1,
        q_mult=1,
        q_shift=1,
        mem_base=mem_base,
        mem_limit=draw(st.sampled_from(limits)),
    )


@settings(max_examples=300, deadline=None)
@given(small_attention_descriptors())
def test_golden_descriptor_attention_range_equals_row_walk(desc):
    """ATTENTION's DESC_RANGE (or NONE) exactly when a Q, K, V or O row leaves
    [MEM_BASE, min(MEM_LIMIT, 2^32))."""
    code = check_descriptor(desc, ATT32)
    assert code in (ErrorCode.NONE, ErrorCode.DESC_RANGE)
    end = min(desc.mem_limit, ATT32.addr_limit)
    touched = _touched_attention(desc)
    outside = any(start < desc.mem_base or stop > end for start, stop in touched)
    assert (code == ErrorCode.DESC_RANGE) == outside
