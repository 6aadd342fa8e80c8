"""Width conversion between bus beats and narrow lane beats, row by row: what a DMA moves for
a block that takes or gives one row vector of ``lanes`` bytes per cycle (the attention unit's
Q, K, V and O streams)."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.errors import UsageValueError, check_int

__all__ = ["RowPacker", "RowSplitter"]


def _check_lanes(beat_bytes, lanes):
    beat_bytes = check_int("beat_bytes", beat_bytes, 1, 1 << 12)
    if beat_bytes & (beat_bytes - 1):
        raise UsageValueError(
            f"beat_bytes must be a power of two, got {beat_bytes}", parameter="beat_bytes"
        )
    lanes = check_int("lanes", lanes, 1, beat_bytes)
    if beat_bytes % lanes:
        raise UsageValueError(
            f"lanes must divide beat_bytes ({beat_bytes}), got {lanes}", parameter="lanes"
        )
    return beat_bytes, lanes


class RowSplitter(wiring.Component):
    """Bus beats of rows into beats of ``lanes`` bytes.

    Each row of ``row_bytes`` bytes arrives as ``ceil(row_bytes / beat_bytes)`` bus beats (a
    row starts on a beat boundary, as a strided 2-D read delivers it) and leaves as
    ``ceil(row_bytes / lanes)`` lane beats, the bus beat's ``lanes``-byte chunks in order; the
    chunks of a row's last bus beat past the row's end are dropped. One lane beat per cycle;
    ``i.ready`` is high in the cycle the beat's last wanted chunk is taken (combinational
    from ``o.ready``).

    Parameters
    ----------
    beat_bytes : int
        Bytes of a bus beat.
    lanes : int
        Bytes of an output beat; divides ``beat_bytes``.
    max_row_bytes : int
        Largest ``row_bytes``.

    Members
    -------
    row_bytes : In(range(max_row_bytes + 1))
        Bytes of each row, 1 to ``max_row_bytes``; steady while rows flow.
    i : In(stream.Signature(unsigned(8 * beat_bytes)))
    o : Out(stream.Signature(unsigned(8 * lanes)))
    """

    def __init__(self, *, beat_bytes, lanes, max_row_bytes):
        self._beat_bytes, self._lanes = _check_lanes(beat_bytes, lanes)
        self._max_row_bytes = check_int("max_row_bytes", max_row_bytes, 1, 1 << 24)
        super().__init__(
            {
                "row_bytes": In(range(max_row_bytes + 1)),
                "i": In(stream.Signature(unsigned(8 * beat_bytes))),
                "o": Out(stream.Signature(unsigned(8 * lanes))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        per_beat = self._beat_bytes // self._lanes
        max_chunks = -(-self._max_row_bytes // self._lanes)
        chunk = Signal(range(max(per_beat, 2)))  # chunk of the bus beat
        taken = Signal(range(max_chunks + 1))  # chunks of the row sent so far
        row_chunks = Signal(range(max_chunks + 1))
        lanes_log2 = self._lanes.bit_length() - 1  # lanes divides a power-of-two beat
        m.d.comb += row_chunks.eq((self.row_bytes + self._lanes - 1) >> lanes_log2)
        row_end = taken == row_chunks - 1
        beat_end = row_end | (chunk == per_beat - 1)
        m.d.comb += [
            self.o.valid.eq(self.i.valid),
            self.o.payload.eq(self.i.payload.word_select(chunk, 8 * self._lanes)),
            self.i.ready.eq(self.o.ready & beat_end),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [
                chunk.eq(Mux(beat_end, 0, chunk + 1)),
                taken.eq(Mux(row_end, 0, taken + 1)),
            ]
        return m


def packer_out_layout(beat_bytes):
    """A packed bus beat: ``data`` and ``row_last`` (the row's final beat)."""
    return data.StructLayout({"data": unsigned(8 * beat_bytes), "row_last": 1})


class RowPacker(wiring.Component):
    """Beats of ``lanes`` bytes, rows marked by ``last``, into bus beats: ``beat_bytes /
    lanes`` chunks per bus beat, a row's last bus beat sent as soon as the row ends (its bytes
    past the row are stale; a write DMA masks them with its strobes). Every bus beat is
    registered; a lane beat is taken every cycle while the bus side keeps up.

    Members
    -------
    i : In(stream.Signature({"data": unsigned(8 * lanes), "last": 1}))
    o : Out(stream.Signature(packer_out_layout(beat_bytes)))
    """

    def __init__(self, *, beat_bytes, lanes):
        self._beat_bytes, self._lanes = _check_lanes(beat_bytes, lanes)
        super().__init__(
            {
                "i": In(
                    stream.Signature(data.StructLayout({"data": unsigned(8 * lanes), "last": 1}))
                ),
                "o": Out(stream.Signature(packer_out_layout(beat_bytes))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        per_beat = self._beat_bytes // self._lanes
        chunk = Signal(range(max(per_beat, 2)))
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            for j in range(per_beat):
                with m.If(chunk == j):
                    m.d.sync += self.o.payload.data.word_select(j, 8 * self._lanes).eq(
                        self.i.payload.data
                    )
            full = self.i.payload.last | (chunk == per_beat - 1)
            m.d.sync += chunk.eq(Mux(full, 0, chunk + 1))
            with m.If(full):
                m.d.sync += [self.o.valid.eq(1), self.o.payload.row_last.eq(self.i.payload.last)]
        return m
