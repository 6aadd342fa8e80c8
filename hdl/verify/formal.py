"""Formal-proof harnesses (SymbiYosys) for small datapath blocks."""

from amaranth.hdl import Array, Assert, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from golden.fp8 import decode_table
from hdl.arith.fp8_decode import Fp8Decoder
from hdl.arith.mac_fp8 import Fp8Product, fp8_product_width


def _rom(m, code, values, shape, name):
    out = Signal(shape, name=name)
    m.d.comb += out.eq(Array(Const(int(v), shape) for v in values)[code])
    return out


def _reference_operand(m, code, fmt, name):
    """ROMs of the golden decode table (NUMERICS.md §1.1) indexed by the code: significand
    (0 for specials), exponent offset above the format's smallest, NaN and Inf classes."""
    t = decode_table(fmt)
    special = t["is_nan"] | t["is_inf"]
    sig = [0 if special[c] else int(t["sig"][c]) for c in range(256)]
    offset = [int(e - t["exp"].min()) for e in t["exp"]]
    return (
        _rom(m, code, sig, range(max(sig) + 1), f"{name}_ref_sig"),
        _rom(m, code, offset, range(max(offset) + 1), f"{name}_ref_offset"),
        _rom(m, code, t["is_nan"], 1, f"{name}_ref_nan"),
        _rom(m, code, t["is_inf"], 1, f"{name}_ref_inf"),
    )


class Fp8ProductProof(wiring.Component):
    """Asserts, for all code pairs, that decoder + :class:`Fp8Product` equal a reference.

    The reference reads significand, exponent and class from ROMs of the golden decode table
    (not from the code's fields, as the decoder does), forms ``±(sig_a·sig_b) << (off_a +
    off_b)`` and derives the special flags from the table's classes and §2.5's rules. So the
    proof covers field extraction, hidden bit, subnormals, specials, alignment and sign.

    Members
    -------
    code_a, code_b : In(8)
        Left free for the solver.
    """

    code_a: In(8)
    code_b: In(8)

    def __init__(self, act_fmt, weight_fmt):
        self._act_fmt = act_fmt
        self._weight_fmt = weight_fmt
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.dec_a = dec_a = Fp8Decoder(self._act_fmt)
        m.submodules.dec_b = dec_b = Fp8Decoder(self._weight_fmt)
        m.submodules.product = product = Fp8Product(
            act_fmt=self._act_fmt, weight_fmt=self._weight_fmt
        )
        m.d.comb += [
            dec_a.code.eq(self.code_a),
            dec_b.code.eq(self.code_b),
            product.a.eq(dec_a.operand),
            product.w.eq(dec_b.operand),
        ]
        sig_a, off_a, nan_a, inf_a = _reference_operand(m, self.code_a, self._act_fmt, "a")
        sig_b, off_b, nan_b, inf_b = _reference_operand(m, self.code_b, self._weight_fmt, "b")
        width = fp8_product_width(self._act_fmt, self._weight_fmt) + 1
        magnitude = Signal(width)
        m.d.comb += magnitude.eq((sig_a * sig_b) << (off_a + off_b))
        negative = self.code_a[7] ^ self.code_b[7]
        ref = Signal(signed(width))
        m.d.comb += ref.eq(Mux(negative, -magnitude, magnitude))
        zero_a = (sig_a == 0) & ~nan_a & ~inf_a
        zero_b = (sig_b == 0) & ~nan_b & ~inf_b
        ref_nan = nan_a | nan_b | (inf_a & zero_b) | (inf_b & zero_a)
        ref_inf = (inf_a | inf_b) & ~ref_nan
        m.d.comb += [
            Assert(product.product == ref),
            Assert(product.nan == ref_nan),
            Assert(product.pinf == (ref_inf & ~negative)),
            Assert(product.ninf == (ref_inf & negative)),
            Assert(~Mux(product.nan | product.pinf | product.ninf, product.product != 0, 0)),
        ]
        return m
