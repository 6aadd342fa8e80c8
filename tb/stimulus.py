"""GEMM jobs with deterministic backpressure: pause patterns per stream and the strictest
legal result consumer, on top of :class:`tb.runtime.GemmJob`'s random stall probabilities.

Host-side (no cocotb): tests build these jobs and :func:`tb.runtime.run_gemm_batch` hands them
to the testbench, which reads the extra keys with :func:`tb.array_driver.job_stream_options`.
"""

from dataclasses import dataclass

from hdl.cycles import top_latency
from tb.drivers.pause import BurstPause, CyclicPause, PausePattern
from tb.runtime import GemmJob


@dataclass
class PacedJob(GemmJob):
    """A :class:`~tb.runtime.GemmJob` whose streams follow pause patterns.

    Parameters
    ----------
    weight_pause, act_pause, result_pause : PausePattern or None
        Replace the stream's random stall probability when given (see
        :mod:`tb.drivers.pause`).
    ready_when_valid : bool
        The result consumer raises ``ready`` only in cycles where ``valid`` is high.
    """

    weight_pause: PausePattern | None = None
    act_pause: PausePattern | None = None
    result_pause: PausePattern | None = None
    ready_when_valid: bool = False

    def __post_init__(self):
        if hasattr(super(), "__post_init__"):
            super().__post_init__()
        for name in ("weight_pause", "act_pause", "result_pause"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, PausePattern):
                raise TypeError(f"{name} must be a PausePattern or None, got {value!r}")

    def as_dict(self):
        out = super().as_dict()
        out.update(
            weight_pause=self.weight_pause,
            act_pause=self.act_pause,
            result_pause=self.result_pause,
            ready_when_valid=bool(self.ready_when_valid),
        )
        return out


def stall_length(config):
    """Cycles of a long result stall: ``3·(R+C)``, and at least twice the result FIFO's depth,
    so every row in flight lands in the FIFO and the credits run out whatever the shape."""
    return max(3 * (config.rows + config.cols), 2 * config.result_fifo_depth)


def long_result_stalls(config, *, start=None):
    """Result ``ready`` held low for :func:`stall_length` cycles, once, from cycle ``start``
    (default: once the first results are out, ``R + latency + 4`` cycles into the job).

    An undersized result FIFO or a wrong credit count overflows under it.
    """
    if start is None:
        start = config.rows + top_latency(config) + 4
    return BurstPause(start=start, length=stall_length(config))


def periodic_result_stalls(config):
    """Result ``ready`` low for :func:`stall_length` cycles out of every ``length + C + 5``."""
    length = stall_length(config)
    return BurstPause(start=config.rows, length=length, period=length + config.cols + 5)


#: Two cycles of three paused: a fine-grained deterministic stall pattern.
TWO_OF_THREE = CyclicPause((True, True, False))
