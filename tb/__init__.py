"""cocotb testbenches, drivers and the host-side runtime of systolix.

``tb.runtime`` is the Python API (``run_gemm``); the ``tb_*`` modules run inside the
simulator and are never collected by pytest.
"""


def __getattr__(name):
    # Lazy, so that importing tb.tb_array inside the simulator does not drag in the runner.
    if name in ("run_gemm", "run_gemm_batch", "GemmJob", "GemmRun"):
        from tb import runtime

        return getattr(runtime, name)
    raise AttributeError(name)
