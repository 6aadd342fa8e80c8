"""SystolicArray in Amaranth's simulator: the documented handshake timing, cycle by cycle."""

from amaranth.sim import Simulator

from hdl.array import SystolicArray
from hdl.array.layouts import act_row_layout, result_row_layout, weight_row_layout
from hdl.config import ArrayConfig
from tb.payload import PayloadCodec


def test_array_2x2_timing_matches_readme():
    """README "How a GEMM runs": weights at 0–1, rows at 2–4, results at 9–11
    (t + R + C + 1 + mac_latency, the default MAC pipeline of 2)."""
    cfg = ArrayConfig(rows=2, cols=2)
    dut = SystolicArray(cfg)
    weights = PayloadCodec(weight_row_layout(cfg), vector=None)
    acts = PayloadCodec(act_row_layout(cfg))
    results = PayloadCodec(result_row_layout(cfg))
    w_rows = [[1, 2], [3, 4]]  # B
    a_rows = [[5, 6], [-7, 8], [9, -10]]  # A, M = 3
    trace = []

    async def testbench(ctx):
        w_i = a_i = 0
        for cycle in range(12):
            ctx.set(dut.weights.valid, w_i < 2)
            if w_i < 2:
                ctx.set(dut.weights.payload.as_value(), weights.pack(w_rows[w_i]))
            ctx.set(dut.acts.valid, a_i < 3)
            if a_i < 3:
                ctx.set(
                    dut.acts.payload.as_value(),
                    acts.pack(a_rows[a_i], act_unsigned=0, last=a_i == 2),
                )
            ctx.set(dut.results.ready, 1)
            w_fire = ctx.get(dut.weights.valid) and ctx.get(dut.weights.ready)
            a_fire = ctx.get(dut.acts.valid) and ctx.get(dut.acts.ready)
            r = None
            if ctx.get(dut.results.valid):
                r = results.unpack(ctx.get(dut.results.payload.as_value()))
            trace.append((cycle, bool(w_fire), bool(a_fire), r))
            w_i += bool(w_fire)
            a_i += bool(a_fire)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()

    assert [c for c, w, _, _ in trace if w] == [0, 1]
    assert [c for c, _, a, _ in trace if a] == [2, 3, 4]
    out = [(c, r) for c, _, _, r in trace if r is not None]
    assert cfg.mac_latency == 2
    assert [c for c, _ in out] == [9, 10, 11]
    want = [[sum(a[k] * w_rows[k][n] for k in range(2)) for n in range(2)] for a in a_rows]
    assert [r[0] for _, r in out] == want
    assert [r[1]["last"] for _, r in out] == [0, 0, 1]
