"""Quantised attention tile: base-2 LUT integer softmax with deferred normalisation (numerics §4).

For int8 Q [Lq×d], K [Lk×d] and V [Lk×dv] the tile computes ``S = Q·Kᵀ`` on the array, the
integer softmax numerator P (uint8, or 16 bits as two uint8 passes), ``O_acc = P·V`` on the
array with P as the streaming uint8 operand and V stationary, ``L = ΣP``, one exact rounded
division ``y = DIV_RHU(O_acc·2^16, L)`` per output and the requantisation B of §3.6. Every
value is an exact integer function of the inputs; this module is the definition the hardware
must reproduce bit for bit.

Pipeline stages and their functions:

- exp ROM contents: :func:`exp2_lut` (§4.2, Appendix A)
- ``u = RHU(S·Me / 2^ne)``: :func:`log2_logits` (§4.2)
- ``e = exp_core(m − u)``, also the rescale α: :func:`exp_core` (§4.2, §4.3)
- ``P = RHU(e·(2^PB − 1) / 2^15)``: :func:`p_weights` (§4.2, §4.4)
- P and L of whole rows: :func:`softmax_int` (§4.2)
- the divider: :func:`row_reciprocal` and :func:`div_rhu_reciprocal` (the hardware route,
  §4.2), :func:`div_rhu` (the exact definition, §4.1)
- valid bits: :func:`attention_mask` (§4)
- the tile: :func:`attention_from_scores` (from S) and :func:`attention_tile` (from Q, K, V),
  modes ``single``, ``preload`` and ``online`` (§4.1, §4.3), PB = 16 (§4.4)
- offline constants and widths: :func:`attention_multipliers`, :func:`attention_widths`

Multipliers are passed as the hardware registers ``(M, n)`` of requantisation B, as in
:func:`golden.requant.requantize`: ``n`` is the right shift, ``n = 31 − shift`` of the TFLite
pair that ``quantize_multiplier`` (§3.4) returns. :func:`attention_multipliers` makes them.
Bad arguments raise :class:`golden.errors.UsageError` (a ``ValueError`` or ``TypeError``)
naming the parameter and its allowed range.
"""

import functools
import math
import numbers
from typing import NamedTuple

import numpy as np

from golden.errors import UsageTypeError, UsageValueError, check_bool, check_int
from golden.formats import int8_acc_width
from golden.int8 import gemm_int8
from golden.requant import MULT_MAX, SHIFT_MAX, SHIFT_MIN, quantize_multiplier, requantize

#: EB: fraction bits of the exp LUT and of exp_core's output (Q0.15, §4.2).
EXP_BITS = 15
#: Allowed values of ``exp_frac_bits`` (F, §4.2 and §4.4); 6 is the default.
EXP_FRAC_BITS = (6, 8)
#: Allowed values of ``p_bits`` (PB, §4.1 and §4.4); 8 is the default.
P_BITS = (8, 16)
#: Row-max modes of §4.3: one tile, pre-loaded max (two passes), running max (one pass).
ATTENTION_MODES = ("single", "preload", "online")
#: The fixed scale of the dividend: ``y = DIV_RHU(O_acc·2^16, L)`` (§4.1).
Y_FRAC_BITS = 16

_LOG2_E = 1.4426950408889634  # §4: the constant of the offline μ_e, fixed to the bit
_S_RANGE = (-(1 << 31), (1 << 31) - 1)  # S is an int32 array result (§3.1)
_LK_MAX = 1 << 20  # keeps every int64 intermediate exact (O_acc·2^17 < 2^63 at PB = 16)
_D_MAX = 1 << 16  # keeps |S| ≤ 2^14·d inside int32 (§3.1)


# --- validation -------------------------------------------------------------------------------


def _check_choice(name, value, choices):
    """Like :func:`golden.errors.check_choice`, for choices that are not all strings."""
    if isinstance(value, bool) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise UsageValueError(f"{name} must be one of {allowed}, got {value!r}", parameter=name)
    return value


def _check_array(name, x, lo, hi, ndim=None):
    x = np.asarray(x)
    if ndim is not None and x.ndim not in ndim:
        dims = " or ".join(f"{n}-D" for n in ndim)
        raise UsageValueError(f"{name} must be a {dims} array, got shape {x.shape}", parameter=name)
    if x.dtype == bool or not np.issubdtype(x.dtype, np.integer):
        raise UsageTypeError(f"{name} must hold integers, got dtype {x.dtype}", parameter=name)
    if x.size and (x.min() < lo or x.max() > hi):
        raise UsageValueError(
            f"{name} values must be between {lo} and {hi}, got {x.min()}..{x.max()}",
            parameter=name,
        )
    return x.astype(np.int64)


