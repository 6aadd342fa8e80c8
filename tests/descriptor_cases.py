"""Descriptor cases shared by the golden and the hardware descriptor-check tests: a table of
illegal descriptors (accelerator §5.2 item 5) and legal edge cases with their expected codes, and
a random descriptor generator biased to the edges of every check.

Expected codes in :data:`CASES` are worked out by hand from accelerator §2.3, not computed by
``golden.descriptor``.
"""

import dataclasses
import random

from golden.descriptor import (
    OPCODE_ATTENTION,
    AttentionConfig,
    Descriptor,
    DescriptorLimits,
    ErrorCode,
    output_bytes,
)
from golden.frontend import (
    ACT_UNSIGNED,
    BIAS_EN,
    OUT_FP8,
    OUT_RAW,
    PER_CHANNEL_Q,
    QP_RECORD_BYTES,
    FrontendConfig,
)

E = ErrorCode
U32 = 1 << 32
U64 = 1 << 64

#: Limits of the cases: INT8, 128-bit bus (16-byte beats), AW = 32, tile_n = 64,
#: max_k = 4096, max_dim = 65535.
INT8 = DescriptorLimits(mac="int8", max_k=4096, max_dim=65535, frontend=FrontendConfig())
#: FP8 on a 64-bit bus with 64-bit addresses; tile_n = 48 (not a power of two).
FP8_64 = DescriptorLimits(
    mac="e4m3",
    max_k=8192,
    max_dim=4000,
    frontend=FrontendConfig(data_width=64, addr_width=64, tile_n=48, tile_k=64),
)
#: INT8 on a 256-bit bus (32-byte beats): QP_ADDR must be 32-aligned, not only 16.
INT8_256 = DescriptorLimits(
    mac="int8", max_k=1 << 20, max_dim=100_000, frontend=FrontendConfig(data_width=256)
)
#: INT8 on a 64-bit bus: QP_ADDR must still be 16-aligned (one record), not only 8.
INT8_64 = DescriptorLimits(mac="int8", frontend=FrontendConfig(data_width=64))
#: An attention unit: Lq blocks of 16, Lk blocks of 32, Lk up to 128, d up to 64, DV up to 32.
ATT_CONFIG = AttentionConfig(block_lq=16, block_lk=32, max_lk=128, max_d=64, max_dv=32)
#: INT8 with :data:`ATT_CONFIG` on a 64-bit bus (8-byte beats), AW = 32.
ATT_64 = DescriptorLimits(mac="int8", frontend=FrontendConfig(data_width=64), attention=ATT_CONFIG)
#: INT8 with :data:`ATT_CONFIG` on a 128-bit bus (16-byte beats), AW = 32: :data:`INT8` plus
#: the attention unit.
ATT_128 = dataclasses.replace(INT8, attention=ATT_CONFIG)
#: Attention dimensions wider than max_dim = 1000 (10 bits): Lk up to 2^20, d and DV up to
#: 4096, K of a GEMM up to 256; 64-bit bus, AW = 64.
ATT_WIDE = DescriptorLimits(
    mac="int8",
    max_k=256,
    max_dim=1000,
    frontend=FrontendConfig(data_width=64, addr_width=64),
    attention=AttentionConfig(block_lq=64, block_lk=256, max_lk=1 << 20, max_d=4096, max_dv=4096),
)
LIMITS = {
    "int8": INT8,
    "fp8-d64-aw64": FP8_64,
    "int8-d256": INT8_256,
    "int8-d64": INT8_64,
    "att-d64": ATT_64,
    "att-d128": ATT_128,
    "att-wide-aw64": ATT_WIDE,
}
#: The limits with an attention unit.
ATT_LIMITS = [key for key, limits in LIMITS.items() if limits.attention is not None]

#: A legal INT8 GEMM 64×256×64 under :data:`INT8`: A at 0x1000, B at 0x2_0000, C at 0x4_0000,
#: QP at 0x5_0000, dense strides, per-tensor requantization.
BASE = Descriptor(
    m=64,
    k=256,
    n=64,
    a_addr=0x1000,
    a_stride=256,
    b_addr=0x2_0000,
    b_stride=64,
    c_addr=0x4_0000,
    c_stride=64,
    qp_addr=0x5_0000,
    q_mult=1 << 30,
    q_shift=31,
)
#: The same GEMM for :data:`FP8_64`: binary32 outputs, so C rows are 256 bytes.
BASE_FP8 = dataclasses.replace(BASE, c_stride=256)

# Packed B under INT8: 1 panel of 64 columns (N = 64) would not use B_TILE_STRIDE, so N = 130
# gives 3 panels of K rows × 64 bytes, 16 KiB each.
PACKED = dataclasses.replace(
    BASE, n=130, b_stride=64, b_tile_stride=256 * 64, c_stride=144, c_addr=0x1_0000
)


