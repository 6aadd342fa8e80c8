"""Measure the attention tile's output error against float64 softmax attention (numerics §4.2).

The metric is §4.2's: the float64 reference ``O_ref = softmax(S·s)·V`` on the *same* int8
Q, K, V (or the same integer scores S), so only the tile's own arithmetic is measured.
Errors are reported in V-LSB (``|y/2^16 − O_ref|``, before the output requantisation) and in
O-LSB of the int8 output with ``s_o = max|O_ref|/127`` per draw and ``z_o = 0``
(``|O_q − O_ref/s_o|``, which includes the output's own rounding of up to 1/2).

Every number is a measurement on seeded draws, not a bound. Run::

    .venv/bin/python -m scripts.attention_accuracy            # all tables
    .venv/bin/python -m scripts.attention_accuracy --table main --lk 64 512 --draws 2
"""

import argparse
import math

import numpy as np

from golden.attention import attention_from_scores, attention_multipliers, attention_tile

#: Row kinds. ``qkv-*`` draw real Q, K, V and quantise them to int8 per tensor (d = 64);
#: the others set the real logits of each row directly (§4.2 "synthetic stress rows").
KINDS = {
    "qkv-t1": "Q, K, V Gaussian, d = 64, logit std 1, per-tensor int8",
    "qkv-t3": "Q, K, V Gaussian, d = 64, logit std 3, per-tensor int8",
    "flat": "all logits equal",
    "gauss1": "Gaussian logits, sigma = 1",
    "gauss3": "Gaussian logits, sigma = 3",
    "gauss8": "Gaussian logits, sigma = 8",
    "near-ties": "Lk/8 keys within 0.02 logit of the max, the rest N(0, 1)",
    "dominant": "key 0 at logit +10, an N(0, 1) tail",
    "dominant-far": "key 0 at 10 logits above the largest of an N(0, 1) tail",
    "ties510": "510 keys tied at the max, the rest 12 logits lower",
    "ascending": "sorted N(0, 3^2) logits (the running max grows in almost every block)",
}

#: Scale of the synthetic integer scores: logit = S·2^−8.
SYNTH_SCALE = 2.0**-8


def _synthetic_values(rng, lk, dv):
    """§4.2 stress V: int8 columns with means in [−96, 96] and std 24."""
    means = rng.uniform(-96, 96, dv)
    return np.clip(np.round(rng.normal(means, 24, (lk, dv))), -128, 127).astype(np.int64)


