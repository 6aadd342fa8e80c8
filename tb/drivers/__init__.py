"""Reusable drivers for cocotb testbenches, bound to Amaranth's and the AXI port names.

:mod:`tb.drivers.stream` holds :class:`StreamSource`, :class:`StreamSink` and
:class:`StreamMonitor` (cocotb); :mod:`tb.drivers.pause` the picklable pause patterns, which
host-side code can import without cocotb; :mod:`tb.drivers.memory` the AXI4 slave memory
:class:`LatencyAxiRam` (cocotb); :mod:`tb.drivers.axi_checks` the AXI protocol and containment
checkers (plain Python) and their cocotb monitors.
"""

import importlib

# Names resolve lazily, so importing the pause patterns on the host does not load cocotb.
_EXPORTS = {
    "AxiCounts": "tb.drivers.memory",
    "AxiReadChecker": "tb.drivers.axi_checks",
    "AxiReadMonitor": "tb.drivers.axi_checks",
    "AxiWriteChecker": "tb.drivers.axi_checks",
    "AxiWriteMonitor": "tb.drivers.axi_checks",
    "BurstPause": "tb.drivers.pause",
    "ContainmentMonitor": "tb.drivers.axi_checks",
    "Fault": "tb.drivers.memory",
    "LatencyAxiRam": "tb.drivers.memory",
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
