"""The bare weight-stationary systolic array with stream ports."""

from types import SimpleNamespace

from amaranth.hdl import (
    Cat,
    ClockSignal,
    Const,
    Instance,
    Module,
    Mux,
    ResetSignal,
    Shape,
    Signal,
    Value,
)
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.errors import UsageTypeError
from hdl.arith import arithmetic_for
from hdl.array.layouts import act_row_layout, result_row_layout, weight_row_layout
from hdl.array.pe import ProcessingElement, pe_signature


def _delay(m, value, cycles, name, *, reset_less=True):
    """``value`` delayed by ``cycles`` registers (``cycles`` may be 0)."""
    for stage in range(cycles):
        reg = Signal.like(value, name=f"{name}_d{stage + 1}", reset_less=reset_less)
        m.d.sync += reg.eq(value)
        value = reg
    return value


def pe_instance(signature, module_name, inputs, *, name):
    """An :class:`~amaranth.hdl.Instance` of the separately generated PE module
    ``module_name`` with the ports of ``signature`` (:func:`~hdl.array.pe.pe_signature`, a
    flat signature: every member is a port).

    The port names are the signature's member names and each port is one packed vector,
    which is how Amaranth names and shapes the ports of the PE module converted on its own.
    ``clk`` and ``rst`` come from the ``sync`` domain. Inputs are driven straight by
    ``inputs`` (port name → value of the member's width, or an integer constant); each output
    gets a new signal ``<name>__<port>``, so a neighbour's input is the same signal and no
    assignment sits between two PEs.

    Returns
    -------
    (SimpleNamespace, Instance)
        The output signals as attributes (``a_out``, …) and the instance.
    """
    connections = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
    outputs = {}
    for port, member in signature.members.items():
        width = Shape.cast(member.shape).width
        if member.flow == In:
            value = inputs[port]
            value = Const(value, width) if isinstance(value, int) else Value.cast(value)
            if len(value) != width:
                raise TypeError(f"{name}: input {port} is {len(value)} bits, not {width}")
            connections[f"i_{port}"] = value
        else:
            outputs[port] = Signal(member.shape, name=f"{name}__{port}")
            connections[f"o_{port}"] = Value.cast(outputs[port])
    return SimpleNamespace(**outputs), Instance(module_name, **connections)


def pe_module_names(config, pe_module):
    """``{multiplier kind: PE module name}`` of the PE modules an array of ``config`` built
    with ``pe_module`` instantiates, one per :attr:`~hdl.config.ArrayConfig.pe_kinds`: the
    first PE's kind is ``pe_module`` itself, any other ``<pe_module>_<kind>`` (an ``auto``
    array's LUT PEs beside its ECP5 PEs). Generate each from
    :class:`~hdl.array.pe.ProcessingElement` with ``arithmetic_for(config, kind)``."""
    kinds = config.pe_kinds
    return {kind: pe_module if i == 0 else f"{pe_module}_{kind}" for i, kind in enumerate(kinds)}


def array_latency(config):
    """Cycles from an accepted activation row to its result row on the array's ``results``:
    the input register, R−1 skew stages and R PE rows, C−1 hops across, C−1−c de-skew stages
    for column c, the MAC's pipeline stages, the stages that resolve a column's pending
    carries (``mac_pipeline=4``), and the result FIFO."""
    arith = arithmetic_for(config)
    return config.rows + config.cols + 1 + arith.mac_latency + arith.column_resolve_latency


def _row_load_flags(m, rows, first_row_next, weight_valid, weight_tag):
    """One register per PE row: load the weight beat now at the row's first PE.

    A beat tagged ``t`` reaches row ``t`` ``t`` cycles after ``weight_valid`` and
    ``weight_tag`` hold it (the tag pipeline delays both a cycle per row). Each flag is the tag
    compared one stage early and registered, so that no LUT sits between a register and the
    route to the row; row 0's comes from ``first_row_next``, this cycle's beat with tag 0.
    """
    first = Signal(name="weight_load_row0")
    m.d.sync += first.eq(first_row_next)
    flags = [first]
    tag_at_row, valid_at_row = weight_tag, weight_valid
    for r in range(1, rows):
        flag = Signal(name=f"weight_load_row{r}")
        m.d.sync += flag.eq(valid_at_row & (tag_at_row == r))
        flags.append(flag)
        if r + 1 < rows:
            tag_at_row = _delay(m, tag_at_row, 1, f"weight_tag_row{r}")
            valid_at_row = _delay(m, valid_at_row, 1, f"weight_valid_row{r}", reset_less=False)
    return flags


