"""A pin-light wrapper for place and route, so fmax measures the design and not its pins."""

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.array import SystolicArray

#: Bits each register of the parity tree folds: one LUT4 per register.
PARITY_FAN_IN = 4


def registered_parity(m, value, *, name="parity"):
    """The XOR of every bit of ``value`` through a tree of registers, ``PARITY_FAN_IN`` bits
    per register: each level is one LUT deep, so the tree is never the critical path of what
    it observes. Returns ``(parity, latency)``; ``parity`` is a register and follows ``value``
    by ``latency`` cycles (at least one)."""
    level, latency = value, 0
    while latency == 0 or len(level) > 1:
        groups = [level[i : i + PARITY_FAN_IN] for i in range(0, len(level), PARITY_FAN_IN)]
        reduced = Signal(len(groups), name=f"{name}_level{latency}")
        m.d.sync += reduced.eq(Cat(group.xor() for group in groups))
        level, latency = reduced, latency + 1
    return level, latency


class QorHarness(wiring.Component):
    """Feeds a :class:`~hdl.array.SystolicArray` from one input pin and folds its results into
    one output pin.

    A shift register clocked from ``din`` drives every input payload and handshake bit, so no
    logic is constant; every result bit (payload and valid) goes into a tree of XOR
    registers (:func:`registered_parity`) whose root leaves on ``dout``. Every path into and
    out of the array starts and ends at a register, and every harness path is one LUT deep, so
    nextpnr's fmax is the array's own register-to-register speed.

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

        observed = Cat(array.results.payload.as_value(), array.results.valid)
        parity, _ = registered_parity(m, observed)
        m.d.comb += self.dout.eq(parity)
        return m


class AccelQorHarness(wiring.Component):
    """Feeds a :class:`~hdl.accel.Accelerator` from one input pin and folds every output into
    one output pin.

    A shift register clocked from ``din`` drives every input of the accelerator (the AXI4-Lite
    slave's AW/W/AR channels and B/R ready, the AXI4 master's AW/W/AR ready and B/R channels),
    so no input is constant and the whole controller stays reachable. Every output bit (AXI
    valids, payloads and readies, ``irq``) goes into a tree of XOR registers
    (:func:`registered_parity`) whose root leaves on ``dout``: no output is left unobserved,
    so yosys keeps the whole design (the scratchpad memories included), and every path into
    and out of the accelerator starts and ends at a harness register. nextpnr's fmax is then
    the accelerator's own register-to-register speed.

    Parameters
    ----------
    array_config : ArrayConfig
    frontend_config : golden.frontend.FrontendConfig or None
    pe_module : str or None
        Passed to the accelerator (``None``: the PEs are elaborated inline).

    Members
    -------
    din : In(1)
    dout : Out(1)
    """

    din: In(1)
    dout: Out(1)

    def __init__(self, array_config, frontend_config=None, *, pe_module=None):
        from hdl.accel import Accelerator

        # Built here so that a bad configuration is refused when the harness is made.
        self._accel = Accelerator(array_config, frontend_config, pe_module=pe_module)
        super().__init__()

    @property
    def accel(self):
        return self._accel

    def elaborate(self, platform):
        m = Module()
        m.submodules.accel = accel = self._accel
        inputs, outputs = [], []
        for _path, member, value in accel.signature.flatten(accel):
            (inputs if member.flow == In else outputs).append(Value.cast(value))
        stimulus = Signal(sum(len(v) for v in inputs))
        m.d.sync += stimulus.eq(Cat(self.din, stimulus[:-1]))
        m.d.comb += Cat(*inputs).eq(stimulus)

        parity, _ = registered_parity(m, Cat(*outputs))
        m.d.comb += self.dout.eq(parity)
        return m
