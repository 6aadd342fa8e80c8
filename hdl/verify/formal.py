"""Formal-proof harnesses (SymbiYosys, run by :func:`scripts.formal.prove`).

* :class:`Fp8ProductProof`: FP8 decoder + product against the golden decode table, every code
  pair (combinational).
* :class:`Int8PeProof`: the INT8 processing element against its documented timing and
  shadow-weight rules, every input sequence (k-induction: unbounded).
* :class:`Int8FoldProof`: one fold through an INT8 :class:`SystolicArray` against the golden
  sum at the cycles of the cycle model, every operand (bounded from reset, past the last
  result).

Free inputs are the harnesses' ports; the reset is assumed low; past values are registered by
hand (Amaranth 0.5 has no ``Past``).
"""

from amaranth.hdl import (
    Array,
    Assert,
    Assume,
    Cat,
    Const,
    Fragment,
    Module,
    Mux,
    ResetSignal,
    Signal,
    signed,
)
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from golden.fp8 import decode_table
from hdl.arith import CODE_SHAPE, Int8Arithmetic, arithmetic_for
from hdl.arith.fp8_decode import Fp8Decoder
from hdl.arith.mac_fp8 import Fp8Product, fp8_product_width
from hdl.array.array import SystolicArray
from hdl.array.pe import ProcessingElement
from hdl.cycles import cycles_for


def _rom(m, code, values, shape, name):
    out = Signal(shape, name=name)
    m.d.comb += out.eq(Array(Const(int(v), shape) for v in values)[code])
    return out


def _reference_operand(m, code, fmt, name):
    """ROMs of the golden decode table (docs/numerics.md §1.1) indexed by the code: significand
    (0 for specials), exponent offset above the format's smallest, NaN and Inf classes."""
    t = decode_table(fmt)
    special = t["is_nan"] | t["is_inf"]
    sig = [0 if special[c] else int(t["sig"][c]) for c in range(256)]
    offset = [int(e - t["exp"].min()) for e in t["exp"]]
    return (
        _rom(m, code, sig, range(max(sig) + 1), f"{name}_ref_sig"),
        _rom(m, code, offset, range(max(offset) + 1), f"{name}_ref_offset"),
        _rom(m, code, t["is_nan"], 1, f"{name}_ref_nan"),
        _rom(m, code, t["is_inf"], 1, f"{name}_ref_inf"),
    )


class Fp8ProductProof(wiring.Component):
    """Asserts, for all code pairs, that decoder + :class:`Fp8Product` equal a reference.

    The reference reads significand, exponent and class from ROMs of the golden decode table
    (not from the code's fields, as the decoder does), forms ``±(sig_a·sig_b) << (off_a +
    off_b)`` and derives the special flags from the table's classes and §2.5's rules. So the
    proof covers field extraction, hidden bit, subnormals, specials, alignment and sign.

    Members
    -------
    code_a, code_b : In(8)
        Left free for the solver.
    """

    code_a: In(8)
    code_b: In(8)

    def __init__(self, act_fmt, weight_fmt):
        self._act_fmt = act_fmt
        self._weight_fmt = weight_fmt
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.dec_a = dec_a = Fp8Decoder(self._act_fmt)
        m.submodules.dec_b = dec_b = Fp8Decoder(self._weight_fmt)
        m.submodules.product = product = Fp8Product(
            act_fmt=self._act_fmt, weight_fmt=self._weight_fmt
        )
        m.d.comb += [
            dec_a.code.eq(self.code_a),
            dec_b.code.eq(self.code_b),
            product.a.eq(dec_a.operand),
            product.w.eq(dec_b.operand),
        ]
        sig_a, off_a, nan_a, inf_a = _reference_operand(m, self.code_a, self._act_fmt, "a")
        sig_b, off_b, nan_b, inf_b = _reference_operand(m, self.code_b, self._weight_fmt, "b")
        width = fp8_product_width(self._act_fmt, self._weight_fmt) + 1
        magnitude = Signal(width)
        m.d.comb += magnitude.eq((sig_a * sig_b) << (off_a + off_b))
        negative = self.code_a[7] ^ self.code_b[7]
        ref = Signal(signed(width))
        m.d.comb += ref.eq(Mux(negative, -magnitude, magnitude))
        zero_a = (sig_a == 0) & ~nan_a & ~inf_a
        zero_b = (sig_b == 0) & ~nan_b & ~inf_b
        ref_nan = nan_a | nan_b | (inf_a & zero_b) | (inf_b & zero_a)
        ref_inf = (inf_a | inf_b) & ~ref_nan
        m.d.comb += [
            Assert(product.product == ref),
            Assert(product.nan == ref_nan),
            Assert(product.pinf == (ref_inf & ~negative)),
            Assert(product.ninf == (ref_inf & negative)),
            Assert(~Mux(product.nan | product.pinf | product.ninf, product.product != 0, 0)),
        ]
        return m


