"""The register map table: its contents against accelerator §2.3 (typed in here by hand), its
invariants, the descriptor layout and packing, the configuration words, the C header (compiled
and run with gcc) and the committed Markdown table."""

import random
import re
import shutil
import subprocess

import pytest

from golden.descriptor import FIELD_RANGES, Descriptor, ErrorCode
from golden.frontend import FrontendConfig
from hdl.config import ArrayConfig
from hdl.ctrl.regs import (
    REGS,
    Access,
    ErrSource,
    desc_layout,
    descriptor_from_registers,
    descriptor_registers,
    hwcfg_values,
)
from scripts import regs as writer

#: docs/accelerator.md §2.3: name → (offset, access, reset or None for "—").
FRONTEND_MAP = {
    "ID": (0x000, "RO", 0x5359_5358),
    "VERSION": (0x004, "RO", None),
    "HWCFG0": (0x008, "RO", None),
    "HWCFG1": (0x00C, "RO", None),
    "HWCFG2": (0x010, "RO", None),
    "HWCFG3": (0x014, "RO", None),
    "CTRL": (0x020, "RW", 0),
    "STATUS": (0x024, "RO", 0),
    "IRQ_STATUS": (0x028, "RW1C", 0),
    "ERR_INFO": (0x02C, "RO", 0),
    "ERR_ADDR_LO": (0x030, "RO", 0),
    "ERR_ADDR_HI": (0x034, "RO", 0),
    "M": (0x040, "RW", 0),
    "K": (0x044, "RW", 0),
    "N": (0x048, "RW", 0),
    "FLAGS": (0x04C, "RW", 0),
    "A_ADDR_LO": (0x050, "RW", 0),
    "A_ADDR_HI": (0x054, "RW", 0),
    "A_STRIDE": (0x058, "RW", 0),
    "B_ADDR_LO": (0x060, "RW", 0),
    "B_ADDR_HI": (0x064, "RW", 0),
    "B_STRIDE": (0x068, "RW", 0),
    "B_TILE_STRIDE": (0x06C, "RW", 0),
    "C_ADDR_LO": (0x070, "RW", 0),
    "C_ADDR_HI": (0x074, "RW", 0),
    "C_STRIDE": (0x078, "RW", 0),
    "QP_ADDR_LO": (0x080, "RW", 0),
    "QP_ADDR_HI": (0x084, "RW", 0),
    "Q_MULT": (0x090, "RW", 0),
    "Q_SHIFT": (0x094, "RW", 0),
    "Q_ZP": (0x098, "RW", 0),
    "Q_CLAMP": (0x09C, "RW", 0x0000_7F80),
    "MEM_BASE_LO": (0x0A0, "RW", 0),
    "MEM_BASE_HI": (0x0A4, "RW", 0),
    "MEM_LIMIT_LO": (0x0A8, "RW", 0xFFFF_FFFF),
    "MEM_LIMIT_HI": (0x0AC, "RW", 0xFFFF_FFFF),
    # The ATTENTION descriptor's own fields (docs/attention.md §6) and the unit's limits.
    "HWCFG4": (0x018, "RO", None),
    "HWCFG5": (0x01C, "RO", None),
    "HWCFG6": (0x038, "RO", None),
    "DV": (0x0B0, "RW", 0),
    "V_STRIDE": (0x0B4, "RW", 0),
    "SCALE_MULT": (0x0B8, "RW", 0),
    "SCALE_SHIFT": (0x0BC, "RW", 0),
    "ATT_MASK": (0x0C0, "RW", 0),
    "CAUSAL_OFFSET": (0x0C4, "RW", 0),
    "KEY_PAD": (0x0C8, "RW", 0),
}
for _i, _name in enumerate(
    ["CYCLES", "ARRAY_BUSY", "STALL_OPERAND", "STALL_OUTPUT", "RD_BYTES", "WR_BYTES", "MACS"]
):
    FRONTEND_MAP[f"PERF_{_name}_LO"] = (0x100 + 8 * _i, "RO", 0)
    FRONTEND_MAP[f"PERF_{_name}_HI"] = (0x104 + 8 * _i, "RO", 0)

