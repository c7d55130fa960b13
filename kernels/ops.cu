/*
 * ops.cu -- the element-wise / row-wise kernels of the CUDA backend and their launchers.
 * Names mirror the CPU backend op for op: encoder_*, layernorm_*, rotary_*, gelu_*,
 * fused_classifier (plus helpers colsum, convert_bf16). The SGLD, reset and accumulator kernels
 * are in sgld.cu, next to their ABI calls, as in native/src/sgld.c.
 * Everything is fp32 with fp32 accumulation; every launcher checks the launch.
 */
#include "common.cuh"
#include <math.h>

#define WARP 32

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
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