def _check_bits(name, x, shape):
    """Valid bits: bool, or integers that are all 0 or 1. Never scores (§4)."""
    x = np.asarray(x)
    if x.dtype != bool:
        if not np.issubdtype(x.dtype, np.integer):
            raise UsageTypeError(
                f"{name} must hold valid bits (bool or 0/1), got dtype {x.dtype}", parameter=name
            )
        if x.size and (x.min() < 0 or x.max() > 1):
            raise UsageValueError(
                f"{name} values must be 0 or 1, got {x.min()}..{x.max()}", parameter=name
            )
    if x.shape != shape:
        raise UsageValueError(f"{name} must have shape {shape}, got {x.shape}", parameter=name)
    return x.astype(bool)


# --- shared integer primitives -----------------------------------------------------------------


def _mul_shift_rhu(x, mult, n):
    """``(x·M + 2^(n−1)) >> n``: the requant-B core (§3.6) without zero point or clamp.

    :func:`golden.requant.requantize` always clamps to int8, so u (§4.2) cannot use it.
    Exact in int64 for |x| ≤ 2^31: |x·M| < 2^62 and 2^(n−1) ≤ 2^61.
    """
    return (x * np.int64(mult) + np.int64(1 << (n - 1))) >> np.int64(n)


# --- exp core ---------------------------------------------------------------------------------


@functools.cache
def exp2_lut(exp_frac_bits=6):
    """The frozen exp ROM: ``LUT[i] = floor(2^15 · 2^(−i/2^F) + 0.5)``, i = 0..2^F − 1.

    This is the one place the tables are generated; the hardware generator builds its ROM from
    it (docs/numerics.md §4.2 "the generator and the golden model must import the *same* Python
    function"). The values are computed in exact integer arithmetic, with no float:
    ``floor(2^(16 − i/2^F)) = isqrt^F(2^(16·2^F − i))`` (nested integer square roots floor
    exactly), and ``floor(x + 1/2) = (floor(2x) + 1) >> 1``. They equal Appendix A.

    Parameters
    ----------
    exp_frac_bits : int
        F: 6 (``LUT15``, 64 × 16 bits, the default) or 8 (``LUT15_F8``, 256 × 16 bits, §4.4).

    Returns
    -------
    tuple of int
        ``2^F`` entries in [16384, 32768], non-increasing, ``LUT[0] = 32768``.
    """
    f = _check_choice("exp_frac_bits", exp_frac_bits, EXP_FRAC_BITS)
    lut = []
    for i in range(1 << f):
        root = 1 << ((EXP_BITS + 1) * (1 << f) - i)  # 2x = 2^(16 − i/2^F), raised to 2^F
        for _ in range(f):
            root = math.isqrt(root)
        lut.append((root + 1) >> 1)
    return tuple(lut)


@functools.cache
def _lut_array(f):
    lut = np.array(exp2_lut(f), dtype=np.int64)
    lut.flags.writeable = False
    return lut


def _exp_core(d, f):
    """:func:`exp_core` without validation, for d ≥ 0 int64 arrays."""
    d = np.minimum(d, np.int64((EXP_BITS + 1) << f))  # D saturates at (EB+1)·2^F
    ip = d >> np.int64(f)
    fp = d & np.int64((1 << f) - 1)
    rounding = np.left_shift(np.int64(1), ip) >> np.int64(1)  # 2^ip >> 1: round half up
    return np.where(ip <= EXP_BITS, (_lut_array(f)[fp] + rounding) >> ip, 0)


def exp_core(d, *, exp_frac_bits=6):
    """``e = exp_core(d) ≈ 2^15 · 2^(−d/2^F)`` in Q0.15 (docs/numerics.md §4.2).

    ``D = min(d, (EB+1)·2^F)``, ``ip = D >> F``, ``fp = D & (2^F − 1)``, then
    ``e = ip ≤ EB ? (LUT[fp] + (2^ip >> 1)) >> ip : 0``: a ROM read and a rounding shift.
    Also the rescale factor α of §4.3.

    Parameters
    ----------
    d : int or array of int
        Log2-domain differences ``m − u`` in units of ``2^−F`` octaves, at least 0.
    exp_frac_bits : int
        F, 6 or 8.

    Returns
    -------
    ndarray of int64
        ``e ∈ [0, 2^15]``; ``2^15`` only at ``d = 0``, 0 for ``d ≥ 16·2^F``.
    """
    f = _check_choice("exp_frac_bits", exp_frac_bits, EXP_FRAC_BITS)
    d = _check_array("d", d, 0, np.iinfo(np.int64).max)
    return _exp_core(d, f)


