/*
 * attention.cu -- causal multi-head attention, flash style (online softmax, K/V tiles in shared
 * memory, the [T, T] score matrix never stored), fp32 SIMT.
 *
 * Layouts: qkv [B*T, 3*nh*hd], head h of token n at n*3d + h*3hd + {0: q, hd: k, 2hd: v} (rotary
 * already applied); out [B*T, nh*hd] (head h at columns h*hd..); lse [B, nh, T] (log-sum-exp of the
 * scaled scores of each query row, kept for the backward).
 *
 * Forward: one block of 8 warps per (32-query tile, b, h); each warp owns 4 query rows; lane j
 * scores key j of the current 32-key tile; online softmax per row with warp shuffles; each lane
 * accumulates the output dims lane, lane+32, ...
 * Backward: two kernels and no atomics (deterministic): attention_backward_dq (per query tile,
 * loops over key tiles, same shape as the forward) and attention_backward_dkv (per key tile, loops
 * over query tiles, lanes over queries). D = rowsum(dO * O) is precomputed.
 * Head dims up to 128 (templates for padded HD = 32, 64, 96, 128).
 */
#include "common.cuh"
#include <math.h>

#define ATT_B 32          /* rows of a query tile == keys of a key tile */
#define ATT_WARPS 8
#define ATT_RPW (ATT_B / ATT_WARPS)  /* rows per warp: 4 */

__device__ __forceinline__ float att_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float att_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Loads a [32, hd] tile (rows t0.., part offset `part` inside the head) into smem with row stride
 * ld, zero padding rows >= T and columns >= hd (up to HD). */
template <int HD>
__device__ __forceinline__ void att_load_tile(float *dst, int ld, const float *qkv, int64_t row_base, int64_t row_stride,
                                              int t0, int T, int hd) {
    for (int idx = threadIdx.x; idx < ATT_B * HD; idx += blockDim.x) {
        int r = idx / HD, c = idx - r * HD;
        int t = t0 + r;
        float v = 0.f;
        if (t < T && c < hd) v = qkv[row_base + (int64_t)t * row_stride + c];
        dst[r * ld + c] = v;
    }
}

template <int HD>
__global__ void __launch_bounds__(ATT_WARPS * 32) attention_forward_kernel(
        float *out, float *lse, const float *qkv, int T, int nh, int hd, float scale) {
    constexpr int HDK = HD / 32;
    extern __shared__ float sm[];
    float *Qs = sm;                       /* [32][HD]   */
    float *Ks = Qs + ATT_B * HD;          /* [32][HD+1] */
    float *Vs = Ks + ATT_B * (HD + 1);    /* [32][HD]   */
    const int qt = blockIdx.x, bh = blockIdx.y;
    const int b = bh / nh, h = bh % nh;
    const int d = nh * hd;
    const int64_t d3 = 3LL * d;
    const int64_t base = (int64_t)b * T * d3 + (int64_t)h * 3 * hd;
    const int q0 = qt * ATT_B;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    att_load_tile<HD>(Qs, HD, qkv, base, d3, q0, T, hd);

    float m[ATT_RPW], l[ATT_RPW], o[ATT_RPW][HDK];
#pragma unroll
    for (int i = 0; i < ATT_RPW; i++) {
        m[i] = -INFINITY; l[i] = 0.f;
#pragma unroll
        for (int k = 0; k < HDK; k++) o[i][k] = 0.f;
    }

    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * ATT_B;
        __syncthreads();
        att_load_tile<HD>(Ks, HD + 1, qkv, base + hd, d3, k0, T, hd);
        att_load_tile<HD>(Vs, HD, qkv, base + 2 * hd, d3, k0, T, hd);
        __syncthreads();
        float s[ATT_RPW];
#pragma unroll
        for (int i = 0; i < ATT_RPW; i++) s[i] = 0.f;
#pragma unroll 8
        for (int c = 0; c < HD; c++) {
            float kv = Ks[lane * (HD + 1) + c];
#pragma unroll
            for (int i = 0; i < ATT_RPW; i++) s[i] += Qs[(warp * ATT_RPW + i) * HD + c] * kv;
        }
        const int key = k0 + lane;
        float p[ATT_RPW];
#pragma unroll
        for (int i = 0; i < ATT_RPW; i++) {
            const int tq = q0 + warp * ATT_RPW + i;
            float si = (key <= tq) ? s[i] * scale : -INFINITY;
            float mn = fmaxf(m[i], att_warp_max(si));
            p[i] = (si == -INFINITY) ? 0.f : expf(si - mn);
            float corr = (m[i] == -INFINITY) ? 0.f : expf(m[i] - mn);
            l[i] = l[i] * corr + att_warp_sum(p[i]);
#pragma unroll
            for (int k = 0; k < HDK; k++) o[i][k] *= corr;
            m[i] = mn;
        }
#pragma unroll 4
        for (int j = 0; j < ATT_B; j++) {
            float vv[HDK];
#pragma unroll
            for (int k = 0; k < HDK; k++) vv[k] = Vs[j * HD + lane + 32 * k];
#pragma unroll
            for (int i = 0; i < ATT_RPW; i++) {
                float pj = __shfl_sync(0xffffffffu, p[i], j);
#pragma unroll
                for (int k = 0; k < HDK; k++) o[i][k] += pj * vv[k];
            }
        }
    }
