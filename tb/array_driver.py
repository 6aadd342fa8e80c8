"""The testbench class shared by the array tops: feeds weights and activations through
:class:`~tb.drivers.StreamSource` drivers, takes results with a :class:`~tb.drivers.StreamSink`
(watched by a :class:`~tb.drivers.StreamMonitor`), and checks every GEMM against golden.

The runtime (``tb.runtime``) writes the jobs to a pickle named by ``SYSTOLIX_JOBS`` and the
configuration to ``SYSTOLIX_CONFIG``; results go to ``SYSTOLIX_RESULTS``: per job the output
``c``, the measured ``cycles`` and the ``stats`` of every stream end (see
:func:`job_stream_options` for the stimulus keys a job may carry).
"""

import os
import pickle
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, select
from cocotb.utils import get_sim_steps

from golden import split_folds
from hdl.array.layouts import act_row_layout, result_row_layout, weight_row_layout
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for
from tb.drivers.pause import as_pattern
from tb.drivers.stream import StreamMonitor, StreamSink, StreamSource
from tb.numerics import numerics_for
from tb.payload import PayloadCodec

#: Clock period of the testbenches (the cycle counts do not depend on it).
CLOCK_NS = 10

#: The streams of the array tops, in the order the stats are reported.
STREAMS = ("weights", "acts", "results")


def job_stream_options(job):
    """Pause patterns and sink mode of one job dict.

    A job names its backpressure per stream either as a probability (``weight_stall``,
    ``act_stall``, ``result_stall``: random pauses) or as a pattern (``weight_pause``,
    ``act_pause``, ``result_pause``: a :class:`~tb.drivers.pause.PausePattern`, which wins);
    ``ready_when_valid`` makes the result sink raise ``ready`` only while ``valid`` is high.

    Returns
    -------
    (dict of stream name → PausePattern, bool)
    """
    patterns = {}
    for stream, key in zip(STREAMS, ("weight", "act", "result"), strict=True):
        pattern = job.get(f"{key}_pause")
        patterns[stream] = as_pattern(pattern if pattern is not None else job[f"{key}_stall"])
    return patterns, bool(job.get("ready_when_valid", False))


def job_timeout(base_cycles, patterns):
    """Cycles a job may take before the testbench declares it hung: four times the no-stall
    count, stretched for the pause fractions, plus every one-off pause and a margin."""
    fraction = max(p.fraction for p in patterns)
    one_off = sum(p.one_off_cycles for p in patterns)
    return (base_cycles + one_off) * (4 + int(20 * fraction / (1 - fraction))) + 1000


