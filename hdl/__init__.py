"""Amaranth generators of systolix hardware."""

from hdl.config import MAC_KINDS, ArrayConfig

__all__ = ["MAC_KINDS", "ArrayConfig"]
