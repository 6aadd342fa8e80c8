"""The testbench's own parts, in plain Python: the checker that compares hardware with golden,
the assembly of per-fold partial sums, the payload codec, the pause patterns, and the
reference GEMM of ``conftest``. A checker that cannot see a wrong column passes everything."""

import itertools
import random

import ml_dtypes
import numpy as np
import pytest
from amaranth.lib import data
from conftest import fp8_codes, fp8_value, operands, reference_gemm

from golden import split_folds
from hdl.array.accumulator import output_row_layout
from hdl.array.layouts import act_row_layout, result_row_layout, weight_row_layout
from hdl.config import ArrayConfig
from tb.array_driver import check_job, job_stream_options, job_timeout
from tb.drivers.pause import BurstPause, CyclicPause, NoPause, RandomPause, as_pattern
from tb.numerics import first_mismatch, numerics_for
from tb.payload import PayloadCodec

INT8 = ArrayConfig(rows=3, cols=5)
FP8_KINDS = ["e4m3", "e5m2", "e4m3xe5m2"]

F32_NAN = 0x7FC00000
F32_NAN_OTHER = 0x7FC00001  # another quiet NaN: the hardware must never emit it
F32_NEG_NAN = 0xFFC00000


def bits(values):
    return np.array(values, dtype=np.uint32).view(np.float32)


# --- first_mismatch and the per-family message -------------------------------------------------


@pytest.mark.parametrize(("i", "j"), list(itertools.product(range(3), range(5))))
def test_first_mismatch_finds_every_position(i, j):
    want = np.arange(15, dtype=np.int64).reshape(3, 5) * 7 - 40
    got = want.copy()
    got[i, j] += 1
    assert first_mismatch(got, want) == (i, j, int(want[i, j]) + 1, int(want[i, j]))
    msg = numerics_for(INT8).mismatch(got, want)
    assert msg == f"C[{i}][{j}]: hardware {want[i, j] + 1}, golden {want[i, j]}"


def test_first_mismatch_reports_the_first_in_row_major_order():
    want = np.zeros((4, 6), dtype=np.int64)
    got = want.copy()
    got[3, 0] = 5
    got[2, 5] = -9
    got[2, 4] = 1
    assert first_mismatch(got, want) == (2, 4, 1, 0)
    got[0, 5] = 3
    assert first_mismatch(got, want) == (0, 5, 3, 0)
    assert first_mismatch(want, want.copy()) is None


def test_first_mismatch_rejects_shapes_that_differ():
    with pytest.raises(ValueError, match=r"got has shape \(2, 3\), want has shape \(3, 2\)"):
        first_mismatch(np.zeros((2, 3)), np.zeros((3, 2)))
    msg = numerics_for(INT8).mismatch(np.zeros((2, 3)), np.zeros((2, 4)))
    assert msg == "C has shape (2, 3), golden (2, 4)"


def test_int8_checker_sees_extreme_and_wrapped_values():
    want = np.array([[-(2**27), 2**27 - 1]], dtype=np.int64)
    assert numerics_for(INT8).mismatch(want.copy(), want) is None
    got = want.copy()
    got[0, 1] = -(2**27)  # wrapped one too far
    assert numerics_for(INT8).mismatch(got, want) == (
        f"C[0][1]: hardware {-(2**27)}, golden {2**27 - 1}"
    )


@pytest.mark.parametrize("mac", FP8_KINDS)
def test_fp8_checker_compares_bit_patterns(mac):
    numerics = numerics_for(ArrayConfig(rows=2, cols=3, mac=mac))
    want = bits([[F32_NAN, 0x00000000, 0x7F800000], [0xFF800000, 0x3F800000, 0x80000000]])
    assert numerics.mismatch(want.copy(), want) is None  # NaN equals NaN by its bits
    cases = [
        ((0, 0), F32_NAN_OTHER, "0x7fc00001 (nan)", "0x7fc00000 (nan)"),
        ((0, 0), F32_NEG_NAN, "0xffc00000 (nan)", "0x7fc00000 (nan)"),
        ((0, 1), 0x80000000, "0x80000000 (-0.0)", "0x00000000 (0.0)"),
        ((1, 2), 0x00000000, "0x00000000 (0.0)", "0x80000000 (-0.0)"),
        ((0, 2), 0xFF800000, "0xff800000 (-inf)", "0x7f800000 (inf)"),
        ((1, 0), F32_NAN, "0x7fc00000 (nan)", "0xff800000 (-inf)"),
        ((1, 1), 0x3F800001, "0x3f800001 (1.0000001192092896)", "0x3f800000 (1.0)"),
    ]
    for (i, j), got_bits, got_text, want_text in cases:
        got = want.view(np.uint32).copy()
        got[i, j] = got_bits
        msg = numerics.mismatch(got.view(np.float32), want)
        assert msg == f"C[{i}][{j}]: hardware {got_text}, golden {want_text}"