#: A legal ATTENTION descriptor under :data:`ATT_64` and :data:`ATT_128`: Lq = 16, d = 64,
#: Lk = 128, DV = 32 (d, Lk and DV at their maxima); Q at 0x1000 (ends 0x1400), K at 0x2_0000
#: (ends 0x2_2000), V at 0x3_0000 (ends 0x3_1000), O at 0x4_0000 (ends 0x4_0200), dense rows.
ATT = Descriptor(
    opcode=OPCODE_ATTENTION,
    m=16,
    k=64,
    n=128,
    dv=32,
    a_addr=0x1000,
    a_stride=64,
    b_addr=0x2_0000,
    b_stride=64,
    qp_addr=0x3_0000,
    v_stride=32,
    c_addr=0x4_0000,
    c_stride=32,
    scale_mult=1 << 30,
    scale_shift=20,
    q_mult=1 << 30,
    q_shift=31,
)
#: A large ATTENTION descriptor under :data:`ATT_WIDE`: Lq = 1000, d = 4096, Lk = 2^20,
#: DV = 4096. Q at 2^32 (4000 KiB), K at 2^33 (2^32 bytes), V at 2^34 (2^32 bytes), O at 2^35.
ATT_BIG = dataclasses.replace(
    ATT,
    m=1000,
    k=4096,
    n=1 << 20,
    dv=4096,
    a_addr=1 << 32,
    a_stride=4096,
    b_addr=1 << 33,
    b_stride=4096,
    qp_addr=1 << 34,
    v_stride=4096,
    c_addr=1 << 35,
    c_stride=4096,
)


def case(name, limits, expected, base=BASE, **changes):
    return (name, limits, dataclasses.replace(base, **changes), expected)


