"""A pin-light wrapper for place and route, so fmax measures the design and not its pins."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.array import SystolicArray

#: Width of the register the result bits are folded into.
FOLD_WIDTH = 32


class QorHarness(wiring.Component):
    """Feeds a :class:`~hdl.array.SystolicArray` from one input pin and folds its results into
    one output pin.

    A shift register clocked from ``din`` drives every input payload and handshake bit, so no
    logic is constant; the result payload is XOR-folded, ``FOLD_WIDTH`` bits at a time, into a
    register whose parity leaves on ``dout``. Every path into and out of the array starts and
    ends at a register, so nextpnr's fmax is the array's own register-to-register speed.

    Members
    -------
    din : In(1)
    dout : Out(1)
    """

    din: In(1)
    dout: Out(1)

    def __init__(self, config):
        self._config = config
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.array = array = SystolicArray(self._config)
        inputs = Cat(
            array.weights.payload.as_value(),
            array.weights.valid,
            array.acts.payload.as_value(),
            array.acts.valid,
            array.results.ready,
        )
        stimulus = Signal(len(inputs))
        m.d.sync += stimulus.eq(Cat(self.din, stimulus[:-1]))
        m.d.comb += inputs.eq(stimulus)

        payload = array.results.payload.as_value()
        chunks = [payload[i : i + FOLD_WIDTH] for i in range(0, len(payload), FOLD_WIDTH)]
        folded = Signal(FOLD_WIDTH)
        fold = chunks[0]
        for chunk in chunks[1:]:
            fold = fold ^ chunk
        with m.If(array.results.valid):
            m.d.sync += folded.eq(folded ^ fold)
        parity = Signal()
        m.d.sync += parity.eq(folded.xor())
        m.d.comb += self.dout.eq(parity)
        return m
