"""Verilog generation: the array, a manifest and a filelist for FPGA and simulation flows."""

import json
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import wiring

from hdl.arith import arithmetic_for
from hdl.array import SystolicArray
from hdl.array.pe import ProcessingElement

GENERATOR_VERSION = "0.1.0"
ARRAY_TOP = "systolic_array"
PE_TOP = "systolix_pe"
GEMM_TOP = "systolix_gemm"


def array_verilog(config, name=ARRAY_TOP, *, top=None):
    """Verilog text of the :class:`~hdl.array.SystolicArray` for ``config``."""
    top = SystolicArray(config) if top is None else top
    return verilog.convert(top, name=name, emit_src=False)


def gemm_verilog(config, *, acc_rows, name=GEMM_TOP):
    """Verilog text of :class:`~hdl.array.gemm.SystolicGemm` (array + accumulator SRAM)."""
    from hdl.array.gemm import SystolicGemm

    return verilog.convert(SystolicGemm(config, acc_rows=acc_rows), name=name, emit_src=False)


def pe_verilog(config, name=PE_TOP):
    """Verilog text of one :class:`~hdl.array.pe.ProcessingElement` of ``config``."""
    top = ProcessingElement(arith=arithmetic_for(config))
    return verilog.convert(top, name=name, emit_src=False)


def port_list(component):
    """``[(verilog_name, direction, width), …]`` of a component's signature, clk/rst first."""
    ports = [("clk", "input", 1), ("rst", "input", 1)]
    for path, member, _value in component.signature.flatten(component):
        name = "__".join(str(p) for p in path)
        direction = "input" if member.flow == wiring.In else "output"
        ports.append((name, direction, Shape.cast(member.shape).width))
    return ports


def generate(config, out_dir):
    """Write ``<name>.v``, ``manifest.json`` and ``filelist.f`` for ``config`` into ``out_dir``.

    Returns the path of the Verilog file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    verilog_path = out / f"{ARRAY_TOP}.v"
    top = SystolicArray(config)
    ports = port_list(top)
    verilog_path.write_text(array_verilog(config, top=top))
    manifest = {
        "generator": "systolix",
        "generator_version": GENERATOR_VERSION,
        "top": ARRAY_TOP,
        "config": config.to_dict(),
        "config_id": config.id,
        "latency": top.latency,
        "ports": [{"name": n, "direction": d, "width": w} for n, d, w in ports],
        "files": [verilog_path.name],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "filelist.f").write_text(f"{verilog_path.name}\n")
    return verilog_path
