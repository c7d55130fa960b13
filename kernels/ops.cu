/*
 * ops.cu -- the element-wise / row-wise kernels of the CUDA backend and their launchers.
 * Names mirror the CPU backend op for op: encoder_*, layernorm_*, rotary_*, gelu_*,
 * fused_classifier, and the activation features feature_row_norms, head_gram, head_norms (plus helpers
 * colsum, convert_bf16, and for the features residual_add_norms and attention_entropy, which the CPU
 * backend fuses into residual_forward's caller and attention_forward). The SGLD, reset and accumulator kernels
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
        float *logits, float *dlog_f, bf16 *dlog_b, float *losses, float *ent, int64_t ent_ld, const int32_t *tokens,
        int row0, int V, int T, float dscale) {
    __shared__ MaxSum red[CE_THREADS / WARP];
    __shared__ float red_h[CE_THREADS / WARP];
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
    if (ent && has_target) {   /* entropy = sum_v p_v (lse - l_v), every term >= 0 */
        float lse = s_lse, hs = 0.f;
        for (int v = threadIdx.x; v < V; v += blockDim.x) { float x = lr[v]; hs += expf(x - lse) * (lse - x); }
        hs = warp_sum(hs);
        if (lane == 0) red_h[warp] = hs;
        __syncthreads();
        if (threadIdx.x == 0) {
            float tot = 0.f;
            for (int i = 0; i < (int)(blockDim.x / WARP); i++) tot += red_h[i];
            ent[((int64_t)b * (T - 1) + t) * ent_ld] = tot;
        }
    }
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

sp_status fused_classifier(cudaStream_t st, float *logits, float *dlog_f, bf16 *dlog_b, float *losses, float *ent,
                           int64_t ent_ld, const int32_t *tokens, int row0, int R, int V, int T, float dscale) {
    if (R <= 0) return SP_OK;
    fused_classifier_kernel<<<R, CE_THREADS, 0, st>>>(logits, dlog_f, dlog_b, losses, ent, ent_ld, tokens, row0, V, T, dscale);
    CK_LAUNCH("fused_classifier_kernel");
    return SP_OK;
}

/* ------------------------------------------------------------------ activation features (sp_forward_features) */
/* prediction i < B*(T-1) <-> row n = (i / (T-1)) * T + i % (T-1); out[i * ld] */