#: (id, limits key, descriptor, expected code).
CASES = [
    # legal, and legal edges
    case("legal", "int8", E.NONE),
    case("legal-fp8", "fp8-d64-aw64", E.NONE, base=BASE_FP8),
    case("legal-1x1x1", "int8", E.NONE, m=1, k=1, n=1, a_stride=16, b_stride=16, c_stride=16),
    case(
        "legal-max-dims",
        "int8",
        E.NONE,
        m=65535,
        n=65535,
        k=4096,
        a_stride=4096,
        b_stride=65536,
        c_stride=65536,
        a_addr=0,
        b_addr=0,
        c_addr=0,
        mem_limit=U32,
    ),
    case("legal-k-equals-max-k", "int8", E.NONE, k=4096, a_stride=4096),
    case("legal-opcode-gemm", "int8", E.NONE, opcode=0),
    case("legal-qp-unused-misaligned", "int8", E.NONE, qp_addr=0x5_0008),
    case("legal-qp-unused-out-of-range", "int8", E.NONE, qp_addr=U64 - 16),
    case("legal-extent-ends-at-2^32", "int8", E.NONE, c_addr=U32 - 63 * 64 - 64),
    case("legal-extent-ends-at-mem-limit", "int8", E.NONE, mem_limit=0x4_0000 + 64 * 64),
    case("legal-starts-at-mem-base", "int8", E.NONE, mem_base=0x1000),
    case("legal-q-shift-1", "int8", E.NONE, q_shift=1),
    case("legal-q-shift-62", "int8", E.NONE, q_shift=62),
    case("legal-q-mult-max", "int8", E.NONE, q_mult=U32 // 2 - 1),
    case("legal-qmin-equals-qmax", "int8", E.NONE, qmin=5, qmax=5),
    case(
        "legal-per-channel-ignores-q-shift",
        "int8",
        E.NONE,
        flags=PER_CHANNEL_Q,
        q_shift=0,
        q_mult=U32 - 1,
    ),
    case(
        "legal-raw-ignores-qparams",
        "int8",
        E.NONE,
        flags=OUT_RAW,
        c_stride=256,
        qmin=1,
        qmax=0,
        q_shift=0,
    ),
    case(
        "legal-fp8-ignores-qparams",
        "fp8-d64-aw64",
        E.NONE,
        base=BASE_FP8,
        qmin=1,
        qmax=0,
        q_shift=63,
        flags=BIAS_EN | PER_CHANNEL_Q | ACT_UNSIGNED,
        qp_addr=3,
    ),
    case(
        "legal-fp8-out-fp8-rows", "fp8-d64-aw64", E.NONE, base=BASE_FP8, flags=OUT_FP8, c_stride=64
    ),
    case("legal-int8-ignores-out-fp8", "int8", E.NONE, flags=OUT_FP8),
    case("legal-packed", "int8", E.NONE, base=PACKED),
    case(
        "legal-aw64-high-address", "fp8-d64-aw64", E.NONE, base=BASE_FP8, c_addr=U64 - 64 * 256 - 8
    ),
    case("legal-qp-32-aligned-d256", "int8-d256", E.NONE, flags=PER_CHANNEL_Q, qp_addr=0x5_0020),
    case("legal-k-above-65535-d256", "int8-d256", E.NONE, k=70_000, a_stride=70_016),
    # DESC_OPCODE
    case("opcode-1", "int8", E.DESC_OPCODE, opcode=1),
    case("opcode-15-over-zero-dim", "int8", E.DESC_OPCODE, opcode=15, m=0),
    # DESC_ZERO_DIM
    case("m-zero", "int8", E.DESC_ZERO_DIM, m=0),
    case("k-zero", "int8", E.DESC_ZERO_DIM, k=0),
    case("n-zero", "int8", E.DESC_ZERO_DIM, n=0),
    case("zero-over-dim-range", "int8", E.DESC_ZERO_DIM, m=0, n=U32 - 1),
    # DESC_DIM_RANGE
    case("m-above-max-dim", "int8", E.DESC_DIM_RANGE, m=65536),
    case("n-above-max-dim", "int8", E.DESC_DIM_RANGE, n=65536),
    case("k-above-max-k", "int8", E.DESC_DIM_RANGE, k=4097, a_stride=4112),
    case("k-above-max-dim", "int8-d256", E.DESC_DIM_RANGE, k=100_001, a_stride=100_032),
    case("m-all-ones", "int8", E.DESC_DIM_RANGE, m=U32 - 1),
    case("dim-range-over-align", "int8", E.DESC_DIM_RANGE, m=65536, a_addr=1),
    # DESC_ALIGN
    case("a-addr-unaligned", "int8", E.DESC_ALIGN, a_addr=0x1001),
    case("b-addr-half-beat", "int8", E.DESC_ALIGN, b_addr=0x2_0008),
    case("c-addr-unaligned", "int8", E.DESC_ALIGN, c_addr=0x4_000F),
    case("a-stride-unaligned", "int8", E.DESC_ALIGN, a_stride=264),
    case("b-stride-unaligned", "int8", E.DESC_ALIGN, b_stride=65),
    case("c-stride-unaligned", "int8", E.DESC_ALIGN, c_stride=72),
    case("b-tile-stride-unaligned", "int8", E.DESC_ALIGN, base=PACKED, b_tile_stride=16392),
    case("qp-unaligned-per-channel", "int8", E.DESC_ALIGN, flags=PER_CHANNEL_Q, qp_addr=0x5_0008),
    case(
        "qp-unaligned-bias",
        "int8",
        E.DESC_ALIGN,
        flags=BIAS_EN | OUT_RAW,
        c_stride=256,
        qp_addr=0x5_0001,
    ),
    case(
        "qp-8-not-16-aligned-d64", "int8-d64", E.DESC_ALIGN, flags=PER_CHANNEL_Q, qp_addr=0x5_0008
    ),
    case("qp-16-aligned-d64", "int8-d64", E.NONE, flags=PER_CHANNEL_Q, qp_addr=0x5_0010),
    case(
        "qp-16-not-32-aligned-d256",
        "int8-d256",
        E.DESC_ALIGN,
        flags=PER_CHANNEL_Q,
        qp_addr=0x5_0010,
    ),
    case("align-over-stride", "int8", E.DESC_ALIGN, a_addr=0x1004, a_stride=16),
    case("align-d64-8-byte-beat", "fp8-d64-aw64", E.NONE, base=BASE_FP8, a_addr=0x1008),
    case("align-d64-4-bytes", "fp8-d64-aw64", E.DESC_ALIGN, base=BASE_FP8, a_addr=0x1004),
    # DESC_STRIDE
    case("a-stride-below-k", "int8", E.DESC_STRIDE, a_stride=240),
    case("b-stride-below-n", "int8", E.DESC_STRIDE, b_stride=48),
    case("c-stride-below-n", "int8", E.DESC_STRIDE, c_stride=48),
    case("c-stride-below-raw-row", "int8", E.DESC_STRIDE, flags=OUT_RAW, c_stride=240),
    case("c-stride-raw-row", "int8", E.NONE, flags=OUT_RAW, c_stride=256),
    case("c-stride-below-fp32-row", "fp8-d64-aw64", E.DESC_STRIDE, base=BASE_FP8, c_stride=248),
    case("m-1-stride-0", "int8", E.DESC_STRIDE, m=1, a_stride=0),
    case("packed-b-stride-below-tile-n", "int8", E.DESC_STRIDE, base=PACKED, b_stride=48),
    case(
        "packed-tile-stride-below-panel",
        "int8",
        E.DESC_STRIDE,
        base=PACKED,
        b_tile_stride=256 * 64 - 16,
    ),
    case(
        "packed-row-major-b-stride-would-pass",
        "int8",
        E.DESC_STRIDE,
        base=PACKED,
        n=40,
        b_stride=48,
        c_stride=48,
    ),
    case("stride-over-range", "int8", E.DESC_STRIDE, a_stride=240, a_addr=U32 - 16),
    # DESC_RANGE
    case("a-wraps-2^32", "int8", E.DESC_RANGE, a_addr=U32 - 16),
    case("c-ends-one-beat-past-2^32", "int8", E.DESC_RANGE, c_addr=U32 - 63 * 64 - 48),
    case("b-high-word-at-aw32", "int8", E.DESC_RANGE, b_addr=U32 + 0x2_0000),
    case("a-wraps-2^64", "fp8-d64-aw64", E.DESC_RANGE, base=BASE_FP8, a_addr=U64 - 8),
    case(
        "c-ends-at-2^64-limit-exclusive",
        "fp8-d64-aw64",
        E.DESC_RANGE,
        base=BASE_FP8,
        c_addr=U64 - 64 * 256,
    ),
    case("below-mem-base", "int8", E.DESC_RANGE, mem_base=0x1010),
    case("past-mem-limit", "int8", E.DESC_RANGE, mem_limit=0x4_0000 + 64 * 64 - 1),
    case("qp-past-mem-limit", "int8", E.DESC_RANGE, flags=PER_CHANNEL_Q, mem_limit=0x5_0000),
    case("qp-bias-past-2^32", "int8", E.DESC_RANGE, flags=BIAS_EN, qp_addr=U32 - 16),
    case(
        "packed-past-mem-limit",
        "int8",
        E.DESC_RANGE,
        base=PACKED,
        mem_limit=0x2_0000 + 2 * 256 * 64 + 256 * 64 - 1,
    ),
    case(
        "packed-ends-at-mem-limit",
        "int8",
        E.NONE,
        base=PACKED,
        mem_limit=0x2_0000 + 2 * 256 * 64 + 256 * 64,
    ),
    # N = 128, a multiple of tile_n: exactly 2 panels, not 3
    case(
        "packed-whole-panels-end-at-mem-limit",
        "int8",
        E.NONE,
        base=PACKED,
        n=128,
        c_stride=128,
        mem_limit=0x2_0000 + 256 * 64 + 256 * 64,
    ),
    case(
        "packed-tile-n-48-whole-panels",
        "fp8-d64-aw64",
        E.NONE,
        base=BASE_FP8,
        n=96,
        b_stride=48,
        b_tile_stride=256 * 48,
        c_stride=384,
        c_addr=0x1_0000,
        mem_limit=0x2_0000 + 2 * 256 * 48,
    ),
    case("range-over-qparam", "int8", E.DESC_RANGE, a_addr=U32 - 16, qmin=1, qmax=0),
    # DESC_QPARAM
    case("qmin-above-qmax", "int8", E.DESC_QPARAM, qmin=0, qmax=-1),
    case("q-shift-0", "int8", E.DESC_QPARAM, q_shift=0),
    case("q-shift-63", "int8", E.DESC_QPARAM, q_shift=63),
    case("q-mult-2^31", "int8", E.DESC_QPARAM, q_mult=U32 // 2),
    case("q-mult-all-ones", "int8", E.DESC_QPARAM, q_mult=U32 - 1),
    case(
        "per-channel-qmin-above-qmax",
        "int8",
        E.DESC_QPARAM,
        flags=PER_CHANNEL_Q,
        qmin=127,
        qmax=-128,
    ),
    case("bias-requant-q-shift-0", "int8", E.DESC_QPARAM, flags=BIAS_EN, q_shift=0),
]


def att(name, limits, expected, base=ATT, **changes):
    return case(name, limits, expected, base=base, **changes)


U31 = 1 << 31

#: ATTENTION cases: (id, limits key, descriptor, expected code), worked by hand from the rules
#: (Lq = m, d = k, Lk = n; Q, K, V, O extents end at base + (rows − 1)·stride + row bytes).
ATT_CASES = [
    # legal, and legal edges
    att("att-legal-d64", "att-d64", E.NONE),
    att("att-legal-d128", "att-d128", E.NONE),
    att(
        "att-legal-1x1x1x1",
        "att-d64",
        E.NONE,
        m=1,
        k=1,
        n=1,
        dv=1,
        a_stride=8,
        b_stride=8,
        v_stride=8,
        c_stride=8,
    ),
    att("att-legal-lq-max-dim", "att-d128", E.NONE, m=65535),
    att("att-legal-key-pad-lk", "att-d64", E.NONE, key_pad=128),
    att("att-legal-key-pad-lk-1", "att-d64", E.NONE, n=1, key_pad=1),
    att("att-legal-causal", "att-d64", E.NONE, causal=1, causal_offset=-(1 << 31)),
    # FLAGS, QMIN/QMAX and B_TILE_STRIDE are not used: no packed B, no QP table, no OUT_RAW
    att(
        "att-legal-ignores-gemm-fields",
        "att-d128",
        E.NONE,
        flags=31,
        qmin=1,
        qmax=0,
        b_tile_stride=3,
    ),
    att("att-legal-v-8-aligned-d64", "att-d64", E.NONE, qp_addr=0x3_0008),
    att("att-legal-stride-half-beat-d64", "att-d64", E.NONE, a_stride=72, v_stride=40),
    att("att-legal-starts-at-mem-base", "att-d128", E.NONE, mem_base=0x1000),
    att("att-legal-ends-at-mem-limit", "att-d128", E.NONE, mem_limit=0x4_0200),
    # V is the highest tensor: its end, 0x5_0000 + 127·32 + 32, is the limit
    att("att-legal-v-ends-at-mem-limit", "att-d128", E.NONE, qp_addr=0x5_0000, mem_limit=0x5_1000),
    # V rows are DV = 32 bytes, not d = 64: ends exactly at 2^32
    att("att-legal-v-ends-at-2^32", "att-d128", E.NONE, qp_addr=U32 - 4096),
    att("att-legal-o-ends-at-2^32", "att-d128", E.NONE, c_addr=U32 - 512),
    att("att-legal-k-ends-at-2^32", "att-d128", E.NONE, b_addr=U32 - 8192),
    att("att-legal-q-ends-at-2^32", "att-d64", E.NONE, a_addr=U32 - 1024),
    att(
        "att-legal-qparam-low",
        "att-d64",
        E.NONE,
        scale_shift=1,
        q_shift=1,
        scale_mult=0,
        q_mult=0,
        q_zp=-128,
    ),
    att(
        "att-legal-qparam-high",
        "att-d64",
        E.NONE,
        scale_shift=62,
        q_shift=62,
        scale_mult=U31 - 1,
        q_mult=U31 - 1,
        q_zp=127,
    ),
    att("att-legal-wide", "att-wide-aw64", E.NONE, base=ATT_BIG),
    att(
        "att-legal-wide-o-ends-at-mem-limit",
        "att-wide-aw64",
        E.NONE,
        base=ATT_BIG,
        mem_limit=(1 << 35) + 999 * 4096 + 4096,
    ),
    att(
        "att-legal-wide-v-top",
        "att-wide-aw64",
        E.NONE,
        base=ATT_BIG,
        qp_addr=U64 - (1 << 32) - 8,  # ends one beat below 2^64 − 1, the exclusive limit
        c_addr=0,
    ),
    # V, 2^20 rows of 4096 bytes, is the highest tensor: it ends at 2^36 + 2^32
    att(
        "att-legal-wide-v-ends-at-mem-limit",
        "att-wide-aw64",
        E.NONE,
        base=ATT_BIG,
        qp_addr=1 << 36,
        mem_limit=(1 << 36) + (1 << 32),
    ),
    att(
        "att-wide-v-one-past-mem-limit",
        "att-wide-aw64",
        E.DESC_RANGE,
        base=ATT_BIG,
        qp_addr=1 << 36,
        mem_limit=(1 << 36) + (1 << 32) - 1,
    ),
    att("att-legal-wide-min-dims", "att-wide-aw64", E.NONE, base=ATT_BIG, m=1, k=1, n=1, dv=1),
    # GEMM descriptors on hardware with an attention unit: unchanged, the new fields ignored
    case("gemm-legal-with-attention-unit", "att-d128", E.NONE),
    case(
        "gemm-ignores-attention-fields",
        "att-d128",
        E.NONE,
        dv=5,
        v_stride=3,
        scale_shift=0,
        scale_mult=U32 - 1,
        key_pad=U32 - 1,
        q_zp=1000,
    ),
    case("gemm-k-65-with-attention-unit", "att-d128", E.NONE, k=65, a_stride=80),
    case(
        "gemm-n-above-max-dim-att-wide",
        "att-wide-aw64",
        E.DESC_DIM_RANGE,
        base=BASE_FP8,
        n=1001,
        c_stride=1008,
        b_stride=1008,
        a_addr=0,
        b_addr=0,
        c_addr=0,
    ),
    case(
        "gemm-k-above-max-k-att-wide",
        "att-wide-aw64",
        E.DESC_DIM_RANGE,
        base=BASE_FP8,
        k=257,
        a_stride=264,
    ),
    # DESC_OPCODE
    att("att-without-unit", "int8", E.DESC_OPCODE),
    att("att-without-unit-d64", "int8-d64", E.DESC_OPCODE),
    att("att-without-unit-over-zero-dim", "int8", E.DESC_OPCODE, dv=0),
    att("att-opcode-2", "att-d64", E.DESC_OPCODE, opcode=2),
    att("att-opcode-15-over-zero-dim", "att-d128", E.DESC_OPCODE, opcode=15, m=0),
    # a GEMM's fields read as attention: DV = 0
    case("gemm-base-as-attention", "att-d128", E.DESC_ZERO_DIM, opcode=OPCODE_ATTENTION),
    # DESC_ZERO_DIM
    att("att-lq-zero", "att-d64", E.DESC_ZERO_DIM, m=0),
    att("att-d-zero", "att-d64", E.DESC_ZERO_DIM, k=0),
    att("att-lk-zero", "att-d64", E.DESC_ZERO_DIM, n=0),
    att("att-dv-zero", "att-d64", E.DESC_ZERO_DIM, dv=0),
    att("att-zero-over-dim-range", "att-d128", E.DESC_ZERO_DIM, dv=0, n=129),
    # DESC_DIM_RANGE
    att("att-lq-above-max-dim", "att-d128", E.DESC_DIM_RANGE, m=65536),
    att("att-d-above-max-d", "att-d64", E.DESC_DIM_RANGE, k=65, a_stride=72, b_stride=72),
    att("att-lk-above-max-lk", "att-d64", E.DESC_DIM_RANGE, n=129),
    att("att-dv-above-max-dv", "att-d64", E.DESC_DIM_RANGE, dv=33, v_stride=40, c_stride=40),
    att("att-key-pad-above-lk", "att-d64", E.DESC_DIM_RANGE, key_pad=129),
    att("att-key-pad-lk-plus-1", "att-d128", E.DESC_DIM_RANGE, n=5, key_pad=6),
    att("att-key-pad-all-ones", "att-d128", E.DESC_DIM_RANGE, key_pad=U32 - 1),
    att("att-d-all-ones", "att-d128", E.DESC_DIM_RANGE, k=U32 - 1),
    att("att-lk-all-ones", "att-d128", E.DESC_DIM_RANGE, n=U32 - 1),
    att("att-dim-range-over-align", "att-d128", E.DESC_DIM_RANGE, dv=33, qp_addr=0x3_0001),
    att("att-wide-lq-above-max-dim", "att-wide-aw64", E.DESC_DIM_RANGE, base=ATT_BIG, m=1001),
    att(
        "att-wide-lk-above-max-lk", "att-wide-aw64", E.DESC_DIM_RANGE, base=ATT_BIG, n=(1 << 20) + 1
    ),
    att(
        "att-wide-d-above-max-d",
        "att-wide-aw64",
        E.DESC_DIM_RANGE,
        base=ATT_BIG,
        k=4097,
        a_stride=4104,
        b_stride=4104,
    ),
    att("att-wide-dv-above-max-dv", "att-wide-aw64", E.DESC_DIM_RANGE, base=ATT_BIG, dv=4097),
    # DESC_ALIGN
    att("att-q-addr-half-beat", "att-d128", E.DESC_ALIGN, a_addr=0x1008),
    att("att-q-stride-half-beat", "att-d128", E.DESC_ALIGN, a_stride=72),
    att("att-k-addr-unaligned", "att-d64", E.DESC_ALIGN, b_addr=0x2_0001),
    att("att-k-stride-unaligned", "att-d128", E.DESC_ALIGN, b_stride=72),
    att("att-v-addr-half-beat", "att-d128", E.DESC_ALIGN, qp_addr=0x3_0008),
    att("att-v-addr-unaligned-d64", "att-d64", E.DESC_ALIGN, qp_addr=0x3_0004),
    att("att-v-stride-unaligned", "att-d128", E.DESC_ALIGN, v_stride=40),
    att("att-v-stride-unaligned-d64", "att-d64", E.DESC_ALIGN, v_stride=36),
    att("att-o-addr-unaligned", "att-d64", E.DESC_ALIGN, c_addr=0x4_0002),
    att("att-o-stride-unaligned", "att-d128", E.DESC_ALIGN, c_stride=40),
    att("att-align-over-stride", "att-d128", E.DESC_ALIGN, a_stride=8),
    # DESC_STRIDE
    att("att-q-stride-below-d", "att-d128", E.DESC_STRIDE, a_stride=48),
    att("att-q-stride-dv-below-d", "att-d64", E.DESC_STRIDE, a_stride=32),
    att("att-k-stride-below-d", "att-d64", E.DESC_STRIDE, b_stride=56),
    att("att-k-stride-0-lk-1", "att-d64", E.DESC_STRIDE, n=1, b_stride=0),
    att("att-q-stride-0-lq-1", "att-d64", E.DESC_STRIDE, m=1, a_stride=0),
    att("att-v-stride-below-dv", "att-d128", E.DESC_STRIDE, v_stride=16),
    att("att-v-stride-below-dv-d64", "att-d64", E.DESC_STRIDE, v_stride=24),
    att("att-o-stride-below-dv", "att-d64", E.DESC_STRIDE, c_stride=24),
    att("att-o-stride-dv-below-d", "att-d64", E.NONE, c_stride=32, v_stride=32, k=64),
    att("att-stride-over-range", "att-d128", E.DESC_STRIDE, a_stride=48, a_addr=U32 - 16),
    att("att-wide-v-stride-below-dv", "att-wide-aw64", E.DESC_STRIDE, base=ATT_BIG, v_stride=4088),
    # DESC_RANGE
    att("att-q-wraps-2^32", "att-d128", E.DESC_RANGE, a_addr=U32 - 16),
    att("att-q-ends-one-beat-past-2^32", "att-d64", E.DESC_RANGE, a_addr=U32 - 1016),
    att("att-k-ends-one-beat-past-2^32", "att-d128", E.DESC_RANGE, b_addr=U32 - 8192 + 16),
    att("att-v-ends-one-beat-past-2^32", "att-d128", E.DESC_RANGE, qp_addr=U32 - 4096 + 16),
    att("att-o-ends-one-beat-past-2^32", "att-d128", E.DESC_RANGE, c_addr=U32 - 512 + 16),
    att("att-v-high-word-at-aw32", "att-d128", E.DESC_RANGE, qp_addr=U32 + 0x3_0000),
    att("att-below-mem-base", "att-d128", E.DESC_RANGE, mem_base=0x1010),
    # only V starts below MEM_BASE (a GEMM without the QP table would not look at QP_ADDR)
    att("att-v-below-mem-base", "att-d128", E.DESC_RANGE, qp_addr=0x800, mem_base=0x1000),
    att("att-past-mem-limit", "att-d128", E.DESC_RANGE, mem_limit=0x4_01FF),
    att("att-v-past-mem-limit", "att-d128", E.DESC_RANGE, qp_addr=0x5_0000, mem_limit=0x5_0FFF),
    att("att-k-past-mem-limit", "att-d64", E.DESC_RANGE, b_addr=0x5_0000, mem_limit=0x5_1FF8),
    att("att-wide-q-wraps-2^64", "att-wide-aw64", E.DESC_RANGE, base=ATT_BIG, a_addr=U64 - 8),
    # ends exactly at 2^64: beyond MEM_LIMIT = 2^64 − 1
    att(
        "att-wide-k-ends-at-2^64",
        "att-wide-aw64",
        E.DESC_RANGE,
        base=ATT_BIG,
        b_addr=U64 - (1 << 32),
    ),
    att(
        "att-wide-v-past-mem-limit",
        "att-wide-aw64",
        E.DESC_RANGE,
        base=ATT_BIG,
        mem_limit=(1 << 35) + 999 * 4096 + 4096,
        qp_addr=(1 << 35) + (1 << 24),
    ),
    att(
        "att-wide-o-past-mem-limit",
        "att-wide-aw64",
        E.DESC_RANGE,
        base=ATT_BIG,
        mem_limit=(1 << 35) + 999 * 4096 + 4095,
    ),
    att("att-range-over-qparam", "att-d128", E.DESC_RANGE, a_addr=U32 - 16, q_zp=200),
    # DESC_QPARAM
    att("att-scale-shift-0", "att-d64", E.DESC_QPARAM, scale_shift=0),
    att("att-scale-shift-63", "att-d64", E.DESC_QPARAM, scale_shift=63),
    att("att-q-shift-0", "att-d64", E.DESC_QPARAM, q_shift=0),
    att("att-q-shift-63", "att-d128", E.DESC_QPARAM, q_shift=63),
    att("att-scale-mult-2^31", "att-d64", E.DESC_QPARAM, scale_mult=U31),
    att("att-scale-mult-all-ones", "att-d128", E.DESC_QPARAM, scale_mult=U32 - 1),
    att("att-q-mult-2^31", "att-d64", E.DESC_QPARAM, q_mult=U31),
    att("att-q-zp-minus-129", "att-d64", E.DESC_QPARAM, q_zp=-129),
    att("att-q-zp-128", "att-d128", E.DESC_QPARAM, q_zp=128),
    att("att-q-zp-int32-min", "att-d128", E.DESC_QPARAM, q_zp=-(1 << 31)),
    att("att-q-zp-int32-max", "att-d64", E.DESC_QPARAM, q_zp=U31 - 1),
    att("att-wide-q-zp-128", "att-wide-aw64", E.DESC_QPARAM, base=ATT_BIG, q_zp=128),
]
CASES += ATT_CASES


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


def random_descriptor(rng, limits):
    """A descriptor near the edges of the checks. Each field is usually legal, drawn from the
    values just inside its limits (1, max; a stride equal to the row rounded up to a beat; an
    extent ending exactly at 2^AW or MEM_LIMIT), and now and then just outside (0, max + 1; a
    stride one beat short or one byte off; an extent one beat past), so that about half the
    descriptors are legal and every check, and the priority between two, is exercised."""
    beat = limits.beat_bytes
    top = 1 << limits.frontend.addr_width
    tile_n = limits.frontend.tile_n

    def rare(p=0.03):
        return rng.random() < p

    def dim(top_dim):
        if rare(0.06):
            return rng.choice([0, top_dim + 1, U32 - 1])
        return rng.choice([1, 2, beat - 1, beat, beat + 1, rng.randint(1, 300), top_dim])

    m, k, n = dim(limits.max_dim), dim(limits.max_k_dim), dim(limits.max_dim)
    if rare(0.2):
        n = tile_n * rng.randint(1, 3) + rng.choice([-1, 0, 0, 1])  # whole packed panels
    flags = rng.randrange(32)
    rows = {"m": max(m, 1), "k": max(k, 1), "n": max(n, 1)}  # extents of legal dimensions

    def stride(row):
        value = _round_up(row, beat) + rng.choice([0, 0, 0, beat, rng.randrange(8) * beat])
        if rare():
            value -= beat  # one beat short: below the row when the row fills its beats
        if rare():
            value += rng.randrange(1, beat)  # misaligned
        return min(max(value, 0), U32 - 1)

    ob = output_bytes(flags, limits.mac)
    a_stride = stride(rows["k"])
    c_stride = stride(rows["n"] * ob)
    packed = rng.random() < 0.25
    if packed:
        b_stride = stride(tile_n)
        panel = (rows["k"] - 1) * b_stride + tile_n
        b_tile_stride = stride(panel) if panel < U32 - beat else _round_up(panel, beat)
        b_tile_stride = min(max(b_tile_stride, beat), U32 - 1)
        b_length = (-(-rows["n"] // tile_n) - 1) * b_tile_stride + panel
    else:
        b_stride, b_tile_stride = stride(rows["n"]), 0
        b_length = (rows["k"] - 1) * b_stride + rows["n"]

    def address(length):
        if rare():
            return rng.randrange(U64)  # anywhere, high word included
        if length >= top:
            value = 0
        elif rng.random() < 0.3:
            value = (top - length) // beat * beat  # ends at or just below 2^AW
            if rare(0.1):
                value += beat
        else:
            value = rng.randrange(0, top - length + 1, beat)
        if rare():
            value += rng.randrange(1, beat)
        return value % U64

    extents = {
        "a": (rows["m"] - 1) * a_stride + rows["k"],
        "b": b_length,
        "c": (rows["m"] - 1) * c_stride + rows["n"] * ob,
        "qp": QP_RECORD_BYTES * rows["n"],
    }
    bases = {name: address(length) for name, length in extents.items()}
    if rare(0.1):
        bases["qp"] += rng.choice([8, 16])

    mem_base, mem_limit = 0, U64 - 1
    name = rng.choice(list(bases))
    choice = rng.random()
    if choice < 0.1:
        mem_base = max(bases[name] + rng.choice([-beat, 0, 0, beat]), 0) % U64
    elif choice < 0.2:
        mem_limit = (bases[name] + extents[name] + rng.choice([-beat, 0, 0, beat])) % U64

    return Descriptor(
        opcode=rng.randrange(1, 16) if rare() else 0,
        m=m,
        k=k,
        n=n,
        flags=flags,
        a_addr=bases["a"],
        a_stride=a_stride,
        b_addr=bases["b"],
        b_stride=b_stride,
        b_tile_stride=b_tile_stride,
        c_addr=bases["c"],
        c_stride=c_stride,
        qp_addr=bases["qp"] % U64,
        q_mult=rng.choice([1 << 30, (1 << 31) - 1, 0]) if not rare(0.15) else (1 << 31),
        q_shift=rng.choice([1, 31, 62]) if not rare(0.15) else rng.choice([0, 63]),
        q_zp=rng.randrange(-(1 << 31), 1 << 31),
        qmin=-128 if not rare(0.15) else rng.randrange(-127, 128),
        qmax=127 if not rare(0.15) else rng.randrange(-128, 127),
        mem_base=mem_base,
        mem_limit=mem_limit,
    )


def random_descriptors(seed, limits, count):
    rng = random.Random(seed)
    return [random_descriptor(rng, limits) for _ in range(count)]


def random_attention_descriptor(rng, limits):
    """An ATTENTION descriptor near the edges of the checks, as :func:`random_descriptor`:
    Lq, d, Lk and DV usually 1 or their maximum (max_dim, max_d, max_lk, max_dv) or in between,
    now and then 0 or one above; KEY_PAD 0, Lk or Lk + 1; strides a row rounded up to a beat
    (rarely one beat short or misaligned); extents ending at or one beat past 2^AW or
    MEM_LIMIT; the softmax scale and output requantization at or just past their ranges."""
    att = limits.attention
    beat = limits.beat_bytes
    top = 1 << limits.frontend.addr_width

    def rare(p=0.03):
        return rng.random() < p

    def dim(top_dim):
        if rare(0.05):
            return rng.choice([0, top_dim + 1, U32 - 1])
        return rng.choice([1, 2, beat, beat + 1, rng.randint(1, top_dim), top_dim, top_dim])

    lq, d, lk, dv = dim(limits.max_dim), dim(att.max_d), dim(att.max_lk), dim(att.max_dv)
    rows = {"lq": max(lq, 1), "d": max(d, 1), "lk": max(lk, 1), "dv": max(dv, 1)}
    key_pad = rng.choice([0, 0, lk, rng.randint(0, lk)]) if not rare(0.05) else lk + 1

    def stride(row):
        value = _round_up(row, beat) + rng.choice([0, 0, 0, beat, rng.randrange(8) * beat])
        if rare():
            value -= beat
        if rare():
            value += rng.randrange(1, beat)
        return min(max(value, 0), U32 - 1)

    strides = {
        "q": stride(rows["d"]),
        "k": stride(rows["d"]),
        "v": stride(rows["dv"]),
        "o": stride(rows["dv"]),
    }
    extents = {
        "q": (rows["lq"] - 1) * strides["q"] + rows["d"],
        "k": (rows["lk"] - 1) * strides["k"] + rows["d"],
        "v": (rows["lk"] - 1) * strides["v"] + rows["dv"],
        "o": (rows["lq"] - 1) * strides["o"] + rows["dv"],
    }

    def address(length):
        if rare():
            return rng.randrange(U64)
        if length >= top:
            value = 0
        elif rng.random() < 0.3:
            value = (top - length) // beat * beat  # ends at or just below 2^AW
            if rare(0.1):
                value += beat
        else:
            value = rng.randrange(0, top - length + 1, beat)
        if rare():
            value += rng.randrange(1, beat)
        return value % U64

    bases = {name: address(length) for name, length in extents.items()}
    mem_base, mem_limit = 0, U64 - 1
    name = rng.choice(list(bases))
    choice = rng.random()
    if choice < 0.1:
        mem_base = max(bases[name] + rng.choice([-beat, 0, 0, beat]), 0) % U64
    elif choice < 0.2:
        mem_limit = (bases[name] + extents[name] + rng.choice([-beat, -1, 0, 0, beat])) % U64

    def shift():
        return rng.choice([1, 20, 31, 62]) if not rare(0.08) else rng.choice([0, 63])

    def mult():
        return rng.choice([0, 1 << 30, (1 << 31) - 1]) if not rare(0.08) else (1 << 31)

    zp = rng.choice([-128, 0, 127]) if not rare(0.08) else rng.choice([-129, 128, -(1 << 31)])
    return Descriptor(
        opcode=OPCODE_ATTENTION if not rare(0.02) else rng.choice([0, 2, 15]),
        m=lq,
        k=d,
        n=lk,
        dv=dv,
        key_pad=min(key_pad, U32 - 1),
        flags=rng.randrange(32),
        a_addr=bases["q"],
        a_stride=strides["q"],
        b_addr=bases["k"],
        b_stride=strides["k"],
        b_tile_stride=rng.choice([0, 0, 3, beat]),
        qp_addr=bases["v"],
        v_stride=strides["v"],
        c_addr=bases["o"],
        c_stride=strides["o"],
        scale_mult=mult(),
        scale_shift=shift(),
        q_mult=mult(),
        q_shift=shift(),
        q_zp=zp,
        qmin=rng.randrange(-128, 128),
        qmax=rng.randrange(-128, 128),
        causal=rng.randrange(2),
        causal_offset=rng.randrange(-(1 << 31), 1 << 31),
        mem_base=mem_base,
        mem_limit=mem_limit,
    )


def random_attention_descriptors(seed, limits, count):
    rng = random.Random(seed)
    return [random_attention_descriptor(rng, limits) for _ in range(count)]