#pragma unroll
    for (int i = 0; i < ATT_RPW; i++) {
        const int tq = q0 + warp * ATT_RPW + i;
        if (tq >= T) continue;
        float inv = 1.0f / l[i];
        float *orow = out + ((int64_t)b * T + tq) * d + (int64_t)h * hd;
#pragma unroll
        for (int k = 0; k < HDK; k++) {
            int c = lane + 32 * k;
            if (c < hd) orow[c] = o[i][k] * inv;
        }
        if (lane == 0) lse[(int64_t)bh * T + tq] = m[i] + logf(l[i]);
    }
}

/* D[b,h,t] = sum_c dout[n, h*hd + c] * out[n, h*hd + c]; one warp per (n, h). Shared with the
 * tensor-core backward (attention_backward_D below). */
__global__ void attention_backward_D_kernel(float *D, const float *dout, const float *out, int B, int T, int nh, int hd) {
    int64_t wid = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (wid >= (int64_t)B * T * nh) return;
    int h = (int)(wid % nh);
    int64_t n = wid / nh;
    int b = (int)(n / T), t = (int)(n % T);
    const int64_t off = n * nh * hd + (int64_t)h * hd;
    float s = 0.f;
    for (int c = lane; c < hd; c += 32) s += dout[off + c] * out[off + c];
    s = att_warp_sum(s);
    if (lane == 0) D[((int64_t)b * nh + h) * T + t] = s;
}

