"""On-chip buffers of the front end."""

from hdl.mem.outbuf import (
    OutputBuffer,
    converted_row_layout,
    store_beat_layout,
    store_tile_layout,
)
from hdl.mem.scratchpad import PingPongBank, bank_write_layout

__all__ = [
    "OutputBuffer",
    "PingPongBank",
    "bank_write_layout",
    "converted_row_layout",
    "store_beat_layout",
    "store_tile_layout",
]
