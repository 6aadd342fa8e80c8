"""Multiplier products that synthesis maps to DSP blocks or, on request, to logic only."""

from amaranth.hdl import Signal

#: Attributes that keep a multiplier out of DSP blocks in vendor flows: Vivado reads
#: ``use_dsp``, Quartus ``multstyle``. Yosys ignores both; its flows use ``-nodsp`` instead.
LUT_MULTIPLIER_ATTRS = {"use_dsp": "no", "multstyle": "logic"}


def product_signal(shape, *, lut, name):
    """The signal a multiplier drives, marked for logic-only mapping when ``lut`` is set."""
    return Signal(shape, name=name, attrs=LUT_MULTIPLIER_ATTRS if lut else {})