template <int HD>
__global__ void __launch_bounds__(ATT_WARPS * 32) attention_backward_dq_kernel(
        float *dqkv, const float *dout, const float *qkv, const float *lse, const float *D,
        int T, int nh, int hd, float scale) {
    constexpr int HDK = HD / 32;
    extern __shared__ float sm[];
    float *Qs = sm;                       /* [32][HD]   */
    float *dOs = Qs + ATT_B * HD;         /* [32][HD]   */
    float *Ks = dOs + ATT_B * HD;         /* [32][HD+1] */
    float *Vs = Ks + ATT_B * (HD + 1);    /* [32][HD+1] */
    const int qt = blockIdx.x, bh = blockIdx.y;
    const int b = bh / nh, h = bh % nh;
    const int d = nh * hd;
    const int64_t d3 = 3LL * d;
    const int64_t base = (int64_t)b * T * d3 + (int64_t)h * 3 * hd;
    const int64_t obase = (int64_t)b * T * d + (int64_t)h * hd;
    const int q0 = qt * ATT_B;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    att_load_tile<HD>(Qs, HD, qkv, base, d3, q0, T, hd);
    att_load_tile<HD>(dOs, HD, dout, obase, d, q0, T, hd);
    float rl[ATT_RPW], rD[ATT_RPW], dq[ATT_RPW][HDK];
#pragma unroll
    for (int i = 0; i < ATT_RPW; i++) {
        int tq = q0 + warp * ATT_RPW + i;
        rl[i] = tq < T ? lse[(int64_t)bh * T + tq] : 0.f;
        rD[i] = tq < T ? D[(int64_t)bh * T + tq] : 0.f;
#pragma unroll
        for (int k = 0; k < HDK; k++) dq[i][k] = 0.f;
    }
    for (int kt = 0; kt <= qt; kt++) {
        const int k0 = kt * ATT_B;
        __syncthreads();
        att_load_tile<HD>(Ks, HD + 1, qkv, base + hd, d3, k0, T, hd);
        att_load_tile<HD>(Vs, HD + 1, qkv, base + 2 * hd, d3, k0, T, hd);
        __syncthreads();
        float s[ATT_RPW], dp[ATT_RPW];
#pragma unroll
        for (int i = 0; i < ATT_RPW; i++) { s[i] = 0.f; dp[i] = 0.f; }
#pragma unroll 4
        for (int c = 0; c < HD; c++) {
            float kv = Ks[lane * (HD + 1) + c], vv = Vs[lane * (HD + 1) + c];
#pragma unroll
            for (int i = 0; i < ATT_RPW; i++) {
                s[i] += Qs[(warp * ATT_RPW + i) * HD + c] * kv;
                dp[i] += dOs[(warp * ATT_RPW + i) * HD + c] * vv;
            }
        }
        const int key = k0 + lane;
        float ds[ATT_RPW];
#pragma unroll
        for (int i = 0; i < ATT_RPW; i++) {
            const int tq = q0 + warp * ATT_RPW + i;
            float p = (key <= tq && tq < T) ? expf(s[i] * scale - rl[i]) : 0.f;
            ds[i] = p * (dp[i] - rD[i]);
        }
#pragma unroll 4
        for (int j = 0; j < ATT_B; j++) {
            float kk[HDK];
#pragma unroll
            for (int k = 0; k < HDK; k++) kk[k] = Ks[j * (HD + 1) + lane + 32 * k];
#pragma unroll
            for (int i = 0; i < ATT_RPW; i++) {
                float dsj = __shfl_sync(0xffffffffu, ds[i], j);
#pragma unroll
                for (int k = 0; k < HDK; k++) dq[i][k] += dsj * kk[k];
            }
        }
    }
#pragma unroll
    for (int i = 0; i < ATT_RPW; i++) {
        const int tq = q0 + warp * ATT_RPW + i;
        if (tq >= T) continue;
        float *row = dqkv + base + (int64_t)tq * d3;
#pragma unroll
        for (int k = 0; k < HDK; k++) {
            int c = lane + 32 * k;
            if (c < hd) row[c] = dq[i][k] * scale;
        }
    }
}