def _p_weights(e, pb):
    return (e * np.int64((1 << pb) - 1) + np.int64(1 << (EXP_BITS - 1))) >> np.int64(EXP_BITS)


def p_weights(e, *, p_bits=8):
    """Unnormalised softmax weights ``P = (e·(2^PB − 1) + 2^14) >> 15`` (docs/numerics.md §4.2).

    The row max (``e = 2^15``) maps to ``2^PB − 1``; no clamp is needed. At PB = 8, keys with
    ``e ≤ 64`` get ``P = 0`` and ``e = 65`` gets 1.

    Parameters
    ----------
    e : int or array of int
        exp_core outputs, in [0, 2^15].
    p_bits : int
        PB, 8 (uint8, the default) or 16 (two uint8 passes, §4.4).

    Returns
    -------
    ndarray of int64
        P in [0, 2^PB − 1].
    """
    pb = _check_choice("p_bits", p_bits, P_BITS)
    return _p_weights(_check_array("e", e, 0, 1 << EXP_BITS), pb)


def log2_logits(s, scale_mult, scale_shift):
    """Scores to log2-domain logits ``u = (S·Me + 2^(ne−1)) >> ne`` (docs/numerics.md §4.2).

    The requantisation-B primitive (§3.6) without zero point or clamp; ``u`` has F fraction
    bits: ``u ≈ S·s·log2(e)·2^F``.

    Parameters
    ----------
    s : array of int
        Scores ``S = Q·Kᵀ``, int32.
    scale_mult, scale_shift : int
        ``(Me, ne)`` for ``μ_e = s_q·s_k/√d·log2(e)·2^F`` (:func:`attention_multipliers`);
        ``Me ∈ [0, 2^31 − 1]``, ``ne ∈ [1, 62]``.

    Returns
    -------
    ndarray of int64
    """
    s = _check_array("s", s, *_S_RANGE)
    mult = check_int("scale_mult", scale_mult, 0, MULT_MAX)
    n = check_int("scale_shift", scale_shift, SHIFT_MIN, SHIFT_MAX)
    return _mul_shift_rhu(s, mult, n)


def _softmax_from_u(u, valid, m, f, pb):
    """P for logits ``u`` against row maxima ``m`` (broadcast), zero at invalid positions."""
    d = np.where(valid, m - u, 0)  # masked keys may lie above m; they never reach the LUT
    return np.where(valid, _p_weights(_exp_core(d, f), pb), 0)


def _row_max(u, valid):
    """``(has, m)``: any valid key per row, and the max of u over the valid keys (else 0)."""
    has = valid.any(axis=-1)
    m = np.where(valid, u, np.iinfo(np.int64).min).max(axis=-1, initial=np.iinfo(np.int64).min)
    return has, np.where(has, m, 0)


def softmax_int(s, scale_mult, scale_shift, mask=None, *, p_bits=8, exp_frac_bits=6):
    """The integer softmax numerator P and its row sum L, single tile (docs/numerics.md §4.2).

    Per row, over the valid keys j only: ``u_j`` from :func:`log2_logits`, ``m = max u_j``,
    ``e_j = exp_core(m − u_j)``, ``P_j = (e_j·(2^PB − 1) + 2^14) >> 15``, ``L = Σ P_j``. Masked
    keys get ``P = 0``; a row with no valid key has ``P ≡ 0`` and ``L = 0``. Keys at the row max
    (and only they) get ``2^PB − 1``, so flat rows and exact ties are exact.

    Parameters
    ----------
    s : array (Lk,) or (Lq, Lk) of int
        Scores, int32.
    scale_mult, scale_shift : int
        ``(Me, ne)``, see :func:`log2_logits`.
    mask : array of bool, same shape as ``s``, optional
        Valid bits (True: the key takes part). Bits, never scores. Default: all valid.
    p_bits : int
        PB, 8 or 16.
    exp_frac_bits : int
        F, 6 or 8; ``(Me, ne)`` must quantise ``s·log2(e)·2^F`` for the same F.

    Returns
    -------
    p : ndarray of int64, shape of ``s``
        P in [0, 2^PB − 1].
    l : ndarray of int64, shape ``s.shape[:-1]``
        ``L = ΣP`` (exact); ``L ≥ 2^PB − 1`` whenever the row has a valid key.
    """
    pb = _check_choice("p_bits", p_bits, P_BITS)
    f = _check_choice("exp_frac_bits", exp_frac_bits, EXP_FRAC_BITS)
    s = _check_array("s", s, *_S_RANGE, ndim=(1, 2))
    valid = np.ones(s.shape, bool) if mask is None else _check_bits("mask", mask, s.shape)
    u = log2_logits(s, scale_mult, scale_shift)
    _, m = _row_max(u, valid)
    p = _softmax_from_u(u, valid, m[..., None], f, pb)
    return p, p.sum(axis=-1)


