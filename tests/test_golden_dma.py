"""The read DMA's burst planner (``golden.dma``) against a byte-level oracle.

The oracle knows nothing of runs or merging: it lists the bytes each row needs, expands every
burst into the bytes it reads, and checks that each needed byte is read exactly once, by the
beat the planner's :func:`~golden.dma.beat_map` says, and that nothing else is read but the
padding after each row's last byte. The burst counts are checked against a closed form of the
fewest bursts possible.
"""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.dma import (
    MAX_ROW_BYTES,
    MAX_ROWS,
    ReadCommand,
    beat_addresses,
    beat_map,
    check_command,
    is_merged,
    plan_bursts,
    row_beats,
)
from golden.errors import UsageTypeError, UsageValueError
from golden.frontend import FrontendConfig

PAGE = 4096


def oracle_check(cmd, config, bursts):
    """Check ``bursts`` byte by byte; return the number of beats."""
    w = config.beat_bytes
    padded = -(-cmd.row_bytes // w) * w
    # Bytes each row needs, and the padding its last beat may carry.
    needed = {}
    for r in range(cmd.rows):
        start = cmd.addr + r * cmd.stride
        for offset in range(padded):
            needed[start + offset] = (r, offset)
    read = {}
    beat_index = 0
    previous_end = -1
    mapping = beat_map(cmd, config)
    for i, burst in enumerate(bursts):
        beats = burst.len + 1
        assert 1 <= beats <= config.max_burst, f"burst {i}: {beats} beats"
        first, last = burst.addr, burst.addr + beats * w - 1
        assert first % w == 0, f"burst {i} at {first:#x} is not beat aligned"
        assert first // PAGE == last // PAGE, f"burst {i} [{first:#x}, {last:#x}] crosses 4 KiB"
        assert first > previous_end, f"burst {i} at {first:#x} is not after the previous one"
        previous_end = last
        assert burst.beat == beat_index, f"burst {i} starts at beat {burst.beat}"
        rows_seen = set()
        for b in range(beats):
            row, offset = mapping[beat_index]
            for byte in range(w):
                address = first + b * w + byte
                assert address not in read, f"byte {address:#x} read twice"
                read[address] = True
                assert needed.get(address) == (row, offset + byte), (
                    f"beat {beat_index} byte {byte} at {address:#x}: needed as "
                    f"{needed.get(address)}, beat_map says {(row, offset + byte)}"
                )
                if offset + byte < cmd.row_bytes:
                    rows_seen.add(row)
            beat_index += 1
        assert (burst.row, burst.rows) == (min(rows_seen), len(rows_seen)), f"burst {i}"
        assert burst.last == (i == len(bursts) - 1)
    assert set(read) == set(needed), "some row bytes were never read"
    return beat_index


def fewest_bursts(start, beats, config):
    """Fewest bursts covering ``beats`` beats from ``start``: a 4 KiB boundary always cuts, so
    each page's share needs ``ceil(share / max_burst)`` bursts."""
    w = config.beat_bytes
    total, addr, left = 0, start, beats
    while left:
        share = min(left, (PAGE - addr % PAGE) // w)
        total += -(-share // config.max_burst)
        addr += share * w
        left -= share
    return total


CONFIGS = st.builds(
    FrontendConfig,
    data_width=st.sampled_from([64, 128, 256]),
    addr_width=st.sampled_from([32, 64]),
    max_burst=st.sampled_from([1, 2, 3, 16, 64, 100, 128, 256]),
)


@st.composite
def commands(draw, merged=None):
    config = draw(CONFIGS)
    w = config.beat_bytes
    row_bytes = draw(st.integers(1, 900))
    beats = -(-row_bytes // w)
    if merged is None:
        merged = draw(st.booleans())
    stride = beats * w if merged else beats * w + w * draw(st.integers(1, 300))
    rows = draw(st.integers(1, 40))
    extent = (rows - 1) * stride + beats * w
    # Starts near a 4 KiB boundary, anywhere, or at the very top of the address space.
    top = (1 << config.addr_width) - extent
    where = draw(st.sampled_from(["page", "any", "top"]))
    if where == "page":
        addr = draw(st.integers(1, 8)) * PAGE - w * draw(st.integers(0, 70))
    elif where == "any":
        addr = w * draw(st.integers(0, (1 << 20) // w))
    else:
        addr = top // w * w
    return config, ReadCommand(addr=addr, rows=rows, row_bytes=row_bytes, stride=stride)


@settings(max_examples=400, deadline=None)
@given(commands())
def test_golden_dma_bytes_read_once(case):
    config, cmd = case
    bursts = plan_bursts(cmd, config)
    beats = oracle_check(cmd, config, bursts)
    assert beats == cmd.rows * row_beats(cmd.row_bytes, config) == len(beat_map(cmd, config))


@settings(max_examples=300, deadline=None)
@given(commands())
def test_golden_dma_fewest_bursts(case):
    config, cmd = case
    bursts = plan_bursts(cmd, config)
    beats = row_beats(cmd.row_bytes, config)
    if is_merged(cmd, config):
        expected = fewest_bursts(cmd.addr, cmd.rows * beats, config)
    else:
        expected = sum(
            fewest_bursts(cmd.addr + r * cmd.stride, beats, config) for r in range(cmd.rows)
        )
    assert len(bursts) == expected


@settings(max_examples=200, deadline=None)
@given(commands(merged=True))
def test_golden_dma_merged_rows_share_bursts(case):
    config, cmd = case
    bursts = plan_bursts(cmd, config)
    # A merged run is one contiguous read: each burst starts where the previous one ended.
    for before, after in zip(bursts, bursts[1:], strict=False):
        assert after.addr == before.addr + (before.len + 1) * config.beat_bytes


@settings(max_examples=200, deadline=None)
@given(commands())
def test_golden_dma_beat_addresses(case):
    config, cmd = case
    from_bursts = [
        b.addr + i * config.beat_bytes for b in plan_bursts(cmd, config) for i in range(b.len + 1)
    ]
    assert list(beat_addresses(cmd, config)) == from_bursts


def test_golden_dma_examples():
    cfg = FrontendConfig(data_width=128, max_burst=64)
    # Four 64-byte rows, 64 bytes apart: one run of 16 beats.
    (burst,) = plan_bursts(ReadCommand(0x1000, 4, 64, 64), cfg)
    assert (burst.addr, burst.len, burst.row, burst.rows, burst.last) == (0x1000, 15, 0, 4, True)
    # The same rows 128 bytes apart: four bursts of 4 beats.
    bursts = plan_bursts(ReadCommand(0x1000, 4, 64, 128), cfg)
    assert [(b.addr, b.len, b.beat) for b in bursts] == [
        (0x1000, 3, 0),
        (0x1080, 3, 4),
        (0x1100, 3, 8),
        (0x1180, 3, 12),
    ]
    # 2 KiB starting 256 bytes below a boundary: 16 beats, then 64 + 48 beats.
    bursts = plan_bursts(ReadCommand(0x1F00, 1, 2048, 2048), cfg)
    assert [(b.addr, b.len) for b in bursts] == [(0x1F00, 15), (0x2000, 63), (0x2400, 47)]
    # A 20-byte row is two beats; stride 32 merges.
    assert is_merged(ReadCommand(0, 3, 20, 32), cfg)
    assert beat_map(ReadCommand(0, 2, 20, 48), cfg) == ((0, 0), (0, 16), (1, 0), (1, 16))


@pytest.mark.parametrize(
    ("cmd", "parameter", "text"),
    [
        (ReadCommand(8, 1, 16, 16), "addr", "multiple of 16 bytes"),
        (ReadCommand(-16, 1, 16, 16), "addr", "between 0 and"),
        (ReadCommand(0, 0, 16, 16), "rows", f"between 1 and {MAX_ROWS}"),
        (ReadCommand(0, MAX_ROWS + 1, 16, 16), "rows", f"between 1 and {MAX_ROWS}"),
        (ReadCommand(0, 1, 0, 16), "row_bytes", f"between 1 and {MAX_ROW_BYTES}"),
        (ReadCommand(0, 2, 32, 16), "stride", "between 32 and"),
        (ReadCommand(0, 2, 16, 24), "stride", "multiple of 16 bytes"),
        (ReadCommand(0xFFFF_FF00, 2, 16, 0x100), "addr", "passes 2^32"),
        (ReadCommand(0xFFFF_FFF0, 1, 17, 32), "addr", "passes 2^32"),
    ],
)
def test_golden_dma_rejects_bad_commands(cmd, parameter, text):
    cfg = FrontendConfig(data_width=128)
    with pytest.raises(UsageValueError, match=re.escape(text)) as info:
        plan_bursts(cmd, cfg)
    assert info.value.parameter == parameter
    assert str(info.value).startswith(parameter)


def test_golden_dma_rejects_bad_types():
    cfg = FrontendConfig()
    with pytest.raises(UsageTypeError, match="rows must be an integer"):
        check_command(ReadCommand(0, 1.0, 16, 16), cfg)
    with pytest.raises(UsageTypeError, match="cmd must be a ReadCommand"):
        check_command((0, 1, 16, 16), cfg)
    with pytest.raises(UsageTypeError, match="config must be a FrontendConfig"):
        plan_bursts(ReadCommand(0, 1, 16, 16), None)


def test_golden_dma_largest_command_fits():
    cfg = FrontendConfig(data_width=64, addr_width=32, max_burst=256)
    # The last beat may end exactly at 2^32.
    cmd = ReadCommand(0xFFFF_FFF8, 1, 8, 8)
    assert [(b.addr, b.len) for b in plan_bursts(cmd, cfg)] == [(0xFFFF_FFF8, 0)]
