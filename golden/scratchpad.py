"""Address map of the scratchpad banks: where each operand byte of a tile lands.

A bank half holds ``rows`` rows of ``row_bytes`` bytes. The DMA writes beats of ``beat_bytes``
bytes; when a beat is wider than a row (``beat_bytes = n·row_bytes``) beat address ``a`` covers
rows ``a·n … a·n + n - 1``, byte ``j`` of the beat going to row ``a·n + j // row_bytes``, lane
``j % row_bytes``.
"""

from golden.errors import UsageValueError, check_int

__all__ = ["a_location", "b_location", "beat_rows", "row_pitch", "rows_per_beat"]


def rows_per_beat(beat_bytes, row_bytes):
    """Rows one DMA beat writes: ``beat_bytes // row_bytes``.

    Raises
    ------
    UsageValueError
        If ``row_bytes`` does not divide ``beat_bytes`` (beats narrower than a row would need a
        write-combining register, which the scratchpad does not have).
    """
    beat_bytes = check_int("beat_bytes", beat_bytes, 1, 1 << 16)
    row_bytes = check_int("row_bytes", row_bytes, 1, beat_bytes, where=" (<= beat_bytes)")
    if beat_bytes % row_bytes:
        raise UsageValueError(f"row_bytes must divide beat_bytes={beat_bytes}, got {row_bytes}")
    return beat_bytes // row_bytes


def row_pitch(length, row_bytes, beat_bytes):
    """Bank rows per tile row: a tile row of ``length`` bytes arrives as ``ceil(length / W)``
    beats, each covering ``W / row_bytes`` bank rows."""
    return -(-length // beat_bytes) * rows_per_beat(beat_bytes, row_bytes)


def a_location(m, k, *, tk, rows, beat_bytes):
    """``(row, lane)`` of activation byte ``(m, k)`` of an A tile ``tk`` bytes wide, in a bank
    of ``rows``-byte rows (the array's R): row ``m·p + k // rows``, lane ``k % rows``, with
    ``p = ceil(tk / W)·W / rows`` (the tile's rows one after the other, as the DMA writes
    them)."""
    return m * row_pitch(tk, rows, beat_bytes) + k // rows, k % rows


def b_location(k, n, *, tn, cols, beat_bytes):
    """``(row, lane)`` of weight byte ``(k, n)`` of a B tile ``tn`` bytes wide, in a bank of
    ``cols``-byte rows (the array's C): row ``k·p + n // cols``, lane ``n % cols``, with
    ``p = ceil(tn / W)·W / cols``."""
    return k * row_pitch(tn, cols, beat_bytes) + n // cols, n % cols


def beat_rows(addr, data, mask, *, beat_bytes, row_bytes):
    """The row writes of one beat: ``[(row, lane, byte)]`` for every byte whose mask bit is set.

    ``data`` is the beat as an integer (byte ``j`` in bits ``8j … 8j + 7``), ``mask`` one bit per
    byte.
    """
    n = rows_per_beat(beat_bytes, row_bytes)
    return [
        (addr * n + j // row_bytes, j % row_bytes, (data >> (8 * j)) & 0xFF)
        for j in range(beat_bytes)
        if mask >> j & 1
    ]
