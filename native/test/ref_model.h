/*
 * ref_model.h -- what the CPU backend's native tests share (test_cpu.c, test_features.c): the check
 * macros, a seeded random generator, and an independent double-precision GPT-NeoX reference written
 * with naive loops (forward, per-token losses and the activation features of sp_forward_features).
 * Each test is one translation unit, so everything here is static.
 */
#ifndef SPECTRO_TEST_REF_MODEL_H
#define SPECTRO_TEST_REF_MODEL_H

#include "../include/spectro.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_pass = 0, n_fail = 0;
#define CHECK(cond, ...) do { if (cond) n_pass++; else { n_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)
#define OK(call) do { sp_status s_ = (call); if (s_ != SP_OK) { printf("FAIL %s:%d: %s -> %d (%s)\n", __FILE__, \
    __LINE__, #call, s_, sp_last_error()); n_fail++; } else n_pass++; } while (0)

/* ---------------------------------------------------------------- random numbers */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static inline double urand(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static inline double nrand(void) { return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand()); }

/* ---------------------------------------------------------------- double reference model */
typedef struct { sp_config c; int64_t *off; int64_t P; } layout;

static inline layout make_layout(sp_config c) {
    layout l = {c, NULL, sp_param_count(&c)};
    int nt = SP_TENSORS(c.n_layers);
    l.off = calloc(nt + 1, sizeof(int64_t));
    sp_param_offsets(&c, l.off, nt);
    l.off[nt] = l.P;
    return l;
}

static inline void ref_ln(double *out, const double *x, const double *w, const double *b, int d, double eps) {
    double m = 0, v = 0;
    for (int i = 0; i < d; i++) m += x[i];
    m /= d;
    for (int i = 0; i < d; i++) v += (x[i] - m) * (x[i] - m);
    v /= d;
    double s = 1 / sqrt(v + eps);
    for (int i = 0; i < d; i++) out[i] = (x[i] - m) * s * w[i] + b[i];
}

/* y[o] = b[o] + sum_i W[o, i] x[i] */
static inline void ref_lin(double *y, const double *x, const double *W, const double *b, int in, int out) {
    for (int o = 0; o < out; o++) {
        double s = b ? b[o] : 0;
        for (int i = 0; i < in; i++) s += W[(long)o * in + i] * x[i];
        y[o] = s;
    }
}

/* The forward in double by naive loops. losses [B*(T-1)] may be NULL. feat (may be NULL): the rows of
 * sp_forward_features (spectro.h) computed the straightforward way: head norms as ||Wd_h a_h|| by a
 * direct matrix-vector product, entropies as -sum p log p. */
