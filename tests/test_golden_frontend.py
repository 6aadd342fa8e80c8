"""Golden front end (accelerator §3.3, §4): the tiled loop against untiled models, and the cycle
bound against the worked example and hand arithmetic."""

from fractions import Fraction
from math import ceil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.errors import UsageValueError
from golden.fp8 import f32_to_fp8, fp8_matmul_exact
from golden.frontend import (
    ACT_UNSIGNED,
    BIAS_EN,
    OUT_FP8,
    OUT_RAW,
    PER_CHANNEL_Q,
    FrontendConfig,
    accumulator_rows,
    bus_efficiency,
    frontend_cycles,
    frontend_gemm,
    tile_loop,
)
from golden.int8 import gemm_int8, wrap
from golden.requant import add_bias, requantize

# --- FrontendConfig ----------------------------------------------------------------------


def test_config_defaults():
    cfg = FrontendConfig()
    assert (cfg.data_width, cfg.addr_width, cfg.max_burst, cfg.outstanding_reads) == (
        128,
        32,
        64,
        16,
    )
    assert (cfg.tile_m, cfg.tile_n, cfg.tile_k, cfg.requant_lanes) == (64, 64, 256, None)
    assert cfg.beat_bytes == 16
    assert cfg.burst_beats == 64
    assert cfg.lanes_for(16) == 16
    assert FrontendConfig(data_width=256, max_burst=256).burst_beats == 128  # 4 KiB / 32 B


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data_width": 32}, "data_width must be one of 64, 128, 256, got 32"),
        ({"data_width": 512}, "data_width must be one of 64, 128, 256, got 512"),
        ({"addr_width": 48}, "addr_width must be one of 32, 64, got 48"),
        ({"max_burst": 0}, "max_burst must be between 1 and 256, got 0"),
        ({"max_burst": 257}, "max_burst must be between 1 and 256, got 257"),
        ({"outstanding_reads": 0}, "outstanding_reads must be between 1 and 255, got 0"),
        (
            {"outstanding_reads": True},
            "outstanding_reads must be an integer between 1 and 255, got True",
        ),
        ({"tile_m": 0}, "tile_m must be between 1 and 65535, got 0"),
        ({"tile_m": 65536}, "tile_m must be between 1 and 65535, got 65536"),
        ({"tile_n": 40}, r"tile_n must be a multiple of the bus width in bytes \(16 at "),
        ({"tile_k": 8}, r"tile_k must be a multiple of the bus width in bytes \(16 at "),
        ({"tile_k": 2.5}, "tile_k must be an integer between 1 and 65535, got 2.5"),
        ({"requant_lanes": 0}, "requant_lanes must be between 1 and 128, got 0"),
        ({"requant_lanes": 129}, "requant_lanes must be between 1 and 128, got 129"),
    ],
)
def test_config_rejects(kwargs, message):
    # Out of range: ValueError; not an integer (True, 2.5): TypeError.
    with pytest.raises((ValueError, TypeError), match=message):
        FrontendConfig(**kwargs)


def test_config_tiles_follow_the_bus_width():
    FrontendConfig(data_width=64, tile_n=8, tile_k=24)  # 8-byte beats
    with pytest.raises(ValueError, match=r"\(32 at data_width=256\), got 16"):
        FrontendConfig(data_width=256, tile_n=16)


def test_config_lanes_at_most_the_columns():
    assert FrontendConfig(requant_lanes=4).lanes_for(16) == 4
    with pytest.raises(ValueError, match="requant_lanes must be between 1 and the array's 8"):
        FrontendConfig(requant_lanes=16).lanes_for(8)


# --- The tile loop -----------------------------------------------------------------------

SMALL = FrontendConfig(tile_m=8, tile_n=32, tile_k=32)