#: docs/accelerator.md §2.3's fields: register → {field: (msb, lsb)}; OPCODE is this map's choice.
FRONTEND_FIELDS = {
    "VERSION": {"MAJOR": (31, 16), "MINOR": (15, 8), "PATCH": (7, 0)},
    "HWCFG0": {"ROWS": (7, 0), "COLS": (15, 8), "MAC_KIND": (19, 16), "LOG2_BUS_BYTES": (23, 20),
               "ACC_WIDTH": (30, 24)},
    "HWCFG1": {"TILE_M": (15, 0), "TILE_N": (31, 16)},
    "HWCFG2": {"TILE_K": (15, 0), "ADDR_WIDTH": (23, 16), "OUTSTANDING_READS": (31, 24)},
    "HWCFG3": {"MAX_DIM": (23, 0), "ALIGN_LOG2": (31, 24)},
    "CTRL": {"START": (0, 0), "ABORT": (1, 1), "OPCODE": (7, 4), "IRQ_DONE_EN": (8, 8),
             "IRQ_ERR_EN": (9, 9)},
    "STATUS": {"BUSY": (0, 0), "DONE": (1, 1), "ERROR": (2, 2), "ERR_CODE": (15, 8),
               "QUEUE_DEPTH": (19, 16)},
    "IRQ_STATUS": {"DONE": (0, 0), "ERROR": (1, 1)},
    "ERR_INFO": {"CODE": (7, 0), "SOURCE": (11, 8)},
    "FLAGS": {"ACT_UNSIGNED": (0, 0), "OUT_RAW": (1, 1), "PER_CHANNEL_Q": (2, 2),
              "BIAS_EN": (3, 3), "OUT_FP8": (4, 4)},
    "Q_SHIFT": {"SHIFT": (5, 0)},
    "Q_CLAMP": {"QMIN": (7, 0), "QMAX": (15, 8)},
    "HWCFG4": {"ATT_BLOCK_LQ": (15, 0), "ATT_BLOCK_LK": (31, 16)},
    "HWCFG5": {"ATT_MAX_D": (15, 0), "ATT_MAX_DV": (31, 16)},
    "HWCFG6": {"ATT_MAX_LK": (23, 0), "ATT_P_BITS": (31, 24)},
    "SCALE_SHIFT": {"SHIFT": (5, 0)},
    "ATT_MASK": {"CAUSAL": (0, 0)},
}  # fmt: skip


def test_regs_match_frontend_map():
    got = {reg.name: (reg.offset, reg.access.value, reg.reset) for reg in REGS}
    assert got == FRONTEND_MAP
    for name, fields in FRONTEND_FIELDS.items():
        assert {f.name: (f.msb, f.lsb) for f in REGS[name].fields} == fields, name
    assert REGS.CTRL.START.access == REGS.CTRL.ABORT.access == Access.WO
    assert {f.access for f in REGS.IRQ_STATUS.fields} == {Access.RW1C}


def test_regs_lookup_and_constants():
    assert REGS.CTRL.offset == 0x020
    assert (REGS.CTRL.START.mask, REGS.CTRL.START.shift) == (1, 0)
    assert (REGS.STATUS.ERR_CODE.mask, REGS.STATUS.ERR_CODE.shift) == (0xFF00, 8)
    assert REGS.at(0x9F) is REGS.Q_CLAMP and REGS.at(0x03C) is None
    assert "CTRL" in REGS and len(REGS) == len(FRONTEND_MAP)
    assert REGS.CTRL.storage_mask == 0x3F0  # OPCODE and the enables, not START/ABORT
    with pytest.raises(AttributeError, match="no register named 'CTLR'"):
        REGS.CTLR  # noqa: B018
    with pytest.raises(AttributeError, match="register 'CTRL' has no field 'STRAT'"):
        REGS.CTRL.STRAT  # noqa: B018


