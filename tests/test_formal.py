# amaranth: UnusedElaboratable=no
"""SymbiYosys proofs (yices) of the datapath: the FP8 decoder and product for every code pair,
the INT8 PE for every input sequence (k-induction, unbounded), and one fold of a 2×2 INT8
array for every operand and M ≤ 3 (bounded from reset, past the last result). Planted bugs
(mutants of the PE and of the array's skew and tag pipelines) must make each proof fail with a
counterexample, so the proofs are known to see what they claim to."""

import pytest
from amaranth.hdl import Fragment, Mux, Signal

import hdl.array.array as array_module
from hdl.arith import Fp8Arithmetic, Int8Arithmetic
from hdl.array.pe import ProcessingElement
from hdl.config import ArrayConfig
from hdl.verify.formal import Fp8ProductProof, Int8FoldProof, Int8PeProof
from scripts.formal import DEFAULT_ENGINE, PE_ACC_WIDTH, RESTARTING_ENGINE, prove

pytestmark = pytest.mark.formal

PAIRS = [("e4m3", "e4m3"), ("e5m2", "e5m2"), ("e4m3", "e5m2")]
MAC_PIPELINES = [0, 1, 2]
#: One fold of a 2×2 array, M = 1 … FOLD_MAX_ROWS activation rows.
FOLD_MAX_ROWS = 3
#: Seconds before a proof is stopped: the default ones take seconds, the slow ones minutes
#: (about two alone, several beside other jobs on two cores).
TIMEOUT = 1200


def run_proof(harness, name, tmp_path, mode, engine=DEFAULT_ENGINE):
    depth = getattr(harness, "depth", 1)
    return prove(harness, name, tmp_path, mode=mode, depth=depth, engine=engine, timeout=TIMEOUT)


def run_pe_proof(harness, name, tmp_path):
    """k-induction of a PE harness, with the engine that is fast for it."""
    return run_proof(harness, name, tmp_path, "prove", RESTARTING_ENGINE)


def fold_config(mac_pipeline=2):
    return ArrayConfig(rows=2, cols=2, max_k=2, mac_pipeline=mac_pipeline)


# --- FP8 decoder + product --------------------------------------------------------------------


@pytest.mark.parametrize(("fa", "fb"), PAIRS, ids=lambda f: f)
def test_formal_fp8_product(fa, fb, tmp_path):
    """Decoder + product equal a wide-multiply reference for every code pair (depth-1 BMC of a
    combinational harness: complete)."""
    result = run_proof(Fp8ProductProof(fa, fb), f"product_{fa}_{fb}", tmp_path, "bmc")
    assert result.passed, result.log[-3000:]


# --- INT8 processing element ------------------------------------------------------------------