class ResultFifo(wiring.Component):
    """The array's result FIFO: first-word fall-through, written without a ready.

    The array accepts an activation row only while a result slot is free, so a write never
    finds the FIFO full and needs no ``w_rdy``. Timing as Amaranth's ``SyncFIFO``: a row
    written in cycle t can be read from cycle t + 1, and a full-rate stream (a write and a
    read every cycle) passes through.

    The consumer's ready (``r_en``, which may come from far away) goes straight into one
    register per storage slice, with no logic on the way: in a wide row the slices spread
    over the die, and that one route is all a cycle has to carry. Nothing else loads on it.
    The two oldest entries wait in a pair of output registers used in turn, and ``r_data``
    is the head one of the pair, chosen by a head pointer that each slice corrects by last
    cycle's read: one LUT behind flip-flops. An output register freed by a read is refilled
    in the next cycle, from the storage or straight from the write; with two of them the FIFO
    still moves a row every cycle. The storage (LUT RAM) holds the entries behind the pair,
    ``depth − 2`` of them, so the FIFO holds exactly ``depth``.

    The row is cut into slices of at most ``slice_width`` bits, each with its own storage and
    its own copy of the whole control state (pointers, fill flags, the storage's fill as a
    thermometer code, last cycle's ready): a wide row (an 8×8 array's is 225 bits, an E5M2
    one's 641) would otherwise hang every output bit on a few registers, and that fan-out
    across the die, not the logic, sets the delay. Each copy advances from its own value
    (the registered ready, which every slice loads alike, carries ``keep``, as do the others;
    see :data:`scripts.synth.KEEP_REGISTERS`), so synthesis keeps them apart. ``r_rdy`` is a
    register of slice 0's.

    With ``write_enable_copies`` the write enable is a vector with one bit per slice
    (:attr:`slices`), which the caller drives from equal registers of its own: a 16×16 row
    spans the die, and one enable register fanned out to every slice sets the write path's
    delay.

    Members
    -------
    w_data : In(width)
    w_en : In(1), or In(slices) with ``write_enable_copies``
        Write ``w_data``; the caller guarantees a free entry.
    r_data : Out(width)
        The oldest entry.
    r_rdy : Out(1)
        An entry is there (a register).
    r_en : In(1)
        Take the oldest entry (when ``r_rdy``).
    """

    #: Default bits per storage slice: four 4-bit-wide LUT RAM columns per pointer copy. On an
    #: 8×8 INT8 ECP5 array 16 instead of 32 moved the read path from 188 to 223 MHz for
    #: 240 LUT4 and 84 FF more.
    SLICE_WIDTH = 16

    #: Entries held in the output registers rather than the storage.
    OUTPUT_REGISTERS = 2

    def __init__(self, *, width, depth, slice_width=SLICE_WIDTH, write_enable_copies=False):
        self._width, self._depth, self._slice_width = width, depth, slice_width
        self._copies = write_enable_copies
        super().__init__(
            {
                "w_data": In(width),
                "w_en": In(self.slices if write_enable_copies else 1),
                "r_data": Out(width),
                "r_rdy": Out(1),
                "r_en": In(1),
            }
        )

    @property
    def slices(self):
        """Storage slices: ``ceil(width / slice_width)``."""
        return -(-self._width // self._slice_width)

    @property
    def storage_depth(self):
        """Entries behind the two output registers: ``depth − 2`` (none for depth ≤ 2)."""
        return max(self._depth - self.OUTPUT_REGISTERS, 0)

    def elaborate(self, platform):
        m = Module()
        storage_depth = self.storage_depth
        slice_bounds = [
            (lo, min(lo + self._slice_width, self._width))
            for lo in range(0, self._width, self._slice_width)
        ]
        # Each slice's own write enable (bit 0 for all without copies).
        slice_w_ens = [
            self.w_en[i] if self._copies else self.w_en[0] for i in range(len(slice_bounds))
        ]

        def advance(ptr):
            return Mux(ptr == storage_depth - 1, 0, ptr + 1)

        slice_states = [
            self._slice_control(m, index, slice_w_ens[index]) for index in range(len(slice_bounds))
        ]

        for index, (lo, hi) in enumerate(slice_bounds):
            state = slice_states[index]
            pair = [
                Signal(hi - lo, name=f"out{j}_{index}", reset_less=True)
                for j in range(self.OUTPUT_REGISTERS)
            ]
            refill_data = self.w_data[lo:hi]
            if storage_depth:
                storage = Memory(shape=hi - lo, depth=storage_depth, init=[])
                m.submodules[f"storage_{index}"] = storage
                write = storage.write_port()
                read = storage.read_port(domain="comb")
                # At least one bit: a zero-width pointer (depth 1) would be an invalid [-1:0].
                w_ptr = Signal(range(max(storage_depth, 2)), name=f"w_ptr_{index}")
                r_ptr = Signal(range(max(storage_depth, 2)), name=f"r_ptr_{index}")
                with m.If(state.store):
                    m.d.sync += w_ptr.eq(advance(w_ptr))
                with m.If(state.unstore):
                    m.d.sync += r_ptr.eq(advance(r_ptr))
                # Every write goes into the storage at the write pointer, which only a stored
                # row advances. A row that goes straight to an output register finds the
                # storage empty, so the entry it overwrites is free; the storage's write
                # enable is then the slice's write-enable register itself, not a LUT chain
                # behind last cycle's read.
                m.d.comb += [
                    write.addr.eq(w_ptr),
                    write.data.eq(self.w_data[lo:hi]),
                    write.en.eq(slice_w_ens[index]),
                    read.addr.eq(r_ptr),
                ]
                refill_data = Mux(state.stored, read.data, refill_data)
            for j, register in enumerate(pair):
                with m.If(state.refill & (state.tail == j)):
                    m.d.sync += register.eq(refill_data)
            m.d.comb += self.r_data[lo:hi].eq(Mux(state.head, pair[1], pair[0]))
        # ``r_rdy`` is a register of its own, next cycle's ``ready`` of slice 0 computed a
        # cycle early, so that ``results.valid`` leaves a flip-flop: the consumer's logic
        # on it may sit far from slice 0.
        first = slice_states[0]
        m.d.sync += self.r_rdy.eq(first.full_next | (first.one_next & ~(self.r_en & self.r_rdy)))
        return m

    def _slice_control(self, m, index, w_en):
        """One slice's copy of the control state. Its registers lag the consumer by one
        cycle (last cycle's read is applied in this one); the values returned are this
        cycle's."""

        def register(name, **kwargs):
            return Signal(name=f"{name}_{index}", attrs={"keep": 1}, **kwargs)

        # The consumer's ready, registered as it is: the only path from it into the slice is
        # a route to this flip-flop. No reset: it only counts beside ``was_ready``.
        read_last = register("read_last", reset_less=True)
        was_ready = register("was_ready")  # r_rdy last cycle
        head_reg, tail = register("head"), register("tail")  # which output register
        full_reg, one_reg = register("full"), register("one")  # fill before last cycle's read
        # The storage's fill as a thermometer code (bit k: more than k entries), so that each
        # next bit is one LUT of its neighbours rather than an adder and a compare. Each slice
        # keeps its own: one code shared by the slices of a wide row is a route across the die.
        fill = register("stored", shape=self.storage_depth) if self.storage_depth else None
        stored = fill[0] if self.storage_depth else Const(0)

        taken = read_last & was_ready  # the head was read last cycle
        head = head_reg ^ taken
        full = full_reg & ~taken
        one = Mux(taken, full_reg, one_reg)
        ready = full | one
        # A free output register refills from the storage, or else from this cycle's write;
        # a write goes to the storage when it cannot go straight to an output register.
        refill = ~full & (stored | w_en)
        store = w_en & (stored | full)
        unstore = refill & stored
        full_next = full | (one & refill)
        one_next = Mux(refill, ~full & ~one, one)
        m.d.sync += [
            read_last.eq(self.r_en),
            was_ready.eq(ready),
            head_reg.eq(head),
            tail.eq(tail ^ refill),
            full_reg.eq(full_next),
            one_reg.eq(one_next),
        ]
        if self.storage_depth:
            with m.If(store & ~unstore):
                m.d.sync += fill.eq(Cat(1, fill[:-1]))
            with m.Elif(unstore & ~store):
                m.d.sync += fill.eq(fill[1:])
        return SimpleNamespace(
            ready=ready,
            head=head,
            tail=tail,
            refill=refill,
            stored=stored,
            store=store,
            unstore=unstore,
            full_next=full_next,
            one_next=one_next,
        )


class SystolicArray(wiring.Component):
    """An R×C weight-stationary array with input skew, output de-skew and a result FIFO.

    Stream protocol (``amaranth.lib.stream``; a beat transfers when ``valid & ready``):

    * ``weights``: R beats per fold; beat j holds row j of the fold's ``R×C`` weight tile.
      The beats of fold f+1 are accepted from the cycle fold f's first activation is accepted
      onwards, so they load while fold f computes. ``ready`` may depend on ``acts.valid``
      combinationally (it rises in the cycle a fold starts).
    * ``acts``: one row of A per beat (R codes of the fold's K chunk), ``last`` on the final
      row of each fold. The first row of a fold is accepted once all R weight beats of that
      fold are in; every row waits for a free slot in the result FIFO.
    * ``results``: one row of C partial sums per activation row, in order, ``last`` copied
      from the activation row. Backpressure here throttles ``acts``; nothing inside the array
      ever stalls or drops.

    Timing with no stalls: a row accepted at cycle t leaves ``results`` at ``t +``
    :attr:`latency`, and folds run back to back, one per ``max(M, rows)`` cycles
    (:func:`hdl.cycles.cycles_for`).

    Parameters
    ----------
    config : :class:`~hdl.config.ArrayConfig`
    pe_module : str or None
        ``None`` (default) elaborates every PE as an Amaranth submodule, which Amaranth's
        simulator runs and which a Verilog back end writes as one module per PE. A module
        name instantiates that module ``rows × cols`` times instead (:func:`pe_instance`):
        the Verilog then carries one PE definition, which the caller generates from
        :class:`~hdl.array.pe.ProcessingElement` under that name (:mod:`hdl.generate` does).
        Both give the same ports and the same cycle-by-cycle behaviour. An ``auto``
        configuration with both PE kinds instantiates a second module
        (:func:`pe_module_names`).

    PE ``(r, c)`` has the multiplier ``config.pe_multiplier(r, c)``; every kind has the
    same latency, so the array's timing is the same whichever PE has which.

    Members
    -------
    weights : In(stream.Signature(weight_row_layout(config)))
    acts : In(stream.Signature(act_row_layout(config)))
    results : Out(stream.Signature(result_row_layout(config)))
    """

    def __init__(self, config, *, pe_module=None):
        if pe_module is not None and not isinstance(pe_module, str):
            raise UsageTypeError(
                f"pe_module must be None or a module name, got {pe_module!r}",
                parameter="pe_module",
            )
        self._config = config
        self._arith = arithmetic_for(config)
        self._pe_ariths = {kind: arithmetic_for(config, kind) for kind in config.pe_kinds}
        self._pe_module = pe_module
        super().__init__(
            {
                "weights": In(stream.Signature(weight_row_layout(config))),
                "acts": In(stream.Signature(act_row_layout(config))),
                "results": Out(stream.Signature(result_row_layout(config))),
            }
        )

    @property
    def config(self):
        return self._config

    @property
    def pe_module(self):
        """Name of the instantiated PE module, or ``None`` for elaborated PEs."""
        return self._pe_module

    @property
    def latency(self):
        """Cycles from an accepted activation row to its result row on ``results``."""
        return array_latency(self._config)

    def _add_pe(self, m, name, kind, inputs):
        """Add PE ``name`` with multiplier ``kind`` to ``m`` with its inputs driven by
        ``inputs`` (port name → value); return an object whose attributes are its outputs
        (``a_out``, …, ``psum_out``)."""
        arith = self._pe_ariths[kind]
        if self._pe_module is None:
            m.submodules[name] = pe = ProcessingElement(arith=arith)
            m.d.comb += [getattr(pe, port).eq(value) for port, value in inputs.items()]
            return pe
        module = pe_module_names(self._config, self._pe_module)[kind]
        outputs, instance = pe_instance(pe_signature(arith), module, inputs, name=name)
        m.submodules[name] = instance
        return outputs

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols = cfg.rows, cfg.cols
        arith = self._arith

        # --- control: fold sequencing and result-slot credits --------------------------------
        shadow_beats = Signal(range(rows + 1))  # weight beats of the next fold loaded so far
        expect_fold_start = Signal(init=1)  # the next activation row is a fold's first
        # Rows accepted whose result slot has not come back yet (see slot_returned below).
        outstanding = Signal(range(cfg.result_fifo_depth + 1))

        # Registered flags keep the handshake loop (ready → fire → next state) free of counter
        # compares: shadow_full == (shadow_beats == rows), slot_free == (outstanding < depth).
        shadow_full = Signal()
        slot_free = Signal(init=1)
        m.d.comb += self.acts.ready.eq(slot_free & (~expect_fold_start | shadow_full))
        act_fire = self.acts.valid & self.acts.ready
        # act_fire & expect_fold_start, written from the registers themselves: four inputs, one
        # LUT4, rather than a LUT behind acts.ready, which fans out across the array.
        fold_start = self.acts.valid & expect_fold_start & slot_free & shadow_full
        # The shadow registers become free for the next fold in the cycle a fold starts.
        m.d.comb += self.weights.ready.eq(~shadow_full | fold_start)
        weight_fire = self.weights.valid & self.weights.ready

        # Every next state below is a choice between values computed from registers alone, so
        # the handshakes (which cross the whole array) only drive the last multiplexer: with a
        # fold start the count restarts at this cycle's beat, else it adds it.
        beats_before = Mux(fold_start, 0, shadow_beats)  # the tag of this cycle's weight beat
        beats_next = Signal.like(shadow_beats)
        m.d.comb += beats_next.eq(shadow_beats + 1)
        last_beat = shadow_beats == rows - 1  # from the register alone, off the loop
        with m.If(fold_start):
            m.d.sync += [
                shadow_beats.eq(self.weights.valid),
                shadow_full.eq(self.weights.valid & (rows == 1)),
            ]
        with m.Elif(weight_fire):
            m.d.sync += [shadow_beats.eq(beats_next), shadow_full.eq(shadow_full | last_beat)]
        with m.If(act_fire):
            m.d.sync += expect_fold_start.eq(self.acts.payload.last)

        # A delivered row returns its slot one cycle later, from registers: the credit count
        # sits with the input handshake, the result FIFO at the far end of the array, and no
        # path runs from one to the other and back within a cycle. Each half of the handshake
        # is registered on its own, so that a route across the array is all that precedes
        # either register. The slot is held one cycle longer, which the full-rate FIFO depth
        # includes (ArrayConfig.full_rate_fifo_depth).
        delivered_valid, delivered_ready = Signal(), Signal()
        m.d.sync += [
            delivered_valid.eq(self.results.valid),
            delivered_ready.eq(self.results.ready),
        ]
        slot_returned = delivered_valid & delivered_ready
        more, fewer = Signal.like(outstanding), Signal.like(outstanding)
        m.d.comb += [more.eq(outstanding + 1), fewer.eq(outstanding - 1)]
        below_last_slot = outstanding < cfg.result_fifo_depth - 1
        with m.If(act_fire & ~slot_returned):
            m.d.sync += [outstanding.eq(more), slot_free.eq(below_last_slot)]
        with m.Elif(slot_returned & ~act_fire):
            m.d.sync += [outstanding.eq(fewer), slot_free.eq(1)]

        # --- activation entry: operand decode, input register and skew ------------------------
        row_inputs = []
        for r in range(rows):
            code = self.acts.payload.data[r]
            operand = Signal(arith.act_operand_shape, name=f"act_operand_{r}", reset_less=True)
            switch = Signal(name=f"act_switch_{r}")
            m.d.sync += [
                operand.eq(
                    arith.act_operand(
                        m, code, self.acts.payload.act_unsigned, name=f"act_decoder_{r}"
                    )
                ),
                switch.eq(fold_start),
            ]
            # Row r enters r cycles late so that A[m, r] meets the partial sum from row r−1.
            skewed_operand = _delay(m, operand, r, f"act_skew_{r}")
            skewed_switch = _delay(m, switch, r, f"switch_skew_{r}", reset_less=False)
            row_inputs.append((skewed_operand, skewed_switch))

        # --- weight entry: input register, per-column skew and the row-tag pipeline ----------
        # At least one bit: a zero-width tag (rows == 1) becomes an invalid [-1:0] vector.
        # No reset: the tag only counts under weight_valid. A reset would join the fold start
        # on the register's synchronous reset input, one more LUT level on the handshake path.
        weight_tag = Signal(range(max(rows, 2)), name="weight_tag", reset_less=True)
        weight_valid = Signal(name="weight_valid")
        weight_row = Signal(weight_row_layout(cfg), name="weight_row", reset_less=True)
        # The row register loads every cycle (no enable fanned out from the handshake): a row
        # loaded without ``weight_valid`` is never written into a PE.
        m.d.sync += [
            weight_valid.eq(weight_fire),
            weight_tag.eq(beats_before),
            weight_row.eq(self.weights.payload),
        ]
        # Column c loads c cycles late, matching the diagonal wavefront of the switch.
        column_weights = [_delay(m, weight_row[c], c, f"weight_skew_{c}") for c in range(cols)]

        # --- the PE grid: each PE's inputs come from the array's edge or a neighbour --------
        pes = [[None] * cols for _ in range(rows)]
        row_loads = _row_load_flags(
            m, rows, weight_fire & (beats_before == 0), weight_valid, weight_tag
        )
        for r in range(rows):
            operand, switch = row_inputs[r]
            for c in range(cols):
                left = pes[r][c - 1] if c > 0 else None
                above = pes[r - 1][c] if r > 0 else None
                inputs = {
                    "a_in": operand if left is None else left.a_out,
                    "switch_in": switch if left is None else left.switch_out,
                    "w_load_in": row_loads[r] if left is None else left.w_load_out,
                    "w_in": column_weights[c] if above is None else above.w_out,
                    "psum_in": 0 if above is None else above.psum_out,
                }
                pes[r][c] = self._add_pe(m, f"pe_{r}_{c}", cfg.pe_multiplier(r, c), inputs)

        # --- output de-skew, valid pipeline and result FIFO ----------------------------------
        result_layout = result_row_layout(cfg)
        out_row = Signal(result_layout)
        for c in range(cols):
            column_sum = arith.column_resolve(m, pes[rows - 1][c].psum_out, name=f"resolve_{c}")
            m.d.comb += out_row.data[c].eq(_delay(m, column_sum, cols - 1 - c, f"deskew_{c}"))
        pipeline_stages = self.latency - 1  # the FIFO adds the last cycle
        m.d.comb += out_row.last.eq(_delay(m, self.acts.payload.last, pipeline_stages, "row_last"))

        m.submodules.result_fifo = result_fifo = ResultFifo(
            width=result_layout.size, depth=cfg.result_fifo_depth, write_enable_copies=True
        )
        # The valid pipeline's last register, once per FIFO slice: equal registers, kept
        # apart (``keep``, as the PEs' switch registers) so that each slice's write enable
        # starts beside it rather than at one register fanned out across the array.
        valid_before = _delay(m, act_fire, pipeline_stages - 1, "row_valid", reset_less=False)
        for index in range(result_fifo.slices):
            copy = Signal(name=f"row_valid_slice{index}", attrs={"keep": 1})
            m.d.sync += copy.eq(valid_before)
            m.d.comb += result_fifo.w_en[index].eq(copy)
        m.d.comb += [
            result_fifo.w_data.eq(out_row.as_value()),
            self.results.payload.eq(result_fifo.r_data),
            self.results.valid.eq(result_fifo.r_rdy),
            result_fifo.r_en.eq(self.results.ready),
        ]
        return m
