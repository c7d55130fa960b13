/*
 * ops.c -- the layer operations of the CPU backend (see ops.h for shapes and semantics).
 * Parallelisation: sp_parallel_for (pool.h) over independent outputs (tokens, heads, channel
 * blocks, GEMM tiles); every reduction runs in a fixed order inside one item => bit-identical for
 * any thread count. Each loop body is a *_range function over items [i0, i1) with its arguments in
 * a small struct; the work estimate passed along decides whether the loop runs on one thread.
 */
#include "ops.h"
#include "gemm.h"
#include "pool.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- vector helpers */

static inline float hsum8(__m256 v) { /* fixed-order horizontal sum */
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);                  /* (0+4, 1+5, 2+6, 3+7) */
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));         /* (0+2, 1+3) */
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

static inline float vdot(const float *a, const float *b, int n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float s = hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline float vsum(const float *a, int n) {
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(a + i));
    float s = hsum8(acc);
    for (; i < n; i++) s += a[i];
    return s;
}

/* y += alpha * x */
static inline void vaxpy(float *y, float alpha, const float *x, int n) {
    __m256 va = _mm256_set1_ps(alpha);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += alpha * x[i];
}

/* exp for 8 floats (Cephes expf polynomial, ~1-2 ulp; inputs clamped to [-87.3, 88.7]) */
static inline __m256 exp256(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365478515625f);
    x = _mm256_min_ps(hi, _mm256_max_ps(lo, x)); /* operand order keeps NaN */
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    __m256 x2 = _mm256_mul_ps(x, x);
    y = _mm256_fmadd_ps(y, x2, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static inline float exp1(float x) { /* the same function for a single float (tails) */
    float in[8] = {x, x, x, x, x, x, x, x}, out[8];
    _mm256_storeu_ps(out, exp256(_mm256_loadu_ps(in)));
    return out[0];
}

float vmax(const float *x, int n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    float r[8];
    _mm256_storeu_ps(r, m);
    float best = r[0];
    for (int k = 1; k < 8; k++) best = r[k] > best ? r[k] : best;
    for (; i < n; i++) best = x[i] > best ? x[i] : best;
    return best;
}

/* sum_i exp(row[i] - shift), accumulated in double (8 float lanes widened per step);
 * when store, row[i] <- exp(row[i] - shift). When wsum is not NULL, also
 * *wsum = sum_i exp(row[i] - shift) * (row[i] - shift) (double products, separate accumulators: the
 * first sum is the same bits either way). Entropy of softmax(row) with shift = max(row):
 * log(sum) - wsum / sum, both terms >= 0 (no cancellation). */
static inline double exp_sums(float *row, int n, float shift, int store, double *wsum) {
    __m256 vs = _mm256_set1_ps(shift);
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    __m256d w0 = _mm256_setzero_pd(), w1 = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 dx = _mm256_sub_ps(_mm256_loadu_ps(row + i), vs);
        __m256 e = exp256(dx);
        if (store) _mm256_storeu_ps(row + i, e);
        __m256d elo = _mm256_cvtps_pd(_mm256_castps256_ps128(e)), ehi = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
        acc0 = _mm256_add_pd(acc0, elo);
        acc1 = _mm256_add_pd(acc1, ehi);
        if (wsum) {
            w0 = _mm256_fmadd_pd(elo, _mm256_cvtps_pd(_mm256_castps256_ps128(dx)), w0);
            w1 = _mm256_fmadd_pd(ehi, _mm256_cvtps_pd(_mm256_extractf128_ps(dx, 1)), w1);
        }
    }
    double a[4], b[4];
    _mm256_storeu_pd(a, acc0);
    _mm256_storeu_pd(b, acc1);
    double s = ((a[0] + b[0]) + (a[1] + b[1])) + ((a[2] + b[2]) + (a[3] + b[3]));
    double ws = 0.0;
    if (wsum) {
        _mm256_storeu_pd(a, w0);
        _mm256_storeu_pd(b, w1);
        ws = ((a[0] + b[0]) + (a[1] + b[1])) + ((a[2] + b[2]) + (a[3] + b[3]));
    }
    for (; i < n; i++) {
        float dx = row[i] - shift;
        float e = exp1(dx);
        if (store) row[i] = e;
        s += e;
        if (wsum) ws += (double)e * (double)dx;
    }
    if (wsum) *wsum = ws;
    return s;
}

