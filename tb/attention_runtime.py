"""Host side of the attention tile under Verilator: build the simulator of one
:class:`~hdl.attention.tile.AttentionTile` configuration (once per generator version) and run
tiles through the cocotb testbench ``tb.attention_tile``, returning the int8 outputs and the
measured cycles."""

import json
import random
from dataclasses import asdict, dataclass

from golden.errors import check_int
from tb.verilator import VerilatorBuild

#: Verilog module name of the simulated tile.
ATTENTION_TOP = "attention_tile"
#: Largest simulation seed.
MAX_SEED = (1 << 31) - 1


@dataclass(frozen=True)
class TileBuildConfig:
    """Generator parameters of a simulated tile (the key of its Verilator build)."""

    rows: int
    cols: int
    max_lq: int
    max_lk: int
    max_d: int
    max_dv: int
    max_lk_total: int | None = None
    p_bits: int = 8

    def __post_init__(self):
        if self.max_lk_total is None:
            object.__setattr__(self, "max_lk_total", self.max_lk)

    @property
    def id(self):
        name = f"r{self.rows}c{self.cols}-lq{self.max_lq}-lk{self.max_lk}-d{self.max_d}"
        name += f"-dv{self.max_dv}"
        if self.max_lk_total != self.max_lk:
            name += f"-lkt{self.max_lk_total}"
        if self.p_bits != 8:
            name += f"-p{self.p_bits}"
        return name

    def to_json(self):
        return json.dumps(asdict(self), sort_keys=True)

    def tile(self):
        """A new :class:`~hdl.attention.tile.AttentionTile` of these parameters."""
        from hdl.attention.tile import AttentionTile

        return AttentionTile(**asdict(self))

    def check_shape(self, lq, lk, d, dv):
        """UsageValueError naming the size unless the tile can run this shape."""
        from hdl.attention.tile import check_tile_shape

        check_tile_shape((self.max_lq, self.max_lk, self.max_d, self.max_dv), lq, lk, d, dv)

    def cycles(self, lq, lk, d, dv, *, mode="single", last_block=True):
        """Exact no-stall cycles of one tile (key block) of this shape."""
        from hdl.attention.tile import tile_array_config, tile_cycles

        self.check_shape(lq, lk, d, dv)
        array = tile_array_config(self.rows, self.cols, max_d=self.max_d, max_lk=self.max_lk_total)
        return tile_cycles(
            array, lq, lk, d, dv, mode=mode, last_block=last_block, p_bits=self.p_bits
        )


def _verilog(config):
    # The same Verilog ``systolix generate --top attention`` writes, so the tests run it.
    from hdl.generate import attention_verilog

    return attention_verilog(name=ATTENTION_TOP, **asdict(config))


_builds = {}


def tile_build(config):
    """The (cached) Verilator build of ``config`` (a :class:`TileBuildConfig`)."""
    if config not in _builds:
        build = VerilatorBuild(
            "attention", config, ATTENTION_TOP, lambda: _verilog(config), waves=False
        )
        _builds[config] = build.ensure_built()
    return _builds[config]


def run_tiles(config, jobs, *, seed=None):
    """Run attention tiles back to back in one Verilator simulation.

    Parameters
    ----------
    config : TileBuildConfig
    jobs : list of dict
        Each with ``q``, ``k``, ``v`` (int arrays), ``params`` (the fields of
        :func:`hdl.attention.tile.params_layout`), ``row_max`` (preload mode only) and optionally
        ``stall``: the probability of a pause per cycle on every input and on the output.
    seed : int or None

    Returns
    -------
    list of dict
        Per job ``o`` (Lq × dv int64 array; ``None`` for a key block before the last) and
        ``cycles`` (parameter beat taken to last output beat taken, inclusive; for a block
        before the last, to the first cycle the tile is idle again).
    """
    for job in jobs:
        p = job["params"]
        config.check_shape(p["lq"], p["lk"], p["d"], p["dv"])
    if seed is None:
        seed = random.randrange(MAX_SEED + 1)
    seed = check_int("seed", seed, 0, MAX_SEED)
    results, _ = tile_build(config).run_jobs(
        "tb.attention_tile",
        jobs,
        env={"SYSTOLIX_TILE": config.to_json()},
        seed=seed,
        jobs_var="SYSTOLIX_JOBS",
        results_var="SYSTOLIX_RESULTS",
    )
    return results


