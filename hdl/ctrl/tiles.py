"""Records the accelerator's controller hands to its engines, and the bank geometry they share
(docs/accelerator.md §3.3)."""

import enum

from amaranth.lib import data

from golden.errors import UsageValueError, check_instance
from golden.frontend import QP_RECORD_BYTES, FrontendConfig

__all__ = [
    "Operand",
    "bank_row_bytes",
    "bank_rows",
    "check_accelerator_shape",
    "dest_width",
    "job_layout",
    "out_tile_layout",
    "strip_layout",
    "tile_layout",
]


class Operand(enum.IntEnum):
    """The operand banks, also the read DMA's command tag and the low bits of its bank field."""

    A = 0
    B = 1
    QP = 2


def check_accelerator_configs(array_config, frontend_config):
    """``(array_config, frontend_config)`` if they are an :class:`~hdl.config.ArrayConfig`
    and a :class:`~golden.frontend.FrontendConfig`; a usage error naming the parameter
    otherwise."""
    from hdl.config import ArrayConfig

    check_instance("array_config", array_config, ArrayConfig)
    check_instance("frontend_config", frontend_config, FrontendConfig)
    return array_config, frontend_config


def check_accelerator_shape(array_config, frontend_config):
    """Refuse an array a front end cannot feed: a bank row (R bytes of A, C bytes of B) must
    divide a bus beat, so R and C must divide ``D/8``. The configurations are type-checked
    first (:func:`check_accelerator_configs`)."""
    check_accelerator_configs(array_config, frontend_config)
    beat = frontend_config.beat_bytes
    for name, value in (("rows", array_config.rows), ("cols", array_config.cols)):
        if beat % value:
            divisors = ", ".join(str(d) for d in range(1, beat + 1) if beat % d == 0)
            raise UsageValueError(
                f"{name} must divide the bus width in bytes ({beat} at data_width="
                f"{frontend_config.data_width}) for the accelerator top: one of {divisors}, "
                f"got {value}",
                parameter=name,
            )


def bank_row_bytes(array_config, frontend_config, operand):
    """Bytes per bank row: R for A, C for B, one QP record (or a beat, if narrower) for QP."""
    if operand == Operand.A:
        return array_config.rows
    if operand == Operand.B:
        return array_config.cols
    return min(QP_RECORD_BYTES, frontend_config.beat_bytes)


def bank_rows(array_config, frontend_config, operand):
    """Rows per bank half: a whole A tile (Tm·Tk bytes), B tile (Tk·Tn) or Tn QP records."""
    cfg = frontend_config
    size = {
        Operand.A: cfg.tile_m * cfg.tile_k,
        Operand.B: cfg.tile_k * cfg.tile_n,
        Operand.QP: cfg.tile_n * QP_RECORD_BYTES,
    }[operand]
    return size // bank_row_bytes(array_config, frontend_config, operand)


def dest_width(array_config, frontend_config):
    """Bits of a beat address within the largest bank half."""
    beats = max(
        bank_rows(array_config, frontend_config, op)
        * bank_row_bytes(array_config, frontend_config, op)
        // frontend_config.beat_bytes
        for op in Operand
    )
    return max(1, (beats - 1).bit_length())


def tile_layout(frontend_config):
    """One k-tile for the operand feeder: clipped sizes, loop position and bank halves;
    ``keep_a``: the next tile reads the same A half (do not release it)."""
    cfg = frontend_config
    return data.StructLayout(
        {
            "tm": range(cfg.tile_m + 1),
            "tn": range(cfg.tile_n + 1),
            "tk": range(cfg.tile_k + 1),
            "first_k": 1,
            "last_k": 1,
            "a_half": 1,
            "b_half": 1,
            "qp_half": 1,
            "keep_a": 1,
        }
    )


def strip_layout(array_config, frontend_config):
    """One emitted strip for the output converter: its first column within the C tile
    (``col0``, also its first QP record), its valid columns ``n_len``, the QP half, and
    ``qp_last`` on the C tile's last strip."""
    return data.StructLayout(
        {
            "qp_half": 1,
            "col0": range(frontend_config.tile_n),
            "n_len": range(array_config.cols + 1),
            "qp_last": 1,
        }
    )


def out_tile_layout(frontend_config):
    """One C tile for the output buffer: its rows and columns."""
    return data.StructLayout(
        {"tm": range(frontend_config.tile_m + 1), "tn": range(frontend_config.tile_n + 1)}
    )


def job_layout():
    """The running job's flags as the datapath uses them (docs/accelerator.md §2.3 FLAGS):
    ``wide`` = 4-byte output elements (INT8 raw sums, binary32)."""
    return data.StructLayout(
        {
            "act_unsigned": 1,
            "raw": 1,
            "fp8_out": 1,
            "per_channel": 1,
            "bias_en": 1,
            "wide": 1,
        }
    )
