"""Control of the accelerator: the register map (``regs``), the AXI4-Lite CSR block (``csr``)
and the descriptor check (``desc_check``)."""

from hdl.ctrl.csr import AxiLiteCsr
from hdl.ctrl.desc_check import DescriptorCheck
from hdl.ctrl.regs import REGS

__all__ = ["REGS", "AxiLiteCsr", "DescriptorCheck"]