@pytest.mark.parametrize(("i", "j"), list(itertools.product(range(2), range(3))))
def test_fp8_checker_finds_every_position(i, j):
    numerics = numerics_for(ArrayConfig(rows=2, cols=3, mac="e4m3"))
    want = bits(np.full((2, 3), 0x40000000))
    got = want.view(np.uint32).copy()
    got[i, j] ^= 1
    assert numerics.mismatch(got.view(np.float32), want).startswith(f"C[{i}][{j}]: ")


# --- the whole check of a finished job ---------------------------------------------------------


@pytest.mark.parametrize("mac", ["int8", *FP8_KINDS])
def test_check_job_names_job_shape_seed_and_element(mac, seed):
    cfg = ArrayConfig(rows=2, cols=2, mac=mac)
    numerics = numerics_for(cfg)
    rng = np.random.default_rng(seed)
    a, b = operands(cfg, rng, 3, 4, 5, special_rate=0.0)
    job = {"a": a, "b": b, "act_unsigned": False}
    good = numerics.expected(a, b, False)
    assert check_job(numerics, job, good.copy(), index=0, seed=seed) is None
    for i, j in itertools.product(range(3), range(5)):
        bad = numerics.comparable(good).copy()
        bad[i, j] ^= 1 << 3
        c = bad.astype(np.uint32).view(np.float32) if cfg.is_fp8 else bad
        msg = check_job(numerics, job, c, index=7, seed=seed)
        assert msg.startswith(f"mismatch in job 7 (M=3 K=4 N=5, seed {seed}) at C[{i}][{j}]: ")
        assert "hardware" in msg and "golden" in msg


# --- the assembly of per-fold partial sums, against the independent reference --------------

#: Weight of one Kulisch unit (docs/numerics.md §2.2), written out independently of golden/.
KULISCH_LSB = {"e4m3": -18, "e5m2": -32, "e4m3xe5m2": -25}


def fold_partials(cfg, a, b, act_unsigned):
    """What the array sends for each fold, computed by plain loops: INT8 W-bit wrapped dot
    products; FP8 exact integers in Kulisch units and NaN/±Inf flags."""
    from fractions import Fraction

    folds = split_folds(a, b, cfg.rows, cfg.cols)
    partials = []
    for _, w, x in folds:
        block = []
        for row in x:
            values = []
            for c in range(cfg.cols):
                if not cfg.is_fp8:
                    acts = [int(v) & 0xFF if act_unsigned else int(v) for v in row]
                    s = sum(acts[r] * int(w[r][c]) for r in range(cfg.rows))
                    s %= 1 << cfg.acc_width
                    values.append(s - (1 << cfg.acc_width) if s >> (cfg.acc_width - 1) else s)
                    continue
                fa, fb = cfg.fp8_formats
                p = [
                    fp8_value(int(row[r]), fa) * fp8_value(int(w[r][c]), fb)
                    for r in range(cfg.rows)
                ]
                finite = [Fraction(v) for v in p if np.isfinite(v)]
                units = sum(finite, Fraction(0)) / Fraction(2) ** KULISCH_LSB[cfg.mac]
                assert units.denominator == 1
                values.append(
                    {
                        "sum": int(units),
                        "nan": any(np.isnan(v) for v in p),
                        "pinf": any(v == np.inf for v in p),
                        "ninf": any(v == -np.inf for v in p),
                    }
                )
            block.append(values)
        partials.append(block)
    return [fold for fold, _, _ in folds], partials


