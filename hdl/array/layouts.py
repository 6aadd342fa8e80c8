"""Payload layouts of the array's streams, defined once for hdl/, tb/ and the docs."""

from amaranth.hdl import unsigned
from amaranth.lib import data

from hdl.arith import CODE_SHAPE, arithmetic_for


def weight_row_layout(config):
    """One row of ``cols`` weight codes; beat j of a fold holds the weights of array row j."""
    return data.ArrayLayout(CODE_SHAPE, config.cols)


def act_row_layout(config):
    """One row of A restricted to the fold's K chunk: ``rows`` activation codes.

    ``act_unsigned`` selects uint8 (else int8) activations for this row; ``last`` marks the
    final row of a fold, so the next row starts the next fold.
    """
    return data.StructLayout(
        {
            "data": data.ArrayLayout(CODE_SHAPE, config.rows),
            "act_unsigned": unsigned(1),
            "last": unsigned(1),
        }
    )


def result_row_layout(config):
    """One row of ``cols`` partial sums of a fold; ``last`` marks the fold's final row."""
    arith = arithmetic_for(config)
    return data.StructLayout(
        {
            "data": data.ArrayLayout(arith.psum_shape, config.cols),
            "last": unsigned(1),
        }
    )