@pytest.mark.parametrize("mac_pipeline", MAC_PIPELINES)
def test_formal_pe_int8_inductive(mac_pipeline, tmp_path):
    """k-induction closes: the PE matches its documented timing in every reachable state."""
    arith = Int8Arithmetic(PE_ACC_WIDTH, mac_pipeline=mac_pipeline)
    result = run_pe_proof(Int8PeProof(arith), f"pe_p{mac_pipeline}", tmp_path)
    assert result.passed, result.log[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("mac_pipeline", MAC_PIPELINES)
def test_formal_pe_int8_direct(mac_pipeline, tmp_path):
    """The same with the partial sum stated through the harness's own multiplier (40–70 s)."""
    arith = Int8Arithmetic(PE_ACC_WIDTH, mac_pipeline=mac_pipeline)
    harness = Int8PeProof(arith, direct=True)
    result = run_pe_proof(harness, f"pe_direct_p{mac_pipeline}", tmp_path)
    assert result.passed, result.log[-3000:]


class MutantPE(ProcessingElement):
    """A ProcessingElement whose elaborated statements ``mutate(pe, fragment)`` rewrites."""

    def __init__(self, *, arith, mutate):
        self._mutate = mutate
        super().__init__(arith=arith)

    def elaborate(self, platform):
        fragment = Fragment.get(super().elaborate(platform), platform)
        self._mutate(self, fragment)
        return fragment


def _assigns(statement, name):
    """Whether ``statement`` (an assignment or a switch) assigns the signal called ``name``."""
    if hasattr(statement, "cases"):
        return any(_assigns(s, name) for _patterns, body, _loc in statement.cases for s in body)
    return getattr(statement.lhs, "name", None) == name


def _replace(fragment, domain, name, rewrite):
    """Replace the statement of ``domain`` that assigns ``name`` by ``rewrite(statement)``."""
    statements = fragment.statements[domain]
    (index,) = [i for i, s in enumerate(statements) if _assigns(s, name)]
    statements[index] = rewrite(statements[index])


def _first_assignment(switch):
    return switch.cases[0][1][0]


def _switch_keeps_weight(pe, fragment):
    # The switch no longer copies the shadow into the stationary weight.
    def rewrite(switch):
        weight = _first_assignment(switch).lhs
        return weight.eq(weight)

    _replace(fragment, "sync", "weight", rewrite)


def _switch_uses_stationary(pe, fragment):
    # In a switch cycle the MAC multiplies by the old stationary weight, not the shadow.
    def rewrite(assign):
        active = assign.lhs
        return active.eq(assign.rhs.cases[0][1])  # the switch-off branch: the stationary weight

    _replace(fragment, "comb", "active_weight", rewrite)


def _switch_reads_new_shadow(pe, fragment):
    # A shadow write and a switch in one cycle: the MAC takes the weight being written.
    def rewrite(assign):
        stationary, shadow = (value for _patterns, value in assign.rhs.cases)
        fresh = Mux(pe.w_load_in, pe.w_in, shadow)
        return assign.lhs.eq(Mux(pe.switch_in, fresh, stationary))

    _replace(fragment, "comb", "active_weight", rewrite)


def _shadow_ignores_load(pe, fragment):
    # The shadow captures w_in every cycle, w_load or not.
    _replace(fragment, "sync", "shadow_weight", _first_assignment)


PE_MUTANTS = {
    "switch_keeps_weight": _switch_keeps_weight,
    "switch_uses_stationary": _switch_uses_stationary,
    "switch_reads_new_shadow": _switch_reads_new_shadow,
    "shadow_ignores_load": _shadow_ignores_load,
}


@pytest.mark.parametrize("mutant", PE_MUTANTS)
def test_formal_pe_int8_catches_mutant(mutant, tmp_path):
    arith = Int8Arithmetic(PE_ACC_WIDTH, mac_pipeline=2)
    pe = MutantPE(arith=arith, mutate=PE_MUTANTS[mutant])
    result = run_pe_proof(Int8PeProof(arith, pe=pe), f"pe_{mutant}", tmp_path)
    assert result.status == "FAIL", result.log[-3000:]


class HiddenProductRegister(Int8Arithmetic):
    """Claims ``mac_pipeline=0`` (no MAC latency) but builds a MAC with a product register."""

    def create_mac(self):
        from hdl.arith.mac_int8 import Int8Mac

        return Int8Mac(acc_width=self.acc_width, product_register=True)


def test_formal_pe_int8_catches_unreported_latency(tmp_path):
    arith = HiddenProductRegister(PE_ACC_WIDTH, mac_pipeline=0)
    result = run_pe_proof(Int8PeProof(arith), "pe_hidden_latency", tmp_path)
    assert result.status == "FAIL", result.log[-3000:]


# --- one fold of a 2×2 INT8 array -------------------------------------------------------------


@pytest.mark.parametrize("mac_pipeline", MAC_PIPELINES)
def test_formal_fold_int8(mac_pipeline, tmp_path):
    """Every operand, every act_unsigned, M = 1..3: results bit-exact at the modelled cycles."""
    harness = Int8FoldProof(fold_config(mac_pipeline), max_rows=FOLD_MAX_ROWS)
    result = run_proof(harness, f"fold_p{mac_pipeline}", tmp_path, "bmc")
    assert result.passed, result.log[-3000:]


@pytest.mark.slow
def test_formal_fold_int8_direct(tmp_path):
    """The fold against the harness's own multipliers, on the smallest array with a sum (2×1,
    one row: about 130 s)."""
    config = ArrayConfig(rows=2, cols=1, max_k=2)
    harness = Int8FoldProof(config, max_rows=1, direct=True)
    result = run_proof(harness, "fold_direct", tmp_path, "bmc")
    assert result.passed, result.log[-3000:]


def _shortened(name):
    # A skew, de-skew or tag delay line one register short.
    def delay(m, value, cycles, delay_name, **kwargs):
        return ORIGINAL_DELAY(m, value, cycles - (delay_name == name), delay_name, **kwargs)

    return delay


def _row1_compares_wrong_tag(m, rows, first_row_next, weight_valid, weight_tag):
    # Row 1's load flag compares the tag inverted: it captures row 0's weights.
    flags = ORIGINAL_ROW_LOADS(m, rows, first_row_next, weight_valid, weight_tag)
    wrong = Signal(name="weight_load_row1_wrong")
    m.d.sync += wrong.eq(weight_valid & (~weight_tag == 1))
    return [flags[0], wrong, *flags[2:]]


ORIGINAL_DELAY = array_module._delay
ORIGINAL_ROW_LOADS = array_module._row_load_flags
#: Each mutant replaces one helper of the array module: (helper, replacement).
ARRAY_MUTANTS = {
    "switch_skew_short": ("_delay", _shortened("switch_skew_1")),
    "weight_skew_short": ("_delay", _shortened("weight_skew_1")),
    "act_skew_short": ("_delay", _shortened("act_skew_1")),
    "deskew_short": ("_delay", _shortened("deskew_0")),
    "row1_wrong_tag": ("_row_load_flags", _row1_compares_wrong_tag),
}


@pytest.mark.parametrize("direct", [False, True], ids=["split", "direct"])
@pytest.mark.parametrize("mutant", ARRAY_MUTANTS)
def test_formal_fold_int8_catches_mutant(mutant, direct, tmp_path, monkeypatch):
    """Both forms find a counterexample (fast: a wrong result is easy to exhibit)."""
    monkeypatch.setattr(array_module, *ARRAY_MUTANTS[mutant])
    harness = Int8FoldProof(fold_config(), max_rows=1 if direct else FOLD_MAX_ROWS, direct=direct)
    result = run_proof(harness, f"fold_{mutant}", tmp_path, "bmc")
    assert result.status == "FAIL", result.log[-3000:]


def test_formal_fold_int8_catches_uint8_read_as_int8(tmp_path, monkeypatch):
    """act_unsigned is free: an array that sign-extends uint8 activations fails."""
    monkeypatch.setattr(
        Int8Arithmetic, "act_operand", lambda self, m, code, act_unsigned, *, name: code.as_signed()
    )
    harness = Int8FoldProof(fold_config(), max_rows=FOLD_MAX_ROWS)
    result = run_proof(harness, "fold_uint8_as_int8", tmp_path, "bmc")
    assert result.status == "FAIL", result.log[-3000:]


# --- argument checks --------------------------------------------------------------------------


def test_formal_harness_arguments():
    with pytest.raises(TypeError, match="arith must be an Int8Arithmetic"):
        Int8PeProof(Fp8Arithmetic("e4m3", 49))
    with pytest.raises(ValueError, match="config.mac must be int8, got 'e4m3'"):
        Int8FoldProof(ArrayConfig(rows=2, cols=2, mac="e4m3"))
    with pytest.raises(ValueError, match="max_rows must be between 1 and 8, got 0"):
        Int8FoldProof(fold_config(), max_rows=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "cover"}, "mode must be one of bmc, prove, got 'cover'"),
        ({"depth": 0}, "depth must be a positive integer, got 0"),
    ],
)
def test_formal_prove_arguments(options, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        prove(Fp8ProductProof("e4m3", "e4m3"), "bad", tmp_path, **options)
