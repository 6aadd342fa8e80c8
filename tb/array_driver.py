"""Stream drivers shared by the array testbenches: drive weights and activations cycle by
cycle (with optional random stalls and resets), collect result rows, check against golden.

The runtime (``tb.runtime``) writes the jobs to a pickle named by ``SYSTOLIX_JOBS`` and the
configuration to ``SYSTOLIX_CONFIG``; results go to ``SYSTOLIX_RESULTS``.
"""

import os
import pickle
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from golden import split_folds
from hdl.array.layouts import act_row_layout, result_row_layout, weight_row_layout
from hdl.config import ArrayConfig
from hdl.cycles import cycles_for
from tb.numerics import numerics_for
from tb.payload import PayloadCodec


def first_mismatch(got, want):
    """``(row, col, got, want)`` of the first differing element, or ``None``."""
    diff = np.argwhere(np.asarray(got) != np.asarray(want))
    if diff.size == 0:
        return None
    i, j = (int(x) for x in diff[0])
    return i, j, int(got[i, j]), int(want[i, j])


class ArrayTB:
    """Owns the clock, reset and stream drivers of one SystolicArray instance."""

    top = "array"

    def __init__(self, dut, config, seed):
        self.dut = dut
        self.config = config
        self.rng = random.Random(seed)
        self.weights = PayloadCodec(weight_row_layout(config), vector=None)
        self.acts = PayloadCodec(act_row_layout(config))
        self.results = PayloadCodec(result_row_layout(config))
        self.numerics = numerics_for(config)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self, cycles=2):
        dut = self.dut
        dut.weights__valid.value = 0
        dut.acts__valid.value = 0
        dut.results__ready.value = 0
        dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(dut.clk)
        dut.rst.value = 0

    def _beats(self, job):
        cfg = self.config
        m = job["a"].shape[0]
        folds = split_folds(job["a"], job["b"], cfg.rows, cfg.cols)
        weight_beats = [self.weights.pack(row) for _, w, _ in folds for row in w]
        act_beats = [
            self.acts.pack(row, act_unsigned=job["act_unsigned"], last=i == m - 1)
            for _, _, x in folds
            for i, row in enumerate(x)
        ]
        return folds, weight_beats, act_beats

    async def run_job(self, job):
        """Drive one GEMM; return ``(result rows as ints, cycles)``, or ``None`` if reset."""
        dut, rng = self.dut, self.rng
        cfg = self.config
        m, k = job["a"].shape
        n = job["b"].shape[1]
        folds, weight_beats, act_beats = self._beats(job)
        p_w, p_a, p_r = job["weight_stall"], job["act_stall"], job["result_stall"]
        stalled = max(p_w, p_a, p_r)
        timeout = (
            cycles_for(cfg, (m, k, n), self.top) * (4 + int(20 * stalled / (1 - stalled))) + 1000
        )
        reset_after = job["reset_after"]

        w_i = a_i = 0
        w_valid = a_valid = False
        rows = []
        cycle = 0
        first_fire = last_fire = None
        expected_rows = self.result_rows(job, folds)
        while len(rows) < expected_rows:
            if not w_valid and w_i < len(weight_beats) and rng.random() >= p_w:
                w_valid = True
                dut.weights__payload.value = weight_beats[w_i]
            if not a_valid and a_i < len(act_beats) and rng.random() >= p_a:
                a_valid = True
                dut.acts__payload.value = act_beats[a_i]
            r_ready = p_r == 0 or rng.random() >= p_r
            dut.weights__valid.value = w_valid
            dut.acts__valid.value = a_valid
            dut.results__ready.value = r_ready

            await ReadOnly()
            w_fire = w_valid and bool(dut.weights__ready.value)
            a_fire = a_valid and bool(dut.acts__ready.value)
            r_fire = r_ready and bool(dut.results__valid.value)
            if r_fire:
                rows.append(dut.results__payload.value.to_unsigned())
            await RisingEdge(dut.clk)

            if w_fire:
                w_i += 1
                w_valid = False
                if first_fire is None:
                    first_fire = cycle
            if a_fire:
                a_i += 1
                a_valid = False
            if r_fire:
                last_fire = cycle
            cycle += 1
            if reset_after is not None and cycle >= reset_after:
                await self.reset()
                return None
            if cycle > timeout:
                raise AssertionError(
                    f"timeout after {cycle} cycles: {w_i}/{len(weight_beats)} weight beats, "
                    f"{a_i}/{len(act_beats)} activation rows, {len(rows)} result rows"
                )
        dut.weights__valid.value = 0
        dut.acts__valid.value = 0
        return rows, last_fire - first_fire + 1, folds

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
                values, flags = self.results.unpack(rows[f * m + i])
                if flags["last"] != (i == m - 1):
                    raise AssertionError(
                        f"fold {f} row {i}: result last={flags['last']}, expected {int(i == m - 1)}"
                    )
                block.append(values)
            partials.append(block)
        return self.numerics.combine([fold for fold, _, _ in folds], partials, m, n)


async def run_job_batch(dut, tb_class):
    """Run every job of ``SYSTOLIX_JOBS``; fail on the first result that differs from golden."""
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
        outputs.append({"c": c, "cycles": cycles})
        if job["check"] and failure is None:
            numerics = tb.numerics
            want = numerics.expected(job["a"], job["b"], job["act_unsigned"])
            bad = first_mismatch(numerics.comparable(c), numerics.comparable(want))
            if bad is not None:
                i, j, got_v, want_v = bad
                m, k = job["a"].shape
                failure = (
                    f"mismatch in job {index} (M={m} K={k} N={job['b'].shape[1]}, seed {seed}) "
                    f"at C[{i}][{j}]: hardware {got_v:#x}, golden {want_v:#x}"
                    if config.is_fp8
                    else f"at C[{i}][{j}]: hardware {got_v}, golden {want_v}"
                )
                dut._log.error(failure)
    with open(os.environ["SYSTOLIX_RESULTS"], "wb") as f:
        pickle.dump(outputs, f)
    assert failure is None, failure
