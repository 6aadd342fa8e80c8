"""Exact cycle counts of the generated tops: the one place the CLI, the bench, the
testbenches and the tests get them from.

The fold schedule is the golden cycle model's (:func:`golden.perf.stream_cycles`); the
pipeline latency comes from the hardware components themselves (their ``latency``), so a
change to a pipeline moves the model with it.
"""

from golden.perf import GemmShape, stream_cycles

#: Tops with an exact no-stall cycle model: the bare array and the array with its accumulator.
TOPS = ("array", "gemm")


def top_latency(config, top="array"):
    """Cycles from an accepted activation row to its result at the output of ``top``."""
    # The functions behind the components' ``latency`` properties: no component is built.
    from hdl.array.array import array_latency
    from hdl.array.gemm import gemm_latency

    if top == "array":
        return array_latency(config)
    if top == "gemm":
        return gemm_latency(config)
    raise ValueError(f"top must be one of {', '.join(TOPS)}, got {top!r}")


def cycles_for(config, shape, top="array"):
    """Exact cycles of one GEMM on ``top`` for ``config`` with no stalls on any stream.

    Counted from the first weight beat accepted to the last result row accepted, inclusive.

    Parameters
    ----------
    config : ArrayConfig
    shape : GemmShape or (m, k, n)
    top : str
        ``"array"`` (:class:`~hdl.array.SystolicArray`) or ``"gemm"``
        (:class:`~hdl.array.SystolicGemm`).
    """
    if not isinstance(shape, GemmShape):
        shape = GemmShape(*shape)
    latency = top_latency(config, top)
    return stream_cycles(config.rows, config.cols, shape.m, shape.k, shape.n, latency=latency)