double sum_exp_shifted(float *row, int n, float shift, int store) { return exp_sums(row, n, shift, store, NULL); }

/* entropy (nats) of softmax over n values from exp_sums' two sums */
static inline float entropy_of(double sum, double wsum) { return (float)(log(sum) - wsum / sum); }

/* ---------------------------------------------------------------- encoder */

typedef struct { float *x; const int32_t *tokens; const float *wte; int d; } encoder_args;

static void encoder_forward_range(void *ctx, long i0, long i1, int tid) {
    const encoder_args *a = ctx;
    for (long n = i0; n < i1; n++)
        memcpy(a->x + n * a->d, a->wte + (long)a->tokens[n] * a->d, sizeof(float) * a->d);
}

void encoder_forward(float *x, const int32_t *tokens, const float *wte, int N, int d) {
    encoder_args a = {x, tokens, wte, d};
    sp_parallel_for(N, 1, (long)N * d, encoder_forward_range, &a);
}

typedef struct { float *dwte; const float *dx; const int32_t *tokens; int N, d; } encoder_bwd_args;

static void encoder_backward_range(void *ctx, long i0, long i1, int tid) {
    const encoder_bwd_args *a = ctx;
    int d = a->d;
    for (long cb = i0; cb < i1; cb++) {
        int c0 = (int)cb * 16, c1 = c0 + 16 < d ? c0 + 16 : d;
        for (int n = 0; n < a->N; n++) {
            float *dst = a->dwte + (long)a->tokens[n] * d;
            const float *src = a->dx + (long)n * d;
            for (int c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}

void encoder_backward(float *dwte, const float *dx, const int32_t *tokens, int N, int d, int V) {
    memset(dwte, 0, sizeof(float) * (size_t)V * d);
    /* parallel over column blocks: each thread owns columns, tokens scanned in order */
    encoder_bwd_args a = {dwte, dx, tokens, N, d};
    sp_parallel_for((d + 15) / 16, 1, (long)N * d, encoder_backward_range, &a);
}

/* ---------------------------------------------------------------- layernorm */

typedef struct { float *out, *mean, *rstd; const float *x, *w, *b; int d; float eps; } ln_fwd_args;

static void layernorm_forward_range(void *ctx, long i0, long i1, int tid) {
    const ln_fwd_args *a = ctx;
    float *out = a->out, *mean = a->mean, *rstd = a->rstd;
    const float *x = a->x, *w = a->w, *b = a->b;
    int d = a->d;
    float eps = a->eps;
    for (long n = i0; n < i1; n++) {
        const float *xn = x + (long)n * d;
        float *on = out + (long)n * d;
        float m = vsum(xn, d) / d;
        float v = 0.0f;
        {
            __m256 vm = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
            int i = 0;
            for (; i + 8 <= d; i += 8) {
                __m256 t = _mm256_sub_ps(_mm256_loadu_ps(xn + i), vm);
                acc = _mm256_fmadd_ps(t, t, acc);
            }
            v = hsum8(acc);
            for (; i < d; i++) v += (xn[i] - m) * (xn[i] - m);
        }
        float s = 1.0f / sqrtf(v / d + eps);
        for (int i = 0; i < d; i++) on[i] = (xn[i] - m) * s * w[i] + b[i];
        mean[n] = m;
        rstd[n] = s;
    }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int N, int d, float eps) {
    ln_fwd_args a = {out, mean, rstd, x, w, b, d, eps};
    sp_parallel_for(N, 1, 6L * N * d, layernorm_forward_range, &a);
}

typedef struct {
    float *dx, *dw, *db;
    const float *dout, *x, *w, *mean, *rstd;
    int N, d;
} ln_bwd_args;

static void layernorm_backward_dx_range(void *ctx, long i0, long i1, int tid) {
    const ln_bwd_args *a = ctx;
    float *dx = a->dx;
    const float *dout = a->dout, *x = a->x, *w = a->w, *mean = a->mean, *rstd = a->rstd;
    int d = a->d;
        for (long n = i0; n < i1; n++) {
            const float *g = dout + (long)n * d, *xn = x + (long)n * d;
            float *dxn = dx + (long)n * d;
            float m = mean[n], s = rstd[n];
            /* xhat = (x - m) s; dxhat = g w; dx = s (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) */
            float sum1 = 0.0f, sum2 = 0.0f;
            for (int i = 0; i < d; i++) {
                float dxh = g[i] * w[i];
                sum1 += dxh;
                sum2 += dxh * (xn[i] - m) * s;
            }
            sum1 /= d;
            sum2 /= d;
            for (int i = 0; i < d; i++) {
                float xh = (xn[i] - m) * s;
                dxn[i] += s * (g[i] * w[i] - sum1 - xh * sum2);
            }
        }
}

static void layernorm_backward_dw_range(void *ctx, long i0, long i1, int tid) {
    const ln_bwd_args *a = ctx;
    float *dw = a->dw, *db = a->db;
    const float *dout = a->dout, *x = a->x, *mean = a->mean, *rstd = a->rstd;
    int N = a->N, d = a->d;
        for (long cb = i0; cb < i1; cb++) {
            int c0 = (int)cb * 8, c1 = c0 + 8 < d ? c0 + 8 : d;
            float aw[8] = {0}, ab[8] = {0};
            for (int n = 0; n < N; n++) {
                const float *g = dout + (long)n * d, *xn = x + (long)n * d;
                float m = mean[n], s = rstd[n];
                for (int c = c0; c < c1; c++) {
                    aw[c - c0] += g[c] * ((xn[c] - m) * s);
                    ab[c - c0] += g[c];
                }
            }
            for (int c = c0; c < c1; c++) {
                if (dw) dw[c] = aw[c - c0];
                if (db) db[c] = ab[c - c0];
            }
        }
}

void layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, const float *mean, const float *rstd, int N, int d) {
    ln_bwd_args a = {dx, dw, db, dout, x, w, mean, rstd, N, d};
    if (dx) sp_parallel_for(N, 1, 8L * N * d, layernorm_backward_dx_range, &a);
    if (dw || db) sp_parallel_for((d + 7) / 8, 1, 4L * N * d, layernorm_backward_dw_range, &a);
}

/* ---------------------------------------------------------------- matmul */

void matmul_forward(float *out, const float *x, const float *w, const float *b, int N, int C,
                    int OC, float *scratch) {
    /* out[n, o] = b[o] + sum_c x[n, c] W[o, c]: A = x, B(k=c, n=o) = W[o*C + c] */
    gemm(N, OC, C, x, C, 1, w, 1, C, out, OC, 0, b, scratch);
}

typedef struct { float *db; const float *dout; int N, OC; } bias_grad_args;

static void bias_grad_range(void *ctx, long i0, long i1, int tid) {
    const bias_grad_args *a = ctx;
    int OC = a->OC;
    for (long ob = i0; ob < i1; ob++) {
        int o0 = (int)ob * 16, o1 = o0 + 16 < OC ? o0 + 16 : OC;
        float acc[16] = {0};
        for (int n = 0; n < a->N; n++) {
            const float *g = a->dout + (long)n * OC;
            for (int o = o0; o < o1; o++) acc[o - o0] += g[o];
        }
        for (int o = o0; o < o1; o++) a->db[o] = acc[o - o0];
    }
}

void matmul_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                     const float *w, int N, int C, int OC, float *scratch) {
    if (dx) /* dx[n, c] = sum_o dout[n, o] W[o, c] */
        gemm(N, C, OC, dout, OC, 1, w, C, 1, dx, C, 0, NULL, scratch);
    if (dw) /* dW[o, c] = sum_n dout[n, o] x[n, c]: A(m=o, k=n) = dout[n*OC + o] */
        gemm(OC, C, N, dout, 1, OC, x, C, 1, dw, C, 0, NULL, scratch);
    if (db) {
        bias_grad_args a = {db, dout, N, OC};
        sp_parallel_for((OC + 15) / 16, 1, (long)N * OC, bias_grad_range, &a);
    }
}

/* ---------------------------------------------------------------- rotary */

typedef struct { float *qkv; const float *cosb, *sinb; int T, nh, hd, rd; float sign; } rotary_args;

static void rotary_range(void *ctx, long i0, long i1, int tid) {
    const rotary_args *a = ctx;
    float *qkv = a->qkv;
    const float *cosb = a->cosb, *sinb = a->sinb;
    int T = a->T, nh = a->nh, hd = a->hd, half = a->rd / 2, d = nh * hd;
    float sign = a->sign;
    for (long n = i0; n < i1; n++) {
        int t = (int)(n % T);
        const float *c = cosb + (long)t * half, *s = sinb + (long)t * half;
        for (int h = 0; h < nh; h++) {
            for (int part = 0; part < 2; part++) { /* q then k */
                float *v = qkv + n * 3 * d + (long)h * 3 * hd + (long)part * hd;
                for (int i = 0; i < half; i++) {
                    float x1 = v[i], x2 = v[i + half], si = sign * s[i];
                    v[i] = x1 * c[i] - x2 * si;
                    v[i + half] = x2 * c[i] + x1 * si;
                }
            }
        }
    }
}

static void rotary_apply(float *qkv, const float *cosb, const float *sinb, int B, int T, int nh,
                         int hd, int rd, float sign) {
    if (rd / 2 == 0) return;
    rotary_args a = {qkv, cosb, sinb, T, nh, hd, rd, sign};
    sp_parallel_for((long)B * T, 1, 12L * B * T * nh * (rd / 2), rotary_range, &a);
}

void rotary_forward(float *qkv, const float *cosb, const float *sinb, int B, int T, int nh, int hd,
                    int rd) {
    rotary_apply(qkv, cosb, sinb, B, T, nh, hd, rd, 1.0f);
}

void rotary_backward(float *dqkv, const float *cosb, const float *sinb, int B, int T, int nh,
                     int hd, int rd) {
    /* the rotation is orthogonal: its transpose is the rotation by -angle */
    rotary_apply(dqkv, cosb, sinb, B, T, nh, hd, rd, -1.0f);
}

/* ---------------------------------------------------------------- attention */

/* Xt[i * ldt + j] = X_j[i] for j < T, i < hd (rows X_j = base + j * stride): the keys (or values)
 * of one (b, head) transposed, so that 8 scores at a time are one FMA chain over i. */
static void transpose_head(float *Xt, int ldt, const float *base, long stride, int T, int hd) {
    for (int j = 0; j < T; j++) {
        const float *x = base + j * stride;
        for (int i = 0; i < hd; i++) Xt[(long)i * ldt + j] = x[i];
    }
}

/* s[j] = scale * sum_i q[i] Xt[i][j] for j <= t (written up to the next multiple of 8) */
static inline void scores_row(float *s, const float *q, const float *Xt, int ldt, int t, int hd, float scale) {
    __m256 vs = _mm256_set1_ps(scale);
    for (int j0 = 0; j0 <= t; j0 += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < hd; i++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(q[i]), _mm256_loadu_ps(Xt + (long)i * ldt + j0), acc);
        _mm256_storeu_ps(s + j0, _mm256_mul_ps(acc, vs));
    }
}

