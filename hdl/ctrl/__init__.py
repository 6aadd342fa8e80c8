"""Control of the accelerator: the register map (``regs``), the AXI4-Lite CSR block (``csr``),
the descriptor check (``desc_check``) and the tile-loop controller (``controller``)."""

import importlib

# Resolved on first use, so that host software can import the register map without Amaranth.
_EXPORTS = {
    "REGS": "hdl.ctrl.regs",
    "AxiLiteCsr": "hdl.ctrl.csr",
    "DescriptorCheck": "hdl.ctrl.desc_check",
    "GemmController": "hdl.ctrl.controller",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hdl.ctrl' has no attribute {name!r}")
