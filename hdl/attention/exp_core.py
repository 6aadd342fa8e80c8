"""The base-2 LUT exp core of the integer softmax (docs/numerics.md §4.2)."""

from amaranth.hdl import Module, Mux, Shape, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.attention import EXP_BITS, EXP_FRAC_BITS, exp2_lut
from golden.errors import UsageValueError, check_int
from hdl.attention.layouts import EXP_WIDTH, exp_in_layout, exp_out_layout
from hdl.attention.pipeline import stage


class Exp2Core(wiring.Component):
    """``e = exp_core(d) ≈ 2^15 · 2^(−d/2^F)`` on ``lanes`` lanes at once, one beat per cycle.

    Per lane, as ``golden.attention.exp_core`` defines it: ``D = min(d, (EB+1)·2^F)``,
    ``ip = D >> F``, ``fp = D & (2^F − 1)``, ``e = ip ≤ EB ? (LUT[fp] + (2^ip >> 1)) >> ip :
    0`` with EB = 15. The ROM holds ``golden.attention.exp2_lut(F)``, the very tuple the
    golden model reads (64 × 16 bits at F = 6, 256 × 16 at F = 8), one ROM per lane.
    Saturation needs no comparator: ``d ≥ (EB+1)·2^F`` exactly when a bit at or above
    ``F + 4`` is set, and then ``e = 0``. The rounding shift is
    ``(((LUT[fp] << 1) >> ip) + 1) >> 1``, which equals ``(LUT[fp] + (2^ip >> 1)) >> ip`` for
    every ``ip`` (see :func:`hdl.attention.pipeline.shift_round_half_up`).

    Two register stages: the registered ROM read (with ``ip`` and the saturation bit beside
    it), then the rounding shift into the output register. The pipeline stalls as a whole
    under backpressure on ``o`` and fills bubbles.

    Parameters
    ----------
    exp_frac_bits : int
        F, 6 (default) or 8 (§4.4).
    lanes : int
        Differences per beat, 1 to 256.
    d_width : int or None
        Width of each unsigned ``d``, ``F + 5`` to 64; default ``F + 5``, which holds
        ``(EB+1)·2^F`` (callers saturate wider differences to it).
    tag_shape : shape
        Shape of ``tag``, a value that travels with each beat unchanged (``last``, a row
        number); default 0 bits: no ``tag``.

    Members
    -------
    i : In(stream.Signature(exp_in_layout(lanes=lanes, d_width=d_width, tag_shape=tag_shape)))
    o : Out(stream.Signature(exp_out_layout(lanes=lanes, tag_shape=tag_shape)))

    Latency: :attr:`latency` (two cycles) from a beat accepted on ``i`` to its ``e`` on ``o``.
    """

    #: Cycles from a beat accepted on ``i`` to the same beat on ``o`` (ROM read, shift).
    latency = 2

    def __init__(self, *, exp_frac_bits=6, lanes=1, d_width=None, tag_shape=0):
        if exp_frac_bits not in EXP_FRAC_BITS or isinstance(exp_frac_bits, bool):
            raise UsageValueError(
                f"exp_frac_bits must be one of {EXP_FRAC_BITS}, got {exp_frac_bits!r}",
                parameter="exp_frac_bits",
            )
        self._frac_bits = exp_frac_bits
        self._lanes = check_int("lanes", lanes, 1, 256)
        lo = exp_frac_bits + 5
        self._d_width = lo if d_width is None else check_int("d_width", d_width, lo, 64)
        self._tag_shape = tag_shape = Shape.cast(tag_shape)
        super().__init__(
            {
                "i": In(
                    stream.Signature(
                        exp_in_layout(lanes=lanes, d_width=self._d_width, tag_shape=tag_shape)
                    )
                ),
                "o": Out(stream.Signature(exp_out_layout(lanes=lanes, tag_shape=tag_shape))),
            }
        )

    @property
    def exp_frac_bits(self):
        """F, the fraction bits of ``d``."""
        return self._frac_bits

    @property
    def lanes(self):
        return self._lanes

    @property
    def d_width(self):
        return self._d_width

    def elaborate(self, platform):
        m = Module()
        f = self._frac_bits

        # Stage 1: the ROM's registered read, with ip and the saturation bit beside it;
        # stage 2: the rounding shift into the output register.
        s2_ready = Signal()
        s1_valid, s1_ready, s1_load = stage(
            m, valid_in=self.i.valid, ready_out=s2_ready, name="rom"
        )
        s2_valid, s2_ready_in, s2_load = stage(
            m, valid_in=s1_valid, ready_out=self.o.ready, name="shift"
        )
        m.d.comb += [
            s2_ready.eq(s2_ready_in),
            self.i.ready.eq(s1_ready),
            self.o.valid.eq(s2_valid),
        ]

        if self._tag_shape.width:
            s1_tag = Signal(self._tag_shape, name="rom_tag")
            s2_tag = Signal(self._tag_shape, name="shift_tag")
            with m.If(s1_load):
                m.d.sync += s1_tag.eq(self.i.payload.tag)
            with m.If(s2_load):
                m.d.sync += s2_tag.eq(s1_tag)
            m.d.comb += self.o.payload.tag.eq(s2_tag)

        for lane in range(self._lanes):
            d = self.i.payload.d[lane]
            # One small ROM per lane (LUTs on an FPGA): yosys 0.70's memory_libmap fails on one
            # memory with 16 read ports.
            rom = Memory(shape=unsigned(EXP_WIDTH), depth=1 << f, init=exp2_lut(f))
            m.submodules[f"rom_{lane}"] = rom
            port = rom.read_port(transparent_for=())
            # The ROM output register holds while the stage holds: enable = the stage's ready.
            m.d.comb += [port.addr.eq(d[:f]), port.en.eq(s1_ready)]
            ip = Signal(range(EXP_BITS + 1), name=f"rom_ip_{lane}")
            dead = Signal(name=f"rom_dead_{lane}")  # d ≥ (EB+1)·2^F: e = 0
            with m.If(s1_load):
                m.d.sync += [ip.eq(d[f : f + 4]), dead.eq(d[f + 4 :].any())]
            e = Signal(unsigned(EXP_WIDTH), name=f"e_{lane}")
            shifted = Signal(unsigned(EXP_WIDTH + 1), name=f"shifted_{lane}")
            m.d.comb += shifted.eq((port.data << 1) >> ip)
            with m.If(s2_load):
                m.d.sync += e.eq(Mux(dead, 0, (shifted + 1) >> 1))
            m.d.comb += self.o.payload.e[lane].eq(e)
        return m