/* o[0..hd) = sum_{i<n} w[i * ws] X_i, rows X_i = base + i * stride; i ascending, 8 lanes at a time */
static inline void weighted_rows(float *o, const float *w, long ws, const float *base, long stride, int n, int hd) {
    int c = 0;
    for (; c + 32 <= hd; c += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n; i++) {
            __m256 wi = _mm256_broadcast_ss(w + i * ws);
            const float *x = base + i * stride + c;
            a0 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(x), a0);
            a1 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(x + 8), a1);
            a2 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(x + 16), a2);
            a3 = _mm256_fmadd_ps(wi, _mm256_loadu_ps(x + 24), a3);
        }
        _mm256_storeu_ps(o + c, a0); _mm256_storeu_ps(o + c + 8, a1);
        _mm256_storeu_ps(o + c + 16, a2); _mm256_storeu_ps(o + c + 24, a3);
    }
    for (; c + 8 <= hd; c += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int i = 0; i < n; i++) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + i * ws), _mm256_loadu_ps(base + i * stride + c), a0);
        _mm256_storeu_ps(o + c, a0);
    }
    for (; c < hd; c++) {
        float a0 = 0.0f;
        for (int i = 0; i < n; i++) a0 += w[i * ws] * base[i * stride + c];
        o[c] = a0;
    }
}