/* one warp per prediction row: out[i * ld] = ||x[n]|| */
__global__ void feature_row_norms_kernel(float *out, int64_t ld, const float *x, int Nl, int T, int d) {
    int i = (int)((blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / WARP), lane = threadIdx.x % WARP;
    if (i >= Nl) return;
    const float *xr = x + ((int64_t)(i / (T - 1)) * T + i % (T - 1)) * d;
    float s = 0.f;
    for (int c = lane; c < d; c += WARP) s += xr[c] * xr[c];
    s = warp_sum(s);
    if (lane == 0) out[(int64_t)i * ld] = sqrtf(s);
}

sp_status feature_row_norms(cudaStream_t st, float *out, int64_t ld, const float *x, int B, int T, int d) {
    int Nl = B * (T - 1);
    feature_row_norms_kernel<<<cdiv((int64_t)Nl * WARP, 256), 256, 0, st>>>(out, ld, x, Nl, T, d);
    CK_LAUNCH("feature_row_norms_kernel");
    return SP_OK;
}

/* one warp per row n of the batch: x[n] += mo[n]; rows that predict (t < T-1) also out[i * ld] = ||mo[n]|| */
__global__ void residual_add_norms_kernel(float *x, const float *mo, float *out, int64_t ld, int N, int T, int d) {
    int n = (int)((blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / WARP), lane = threadIdx.x % WARP;
    if (n >= N) return;
    float *xr = x + (int64_t)n * d;
    const float *mr = mo + (int64_t)n * d;
    float s = 0.f;
    for (int c = lane; c < d; c += WARP) { float v = mr[c]; xr[c] += v; s += v * v; }
    s = warp_sum(s);
    int t = n % T;
    if (lane == 0 && t < T - 1) out[((int64_t)(n / T) * (T - 1) + t) * ld] = sqrtf(s);
}

sp_status residual_add_norms(cudaStream_t st, float *x, const float *mo, float *out, int64_t ld, int B, int T, int d) {
    int N = B * T;
    residual_add_norms_kernel<<<cdiv((int64_t)N * WARP, 256), 256, 0, st>>>(x, mo, out, ld, N, T, d);
    CK_LAUNCH("residual_add_norms_kernel");
    return SP_OK;
}

/* thread per (h, r, c): G[h][r][c] = sum_o Wd[o, h*hd + r] Wd[o, h*hd + c] (fp32, o ascending) */
__global__ void head_gram_kernel(float *G, const float *wd, int d, int nh, int hd) {
    int64_t total = (int64_t)nh * hd * hd;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
        int c = (int)(idx % hd), r = (int)((idx / hd) % hd), h = (int)(idx / ((int64_t)hd * hd));
        const float *a = wd + (int64_t)h * hd + r, *b = wd + (int64_t)h * hd + c;
        float s = 0.f;
        for (int o = 0; o < d; o++) s += a[(int64_t)o * d] * b[(int64_t)o * d];
        G[idx] = s;
    }
}

sp_status head_gram(cudaStream_t st, float *G, const float *wd, int d, int nh) {
    int hd = d / nh;
    head_gram_kernel<<<grid_for((int64_t)nh * hd * hd, 256), 256, 0, st>>>(G, wd, d, nh, hd);
    CK_LAUNCH("head_gram_kernel");
    return SP_OK;
}

#define HN_WARPS 8
#define HN_MAXHD 256
/* one warp per (prediction i, head h): out[i * ld + h] = sqrt(a^T G[h] a), a = atty[n, h*hd ..] */
__global__ void __launch_bounds__(HN_WARPS * WARP) head_norms_kernel(float *out, int64_t ld, const float *atty, const float *G,
                                                                     int Nl, int T, int nh, int hd) {
    __shared__ float sa[HN_WARPS][HN_MAXHD];
    int w = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    int64_t pair = (int64_t)blockIdx.x * HN_WARPS + w;
    if (pair >= (int64_t)Nl * nh) return;
    int i = (int)(pair / nh), h = (int)(pair % nh);
    const float *a = atty + ((int64_t)(i / (T - 1)) * T + i % (T - 1)) * nh * hd + (int64_t)h * hd;
    for (int c = lane; c < hd; c += WARP) sa[w][c] = a[c];
    __syncwarp();
    const float *Gh = G + (int64_t)h * hd * hd;
    float q = 0.f;
    for (int r = lane; r < hd; r += WARP) {
        float u = 0.f;
        for (int c = 0; c < hd; c++) u += Gh[(int64_t)r * hd + c] * sa[w][c];
        q += sa[w][r] * u;
    }
    q = warp_sum(q);
    if (lane == 0) out[(int64_t)i * ld + h] = sqrtf(fmaxf(q, 0.f));
}

sp_status head_norms(cudaStream_t st, float *out, int64_t ld, const float *atty, const float *G, int B, int T, int nh, int hd) {
    if (hd > HN_MAXHD) return sp_set_error(SP_ERR_INVALID, "%s: head dim %d > %d in head_norms", sp_fn(), hd, HN_MAXHD);
    int Nl = B * (T - 1);
    head_norms_kernel<<<cdiv((int64_t)Nl * nh, HN_WARPS), HN_WARPS * WARP, 0, st>>>(out, ld, atty, G, Nl, T, nh, hd);
    CK_LAUNCH("head_norms_kernel");
    return SP_OK;
}

/* Running softmax sums of one query row: m the largest score seen, S = sum exp(s - m),
 * W = sum exp(s - m) (s - m); entropy = log S - W / S (both terms >= 0). */
struct EntSum { float m, S, W; };

__device__ __forceinline__ EntSum ent_combine(EntSum a, EntSum b) {
    if (a.S == 0.f) return b;
    if (b.S == 0.f) return a;
    float m = fmaxf(a.m, b.m), ea = expf(a.m - m), eb = expf(b.m - m);
    EntSum r;
    r.m = m;
    r.S = ea * a.S + eb * b.S;
    r.W = ea * (a.W + (a.m - m) * a.S) + eb * (b.W + (b.m - m) * b.S);
    return r;
}

#define AE_B 32            /* query rows of a block == keys of a key tile */
#define AE_WARPS 8
#define AE_RPW (AE_B / AE_WARPS)
/* Entropy of each query row's causal softmax, recomputed from qkv in fp32 (the scores are not
 * kept by the flash forward). Block per (32-query tile, b*nh + h); K tiles in shared memory; lane j
 * scores key j of the tile for the warp's 4 rows and keeps its own running sums; a warp combines
 * them at the end. out[i * ld + h] for query t < T-1 of head h. */
__global__ void __launch_bounds__(AE_WARPS * WARP) attention_entropy_kernel(float *out, int64_t ld, const float *qkv,
                                                                            int T, int nh, int hd, float scale) {
    extern __shared__ float sm[];
    float *Qs = sm;                     /* [AE_B][hd] */
    float *Ks = Qs + AE_B * hd;         /* [AE_B][hd + 1] */
    const int qt = blockIdx.x, bh = blockIdx.y, b = bh / nh, h = bh % nh;
    const int64_t d3 = 3LL * nh * hd, base = (int64_t)b * T * d3 + (int64_t)h * 3 * hd;
    const int q0 = qt * AE_B, w = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    for (int idx = threadIdx.x; idx < AE_B * hd; idx += blockDim.x) {
        int r = idx / hd, c = idx % hd, t = q0 + r;
        Qs[idx] = t < T ? qkv[base + (int64_t)t * d3 + c] : 0.f;
    }
    EntSum acc[AE_RPW];
    for (int k = 0; k < AE_RPW; k++) { acc[k].m = 0.f; acc[k].S = 0.f; acc[k].W = 0.f; }
    for (int k0 = 0; k0 <= q0 + AE_B - 1 && k0 < T; k0 += AE_B) {
        __syncthreads();
        for (int idx = threadIdx.x; idx < AE_B * hd; idx += blockDim.x) {
            int r = idx / hd, c = idx % hd, t = k0 + r;
            Ks[r * (hd + 1) + c] = t < T ? qkv[base + (int64_t)t * d3 + hd + c] : 0.f;
        }
        __syncthreads();
        int key = k0 + lane;
        for (int k = 0; k < AE_RPW; k++) {
            int r = w * AE_RPW + k, q = q0 + r;
            if (q >= T || key > q) continue;
            float s = 0.f;
            for (int c = 0; c < hd; c++) s += Qs[r * hd + c] * Ks[lane * (hd + 1) + c];
            s *= scale;
            EntSum one; one.m = s; one.S = 1.f; one.W = 0.f;
            acc[k] = ent_combine(acc[k], one);
        }
    }
    for (int k = 0; k < AE_RPW; k++) {
        EntSum a = acc[k];
        for (int o = 16; o > 0; o >>= 1) {
            EntSum other;
            other.m = __shfl_xor_sync(0xffffffffu, a.m, o);
            other.S = __shfl_xor_sync(0xffffffffu, a.S, o);
            other.W = __shfl_xor_sync(0xffffffffu, a.W, o);
            a = ent_combine(a, other);
        }
        int q = q0 + w * AE_RPW + k;
        if (lane == 0 && q < T - 1) out[((int64_t)b * (T - 1) + q) * ld + h] = logf(a.S) - a.W / a.S;
    }
}

sp_status attention_entropy(cudaStream_t st, float *out, int64_t ld, const float *qkv, int B, int T, int nh, int hd) {
    size_t smem = sizeof(float) * ((size_t)AE_B * hd + (size_t)AE_B * (hd + 1));
    if (smem > 48 * 1024) return sp_set_error(SP_ERR_INVALID, "%s: head dim %d too large for attention_entropy", sp_fn(), hd);
    dim3 grid(cdiv(T, AE_B), B * nh);
    attention_entropy_kernel<<<grid, AE_WARPS * WARP, smem, st>>>(out, ld, qkv, T, nh, hd, 1.0f / sqrtf((float)hd));
    CK_LAUNCH("attention_entropy_kernel");
    return SP_OK;
}
