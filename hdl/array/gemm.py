"""The array with its accumulator SRAM: whole GEMM results out, K folds summed in hardware."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.array.accumulator import (
    MAX_K_FOLDS,
    FoldAccumulator,
    accumulator_latency,
    output_row_layout,
)
from hdl.array.array import SystolicArray, array_latency
from hdl.array.layouts import act_row_layout, weight_row_layout


def gemm_latency(config):
    """Cycles from an accepted activation row to its finished row at the output of
    :class:`SystolicGemm` (rows of a strip's last fold): the array's latency plus the
    accumulator's."""
    return array_latency(config) + accumulator_latency(config)


class SystolicGemm(wiring.Component):
    """:class:`~hdl.array.SystolicArray` followed by a
    :class:`~hdl.array.accumulator.FoldAccumulator`.

    The streams ``weights`` and ``acts`` are those of the array (folds in strip order, K chunks
    inside); ``results`` carries one finished output row per activation row of each strip's
    last fold: C W-bit integers for INT8, C binary32 patterns for FP8.

    Parameters
    ----------
    config : ArrayConfig
    acc_rows : int
        Largest M of a fold (accumulator SRAM rows).
    pe_module : str or None
        Passed to :class:`~hdl.array.SystolicArray`: ``None`` elaborates the PEs, a name
        instantiates that separately generated PE module.

    Members
    -------
    weights, acts : In(stream.Signature(...))
    results : Out(stream.Signature(output_row_layout(config)))
    k_folds : In(range(1, MAX_K_FOLDS + 1))
        ``ceil(K / rows)``, steady during a GEMM.
    """

    def __init__(self, config, *, acc_rows, pe_module=None):
        self._config = config
        self._acc_rows = acc_rows
        self._pe_module = pe_module
        super().__init__(
            {
                "weights": In(stream.Signature(weight_row_layout(config))),
                "acts": In(stream.Signature(act_row_layout(config))),
                "results": Out(stream.Signature(output_row_layout(config))),
                "k_folds": In(range(MAX_K_FOLDS + 1), init=1),
            }
        )

    @property
    def latency(self):
        """Cycles from an accepted activation row to its finished row on ``results`` (for
        rows of a strip's last fold): the array's latency plus the accumulator's."""
        return gemm_latency(self._config)

    def elaborate(self, platform):
        m = Module()
        m.submodules.array = array = SystolicArray(self._config, pe_module=self._pe_module)
        m.submodules.accumulator = acc = FoldAccumulator(self._config, acc_rows=self._acc_rows)
        wiring.connect(m, wiring.flipped(self.weights), array.weights)
        wiring.connect(m, wiring.flipped(self.acts), array.acts)
        wiring.connect(m, array.results, acc.i)
        wiring.connect(m, acc.o, wiring.flipped(self.results))
        m.d.comb += acc.k_folds.eq(self.k_folds)
        return m