/* per-thread attention scratch (floats): K^T, V^T [hd, ldt] and P, dS [T, ldt], ldt = T rounded up + 8 */
long attention_scratch_floats(int T, int hd) {
    long ldt = (T + 7) / 8 * 8 + 8;
    return (2L * hd + 2L * T) * ldt + 64;
}

typedef struct {
    float *out, *lse, *ent; /* forward (ent may be NULL) */
    float *dqkv;            /* backward */
    const float *dout, *lse_in;
    const float *qkv;
    int T, nh, hd;
    float *scratch;
    long scratch_stride;
} attention_args;

static void attention_forward_range(void *ctx, long i0, long i1, int tid) {
    const attention_args *a = ctx;
    float *out = a->out, *lse = a->lse;
    const float *qkv = a->qkv;
    int T = a->T, nh = a->nh, hd = a->hd, d = nh * hd;
    long C3 = 3L * d;
    int ldt = (T + 7) / 8 * 8 + 8;
    float scale = 1.0f / sqrtf((float)hd);
    for (long bh = i0; bh < i1; bh++) {
        int b = (int)(bh / nh), h = (int)(bh % nh);
        float *Kt = a->scratch + (long)tid * a->scratch_stride;          /* [hd, ldt] keys^T */
        float *s = Kt + (long)hd * ldt;                                  /* [ldt] scores */
        const float *base = qkv + (long)b * T * C3 + (long)h * 3 * hd;
        transpose_head(Kt, ldt, base + hd, C3, T, hd);
        for (int t = 0; t < T; t++) {
            scores_row(s, base + t * C3, Kt, ldt, t, hd, scale);
            float mx = vmax(s, t + 1);
            double ws = 0.0;
            double sum = a->ent ? exp_sums(s, t + 1, mx, 1, &ws) : sum_exp_shifted(s, t + 1, mx, 1);
            if (a->ent) a->ent[bh * T + t] = entropy_of(sum, ws);
            float inv = (float)(1.0 / sum);
            for (int j = 0; j <= t; j++) s[j] *= inv;
            weighted_rows(out + ((long)b * T + t) * d + (long)h * hd, s, 1, base + 2 * hd, C3, t + 1, hd);
            lse[bh * T + t] = mx + (float)log(sum);
        }
    }
}