# --- division -----------------------------------------------------------------------------------


def div_rhu(a, b):
    """``DIV_RHU(a, b) = floor((2a + b) / (2b))``: exact division rounding half up (§4.1).

    The exact definition the hardware divider must match; :func:`div_rhu_reciprocal` is the
    hardware route.

    Parameters
    ----------
    a : int or array of int
        Dividend, |a| < 2^61.
    b : int or array of int
        Divisor, 1 ≤ b < 2^61; broadcast against ``a``.

    Returns
    -------
    ndarray of int64
    """
    a = _check_array("a", a, -(1 << 61) + 1, (1 << 61) - 1)
    b = _check_array("b", b, 1, (1 << 61) - 1)
    return (2 * a + b) // (2 * b)  # NumPy // floors for negative dividends too


def row_reciprocal(l, *, saturate=False):
    """The per-row reciprocal of the divider: ``k = bitlen(L) + 31``, ``R = floor(2^k / L)``.

    numerics §4.2, "DIV_RHU in hardware": one reciprocal per row, overlapped with the next row.
    ``R ∈ (2^31, 2^32]`` for every L, with ``R = 2^32`` only for L a power of two.

    Parameters
    ----------
    l : int or array of int
        Row sums, 1 ≤ L < 2^31.
    saturate : bool
        Saturate ``R = 2^32`` to ``2^32 − 1`` (a 32-bit R register); the corrected quotient
        is the same.

    Returns
    -------
    r, k : ndarray of int64
    """
    l = _check_array("l", l, 1, (1 << 31) - 1)
    # frexp is exact on integers below 2^53: l = mant·2^exp with mant ∈ [0.5, 1), exp = bitlen.
    k = np.frexp(l.astype(np.float64))[1].astype(np.int64) + 31
    r = np.left_shift(np.int64(1), k) // l
    if saturate:
        r = np.minimum(r, (1 << 32) - 1)
    return r, k


