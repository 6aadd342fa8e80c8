"""The read DMA's Verilog under Verilator and cocotb (``tb/tb_dma_read.py``): cocotbext-axi
memory with a fixed latency, random pauses on AR, R and the DMA's streams, the AXI protocol
monitor on every cycle, errors."""

import hashlib
import json
from dataclasses import asdict, dataclass

import pytest
from amaranth.back import verilog

from golden.frontend import FrontendConfig
from hdl.bus.axi import verilog_ports
from hdl.dma.read import AxiReadDma
from tb.verilator import VerilatorBuild

pytestmark = [pytest.mark.verilator, pytest.mark.xdist_group("dma-read")]

TOP = "systolix_dma_read"
WIDTHS = {"tag_width": 4, "bank_width": 2, "dest_width": 16}


def dma_verilog(config):
    """The DMA's Verilog: AXI ports with the conventional names (``m_axi_arvalid`` …), the
    streams with Amaranth's (``cmd__valid`` …), which the stream drivers look for."""
    dut = AxiReadDma(config, **WIDTHS)
    ports = {}
    for name, port in verilog_ports(dut).items():
        member, _, signal = name.partition("_")
        if not signal:  # a one-bit member such as ``error``
            ports[name] = port
            continue
        ports[f"m_{name}" if member == "axi" else f"{member}__{signal}"] = port
    return verilog.convert(dut, name=TOP, ports=ports)


@dataclass(frozen=True)
class DmaBuild:
    """What :class:`~tb.verilator.VerilatorBuild` needs: an id and a key that changes with the
    Verilog."""

    config: FrontendConfig
    verilog: str

    @property
    def id(self):
        c = self.config
        return f"d{c.data_width}-a{c.addr_width}-b{c.max_burst}-o{c.outstanding_reads}"

    def to_json(self):
        return json.dumps(
            {
                "config": asdict(self.config),
                "verilog": hashlib.sha256(self.verilog.encode()).hexdigest(),
            }  # fmt: skip
        )

    def env(self, **job):
        spec = {
            k: getattr(self.config, k)
            for k in ("data_width", "addr_width", "max_burst", "outstanding_reads")
        }
        return {"SYSTOLIX_DMA_CONFIG": json.dumps({**spec, **WIDTHS}),
                "SYSTOLIX_DMA_JOB": json.dumps(job)}  # fmt: skip


CONFIGS = {
    "d128-a32-b16-o4": FrontendConfig(data_width=128, max_burst=16, outstanding_reads=4),
    "d64-a64-b256-o16": FrontendConfig(
        data_width=64, addr_width=64, max_burst=256, outstanding_reads=16
    ),
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def dma_build(request):
    config = CONFIGS[request.param]
    text = dma_verilog(config)
    build = DmaBuild(config, text)
    VerilatorBuild("dma_read", build, TOP, lambda: text).ensure_built()
    return build


def run(build, testcase, tmp_path, seed, **job):
    sim = VerilatorBuild("dma_read", build, TOP, lambda: build.verilog)
    tests = sim.run(
        "tb.tb_dma_read", extra_env=build.env(**job), seed=seed, test_dir=tmp_path,
        testcase=testcase,
    )  # fmt: skip
    assert tests == 1


@pytest.mark.parametrize("pause", [0.0, 0.3, 0.7])
def test_dma_read_verilator_random_commands(dma_build, pause, tmp_path, seed):
    job = {"latency": 12, "commands": 16}
    if pause:
        job.update(ar_pause=pause, r_pause=pause, cmd_pause=pause, beat_pause=pause,
                   done_pause=pause)  # fmt: skip
    run(dma_build, "random_commands", tmp_path, seed, **job)


@pytest.mark.parametrize("latency", [2, 30, 100])
def test_dma_read_verilator_latency_and_throughput(dma_build, latency, tmp_path, seed):
    run(dma_build, "latency_and_throughput", tmp_path, seed, latency=latency)


def test_dma_read_verilator_errors(dma_build, tmp_path, seed):
    run(dma_build, "read_errors", tmp_path, seed, latency=6, ar_pause=0.2, r_pause=0.2)