/* work of one attention pass: q.k and p.v over the causal half */
static long attention_work(int B, int T, int nh, int hd) { return 2L * B * nh * T * (T + 1) / 2 * hd + 1; }

void attention_forward(float *out, float *lse, float *ent, const float *qkv, int B, int T, int nh, int hd,
                       float *scratch, long scratch_stride) {
    attention_args a = {out, lse, ent, NULL, NULL, NULL, qkv, T, nh, hd, scratch, scratch_stride};
    sp_parallel_for((long)B * nh, 1, attention_work(B, T, nh, hd), attention_forward_range, &a);
}

static void attention_backward_range(void *ctx, long i0, long i1, int tid) {
    const attention_args *a = ctx;
    float *dqkv = a->dqkv;
    const float *dout = a->dout, *qkv = a->qkv, *lse = a->lse_in;
    int T = a->T, nh = a->nh, hd = a->hd, d = nh * hd;
    long C3 = 3L * d;
    int ldt = (T + 7) / 8 * 8 + 8;
    float scale = 1.0f / sqrtf((float)hd);
    for (long bh = i0; bh < i1; bh++) {
        int b = (int)(bh / nh), h = (int)(bh % nh);
        float *Kt = a->scratch + (long)tid * a->scratch_stride;          /* [hd, ldt] */
        float *Vt = Kt + (long)hd * ldt;                                 /* [hd, ldt] */
        float *P = Vt + (long)hd * ldt;                                  /* [T, ldt] probabilities */
        float *dS = P + (long)T * ldt;                                   /* [T, ldt] score grads */
        const float *base = qkv + (long)b * T * C3 + (long)h * 3 * hd;
        const float *gbase = dout + (long)b * T * d + (long)h * hd;      /* rows stride d */
        float *dbase = dqkv + (long)b * T * C3 + (long)h * 3 * hd;
        transpose_head(Kt, ldt, base + hd, C3, T, hd);
        transpose_head(Vt, ldt, base + 2 * hd, C3, T, hd);
        for (int t = 0; t < T; t++) {
            float *p = P + (long)t * ldt, *ds = dS + (long)t * ldt;
            scores_row(p, base + t * C3, Kt, ldt, t, hd, scale);
            sum_exp_shifted(p, t + 1, lse[bh * T + t], 1);            /* p_j = exp(s_j - lse) */
            scores_row(ds, gbase + (long)t * d, Vt, ldt, t, hd, 1.0f); /* dp_j = dout_t . v_j */
            float D = 0.0f;
            for (int j = 0; j <= t; j++) D += p[j] * ds[j];
            for (int j = 0; j <= t; j++) ds[j] = p[j] * (ds[j] - D) * scale;
            weighted_rows(dbase + t * C3, ds, 1, base + hd, C3, t + 1, hd); /* dq_t = sum_j ds_tj k_j */
        }
        for (int j = 0; j < T; j++) {
            /* dk_j = sum_{t>=j} ds_tj q_t ; dv_j = sum_{t>=j} p_tj dout_t  (columns of dS, P) */
            weighted_rows(dbase + j * C3 + hd, dS + (long)j * ldt + j, ldt, base + j * C3, C3, T - j, hd);
            weighted_rows(dbase + j * C3 + 2 * hd, P + (long)j * ldt + j, ldt, gbase + (long)j * d, d, T - j, hd);
        }
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *lse, int B,
                        int T, int nh, int hd, float *scratch, long scratch_stride) {
    attention_args a = {NULL, NULL, NULL, dqkv, dout, lse, qkv, T, nh, hd, scratch, scratch_stride};
    sp_parallel_for((long)B * nh, 1, 2 * attention_work(B, T, nh, hd), attention_backward_range, &a);
}

/* ---------------------------------------------------------------- gelu, residual */

#define GELU_INV_SQRT2 0.70710678118654752440f
#define GELU_INV_SQRT2PI 0.39894228040143267794f

/* erf for 8 floats: Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, the size of float rounding
 * near 1), odd extension for x < 0. */
static inline __m256 erf256(__m256 x) {
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    __m256 sgn = _mm256_and_ps(x, sign_mask), ax = _mm256_andnot_ps(sign_mask, x);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), ax, _mm256_set1_ps(1.0f)));
    __m256 y = _mm256_set1_ps(1.061405429f);
    y = _mm256_fmadd_ps(y, t, _mm256_set1_ps(-1.453152027f));
    y = _mm256_fmadd_ps(y, t, _mm256_set1_ps(1.421413741f));
    y = _mm256_fmadd_ps(y, t, _mm256_set1_ps(-0.284496736f));
    y = _mm256_fmadd_ps(y, t, _mm256_set1_ps(0.254829592f));
    y = _mm256_mul_ps(y, t);
    __m256 e = exp256(_mm256_mul_ps(_mm256_mul_ps(ax, ax), _mm256_set1_ps(-1.0f)));
    __m256 r = _mm256_fnmadd_ps(y, e, _mm256_set1_ps(1.0f)); /* 1 - y e */
    return _mm256_or_ps(r, sgn);
}