def test_regs_pack_and_unpack():
    assert REGS.Q_CLAMP.pack(QMIN=-128, QMAX=127) == 0x7F80
    assert REGS.CTRL.pack(START=1, OPCODE=3, IRQ_ERR_EN=1) == 0x231
    assert REGS.HWCFG0.unpack(0x1C40_1010) == {
        "ROWS": 16, "COLS": 16, "MAC_KIND": 0, "LOG2_BUS_BYTES": 4, "ACC_WIDTH": 28,
    }  # fmt: skip
    with pytest.raises(ValueError, match="Q_CLAMP.QMIN must be an integer between -128 and 127"):
        REGS.Q_CLAMP.pack(QMIN=128)
    with pytest.raises(ValueError, match="CTRL.OPCODE must be an integer between 0 and 15"):
        REGS.CTRL.pack(OPCODE=16)
    with pytest.raises(AttributeError, match="has no field 'NOPE'"):
        REGS.CTRL.pack(NOPE=1)


def test_regs_descriptor_layout_matches_golden():
    """The layout the CSR latches has the golden Descriptor's fields, as wide as their
    register ranges, in CTRL-first map order."""
    layout = desc_layout()
    names = [name for name, _ in layout]
    assert names == ["opcode", *[n for n in Descriptor.__dataclass_fields__ if n != "opcode"]]
    for name, f in layout:
        lo, hi = FIELD_RANGES[name]
        shape = f.shape
        assert (shape.signed, shape.width) == (lo < 0, (hi - lo).bit_length()), name


def test_regs_descriptor_register_round_trip(seed):
    rng = random.Random(seed)
    for _ in range(200):
        values = {name: rng.randint(lo, hi) for name, (lo, hi) in FIELD_RANGES.items()}
        desc = Descriptor(**values)
        words = {reg.name: word for reg, word in descriptor_registers(desc)}
        assert "CTRL" not in words and all(0 <= w < 1 << 32 for w in words.values())
        words["CTRL"] = REGS.CTRL.pack(OPCODE=desc.opcode)
        assert descriptor_from_registers(words) == desc
    words = dict.fromkeys((reg.name for reg in REGS), 0)
    words.update(Q_ZP=0xFFFF_FFFF, Q_CLAMP=0x7F80, A_ADDR_HI=1, FLAGS=0xFFFF_FFFF)
    desc = descriptor_from_registers(words)
    assert (desc.q_zp, desc.qmin, desc.qmax, desc.a_addr, desc.flags) == (
        -1,
        -128,
        127,
        1 << 32,
        31,
    )


def test_regs_hwcfg_values():
    cfg = ArrayConfig(rows=16, cols=8, mac="e4m3xe5m2", max_k=1000)
    fe = FrontendConfig(
        data_width=256, addr_width=64, outstanding_reads=32, tile_m=48, tile_n=96, tile_k=128
    )
    words = hwcfg_values(cfg, fe, max_dim=300)
    assert words["ID"] == 0x5359_5358
    assert words["HWCFG0"] == 16 | 8 << 8 | 3 << 16 | 5 << 20 | cfg.acc_width << 24
    assert words["HWCFG1"] == 48 | 96 << 16
    assert words["HWCFG2"] == 128 | 64 << 16 | 32 << 24
    assert words["HWCFG3"] == 300 | 5 << 24
    from hdl.generate import GENERATOR_VERSION

    major, minor, patch = map(int, GENERATOR_VERSION.split("."))
    assert words["VERSION"] == major << 16 | minor << 8 | patch
    with pytest.raises(ValueError, match="max_dim must be between 1 and 16777215"):
        hwcfg_values(cfg, fe, max_dim=1 << 24)
    wide = ArrayConfig(rows=2, cols=2, mac="e5m2", acc_width=128)
    with pytest.raises(ValueError, match="HWCFG0.ACC_WIDTH must be an integer between 0 and 127"):
        hwcfg_values(wide, fe)