def test_loop_hand_worked():
    """M = 10, K = 40, N = 20 on a 16 × 16 array with Tm = 8, Tn = 32, Tk = 32: two m-blocks,
    one n-tile, two k-tiles (32 + 8); strips of 16 + 4 columns; folds of 16 + 16, then 8."""
    tiles = list(tile_loop(10, 40, 20, rows=16, cols=16, config=SMALL))
    got = [(t.m0, t.n0, t.k0, t.tm, t.tn, t.tk, t.load_a, t.first_k, t.last_k) for t in tiles]
    assert got == [
        (0, 0, 0, 8, 20, 32, True, True, False),
        (0, 0, 32, 8, 20, 8, True, False, True),
        (8, 0, 0, 2, 20, 32, True, True, False),
        (8, 0, 32, 2, 20, 8, True, False, True),
    ]
    folds = [
        (f.strip, f.index, f.k0, f.n0, f.rows, f.k_len, f.n_len, f.acc_base, f.first, f.emit)
        for f in tiles[0].folds + tiles[1].folds
    ]
    assert folds == [
        (0, 0, 0, 0, 8, 16, 16, 0, True, False),
        (0, 1, 16, 0, 8, 16, 16, 0, False, False),
        (1, 0, 0, 16, 8, 16, 4, 8, True, False),
        (1, 1, 16, 16, 8, 16, 4, 8, False, False),
        (0, 0, 32, 0, 8, 8, 16, 0, False, True),
        (1, 0, 32, 16, 8, 8, 4, 8, False, True),
    ]
    assert [(t.a_bank, t.b_bank, t.qp_bank) for t in tiles] == [
        (0, 0, 0),
        (1, 1, 0),
        (0, 0, 1),
        (1, 1, 1),
    ]
    assert accumulator_rows(16, SMALL) == 8 * 2


def test_loop_reuses_a_across_n_tiles_when_k_fits():
    tiles = list(tile_loop(70, 256, 200, rows=16, cols=16, config=FrontendConfig()))
    # 2 m-blocks × 4 n-tiles × 1 k-tile; A loads on the first n-tile of each m-block only.
    assert [t.load_a for t in tiles] == [True, False, False, False] * 2
    assert [t.a_bank for t in tiles] == [0] * 4 + [1] * 4
    assert [t.b_bank for t in tiles] == [0, 1] * 4


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 60),
    st.integers(1, 40),
    st.integers(1, 9),
    st.integers(1, 9),
    st.sampled_from([(4, 16, 16), (16, 32, 48), (64, 64, 256), (3, 16, 32)]),
)
def test_loop_covers_every_mac_once(m, k, n, rows, cols, tiles):
    """Every (m, k, n) product is issued by exactly one fold; first/emit mark each
    accumulator row's first and last fold; the order is m-block, n-tile, k-tile, strip, fold."""
    tile_m, tile_n, tile_k = tiles
    cfg = FrontendConfig(tile_m=tile_m, tile_n=tile_n, tile_k=tile_k)
    count = np.zeros((m, k, n), dtype=np.int64)
    starts = np.zeros((m, n), dtype=np.int64)
    emits = np.zeros((m, n), dtype=np.int64)
    order = []
    previous = None
    for t in tile_loop(m, k, n, rows=rows, cols=cols, config=cfg):
        assert t.load_a == (previous is None or previous != (t.m0, t.k0))
        previous = (t.m0, t.k0)
        for f in t.folds:
            assert 1 <= f.k_len <= rows and 1 <= f.n_len <= cols and f.rows == t.tm
            assert f.acc_base == f.strip * tile_m
            assert f.acc_base + f.rows <= accumulator_rows(cols, cfg)
            block = (slice(f.m0, f.m0 + f.rows), slice(f.k0, f.k0 + f.k_len))
            count[block[0], block[1], f.n0 : f.n0 + f.n_len] += 1
            starts[block[0], f.n0 : f.n0 + f.n_len] += f.first
            emits[block[0], f.n0 : f.n0 + f.n_len] += f.emit
            order.append((t.m0, t.n0, t.k0, f.strip, f.index))
    assert (count == 1).all()
    assert (starts == 1).all() and (emits == 1).all()
    assert order == sorted(order)


def test_loop_rejects():
    with pytest.raises(ValueError, match="m must be a positive integer, got 0"):
        list(tile_loop(0, 1, 1, rows=4, cols=4, config=SMALL))
    with pytest.raises(ValueError, match="rows must be between 1 and 128, got 129"):
        list(tile_loop(1, 1, 1, rows=129, cols=4, config=SMALL))
    with pytest.raises(TypeError, match="config must be a FrontendConfig"):
        list(tile_loop(1, 1, 1, rows=4, cols=4, config=None))


# --- The tiled GEMM against the untiled models -------------------------------------------


def untiled_int8(a, b, width, flags, q):
    """The untiled reference: gemm_int8, the bias added once, then requantize or raw."""
    acc = gemm_int8(a, b, width, act_unsigned=bool(flags & ACT_UNSIGNED))
    if flags & BIAS_EN:
        acc = add_bias(acc, q["qp_bias"], width)
    if flags & OUT_RAW:
        return wrap(acc, 32) if width > 32 else acc
    if flags & PER_CHANNEL_Q:
        return requantize(acc, q["qp_mult"], q["qp_shift"], q["q_zp"], q["qmin"], q["qmax"])
    return requantize(acc, q["q_mult"], q["q_shift"], q["q_zp"], q["qmin"], q["qmax"])


