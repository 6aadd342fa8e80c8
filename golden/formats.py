"""Number formats and accumulator widths, free of NumPy, shared by the generator and the models.

The generator (``hdl``) sizes its datapaths from these constants and formulas; the golden
models (:mod:`golden.int8`, :mod:`golden.fp8`) compute with them. Keeping them in one small
module means the hardware never imports the full reference models.
"""

import numbers
from dataclasses import dataclass

# --- INT8 (docs/numerics.md, INT8 path) ---------------------------------------------------

#: Largest |product| of int8 × int8: only −128 × −128 reaches +2^14.
INT8_PRODUCT_MAX = 128 * 128
#: Largest |product| of uint8 × int8: 255 × −128 = −32640 (the P·V product of attention).
UINT8_INT8_PRODUCT_MAX = 255 * 128


def _check_count(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


def operand_range(act_unsigned):
    """Return the inclusive ``(lo, hi)`` range of an INT8 activation operand."""
    return (0, 255) if act_unsigned else (-128, 127)


def int8_acc_width(k, *, bias_max=0, act_unsigned=False):
    """Signed accumulator width that cannot overflow for a K-term INT8 dot product.

    ``W = 1 + bit_length(K·Pmax + |bias|max)`` with ``Pmax = 16384`` (int8 × int8) or
    ``32640`` (uint8 × int8).

    Parameters
    ----------
    k : int
        Total reduction length (all folds), at least 1.
    bias_max : int
        Largest |bias| added to the accumulator.
    act_unsigned : bool
        Size for uint8 activations instead of int8.
    """
    k = _check_count("k", k)
    bias_max = _check_count("bias_max", bias_max, minimum=0)
    pmax = UINT8_INT8_PRODUCT_MAX if act_unsigned else INT8_PRODUCT_MAX
    return 1 + (k * pmax + bias_max).bit_length()


# --- FP8 (docs/numerics.md, FP8 formats and exact accumulation) --------------------------


@dataclass(frozen=True)
class Fp8Format:
    """An OCP OFP8 format.

    Members
    -------
    name : str
        ``"e4m3"`` or ``"e5m2"``.
    exp_bits, man_bits : int
        Widths of the biased exponent E and the mantissa M.
    bias : int
        Exponent bias: 7 (E4M3) or 15 (E5M2).
    max_code : int
        Code of the largest finite magnitude: 0x7E = 448 (E4M3), 0x7B = 57344 (E5M2).
    nan_code : int
        Positive canonical NaN produced by conversion: 0x7F (E4M3), 0x7E (E5M2).
    has_inf : bool
        Whether S.11…1.00 encodes ±Inf (E5M2) or the format has no infinity (E4M3 "fn").
    """

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    max_code: int
    nan_code: int
    has_inf: bool

    @property
    def inf_code(self):
        """Code of +Inf (0x7C for E5M2), or ``None`` for E4M3, which has no infinity."""
        return ((1 << self.exp_bits) - 1) << self.man_bits if self.has_inf else None

    @property
    def min_exp(self):
        """Exponent of the smallest subnormal's LSB: ``1 − bias − m``."""
        return 1 - self.bias - self.man_bits

    @property
    def max_fixed(self):
        """Largest finite |value| in units of the smallest subnormal."""
        exp_field = (self.max_code >> self.man_bits) & ((1 << self.exp_bits) - 1)
        sig = (self.max_code & ((1 << self.man_bits) - 1)) | (1 << self.man_bits)
        return sig << (exp_field - 1)


FORMATS = {
    "e4m3": Fp8Format("e4m3", 4, 3, 7, 0x7E, 0x7F, False),
    "e5m2": Fp8Format("e5m2", 5, 2, 15, 0x7B, 0x7E, True),
}


def fp8_format(fmt):
    """Look up an FP8 format by name: ``"e4m3"`` or ``"e5m2"``; ``ValueError`` otherwise."""
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return FORMATS[fmt]


def product_lsb_exp(fa, fb):
    """Exponent L of the LSB of every exact ``fa × fb`` product.

    Returns −18 (E4M3×E4M3), −32 (E5M2×E5M2), −25 (mixed, either order).
    """
    return fp8_format(fa).min_exp + fp8_format(fb).min_exp


def fp8_product_max(fa, fb):
    """Largest |product| ``Pmax`` of ``fa × fb`` in units of ``2^L``.

    52 613 349 376 (E4M3×E4M3), 14 123 288 431 433 875 456 (E5M2×E5M2),
    862 017 116 176 384 (mixed).
    """
    return fp8_format(fa).max_fixed * fp8_format(fb).max_fixed


def fp8_acc_width(k, fa, fb):
    """Signed Kulisch accumulator width exact for K products: ``1 + bit_length(K·Pmax)``.

    For power-of-two K: ``37 + log2 K`` (E4M3), ``65 + log2 K`` (E5M2), ``51 + log2 K``
    (mixed); 49, 77 and 63 at K = 4096.
    """
    k = _check_count("k", k)
    return 1 + (k * fp8_product_max(fa, fb)).bit_length()