static inline void gelu8(const float *x, float *out) {
    __m256 v = _mm256_loadu_ps(x), h = _mm256_set1_ps(0.5f);
    __m256 cdf = _mm256_mul_ps(h, _mm256_add_ps(_mm256_set1_ps(1.0f), erf256(_mm256_mul_ps(v, _mm256_set1_ps(GELU_INV_SQRT2)))));
    _mm256_storeu_ps(out, _mm256_mul_ps(v, cdf));
}

static inline void gelu_grad8(const float *x, const float *dout, float *din) {
    __m256 v = _mm256_loadu_ps(x), h = _mm256_set1_ps(0.5f);
    __m256 cdf = _mm256_mul_ps(h, _mm256_add_ps(_mm256_set1_ps(1.0f), erf256(_mm256_mul_ps(v, _mm256_set1_ps(GELU_INV_SQRT2)))));
    __m256 pdf = _mm256_mul_ps(_mm256_set1_ps(GELU_INV_SQRT2PI), exp256(_mm256_mul_ps(_mm256_mul_ps(v, v), _mm256_set1_ps(-0.5f))));
    _mm256_storeu_ps(din, _mm256_mul_ps(_mm256_loadu_ps(dout), _mm256_fmadd_ps(v, pdf, cdf)));
}

typedef struct { float *out; const float *x, *dout; } eltwise_args;

static void gelu_forward_range(void *ctx, long i0, long i1, int tid) {
    const eltwise_args *a = ctx;
    for (long i = i0; i < i1; i++) gelu8(a->x + 8 * i, a->out + 8 * i);
}

