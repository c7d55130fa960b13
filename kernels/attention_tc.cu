/*
 * attention_tc.cu -- causal multi-head attention on the tensor cores (bf16 mode): FlashAttention-2
 * style, mma.sync.m16n8k16 bf16 x bf16 -> fp32 (sm_80+), online softmax in fp32 registers, the
 * [T, T] scores never stored, key tiles above the diagonal skipped.
 *
 * Same layouts and the same lse convention as attention.cu (the fp32 SIMT kernels, which stay the
 * fp32-mode path): qkv [B*T, 3*nh*hd] fp32 (rotary applied), out [B*T, nh*hd] fp32, lse [B, nh, T]
 * natural log-sum-exp of the scaled scores. Tiles are converted fp32 -> bf16 on the way into
 * shared memory; P (and dS) are rounded to bf16 for their products; all sums are fp32.
 *
 * mma.sync m16n8k16 fragments (g = lane / 4, t = lane % 4):
 *   A 16x16 row-major: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..)
 *   B 16x8 (k x n):    b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g)   -> read from Y[n][k] row-major
 *   C 16x8 fp32:       c0,c1 (g, 2t..2t+1), c2,c3 (g+8, 2t..2t+1)
 * so an S accumulator pair of n-tiles is directly the A fragment of the next product (P V, dS K).
 * Shared-memory rows are padded by 8 bf16 (16 bytes): the fragment reads are conflict free.
 *
 * Forward: block of 4 warps = 64 queries (16 per warp), key tiles of 64 (K row-major, V transposed).
 * Backward, deterministic (no atomics), like attention.cu: D = rowsum(dO * O); dQ kernel per 64-query
 * tile (recomputes S and dP, dQ += dS K); dK/dV kernel per 64-key tile looping over 32-query tiles
 * (S^T = K Q^T, dP^T = V dO^T, dV += P^T dO, dK += dS^T Q).
 * Needs hd % 4 == 0 and 16-byte aligned rows (float4 loads); otherwise the fp32 kernels run.
 * SPECTRO_ATTENTION=simt forces the fp32 kernels in bf16 mode too (A/B benchmarks).
 */
#include "common.cuh"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TC_BQ 64       /* queries per block (forward, dQ) */
#define TC_BK 64       /* keys per tile (forward, dQ) / per block (dK dV) */
#define TC_BQ2 32      /* queries per tile in the dK dV kernel */
#define TC_THREADS 128
#define TC_LOG2E 1.4426950408889634f
#define TC_LN2 0.6931471805599453f