def random_tile_jobs(rng, lq, lk, d, dv, *, causal=False, mode="single", block=None, p_bits=8):
    """A random tile: int8 Q, K, V and scales that spread the logits over a few units (|S| is
    about 5500·sqrt(d) for random rows). ``single``: one job; ``preload``: one job per key
    block of ``block`` keys, with the row maxima of S; ``online``: one job per key block,
    running max (no row maxima). The last job carries the golden output under ``want``."""
    import numpy as np

    from golden.attention import attention_mask, attention_multipliers, attention_tile
    from hdl.attention.tile import TILE_MODES

    q = rng.integers(-128, 128, (lq, d))
    k = rng.integers(-128, 128, (lk, d))
    v = rng.integers(-128, 128, (lk, dv))
    mult = attention_multipliers(rng.uniform(0.3, 2.0) / 5500, 1.0, 1 / 128, 1 / 128, d)
    offset = lk - lq
    params = dict(lq=lq, lk=lk, d=d, dv=dv, **mult, out_zp=0, causal=int(causal))
    params.update(causal_offset=offset if causal else 0, key_pad=0, mode=0)
    extra = {} if mode == "single" else {"block": block}
    want = attention_tile(q, k, v, **mult, causal=causal, mode=mode, p_bits=p_bits, **extra)
    want = np.asarray(want)
    if mode == "single":
        return [{"q": q, "k": k, "v": v, "params": params, "want": want}]
    valid = attention_mask(lq, lk, causal=causal)
    s = q @ k.T
    row_max = np.where(valid, s, np.iinfo(np.int64).min).max(axis=1)
    row_max = np.where(valid.any(axis=1), row_max, 0)
    jobs = []
    index = TILE_MODES.index(mode)
    for b0 in range(0, lk, block):
        width = min(block, lk - b0)
        p = dict(params, lk=width, mode=index, first_block=int(b0 == 0), last_block=0)
        p["last_block"] = int(b0 + width == lk)
        p["causal_offset"] = min(max(offset - b0, -lq), width) if causal else 0
        jobs.append({"q": q, "k": k[b0 : b0 + width], "v": v[b0 : b0 + width], "params": p})
    jobs[-1]["want"] = want
    if mode == "preload":
        for job in jobs:
            job["row_max"] = row_max
    return jobs


def _build_limit(value, floor=16):
    """A generator maximum of at least ``value``: a power of two, so that nearby shapes share
    one Verilator build."""
    return max(floor, 1 << (value - 1).bit_length())


def run_attention_and_report(
    rows, cols, lq, lk, d, dv, *, causal=False, mode="single", block=None, p_bits=8, seed=1
):
    """Run one random tile (``preload`` and ``online``: one row as key blocks of ``block``
    keys, default 64) in Verilator and print the check against the golden model, the
    measured cycles, the model's (``golden.perf.attention_cycles``) and the MAC utilization.

    Returns
    -------
    bool
        The output is bit-exact and the cycles equal the model's.

    Raises
    ------
    golden.errors.UsageValueError, golden.errors.UsageTypeError
        For a size or mode the tile does not support, naming it.
    """
    import numpy as np

    from golden.errors import UsageValueError, check_choice
    from hdl.attention.softmax import LK_MAX
    from hdl.attention.tile import MAX_TILE_DIM, MAX_TILE_LK, TILE_MODES, check_tile_array

    check_tile_array(rows, cols)
    for name, value, hi in (("lq", lq, MAX_TILE_DIM), ("d", d, MAX_TILE_DIM)):
        check_int(name, value, 1, hi)
    check_int("dv", dv, 1, MAX_TILE_DIM)
    check_choice("mode", mode, TILE_MODES)
    if mode == "single":
        check_int("lk", lk, 1, MAX_TILE_LK)
        if block is not None:
            raise UsageValueError(
                "block is only used with mode preload or online", parameter="block"
            )
        block = lk
    else:
        check_int("lk", lk, 1, LK_MAX)
        block = check_int("block", 64 if block is None else block, 1, MAX_TILE_LK)
    check_choice("p_bits", p_bits, (8, 16))
    seed = check_int("seed", seed, 0, MAX_SEED)
    config = TileBuildConfig(
        rows=rows,
        cols=cols,
        max_lq=_build_limit(lq),
        max_lk=_build_limit(min(block, lk)),
        max_d=_build_limit(d),
        max_dv=_build_limit(dv),
        max_lk_total=_build_limit(lk),
        p_bits=p_bits,
    )
    rng = np.random.default_rng(seed)
    jobs = random_tile_jobs(
        rng, lq, lk, d, dv, causal=causal, mode=mode, block=block, p_bits=p_bits
    )
    runs = run_tiles(config, jobs, seed=seed)
    out, want = runs[-1]["o"], jobs[-1]["want"]
    cycles = sum(run["cycles"] for run in runs)
    model = 0
    for n, job in enumerate(jobs):
        p = job["params"]
        model += config.cycles(
            lq, p["lk"], d, dv, mode=mode, last_block=mode == "single" or n == len(jobs) - 1
        )
    bad = np.argwhere(out != want)
    what = f"attention {rows}x{cols}: Lq={lq} Lk={lk} d={d} dv={dv}"
    what += f"{' causal' if causal else ''} mode={mode} p_bits={p_bits}"
    if mode != "single":
        what += f" block={block} ({len(jobs)} tiles)"
    what += f" seed={seed}"
    if bad.size:
        i, j = bad[0]
        print(f"{what}: FAIL: {len(bad)} outputs differ, first O[{i},{j}] = {out[i, j]}, "
              f"golden {want[i, j]}")  # fmt: skip
    else:
        print(f"{what}: PASS (bit-exact vs golden.attention.attention_tile)")
    macs = lq * lk * (d + dv)
    same = "equal" if cycles == model else "DIFFERENT"
    print(f"  cycles {cycles} (params to last O beat); model {model} ({same})")
    print(f"  MAC utilization {macs / (rows * cols * cycles):.1%} ({macs} MACs)")
    return not bad.size and cycles == model


