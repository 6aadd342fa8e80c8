"""The cocotb stream drivers of ``tb/drivers`` under Verilator, on a small stream FIFO: beats in
order, exact pause and stall counts, the ``ready_when_valid`` sink, reset, protocol checks."""

import hashlib
import json
from dataclasses import dataclass

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from tb.verilator import VerilatorBuild

pytestmark = [pytest.mark.verilator, pytest.mark.xdist_group("stream-fifo")]

TOP = "stream_fifo"
WIDTH = 13
DEPTH = 4
TESTCASES = [
    "beats_in_order_under_random_pauses",
    "burst_pause_counts_exactly",
    "ready_when_valid_never_waits_alone",
    "reset_drops_the_beat_in_flight",
    "monitor_reports_broken_transfer_rules",
]


class StreamFifo(wiring.Component):
    """A buffered FIFO between two streams: the design the drivers are tested on."""

    def __init__(self, *, width, depth):
        self._width = width
        self._depth = depth
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = buffer = fifo.SyncFIFOBuffered(width=self._width, depth=self._depth)
        wiring.connect(m, wiring.flipped(self.i), buffer.w_stream)
        wiring.connect(m, buffer.r_stream, wiring.flipped(self.o))
        return m


@dataclass(frozen=True)
class FifoBuild:
    """What :class:`~tb.verilator.VerilatorBuild` needs of a configuration: a name and a key
    (the Verilog's digest, so a change to the design above rebuilds it)."""

    verilog: str

    @property
    def id(self):
        return f"w{WIDTH}-d{DEPTH}"

    def to_json(self):
        return json.dumps({"verilog": hashlib.sha256(self.verilog.encode()).hexdigest()})


@pytest.fixture(scope="module")
def fifo_build():
    text = verilog.convert(StreamFifo(width=WIDTH, depth=DEPTH), name=TOP)
    return VerilatorBuild("stream_fifo", FifoBuild(text), TOP, lambda: text).ensure_built()


@pytest.mark.parametrize("testcase", TESTCASES)
def test_stream_drivers(fifo_build, testcase, tmp_path, seed):
    env = {"SYSTOLIX_FIFO_WIDTH": str(WIDTH), "SYSTOLIX_FIFO_DEPTH": str(DEPTH)}
    tests = fifo_build.run(
        "tb.tb_stream_fifo", extra_env=env, seed=seed, test_dir=tmp_path, testcase=testcase
    )
    assert tests == 1