def div_rhu_reciprocal(o_acc, l, *, saturate=False):
    """``y = DIV_RHU(O_acc·2^16, L)`` as the hardware computes it (docs/numerics.md §4.2).

    ::

        k = bitlen(L) + 31 ;  R = floor(2^k / L)           # row_reciprocal, once per row
        q = (O_acc·R + 2^(k−17)) >> (k − 16)               # 30×32 multiply, rounding shift
        t = 2·O_acc·2^16 − 2·q·L                           # exact result iff t ∈ [−L, L)
        q = t ≥ L ? q + 1 : (t < −L ? q − 1 : q)           # one ±1 correction

    Before rounding, the estimate ``O_acc·2^16·R/2^k`` lies below the exact quotient (above it
    for negative O_acc) by less than ``|O_acc|·2^16/2^k < |O_acc|/(L·2^15)``, since
    ``2^k > L·2^31``. For ``|O_acc| < 2^15·L`` that is below 1, so the rounded estimate is
    exact or off by one, and one correction returns DIV_RHU. The datapath keeps
    ``|O_acc| < 222·L`` (§4.2, §4.3); a larger ``|O_acc|`` is refused.

    Parameters
    ----------
    o_acc : int or array of int
        Accumulated ``P·V``, |O_acc| < 2^15·L and < 2^44.
    l : int or array of int
        Row sums, 1 ≤ L < 2^31, broadcast against ``o_acc`` (one L per row: ``l[:, None]``).
    saturate : bool
        Use the 32-bit saturated R of :func:`row_reciprocal`.

    Returns
    -------
    ndarray of int64
        Equal to ``div_rhu(o_acc·2^16, l)`` on every allowed input.
    """
    o_acc = _check_array("o_acc", o_acc, -(1 << 44) + 1, (1 << 44) - 1)
    r, k = row_reciprocal(l, saturate=saturate)
    l = np.asarray(l, dtype=np.int64)
    o_acc, l, r, k = np.broadcast_arrays(o_acc, l, r, k)
    if np.any(np.abs(o_acc) >= l << np.int64(EXP_BITS)):
        raise UsageValueError(
            "o_acc must satisfy |o_acc| < 2^15·l (one correction suffices there)",
            parameter="o_acc",
        )
    if o_acc.size and int(np.abs(o_acc).max()) * (1 << 32) + (1 << 61) >= 1 << 63:
        # The O_acc·R product leaves int64 (38-bit O_acc at PB = 16): exact Python ints.
        o_acc, r = o_acc.astype(object), r.astype(object)
        k = k.astype(object)
    q = (o_acc * r + (1 << (k - 17))) >> (k - 16)
    q = np.asarray(q, dtype=np.int64)
    o_acc, k = o_acc.astype(np.int64), k.astype(np.int64)
    t = (o_acc << np.int64(Y_FRAC_BITS + 1)) - 2 * q * l
    return np.where(t >= l, q + 1, np.where(t < -l, q - 1, q))


# --- masks and the tile -------------------------------------------------------------------------


def attention_mask(lq, lk, *, mask=None, key_valid=None, causal=False, causal_offset=None):
    """Valid bits of an attention tile, one per (query, key) (docs/numerics.md §4).

    A key is valid for a query iff every given condition holds: the explicit ``mask`` bit, the
    key's ``key_valid`` bit (False: a padding key), and, with ``causal``,
    ``j ≤ q_pos(i) = i + causal_offset``.

    Parameters
    ----------
    lq, lk : int
        Tile shape, at least 1.
    mask : array (lq, lk) of bool or 0/1, optional
        Explicit valid bits.
    key_valid : array (lk,) of bool or 0/1, optional
        Key padding as valid bits: True for a real key, False for padding.
    causal : bool
        Apply the causal condition.
    causal_offset : int, optional
        Absolute position of query row 0; only with ``causal``. Default ``lk − lq``
        (bottom-right, FlashAttention ≥ 2.1: the last query sees every key); 0 is the top-left
        convention of ``torch.tril``. Rows with ``q_pos < 0`` are fully masked.

    Returns
    -------
    ndarray (lq, lk) of bool
    """
    lq = check_int("lq", lq, 1, _LK_MAX)
    lk = check_int("lk", lk, 1, _LK_MAX)
    causal = check_bool("causal", causal)
    valid = np.ones((lq, lk), bool)
    if mask is not None:
        valid &= _check_bits("mask", mask, (lq, lk))
    if key_valid is not None:
        valid &= _check_bits("key_valid", key_valid, (lk,))[None, :]
    if causal:
        offset = lk - lq if causal_offset is None else causal_offset
        offset = check_int("causal_offset", offset, -_LK_MAX, _LK_MAX)
        valid &= np.arange(lk)[None, :] <= np.arange(lq)[:, None] + offset
    elif causal_offset is not None:
        raise UsageValueError(
            "causal_offset is only used with causal=True", parameter="causal_offset"
        )
    return valid


class AttentionTrace(NamedTuple):
    """Every intermediate of one attention tile (docs/numerics.md §4.1), for tests and testbenches.

    Members
    -------
    s : ndarray (Lq, Lk) of int64
        Scores ``Q·Kᵀ``.
    u : ndarray (Lq, Lk) of int64
        Log2-domain logits.
    valid : ndarray (Lq, Lk) of bool
        Valid bits.
    p : ndarray (Lq, Lk) of int64
        P as streamed into the array: against the row max (single, preload) or against the
        running max of its block (online).
    l : ndarray (Lq,) of int64
        Final L.
    o_acc : ndarray (Lq, dv) of int64
        Final O_acc (two passes combined at PB = 16).
    y : ndarray (Lq, dv) of int64
        ``DIV_RHU(O_acc·2^16, L)``, 0 where ``L = 0``.
    o : ndarray (Lq, dv) of int64
        The int8 output.
    """

    s: np.ndarray
    u: np.ndarray
    valid: np.ndarray
    p: np.ndarray
    l: np.ndarray
    o_acc: np.ndarray
    y: np.ndarray
    o: np.ndarray


