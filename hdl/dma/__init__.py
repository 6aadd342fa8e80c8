"""DMA engines between the AXI4 master port and the accelerator's banks."""

from hdl.dma.read import (
    AxiReadDma,
    axi4_read_signature,
    read_beat_layout,
    read_cmd_layout,
    read_done_layout,
)

__all__ = [
    "AxiReadDma",
    "axi4_read_signature",
    "read_beat_layout",
    "read_cmd_layout",
    "read_done_layout",
]