C_PROGRAM = r"""
#include <stdio.h>
#include "systolix_regs.h"
#include "systolix_regs.h" /* the include guard makes a second inclusion harmless */

int main(void) {
    unsigned hwcfg0 = 0x1C401010u;
    printf("REG_CTRL %u\n", SYSTOLIX_REG_CTRL);
    printf("REG_PERF_MACS_HI %u\n", SYSTOLIX_REG_PERF_MACS_HI);
    printf("START %u\n", SYSTOLIX_CTRL_START_MASK);
    printf("ERR_CODE_MASK %u\n", SYSTOLIX_STATUS_ERR_CODE_MASK);
    printf("COLS %u\n", (hwcfg0 & SYSTOLIX_HWCFG0_COLS_MASK) >> SYSTOLIX_HWCFG0_COLS_SHIFT);
    printf("ACC_WIDTH %u\n",
           (hwcfg0 & SYSTOLIX_HWCFG0_ACC_WIDTH_MASK) >> SYSTOLIX_HWCFG0_ACC_WIDTH_SHIFT);
    printf("ERR_BUSY %u\n", SYSTOLIX_ERROR_BUSY);
    printf("ERR_AXI_WR_DECERR %u\n", SYSTOLIX_ERROR_AXI_WR_DECERR);
    printf("SOURCE_WRITE_C %u\n", SYSTOLIX_ERROR_SOURCE_WRITE_C);
    printf("CLAMP_RESET %u\n", SYSTOLIX_Q_CLAMP_RESET);
    printf("MAC_E5M2 %u\n", SYSTOLIX_MAC_KIND_E5M2);
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_regs_c_header_compiles(tmp_path):
    """The header compiles warning-free as strict C99 and its macros have the table's values;
    every register has an offset macro."""
    header = writer.c_header()
    (tmp_path / "systolix_regs.h").write_text(header)
    (tmp_path / "main.c").write_text(C_PROGRAM)
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    subprocess.run(["gcc", *flags, "-o", "main", "main.c"], cwd=tmp_path, check=True)
    out = subprocess.run([tmp_path / "main"], capture_output=True, text=True, check=True).stdout
    got = dict(line.split() for line in out.splitlines())
    assert {k: int(v) for k, v in got.items()} == {
        "REG_CTRL": 0x020,
        "REG_PERF_MACS_HI": 0x134,
        "START": 1,
        "ERR_CODE_MASK": 0xFF00,
        "COLS": 16,
        "ACC_WIDTH": 28,
        "ERR_BUSY": 7,
        "ERR_AXI_WR_DECERR": 0x13,
        "SOURCE_WRITE_C": 4,
        "CLAMP_RESET": 0x7F80,
        "MAC_E5M2": 2,
    }
    offsets = dict(re.findall(r"#define SYSTOLIX_REG_(\w+)\s+0x([0-9A-F]+)u", header))
    assert {name: int(v, 16) for name, v in offsets.items()} == {
        reg.name: reg.offset for reg in REGS
    }
    codes = dict(re.findall(r"#define SYSTOLIX_ERROR_(\w+)\s+0x([0-9A-F]+)u", header))
    assert {name: int(v, 16) for name, v in codes.items()} == {c.name: int(c) for c in ErrorCode}
    assert len(re.findall(r"SYSTOLIX_ERROR_SOURCE_\w+", header)) == len(ErrSource)


def test_regs_markdown_up_to_date():
    """docs/registers.md is what the table generates (regenerate: python -m scripts.regs
    markdown docs/registers.md)."""
    assert writer.DOC_PATH.read_text() == writer.markdown()
    assert writer.main(["markdown", str(writer.DOC_PATH), "--check"]) == 0


def test_regs_writer_command(tmp_path, capsys):
    out = tmp_path / "inc" / "systolix_regs.h"
    assert writer.main(["header", str(out)]) == 0
    assert out.read_text() == writer.c_header()
    stale = tmp_path / "registers.md"
    stale.write_text("old\n")
    assert writer.main(["markdown", str(stale), "--check"]) == 1
    assert "is not up to date" in capsys.readouterr().err
    assert stale.read_text() == "old\n"
