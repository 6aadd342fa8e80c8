"""INT8 multiply-accumulate unit (docs/numerics.md §3.1–§3.2)."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.arith.multiplier import product_signal


class Int8Mac(wiring.Component):
    """``psum_out = wrap(psum_in + a·w, acc_width)``.

    ``a`` is the 9-bit signed activation operand (int8 sign-extended or uint8 zero-extended at
    the array edge), ``w`` the int8 weight. The sum wraps in two's complement (§3.2), which
    keeps the result independent of summation order.

    Parameters
    ----------
    acc_width : int
        Accumulator width W, 16 to 64. The 9-bit operand only carries int8 or uint8 values,
        so every product lies in [−32640, 16384] and fits 16 bits: the width
        :class:`~hdl.config.ArrayConfig` derives for ``max_k=1`` (docs/numerics.md §3.1).
    product_register : bool
        Register the product: ``psum_out`` adds the product of the operands presented one
        cycle earlier (:attr:`latency` 1). Otherwise the MAC is combinational.
    lut_multiplier : bool
        Mark the multiplier for logic-only mapping (see :mod:`hdl.arith.multiplier`).
    product_registers : int or None
        Instead of ``product_register``: 0 to 4 registers between the operands and the add
        (:attr:`latency`). From 2 on the multiplier is pipelined so that LUT multipliers keep
        pace with a DSP block. With 2, the first register holds ``a`` times the weight's low
        nibble (unsigned) and times its high nibble (signed), the second their sum. With 3,
        the first holds ``a`` times each 2-bit slice of the weight (the top one signed), the
        second the sums of neighbouring pairs, the third the product: one carry chain per
        stage. With 4, the product is registered once more.

    Members
    -------
    a : In(signed(9))
    w : In(signed(8))
    psum_in : In(signed(acc_width))
    psum_out : Out(signed(acc_width))
    """

    def __init__(
        self, *, acc_width, product_register=False, lut_multiplier=False, product_registers=None
    ):
        if not isinstance(acc_width, int) or not 16 <= acc_width <= 64:
            raise ValueError(f"acc_width must be between 16 and 64, got {acc_width!r}")
        if product_registers is None:
            product_registers = int(bool(product_register))
        elif product_registers not in (0, 1, 2, 3, 4):
            raise ValueError(f"product_registers must be 0 to 4, got {product_registers!r}")
        self._acc_width = acc_width
        self._product_registers = product_registers
        self._lut_multiplier = lut_multiplier
        super().__init__(
            {
                "a": In(signed(9)),
                "w": In(signed(8)),
                "psum_in": In(signed(acc_width)),
                "psum_out": Out(signed(acc_width)),
            }
        )

    @property
    def acc_width(self):
        return self._acc_width

    @property
    def latency(self):
        """Cycles from operands to their product entering the sum."""
        return self._product_registers

    @staticmethod
    def _register(m, value, name, shape=None):
        """``value`` one cycle later, in a register without reset named ``name``."""
        reg = Signal(value.shape() if shape is None else shape, name=name, reset_less=True)
        m.d.sync += reg.eq(value)
        return reg

    def elaborate(self, platform):
        m = Module()
        lut = self._lut_multiplier
        stages = self._product_registers
        # No resets below: the product only matters under a valid row.
        if stages >= 3:
            # Three stages of one carry chain each: a times each 2-bit slice of the weight
            # (the top slice signed), then pairwise sums, then the product.
            slices = [self.w[i : i + 2] for i in (0, 2, 4)] + [self.w[6:].as_signed()]
            parts = []
            for i, w_slice in enumerate(slices):
                part = product_signal(signed(12), lut=lut, name=f"product_part{i}")
                m.d.comb += part.eq(self.a * w_slice)
                parts.append(self._register(m, part, f"product_part{i}_reg"))
            low = self._register(m, parts[0] + (parts[1] << 2), "product_low_reg", signed(14))
            high = self._register(m, parts[2] + (parts[3] << 2), "product_high_reg", signed(14))
            product = Signal(signed(17), name="product")
            m.d.comb += product.eq(low + (high << 4))
            stages -= 2
        elif stages == 2:
            # Two stages: a times the weight's low nibble (unsigned) and high nibble (signed),
            # then their sum.
            lo = product_signal(signed(14), lut=lut, name="product_lo")
            hi = product_signal(signed(13), lut=lut, name="product_hi")
            m.d.comb += [lo.eq(self.a * self.w[:4]), hi.eq(self.a * self.w[4:].as_signed())]
            lo_reg = self._register(m, lo, "product_lo_reg")
            hi_reg = self._register(m, hi, "product_hi_reg")
            product = Signal(signed(17), name="product")
            m.d.comb += product.eq(lo_reg + (hi_reg << 4))
            stages -= 1
        else:
            product = product_signal(signed(17), lut=lut, name="product")
            m.d.comb += product.eq(self.a * self.w)
        for stage in range(stages):
            staged = Signal.like(
                product,
                name="product_reg" if stage == 0 else f"product_reg{stage + 1}",
                reset_less=True,
            )
            m.d.sync += staged.eq(product)
            product = staged
        # Truncating the 18-bit-or-wider sum to W bits is exactly the wrap of §3.2.
        m.d.comb += self.psum_out.eq(self.psum_in + product)
        return m
