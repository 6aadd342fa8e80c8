"""Bus interfaces: AXI4 and AXI4-Lite signatures and conventional Verilog port names."""

from hdl.bus.axi import Axi4Signature, AxiLiteSignature, Burst, Resp, verilog_ports

__all__ = ["Axi4Signature", "AxiLiteSignature", "Burst", "Resp", "verilog_ports"]
