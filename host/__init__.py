"""Software side of the systolix accelerator: :mod:`host.driver` runs a GEMM through the
register window, from a board (``/dev/mem``, UIO, a LiteX bridge) or a cocotb testbench
(docs/host.md)."""

from host.driver import (
    DEFAULT_POLL_LIMIT,
    PERF_NAMES,
    AsyncDriver,
    DeviceError,
    GemmError,
    GemmTimeout,
    HwInfo,
    Idle,
    JobResult,
    Read,
    SyncDriver,
    Write,
)

__all__ = [
    "DEFAULT_POLL_LIMIT",
    "PERF_NAMES",
    "AsyncDriver",
    "DeviceError",
    "GemmError",
    "GemmTimeout",
    "HwInfo",
    "Idle",
    "JobResult",
    "Read",
    "SyncDriver",
    "Write",
]
