# amaranth: UnusedElaboratable=no
"""A transformer head's attention through the tile in Verilator, against float64.

The head is built as a decoder layer builds it: token embeddings plus sinusoidal positions,
layer norm, and query, key and value projections with fixed random weights, scaled so the
logits have the spread of a trained head (standard deviation about 2.5, a few keys
dominating each row). Q, K and V are quantised to int8 per tensor, as a post-training
quantiser would, and the tile runs the last 16 queries of a 64-token causal context (a
prefill chunk with its keys cached). Three comparisons:

- the hardware equals ``golden.attention.attention_tile`` bit for bit;
- against float64 softmax attention on the same int8 Q, K, V (the tile's own arithmetic),
  the int8 output is within 2 output LSB everywhere and 0.4 on average (0.90 and 0.29
  measured; the output's own rounding alone accounts for up to 0.5 and 0.25);
- against float64 attention on the unquantised Q, K, V (what a user's model computes), the
  output is within 4 output LSB and 0.75 on average (2.57 and 0.48 measured; the int8
  quantisation of Q, K and V included).

The bounds are measured on this fixed head with margin, not guarantees of docs/numerics.md.
"""

import math

import numpy as np
import pytest

from golden.attention import attention_multipliers, attention_tile
from tb.attention_runtime import TileBuildConfig, run_tiles

pytestmark = pytest.mark.verilator

#: The build of tests/test_attention_tile_verilator.py (shared: no extra compile).
CONFIG = TileBuildConfig(
    rows=4, cols=4, max_lq=16, max_lk=64, max_d=32, max_dv=16, max_lk_total=128
)
CONTEXT, QUERIES, MODEL_DIM, HEAD_DIM, VALUE_DIM = 64, 16, 96, 32, 16
LOGIT_STD = 2.5


def _layer_norm(x):
    return (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)


def _head(rng):
    """Real-valued Q [QUERIES×d], K, V [CONTEXT×·] of one causal self-attention head."""
    positions = np.arange(CONTEXT)[:, None]
    freqs = np.exp(-math.log(10000.0) * np.arange(0, MODEL_DIM, 2) / MODEL_DIM)
    pos = np.zeros((CONTEXT, MODEL_DIM))
    pos[:, 0::2], pos[:, 1::2] = np.sin(positions * freqs), np.cos(positions * freqs)
    tokens = rng.normal(0, 1, (CONTEXT, MODEL_DIM)) + pos
    x = _layer_norm(tokens)
    w_q, w_k, w_v = (rng.normal(0, 1 / math.sqrt(MODEL_DIM), (MODEL_DIM, n))
                     for n in (HEAD_DIM, HEAD_DIM, VALUE_DIM))  # fmt: skip
    q, k, v = x[-QUERIES:] @ w_q, x @ w_k, x @ w_v
    # Scale Q so the logits q·k/sqrt(d) spread like a trained head's.
    logits = q @ k.T / math.sqrt(HEAD_DIM)
    return q * (LOGIT_STD / logits.std()), k, v


def _quantise(x):
    scale = np.abs(x).max() / 127
    return np.clip(np.round(x / scale), -127, 127).astype(np.int64), scale


def _float_attention(q, k, v, valid):
    logits = np.where(valid, q @ k.T / math.sqrt(q.shape[1]), -np.inf)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ v


def test_transformer_head_against_float64():
    rng = np.random.default_rng(2026)
    q_real, k_real, v_real = _head(rng)
    (q, s_q), (k, s_k), (v, s_v) = (_quantise(x) for x in (q_real, k_real, v_real))
    offset = CONTEXT - QUERIES  # query i sees keys 0 … i + offset
    valid = np.arange(CONTEXT)[None, :] <= np.arange(QUERIES)[:, None] + offset
    reference = _float_attention(q * s_q, k * s_k, v * s_v, valid)
    s_o = np.abs(reference).max() / 127
    mult = attention_multipliers(s_q, s_k, s_v, s_o, HEAD_DIM)

    want = attention_tile(q, k, v, **mult, causal=True, causal_offset=offset)
    params = dict(lq=QUERIES, lk=CONTEXT, d=HEAD_DIM, dv=VALUE_DIM, **mult, out_zp=0, causal=1,
                  causal_offset=offset, key_pad=0, mode=0)  # fmt: skip
    (run,) = run_tiles(CONFIG, [{"q": q, "k": k, "v": v, "params": params}], seed=3)
    np.testing.assert_array_equal(run["o"], want)

    # The head must be the kind meant: a few keys carry most of each row's weight.
    logits = np.where(valid, q_real @ k_real.T / math.sqrt(HEAD_DIM), -np.inf)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    top = np.sort(p / p.sum(axis=1, keepdims=True), axis=1)[:, -4:].sum(axis=1)
    assert 0.3 < top.mean() < 0.95, top.mean()

    error = np.abs(run["o"] - reference / s_o)
    assert error.max() <= 2.0 and error.mean() <= 0.4, (error.max(), error.mean())
    full = np.abs(run["o"] - _float_attention(q_real, k_real, v_real, valid) / s_o)
    assert full.max() <= 4.0 and full.mean() <= 0.75, (full.max(), full.mean())