# --- sequential proofs ----------------------------------------------------------------------


def _past(m, value, cycles, name):
    """``value`` as it was ``cycles`` cycles ago: a hand-built ``Past()`` (Amaranth 0.5 has
    none). The registers have no reset; :func:`_cycles_elapsed` says when they are filled.
    Call it outside any ``m.If``: inside one the registers would only load under it."""
    for stage in range(cycles):
        reg = Signal(value.shape(), name=f"{name}_past{stage + 1}", reset_less=True)
        m.d.sync += reg.eq(value)
        value = reg
    return value


def _cycles_elapsed(m, cycles, name):
    """A flag that is 0 in the first ``cycles`` cycles after the initial state, then 1."""
    flag = Const(1)
    for stage in range(cycles):
        reg = Signal(name=f"{name}_{stage + 1}", init=0)
        m.d.sync += reg.eq(flag)
        flag = reg
    return flag


def _driven_signal(fragment, name, domain="sync"):
    """The signal called ``name`` that ``fragment``'s own ``domain`` statements assign.

    Lets a proof relate a block's internal registers to a reference model (the strengthening
    that makes k-induction close) without the block exporting them.
    """
    found = []

    def walk(statements):
        for stmt in statements:
            if hasattr(stmt, "cases"):  # a Switch: If/Elif/Else and Switch/Case bodies
                for _patterns, body, _src_loc in stmt.cases:
                    walk(body)
            elif isinstance(getattr(stmt, "lhs", None), Signal) and stmt.lhs.name == name:
                found.append(stmt.lhs)

    walk(fragment.statements.get(domain, ()))
    signals = {id(s): s for s in found}
    if len(signals) != 1:
        raise LookupError(
            f"expected one {domain} signal named {name!r} in the fragment, found {len(signals)}"
        )
    return found[0]