__device__ __forceinline__ uint32_t tc_ld32(const bf16 *p) { return *reinterpret_cast<const uint32_t *>(p); }
__device__ __forceinline__ uint32_t tc_pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}
__device__ __forceinline__ void tc_mma(float c[4], const uint32_t a[4], const uint32_t b[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
/* A fragment: rows r0..r0+15, cols k0..k0+15 of row-major X (leading dim ld) */
__device__ __forceinline__ void tc_ldA(uint32_t a[4], const bf16 *X, int ld, int r0, int k0, int g, int t) {
    a[0] = tc_ld32(X + (r0 + g) * ld + k0 + 2 * t);
    a[1] = tc_ld32(X + (r0 + g + 8) * ld + k0 + 2 * t);
    a[2] = tc_ld32(X + (r0 + g) * ld + k0 + 8 + 2 * t);
    a[3] = tc_ld32(X + (r0 + g + 8) * ld + k0 + 8 + 2 * t);
}
/* B fragment with B(k, n) = Y[n][k]: n0..n0+7, k0..k0+15 */
__device__ __forceinline__ void tc_ldB(uint32_t b[2], const bf16 *Y, int ld, int n0, int k0, int g, int t) {
    b[0] = tc_ld32(Y + (n0 + g) * ld + k0 + 2 * t);
    b[1] = tc_ld32(Y + (n0 + g) * ld + k0 + 8 + 2 * t);
}
/* two accumulator n-tiles (16 x 16 of C layout) -> one A fragment in bf16 */
__device__ __forceinline__ void tc_c2a(uint32_t a[4], const float c0[4], const float c1[4]) {
    a[0] = tc_pack(c0[0], c0[1]);
    a[1] = tc_pack(c0[2], c0[3]);
    a[2] = tc_pack(c1[0], c1[1]);
    a[3] = tc_pack(c1[2], c1[3]);
}

/* ROWS rows (t0.., zero past T) x HD cols (zero past hd) of an fp32 head slice -> bf16 smem,
 * row-major [ROWS][HD+8] or transposed [HD][ROWS+8]. src + row_base + t * stride is 16-byte aligned. */
template <int HD, int ROWS, bool TRANS>
__device__ __forceinline__ void tc_load(bf16 *dst, const float *src, int64_t row_base, int64_t stride, int t0, int T, int hd) {
    constexpr int C4 = HD / 4;
    for (int idx = threadIdx.x; idx < ROWS * C4; idx += TC_THREADS) {
        const int r = idx / C4, c = (idx - r * C4) * 4;
        const int tt = t0 + r;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (tt < T && c < hd) v = __ldg(reinterpret_cast<const float4 *>(src + row_base + (int64_t)tt * stride + c));
        if (TRANS) {
            constexpr int LD = ROWS + 8;
            dst[(c + 0) * LD + r] = __float2bfloat16_rn(v.x);
            dst[(c + 1) * LD + r] = __float2bfloat16_rn(v.y);
            dst[(c + 2) * LD + r] = __float2bfloat16_rn(v.z);
            dst[(c + 3) * LD + r] = __float2bfloat16_rn(v.w);
        } else {
            uint2 u;
            u.x = tc_pack(v.x, v.y);
            u.y = tc_pack(v.z, v.w);
            *reinterpret_cast<uint2 *>(dst + r * (HD + 8) + c) = u;
        }
    }
}

template <int HD>
__global__ void __launch_bounds__(TC_THREADS) att_tc_fwd_kernel(float *out, float *lse, const float *qkv, int T, int nh,
                                                                int hd, float sl2) {
    constexpr int LDH = HD + 8, LDT = TC_BK + 8, NO = HD / 8;
    extern __shared__ __align__(16) unsigned char tc_sm[];
    bf16 *Qs = reinterpret_cast<bf16 *>(tc_sm);
    bf16 *Ks = Qs + TC_BQ * LDH;
    bf16 *Vt = Ks + TC_BK * LDH;
    const int nqt = (T + TC_BQ - 1) / TC_BQ;
    const int qt = nqt - 1 - (int)blockIdx.x;            /* longest rows first */
    const int bh = blockIdx.y, b = bh / nh, h = bh % nh;
    const int d = nh * hd;
    const int64_t d3 = 3LL * d;
    const int64_t base = (int64_t)b * T * d3 + (int64_t)h * 3 * hd;
    const int q0 = qt * TC_BQ;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int r0 = warp * 16;
    const int rowA = q0 + r0 + g, rowB = rowA + 8;

    tc_load<HD, TC_BQ, false>(Qs, qkv, base, d3, q0, T, hd);
    float o[NO][4];
#pragma unroll
    for (int n = 0; n < NO; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    float mr[2] = {-INFINITY, -INFINITY}, lr[2] = {0.f, 0.f};

    for (int kt = 0; kt * TC_BK <= q0 + TC_BQ - 1; kt++) {
        const int k0 = kt * TC_BK;
        __syncthreads();
        tc_load<HD, TC_BK, false>(Ks, qkv, base + hd, d3, k0, T, hd);
        tc_load<HD, TC_BK, true>(Vt, qkv, base + 2 * hd, d3, k0, T, hd);
        __syncthreads();
        float s[TC_BK / 8][4];
#pragma unroll
        for (int n = 0; n < TC_BK / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            uint32_t a[4];
            tc_ldA(a, Qs, LDH, r0, kk * 16, g, t);
#pragma unroll
            for (int n = 0; n < TC_BK / 8; n++) {
                uint32_t bb[2];
                tc_ldB(bb, Ks, LDH, n * 8, kk * 16, g, t);
                tc_mma(s[n], a, bb);
            }
        }
        const bool diag = k0 + TC_BK - 1 > q0;            /* some key may lie above some row */
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int n = 0; n < TC_BK / 8; n++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int key = k0 + n * 8 + 2 * t + (j & 1), row = (j < 2) ? rowA : rowB;
                float v = s[n][j] * sl2;
                if (diag && key > row) v = -INFINITY;
                s[n][j] = v;
                mx[j >> 1] = fmaxf(mx[j >> 1], v);
            }
        float corr[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
            const float mn = fmaxf(mr[i], mx[i]);         /* finite: key k0 <= every row here */
            corr[i] = exp2f(mr[i] - mn);
            mr[i] = mn;
            lr[i] *= corr[i];
        }
#pragma unroll
        for (int n = 0; n < TC_BK / 8; n++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float p = exp2f(s[n][j] - mr[j >> 1]);
                s[n][j] = p;
                lr[j >> 1] += p;
            }
#pragma unroll
        for (int n = 0; n < NO; n++) {
            o[n][0] *= corr[0]; o[n][1] *= corr[0];
            o[n][2] *= corr[1]; o[n][3] *= corr[1];
        }
#pragma unroll
        for (int kk = 0; kk < TC_BK / 16; kk++) {
            uint32_t a[4];
            tc_c2a(a, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
            for (int n = 0; n < NO; n++) {
                uint32_t bb[2];
                tc_ldB(bb, Vt, LDT, n * 8, kk * 16, g, t);
                tc_mma(o[n], a, bb);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        lr[i] += __shfl_xor_sync(0xffffffffu, lr[i], 1);
        lr[i] += __shfl_xor_sync(0xffffffffu, lr[i], 2);
        const int row = i ? rowB : rowA;
        if (row >= T) continue;
        const float inv = 1.0f / lr[i];
        float *orow = out + ((int64_t)b * T + row) * d + (int64_t)h * hd;
#pragma unroll
        for (int n = 0; n < NO; n++) {
            const int c = n * 8 + 2 * t;
            if (c < hd) *reinterpret_cast<float2 *>(orow + c) = make_float2(o[n][2 * i] * inv, o[n][2 * i + 1] * inv);
        }
        if (t == 0) lse[(int64_t)bh * T + row] = (mr[i] + log2f(lr[i])) * TC_LN2;
    }
}

template <int HD>
__global__ void __launch_bounds__(TC_THREADS) att_tc_dq_kernel(float *dqkv, const float *dout, const float *qkv,
                                                               const float *lse, const float *Dv, int T, int nh, int hd,
                                                               float sl2, float scale) {
    constexpr int LDH = HD + 8, LDT = TC_BK + 8, NO = HD / 8;
    extern __shared__ __align__(16) unsigned char tc_sm[];
    bf16 *Qs = reinterpret_cast<bf16 *>(tc_sm);
    bf16 *dOs = Qs + TC_BQ * LDH;
    bf16 *Ks = dOs + TC_BQ * LDH;
    bf16 *Vs = Ks + TC_BK * LDH;
    bf16 *Kt = Vs + TC_BK * LDH;
    const int nqt = (T + TC_BQ - 1) / TC_BQ;
    const int qt = nqt - 1 - (int)blockIdx.x;
    const int bh = blockIdx.y, b = bh / nh, h = bh % nh;
    const int d = nh * hd;
    const int64_t d3 = 3LL * d;
    const int64_t base = (int64_t)b * T * d3 + (int64_t)h * 3 * hd;
    const int64_t obase = (int64_t)b * T * d + (int64_t)h * hd;
    const int q0 = qt * TC_BQ;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int r0 = warp * 16;
    const int rowA = q0 + r0 + g, rowB = rowA + 8;

    tc_load<HD, TC_BQ, false>(Qs, qkv, base, d3, q0, T, hd);
    tc_load<HD, TC_BQ, false>(dOs, dout, obase, d, q0, T, hd);
    float l2[2], Dr[2];
    l2[0] = rowA < T ? lse[(int64_t)bh * T + rowA] * TC_LOG2E : 0.f;
    l2[1] = rowB < T ? lse[(int64_t)bh * T + rowB] * TC_LOG2E : 0.f;
    Dr[0] = rowA < T ? Dv[(int64_t)bh * T + rowA] : 0.f;
    Dr[1] = rowB < T ? Dv[(int64_t)bh * T + rowB] : 0.f;
    float dq[NO][4];
#pragma unroll
    for (int n = 0; n < NO; n++) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.f;

    for (int kt = 0; kt * TC_BK <= q0 + TC_BQ - 1; kt++) {
        const int k0 = kt * TC_BK;
        __syncthreads();
        tc_load<HD, TC_BK, false>(Ks, qkv, base + hd, d3, k0, T, hd);
        tc_load<HD, TC_BK, false>(Vs, qkv, base + 2 * hd, d3, k0, T, hd);
        tc_load<HD, TC_BK, true>(Kt, qkv, base + hd, d3, k0, T, hd);
        __syncthreads();
        float s[TC_BK / 8][4], dp[TC_BK / 8][4];
#pragma unroll
        for (int n = 0; n < TC_BK / 8; n++)
#pragma unroll
            for (int j = 0; j < 4; j++) s[n][j] = dp[n][j] = 0.f;
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            uint32_t a[4], a2[4];
            tc_ldA(a, Qs, LDH, r0, kk * 16, g, t);
            tc_ldA(a2, dOs, LDH, r0, kk * 16, g, t);
#pragma unroll
            for (int n = 0; n < TC_BK / 8; n++) {
                uint32_t bb[2];
                tc_ldB(bb, Ks, LDH, n * 8, kk * 16, g, t);
                tc_mma(s[n], a, bb);
                tc_ldB(bb, Vs, LDH, n * 8, kk * 16, g, t);
                tc_mma(dp[n], a2, bb);
            }
        }
#pragma unroll
        for (int n = 0; n < TC_BK / 8; n++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int key = k0 + n * 8 + 2 * t + (j & 1), row = (j < 2) ? rowA : rowB;
                const float p = (key <= row && row < T) ? exp2f(s[n][j] * sl2 - l2[j >> 1]) : 0.f;
                s[n][j] = p * (dp[n][j] - Dr[j >> 1]);
            }
#pragma unroll
        for (int kk = 0; kk < TC_BK / 16; kk++) {
            uint32_t a[4];
            tc_c2a(a, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
            for (int n = 0; n < NO; n++) {
                uint32_t bb[2];
                tc_ldB(bb, Kt, LDT, n * 8, kk * 16, g, t);
                tc_mma(dq[n], a, bb);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int row = i ? rowB : rowA;
        if (row >= T) continue;
        float *qrow = dqkv + base + (int64_t)row * d3;
#pragma unroll
        for (int n = 0; n < NO; n++) {
            const int c = n * 8 + 2 * t;
            if (c < hd) *reinterpret_cast<float2 *>(qrow + c) = make_float2(dq[n][2 * i] * scale, dq[n][2 * i + 1] * scale);
        }
    }
}

template <int HD>
__global__ void __launch_bounds__(TC_THREADS) att_tc_dkv_kernel(float *dqkv, const float *dout, const float *qkv,
                                                                const float *lse, const float *Dv, int T, int nh, int hd,
                                                                float sl2, float scale) {
    constexpr int LDH = HD + 8, LDT = TC_BQ2 + 8, NO = HD / 8, NS = TC_BQ2 / 8;
    extern __shared__ __align__(16) unsigned char tc_sm[];
    bf16 *Ks = reinterpret_cast<bf16 *>(tc_sm);
    bf16 *Vs = Ks + TC_BK * LDH;
    bf16 *Qs = Vs + TC_BK * LDH;
    bf16 *dOs = Qs + TC_BQ2 * LDH;
    bf16 *Qt = dOs + TC_BQ2 * LDH;
    bf16 *dOt = Qt + HD * LDT;
    float *ls = reinterpret_cast<float *>(dOt + HD * LDT);
    float *Ds = ls + TC_BQ2;
    const int kt = blockIdx.x;                           /* low key tiles have the most queries: first */
    const int bh = blockIdx.y, b = bh / nh, h = bh % nh;
    const int d = nh * hd;
    const int64_t d3 = 3LL * d;
    const int64_t base = (int64_t)b * T * d3 + (int64_t)h * 3 * hd;
    const int64_t obase = (int64_t)b * T * d + (int64_t)h * hd;
    const int k0 = kt * TC_BK;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int r0 = warp * 16;
    const int keyA = k0 + r0 + g, keyB = keyA + 8;

    tc_load<HD, TC_BK, false>(Ks, qkv, base + hd, d3, k0, T, hd);
    tc_load<HD, TC_BK, false>(Vs, qkv, base + 2 * hd, d3, k0, T, hd);
    float dk[NO][4], dv[NO][4];
#pragma unroll
    for (int n = 0; n < NO; n++)
#pragma unroll
        for (int j = 0; j < 4; j++) dk[n][j] = dv[n][j] = 0.f;

    for (int q0 = k0; q0 < T; q0 += TC_BQ2) {
        __syncthreads();
        tc_load<HD, TC_BQ2, false>(Qs, qkv, base, d3, q0, T, hd);
        tc_load<HD, TC_BQ2, false>(dOs, dout, obase, d, q0, T, hd);
        tc_load<HD, TC_BQ2, true>(Qt, qkv, base, d3, q0, T, hd);
        tc_load<HD, TC_BQ2, true>(dOt, dout, obase, d, q0, T, hd);
        if (threadIdx.x < TC_BQ2) {
            const int q = q0 + threadIdx.x;
            ls[threadIdx.x] = q < T ? lse[(int64_t)bh * T + q] * TC_LOG2E : 0.f;
            Ds[threadIdx.x] = q < T ? Dv[(int64_t)bh * T + q] : 0.f;
        }
        __syncthreads();
        if (q0 + TC_BQ2 - 1 < k0 + r0) continue;         /* every query of the tile is below this warp's keys */
        float s[NS][4], dp[NS][4];
#pragma unroll
        for (int n = 0; n < NS; n++)
#pragma unroll
            for (int j = 0; j < 4; j++) s[n][j] = dp[n][j] = 0.f;
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            uint32_t a[4], a2[4];
            tc_ldA(a, Ks, LDH, r0, kk * 16, g, t);
            tc_ldA(a2, Vs, LDH, r0, kk * 16, g, t);
#pragma unroll
            for (int n = 0; n < NS; n++) {
                uint32_t bb[2];
                tc_ldB(bb, Qs, LDH, n * 8, kk * 16, g, t);
                tc_mma(s[n], a, bb);
                tc_ldB(bb, dOs, LDH, n * 8, kk * 16, g, t);
                tc_mma(dp[n], a2, bb);
            }
        }
#pragma unroll
        for (int n = 0; n < NS; n++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int qi = n * 8 + 2 * t + (j & 1), q = q0 + qi, key = (j < 2) ? keyA : keyB;
                const float p = (key <= q && q < T) ? exp2f(s[n][j] * sl2 - ls[qi]) : 0.f;
                s[n][j] = p;
                dp[n][j] = p * (dp[n][j] - Ds[qi]);
            }
#pragma unroll
        for (int kk = 0; kk < TC_BQ2 / 16; kk++) {
            uint32_t ap[4], ads[4];
            tc_c2a(ap, s[2 * kk], s[2 * kk + 1]);
            tc_c2a(ads, dp[2 * kk], dp[2 * kk + 1]);
#pragma unroll
            for (int n = 0; n < NO; n++) {
                uint32_t bb[2];
                tc_ldB(bb, dOt, LDT, n * 8, kk * 16, g, t);
                tc_mma(dv[n], ap, bb);
                tc_ldB(bb, Qt, LDT, n * 8, kk * 16, g, t);
                tc_mma(dk[n], ads, bb);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int key = i ? keyB : keyA;
        if (key >= T) continue;
        float *row = dqkv + base + (int64_t)key * d3;
#pragma unroll
        for (int n = 0; n < NO; n++) {
            const int c = n * 8 + 2 * t;
            if (c < hd) {
                *reinterpret_cast<float2 *>(row + hd + c) = make_float2(dk[n][2 * i] * scale, dk[n][2 * i + 1] * scale);
                *reinterpret_cast<float2 *>(row + 2 * hd + c) = make_float2(dv[n][2 * i], dv[n][2 * i + 1]);
            }
        }
    }
}

static size_t tc_fwd_smem(int HD) { return sizeof(bf16) * ((size_t)(TC_BQ + TC_BK) * (HD + 8) + (size_t)HD * (TC_BK + 8)); }
static size_t tc_dq_smem(int HD) { return sizeof(bf16) * ((size_t)(2 * TC_BQ + 2 * TC_BK) * (HD + 8) + (size_t)HD * (TC_BK + 8)); }
static size_t tc_dkv_smem(int HD) {
    return sizeof(bf16) * ((size_t)(2 * TC_BK + 2 * TC_BQ2) * (HD + 8) + 2 * (size_t)HD * (TC_BQ2 + 8)) + 2 * TC_BQ2 * sizeof(float);
}

/* 1 when the tensor-core kernels can run on these pointers / this head dim */
static int tc_usable(int hd, const void *p0, const void *p1, const void *p2) {
    static int forced_simt = -1;
    if (forced_simt < 0) {
        const char *e = getenv("SPECTRO_ATTENTION");
        forced_simt = (e && strcmp(e, "simt") == 0) ? 1 : 0;
    }
    if (forced_simt || hd % 4 != 0 || hd > 128) return 0;
    return (((uintptr_t)p0 | (uintptr_t)p1 | (uintptr_t)p2) & 15) == 0;
}

template <int HD>
static sp_status tc_fwd(cudaStream_t st, float *out, float *lse, const float *qkv, int B, int T, int nh, int hd) {
    const size_t sm = tc_fwd_smem(HD);
    CK(cudaFuncSetAttribute(att_tc_fwd_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
    dim3 grid(cdiv(T, TC_BQ), B * nh);
    att_tc_fwd_kernel<HD><<<grid, TC_THREADS, sm, st>>>(out, lse, qkv, T, nh, hd, TC_LOG2E / sqrtf((float)hd));
    CK_LAUNCH("att_tc_fwd_kernel");
    return SP_OK;
}

template <int HD>
static sp_status tc_bwd(cudaStream_t st, float *dqkv, const float *dout, const float *qkv, const float *lse,
                        const float *Dbuf, int B, int T, int nh, int hd) {
    const size_t s1 = tc_dq_smem(HD), s2 = tc_dkv_smem(HD);
    CK(cudaFuncSetAttribute(att_tc_dq_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)s1));
    CK(cudaFuncSetAttribute(att_tc_dkv_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)s2));
    const float scale = 1.0f / sqrtf((float)hd), sl2 = TC_LOG2E * scale;
    dim3 g1(cdiv(T, TC_BQ), B * nh), g2(cdiv(T, TC_BK), B * nh);
    att_tc_dq_kernel<HD><<<g1, TC_THREADS, s1, st>>>(dqkv, dout, qkv, lse, Dbuf, T, nh, hd, sl2, scale);
    CK_LAUNCH("att_tc_dq_kernel");
    att_tc_dkv_kernel<HD><<<g2, TC_THREADS, s2, st>>>(dqkv, dout, qkv, lse, Dbuf, T, nh, hd, sl2, scale);
    CK_LAUNCH("att_tc_dkv_kernel");
    return SP_OK;
}

sp_status attention_forward_tc(cudaStream_t st, float *out, float *lse, const float *qkv, int B, int T, int nh, int hd) {
    if (!tc_usable(hd, out, qkv, NULL)) return attention_forward(st, out, lse, qkv, B, T, nh, hd);
    if (hd <= 32) return tc_fwd<32>(st, out, lse, qkv, B, T, nh, hd);
    if (hd <= 64) return tc_fwd<64>(st, out, lse, qkv, B, T, nh, hd);
    if (hd <= 96) return tc_fwd<96>(st, out, lse, qkv, B, T, nh, hd);
    return tc_fwd<128>(st, out, lse, qkv, B, T, nh, hd);
}

sp_status attention_backward_tc(cudaStream_t st, float *dqkv, const float *dout, const float *qkv,
                                const float *out, const float *lse, float *Dbuf, int B, int T, int nh, int hd) {
    if (!tc_usable(hd, dqkv, dout, qkv)) return attention_backward(st, dqkv, dout, qkv, out, lse, Dbuf, B, T, nh, hd);
    TRY(attention_backward_D(st, Dbuf, dout, out, B, T, nh, hd));   /* attention.cu: the same D for both */
    if (hd <= 32) return tc_bwd<32>(st, dqkv, dout, qkv, lse, Dbuf, B, T, nh, hd);
    if (hd <= 64) return tc_bwd<64>(st, dqkv, dout, qkv, lse, Dbuf, B, T, nh, hd);
    if (hd <= 96) return tc_bwd<96>(st, dqkv, dout, qkv, lse, Dbuf, B, T, nh, hd);
    return tc_bwd<128>(st, dqkv, dout, qkv, lse, Dbuf, B, T, nh, hd);
}
