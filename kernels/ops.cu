/*
 * ops.cu -- the element-wise / row-wise kernels of the CUDA backend and their launchers.
 * Names mirror the CPU backend op for op: encoder_*, layernorm_*, rotary_*, gelu_*,
 * fused_classifier, sgld_update, accum_add (plus helpers colsum, convert_bf16, reset_blocks).
 * Everything is fp32 with fp32 accumulation; every launcher checks the launch.
 */
#include "common.cuh"
#include "philox.h"   /* native/src/philox.h: the one Philox of both backends */
#include <math.h>

#define WARP 32

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static inline int grid_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b > 65535LL * 32) b = 65535LL * 32;   /* grid-stride loops cover the rest */
    if (b < 1) b = 1;
    return (int)b;
}

/* ------------------------------------------------------------------ encoder */
__global__ void encoder_forward_kernel(float *out, const int32_t *tokens, const float *wte, int N, int d) {
    int64_t total = (int64_t)N * d;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = i / d, c = i - n * d;
        out[i] = wte[(int64_t)tokens[n] * d + c];
    }
}

__global__ void encoder_backward_kernel(float *dwte, const int32_t *tokens, const float *dout, int N, int d) {
    int64_t total = (int64_t)N * d;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = i / d, c = i - n * d;
        atomicAdd(&dwte[(int64_t)tokens[n] * d + c], dout[i]);
    }
}

sp_status encoder_forward(cudaStream_t st, float *out, const int32_t *tokens, const float *wte, int N, int d) {
    encoder_forward_kernel<<<grid_for((int64_t)N * d, 256), 256, 0, st>>>(out, tokens, wte, N, d);
    CK_LAUNCH("encoder_forward_kernel");
    return SP_OK;
}

sp_status encoder_backward(cudaStream_t st, float *dwte, const int32_t *tokens, const float *dout, int N, int d) {
    encoder_backward_kernel<<<grid_for((int64_t)N * d, 256), 256, 0, st>>>(dwte, tokens, dout, N, d);
    CK_LAUNCH("encoder_backward_kernel");
    return SP_OK;
}