def random_quant(rng, n, k):
    """Quantization parameters that keep most outputs off the clamp: Σ a·w has a spread of
    about 5,500·√K and M ≈ 2^30.5, so n = log2(5,500·√K) + 25 gives outputs of tens."""
    spread = 5500 * np.sqrt(k)
    base = int(np.log2(spread)) + 25
    qmin = int(rng.integers(-128, -60))
    return {
        "q_mult": int(rng.integers(2**30, 2**31)),
        "q_shift": base,
        "q_zp": int(rng.integers(-20, 20)),
        "qmin": qmin,
        "qmax": int(rng.integers(60, 128)),
        "qp_bias": rng.integers(-int(spread), int(spread) + 1, n),
        "qp_mult": rng.integers(2**29, 2**31, n),
        "qp_shift": rng.integers(base - 2, base + 3, n),
    }


SHAPES = [
    (1, 1, 1),
    (3, 5, 7),  # M < R, everything below one fold
    (17, 33, 19),  # one past the array and the tiles in every dimension
    (64, 256, 64),  # exact multiples of tiles and array
    (65, 257, 65),
    (20, 1600, 40),  # K > tile_k, several k-tiles (≥ 1536)
]
ARRAYS = [(16, 16), (4, 8), (1, 1), (3, 5)]
INT8_FLAGS = [
    0,
    PER_CHANNEL_Q,
    OUT_RAW,
    BIAS_EN,
    BIAS_EN | PER_CHANNEL_Q,
    ACT_UNSIGNED,
    ACT_UNSIGNED | BIAS_EN | OUT_RAW,
    ACT_UNSIGNED | BIAS_EN | PER_CHANNEL_Q,
]


def int8_cases():
    """Shapes × arrays × flags, leaving out the pairs with more than ~3,000 folds (time)."""
    for m, k, n in SHAPES:
        for rows, cols in ARRAYS:
            folds = ceil(m / 16) * ceil(k / rows) * ceil(n / cols)
            if folds > 3000:
                continue
            for flags in INT8_FLAGS:
                yield pytest.param(
                    (m, k, n), (rows, cols), flags, id=f"{m}x{k}x{n}-r{rows}c{cols}-f{flags}"
                )


@pytest.mark.parametrize(("shape", "array", "flags"), list(int8_cases()))
def test_int8_tiled_equals_untiled(shape, array, flags, seed):
    m, k, n = shape
    rng = np.random.default_rng(seed)
    lo, hi = (0, 256) if flags & ACT_UNSIGNED else (-128, 128)
    a = rng.integers(lo, hi, (m, k))
    b = rng.integers(-128, 128, (k, n))
    q = random_quant(rng, n, k)
    cfg = FrontendConfig(tile_m=16, tile_n=32, tile_k=64) if k > 64 else FrontendConfig()
    width = 28
    got = frontend_gemm(a, b, rows=array[0], cols=array[1], config=cfg, acc_width=width,
                        flags=flags, **q)  # fmt: skip
    want = untiled_int8(a, b, width, flags, q)
    assert got.dtype == (np.int32 if flags & OUT_RAW else np.int8)
    np.testing.assert_array_equal(got, want)
    if not flags & OUT_RAW:
        assert len(np.unique(got)) > min(3, m * n - 1)  # the test is not all clamps


@pytest.mark.parametrize(
    "tiles", [(64, 64, 256), (16, 16, 16), (32, 48, 1536), (7, 16, 32)], ids=str
)
def test_int8_long_k_with_bias_and_per_channel(tiles, seed):
    """K = 1600 > Tk: the bias is the initial psum of the first k-tile only, and partial sums
    carry across k-tiles through the accumulator."""
    rng = np.random.default_rng(seed)
    m, k, n = 37, 1600, 45
    a = rng.integers(-128, 128, (m, k))
    b = rng.integers(-128, 128, (k, n))
    q = random_quant(rng, n, k)
    cfg = FrontendConfig(tile_m=tiles[0], tile_n=tiles[1], tile_k=tiles[2])
    flags = BIAS_EN | PER_CHANNEL_Q
    got = frontend_gemm(a, b, rows=16, cols=16, config=cfg, acc_width=28, flags=flags, **q)
    np.testing.assert_array_equal(got, untiled_int8(a, b, 28, flags, q))
    raw = frontend_gemm(a, b, rows=16, cols=16, config=cfg, acc_width=28, flags=flags | OUT_RAW,
                        **q)  # fmt: skip
    np.testing.assert_array_equal(raw, a @ b + q["qp_bias"])


