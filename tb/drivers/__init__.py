"""Reusable stream drivers for cocotb testbenches, bound to Amaranth's port names.

:mod:`tb.drivers.stream` holds :class:`StreamSource`, :class:`StreamSink` and
:class:`StreamMonitor` (cocotb); :mod:`tb.drivers.pause` the picklable pause patterns, which
host-side code can import without cocotb.
"""

import importlib

# Names resolve lazily, so importing the pause patterns on the host does not load cocotb.
_EXPORTS = {
    "BurstPause": "tb.drivers.pause",
    "CyclicPause": "tb.drivers.pause",
    "NoPause": "tb.drivers.pause",
    "PausePattern": "tb.drivers.pause",
    "RandomPause": "tb.drivers.pause",
    "StreamMonitor": "tb.drivers.stream",
    "StreamSink": "tb.drivers.stream",
    "StreamSource": "tb.drivers.stream",
    "StreamStats": "tb.drivers.stream",
    "as_pattern": "tb.drivers.pause",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tb.drivers' has no attribute {name!r}")