def _p_times_v(p, v, pb):
    """``P·V`` on the array, P as the streaming uint8 operand (§4.1 step 3, §4.4)."""
    width = int8_acc_width(max(v.shape[0], 1), act_unsigned=True)  # §3.1 uint8×int8 row
    if pb == 8:
        return gemm_int8(p, v, width, act_unsigned=True)
    hi = gemm_int8(p >> 8, v, width, act_unsigned=True)
    lo = gemm_int8(p & 255, v, width, act_unsigned=True)
    return (hi << np.int64(8)) + lo  # §4.4: two passes over the same stationary V


def _blocks(u, valid, v, *, block, preload, f, pb):
    """Key blocks of width B_c in ascending order, with the §4.3 state per query row."""
    lq, lk = u.shape
    l = np.zeros(lq, np.int64)
    o_acc = np.zeros((lq, v.shape[1]), np.int64)
    p = np.zeros((lq, lk), np.int64)
    if preload:  # first pass over Q·Kᵀ: only the max; a row with no valid key keeps has = 0
        has, m = _row_max(u, valid)
    else:
        has, m = np.zeros(lq, bool), np.zeros(lq, np.int64)
    half = np.int64(1 << (EXP_BITS - 1))
    for j0 in range(0, lk, block):
        ub, vb = u[:, j0 : j0 + block], valid[:, j0 : j0 + block]
        bhas, bm = _row_max(ub, vb)
        grow = has & bhas & (bm > m)
        if grow.any():  # the max grows: rescale the state by α = exp_core(bm − m)
            alpha = _exp_core(np.where(grow, bm - m, 0), f)
            o_acc = np.where(grow[:, None], (o_acc * alpha[:, None] + half) >> EXP_BITS, o_acc)
            l = np.where(grow, (l * alpha + half) >> EXP_BITS, l)
            m = np.where(grow, bm, m)
        new = bhas & ~has
        m = np.where(new, bm, m)
        has = has | new
        pblk = _softmax_from_u(ub, vb, m[:, None], f, pb)
        p[:, j0 : j0 + block] = pblk
        l = l + pblk.sum(axis=1)
        o_acc = o_acc + _p_times_v(pblk, v[j0 : j0 + block], pb)
    return p, l, o_acc


def attention_from_scores(
    s,
    v,
    *,
    scale_mult,
    scale_shift,
    out_mult,
    out_shift,
    out_zp=0,
    mask=None,
    key_valid=None,
    causal=False,
    causal_offset=None,
    mode="single",
    block=None,
    p_bits=8,
    exp_frac_bits=6,
    trace=False,
):
    """The attention tile after ``S = Q·Kᵀ``: softmax, ``P·V``, division, output (numerics §4).

    See :func:`attention_tile` for the parameters; ``s`` replaces ``q`` and ``k``.

    Parameters
    ----------
    s : array (Lq, Lk) of int
        Scores, int32.
    v : array (Lk, dv) of int
        Int8 values, stationary in the array.

    Returns
    -------
    ndarray (Lq, dv) of int64, or AttentionTrace when ``trace``
    """
    s = _check_array("s", s, *_S_RANGE, ndim=(2,))
    v = _check_array("v", v, -128, 127, ndim=(2,))
    lq, lk = s.shape
    if lk > _LK_MAX:
        raise UsageValueError(f"Lk must be between 1 and {_LK_MAX}, got {lk}", parameter="s")
    if v.shape[0] != lk or v.shape[1] < 1 or lq < 1 or lk < 1:
        raise UsageValueError(
            f"s must be Lq×Lk and v Lk×dv (all ≥ 1), got s {s.shape}, v {v.shape}", parameter="v"
        )
    mode = _check_choice("mode", mode, ATTENTION_MODES)
    if mode == "single":
        if block is not None:
            raise UsageValueError(
                f"block is only used with mode 'preload' or 'online', got {block!r}",
                parameter="block",
            )
    else:
        block = check_int("block", block, 1, _LK_MAX)
    pb = _check_choice("p_bits", p_bits, P_BITS)
    f = _check_choice("exp_frac_bits", exp_frac_bits, EXP_FRAC_BITS)
    out_mult = check_int("out_mult", out_mult, 0, MULT_MAX)
    out_shift = check_int("out_shift", out_shift, SHIFT_MIN, SHIFT_MAX)
    out_zp = check_int("out_zp", out_zp, -128, 127)
    trace = check_bool("trace", trace)
    valid = attention_mask(
        lq, lk, mask=mask, key_valid=key_valid, causal=causal, causal_offset=causal_offset
    )
    u = log2_logits(s, scale_mult, scale_shift)

    if mode == "single":  # §4.1–§4.2: the whole row in one tile
        _, m = _row_max(u, valid)
        p = _softmax_from_u(u, valid, m[:, None], f, pb)
        l = p.sum(axis=1)
        o_acc = _p_times_v(p, v, pb)
    else:  # §4.3: key blocks, pre-loaded or running max
        p, l, o_acc = _blocks(u, valid, v, block=block, preload=mode == "preload", f=f, pb=pb)

    # §4.1 step 4: a row with L = 0 (no valid key) issues no division and gives y = 0.
    y = np.zeros_like(o_acc)
    rows = l > 0
    if rows.any():
        y[rows] = div_rhu_reciprocal(o_acc[rows], l[rows, None])
    # §4.1 step 5: requantisation B with μ_o = s_v/(s_o·2^16); no 1/255 factor.
    o = requantize(y, out_mult, out_shift, out_zp, -128, 127)
    if trace:
        return AttentionTrace(s, u, valid, p, l, o_acc, y, o)
    return o


