"""ATTENTION jobs for the accelerator testbench: Q, K, V and O laid out in memory, an ATTENTION
descriptor, and the O the golden model gives (``golden.attention.attention_tile`` in the mode
and key block the attention unit runs). NumPy only; the jobs are :class:`tb.accel_jobs.AccelJob`
and run through the same testbench, checks and fault options as GEMM jobs.
"""

import numpy as np

from golden.attention import attention_multipliers, attention_tile
from golden.descriptor import OPCODE_ATTENTION, AttentionConfig, Descriptor
from golden.errors import check_instance
from tb.accel_jobs import MEMORY_BASE, SENTINEL, AccelJob, _round_up, _rows_image

__all__ = [
    "attention_act_rows",
    "attention_address",
    "attention_origins",
    "attention_tiles",
    "make_attention_job",
    "random_attention_job",
]


def _blocks(total, size):
    return [(start, min(size, total - start)) for start in range(0, total, size)]


def attention_tiles(attention, lq, lk):
    """The tiles the controller sends for an Lq × Lk descriptor, in order: ``(lq_b, lk_b,
    last_block)`` per query block and key block (``golden.descriptor.AttentionConfig``)."""
    return [
        (lq_b, lk_b, k0 + lk_b == lk)
        for _q0, lq_b in _blocks(lq, attention.block_lq)
        for k0, lk_b in _blocks(lk, attention.block_lk)
    ]


