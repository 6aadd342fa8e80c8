"""On-chip buffers of the front end."""

from hdl.mem.scratchpad import PingPongBank, bank_write_layout

__all__ = ["PingPongBank", "bank_write_layout"]
