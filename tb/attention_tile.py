"""cocotb testbench of :class:`~hdl.attention.tile.AttentionTile`: drives the parameter, Q, K
and V streams from the jobs that ``tb.attention_runtime`` pickles, collects the O rows and
measures each tile's cycles; the host compares the outputs with the golden model."""

import json
import os
import pickle
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge, select
from cocotb.utils import get_sim_steps

from golden.formats import int8_acc_width
from hdl.attention.layouts import out_beat_layout
from hdl.attention.tile import operand_layout, params_layout
from tb.drivers.pause import as_pattern
from tb.drivers.stream import StreamSink, StreamSource
from tb.payload import PayloadCodec

CLOCK_NS = 10


def row_beats(matrix, lanes):
    """Rows of ``matrix`` as beats of ``lanes`` values, the last beat of a row zero-padded."""
    beats = []
    for row in np.asarray(matrix):
        for j0 in range(0, len(row), lanes):
            part = [int(x) for x in row[j0 : j0 + lanes]]
            beats.append(part + [0] * (lanes - len(part)))
    return beats


@cocotb.test()
async def run_jobs(dut):
    tile = json.loads(os.environ["SYSTOLIX_TILE"])
    with open(os.environ["SYSTOLIX_JOBS"], "rb") as f:
        jobs = pickle.load(f)
    rows, cols = tile["rows"], tile["cols"]
    layout = params_layout(
        max_lq=tile["max_lq"],
        max_lk=tile["max_lk"],
        max_d=tile["max_d"],
        max_dv=tile["max_dv"],
        max_lk_total=tile["max_lk_total"],
    )
    score_mask = (1 << int8_acc_width(tile["max_d"])) - 1
    chunk = PayloadCodec(operand_layout(rows), vector=None)
    vbeat = PayloadCodec(operand_layout(cols), vector=None)
    out = PayloadCodec(out_beat_layout(cols=cols))
    rng = random.Random(cocotb.RANDOM_SEED)
    steps = get_sim_steps(CLOCK_NS, "ns")

    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    sources = {
        name: StreamSource(dut, name, dut.clk, dut.rst)
        for name in ("params", "q", "k", "v", "row_max")
    }
    sink = StreamSink(dut, "o", dut.clk, dut.rst)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0

    results = []
    for n, job in enumerate(jobs):
        p = job["params"]
        stall = job.get("stall", 0)
        for driver in (*sources.values(), sink):
            driver.stats.clear()
            driver.set_pause_generator(as_pattern(stall).generator(rng) if stall else None)
        p = {"first_block": 0, "last_block": 0, **p}
        sources["params"].send_nowait(layout.const(p).as_bits())
        for value in job.get("row_max", ()):
            sources["row_max"].send_nowait(int(value) & score_mask)
        for beat in row_beats(job["q"], rows):
            sources["q"].send_nowait(chunk.pack(beat))
        for beat in row_beats(job["k"], rows):
            sources["k"].send_nowait(chunk.pack(beat))
        for beat in row_beats(job["v"], cols):
            sources["v"].send_nowait(vbeat.pack(beat))
        if p["mode"] and not p["last_block"]:
            # A key block before the last: no output; it ends when the tile is idle again.
            await sources["params"].wait()
            cycles = 0
            while True:
                await RisingEdge(dut.clk)
                cycles += 1
                if not dut.busy.value:
                    break
                if cycles > 50 * (p["lq"] + p["lk"]) * (p["d"] + p["dv"]) + 20000:
                    raise AssertionError(f"job {n}: the tile never went idle")
            first = sources["params"].stats.first_beat_time
            results.append({"o": None, "cycles": (get_sim_time() - first) // steps})
            continue
        nv = -(-p["dv"] // cols)
        count = p["lq"] * nv
        limit = 50 * (p["lq"] + p["lk"]) * (p["d"] + p["dv"]) + 20000
        winner, _ = await select(sink.wait_for(count), ClockCycles(dut.clk, limit))
        if winner != 0:
            raise AssertionError(
                f"job {n}: {sink.count()} of {count} output beats in {limit} cycles"
            )
        o = np.zeros((p["lq"], p["dv"]), np.int64)
        for i in range(p["lq"]):
            for b in range(nv):
                values, flags = out.unpack(sink.recv_nowait())
                if flags["last"] != (b == nv - 1):
                    raise AssertionError(f"job {n} row {i} beat {b}: last={flags['last']}")
                width = min(cols, p["dv"] - b * cols)
                o[i, b * cols : b * cols + width] = values[:width]
        first = sources["params"].stats.first_beat_time
        last = sink.stats.last_beat_time
        results.append({"o": o, "cycles": (last - first) // steps + 1})
        await RisingEdge(dut.clk)
    with open(os.environ["SYSTOLIX_RESULTS"], "wb") as f:
        pickle.dump(results, f)