static void gelu_backward_range(void *ctx, long i0, long i1, int tid) {
    const eltwise_args *a = ctx;
    for (long i = i0; i < i1; i++) gelu_grad8(a->x + 8 * i, a->dout + 8 * i, a->out + 8 * i);
}

/* about 30 flops per GELU (erf, exp), 45 for its derivative */
void gelu_forward(float *out, const float *x, long n) {
    long n8 = n / 8;
    eltwise_args a = {out, x, NULL};
    sp_parallel_for(n8, 64, 30 * n, gelu_forward_range, &a);
    for (long i = 8 * n8; i < n; i++) { /* tail through the same vector code */
        float xi[8] = {0}, o[8];
        xi[0] = x[i];
        gelu8(xi, o);
        out[i] = o[0];
    }
}

void gelu_backward(float *din, const float *x, const float *dout, long n) {
    long n8 = n / 8;
    eltwise_args a = {din, x, dout};
    sp_parallel_for(n8, 64, 45 * n, gelu_backward_range, &a);
    for (long i = 8 * n8; i < n; i++) {
        float xi[8] = {0}, g[8] = {0}, o[8];
        xi[0] = x[i];
        g[0] = dout[i];
        gelu_grad8(xi, g, o);
        din[i] = o[0];
    }
}

typedef struct { float *out; const float *x, *a, *m; } residual_args;

static void residual_range(void *ctx, long i0, long i1, int tid) {
    const residual_args *r = ctx;
    for (long i = i0; i < i1; i++) r->out[i] = (r->x[i] + r->a[i]) + r->m[i];
}

void residual_forward(float *out, const float *x, const float *a, const float *m, long n) {
    residual_args r = {out, x, a, m};
    sp_parallel_for(n, 512, 4 * n, residual_range, &r);
}

/* ---------------------------------------------------------------- fused classifier */

typedef struct {
    float *losses, *ent, *logits;
    const int32_t *tokens;
    long i0;
    int Tm, T, V, backward;
    float invN;
} softmax_args;

/* rows c of the chunk: the loss, and (backward) the row replaced by (softmax - onehot) / Nl */
static void softmax_loss_range(void *ctx, long c0, long c1, int tid) {
    const softmax_args *a = ctx;
    int Tm = a->Tm, T = a->T, V = a->V;
    for (long c = c0; c < c1; c++) {
        long i = a->i0 + c, n = (i / Tm) * T + i % Tm;
        int target = a->tokens[n + 1];
        float *row = a->logits + c * V;
        float mx = vmax(row, V);
        float tl = row[target];
        double ws = 0.0;
        double sum = a->ent ? exp_sums(row, V, mx, a->backward, &ws) : sum_exp_shifted(row, V, mx, a->backward);
        a->losses[i] = (float)((double)mx + log(sum) - (double)tl);
        if (a->ent) a->ent[i] = entropy_of(sum, ws);
        if (a->backward) { /* row <- (softmax - onehot) / Nl */
            float sc = (float)(1.0 / sum) * a->invN;
            __m256 vsc = _mm256_set1_ps(sc);
            int v = 0;
            for (; v + 8 <= V; v += 8) _mm256_storeu_ps(row + v, _mm256_mul_ps(_mm256_loadu_ps(row + v), vsc));
            for (; v < V; v++) row[v] *= sc;
            row[target] -= a->invN;
        }
    }
}

