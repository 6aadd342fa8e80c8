"""Output buffer: turns the converter's strip-major rows of a C tile into the row-major beats
the write DMA stores (docs/accelerator.md §3.2 ``OutputBuffer``)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.errors import UsageValueError
from hdl.ctrl.tiles import check_accelerator_configs

__all__ = [
    "OutputBuffer",
    "converted_row_layout",
    "store_beat_layout",
    "store_tile_layout",
]

#: Bytes of a wide output element (raw int32 sum or binary32).
WIDE_BYTES = 4


def _check_configs(array_config, frontend_config):
    check_accelerator_configs(array_config, frontend_config)
    cols, beat = array_config.cols, frontend_config.beat_bytes
    if beat % cols:
        allowed = ", ".join(str(d) for d in range(1, beat + 1) if beat % d == 0)
        raise UsageValueError(
            f"cols must divide the beat size W = {beat} bytes (data_width="
            f"{frontend_config.data_width}): one of {allowed}, got {cols}",
            parameter="cols",
        )


def converted_row_layout(array_config):
    """A converted output row: C 32-bit lanes (the element's bit pattern in the low bits) and
    ``last`` on a strip's last row."""
    return data.StructLayout(
        {"data": data.ArrayLayout(unsigned(32), array_config.cols), "last": unsigned(1)}
    )


def store_tile_layout(frontend_config):
    """Shape of one C tile: ``tm`` rows (1 … Tm) and ``tn`` columns (1 … Tn)."""
    return data.StructLayout(
        {
            "tm": range(1, frontend_config.tile_m + 1),
            "tn": range(1, frontend_config.tile_n + 1),
        }
    )


def store_beat_layout(frontend_config):
    """A beat for the write DMA: W bytes of ``data`` and ``last`` on a tile's last beat."""
    return data.StructLayout({"data": 8 * frontend_config.beat_bytes, "last": unsigned(1)})


class OutputBuffer(wiring.Component):
    """Transposes C tiles from strip-major rows (C elements each) to row-major W-byte beats,
    in two ping-pong halves.

    A tile record on ``tiles`` claims a free half; the tile's ``ceil(tn/C)`` strips of ``tm``
    rows each arrive on ``i`` (strip 0 rows 0 … tm−1, strip 1, …; ``last`` ends a strip) and
    strip ``s`` row ``m`` lands at bytes ``s·C·ob … s·C·ob + C·ob − 1`` of tile row ``m``,
    element ``n`` at byte ``n·ob`` little-endian, where ``ob`` is 4 when ``wide`` and 1
    otherwise (the low byte of each lane). Once the tile's last row is in, the half is full
    and streams out on ``beats``: row ``m`` as ``ceil(tn·ob/W)`` beats of bytes
    ``0 … ceil(tn·ob/W)·W − 1``, ``last`` on the tile's last beat; the half is free again as
    soon as its last word has been read. Bytes past ``tn·ob`` in a row are unspecified (lanes of
    a partial last strip past ``tn``, or stale contents): the write DMA masks them.

    Memory: one simple-dual-port RAM of W-byte words with byte write enables; a half holds
    ``Tm`` rows of ``4·Tn/W`` words (:attr:`words_per_half`). Since W is a power of two and
    C divides it, a strip row never straddles a word: with ``C·ob ≤ W`` it is one write into
    part of a word (the row is replicated across the word and the byte enables pick its
    place), with ``C·ob > W`` it is ``C·ob/W`` whole-word writes.

    Timing
    ------
    - ``i``: one row per cycle when ``C·ob ≤ W``, else one row per ``C·ob/W`` cycles (the row
      is held on ``i`` and taken with its last word). No bubble between strips or between
      tiles (the next tile record is taken in the cycle the current tile's last row is, when
      the other half is free); ``i`` waits only while both halves are full, or for a record.
    - ``beats``: one beat per cycle while ``ready`` is high, back to back across rows and
      tiles; ``valid`` does not depend on ``ready``.
    - Latency (:attr:`latency`): with ``beats`` idle, a tile's first beat is valid two cycles
      after the cycle its last row is taken on ``i``.

    Parameters
    ----------
    array_config : ArrayConfig
        ``cols`` (C), a divisor of W.
    frontend_config : FrontendConfig
        ``beat_bytes`` (W), ``tile_m`` (Tm), ``tile_n`` (Tn).

    Members
    -------
    wide : In(1)
        Elements are 4 bytes (raw sums, binary32); else 1 byte. Hold it steady during a job.
    tiles : In(stream.Signature(store_tile_layout(frontend_config)))
        One record per C tile, in order.
    i : In(stream.Signature(converted_row_layout(array_config)))
        Rows from the output converter, strip-major.
    beats : Out(stream.Signature(store_beat_layout(frontend_config)))
        Beats for the write DMA, row-major.
    idle : Out(1)
        No tile being filled, none waiting or streaming out, no beat offered.

    Raises
    ------
    golden.errors.UsageTypeError
        If a configuration is not an ``ArrayConfig`` / ``FrontendConfig``.
    golden.errors.UsageValueError
        If ``cols`` does not divide W.
    """

    #: Cycles from the handshake of a tile's last row on ``i`` to its first beat on ``beats``
    #: (output idle): the owner bit, then the registered memory read.
    latency = 2

    def __init__(self, array_config, frontend_config):
        _check_configs(array_config, frontend_config)
        self._array_config = array_config
        self._frontend_config = frontend_config
        super().__init__(
            {
                "wide": In(1),
                "tiles": In(stream.Signature(store_tile_layout(frontend_config))),
                "i": In(stream.Signature(converted_row_layout(array_config))),
                "beats": Out(stream.Signature(store_beat_layout(frontend_config))),
                "idle": Out(1),
            }
        )

    @property
    def array_config(self):
        return self._array_config

    @property
    def frontend_config(self):
        return self._frontend_config

    @property
    def row_words(self):
        """Memory words per tile row: ``4·Tn/W`` (a row of wide elements)."""
        return WIDE_BYTES * self._frontend_config.tile_n // self._frontend_config.beat_bytes

    @property
    def words_per_half(self):
        """Memory words per half: ``Tm · 4·Tn/W``."""
        return self._frontend_config.tile_m * self.row_words

    def elaborate(self, platform):
        m = Module()
        cols = self._array_config.cols
        beat = self._frontend_config.beat_bytes
        tile_m, tile_n = self._frontend_config.tile_m, self._frontend_config.tile_n
        pitch, words = self.row_words, self.words_per_half
        log_beat = beat.bit_length() - 1
        # Word writes per wide row (C·4 > W); a narrow row is always one write (C ≤ W).
        subs = max(1, WIDE_BYTES * cols // beat)
        wide = self.wide

        mem = Memory(shape=unsigned(8 * beat), depth=2 * words, init=[])
        m.submodules.mem = mem
        wp = mem.write_port(granularity=8)
        rp = mem.read_port(transparent_for=())

        # Owner bits: full[h] from the write of a tile's last row into half h to the read of
        # its last word. Per half, the tile's shape as the reader needs it.
        full = Signal(2)
        h_tm = [Signal(range(1, tile_m + 1), name=f"tm_{h}") for h in range(2)]
        h_nb = [Signal(range(1, pitch + 1), name=f"row_beats_{h}") for h in range(2)]

        # --- write side ------------------------------------------------------------------------
        wr_half = Signal()
        w_active = Signal()
        w_tn = Signal(range(1, tile_n + 1))
        w_col = Signal(range(tile_n + cols))  # first column of the current strip
        w_row = Signal(range(2 * words))  # word address of the current row's start
        w_sub = Signal(range(subs))  # word of a wide row that spans several

        i = self.i
        sub_last = (w_sub == subs - 1) | ~wide
        m.d.comb += i.ready.eq(w_active & sub_last)
        row_take = i.valid & i.ready
        last_strip = w_col + cols >= w_tn
        tile_done = row_take & i.payload.last & last_strip

        # The next record is taken with the current tile's last row, so tiles follow each
        # other on ``i`` without a bubble.
        target = Mux(w_active, ~wr_half, wr_half)
        m.d.comb += self.tiles.ready.eq(Mux(w_active, tile_done, 1) & ~full.bit_select(target, 1))
        tile_take = self.tiles.valid & self.tiles.ready

        lanes = i.payload.data
        narrow_row = Cat(lanes[c][:8] for c in range(cols))
        wide_row = Cat(lanes[c] for c in range(cols))
        # A row narrower than a word goes out replicated to every slot; the byte enables pick
        # its slot, so no shifter is needed.
        narrow_word = Cat(narrow_row for _ in range(beat // cols))
        if WIDE_BYTES * cols <= beat:
            wide_word = Cat(wide_row for _ in range(beat // (WIDE_BYTES * cols)))
        else:
            wide_word = wide_row.word_select(w_sub, 8 * beat)
        byte_off = Mux(wide, w_col << 2, w_col)  # of the strip within the tile row
        narrow_mask = Const((1 << cols) - 1, beat)
        wide_mask = Const((1 << min(WIDE_BYTES * cols, beat)) - 1, beat)
        mask = Mux(wide, wide_mask, narrow_mask) << byte_off[:log_beat]
        m.d.comb += [
            wp.addr.eq(w_row + (byte_off >> log_beat) + w_sub),
            wp.data.eq(Mux(wide, wide_word, narrow_word)),
            wp.en.eq(Mux(w_active & i.valid, mask, 0)),
        ]

        if subs > 1:
            with m.If(w_active & i.valid & wide):
                m.d.sync += w_sub.eq(Mux(sub_last, 0, w_sub + 1))
        with m.If(row_take):
            with m.If(i.payload.last):
                m.d.sync += [w_row.eq(Mux(wr_half, words, 0)), w_col.eq(w_col + cols)]
                with m.If(last_strip):
                    m.d.sync += [w_active.eq(0), wr_half.eq(~wr_half)]
            with m.Else():
                m.d.sync += w_row.eq(w_row + pitch)

        tn = self.tiles.payload.tn
        row_beats = (Mux(wide, tn << 2, tn) + (beat - 1)) >> log_beat
        # After the row statements: a record taken with the last row restarts the write side.
        with m.If(tile_take):
            m.d.sync += [
                w_active.eq(1),
                wr_half.eq(target),
                w_tn.eq(tn),
                w_col.eq(0),
                w_row.eq(Mux(target, words, 0)),
            ]
            for h in range(2):
                with m.If(target == h):
                    m.d.sync += [h_tm[h].eq(self.tiles.payload.tm), h_nb[h].eq(row_beats)]

        # --- read side -------------------------------------------------------------------------
        rd_half = Signal()
        r_row = Signal(range(2 * words))  # word address of the current row's start
        r_m = Signal(range(tile_m))
        r_b = Signal(range(pitch))
        b_valid = Signal()
        b_last = Signal()

        r_tm = Mux(rd_half, h_tm[1], h_tm[0])
        r_nb = Mux(rd_half, h_nb[1], h_nb[0])
        # The read port's data register is the output register: it advances when it is empty
        # or being taken, and holds its word otherwise.
        advance = ~b_valid | self.beats.ready
        issue = full.bit_select(rd_half, 1) & advance
        row_end = r_b == r_nb - 1
        tile_end = row_end & (r_m == r_tm - 1)
        m.d.comb += [
            rp.addr.eq(r_row + r_b),
            rp.en.eq(advance),
            self.beats.valid.eq(b_valid),
            self.beats.payload.data.eq(rp.data),
            self.beats.payload.last.eq(b_last),
        ]
        with m.If(advance):
            m.d.sync += [b_valid.eq(issue), b_last.eq(tile_end)]
        with m.If(issue):
            with m.If(row_end):
                m.d.sync += r_b.eq(0)
                with m.If(tile_end):
                    m.d.sync += [
                        r_m.eq(0),
                        r_row.eq(Mux(rd_half, 0, words)),
                        rd_half.eq(~rd_half),
                    ]
                with m.Else():
                    m.d.sync += [r_m.eq(r_m + 1), r_row.eq(r_row + pitch)]
            with m.Else():
                m.d.sync += r_b.eq(r_b + 1)

        # The writer finishes a half that is not full, the reader one that is: never the same.
        for h in range(2):
            with m.If(tile_done & (wr_half == h)):
                m.d.sync += full[h].eq(1)
            with m.Elif(issue & tile_end & (rd_half == h)):
                m.d.sync += full[h].eq(0)

        m.d.comb += self.idle.eq(~w_active & ~full.any() & ~b_valid)
        return m
