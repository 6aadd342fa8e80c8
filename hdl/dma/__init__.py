"""DMA engines between the AXI4 master port and the accelerator's banks."""

from hdl.dma.read import (
    AxiReadDma,
    axi4_read_signature,
    read_beat_layout,
    read_cmd_layout,
    read_done_layout,
)
from hdl.dma.write import (
    AxiWriteDma,
    axi4_write_signature,
    write_cmd_layout,
    write_data_layout,
    write_done_layout,
)

__all__ = [
    "AxiReadDma",
    "AxiWriteDma",
    "axi4_read_signature",
    "axi4_write_signature",
    "read_beat_layout",
    "read_cmd_layout",
    "read_done_layout",
    "write_cmd_layout",
    "write_data_layout",
    "write_done_layout",
]