@pytest.mark.parametrize("mac", ["int8", *FP8_KINDS])
@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (2, 3), (3, 2)])
def test_fold_assembly_matches_reference(mac, rows, cols, seed):
    cfg = ArrayConfig(rows=rows, cols=cols, mac=mac, max_k=16)
    numerics = numerics_for(cfg)
    rng = np.random.default_rng(seed)
    for m, k, n in [(1, 1, 1), (2, 2 * rows + 1, cols + 1), (3, 5, 2 * cols + 1)]:
        act_unsigned = not cfg.is_fp8 and m == 2
        a, b = operands(cfg, rng, m, k, n, act_unsigned=act_unsigned, special_rate=0.1)
        folds, partials = fold_partials(cfg, a, b, act_unsigned)
        c = numerics.combine(folds, partials, m, n)
        want = reference_gemm(cfg, a, b, act_unsigned=act_unsigned)
        assert numerics.mismatch(c, want) is None, (m, k, n)


# --- the reference GEMM itself -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "dtype"), [("e4m3", ml_dtypes.float8_e4m3fn), ("e5m2", ml_dtypes.float8_e5m2)]
)
def test_reference_decode_matches_ml_dtypes(fmt, dtype):
    want = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float64)
    got = np.array([fp8_value(c, fmt) for c in range(256)])
    np.testing.assert_array_equal(got, want)  # NaNs in the same places
    numbers = ~np.isnan(want)
    assert np.array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))  # −0 stays −0


@pytest.mark.parametrize("mac", ["int8", *FP8_KINDS])
def test_reference_gemm_agrees_with_golden(mac, seed):
    cfg = ArrayConfig(rows=2, cols=2, mac=mac)
    numerics = numerics_for(cfg)
    rng = np.random.default_rng(seed)
    for act_unsigned, rate in [(False, 0.0), (True, 0.05), (False, 0.3)]:
        act_unsigned = act_unsigned and not cfg.is_fp8
        a, b = operands(cfg, rng, 4, 9, 5, act_unsigned=act_unsigned, special_rate=rate)
        want = numerics.expected(a, b, act_unsigned)
        assert numerics.mismatch(reference_gemm(cfg, a, b, act_unsigned=act_unsigned), want) is None


def test_reference_rounds_ties_to_even():
    cfg = ArrayConfig(rows=1, cols=1, mac="e4m3")
    eight, tiny = 0x50, 0x01  # 2^3 and 2^-9 (the smallest subnormal)
    # 8·8 + 2^-18 is 2^24 + 1 Kulisch units: a tie between 64 and the next binary32 → 64.
    c = reference_gemm(cfg, np.array([[eight, tiny]]), np.array([[eight], [tiny]]))
    assert c[0, 0] == np.float32(64.0)
    # 3·2^-18 more is 2^24 + 3 units: a tie with an odd quotient, rounded up to 64 + 2^-16.
    c = reference_gemm(
        cfg, np.array([[eight, tiny, tiny, tiny]]), np.array([[eight], [tiny], [tiny], [tiny]])
    )
    assert c[0, 0] == np.float32(64.0 + 2.0**-16)


def test_fp8_codes_respects_special_rate():
    rng = np.random.default_rng(1)
    finite = fp8_codes(rng, "e5m2", (50, 50))
    assert np.isfinite([fp8_value(int(c), "e5m2") for c in finite.flat]).all()
    some = fp8_codes(rng, "e4m3", (50, 50), 0.5)
    assert 0 < np.count_nonzero(some == 0x7F) + np.count_nonzero(some == 0xFF) < 2500


# --- payload packing, against Amaranth's own layout constants --------------------------------


def layouts(cfg):
    return {
        "weights": (weight_row_layout(cfg), None),
        "acts": (act_row_layout(cfg), "data"),
        "results": (result_row_layout(cfg), "data"),
        "output": (output_row_layout(cfg), "data"),
    }