@pytest.mark.parametrize("width", [16, 20, 33, 40, 64])
def test_int8_accumulator_wraps_and_raw_keeps_the_low_32_bits(width):
    """All −128·−128 products overflow narrow accumulators (docs/numerics.md §6.11); the wrap is
    modular, so the fold order does not matter. Wider than 32 bits, OUT_RAW writes the low
    32 bits and requantization sees the full sum."""
    k = 2000
    a = np.full((3, k), -128)
    b = np.full((k, 5), -128)
    bias = np.array([2**31 - 1, -(2**31), 0, 5, -5])
    flags = BIAS_EN | OUT_RAW
    got = frontend_gemm(a, b, rows=8, cols=4, config=SMALL, acc_width=width, flags=flags,
                        qp_bias=bias)  # fmt: skip
    exact = [int(v) for v in 16384 * k + bias]
    want = [wrap(wrap(v, width), 32) for v in exact]
    assert got.tolist() == [want] * 3
    got = frontend_gemm(a, b, rows=8, cols=4, config=SMALL, acc_width=width, flags=BIAS_EN,
                        q_mult=2**30, q_shift=40, qp_bias=bias)  # fmt: skip
    want = [requantize(wrap(v, width), 2**30, 40) for v in exact]
    assert got.tolist() == [want] * 3


def fp8_codes(rng, shape, fmt, specials):
    """Random finite codes, with a few NaN / Inf codes sprinkled in when ``specials``."""
    nan_or_max = {"e4m3": 0x7F, "e5m2": 0x7C}[fmt]
    codes = rng.integers(0, 256, shape)
    codes = np.where((codes & 0x7F) >= nan_or_max, codes & 0x3F, codes)
    if specials:
        pick = rng.random(shape) < 0.002
        extra = rng.choice([0x7F, 0xFF] if fmt == "e4m3" else [0x7C, 0xFC, 0x7E], shape)
        codes = np.where(pick, extra, codes)
    return codes


@pytest.mark.parametrize("mac", ["e4m3", "e5m2", "e4m3xe5m2"])
@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (5, 20, 9), (20, 300, 12)], ids=lambda s: "x".join(map(str, s))
)
@pytest.mark.parametrize("flags", [OUT_RAW, 0, OUT_FP8])
def test_fp8_tiled_equals_untiled(mac, shape, flags, seed):
    """FP8 kinds: exact sums across folds and k-tiles, sticky specials, one rounding on emit;
    binary32 out, or E4M3 codes (saturating) with OUT_FP8."""
    fa, fb = {"e4m3": ("e4m3",) * 2, "e5m2": ("e5m2",) * 2, "e4m3xe5m2": ("e4m3", "e5m2")}[mac]
    rng = np.random.default_rng(seed)
    m, k, n = shape
    a = fp8_codes(rng, (m, k), fa, specials=k > 100)
    b = fp8_codes(rng, (k, n), fb, specials=k > 100)
    cfg = FrontendConfig(tile_m=16, tile_n=16, tile_k=64)
    got = frontend_gemm(a, b, rows=16, cols=8, config=cfg, mac=mac, flags=flags)
    ref = fp8_matmul_exact(a, b, fa, fb).result
    if flags & OUT_FP8:
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, f32_to_fp8(ref, "e4m3", saturate=True))
    else:
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
    if k > 100:
        assert np.isnan(ref).any() and np.isfinite(ref).any()