class ArrayTB:
    """Owns the clock, reset, stream drivers and golden model of one SystolicArray instance.

    Members
    -------
    weights, acts : StreamSource
    results : StreamSink
    result_monitor : StreamMonitor
        Counts result beats and stalls independently of the sink and checks the array's side
        of the transfer rules.
    """

    top = "array"

    def __init__(self, dut, config, seed):
        self.dut = dut
        self.config = config
        self.rng = random.Random(seed)
        self.weight_codec = PayloadCodec(weight_row_layout(config), vector=None)
        self.act_codec = PayloadCodec(act_row_layout(config))
        self.result_codec = PayloadCodec(result_row_layout(config))
        self.numerics = numerics_for(config)
        self.clock_steps = get_sim_steps(CLOCK_NS, "ns")
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        self.weights = StreamSource(dut, "weights", dut.clk, reset=dut.rst)
        self.acts = StreamSource(dut, "acts", dut.clk, reset=dut.rst)
        self.results = StreamSink(dut, "results", dut.clk, reset=dut.rst)
        self.result_monitor = StreamMonitor(dut, "results", dut.clk, reset=dut.rst, keep=False)

    @property
    def drivers(self):
        """Stream ends by name, as reported in a job's ``stats``."""
        return {
            "weights": self.weights,
            "acts": self.acts,
            "results": self.results,
            "result_monitor": self.result_monitor,
        }

    async def reset(self, cycles=2):
        """Drop every queued beat and hold ``rst`` high for ``cycles`` cycles."""
        for driver in (self.weights, self.acts, self.results):
            driver.clear()
        self.dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0

    def _beats(self, job):
        m = job["a"].shape[0]
        folds = split_folds(job["a"], job["b"], self.config.rows, self.config.cols)
        weight_beats = [self.weight_codec.pack(row) for _, w, _ in folds for row in w]
        act_beats = [
            self.act_codec.pack(row, act_unsigned=job["act_unsigned"], last=i == m - 1)
            for _, _, x in folds
            for i, row in enumerate(x)
        ]
        return folds, weight_beats, act_beats

    async def run_job(self, job):
        """Drive one GEMM; return ``(result rows as ints, cycles, folds)``, or ``None`` if the
        job asked for a reset before it finished.

        ``cycles`` runs from the cycle the first weight beat transfers to the cycle the last
        result row transfers, inclusive (:func:`hdl.cycles.cycles_for`).
        """
        m, k = job["a"].shape
        n = job["b"].shape[1]
        folds, weight_beats, act_beats = self._beats(job)
        expected_rows = self.result_rows(job, folds)
        patterns, ready_when_valid = job_stream_options(job)
        timeout = job_timeout(cycles_for(self.config, (m, k, n), self.top), patterns.values())

        for name, driver in self.drivers.items():
            driver.stats.clear()
            if name in patterns:
                driver.set_pause_generator(patterns[name].generator(self.rng))
        self.results.ready_when_valid = ready_when_valid
        for beat in weight_beats:
            self.weights.send_nowait(beat)
        for beat in act_beats:
            self.acts.send_nowait(beat)

        reset_after = job["reset_after"]
        limit = timeout if reset_after is None else min(reset_after, timeout)
        winner, _ = await select(
            self.results.wait_for(expected_rows), ClockCycles(self.dut.clk, limit)
        )
        if winner != 0:
            if reset_after is not None:
                await self.reset()
                return None
            raise AssertionError(
                f"timeout after {limit} cycles: {self.weights.stats.beats}/{len(weight_beats)} "
                f"weight beats, {self.acts.stats.beats}/{len(act_beats)} activation rows, "
                f"{self.results.count()}/{expected_rows} result rows"
            )
        rows = [self.results.recv_nowait() for _ in range(expected_rows)]
        first = self.weights.stats.first_beat_time
        last = self.results.stats.last_beat_time
        return rows, (last - first) // self.clock_steps + 1, folds

    def stats(self):
        """Counters of every stream end for the job just run (plain dicts)."""
        return {name: driver.stats.as_dict() for name, driver in self.drivers.items()}

    def result_rows(self, job, folds):
        """Result rows the design delivers for a job: one per activation row of every fold."""
        return job["a"].shape[0] * len(folds)

    def assemble(self, job, rows, folds):
        """Per-fold partial sums → the GEMM's output, via the MAC kind's numerics."""
        m = job["a"].shape[0]
        n = job["b"].shape[1]
        partials = []
        for f in range(len(folds)):
            block = []
            for i in range(m):
                values, flags = self.result_codec.unpack(rows[f * m + i])
                if flags["last"] != (i == m - 1):
                    raise AssertionError(
                        f"fold {f} row {i}: result last={flags['last']}, expected {int(i == m - 1)}"
                    )
                block.append(values)
            partials.append(block)
        return self.numerics.combine([fold for fold, _, _ in folds], partials, m, n)


def check_job(numerics, job, c, *, index, seed):
    """The failure message of one finished job, or ``None`` when ``c`` equals golden.

    Parameters
    ----------
    numerics : Int8Numerics or Fp8Numerics
    job : dict
        With ``a``, ``b`` and ``act_unsigned``.
    c : array
        The output the hardware produced.
    index, seed : int
        Named in the message, so the failing job can be rerun.
    """
    want = numerics.expected(job["a"], job["b"], job["act_unsigned"])
    bad = numerics.mismatch(c, want)
    if bad is None:
        return None
    (m, k), n = job["a"].shape, job["b"].shape[1]
    return f"mismatch in job {index} (M={m} K={k} N={n}, seed {seed}) at {bad}"


async def run_job_batch(dut, tb_class):
    """Run every job of ``SYSTOLIX_JOBS``; fail on the first result that differs from golden
    and on any transfer-rule violation seen on the result stream."""
    config = ArrayConfig.from_json(os.environ["SYSTOLIX_CONFIG"])
    with open(os.environ["SYSTOLIX_JOBS"], "rb") as f:
        jobs = pickle.load(f)
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", "0"))
    tb = tb_class(dut, config, seed)
    await tb.reset()
    outputs = []
    failure = None
    for index, job in enumerate(jobs):
        ran = await tb.run_job(job)
        if ran is None:
            outputs.append(None)
            continue
        rows, cycles, folds = ran
        c = tb.assemble(job, rows, folds)
        outputs.append({"c": c, "cycles": cycles, "stats": tb.stats()})
        if job["check"] and failure is None:
            failure = check_job(tb.numerics, job, c, index=index, seed=seed)
            if failure is not None:
                dut._log.error(failure)
    with open(os.environ["SYSTOLIX_RESULTS"], "wb") as f:
        pickle.dump(outputs, f)
    assert failure is None, failure
    assert not tb.result_monitor.violations, "\n".join(tb.result_monitor.violations)