def accel_attention_tiles(array_config, attention, lq, lk, d, dv):
    """The no-stall cycles of each tile an ATTENTION descriptor of this shape runs on the
    accelerator's unit (``golden.perf.attention_cycles`` per query block and key block):
    ``[(lq_b, lk_b, cycles), …]`` in the order the controller sends them."""
    from hdl.attention.tile import tile_array_config, tile_cycles
    from tb.accel_attention_jobs import attention_tiles

    R = array_config.rows
    array = tile_array_config(R, R, max_d=attention.max_d, max_lk=attention.max_lk)
    mode = attention.mode(lk)
    return [
        (lq_b, lk_b, tile_cycles(
            array, lq_b, lk_b, d, dv, mode=mode, last_block=last, p_bits=attention.p_bits
        ))
        for lq_b, lk_b, last in attention_tiles(attention, lq, lk)
    ]  # fmt: skip


def run_accel_attention_and_report(
    array_config, frontend_config, lq, lk, d, dv, *, causal=False, block=None, block_lq=None,
    p_bits=8, seed=1, latency=64,
):  # fmt: skip
    """Run one random ATTENTION descriptor memory to memory on an accelerator with an
    attention unit of ``block_lq`` query rows (default ``min(lq, 128)``) and ``block`` keys
    (default ``min(lk, 512)``) per tile, ``latency`` cycles of memory read latency; print the
    check against the golden model, START-to-DONE cycles, the unit's tile model summed over
    the tiles, and the MAC utilization.

    Returns
    -------
    bool
        O is bit-exact (a mismatch or a hang raises with the details).
    """
    import numpy as np

    from golden.descriptor import ATTENTION_DIM_LIMIT, ATTENTION_LK_LIMIT, AttentionConfig
    from tb.accel_attention_jobs import random_attention_job
    from tb.accel_runtime import run_accel_jobs

    seed = check_int("seed", seed, 0, MAX_SEED)
    check_int("lq", lq, 1, 65535)
    check_int("lk", lk, 1, ATTENTION_LK_LIMIT)
    check_int("d", d, 1, ATTENTION_DIM_LIMIT)
    check_int("dv", dv, 1, ATTENTION_DIM_LIMIT)
    block = min(lk, 512) if block is None else block
    block_lq = min(lq, 128) if block_lq is None else block_lq
    unit = AttentionConfig(
        block_lq=block_lq,
        block_lk=block,
        max_lk=max(block, min(_build_limit(lk), ATTENTION_LK_LIMIT)),
        max_d=_build_limit(d),
        max_dv=_build_limit(dv),
        p_bits=p_bits,
    )
    rng = np.random.default_rng(seed)
    job = random_attention_job(
        array_config, frontend_config, unit, rng, lq=lq, lk=lk, d=d, dv=dv, causal=causal,
        gaps=(0, 0, 0, 0),
    )  # fmt: skip
    (result,) = run_accel_jobs(
        array_config, frontend_config, [job], latency=latency, seed=seed, attention=unit
    )
    tiles = accel_attention_tiles(array_config, unit, lq, lk, d, dv)
    model = sum(c for _q, _k, c in tiles)
    R = array_config.rows
    macs = lq * lk * (d + dv)
    mode = unit.mode(lk)
    print(
        f"accelerator {R}x{R} attention, bus {frontend_config.data_width} bits, memory latency "
        f"{latency}: Lq={lq} Lk={lk} d={d} dv={dv}{' causal' if causal else ''} "
        f"({len(tiles)} tiles of up to {block_lq}x{block} keys, {mode}) seed={seed}: PASS "
        "(O bit-exact vs golden.attention.attention_tile)"
    )
    print(
        f"  cycles {result.cycles} (START to DONE); the tiles alone {model} "
        f"({result.cycles / model:.2f}x: loads through the DMA, Q re-read per key block)"
    )
    print(f"  MAC utilization {macs / (R * R * result.cycles):.1%} ({macs} MACs)")
    return True