def test_fp8_out_saturates_large_sums():
    """448·448 per product overflows E4M3 output; OUT_FP8 saturates to ±448 (0x7E / 0xFE)."""
    a = np.full((2, 3), 0x7E)  # 448
    b = np.stack([np.full(3, 0x7E), np.full(3, 0xFE)], axis=1)
    got = frontend_gemm(a, b, rows=2, cols=2, config=SMALL, mac="e4m3", flags=OUT_FP8)
    assert got.tolist() == [[0x7E, 0xFE]] * 2


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"flags": 1 << 5}, ValueError, "flags must combine the bits of ACT_UNSIGNED"),
        ({"flags": OUT_FP8}, ValueError, "flag OUT_FP8 applies to the FP8 MAC kinds only"),
        ({"mac": "e4m3", "flags": BIAS_EN}, ValueError, "flags BIAS_EN apply to mac='int8'"),
        ({"mac": "int4"}, ValueError, "mac must be one of int8, e4m3, e5m2, e4m3xe5m2"),
        ({"acc_width": None}, TypeError, "acc_width must be an integer between 1 and 64, got None"),
        ({"q_shift": None}, ValueError, "q_mult and q_shift are required"),
        ({"q_shift": 0}, ValueError, "q_shift must be between 1 and 62, got 0"),
        ({"q_mult": 2**31}, ValueError, "q_mult must be between 0 and 2147483647"),
        ({"qmin": 10, "qmax": 0}, ValueError, "qmin must not exceed qmax"),
        ({"flags": BIAS_EN}, ValueError, "qp_bias is required by the flags"),
        (
            {"flags": PER_CHANNEL_Q, "qp_mult": [1, 2], "qp_shift": [3, 4]},
            ValueError,
            r"qp_mult must be 3 integers \(one per column\)",
        ),  # fmt: skip
        (
            {"flags": PER_CHANNEL_Q, "qp_mult": [1, 2, 3], "qp_shift": [3, 63, 4]},
            ValueError,
            "qp_shift must be between 1 and 62, got 3..63",
        ),  # fmt: skip
        ({"a": [[128, 0]]}, ValueError, "a values must be between -128 and 127, got 0..128"),
        ({"a": [[1, 2, 3]]}, ValueError, r"inner dimensions differ: a is \(1, 3\)"),
        ({"a": [[1.0, 2.0]]}, TypeError, "a must hold integer values, got dtype float64"),
    ],
)
def test_frontend_gemm_rejects(kwargs, error, message):
    args = {
        "a": [[1, 2]],
        "b": [[1, 2, 3], [4, 5, 6]],
        "rows": 4,
        "cols": 4,
        "acc_width": 24,
        "q_mult": 2**30,
        "q_shift": 31,
    }
    args.update(kwargs)
    a, b = args.pop("a"), args.pop("b")
    with pytest.raises(error, match=message):
        frontend_gemm(a, b, **args)


# --- Cycle model: accelerator §4.3 worked example, by hand ----------------------------------

R = C = 16
MAC_LATENCY = 2  # ArrayConfig's default MAC pipeline


def model(m=256, k=256, n=256, latency=64, cfg=None, **kwargs):
    return frontend_cycles(R, C, MAC_LATENCY, cfg or FrontendConfig(), m, k, n, latency, **kwargs)


def test_worked_example_4_3_by_hand():
    """256³ INT8 on 16×16, D = 128, Tm = Tn = 64, Tk = 256, L = 64 (docs/accelerator.md §4.3)."""
    tile = model(start="tile", b_packed=True)
    row = model(start="row", b_packed=True)
    for r in (tile, row):
        # Ideal 256³/256 and the 95 % budget.
        assert r.ideal == 256**3 // 256 == 65_536
        assert int(65_536 / 0.95) == 68_985
        # 4 (m) × 4 (n) C tiles, one k-tile each; T_c = (64/16)·(256/16)·max(64, 16).
        assert len(r.tiles) == 16
        assert {t.compute for t in r.tiles} == {4 * 16 * 64} == {4_096}
        # Reads: B 256×64 B = 1,024 beats per tile; A 1,024 beats on the first n-tile of each
        # m-block; QP 64·16 B = 64 beats per C tile (η = 1: 4-beat row bursts are merged).
        assert [t.read for t in r.tiles] == [1_024 + 1_024 + 64, 1_024 + 64, 1_024 + 64,
                                             1_024 + 64] * 4  # fmt: skip
        assert Fraction(2_112, 4_096) == max(t.read for t in r.tiles) / 4_096  # "η ≥ 0.52"
        # Epilogue R + C + 1 + mac_latency + 1 + requant + write = 16+16+1+2+1+4+16.
        assert r.epilogue == 56
        # Compute-bound throughout: steady = 16 · 4,096; the output stage keeps up.
        assert r.steady == 16 * 4_096
        assert r.output_end <= r.prologue + r.steady
        # Traffic: A 64 KiB, B 256 KiB, QP 16 KiB, C 64 KiB; ≈ 336 KiB read.
        assert r.traffic.a == 64 * 1024 and r.traffic.b == 256 * 1024
        assert r.traffic.qp == 16 * 1024 and r.traffic.c == 64 * 1024
        assert r.traffic.read == 336 * 1024
    # Tile-granular start: L + (A + B)/W = 64 + 2,048; T ≈ 67,700, U ≈ 96.8 %.
    assert tile.prologue == 64 + 2_048
    assert tile.bound == 2_112 + 65_536 + 56 == 67_704
    assert round(tile.utilization, 3) == 0.968
    # Row-granular start: the doc's L + 1,024 + R·C/W = 1,104 gives 66,696 (98.3 %). The
    # first fold needs R whole B rows of tn = 64 bytes, 16 · 4 = 64 beats, not 16: +48.
    assert row.prologue == 64 + 1_024 + 16 * 4 == 1_104 + 48
    assert row.bound == 66_696 + 48 == 66_744
    assert round(row.utilization, 3) == 0.982
    # ≈ 5 B/cycle of reads, 32 % of the 16 B/cycle channel.
    assert round(row.traffic.read / row.bound, 1) == 5.2
    assert round(row.traffic.read / row.bound / 16, 2) == 0.32