template <int HD>
__global__ void __launch_bounds__(ATT_WARPS * 32) attention_backward_dkv_kernel(
        float *dqkv, const float *dout, const float *qkv, const float *lse, const float *D,
        int T, int nh, int hd, float scale) {
    constexpr int HDK = HD / 32;
    extern __shared__ float sm[];
    float *Ks = sm;                       /* [32][HD]   keys of this block (broadcast reads) */
    float *Vs = Ks + ATT_B * HD;          /* [32][HD]   */
    float *Qs = Vs + ATT_B * HD;          /* [32][HD+1] queries of the current tile */
    float *dOs = Qs + ATT_B * (HD + 1);   /* [32][HD+1] */
    float *ls = dOs + ATT_B * (HD + 1);   /* [32] */
    float *Ds = ls + ATT_B;               /* [32] */
    const int kt = blockIdx.x, bh = blockIdx.y;
    const int b = bh / nh, h = bh % nh;
    const int d = nh * hd;
    const int64_t d3 = 3LL * d;
    const int64_t base = (int64_t)b * T * d3 + (int64_t)h * 3 * hd;
    const int64_t obase = (int64_t)b * T * d + (int64_t)h * hd;
    const int k0 = kt * ATT_B;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int ntiles = (T + ATT_B - 1) / ATT_B;

    att_load_tile<HD>(Ks, HD, qkv, base + hd, d3, k0, T, hd);
    att_load_tile<HD>(Vs, HD, qkv, base + 2 * hd, d3, k0, T, hd);
    float dk[ATT_RPW][HDK], dv[ATT_RPW][HDK];
#pragma unroll
    for (int i = 0; i < ATT_RPW; i++)
#pragma unroll
        for (int k = 0; k < HDK; k++) { dk[i][k] = 0.f; dv[i][k] = 0.f; }

    for (int qt = kt; qt < ntiles; qt++) {
        const int q0 = qt * ATT_B;
        __syncthreads();
        att_load_tile<HD>(Qs, HD + 1, qkv, base, d3, q0, T, hd);
        att_load_tile<HD>(dOs, HD + 1, dout, obase, d, q0, T, hd);
        if (threadIdx.x < ATT_B) {
            int t = q0 + threadIdx.x;
            ls[threadIdx.x] = t < T ? lse[(int64_t)bh * T + t] : 0.f;
            Ds[threadIdx.x] = t < T ? D[(int64_t)bh * T + t] : 0.f;
        }
        __syncthreads();
        const int tq = q0 + lane;                 /* this lane's query */
        float s[ATT_RPW], dp[ATT_RPW];
#pragma unroll
        for (int i = 0; i < ATT_RPW; i++) { s[i] = 0.f; dp[i] = 0.f; }
#pragma unroll 4
        for (int c = 0; c < HD; c++) {
            float qv = Qs[lane * (HD + 1) + c], gv = dOs[lane * (HD + 1) + c];
#pragma unroll
            for (int i = 0; i < ATT_RPW; i++) {
                s[i] += qv * Ks[(warp * ATT_RPW + i) * HD + c];
                dp[i] += gv * Vs[(warp * ATT_RPW + i) * HD + c];
            }
        }
        float p[ATT_RPW], ds[ATT_RPW];
        const float lq = ls[lane], Dq = Ds[lane];
#pragma unroll
        for (int i = 0; i < ATT_RPW; i++) {
            const int key = k0 + warp * ATT_RPW + i;
            bool valid = tq < T && key <= tq;
            p[i] = valid ? expf(s[i] * scale - lq) : 0.f;
            ds[i] = p[i] * (dp[i] - Dq);
        }
#pragma unroll 4
        for (int j = 0; j < ATT_B; j++) {
            float gq[HDK], qq[HDK];
#pragma unroll
            for (int k = 0; k < HDK; k++) {
                gq[k] = dOs[j * (HD + 1) + lane + 32 * k];
                qq[k] = Qs[j * (HD + 1) + lane + 32 * k];
            }
#pragma unroll
            for (int i = 0; i < ATT_RPW; i++) {
                float pj = __shfl_sync(0xffffffffu, p[i], j);
                float dsj = __shfl_sync(0xffffffffu, ds[i], j);
#pragma unroll
                for (int k = 0; k < HDK; k++) { dv[i][k] += pj * gq[k]; dk[i][k] += dsj * qq[k]; }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < ATT_RPW; i++) {
        const int key = k0 + warp * ATT_RPW + i;
        if (key >= T) continue;
        float *row = dqkv + base + (int64_t)key * d3;
#pragma unroll
        for (int k = 0; k < HDK; k++) {
            int c = lane + 32 * k;
            if (c < hd) { row[hd + c] = dk[i][k] * scale; row[2 * hd + c] = dv[i][k]; }
        }
    }
}

int attention_max_head_dim(void) { return 128; }

static size_t fwd_smem(int HD) { return (size_t)(ATT_B * HD * 2 + ATT_B * (HD + 1)) * sizeof(float); }
static size_t bwd_smem(int HD) { return (size_t)(ATT_B * HD * 2 + ATT_B * (HD + 1) * 2 + 2 * ATT_B) * sizeof(float); }

template <int HD>
static sp_status att_fwd(cudaStream_t st, float *out, float *lse, const float *qkv, int B, int T, int nh, int hd) {
    size_t sm = fwd_smem(HD);
    CK(cudaFuncSetAttribute(attention_forward_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
    dim3 grid(cdiv(T, ATT_B), B * nh);
    attention_forward_kernel<HD><<<grid, ATT_WARPS * 32, sm, st>>>(out, lse, qkv, T, nh, hd, 1.0f / sqrtf((float)hd));
    CK_LAUNCH("attention_forward_kernel");
    return SP_OK;
}

template <int HD>
static sp_status att_bwd(cudaStream_t st, float *dqkv, const float *dout, const float *qkv, const float *lse,
                         const float *Dbuf, int B, int T, int nh, int hd) {
    size_t sm = bwd_smem(HD);
    CK(cudaFuncSetAttribute(attention_backward_dq_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
    CK(cudaFuncSetAttribute(attention_backward_dkv_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
    dim3 grid(cdiv(T, ATT_B), B * nh);
    float scale = 1.0f / sqrtf((float)hd);
    attention_backward_dq_kernel<HD><<<grid, ATT_WARPS * 32, sm, st>>>(dqkv, dout, qkv, lse, Dbuf, T, nh, hd, scale);
    CK_LAUNCH("attention_backward_dq_kernel");
    attention_backward_dkv_kernel<HD><<<grid, ATT_WARPS * 32, sm, st>>>(dqkv, dout, qkv, lse, Dbuf, T, nh, hd, scale);
    CK_LAUNCH("attention_backward_dkv_kernel");
    return SP_OK;
}

sp_status attention_forward(cudaStream_t st, float *out, float *lse, const float *qkv, int B, int T, int nh, int hd) {
    if (hd <= 32) return att_fwd<32>(st, out, lse, qkv, B, T, nh, hd);
    if (hd <= 64) return att_fwd<64>(st, out, lse, qkv, B, T, nh, hd);
    if (hd <= 96) return att_fwd<96>(st, out, lse, qkv, B, T, nh, hd);
    if (hd <= 128) return att_fwd<128>(st, out, lse, qkv, B, T, nh, hd);
    return sp_set_error(SP_ERR_INVALID, "%s: head dim %d > 128 is not supported by the CUDA attention", sp_fn(), hd);
}

sp_status attention_backward_D(cudaStream_t st, float *D, const float *dout, const float *out, int B, int T, int nh,
                               int hd) {
    int64_t warps = (int64_t)B * T * nh;
    attention_backward_D_kernel<<<cdiv(warps * 32, 256), 256, 0, st>>>(D, dout, out, B, T, nh, hd);
    CK_LAUNCH("attention_backward_D_kernel");
    return SP_OK;
}

sp_status attention_backward(cudaStream_t st, float *dqkv, const float *dout, const float *qkv,
                             const float *out, const float *lse, float *Dbuf, int B, int T, int nh, int hd) {
    TRY(attention_backward_D(st, Dbuf, dout, out, B, T, nh, hd));
    if (hd <= 32) return att_bwd<32>(st, dqkv, dout, qkv, lse, Dbuf, B, T, nh, hd);
    if (hd <= 64) return att_bwd<64>(st, dqkv, dout, qkv, lse, Dbuf, B, T, nh, hd);
    if (hd <= 96) return att_bwd<96>(st, dqkv, dout, qkv, lse, Dbuf, B, T, nh, hd);
    if (hd <= 128) return att_bwd<128>(st, dqkv, dout, qkv, lse, Dbuf, B, T, nh, hd);
    return sp_set_error(SP_ERR_INVALID, "%s: head dim %d > 128 is not supported by the CUDA attention", sp_fn(), hd);
}