/* ------------------------------------------------------------------ layernorm */
/* one warp per row */
__global__ void layernorm_forward_kernel(float *out, bf16 *out_b, float *mean, float *rstd, const float *x,
                                         const float *w, const float *b, int N, int d, float eps) {
    int row = (int)((blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / WARP);
    int lane = threadIdx.x % WARP;
    if (row >= N) return;
    const float *xr = x + (int64_t)row * d;
    float s = 0.f;
    for (int c = lane; c < d; c += WARP) s += xr[c];
    float m = warp_sum(s) / (float)d;
    float v = 0.f;
    for (int c = lane; c < d; c += WARP) { float t = xr[c] - m; v += t * t; }
    v = warp_sum(v) / (float)d;
    float r = 1.0f / sqrtf(v + eps);
    for (int c = lane; c < d; c += WARP) {
        float y = (xr[c] - m) * r * w[c] + b[c];
        if (out) out[(int64_t)row * d + c] = y;
        if (out_b) out_b[(int64_t)row * d + c] = __float2bfloat16_rn(y);
    }
    if (lane == 0) { mean[row] = m; rstd[row] = r; }
}

/* dx (+)= rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dout * w */
__global__ void layernorm_backward_dx_kernel(float *dx, const float *dout, const float *x, const float *mean,
                                             const float *rstd, const float *w, int N, int d) {
    int row = (int)((blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / WARP);
    int lane = threadIdx.x % WARP;
    if (row >= N) return;
    const float *xr = x + (int64_t)row * d, *dr = dout + (int64_t)row * d;
    float m = mean[row], r = rstd[row];
    float s1 = 0.f, s2 = 0.f;
    for (int c = lane; c < d; c += WARP) {
        float xh = (xr[c] - m) * r, g = dr[c] * w[c];
        s1 += g; s2 += g * xh;
    }
    s1 = warp_sum(s1) / (float)d;
    s2 = warp_sum(s2) / (float)d;
    float *o = dx + (int64_t)row * d;
    for (int c = lane; c < d; c += WARP) {
        float xh = (xr[c] - m) * r, g = dr[c] * w[c];
        o[c] += r * (g - s1 - xh * s2);
    }
}

#define COL_CHUNKS 128
/* partial[k][c] (and partial[k][C + c] for the LN weight) over the rows of chunk k */
__global__ void layernorm_backward_dwdb_partial(float *partial, const float *dout, const float *x, const float *mean,
                                                const float *rstd, int N, int d, int rows_per_chunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int k = blockIdx.y;
    if (c >= d) return;
    int r0 = k * rows_per_chunk, r1 = min(N, r0 + rows_per_chunk);
    float aw = 0.f, ab = 0.f;
    for (int r = r0; r < r1; r++) {
        float g = dout[(int64_t)r * d + c];
        aw += g * (x[(int64_t)r * d + c] - mean[r]) * rstd[r];
        ab += g;
    }
    partial[(int64_t)k * 2 * d + c] = aw;
    partial[(int64_t)k * 2 * d + d + c] = ab;
}

__global__ void sum_partials_kernel(float *out, const float *partial, int C, int stride, int K) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.f;
    for (int k = 0; k < K; k++) s += partial[(int64_t)k * stride + c];
    out[c] = s;
}

sp_status layernorm_forward(cudaStream_t st, float *out, bf16 *out_b, float *mean, float *rstd,
                            const float *x, const float *w, const float *b, int N, int d, float eps) {
    layernorm_forward_kernel<<<cdiv((int64_t)N * WARP, 256), 256, 0, st>>>(out, out_b, mean, rstd, x, w, b, N, d, eps);
    CK_LAUNCH("layernorm_forward_kernel");
    return SP_OK;
}

sp_status layernorm_backward(cudaStream_t st, float *dx, float *dw, float *db, const float *dout,
                             const float *x, const float *mean, const float *rstd, const float *w,
                             int N, int d, float *scratch) {
    if (dx) {
        layernorm_backward_dx_kernel<<<cdiv((int64_t)N * WARP, 256), 256, 0, st>>>(dx, dout, x, mean, rstd, w, N, d);
        CK_LAUNCH("layernorm_backward_dx_kernel");
    }
    if (dw || db) {
        int K = N < COL_CHUNKS ? N : COL_CHUNKS;
        int rpc = (N + K - 1) / K;
        K = (N + rpc - 1) / rpc;
        dim3 grid(cdiv(d, 256), K);
        layernorm_backward_dwdb_partial<<<grid, 256, 0, st>>>(scratch, dout, x, mean, rstd, N, d, rpc);
        CK_LAUNCH("layernorm_backward_dwdb_partial");
        if (dw) { sum_partials_kernel<<<cdiv(d, 256), 256, 0, st>>>(dw, scratch, d, 2 * d, K); CK_LAUNCH("sum_partials(dw)"); }
        if (db) { sum_partials_kernel<<<cdiv(d, 256), 256, 0, st>>>(db, scratch + d, d, 2 * d, K); CK_LAUNCH("sum_partials(db)"); }
    }
    return SP_OK;
}

/* ------------------------------------------------------------------ colsum (bias gradients) */
__global__ void colsum_partial(float *partial, const float *X, int N, int C, int rows_per_chunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int k = blockIdx.y;
    if (c >= C) return;
    int r0 = k * rows_per_chunk, r1 = min(N, r0 + rows_per_chunk);
    float a = 0.f;
    for (int r = r0; r < r1; r++) a += X[(int64_t)r * C + c];
    partial[(int64_t)k * C + c] = a;
}

sp_status colsum(cudaStream_t st, float *out, const float *X, int N, int C, float *scratch) {
    int K = N < COL_CHUNKS ? N : COL_CHUNKS;
    int rpc = (N + K - 1) / K;
    K = (N + rpc - 1) / rpc;
    dim3 grid(cdiv(C, 256), K);
    colsum_partial<<<grid, 256, 0, st>>>(scratch, X, N, C, rpc);
    CK_LAUNCH("colsum_partial");
    sum_partials_kernel<<<cdiv(C, 256), 256, 0, st>>>(out, scratch, C, C, K);
    CK_LAUNCH("sum_partials(colsum)");
    return SP_OK;
}

/* ------------------------------------------------------------------ rotary (GPT-NeoX rotate-half) */
/* thread per (n, h, i), i < rd/2; q at [h*3hd + i], k at [h*3hd + hd + i] */
template <bool BACKWARD>
__global__ void rotary_kernel(float *qkv, const float *cos_t, const float *sin_t, int N, int T, int nh, int hd, int rd) {
    int half = rd / 2;
    int64_t total = (int64_t)N * nh * half;
    int64_t d3 = (int64_t)3 * nh * hd;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
        int i = (int)(idx % half);
        int64_t nhh = idx / half;
        int h = (int)(nhh % nh);
        int64_t n = nhh / nh;
        int t = (int)(n % T);
        float c = cos_t[(int64_t)t * half + i], s = sin_t[(int64_t)t * half + i];
        float *base = qkv + n * d3 + (int64_t)h * 3 * hd;
        for (int part = 0; part < 2; part++) {          /* q, then k */
            float *p = base + part * hd;
            float x1 = p[i], x2 = p[i + half];
            if (!BACKWARD) { p[i] = x1 * c - x2 * s; p[i + half] = x2 * c + x1 * s; }
            else           { p[i] = x1 * c + x2 * s; p[i + half] = x2 * c - x1 * s; }
        }
    }
}