def test_worked_example_row_major_b_pays_for_short_bursts():
    """Row-major B with Tn = 64 is 4-beat bursts: η = 16·4/(64 + 4) = 16/17 at L = 64."""
    r = model(start="tile")
    eta = Fraction(16 * 4, 64 + 4)
    assert r.prologue == 64 + 1_024 + Fraction(1_024) / eta == 64 + 1_024 + 1_088
    assert r.bound == 64 + 1_024 + 1_088 + 65_536 + 56


# accelerator §4.4 rows (256³, 16 × 16, INT8). The table leaves out the QP records, and its A rows
# are separate bursts (A_STRIDE ≠ K here), so qp_records=False and a_stride=512. ``delta`` is
# this model minus the doc, worked by hand in the comments.
TABLE_4_4 = [
    # D, Tm, Tn, layout, start, L, O, doc cycles, delta
    (128, 64, 64, "row-major", "tile", 32, 16, 67_672, 0),
    (128, 64, 64, "row-major", "tile", 100, 16, 68_380, 0),
    (128, 64, 64, "row-major", "tile", 200, 16, 70_656, 0),
    (128, 32, 32, "row-major", "tile", 100, 16, 109_724, 0),
    # First fold: R rows of tn bytes, R·ceil(tn/W) beats, not R·C/W = 16.
    (128, 64, 64, "packed", "row", 100, 16, 66_732, 16 * 4 - 16),
    (128, 32, 32, "packed", "row", 100, 16, 66_220, 16 * 2 - 16),
    (128, 128, 128, "packed", "row", 200, 16, 67_856, 16 * 8 - 16),
    (256, 64, 64, "packed", "row", 200, 16, 66_632, 16 * 2 - 8),
    # ... and at η = 32·4/(200 + 4) for row-major B: 64·204/128 − 16 = 86.
    (128, 64, 64, "row-major", "row", 200, 32, 66_832, 64 * 204 // 128 - 16),
    # D = 64: a C = 16 byte strip row is 2 beats, so the last strip's tm rows take 2·tm
    # cycles from the start of its last fold, which lasts tm: tm more. (In the first row the
    # bigger first fold, +32, is paid back by the B rows tile 0 no longer waits for, −32.)
    (64, 32, 32, "packed", "row", 100, 16, 74_908, 32),
    (64, 64, 64, "row-major", "tile", 100, 16, 69_788, 64),
]


@pytest.mark.parametrize(("d", "tm", "tn", "layout", "start", "latency", "o", "doc", "delta"),
                         TABLE_4_4)  # fmt: skip
def test_table_4_4(d, tm, tn, layout, start, latency, o, doc, delta):
    cfg = FrontendConfig(data_width=d, tile_m=tm, tile_n=tn, outstanding_reads=o)
    r = model(latency=latency, cfg=cfg, start=start, b_packed=layout == "packed",
              qp_records=False, a_stride=512)  # fmt: skip
    assert r.bound - doc == delta


def test_table_4_4_with_qp_records():
    """§4.2 counts the QP records, §4.4 does not: at L = 200 the reload tiles need
    A 1,024 + B 3,264 + QP 64 = 4,352 beat-cycles, 256 over T_c, on 3 tiles (doc: 192)."""
    cfg = FrontendConfig()
    without = model(latency=200, cfg=cfg, start="tile", qp_records=False)
    with_qp = model(latency=200, cfg=cfg, start="tile", qp_records=True)
    assert without.bound == 70_656
    assert with_qp.bound - without.bound == 3 * 64


def test_bandwidth_bound_bytes_per_mac():
    """Full tiles, K ≤ Tk, η = 1: the read channel needs δ_A/Tn + 1/Tm bytes per MAC, A being
    reused across the tn columns of a C tile and B across its tm rows. accelerator §4.2 writes
    δ_A/Tm + 1/Tn, which only agrees when Tm = Tn."""
    m = k = n = 256
    cfg = FrontendConfig(tile_m=128, tile_n=32)
    r = model(m, k, n, latency=0, cfg=cfg, qp_records=False)
    delta_a = Fraction(cfg.tile_n, n)  # A loaded on one n-tile in n/Tn
    per_mac = delta_a / cfg.tile_n + Fraction(1, cfg.tile_m)
    assert r.read_cycles == m * k * n * per_mac / cfg.beat_bytes
    assert r.mac_cycles / r.read_cycles == cfg.beat_bytes / (R * C * per_mac)
    swapped = delta_a / cfg.tile_m + Fraction(1, cfg.tile_n)
    assert r.mac_cycles / r.read_cycles != cfg.beat_bytes / (R * C * swapped)


# --- Cycle model: properties -------------------------------------------------------------

CONFIGS = st.builds(
    FrontendConfig,
    data_width=st.just(128),
    max_burst=st.sampled_from([4, 16, 64, 256]),
    outstanding_reads=st.sampled_from([1, 2, 4, 16]),
    tile_m=st.sampled_from([8, 16, 64]),
    tile_n=st.sampled_from([16, 32, 64]),
    tile_k=st.sampled_from([16, 64, 256]),
    requant_lanes=st.sampled_from([None, 1, 4]),
)
MODEL_ARGS = st.fixed_dictionaries(
    {
        "start": st.sampled_from(["row", "tile"]),
        "output": st.sampled_from(["int8", "raw", "fp8"]),
        "qp_records": st.booleans(),
        "b_packed": st.booleans(),
    }
)
DIMS = st.integers(1, 160)


@settings(max_examples=150, deadline=None)
@given(DIMS, DIMS, DIMS, st.integers(0, 400), CONFIGS, MODEL_ARGS)
def test_ideal_below_bound(m, k, n, latency, cfg, kwargs):
    r = frontend_cycles(R, C, MAC_LATENCY, cfg, m, k, n, latency, **kwargs)
    assert r.ideal <= r.bound
    assert r.mac_cycles <= sum(t.compute for t in r.tiles)
    assert r.bound >= r.read_cycles  # no schedule beats its own reads
    assert r.bound == ceil(max(r.prologue + r.steady, r.output_end) + r.epilogue)
    assert 0 < r.utilization <= 1 and 0 < r.bandwidth_utilization <= 1


@settings(max_examples=100, deadline=None)
@given(DIMS, DIMS, DIMS, st.integers(0, 400), st.integers(1, 100), CONFIGS, MODEL_ARGS)
def test_monotonic_in_latency_and_outstanding(m, k, n, latency, extra, cfg, kwargs):
    base = frontend_cycles(R, C, MAC_LATENCY, cfg, m, k, n, latency, **kwargs)
    slower = frontend_cycles(R, C, MAC_LATENCY, cfg, m, k, n, latency + extra, **kwargs)
    assert slower.bound >= base.bound
    more = FrontendConfig(**{**cfg.__dict__, "outstanding_reads": cfg.outstanding_reads * 2})
    assert frontend_cycles(R, C, MAC_LATENCY, more, m, k, n, latency, **kwargs).bound <= base.bound


@settings(max_examples=150, deadline=None)
@given(DIMS, DIMS, DIMS, st.sampled_from(["m", "k", "n"]), st.integers(1, 80),
       st.integers(0, 300), CONFIGS, MODEL_ARGS)  # fmt: skip
def test_monotonic_in_shape(m, k, n, axis, grow, latency, cfg, kwargs):
    shape = {"m": m, "k": k, "n": n}
    base = frontend_cycles(R, C, MAC_LATENCY, cfg, *shape.values(), latency, **kwargs)
    shape[axis] += grow
    bigger = frontend_cycles(R, C, MAC_LATENCY, cfg, *shape.values(), latency, **kwargs)
    assert bigger.bound >= base.bound
    assert bigger.ideal >= base.ideal


@settings(max_examples=100, deadline=None)
@given(DIMS, DIMS, DIMS, CONFIGS, st.booleans(), st.sampled_from(["int8", "raw"]))
def test_traffic_matches_the_closed_forms(m, k, n, cfg, qp, output):
    """accelerator §4.2: A·(K ≤ Tk ? 1 : ceil(N/Tn)), B·ceil(M/Tm), C·ob, QP 16·N·ceil(M/Tm)."""
    r = frontend_cycles(R, C, MAC_LATENCY, cfg, m, k, n, 10, qp_records=qp, output=output)
    m_blocks, n_tiles = ceil(m / cfg.tile_m), ceil(n / cfg.tile_n)
    assert r.traffic.a == m * k * (1 if k <= cfg.tile_k else n_tiles)
    assert r.traffic.b == k * n * m_blocks
    assert r.traffic.c == m * n * (4 if output == "raw" else 1)
    assert r.traffic.qp == (16 * n * m_blocks if qp else 0)


def test_requant_lanes_and_raw_output_cost_cycles():
    """One requant lane for 16 columns takes 16 cycles per strip row: a small-K GEMM becomes
    requant-bound. Raw int32 rows are 4 beats per strip row at W = 16."""
    full = model(64, 16, 64, latency=0)
    one_lane = model(64, 16, 64, latency=0, cfg=FrontendConfig(requant_lanes=1))
    # One fold per strip (K = R): T_c = 4 strips · 64 rows; the lane needs 16 × that.
    assert full.tiles[0].compute == full.tiles[0].output == 4 * 64
    assert one_lane.tiles[0].output == 16 * 4 * 64
    # The stage starts with strip 0's last (only) fold and never catches up: 16·4·64 cycles
    # where the array needed 4·64.
    assert one_lane.output_end == one_lane.prologue + 16 * 4 * 64
    assert one_lane.bound - full.bound == 16 * 4 * 64 - 4 * 64
    raw = model(64, 16, 64, latency=0, output="raw")
    assert raw.tiles[0].output == 4 * 4 * 64
    assert raw.traffic.c == 64 * 64 * 4


def test_bus_efficiency():
    assert bus_efficiency(4, 16, 200) == Fraction(64, 204)
    assert bus_efficiency(64, 16, 0) == 1
    assert bus_efficiency(Fraction(5, 2), 1, 0) == 1
    with pytest.raises(ValueError, match="burst_beats must be positive"):
        bus_efficiency(0, 1, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "beat"}, "start must be one of row, tile, got 'beat'"),
        ({"output": "int4"}, "output must be one of int8, raw, fp8, got 'int4'"),
        ({"b_packed": True, "b_stride": 64}, "b_stride must be None with b_packed"),
        ({"a_stride": 100}, "a_stride must be between 256 and"),
        ({"a_stride": 264}, "a_stride must be a multiple of 16 bytes"),
        ({"latency": -1}, "mem_latency must be between 0 and"),
        ({"cfg": FrontendConfig(requant_lanes=32)}, "requant_lanes must be between 1 and the"),
    ],
)
def test_frontend_cycles_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        model(**kwargs)


