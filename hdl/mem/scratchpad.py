"""Ping-pong scratchpad bank: two halves of one simple-dual-port memory and their owner bits.

One :class:`PingPongBank` holds one operand (A, B or the per-channel quantization parameters);
the front end instantiates it three times with different row widths and depths.
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.errors import UsageValueError, check_int
from golden.scratchpad import rows_per_beat

__all__ = ["PingPongBank", "bank_write_layout"]


def bank_write_layout(*, beat_bytes, words):
    """Payload of a DMA write into a :class:`PingPongBank`: the target ``half``, the beat
    address ``addr`` within the half (``words`` beats per half), the beat ``data``, one ``mask``
    bit per byte (a masked byte keeps its old value) and ``last`` on the tile's last beat."""
    return data.StructLayout(
        {
            "half": 1,
            "addr": range(words),
            "data": 8 * beat_bytes,
            "mask": beat_bytes,
            "last": 1,
        }
    )


class PingPongBank(wiring.Component):
    """Two halves of ``rows`` rows of ``row_bytes`` bytes, written by whole DMA beats and read
    one row at a time, with an owner bit per half.

    The memory is one simple-dual-port RAM of ``2·rows/n`` words of ``beat_bytes`` bytes, where
    ``n = beat_bytes / row_bytes`` (the beat is wider than a row, W > R: it covers ``n``
    consecutive rows, the map of :func:`golden.scratchpad.beat_rows`). The read port reads the
    word and a lane select registered beside it picks the row, so a read costs one cycle
    (:attr:`latency`) whatever ``n`` is. Beats narrower than a row (W < R) are refused at
    generation time.

    Ownership: ``full[h]`` is set by the handshake of a write with ``last`` into half ``h`` (the
    tile has landed) and cleared by ``release`` with ``release_half = h`` (its last fold has been
    read). A write into a full half is refused: ``w.ready`` is low while ``full[w.half]`` is set,
    so a tile being read is never overwritten and the DMA simply waits. Reads are not checked
    against ``full``; the reader reads only halves it has seen full.

    Parameters
    ----------
    beat_bytes : int
        Bytes per DMA beat (D/8): 8, 16 or 32.
    row_bytes : int
        Bytes per row, a divisor of ``beat_bytes`` (the array's R for A, C for B).
    rows : int
        Rows per half, a positive multiple of ``beat_bytes // row_bytes``, at most 2^20.

    Attributes
    ----------
    w : In(stream.Signature(bank_write_layout(...)))
        DMA beats.
    rd_en, rd_half, rd_row : In
        Read request; ``rd_data`` holds row ``rd_row`` of half ``rd_half`` from the next cycle
        until the next request.
    rd_data : Out(8·row_bytes)
        Byte ``i`` of the row in bits ``8i … 8i + 7``.
    release, release_half : In(1)
        Strobe that clears ``full[release_half]``.
    full, free : Out(2)
        Owner bits per half and their complement.
    """

    def __init__(self, *, beat_bytes, row_bytes, rows):
        self._beat_bytes = check_int("beat_bytes", beat_bytes, 8, 32)
        if beat_bytes not in (8, 16, 32):
            raise UsageValueError(f"beat_bytes must be one of 8, 16, 32, got {beat_bytes}")
        self._row_bytes = check_int(
            "row_bytes", row_bytes, 1, beat_bytes, where=f" (beat_bytes={beat_bytes})"
        )
        self._n = rows_per_beat(beat_bytes, row_bytes)
        self._rows = check_int("rows", rows, 1, 1 << 20)
        if rows % self._n:
            raise UsageValueError(
                f"rows must be a multiple of beat_bytes // row_bytes = {self._n}, got {rows}"
            )
        self._words = rows // self._n
        super().__init__(
            {
                "w": In(
                    stream.Signature(bank_write_layout(beat_bytes=beat_bytes, words=self._words))
                ),
                "rd_en": In(1),
                "rd_half": In(1),
                "rd_row": In(range(rows)),
                "rd_data": Out(8 * row_bytes),
                "release": In(1),
                "release_half": In(1),
                "full": Out(2),
                "free": Out(2),
            }
        )

    @property
    def beat_bytes(self):
        return self._beat_bytes

    @property
    def row_bytes(self):
        return self._row_bytes

    @property
    def rows(self):
        return self._rows

    @property
    def words(self):
        """Memory words (beats) per half."""
        return self._words

    @property
    def latency(self):
        """Cycles from ``rd_en`` to ``rd_data``."""
        return 1

    def elaborate(self, platform):
        m = Module()
        n, words = self._n, self._words
        mem = Memory(shape=unsigned(8 * self._beat_bytes), depth=2 * words, init=[])
        m.submodules.mem = mem
        wp = mem.write_port(granularity=8)
        rp = mem.read_port(transparent_for=())

        w = self.w.payload
        take = self.w.valid & self.w.ready
        m.d.comb += [
            self.w.ready.eq(~self.full.bit_select(w.half, 1)),
            wp.addr.eq(Mux(w.half, words, 0) + w.addr),
            wp.data.eq(w.data),
            wp.en.eq(Mux(take, w.mask, 0)),
        ]

        # n is a power of two (row_bytes divides a power of two), so the row splits into word
        # and lane by bit slicing.
        shift = n.bit_length() - 1
        lane_q = Signal(range(n)) if n > 1 else None
        m.d.comb += [
            rp.en.eq(self.rd_en),
            rp.addr.eq(Mux(self.rd_half, words, 0) + (self.rd_row >> shift)),
        ]
        if lane_q is None:
            m.d.comb += self.rd_data.eq(rp.data)
        else:
            with m.If(self.rd_en):
                m.d.sync += lane_q.eq(self.rd_row[:shift])
            m.d.comb += self.rd_data.eq(rp.data.word_select(lane_q, 8 * self._row_bytes))

        for h in range(2):
            with m.If(take & w.last & (w.half == h)):
                m.d.sync += self.full[h].eq(1)
            with m.Elif(self.release & (self.release_half == h)):
                m.d.sync += self.full[h].eq(0)
        m.d.comb += self.free.eq(~self.full)
        return m
