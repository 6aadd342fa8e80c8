"""Text renderings of the register map (:mod:`hdl.ctrl.regs`): the C header that
``systolix generate --top accel`` writes beside the Verilog, and the Markdown table of
docs/registers.md (``python -m scripts.regs`` writes either to a file)."""

from golden.descriptor import CHECK_ORDER, ERROR_DESCRIPTIONS, ErrorCode
from hdl.ctrl.regs import MAC_KIND_CODES, OPCODE_GEMM, REGS, Access, ErrSource

#: Prefix of every C macro.
PREFIX = "SYSTOLIX"


def _hex(value, digits=8):
    return f"0x{value:0{digits}X}u"


def c_header():
    """The C header ``systolix_regs.h``: register offsets, field shifts and masks, reset
    values, error codes, error sources, MAC kinds and opcodes, as ``unsigned`` macros.

    Raises
    ------
    RuntimeError
        If two macros would share a name.
    """
    macros = []  # (name, value, comment)
    for reg in REGS:
        macros.append((f"{PREFIX}_REG_{reg.name}", f"0x{reg.offset:03X}u", reg.description))
        if reg.reset is not None:
            macros.append((f"{PREFIX}_{reg.name}_RESET", _hex(reg.reset), None))
        for f in reg.fields:
            if f.width == 32:
                continue  # a whole-word field: no shift or mask needed
            base = f"{PREFIX}_{reg.name}_{f.name}"
            macros.append((f"{base}_SHIFT", f"{f.shift}u", f"{f.bits} {f.description}"))
            macros.append((f"{base}_MASK", _hex(f.mask), None))
    for code in ErrorCode:
        macros.append(
            (f"{PREFIX}_ERROR_{code.name}", f"0x{int(code):02X}u", ERROR_DESCRIPTIONS[code])
        )
    for source in ErrSource:
        macros.append((f"{PREFIX}_ERROR_SOURCE_{source.name}", f"{int(source)}u", None))
    for mac, code in MAC_KIND_CODES.items():
        macros.append((f"{PREFIX}_MAC_KIND_{mac.upper()}", f"{code}u", None))
    macros.append((f"{PREFIX}_OPCODE_GEMM", f"{OPCODE_GEMM}u", None))

    names = [name for name, *_ in macros]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RuntimeError(f"C macros defined twice: {', '.join(repeated)}")
    width = max(len(name) for name in names) + 1
    guard = f"{PREFIX}_REGS_H"
    lines = [
        "/* systolix register map: offsets in the AXI4-Lite window, field shifts and masks,",
        " * error codes. Generated from hdl/ctrl/regs.py by `python -m scripts.regs header`;",
        " * do not edit. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
    ]
    for name, value, comment in macros:
        if comment is not None:
            lines.append(f"/* {comment.replace('*/', '* /')} */")
        lines.append(f"#define {name:<{width}}{value}")
    lines += ["", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def _cell(text):
    return str(text).replace("|", "\\|")


def _reset(reg):
    if reg.reset is None:
        return "config"
    return f"0x{reg.reset:08X}"


def _fields(reg):
    parts = []
    for f in reg.fields:
        access = f" ({f.access.value})" if f.access != reg.access else ""
        if f.width == 32:
            parts.append(f"{f.description}{access}")
        else:
            parts.append(f"{f.bits} {f.name}: {f.description}{access}")
    return "<br>".join(_cell(p) for p in parts)


def markdown():
    """``docs/registers.md``: the register table, error codes (with the descriptor check's
    priority), error sources, MAC kinds and opcodes."""
    lines = [
        "# systolix register map",
        "",
        "Generated from `hdl/ctrl/regs.py` by `python -m scripts.regs markdown "
        "docs/registers.md`; do not edit (a test checks that it is up to date). The C header "
        "comes from the same table: `python -m scripts.regs header systolix_regs.h`.",
        "",
        "32-bit registers in a 4 KiB AXI4-Lite window (`s_axil_*`). Every response is OKAY; "
        "reserved addresses and bits outside a register's fields read 0 and ignore writes; "
        "WSTRB applies byte by byte. START latches the descriptor registers (M to MEM_LIMIT, "
        "and CTRL.OPCODE from the same write) into a shadow copy, so the next descriptor may be "
        "written while one runs. `config`: set by the generator's configuration.",
        "",
        "Access: " + "; ".join(f"{a.value}: {_ACCESS_NOTES[a]}" for a in Access) + ".",
        "",
        "| offset | name | access | reset | fields |",
        "|---|---|---|---|---|",
    ]
    for reg in REGS:
        lines.append(
            f"| 0x{reg.offset:03X} | {reg.name} | {reg.access.value} | {_reset(reg)} | "
            f"{_fields(reg) or _cell(reg.description)} |"
        )
    lines += [
        "",
        "## Error codes",
        "",
        "ERR_INFO.CODE and STATUS.ERR_CODE. A descriptor is checked before any AXI traffic; "
        "when several checks fail, the one with the highest priority (1) gives the code.",
        "",
        "| code | name | priority | meaning |",
        "|---|---|---|---|",
    ]
    for code in ErrorCode:
        priority = CHECK_ORDER.index(code) + 1 if code in CHECK_ORDER else ""
        lines.append(
            f"| 0x{int(code):02X} | {code.name} | {priority} | {_cell(ERROR_DESCRIPTIONS[code])} |"
        )
    lines += ["", "## Error sources (ERR_INFO.SOURCE)", "", "| value | source |", "|---|---|"]
    lines += [f"| {int(s)} | {s.name} |" for s in ErrSource]
    lines += ["", "## MAC kinds (HWCFG0.MAC_KIND)", "", "| value | kind |", "|---|---|"]
    lines += [f"| {code} | {mac} |" for mac, code in MAC_KIND_CODES.items()]
    lines += [
        "",
        "## Opcodes (CTRL.OPCODE)",
        "",
        "| value | operation |",
        "|---|---|",
        f"| {OPCODE_GEMM} | GEMM; other values are reserved (DESC_OPCODE) |",
        "",
    ]
    return "\n".join(lines)


_ACCESS_NOTES = {
    Access.RO: "read only",
    Access.RW: "read and write",
    Access.RW1C: "write 1 to clear",
    Access.WO: "write 1 for a one-cycle action, reads 0",
}