sp_status rotary_forward(cudaStream_t st, float *qkv, const float *cos_t, const float *sin_t,
                         int N, int T, int nh, int hd, int rd) {
    if (rd <= 0) return SP_OK;
    rotary_kernel<false><<<grid_for((int64_t)N * nh * (rd / 2), 256), 256, 0, st>>>(qkv, cos_t, sin_t, N, T, nh, hd, rd);
    CK_LAUNCH("rotary_forward_kernel");
    return SP_OK;
}

sp_status rotary_backward(cudaStream_t st, float *dqkv, const float *cos_t, const float *sin_t,
                          int N, int T, int nh, int hd, int rd) {
    if (rd <= 0) return SP_OK;
    rotary_kernel<true><<<grid_for((int64_t)N * nh * (rd / 2), 256), 256, 0, st>>>(dqkv, cos_t, sin_t, N, T, nh, hd, rd);
    CK_LAUNCH("rotary_backward_kernel");
    return SP_OK;
}

/* ------------------------------------------------------------------ gelu (exact, erf) */
#define SP_INV_SQRT2 0.70710678118654752440f
#define SP_INV_SQRT_2PI 0.39894228040143267794f

__global__ void gelu_forward_kernel(float *out_f, bf16 *out_b, const float *x, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i];
        float y = 0.5f * v * (1.0f + erff(v * SP_INV_SQRT2));
        if (out_f) out_f[i] = y; else out_b[i] = __float2bfloat16_rn(y);
    }
}

__global__ void gelu_backward_kernel(float *d, const float *x, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * SP_INV_SQRT2));
        float pdf = SP_INV_SQRT_2PI * expf(-0.5f * v * v);
        d[i] = d[i] * (cdf + v * pdf);
    }
}

sp_status gelu_forward(cudaStream_t st, float *out_f, bf16 *out_b, const float *x, int64_t n) {
    gelu_forward_kernel<<<grid_for(n, 256), 256, 0, st>>>(out_f, out_b, x, n);
    CK_LAUNCH("gelu_forward_kernel");
    return SP_OK;
}

sp_status gelu_backward(cudaStream_t st, float *dinout, const float *x, int64_t n) {
    gelu_backward_kernel<<<grid_for(n, 256), 256, 0, st>>>(dinout, x, n);
    CK_LAUNCH("gelu_backward_kernel");
    return SP_OK;
}

/* ------------------------------------------------------------------ bf16 conversion */
__global__ void convert_bf16_kernel(bf16 *out, const float *in, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = __float2bfloat16_rn(in[i]);
}

sp_status convert_bf16(cudaStream_t st, bf16 *out, const float *in, int64_t n) {
    if (n <= 0) return SP_OK;
    convert_bf16_kernel<<<grid_for(n, 256), 256, 0, st>>>(out, in, n);
    CK_LAUNCH("convert_bf16_kernel");
    return SP_OK;
}

/* ------------------------------------------------------------------ fused classifier + cross entropy */
struct MaxSum { float m, s; };

__device__ __forceinline__ MaxSum ms_combine(MaxSum a, MaxSum b) {
    if (a.m == -INFINITY) return b;
    if (b.m == -INFINITY) return a;
    float m = fmaxf(a.m, b.m);
    MaxSum r; r.m = m; r.s = a.s * expf(a.m - m) + b.s * expf(b.m - m);
    return r;
}