class Int8PeProof(wiring.Component):
    """Proves an INT8 :class:`ProcessingElement` equal to a reference of its documented timing.

    Every input is free in every cycle (the ports are the proof's inputs) and the reset is
    assumed low (it only clears the two pass-through control bits). A reference beside the PE
    keeps its own shadow and stationary weight by the documented rules: ``w_load_in``
    captures ``w_in`` into the shadow; in a ``switch_in`` cycle the active weight is the
    shadow and the shadow is copied into the stationary weight, reading the old shadow when a
    shadow write happens in the same cycle. The property, with L = ``arith.mac_latency`` and
    ``w(t)`` the reference's active weight in cycle t:

    * ``psum_out(s+1) = wrap(psum_in(s) + a_in(s−L)·w(s−L), W)`` once that weight was ever
      loaded (so with the operand register the weight is the one selected in the cycle the
      activation arrived);
    * ``a_out``, ``w_out``, ``switch_out`` and ``w_load_out`` are the inputs one cycle earlier;
    * the PE's shadow and stationary registers equal the reference's once loaded (the
      strengthening that lets k-induction close; found by name among the PE's statements).

    Run in ``prove`` mode (k-induction) at :attr:`depth`, it holds in every reachable state,
    for unbounded time, whatever the reset-less data registers power up with.

    The partial-sum assertion comes in two forms. ``direct=True`` states it as above, with
    the reference's own multiplier on the delayed inputs; it is the plainest statement but
    the induction must then prove two separately built multipliers equal, which takes yices
    half a minute to two minutes. ``direct=False`` (the default) splits it at the multiplier:
    the reference multiplies the operands the PE holds in the multiplier's cycle (with the operand
    register: ``a_out`` and the registered weight ``mac_weight``, each asserted equal to its
    input one cycle earlier; else ``a_in`` and the weight the switch rule selects from the
    PE's shadow and stationary registers, asserted equal to the reference's) and delays and
    adds the product through its own pipeline. This form checks the partial sum whatever the
    weight registers hold; with the register assertions it implies the direct form, and the
    proof takes seconds.

    Parameters
    ----------
    arith : :class:`~hdl.arith.Int8Arithmetic`
        Width W and MAC pipeline of the PE. A narrow W (e.g. 18) keeps the solver fast and
        loses nothing: the datapath has the same structure at every width.
    direct : bool
        State the partial sum with an independent multiplier (see above).
    pe : elaboratable or None
        The PE under proof, by default ``ProcessingElement(arith=arith)``. It must assign
        registers named ``shadow_weight``, ``weight`` and, with the operand register,
        ``mac_weight`` in its ``sync`` domain.

    Members
    -------
    a_in : In(signed(9))
    switch_in, w_load_in : In(1)
    w_in : In(8)
    psum_in : In(signed(W))
        The PE's inputs, free in every cycle.
    """

    def __init__(self, arith, *, direct=False, pe=None):
        if not isinstance(arith, Int8Arithmetic):
            raise TypeError(f"arith must be an Int8Arithmetic, got {arith!r}")
        self._arith = arith
        self._direct = bool(direct)
        self._pe = ProcessingElement(arith=arith) if pe is None else pe
        super().__init__(
            {
                "a_in": In(arith.act_operand_shape),
                "switch_in": In(1),
                "w_in": In(CODE_SHAPE),
                "w_load_in": In(1),
                "psum_in": In(arith.psum_shape),
            }
        )

    @property
    def depth(self):
        """k-induction depth, L + 3. The induction closes at L + 1, the partial sum's lag; two
        more steps let the base case load a weight, switch to it and check its product, so a
        wrong PE yields a counterexample (``FAIL``) rather than an inconclusive induction
        (``UNKNOWN``)."""
        return self._arith.mac_latency + 3

    def elaborate(self, platform):
        m = Module()
        arith = self._arith
        pe = self._pe
        fragment = Fragment.get(pe, platform)
        m.submodules.pe = fragment
        m.d.comb += [
            Assume(~ResetSignal()),
            pe.a_in.eq(self.a_in),
            pe.switch_in.eq(self.switch_in),
            pe.w_in.eq(self.w_in),
            pe.w_load_in.eq(self.w_load_in),
            pe.psum_in.eq(self.psum_in),
        ]

        # Reference weights; "known" once written, so power-up contents are never compared.
        ref_shadow = Signal(CODE_SHAPE, reset_less=True)
        ref_weight = Signal(CODE_SHAPE, reset_less=True)
        shadow_known = Signal(reset_less=True)
        weight_known = Signal(reset_less=True)
        with m.If(self.w_load_in):
            m.d.sync += [ref_shadow.eq(self.w_in), shadow_known.eq(1)]
        with m.If(self.switch_in):
            m.d.sync += [ref_weight.eq(ref_shadow), weight_known.eq(shadow_known)]
        # The PE keeps its weights as multiplier operands (the code decoded on load).
        shadow = _driven_signal(fragment, "shadow_weight")
        weight = _driven_signal(fragment, "weight")
        m.d.comb += [
            Assert(~shadow_known | (shadow == arith.weight_operand(m, ref_shadow))),
            Assert(~weight_known | (weight == arith.weight_operand(m, ref_weight))),
        ]

        lag = arith.mac_latency + 1  # the MAC's pipeline plus the partial-sum register
        links = [
            (pe.a_out, _past(m, self.a_in, 1, "a_link")),
            (pe.w_out, _past(m, self.w_in, 1, "w_link")),
            (pe.switch_out, _past(m, self.switch_in, 1, "switch_link")),
            (pe.w_load_out, _past(m, self.w_load_in, 1, "w_load_link")),
        ]
        with m.If(_cycles_elapsed(m, 1, "links_filled")):
            m.d.comb += [Assert(out == before) for out, before in links]

        expected = Signal(arith.psum_shape)
        if self._direct:
            ref_active = Mux(self.switch_in, ref_shadow, ref_weight)
            active_known = Mux(self.switch_in, shadow_known, weight_known)
            a_then = _past(m, self.a_in, lag, "a_in")
            w_then = _past(m, ref_active, lag, "ref_active")
            check = _past(m, active_known, lag, "active_known")
            psum_before = _past(m, self.psum_in, 1, "psum_in")
            m.d.comb += expected.eq(psum_before + a_then * w_then.as_signed())  # W-bit wrap
        else:
            # The weight the switch rule selects, read from the PE's registers (pinned above).
            selected = Mux(self.switch_in, shadow, weight).as_signed()
            if arith.operand_register:
                mac_weight = _driven_signal(fragment, "mac_weight")
                m.d.comb += Assert(mac_weight == _past(m, selected, 1, "selected"))
                mac_a, mac_w = pe.a_out, mac_weight  # a_out is pinned by its link assertion
            else:
                mac_a, mac_w = self.a_in, selected
            product = Signal(signed(len(mac_a) + len(mac_w)))
            m.d.comb += product.eq(mac_a * mac_w)
            product = _past(m, product, int(arith.product_register), "product")
            psum_next = Signal(arith.psum_shape)
            m.d.comb += psum_next.eq(self.psum_in + product)  # W-bit wrap
            m.d.comb += expected.eq(_past(m, psum_next, 1, "psum_next"))
            check = Const(1)
        with m.If(_cycles_elapsed(m, lag, "mac_filled") & check):
            m.d.comb += Assert(pe.psum_out == expected)
        return m