def random_field(rng, shape):
    shape = data.Layout.cast(shape) if isinstance(shape, data.Layout) else shape
    width = shape.size if isinstance(shape, data.Layout) else shape.width
    lo, hi = (-(1 << (width - 1)), 1 << (width - 1)) if shape.signed else (0, 1 << width)
    return rng.randrange(lo, hi)


@pytest.mark.parametrize("mac", ["int8", "e5m2"])
def test_payload_codec_matches_amaranth_layouts(mac):
    cfg = ArrayConfig(rows=3, cols=4, mac=mac)
    rng = random.Random(3)
    for name, (layout, vector) in layouts(cfg).items():
        codec = PayloadCodec(layout, vector=vector)
        array = layout if vector is None else layout[vector].shape
        elem = array.elem_shape
        for _ in range(20):
            if isinstance(elem, data.StructLayout):
                values = [
                    {f: random_field(rng, field.shape) for f, field in elem} for _ in range(4)
                ]
            else:
                values = [random_field(rng, elem) for _ in range(array.length)]
            flags = {}
            if vector is not None:
                flags = {f: rng.randrange(2) for f, _ in layout if f != vector}
            init = values if vector is None else {vector: values, **flags}
            want = layout.const(init).as_bits()
            if isinstance(elem, data.StructLayout):
                # The codec packs struct elements from their bits; pack those via Amaranth too.
                packed = [elem.const(v).as_bits() for v in values]
                assert codec.pack(packed, **flags) == want, name
            else:
                assert codec.pack(values, **flags) == want, name
            got_values, got_flags = codec.unpack(want)
            assert got_values == values and got_flags == flags, name


# --- pause patterns and the testbench's use of them --------------------------------------------


def take(pattern, n, seed=0):
    return list(itertools.islice(pattern.generator(random.Random(seed)), n))


def test_pause_patterns():
    assert take(NoPause(), 5) == [False] * 5
    assert take(BurstPause(start=2, length=3), 8) == [0, 0, 1, 1, 1, 0, 0, 0]
    assert take(BurstPause(start=1, length=2, period=4), 10) == [0, 1, 1, 0, 0, 1, 1, 0, 0, 1]
    assert take(CyclicPause((True, True, False)), 7) == [1, 1, 0, 1, 1, 0, 1]
    paused = sum(take(RandomPause(0.25), 4000))
    assert 800 < paused < 1200
    assert take(RandomPause(0.25), 50, seed=9) == take(RandomPause(0.25), 50, seed=9)
    assert BurstPause(start=0, length=3, period=12).fraction == 0.25
    assert BurstPause(start=5, length=3).one_off_cycles == 3
    assert as_pattern(0.5) == RandomPause(0.5) and as_pattern(0) == NoPause()
    assert as_pattern(None) == NoPause()


def test_pause_patterns_reject_bad_parameters():
    with pytest.raises(ValueError, match=r"probability must be in \[0, 1\), got 1.0"):
        RandomPause(1.0)
    with pytest.raises(ValueError, match="length must be a positive integer, got 0"):
        BurstPause(start=0, length=0)
    with pytest.raises(ValueError, match="period must be an integer greater than length=4"):
        BurstPause(start=0, length=4, period=4)
    with pytest.raises(ValueError, match="pattern must hold at least one False"):
        CyclicPause((True,))
    with pytest.raises(TypeError, match="pause must be a PausePattern"):
        as_pattern("often")


def test_job_stream_options_and_timeout():
    job = {"weight_stall": 0.5, "act_stall": 0.0, "result_stall": 0.2}
    patterns, ready_when_valid = job_stream_options(job)
    assert patterns == {
        "weights": RandomPause(0.5),
        "acts": NoPause(),
        "results": RandomPause(0.2),
    }
    assert not ready_when_valid
    burst = BurstPause(start=4, length=30)
    patterns, ready_when_valid = job_stream_options(
        {**job, "result_pause": burst, "ready_when_valid": True}
    )
    assert patterns["results"] == burst and ready_when_valid
    assert job_timeout(100, [NoPause()]) == 100 * 4 + 1000
    assert job_timeout(100, [NoPause(), burst]) == 130 * 4 + 1000
    assert job_timeout(100, [RandomPause(0.5)]) == 100 * 24 + 1000