#define CE_THREADS 512
/* one block per row of the chunk */
__global__ void __launch_bounds__(CE_THREADS) fused_classifier_kernel(
        float *logits, float *dlog_f, bf16 *dlog_b, float *losses, const int32_t *tokens,
        int row0, int V, int T, float dscale) {
    __shared__ MaxSum red[CE_THREADS / WARP];
    __shared__ float s_lse;
    int r = blockIdx.x;
    int64_t row = (int64_t)row0 + r;
    int b = (int)(row / T), t = (int)(row % T);
    bool has_target = t < T - 1;
    int target = has_target ? tokens[row + 1] : -1;
    const float *lr = logits + (int64_t)r * V;

    MaxSum acc; acc.m = -INFINITY; acc.s = 0.f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float x = lr[v];
        if (x > acc.m) { acc.s = acc.s * expf(acc.m - x) + 1.0f; acc.m = x; }
        else acc.s += expf(x - acc.m);
    }
    for (int o = 16; o > 0; o >>= 1) {
        MaxSum other; other.m = __shfl_xor_sync(0xffffffffu, acc.m, o); other.s = __shfl_xor_sync(0xffffffffu, acc.s, o);
        acc = ms_combine(acc, other);
    }
    int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (lane == 0) red[warp] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
        MaxSum tot = red[0];
        for (int i = 1; i < (int)(blockDim.x / WARP); i++) tot = ms_combine(tot, red[i]);
        float lse = tot.m + logf(tot.s);
        s_lse = lse;
        if (has_target) losses[(int64_t)b * (T - 1) + t] = lse - lr[target];
    }
    __syncthreads();
    if (dlog_f == NULL && dlog_b == NULL) return;
    float lse = s_lse;
    float sc = has_target ? dscale : 0.f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float p = expf(lr[v] - lse);
        float g = (p - (v == target ? 1.0f : 0.0f)) * sc;
        if (dlog_f) dlog_f[(int64_t)r * V + v] = g;
        else dlog_b[(int64_t)r * V + v] = __float2bfloat16_rn(g);
    }
}

sp_status fused_classifier(cudaStream_t st, float *logits, float *dlog_f, bf16 *dlog_b, float *losses,
                           const int32_t *tokens, int row0, int R, int V, int T, float dscale) {
    if (R <= 0) return SP_OK;
    fused_classifier_kernel<<<R, CE_THREADS, 0, st>>>(logits, dlog_f, dlog_b, losses, tokens, row0, V, T, dscale);
    CK_LAUNCH("fused_classifier_kernel");
    return SP_OK;
}

/* ------------------------------------------------------------------ SGLD (one fused kernel) */
/* element e of the component -> flat parameter index (blocks numbered in order, row-major inside) */
__device__ __forceinline__ int64_t block_elem_addr(const sp_block *blocks, const int64_t *bstart, int nb, int64_t e) {
    int lo = 0, hi = nb - 1;
    while (lo < hi) {                          /* last b with bstart[b] <= e */
        int mid = (lo + hi + 1) >> 1;
        if (bstart[mid] <= e) lo = mid; else hi = mid - 1;
    }
    const sp_block bl = blocks[lo];
    int64_t local = e - bstart[lo];
    int64_t r = local / bl.cols, c = local - r * bl.cols;
    return bl.offset + r * bl.stride + c;
}

/* One element of the update (the arithmetic of the CPU reference, in the same order). */
__device__ __forceinline__ float sgld_one(const sp_sgld_params &p, float half_lr, float sqrt_lr, float g, float w,
                                          float ws, float *v, float xi) {
    float G = 1.0f, sG = 1.0f;
    if (p.rmsprop) {
        const float vn = p.alpha * *v + (1.0f - p.alpha) * g * g;
        *v = vn;
        G = 1.0f / (sqrtf(vn) + p.rms_eps);
        sG = sqrtf(G);
    }
    return w - half_lr * G * (p.nbeta * g + p.gamma * (w - ws)) + sqrt_lr * sG * xi * p.noise_scale;
}

/* One thread per group of 4 elements = one Philox call = its 4 normals. When the 4 elements are
 * consecutive in one row of one block and 16-byte aligned (every component of the default
 * decomposition: tensor offsets and row strides are multiples of 4 when d is), g, w, w*, V move as
 * float4 and the bf16 copy as 8 bytes, with one block search per group; otherwise element by element. */
