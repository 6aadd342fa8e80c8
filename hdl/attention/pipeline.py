"""Pieces shared by the attention units' pipelines: elastic stages, rounding shifts, sums."""

from amaranth.hdl import Mux, Signal, signed


def stage(m, *, valid_in, ready_out, name):
    """One register stage of an elastic (stallable) pipeline.

    The stage holds a beat while ``valid`` is high and takes the next one whenever it is empty
    or its beat moves on (``ready_in = ~valid | ready_out``), so a pipeline of such stages
    runs one beat per cycle, fills its bubbles and keeps every beat under backpressure.

    Parameters
    ----------
    m : Module
    valid_in : Value
        A beat is offered to the stage.
    ready_out : Value
        The next stage (or the output stream) takes this stage's beat.
    name : str
        Prefix of the stage's signals.

    Returns
    -------
    valid, ready_in, load : Signal
        ``load`` (= ``valid_in & ready_in``) is high when the stage's data registers must
        take the offered beat; ``ready_in`` is the stage's ready towards its producer.
    """
    valid = Signal(name=f"{name}_valid")
    ready_in = Signal(name=f"{name}_ready")
    load = Signal(name=f"{name}_load")
    m.d.comb += [ready_in.eq(~valid | ready_out), load.eq(valid_in & ready_in)]
    with m.If(ready_in):
        m.d.sync += valid.eq(valid_in)
    return valid, ready_in, load


def shift_right_window(m, x, amount, width, *, name):
    """The low ``width`` bits of ``x >> amount`` (arithmetic) for a run-time ``amount``, as a
    logarithmic shifter that applies the largest shift first and keeps only the bits the
    later stages still need: ``width + 2^k − 1`` after the stage that shifts by ``2^k``.

    A generic shifter carries all of ``x`` through every stage; when only a window of the
    result is wanted (a quotient, an int8 before its clamp) this one needs far fewer
    multiplexers, e.g. 117 instead of 336 for a 10-bit window of a 56-bit value.

    Parameters
    ----------
    m : Module
    x : Value
        Signed.
    amount : Value
        Unsigned; every value its width allows is supported.
    width : int
        Bits of the result.
    name : str

    Returns
    -------
    Signal(signed(width))
        ``x >> amount`` modulo ``2^width`` (the exact value when it fits).
    """
    value = x.as_signed()
    for k in reversed(range(len(amount))):
        # The shifts still to come total at most 2^k − 1; bits above the value's own width
        # would only repeat its sign.
        keep = min(width + (1 << k) - 1, len(value))
        shifted = Signal(signed(keep), name=f"{name}_s{1 << k}")
        # .eq sign-extends a source narrower than `keep` and truncates a wider one.
        m.d.comb += shifted.eq(Mux(amount[k], value >> (1 << k), value))
        value = shifted
    result = Signal(signed(width), name=name)
    m.d.comb += result.eq(value)
    return result


def shift_round_half_up(m, x, shift_minus_one, width, *, name):
    """``(x + 2^(n−1)) >> n`` for a signed ``x`` and a run-time ``n ≥ 1``, as
    ``((x >> (n − 1)) + 1) >> 1``.

    Writing ``x = a·2^(n−1) + r`` with ``0 ≤ r < 2^(n−1)``, both sides equal
    ``floor((a + 1) / 2)``: no rounding constant has to be decoded from ``n`` and the
    variable shift is one bit shorter. The shift is :func:`shift_right_window` of
    ``width + 1`` bits, so a narrow result costs a narrow shifter.

    Parameters
    ----------
    m : Module
    x : Value
        Signed.
    shift_minus_one : Value
        ``n − 1``, unsigned.
    width : int
        Width of the result (signed); the caller guarantees it holds it.
    name : str

    Returns
    -------
    Signal(signed(width))
    """
    window = shift_right_window(m, x, shift_minus_one, width + 1, name=f"{name}_window")
    result = Signal(signed(width), name=name)
    m.d.comb += result.eq((window + 1) >> 1)
    return result


def adder_tree(values):
    """The sum of ``values`` as a balanced tree of two-input adders (log2 depth), each adder
    one bit wider than its operands."""
    values = list(values)
    while len(values) > 1:
        values = [
            values[i] + values[i + 1] if i + 1 < len(values) else values[i]
            for i in range(0, len(values), 2)
        ]
    return values[0]


def max_tree(pairs):
    """``(any, max)`` over ``(valid, value)`` pairs, as a balanced tree of compare-and-select
    nodes; ``max`` is meaningful only when ``any`` is high."""
    pairs = list(pairs)
    while len(pairs) > 1:
        merged = []
        for i in range(0, len(pairs), 2):
            if i + 1 == len(pairs):
                merged.append(pairs[i])
                continue
            (va, a), (vb, b) = pairs[i], pairs[i + 1]
            take_b = vb & (~va | (b > a))
            merged.append((va | vb, Mux(take_b, b, a)))
        pairs = merged
    return pairs[0]
