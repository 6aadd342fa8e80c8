"""cocotb testbench of the bare SystolicArray: a batch of GEMM jobs, each checked against the
golden model after the folds' partial sums are added as the accumulator would."""

import cocotb

from tb.array_driver import ArrayTB, run_job_batch


@cocotb.test()
async def run_jobs(dut):
    await run_job_batch(dut, ArrayTB)