def _synthetic_logits(rng, kind, lq, lk):
    if kind == "flat":
        return np.zeros((lq, lk))
    if kind.startswith("gauss"):
        return rng.normal(0, float(kind[5:]), (lq, lk))
    if kind == "ascending":
        return np.sort(rng.normal(0, 3, (lq, lk)), axis=1)
    x = rng.normal(0, 1, (lq, lk))
    for row in x:
        if kind == "near-ties":
            top = rng.permutation(lk)[: max(lk // 8, 1)]
            row[top] = row.max() - rng.uniform(0, 0.02, top.size)
        elif kind == "dominant":
            row[0] = 10
        elif kind == "dominant-far":
            row[0] = row[1:].max() + 10
        elif kind == "ties510":
            row[:] = -12
            row[rng.permutation(lk)[: min(510, lk)]] = 0
        else:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return x


def _draw(rng, kind, lq, lk, dv):
    """``(q, k, s_int, v, scale)``: int8 Q and K (or None), integer S, int8 V, real s."""
    if kind.startswith("qkv-"):
        d, tau = 64, float(kind[5:])
        q_real = rng.normal(0, tau, (lq, d))
        k_real = rng.normal(0, 1, (lk, d))
        v_real = rng.normal(rng.normal(0, 1, dv), 1, (lk, dv))
        s_q, s_k = np.abs(q_real).max() / 127, np.abs(k_real).max() / 127
        q = np.round(q_real / s_q).astype(np.int64)
        k = np.round(k_real / s_k).astype(np.int64)
        v = np.round(v_real / (np.abs(v_real).max() / 127)).astype(np.int64)
        return q, k, q @ k.T, v, (s_q, s_k, d)
    s = np.round(_synthetic_logits(rng, kind, lq, lk) / SYNTH_SCALE).astype(np.int64)
    return None, None, s, _synthetic_values(rng, lk, dv), (SYNTH_SCALE, 1.0, 1)


def _reference(s, v, scale):
    """float64 softmax attention in V units, on the same integer scores."""
    x = s * (scale[0] * scale[1] / math.sqrt(scale[2]))
    p = np.exp(x - x.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ v


def measure(
    lk,
    kinds=("qkv-t1", "qkv-t3"),
    *,
    modes=(("single", None), ("preload", 64), ("online", 64)),
    schemes=((8, 6),),
    draws=4,
    lq=16,
    dv=64,
    seed=0,
):
    """Error statistics of the tile against float64, one entry per (kind, mode, scheme).

    Parameters
    ----------
    lk : int
        Row length.
    kinds : sequence of str
        Keys of :data:`KINDS`.
    modes : sequence of (str, int or None)
        ``(mode, block)`` pairs of :func:`golden.attention.attention_tile`.
    schemes : sequence of (int, int)
        ``(p_bits, exp_frac_bits)`` pairs.
    draws, lq, dv : int
        Draws per kind, query rows and value columns per draw.
    seed : int
        Seed of the first draw; each kind restarts from it, so every mode and scheme sees the
        same data.

    Returns
    -------
    list of dict
        ``kind, lk, mode, block, p_bits, exp_frac_bits, max_v_lsb, mean_v_lsb, max_o_lsb,
        mean_o_lsb, y_min`` (``y_min``: the smallest ``y/2^16 − min V``, to watch the online
        mode leave the convex hull).
    """
    out = []
    for kind in kinds:
        rng = np.random.default_rng(seed)
        data = [_draw(rng, kind, lq, lk, dv) for _ in range(draws)]
        for mode, block in modes:
            block = None if mode == "single" else block
            for pb, f in schemes:
                ev, eo, y_min = [], [], math.inf
                for q, k, s, v, scale in data:
                    ref = _reference(s, v, scale)
                    s_o = max(np.abs(ref).max(), 1e-9) / 127
                    kw = attention_multipliers(
                        scale[0], scale[1], 1.0, s_o, scale[2], exp_frac_bits=f
                    )
                    args = {"mode": mode, "block": block, "p_bits": pb, "exp_frac_bits": f}
                    if q is None:
                        tr = attention_from_scores(s, v, **kw, **args, trace=True)
                    else:
                        tr = attention_tile(q, k, v, **kw, **args, trace=True)
                    ev.append(np.abs(tr.y / 2.0**16 - ref).ravel())
                    eo.append(np.abs(tr.o - ref / s_o).ravel())
                    y_min = min(y_min, float((tr.y / 2.0**16 - v.min(axis=0)).min()))
                ev, eo = np.concatenate(ev), np.concatenate(eo)
                out.append(
                    {
                        "kind": kind,
                        "lk": lk,
                        "mode": mode,
                        "block": block,
                        "p_bits": pb,
                        "exp_frac_bits": f,
                        "max_v_lsb": float(ev.max()),
                        "mean_v_lsb": float(ev.mean()),
                        "max_o_lsb": float(eo.max()),
                        "mean_o_lsb": float(eo.mean()),
                        "y_min": y_min,
                    }
                )
    return out


def online_changes(lk, kind, *, block=64, p_bits=8, exp_frac_bits=6, draws=1, lq=8, dv=64, seed=0):
    """How the running max (no pre-loaded max) changes the result against the single tile.

    Returns
    -------
    dict
        ``y_changed`` and ``o_changed`` (fractions of outputs), ``o_max_diff`` (int8 LSB),
        ``single_max_v_lsb`` and ``online_max_v_lsb`` (errors against float64).
    """
    rng = np.random.default_rng(seed)
    yc, oc, od, es, eo = [], [], 0, 0.0, 0.0
    for _ in range(draws):
        _, _, s, v, scale = _draw(rng, kind, lq, lk, dv)
        ref = _reference(s, v, scale)
        s_o = np.abs(ref).max() / 127
        kw = attention_multipliers(
            scale[0], scale[1], 1.0, s_o, scale[2], exp_frac_bits=exp_frac_bits
        )
        kw.update(p_bits=p_bits, exp_frac_bits=exp_frac_bits, trace=True)
        a = attention_from_scores(s, v, **kw)
        b = attention_from_scores(s, v, **kw, mode="online", block=block)
        yc.append((a.y != b.y).ravel())
        oc.append((a.o != b.o).ravel())
        od = max(od, int(np.abs(a.o - b.o).max()))
        es = max(es, float(np.abs(a.y / 2.0**16 - ref).max()))
        eo = max(eo, float(np.abs(b.y / 2.0**16 - ref).max()))
    return {
        "y_changed": float(np.concatenate(yc).mean()),
        "o_changed": float(np.concatenate(oc).mean()),
        "o_max_diff": od,
        "single_max_v_lsb": es,
        "online_max_v_lsb": eo,
    }


def _fmt(x):
    return "0" if x == 0 else (f"{x:.2e}" if x < 1e-2 else f"{x:.3f}")


def _print_main(lks, draws, lq, seed):
    print("## Output error against float64 softmax attention (PB = 8, F = 6)\n")
    print(f"Seeded draws: {draws} × {lq} query rows × dv = 64 per cell, seed {seed}.\n")
    print("| kind | Lk | mode | B_c | max / mean (V-LSB) | int8 max / mean (O-LSB) |")
    print("|---|---|---|---|---|---|")
    modes = (("single", None), ("preload", 64), ("online", 64), ("online", 16))
    for lk in lks:
        for r in measure(lk, ("qkv-t1", "qkv-t3"), modes=modes, draws=draws, lq=lq, seed=seed):
            print(
                f"| {r['kind']} | {lk} | {r['mode']} | {r['block'] or '–'} "
                f"| {_fmt(r['max_v_lsb'])} / {_fmt(r['mean_v_lsb'])} "
                f"| {_fmt(r['max_o_lsb'])} / {_fmt(r['mean_o_lsb'])} |"
            )


def _print_spec(seed):
    print("\n## §4.2 synthetic stress rows, single tile (8 rows per kind, dv = 64; max V-LSB)\n")
    schemes = ((8, 6), (16, 6), (16, 8))
    print("| row kind | Lk | B8 | B16 | B16, F = 8 |")
    print("|---|---|---|---|---|")
    table = [
        ("flat", (512, 4096, 16384)),
        ("gauss1", (4096, 16384)),
        ("gauss3", (4096, 16384)),
        ("gauss8", (4096, 16384)),
        ("near-ties", (4096, 16384)),
        ("dominant", (512, 4096, 16384)),
        ("dominant-far", (512, 4096, 16384)),
        ("ties510", (4096,)),
    ]
    for kind, lks in table:
        for lk in lks:
            rows = measure(
                lk, (kind,), modes=(("single", None),), schemes=schemes, draws=1, lq=8, seed=seed
            )
            cells = " | ".join(_fmt(r["max_v_lsb"]) for r in rows)
            print(f"| {kind} | {lk} | {cells} |")


def _print_online(seed):
    print("\n## Running max (no pre-loaded max) against the single tile, Lk = 4096, B_c = 64\n")
    print("| kind | PB | y changed | int8 changed | max int8 diff | single / online max V-LSB |")
    print("|---|---|---|---|---|---|")
    for kind in ("gauss3", "ascending"):
        for pb, f in ((8, 6), (16, 6), (16, 8)):
            r = online_changes(4096, kind, p_bits=pb, exp_frac_bits=f, seed=seed)
            print(
                f"| {kind} | {pb}{', F = 8' if f == 8 else ''} | {r['y_changed']:.1%} "
                f"| {r['o_changed']:.1%} | {r['o_max_diff']} "
                f"| {_fmt(r['single_max_v_lsb'])} / {_fmt(r['online_max_v_lsb'])} |"
            )
    # §4.3: constant V = −128 under rescales, ascending rows: how far y/2^16 leaves [−128, 127].
    rng = np.random.default_rng(seed)
    s = np.round(_synthetic_logits(rng, "ascending", 8, 4096) / SYNTH_SCALE).astype(np.int64)
    kw = attention_multipliers(SYNTH_SCALE, 1.0, 1.0, 1.0, 1)
    tr = attention_from_scores(
        s, np.full((4096, 4), -128), **kw, mode="online", block=64, trace=True
    )
    print(f"\nV ≡ −128, ascending rows, online B_c = 64: min y/2^16 = {tr.y.min() / 2**16:.5f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=("all", "main", "spec", "online"), default="all")
    parser.add_argument("--lk", type=int, nargs="+", default=[64, 512, 4096])
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--lq", type=int, default=16)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    if args.table in ("all", "main"):
        _print_main(args.lk, args.draws, args.lq, args.seed)
    if args.table in ("all", "spec"):
        _print_spec(args.seed)
    if args.table in ("all", "online"):
        _print_online(args.seed)


if __name__ == "__main__":
    main()