def attention_act_rows(rows, attention, lq, lk, d, dv):
    """Activation rows the unit's array takes for a whole job: per tile, Lq rows for each of
    the ``ceil(d/R)·ceil(lk/R)`` Q·Kᵀ folds and each of the ``ceil(lk/R)·ceil(dv/R)`` P·V
    folds (twice at PB = 16)."""
    passes = 2 if attention.p_bits == 16 else 1
    total = 0
    for lq_b, lk_b, _last in attention_tiles(attention, lq, lk):
        kc = -(-lk_b // rows)
        total += lq_b * (-(-d // rows) * kc + passes * kc * -(-dv // rows))
    return total


def attention_origins(desc, attention):
    """The first byte of every Q, K, V and O block an ATTENTION descriptor reads or writes
    (the first burst of each DMA command)."""
    d = desc
    q_starts = [q0 for q0, _ in _blocks(d.m, attention.block_lq)]
    k_starts = [k0 for k0, _ in _blocks(d.n, attention.block_lk)]
    origins = {d.a_addr + q0 * d.a_stride for q0 in q_starts}
    origins |= {d.c_addr + q0 * d.c_stride for q0 in q_starts}
    origins |= {d.b_addr + k0 * d.b_stride for k0 in k_starts}
    origins |= {d.qp_addr + k0 * d.v_stride for k0 in k_starts}
    return frozenset(origins)


def attention_address(job, tensor, row, col):
    """Byte address of element ``(row, col)`` of ``tensor`` (``"Q"``, ``"K"``, ``"V"`` or
    ``"O"``) of an ATTENTION ``job``; negative indices count from the end."""
    d = job.desc
    shapes = {
        "Q": (d.a_addr, d.a_stride, d.m, d.k),
        "K": (d.b_addr, d.b_stride, d.n, d.k),
        "V": (d.qp_addr, d.v_stride, d.n, d.dv),
        "O": (d.c_addr, d.c_stride, d.m, d.dv),
    }
    base, stride, rows, width = shapes[tensor]
    return base + (row % rows) * stride + col % width


def make_attention_job(
    array_config,
    frontend_config,
    attention,
    q,
    k,
    v,
    *,
    scale_mult,
    scale_shift,
    out_mult,
    out_shift,
    out_zp=0,
    causal=False,
    causal_offset=0,
    key_pad=0,
    gaps=(0, 0, 0, 0),
    base=MEMORY_BASE,
    rng=None,
    label="",
    **options,
):
    """An :class:`~tb.accel_jobs.AccelJob` for O = attention(Q, K, V) on an accelerator with
    the attention unit ``attention``.

    ``gaps`` = extra beats per row of Q, K, V and O (strides ``round_up(row, W) + gap·W``);
    the gap bytes of Q, K and V are random, those of O the :data:`~tb.accel_jobs.SENTINEL`.
    The expected O is ``attention_tile(…, mode=attention.mode(Lk), block=attention.block_lk)``.
    """
    check_instance("attention", attention, AttentionConfig)
    rng = np.random.default_rng(0) if rng is None else rng
    w = frontend_config.beat_bytes
    q, k, v = (np.asarray(x, dtype=np.int64) for x in (q, k, v))
    lq, d = q.shape
    lk, dv = v.shape
    strides = [
        _round_up(width, w) + gap * w for width, gap in zip((d, d, dv, dv), gaps, strict=True)
    ]
    ldq, ldk, ldv, ldo = strides
    page = 4096
    q_addr = base
    k_addr = _round_up(q_addr + lq * ldq, page) + w * int(rng.integers(0, 4))
    v_addr = _round_up(k_addr + lk * ldk, page) + w * int(rng.integers(0, 4))
    o_addr = _round_up(v_addr + lk * ldv, page) + w * int(rng.integers(0, 4))
    as_bytes = [(x & 0xFF).astype(np.uint8) for x in (q, k, v)]
    regions = [
        (q_addr, _rows_image(as_bytes[0], ldq, rng)),
        (k_addr, _rows_image(as_bytes[1], ldk, rng)),
        (v_addr, _rows_image(as_bytes[2], ldv, rng)),
        (o_addr, bytes([SENTINEL]) * (lq * ldo)),
    ]
    mode = attention.mode(lk)
    o = attention_tile(
        q,
        k,
        v,
        scale_mult=scale_mult,
        scale_shift=scale_shift,
        out_mult=out_mult,
        out_shift=out_shift,
        out_zp=out_zp,
        key_valid=np.arange(lk) < lk - key_pad,
        causal=bool(causal),
        causal_offset=causal_offset if causal else None,
        mode=mode,
        block=attention.block_lk if mode == "online" else None,
        p_bits=attention.p_bits,
    )
    o_bytes = (np.asarray(o) & 0xFF).astype(np.uint8)
    desc = Descriptor(
        opcode=OPCODE_ATTENTION,
        m=lq,
        k=d,
        n=lk,
        dv=dv,
        a_addr=q_addr,
        a_stride=ldq,
        b_addr=k_addr,
        b_stride=ldk,
        qp_addr=v_addr,
        v_stride=ldv,
        c_addr=o_addr,
        c_stride=ldo,
        scale_mult=scale_mult,
        scale_shift=scale_shift,
        q_mult=out_mult,
        q_shift=out_shift,
        q_zp=out_zp,
        causal=int(bool(causal)),
        causal_offset=causal_offset,
        key_pad=key_pad,
    )
    rows = array_config.rows
    return AccelJob(
        desc=desc,
        regions=regions,
        c_rows=[(o_addr + r * ldo, o_bytes[r].tobytes()) for r in range(lq)],
        c_extent=(o_addr, ldo, dv, lq),
        options=options,
        label=label or f"attention lq={lq} lk={lk} d={d} dv={dv} causal={int(bool(causal))}",
        beat_bytes=w,
        pes=rows * rows,
        act_rows=attention_act_rows(rows, attention, lq, lk, d, dv),
        command_origins=attention_origins(desc, attention),
    )


def random_attention_job(
    array_config, frontend_config, attention, rng, *, lq, lk, d, dv, causal=False, key_pad=0,
    causal_offset=None, gaps=None, **options,
):  # fmt: skip
    """A job with random int8 Q, K, V and scales that spread the logits over a few units (as
    ``tb.attention_runtime.random_tile_jobs``); ``causal_offset`` defaults to ``lk − lq``
    (the queries are the last ``lq`` positions)."""
    q = rng.integers(-128, 128, (lq, d))
    k = rng.integers(-128, 128, (lk, d))
    v = rng.integers(-128, 128, (lk, dv))
    mult = attention_multipliers(rng.uniform(0.3, 2.0) / 5500, 1.0, 1 / 128, 1 / 128, d)
    gaps = tuple(int(g) for g in rng.integers(0, 2, 4)) if gaps is None else gaps
    return make_attention_job(
        array_config,
        frontend_config,
        attention,
        q,
        k,
        v,
        **mult,
        out_zp=int(rng.integers(-10, 11)),
        causal=causal,
        causal_offset=lk - lq if causal_offset is None else causal_offset,
        key_pad=key_pad,
        gaps=gaps,
        rng=rng,
        **options,
    )