def _subfragment(fragment, name):
    """The subfragment that ``fragment`` adds as submodule ``name``."""
    for subfragment, sub_name, _src_loc in fragment.subfragments:
        if sub_name == name:
            return subfragment
    raise LookupError(f"no submodule named {name!r} in the fragment")


class Int8FoldProof(wiring.Component):
    """One fold through an INT8 :class:`SystolicArray`, checked against the golden sum.

    A driver inside the harness streams the fold with no stalls: R weight beats, then M
    activation rows (``last`` on the final one), with ``results`` always ready. The weight
    tile, the activation rows, each row's ``act_unsigned`` and M (1 to ``max_rows``) are the
    harness's ports: whatever they hold in the first cycle is captured and used throughout
    (constants the solver picks). The property, in every cycle:

    * ``results.valid`` is high exactly in the cycles the cycle model gives for the rows'
      results: row i leaves in the last cycle of the GEMM made of rows 0..i,
      ``cycles_for(config, (i + 1, R, C)) − 1``;
    * result row i holds ``wrap(Σ_k a[i,k]·w[k,n], W)`` for every column n, with ``a``
      sign- or zero-extended as its row's ``act_unsigned`` says, and ``last`` on row M−1 only.

    A bounded model check of :attr:`depth` steps from the reset state covers every value of
    the ports and every M, and runs two cycles past the last possible result, so a late,
    early, missing, extra or wrong result row fails it. It is complete for one fold from
    reset (every cycle in which the fold produces an output lies inside the bound); it says
    nothing about later folds.

    The sum comes in two forms, as in :class:`Int8PeProof`. ``direct=True`` compares each
    result with ``Σ_k a·w`` built from the captured operands by the harness's own
    multipliers: yices must then prove those equal to the array's, about a minute per
    product, so only the smallest arrays finish. ``direct=False`` (the default) splits the
    sum at the multipliers: in the cycle row i's operands reach the multiplier of PE(k, n)
    (the row's acceptance cycle, then the input register, k skew stages, n hops and the
    operand register: a schedule the harness asserts, it assumes nothing), it asserts that
    the multiplier's inputs are ``a[i,k]`` (extended) and ``w[k,n]`` and records their
    product; each result must then equal the wrapped sum of its R recorded products. The
    assertions together imply the direct form, and the check takes seconds.

    Parameters
    ----------
    config : :class:`~hdl.config.ArrayConfig`
        An INT8 configuration, small: the split form proves a 3×3 array in seconds, the
        direct form only the smallest ones.
    max_rows : int
        Largest M, 1 to 8.
    direct : bool
        Compare with the harness's own multipliers (see above).
    array : elaboratable or None
        The array under proof, by default ``SystolicArray(config)``; it must have a
        ``latency`` and submodules ``pe_{r}_{c}``, each with a ``mac`` holding ports ``a``
        and ``w``.

    Members
    -------
    weight_tile : In(ArrayLayout(ArrayLayout(8, C), R))
        Row k holds the weight codes of array row k.
    act_rows : In(ArrayLayout(ArrayLayout(8, R), max_rows))
        Activation codes of rows 0..max_rows−1 (rows from M on are not sent).
    act_unsigned : In(max_rows)
        Bit i: row i is uint8 (else int8).
    m_rows : In(range(max_rows + 1))
        M; assumed between 1 and ``max_rows``.
    """

    def __init__(self, config, *, max_rows=3, direct=False, array=None):
        if config.mac != "int8":
            raise ValueError(f"config.mac must be int8, got {config.mac!r}")
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not 1 <= max_rows <= 8:
            raise ValueError(f"max_rows must be between 1 and 8, got {max_rows!r}")
        self._config = config
        self._max_rows = max_rows
        self._direct = bool(direct)
        self._array = SystolicArray(config) if array is None else array
        super().__init__(
            {
                "weight_tile": In(
                    data.ArrayLayout(data.ArrayLayout(CODE_SHAPE, config.cols), config.rows)
                ),
                "act_rows": In(
                    data.ArrayLayout(data.ArrayLayout(CODE_SHAPE, config.rows), max_rows)
                ),
                "act_unsigned": In(max_rows),
                "m_rows": In(range(max_rows + 1)),
            }
        )

    def result_cycles(self):
        """Cycle (from the first weight beat, 0) in which result row i leaves, i < max_rows."""
        cfg = self._config
        return [cycles_for(cfg, (i + 1, cfg.rows, cfg.cols)) - 1 for i in range(self._max_rows)]

    @property
    def depth(self):
        """BMC steps: through the last possible result row and two cycles beyond it."""
        return self.result_cycles()[-1] + 3

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols, max_rows = cfg.rows, cfg.cols, self._max_rows
        arith = arithmetic_for(cfg)
        array = self._array
        array_fragment = Fragment.get(array, platform)
        m.submodules.array = array_fragment
        m.d.comb += Assume(~ResetSignal())

        # Free constants: the ports' values in cycle 0, held from then on. (Registers, not
        # assumptions on the ports, so the driver and the checks read the same state.)
        first_cycle = Signal(init=1)
        m.d.sync += first_cycle.eq(0)
        free = {}
        for name in ("weight_tile", "act_rows", "act_unsigned", "m_rows"):
            port = getattr(self, name)
            held = Signal.like(port, name=f"{name}_held", reset_less=True)
            with m.If(first_cycle):
                m.d.sync += held.eq(port)
            free[name] = Signal.like(port, name=f"{name}_value")
            m.d.comb += free[name].eq(Mux(first_cycle, port, held))
        weight_tile, act_rows = free["weight_tile"], free["act_rows"]
        act_unsigned, m_rows = free["act_unsigned"], free["m_rows"]
        m.d.comb += Assume((m_rows >= 1) & (m_rows <= max_rows))

        # --- the driver: R weight beats, then M activation rows, results always ready ---------
        beats_sent = Signal(range(rows + 1))
        rows_sent = Signal(range(max_rows + 1))
        m.d.comb += [
            array.weights.valid.eq(beats_sent < rows),
            array.weights.payload.eq(Array(weight_tile)[beats_sent]),
            array.acts.valid.eq(rows_sent < m_rows),
            array.acts.payload.data.eq(Array(act_rows)[rows_sent]),
            array.acts.payload.act_unsigned.eq(act_unsigned.bit_select(rows_sent, 1)),
            array.acts.payload.last.eq(rows_sent == m_rows - 1),
            array.results.ready.eq(1),
        ]
        with m.If(array.weights.valid & array.weights.ready):
            m.d.sync += beats_sent.eq(beats_sent + 1)
        with m.If(array.acts.valid & array.acts.ready):
            m.d.sync += rows_sent.eq(rows_sent + 1)

        cycle = Signal(range(self.depth + 1))
        with m.If(cycle < self.depth):
            m.d.sync += cycle.eq(cycle + 1)
        result_cycles = self.result_cycles()

        # --- the golden fold: Σ_k a[i,k]·w[k,n], wrapped to W bits (numerics §3.2) ---------
        def act(i, k):
            code = act_rows[i][k]
            return Mux(act_unsigned[i], code.as_unsigned(), code.as_signed())

        golden = [[None] * cols for _ in range(max_rows)]
        for i in range(max_rows):
            for n in range(cols):
                if self._direct:
                    terms = [act(i, k) * weight_tile[k][n].as_signed() for k in range(rows)]
                else:
                    terms = self._recorded_products(
                        m, array, array_fragment, arith, cycle, m_rows, act, weight_tile, i, n
                    )
                golden[i][n] = Signal(arith.psum_shape, name=f"golden_{i}_{n}")
                m.d.comb += golden[i][n].eq(sum(terms))  # truncation to W bits is the wrap

        # --- the checks ------------------------------------------------------------------------
        results_seen = Signal(range(max_rows + 1))
        with m.If(array.results.valid):
            m.d.sync += results_seen.eq(results_seen + 1)
        expected_valid = Signal()
        m.d.comb += expected_valid.eq(
            Cat((cycle == t) & (i < m_rows) for i, t in enumerate(result_cycles)).any()
        )
        m.d.comb += Assert(array.results.valid == expected_valid)
        with m.If(array.results.valid):
            for i in range(max_rows):
                with m.If(results_seen == i):
                    m.d.comb += Assert(array.results.payload.last == (i == m_rows - 1))
                    m.d.comb += [
                        Assert(array.results.payload.data[n] == golden[i][n]) for n in range(cols)
                    ]
        return m

    def _recorded_products(
        self, m, array, array_fragment, arith, cycle, m_rows, act, weight_tile, i, n
    ):
        """Products of row i's operands at the multipliers of column n, recorded in the cycle
        they are there, with the operands asserted to be ``a[i,k]`` and ``w[k,n]``."""
        accepted = self.result_cycles()[i] - array.latency
        products = []
        for k in range(self._config.rows):
            pe = _subfragment(array_fragment, f"pe_{k}_{n}")
            mac = _subfragment(pe, "mac").origins[0]
            at_multiplier = accepted + 1 + k + n + int(arith.operand_register)
            here = Signal(name=f"row{i}_at_mac_{k}_{n}")
            m.d.comb += here.eq((cycle == at_multiplier) & (i < m_rows))
            with m.If(here):
                m.d.comb += [
                    Assert(mac.a == act(i, k)),
                    Assert(mac.w == weight_tile[k][n].as_signed()),
                ]
            product = Signal(signed(len(mac.a) + len(mac.w)), name=f"product_{i}_{k}_{n}")
            with m.If(cycle == at_multiplier):
                m.d.sync += product.eq(mac.a * mac.w)
            products.append(product)
        return products