def attention_tile(
    q,
    k,
    v,
    *,
    scale_mult,
    scale_shift,
    out_mult,
    out_shift,
    out_zp=0,
    mask=None,
    key_valid=None,
    causal=False,
    causal_offset=None,
    mode="single",
    block=None,
    p_bits=8,
    exp_frac_bits=6,
    trace=False,
):
    """One quantised attention tile, bit-exact (docs/numerics.md §4.1–§4.4).

    ``S = Q·Kᵀ`` (int8 array, §3.1), the base-2 LUT softmax numerator P with deferred
    normalisation (§4.2), ``O_acc = P·V`` with P as the uint8 streaming operand (two passes at
    PB = 16, §4.4), ``L = ΣP``, ``y = L > 0 ? DIV_RHU(O_acc·2^16, L) : 0`` by the per-row
    reciprocal and one ±1 correction, and ``O = clamp(((y·Mo + 2^(no−1)) >> no) + z_o,
    −128, 127)``. A fully masked row gives ``out_zp``.

    Parameters
    ----------
    q : array (Lq, d) of int8
    k : array (Lk, d) of int8
    v : array (Lk, dv) of int8
        Symmetric int8 operands (z = 0); 1 ≤ d ≤ 65536, 1 ≤ Lk ≤ 2^20.
    scale_mult, scale_shift : int
        ``(Me, ne)`` for ``μ_e = s_q·s_k/√d·log2(e)·2^F`` (:func:`attention_multipliers`);
        ``Me ∈ [0, 2^31 − 1]``, ``ne ∈ [1, 62]`` (the right shift, ``31 −`` TFLite's shift).
    out_mult, out_shift : int
        ``(Mo, no)`` for ``μ_o = s_v/(s_o·2^16)``, same ranges.
    out_zp : int
        Output zero point z_o, in [−128, 127].
    mask, key_valid, causal, causal_offset
        Valid bits, see :func:`attention_mask`. Masks are bits, never scores.
    mode : str
        ``"single"``: one tile over the whole row (§4.1). ``"preload"``: key blocks of width
        ``block`` with the row max from a first pass; equal to ``"single"`` for every block.
        ``"online"``: key blocks with the running max and the α rescale (§4.3); the result
        depends on ``block`` unless ``block ≥ Lk``.
    block : int, optional
        B_c, the key block width, for ``"preload"`` and ``"online"`` only.
    p_bits : int
        PB: 8 (default) or 16 (§4.4).
    exp_frac_bits : int
        F: 6 (default) or 8 (§4.4); ``scale_mult`` must quantise ``…·2^F`` for the same F.
    trace : bool
        Return an :class:`AttentionTrace` of every intermediate instead of the output.

    Returns
    -------
    ndarray (Lq, dv) of int64 in [−128, 127], or AttentionTrace when ``trace``
    """
    q = _check_array("q", q, -128, 127, ndim=(2,))
    k = _check_array("k", k, -128, 127, ndim=(2,))
    if q.shape[1] != k.shape[1] or not 1 <= q.shape[1] <= _D_MAX:
        raise UsageValueError(
            f"q and k must share d between 1 and {_D_MAX}, got q {q.shape}, k {k.shape}"
        )
    s = gemm_int8(q, k.T, int8_acc_width(q.shape[1]))  # §4.1 step 1, on the array
    return attention_from_scores(
        s,
        v,
        scale_mult=scale_mult,
        scale_shift=scale_shift,
        out_mult=out_mult,
        out_shift=out_shift,
        out_zp=out_zp,
        mask=mask,
        key_valid=key_valid,
        causal=causal,
        causal_offset=causal_offset,
        mode=mode,
        block=block,
        p_bits=p_bits,
        exp_frac_bits=exp_frac_bits,
        trace=trace,
    )