__global__ void __launch_bounds__(256) sgld_update_kernel(sgld_args a) {
    const sp_sgld_params p = a.p;
    const float half_lr = 0.5f * p.lr, sqrt_lr = sqrtf(p.lr);
    const bool noise = p.noise_scale != 0.0f;
    const int64_t nquads = (a.total + 3) / 4;
    for (int64_t q = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; q < nquads; q += (int64_t)gridDim.x * blockDim.x) {
        float xi[4] = {0.f, 0.f, 0.f, 0.f};
        if (noise) sp_noise_block(p.seed, p.stream, p.step, (uint64_t)q, xi);
        const int64_t e0 = q * 4;
        int lo = 0, hi = a.nb - 1;
        while (lo < hi) {                          /* last b with bstart[b] <= e0 */
            int mid = (lo + hi + 1) >> 1;
            if (a.bstart[mid] <= e0) lo = mid; else hi = mid - 1;
        }
        const sp_block bl = a.blocks[lo];
        const int64_t local = e0 - a.bstart[lo];
        const int64_t r = local / bl.cols, c = local - r * bl.cols;
        const int64_t at = bl.offset + r * bl.stride + c;
        if (e0 + 3 < a.total && c + 3 < bl.cols && (at & 3) == 0) {
            const float4 g4 = __ldg(reinterpret_cast<const float4 *>(a.grad + at));
            const float4 s4 = __ldg(reinterpret_cast<const float4 *>(a.anchor + at));
            float4 w4 = *reinterpret_cast<const float4 *>(a.w + at);
            float4 v4 = make_float4(0.f, 0.f, 0.f, 0.f);
            if (p.rmsprop) v4 = *reinterpret_cast<const float4 *>(a.rms + e0);
            w4.x = sgld_one(p, half_lr, sqrt_lr, g4.x, w4.x, s4.x, &v4.x, xi[0]);
            w4.y = sgld_one(p, half_lr, sqrt_lr, g4.y, w4.y, s4.y, &v4.y, xi[1]);
            w4.z = sgld_one(p, half_lr, sqrt_lr, g4.z, w4.z, s4.z, &v4.z, xi[2]);
            w4.w = sgld_one(p, half_lr, sqrt_lr, g4.w, w4.w, s4.w, &v4.w, xi[3]);
            *reinterpret_cast<float4 *>(a.w + at) = w4;
            if (p.rmsprop) *reinterpret_cast<float4 *>(a.rms + e0) = v4;
            if (a.wb) {
                __nv_bfloat162 b0 = __floats2bfloat162_rn(w4.x, w4.y), b1 = __floats2bfloat162_rn(w4.z, w4.w);
                uint2 u;
                u.x = *reinterpret_cast<uint32_t *>(&b0);
                u.y = *reinterpret_cast<uint32_t *>(&b1);
                *reinterpret_cast<uint2 *>(a.wb + at) = u;
            }
            if (!(isfinite(w4.x) && isfinite(w4.y) && isfinite(w4.z) && isfinite(w4.w))) atomicExch(a.nonfinite, 1);
            continue;
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int64_t e = e0 + j;
            if (e >= a.total) break;
            int64_t ae = block_elem_addr(a.blocks, a.bstart, a.nb, e);
            float v = p.rmsprop ? a.rms[e] : 0.f;
            float wn = sgld_one(p, half_lr, sqrt_lr, a.grad[ae], a.w[ae], a.anchor[ae], &v, xi[j]);
            if (p.rmsprop) a.rms[e] = v;
            a.w[ae] = wn;
            if (a.wb) a.wb[ae] = __float2bfloat16_rn(wn);
            if (!isfinite(wn)) atomicExch(a.nonfinite, 1);
        }
    }
}

sp_status sgld_update(cudaStream_t st, const sgld_args *a) {
    if (a->total <= 0) return SP_OK;
    sgld_update_kernel<<<grid_for((a->total + 3) / 4, 256), 256, 0, st>>>(*a);
    CK_LAUNCH("sgld_update_kernel");
    return SP_OK;
}

__global__ void reset_blocks_kernel(float *w, bf16 *wb, const float *anchor, const sp_block *blocks,
                                    const int64_t *bstart, int nb, int64_t total) {
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
        int64_t at = block_elem_addr(blocks, bstart, nb, e);
        float v = anchor[at];
        w[at] = v;
        if (wb) wb[at] = __float2bfloat16_rn(v);
    }
}

sp_status reset_blocks(cudaStream_t st, float *w, bf16 *wb, const float *anchor, const sp_block *blocks,
                       const int64_t *bstart, int nb, int64_t total) {
    if (total <= 0) return SP_OK;
    reset_blocks_kernel<<<grid_for(total, 256), 256, 0, st>>>(w, wb, anchor, blocks, bstart, nb, total);
    CK_LAUNCH("reset_blocks_kernel");
    return SP_OK;
}

/* ------------------------------------------------------------------ accumulation */
__global__ void accum_add_kernel(double *sum_l, double *sum_phil, const float *l, int64_t n, double phi) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        double v = (double)l[i];
        sum_l[i] += v;
        sum_phil[i] += phi * v;
    }
}

sp_status accum_add(cudaStream_t st, double *sum_l, double *sum_phil, const float *l, int64_t n, double phi) {
    if (n <= 0) return SP_OK;
    accum_add_kernel<<<grid_for(n, 256), 256, 0, st>>>(sum_l, sum_phil, l, n, phi);
    CK_LAUNCH("accum_add_kernel");
    return SP_OK;
}