void fused_classifier(float *losses, float *ent, float *dx, float *dwout, const float *x, const float *wout,
                      const float *wout_pk_fwd, const float *wout_pk_dx, const int32_t *tokens, int B, int T, int d, int V, float *logits, float *xc,
                      float *dxc, float *scratch) {
    int Tm = T - 1;
    long Nl = (long)B * Tm;                  /* predicting positions */
    float invN = (float)(1.0 / (double)Nl);
    int backward = dx != NULL || dwout != NULL;
    if (dx) memset(dx, 0, sizeof(float) * (size_t)B * T * d);
    for (long i0 = 0; i0 < Nl; i0 += CLS_CHUNK) {
        int nc = Nl - i0 < CLS_CHUNK ? (int)(Nl - i0) : CLS_CHUNK;
        /* gather the chunk's rows: loss index i -> row n = (i / Tm) * T + i % Tm */
        for (int c = 0; c < nc; c++) {
            long i = i0 + c, n = (i / Tm) * T + i % Tm;
            memcpy(xc + (long)c * d, x + n * d, sizeof(float) * d);
        }
        /* logits[c, v] = xc[c] . Wout[v]        [nc, V] */
        if (wout_pk_fwd) gemm_pb(nc, V, d, xc, d, 1, wout_pk_fwd, logits, V, 0, NULL, scratch);
        else gemm(nc, V, d, xc, d, 1, wout, 1, d, logits, V, 0, NULL, scratch);
        softmax_args sa = {losses, ent, logits, tokens, i0, Tm, T, V, backward, invN};
        sp_parallel_for(nc, 1, 12L * nc * V, softmax_loss_range, &sa);
        if (dwout) /* dWout[v, k] (+)= sum_c dlogits[c, v] xc[c, k]: A(m=v, k=c) = logits[c*V + v] */
            gemm(V, d, nc, logits, 1, V, xc, d, 1, dwout, d, i0 > 0, NULL, scratch);
        if (dx) { /* dxc[c, k] = sum_v dlogits[c, v] Wout[v, k] */
            if (wout_pk_dx) gemm_pb(nc, d, V, logits, V, 1, wout_pk_dx, dxc, d, 0, NULL, scratch);
            else gemm(nc, d, V, logits, V, 1, wout, d, 1, dxc, d, 0, NULL, scratch);
            for (int c = 0; c < nc; c++) {
                long i = i0 + c, n = (i / Tm) * T + i % Tm;
                memcpy(dx + n * d, dxc + (long)c * d, sizeof(float) * d);
            }
        }
    }
}

/* ---------------------------------------------------------------- activation features */

typedef struct { float *out; long ld; const float *x, *G; int T, d, nh, hd; } feature_args;

static inline long feature_row(long i, int T) { return (i / (T - 1)) * T + i % (T - 1); }

static void row_norms_range(void *ctx, long i0, long i1, int tid) {
    const feature_args *a = ctx;
    for (long i = i0; i < i1; i++) {
        const float *x = a->x + feature_row(i, a->T) * a->d;
        a->out[i * a->ld] = sqrtf(vdot(x, x, a->d));
    }
}

void feature_row_norms(float *out, long ld, const float *x, int B, int T, int d) {
    long n = (long)B * (T - 1);
    feature_args a = {out, ld, x, NULL, T, d, 0, 0};
    sp_parallel_for(n, 16, 2 * n * d, row_norms_range, &a);
}

void head_gram(float *G, const float *wd, int d, int nh, float *scratch) {
    int hd = d / nh;
    for (int h = 0; h < nh; h++) /* A(i, o) = Wd[o, h*hd + i], B(o, j) = Wd[o, h*hd + j] */
        gemm(hd, hd, d, wd + (long)h * hd, 1, d, wd + (long)h * hd, d, 1, G + (long)h * hd * hd, hd, 0, NULL, scratch);
}

static void head_norms_range(void *ctx, long i0, long i1, int tid) {
    const feature_args *a = ctx;
    int nh = a->nh, hd = a->hd, d = nh * hd;
    for (long i = i0; i < i1; i++) {
        const float *row = a->x + feature_row(i, a->T) * d;
        for (int h = 0; h < nh; h++) {
            const float *v = row + (long)h * hd, *G = a->G + (long)h * hd * hd;
            double q = 0.0;   /* a^T G a: (G a)_r in fp32 vector dots, the outer sum in double */
            for (int r = 0; r < hd; r++) q += (double)v[r] * (double)vdot(G + (long)r * hd, v, hd);
            a->out[i * a->ld + h] = (float)sqrt(q > 0.0 ? q : 0.0);
        }
    }
}

void head_norms(float *out, long ld, const float *atty, const float *G, int B, int T, int nh, int hd) {
    long n = (long)B * (T - 1);
    feature_args a = {out, ld, atty, G, T, nh * hd, nh, hd};
    sp_parallel_for(n, 4, 2 * n * nh * hd * hd, head_norms_range, &a);
}

void head_scatter(float *out, long ld, const float *ent, int B, int T, int nh) {
    long n = (long)B * (T - 1);
    for (long i = 0; i < n; i++) {
        long b = i / (T - 1), t = i % (T - 1);
        for (int h = 0; h < nh; h++) out[i * ld + h] = ent[(b * nh + h) * T + t];
    }
}
