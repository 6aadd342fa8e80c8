"""cocotb testbench of SystolicGemm (array + accumulator SRAM): the K folds are summed and FP8
results rounded in hardware; every finished row is checked against the golden model."""

from math import ceil

import cocotb
import numpy as np

from hdl.array.accumulator import output_row_layout
from tb.array_driver import ArrayTB, run_job_batch
from tb.payload import PayloadCodec


class GemmTB(ArrayTB):
    """Drives the same streams as :class:`ArrayTB`; results are whole output rows."""

    top = "gemm"

    def __init__(self, dut, config, seed):
        super().__init__(dut, config, seed)
        self.result_codec = PayloadCodec(output_row_layout(config))

    async def run_job(self, job):
        self.dut.k_folds.value = ceil(job["a"].shape[1] / self.config.rows)
        return await super().run_job(job)

    def result_rows(self, job, folds):
        return job["a"].shape[0] * ceil(job["b"].shape[1] / self.config.cols)

    def assemble(self, job, rows, folds):
        m = job["a"].shape[0]
        n = job["b"].shape[1]
        cols = self.config.cols
        dtype = np.uint32 if self.config.is_fp8 else np.int64
        c = np.zeros((m, n), dtype=dtype)
        for strip in range(ceil(n / cols)):
            n0 = strip * cols
            width = min(cols, n - n0)
            for i in range(m):
                values, flags = self.result_codec.unpack(rows[strip * m + i])
                if flags["last"] != (i == m - 1):
                    raise AssertionError(
                        f"strip {strip} row {i}: result last={flags['last']}, "
                        f"expected {int(i == m - 1)}"
                    )
                c[i, n0 : n0 + width] = values[:width]
        return c.view(np.float32) if self.config.is_fp8 else c


@cocotb.test()
async def run_jobs(dut):
    await run_job_batch(dut, GemmTB)