# --- offline constants and widths ---------------------------------------------------------------


def attention_multipliers(s_q, s_k, s_v, s_o, d, *, exp_frac_bits=6):
    """The offline integer constants of the tile, computed in float64 as docs/numerics.md §4 fixes.

    ``μ_e = s_q · s_k / sqrt(d) · log2(e) · 2^F`` (left to right, ``log2(e) =
    1.4426950408889634``) and ``μ_o = s_v / (s_o · 2^16)``, each through
    ``quantize_multiplier`` (§3.4). This runs in the compiler; the hardware and the model only
    see the integers.

    Parameters
    ----------
    s_q, s_k, s_v, s_o : float
        Positive real scales of Q, K, V and the output.
    d : int
        Head dimension.
    exp_frac_bits : int
        F, 6 or 8.

    Returns
    -------
    dict
        ``scale_mult``, ``scale_shift`` (``Me``, ``ne``), ``out_mult``, ``out_shift`` (``Mo``,
        ``no``): keyword arguments of :func:`attention_tile`; the shifts are right shifts
        ``n = 31 − shift`` of the TFLite pairs.
    """
    f = _check_choice("exp_frac_bits", exp_frac_bits, EXP_FRAC_BITS)
    d = check_int("d", d, 1, _D_MAX)
    for name, value in (("s_q", s_q), ("s_k", s_k), ("s_v", s_v), ("s_o", s_o)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageTypeError(f"{name} must be a real number, got {value!r}", parameter=name)
        if not 0 < value < math.inf:
            raise UsageValueError(
                f"{name} must be a positive finite number, got {value!r}", parameter=name
            )
    mu_e = s_q * s_k / math.sqrt(d) * _LOG2_E * (1 << f)
    mu_o = s_v / (s_o * (1 << Y_FRAC_BITS))
    out = {}
    for name, mu in (("scale", mu_e), ("out", mu_o)):
        mult, shift = quantize_multiplier(mu)
        if not SHIFT_MIN <= 31 - shift <= SHIFT_MAX:  # only μ ≥ 2^30: no such scale is sane
            raise UsageValueError(
                f"{name} multiplier {mu!r} must be below 2^30 (its right shift would be "
                f"{31 - shift})",
                parameter=name,
            )
        out[f"{name}_mult"], out[f"{name}_shift"] = mult, 31 - shift
    return out


def attention_widths(lk_max, *, p_bits=8, online=False):
    """Register widths of the attention datapath (docs/numerics.md §4.1 table, §4.3, §4.4).

    Parameters
    ----------
    lk_max : int
        Longest row the hardware supports.
    p_bits : int
        PB, 8 or 16.
    online : bool
        The running-max mode without a pre-loaded max, where y needs one more bit.

    Returns
    -------
    dict of str to int
        ``l`` (unsigned) ``bitlen((2^PB − 1)·Lk_max)``; ``o_acc`` (signed)
        ``1 + bitlen(128·(2^PB − 1)·Lk_max)``; ``dividend`` = ``o_acc + 16``; ``y`` (signed)
        24, or 25 online.
    """
    lk_max = check_int("lk_max", lk_max, 1, _LK_MAX)
    pb = _check_choice("p_bits", p_bits, P_BITS)
    pmax = (1 << pb) - 1
    o_acc = 1 + (128 * pmax * lk_max).bit_length()
    return {
        "l": (pmax * lk_max).bit_length(),
        "o_acc": o_acc,
        "dividend": o_acc + Y_FRAC_BITS,
        "y": 25 if online else 24,
    }