def test_frontend_cycles_rejects_bad_arguments():
    with pytest.raises(ValueError, match="array_rows must be between 1 and 128, got 0"):
        frontend_cycles(0, 16, 2, FrontendConfig(), 1, 1, 1, 0)
    with pytest.raises(ValueError, match="mac_latency must be between 0 and 64, got -1"):
        frontend_cycles(16, 16, -1, FrontendConfig(), 1, 1, 1, 0)
    with pytest.raises(TypeError, match="frontend_config must be a FrontendConfig"):
        frontend_cycles(16, 16, 2, {}, 1, 1, 1, 0)


def test_tile_writeback_terms():
    """Whole-tile write-back adds the last C tile's write after the output stage: more for
    4-byte outputs, more for rows that do not merge, and the start latency adds one for one."""
    cfg = FrontendConfig()
    base = dict(start="tile", write_latency=64)
    strip = frontend_cycles(16, 16, 2, cfg, 256, 256, 256, 64, **base)
    tile = frontend_cycles(16, 16, 2, cfg, 256, 256, 256, 64, writeback="tile", **base)
    # 64 rows of 64 bytes: 256 beats in 4-beat bursts (stride 256), at least 256 cycles.
    assert tile.bound - strip.bound >= 256 + 64
    raw = frontend_cycles(16, 16, 2, cfg, 256, 256, 256, 64, writeback="tile", output="raw", **base)
    assert raw.bound > tile.bound
    merged = frontend_cycles(16, 16, 2, cfg, 256, 256, 64, 64, writeback="tile", **base)
    split = frontend_cycles(
        16, 16, 2, cfg, 256, 256, 64, 64, writeback="tile", c_stride=128, **base
    )
    assert split.bound > merged.bound
    late = frontend_cycles(
        16, 16, 2, cfg, 256, 256, 256, 64, writeback="tile", start_latency=10, **base
    )
    assert late.bound == tile.bound + 10
    with pytest.raises(UsageValueError, match="writeback"):
        frontend_cycles(16, 16, 2, cfg, 8, 8, 8, 4, writeback="row")
