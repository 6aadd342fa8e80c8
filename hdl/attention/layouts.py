"""Payload layouts of the attention units' streams, defined once for hdl/, tb/ and the tests.

Every row vector is one beat of ``cols`` lanes; ``last`` marks the final beat of a query row
(a row of ``Lk`` keys arrives as ``ceil(Lk / cols)`` beats, a row of ``dv`` outputs as
``ceil(dv / cols)`` beats).
"""

from amaranth.hdl import Shape, signed, unsigned
from amaranth.lib import data

from golden.attention import EXP_BITS

#: Width of an exp core output ``e ∈ [0, 2^15]`` (Q0.15 with room for 2^15 itself).
EXP_WIDTH = EXP_BITS + 1
#: Width of the reciprocal R of a row sum (docs/numerics.md §4.2: R saturated to 2^32 − 1).
RECIPROCAL_WIDTH = 32
#: Output codes of the tile: int8.
OUT_SHAPE = signed(8)


def _tagged(fields, tag_shape):
    # A zero-width field would become a [-1:0] vector in the Verilog: leave it out.
    if Shape.cast(tag_shape).width:
        fields["tag"] = tag_shape
    return data.StructLayout(fields)


def exp_in_layout(*, lanes, d_width, tag_shape=0):
    """One beat into :class:`~hdl.attention.exp_core.Exp2Core`: ``lanes`` differences ``d`` and,
    unless ``tag_shape`` has no bits, a ``tag`` that travels with them unchanged (``last``)."""
    return _tagged({"d": data.ArrayLayout(unsigned(d_width), lanes)}, tag_shape)


def exp_out_layout(*, lanes, tag_shape=0):
    """One beat out of :class:`~hdl.attention.exp_core.Exp2Core`: ``lanes`` values
    ``e = exp_core(d)`` and the beat's ``tag`` (if any)."""
    return _tagged({"e": data.ArrayLayout(unsigned(EXP_WIDTH), lanes)}, tag_shape)


def score_beat_layout(*, cols, score_width):
    """One beat of a query row of scores ``S = Q·Kᵀ`` into
    :class:`~hdl.attention.softmax.SoftmaxRow`.

    ``data`` holds ``cols`` scores (W-bit two's complement, as the accumulator emits them);
    ``mask`` bit j is the valid bit of lane j (1: the key takes part; padding lanes of the
    row's final beat are 0); ``row_max`` is the largest valid score of the row, read in the
    pre-loaded-max mode only (the same on every beat of the row); ``last`` ends the row.
    """
    return data.StructLayout(
        {
            "data": data.ArrayLayout(signed(score_width), cols),
            "mask": unsigned(cols),
            "row_max": signed(score_width),
            "last": unsigned(1),
        }
    )


def p_beat_layout(*, cols, p_bits):
    """One beat of the softmax numerator P: ``cols`` unsigned PB-bit weights (uint8 codes for
    the array at PB = 8), ``last`` on the row's final beat."""
    return data.StructLayout(
        {"data": data.ArrayLayout(unsigned(p_bits), cols), "last": unsigned(1)}
    )


def reciprocal_layout(*, l_width):
    """A row's reciprocal (``golden.attention.row_reciprocal`` with ``saturate=True``):
    ``r = min(floor(2^k / L), 2^32 − 1)``, ``k = bit_length(L) + 31``, and ``L`` itself."""
    return data.StructLayout(
        {"r": unsigned(RECIPROCAL_WIDTH), "k": range(31, 63), "l": unsigned(l_width)}
    )


def o_acc_beat_layout(*, cols, acc_width):
    """One beat of ``O_acc = P·V``: ``cols`` signed sums, ``last`` on the query row's final
    beat. The same layout as the accumulator's output rows
    (:func:`hdl.array.accumulator.output_row_layout`) for an INT8 array of that width."""
    return data.StructLayout(
        {"data": data.ArrayLayout(signed(acc_width), cols), "last": unsigned(1)}
    )


def y_beat_layout(*, cols, y_width):
    """One beat of ``y = DIV_RHU(O_acc·2^16, L)``: ``cols`` signed values, ``last`` copied."""
    return data.StructLayout({"data": data.ArrayLayout(signed(y_width), cols), "last": unsigned(1)})


def out_beat_layout(*, cols):
    """One beat of the tile's output: ``cols`` int8 codes, ``last`` copied from ``O_acc``."""
    return data.StructLayout({"data": data.ArrayLayout(OUT_SHAPE, cols), "last": unsigned(1)})
