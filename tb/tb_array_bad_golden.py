"""cocotb testbench for tests of the failure report: the bare-array batch of ``tb_array``, with
the golden expectation of every INT8 job off by one in ``C[0][0]``.

The hardware, the drivers and the comparison are the ones of ``tb_array``; only the expected
value is wrong. So the run fails exactly as a hardware mismatch would (first differing element,
its coordinates, both values), deterministically, and a test can check what the report says
(the log, the waveform). Run it with ``run_gemm_batch(..., testbench="tb.tb_array_bad_golden")``.
"""

import cocotb

from tb.array_driver import ArrayTB, run_job_batch
from tb.numerics import Int8Numerics


class OffByOneNumerics(Int8Numerics):
    """INT8 numerics whose expected ``C[0][0]`` is one more than the golden model's."""

    def expected(self, a, b, act_unsigned):
        want = super().expected(a, b, act_unsigned).copy()
        want[0, 0] += 1
        return want


class BadGoldenTB(ArrayTB):
    """:class:`ArrayTB` checking against :class:`OffByOneNumerics` (INT8 configurations only)."""

    def __init__(self, dut, config, seed):
        if config.is_fp8:
            raise ValueError(f"tb_array_bad_golden runs INT8 configurations, got {config.id}")
        super().__init__(dut, config, seed)
        self.numerics = OffByOneNumerics(config)


@cocotb.test()
async def run_jobs(dut):
    await run_job_batch(dut, BadGoldenTB)