static inline double ref_forward_features(const layout *ly, const double *w, const int32_t *tok, int B, int T, double *losses,
                                   double *feat) {
    const sp_config *c = &ly->c;
    int d = c->d_model, f = c->d_ff, nh = c->n_heads, hd = d / nh, V = c->vocab_size, L = c->n_layers;
    int N = B * T, half = c->rotary_dims / 2;
    double *x = calloc((size_t)N * d, 8), *h = calloc((size_t)N * d, 8), *qkv = calloc((size_t)N * 3 * d, 8);
    double *att = calloc((size_t)N * d, 8), *ao = calloc(d, 8), *h2 = calloc(d, 8), *ff = calloc(f, 8), *mo = calloc(d, 8);
    double *newx = calloc((size_t)N * d, 8), *logit = calloc(V, 8), *sc = calloc(T, 8);
    const int64_t *o = ly->off;
    const long F = 1 + 2L * L + 2L * L * nh;
#define FEAT(n, k) feat[(long)((n) / T * (T - 1) + (n) % T) * F + (k)]   /* only for n % T < T - 1 */
    for (int n = 0; n < N; n++) for (int i = 0; i < d; i++) x[n * d + i] = w[o[0] + (long)tok[n] * d + i];
    for (int l = 0; l < L; l++) {
        const int64_t *t = o + 1 + 12 * l;
        for (int n = 0; n < N; n++) {
            ref_ln(h + n * d, x + n * d, w + t[0], w + t[1], d, c->ln_eps);
            ref_lin(qkv + (long)n * 3 * d, h + n * d, w + t[4], w + t[5], d, 3 * d);
            int pos = n % T;
            for (int hh = 0; hh < nh; hh++) for (int part = 0; part < 2; part++) {
                double *v = qkv + (long)n * 3 * d + hh * 3 * hd + part * hd;
                for (int i = 0; i < half; i++) {
                    float invf = 1.0f / powf(c->rotary_base, (float)(2 * i) / (float)c->rotary_dims);
                    double ang = (float)pos * invf, cs = cos(ang), sn = sin(ang);
                    double x1 = v[i], x2 = v[i + half];
                    v[i] = x1 * cs - x2 * sn;
                    v[i + half] = x2 * cs + x1 * sn;
                }
            }
        }
        for (int b = 0; b < B; b++) for (int hh = 0; hh < nh; hh++) for (int q = 0; q < T; q++) {
            const double *qq = qkv + (long)(b * T + q) * 3 * d + hh * 3 * hd;
            double mx = -1e300, sum = 0;
            for (int j = 0; j <= q; j++) {
                const double *kk = qkv + (long)(b * T + j) * 3 * d + hh * 3 * hd + hd;
                double s = 0;
                for (int i = 0; i < hd; i++) s += qq[i] * kk[i];
                sc[j] = s / sqrt((double)hd);
                if (sc[j] > mx) mx = sc[j];
            }
            for (int j = 0; j <= q; j++) { sc[j] = exp(sc[j] - mx); sum += sc[j]; }
            if (feat && q < T - 1) {
                double H = 0;
                for (int j = 0; j <= q; j++) { double p = sc[j] / sum; if (p > 0) H -= p * log(p); }
                FEAT(b * T + q, 1 + 2 * L + L * nh + l * nh + hh) = H;
            }
            double *out = att + (long)(b * T + q) * d + hh * hd;
            for (int i = 0; i < hd; i++) out[i] = 0;
            for (int j = 0; j <= q; j++) {
                const double *vv = qkv + (long)(b * T + j) * 3 * d + hh * 3 * hd + 2 * hd;
                for (int i = 0; i < hd; i++) out[i] += sc[j] / sum * vv[i];
            }
        }
        for (int n = 0; n < N; n++) {
            ref_lin(ao, att + n * d, w + t[6], w + t[7], d, d);
            ref_ln(h2, x + n * d, w + t[2], w + t[3], d, c->ln_eps);
            ref_lin(ff, h2, w + t[8], w + t[9], d, f);
            for (int i = 0; i < f; i++) ff[i] = 0.5 * ff[i] * (1 + erf(ff[i] / sqrt(2.0)));
            ref_lin(mo, ff, w + t[10], w + t[11], f, d);
            for (int i = 0; i < d; i++) newx[n * d + i] = x[n * d + i] + ao[i] + mo[i];
            if (feat && n % T < T - 1) {
                double rn = 0, mn = 0;
                for (int i = 0; i < d; i++) { rn += newx[n * d + i] * newx[n * d + i]; mn += mo[i] * mo[i]; }
                FEAT(n, 1 + l) = sqrt(rn);
                FEAT(n, 1 + L + L * nh + l) = sqrt(mn);
                for (int hh = 0; hh < nh; hh++) {   /* head hh through its columns of attention.dense.weight */
                    double hn = 0;
                    for (int oo = 0; oo < d; oo++) {
                        double y = 0;
                        for (int i = 0; i < hd; i++) y += w[t[6] + (long)oo * d + hh * hd + i] * att[(long)n * d + hh * hd + i];
                        hn += y * y;
                    }
                    FEAT(n, 1 + L + l * nh + hh) = sqrt(hn);
                }
            }
        }
        memcpy(x, newx, sizeof(double) * N * d);
    }
    double total = 0;
    for (int b = 0; b < B; b++) for (int q = 0; q < T - 1; q++) {
        int n = b * T + q;
        ref_ln(h, x + n * d, w + o[1 + 12 * L], w + o[2 + 12 * L], d, c->ln_eps);
        ref_lin(logit, h, w + o[3 + 12 * L], NULL, d, V);
        double mx = -1e300, sum = 0;
        for (int v = 0; v < V; v++) if (logit[v] > mx) mx = logit[v];
        for (int v = 0; v < V; v++) sum += exp(logit[v] - mx);
        double loss = mx + log(sum) - logit[tok[n + 1]];
        if (feat) {
            double H = 0;
            for (int v = 0; v < V; v++) { double p = exp(logit[v] - mx) / sum; if (p > 0) H -= p * log(p); }
            FEAT(n, 0) = H;
        }
        if (losses) losses[b * (T - 1) + q] = loss;
        total += loss;
    }
    free(x); free(h); free(qkv); free(att); free(ao); free(h2); free(ff); free(mo); free(newx); free(logit); free(sc);
    return total / (B * (T - 1));
#undef FEAT
}

static inline double ref_forward(const layout *ly, const double *w, const int32_t *tok, int B, int T, double *losses) {
    return ref_forward_features(ly, w, tok, B, T, losses, NULL);
}

/* ---------------------------------------------------------------- helpers */
static inline float *random_params(const layout *ly, double scale) {
    float *p = malloc(sizeof(float) * ly->P);
    int L = ly->c.n_layers;
    for (int t = 0; t < SP_TENSORS(L); t++) {
        int slot = t == 0 ? -1 : (t - 1) % 12;
        int is_ln_w = (t >= 1 && t <= 12 * L && (slot == 0 || slot == 2)) || t == 1 + 12 * L;
        for (int64_t i = ly->off[t]; i < ly->off[t + 1]; i++)
            p[i] = (float)(is_ln_w ? 1.0 + 0.2 * nrand() : scale * nrand());
    }
    return p;
}

static inline sp_model *new_model(sp_config c, int threads, int max_batch, const float *params, int64_t P) {
    sp_options o = {threads, 0, SP_PRECISION_FP32, max_batch};
    sp_model *m = NULL;
    OK(sp_model_create(&c, &o, &m));
    if (m && params) OK(sp_model_load(m, params, P));
    return m;
}

static inline int32_t *random_tokens(int n, int V) {
    int32_t *t = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) t[i] = (int32_t)(urand() * V) % V;
    return t;
}

static inline float *grads(sp_model *m, int64_t P) {
    float *g = malloc(sizeof(float) * P);
    OK(sp_grads_read(m, 0, P, g));
    return g;
}

static const sp_config TINY = {64, 16, 2, 2, 32, 4, 16, 10000.0f, 1e-5f};
static const sp_config ODD = {37, 12, 1, 3, 20, 2, 8, 100.0f, 1e-5f};
static const sp_config MID = {1000, 64, 2, 4, 256, 8, 128, 10000.0f, 1e-5f};


#endif
