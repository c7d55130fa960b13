/*
 * model.c -- the model ABI of the CPU backend: layout, model and batch handles, forward,
 * forward+backward (restriction aware) and the per-batch residual cache.
 */
#include "internal.h"
#include "convert.h"
#include "gemm.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- model */

void sp_use_threads(const sp_model *m) { sp_pool_use(m->pool); }

static void free_acts(sp_acts *a) {
    float **p = (float **)a;
    for (size_t i = 0; i < sizeof(sp_acts) / sizeof(float *); i++) { sp_free(p[i]); p[i] = NULL; }
}

sp_status sp_model_destroy(sp_model *m) {
    sp_enter(__func__);
    if (!m) return SP_OK;
    sp_pool_destroy(m->pool);
    free_acts(&m->a);
    sp_free(m->off); sp_free(m->w); sp_free(m->wstar); sp_free(m->g);
    sp_free(m->wout_pk_fwd); sp_free(m->wout_pk_dx);
    sp_free(m->rope_cos); sp_free(m->rope_sin); sp_free(m->gemm_ws); sp_free(m->att_ws);
    sp_free(m);
    return SP_OK;
}

sp_status sp_model_create(const sp_config *cfg, const sp_options *opt, sp_model **out) {
    const char *fn = "sp_model_create";
    sp_enter(fn);
    sp_status s = sp_check_model_args(fn, cfg, opt, out);
    if (s) return s;
    if (opt->precision != SP_PRECISION_FP32)
        return sp_fail(SP_ERR_INVALID, fn, "precision %d%s not supported: the CPU backend computes in fp32 only",
                       opt->precision, opt->precision == SP_PRECISION_BF16 ? " (bf16, the CUDA backend's)" : "");

    sp_model *m = sp_alloc(1, sizeof(sp_model));
    if (!m) return sp_fail(SP_ERR_OOM, fn, "out of memory (model struct)");
    m->c = *cfg;
    m->nthreads = opt->n_threads > 0 ? opt->n_threads : sp_default_threads();
    if (m->nthreads > SP_MAX_THREADS) m->nthreads = SP_MAX_THREADS;
    m->max_batch = opt->max_batch;
    m->ntensors = SP_TENSORS(cfg->n_layers);
    m->P = sp_param_count(cfg);

    size_t L = cfg->n_layers, d = cfg->d_model, f = cfg->d_ff, V = cfg->vocab_size;
    size_t N = (size_t)opt->max_batch, nh = cfg->n_heads, half = cfg->rotary_dims / 2;
    size_t S = cfg->max_seq, chunk = N < CLS_CHUNK ? N : CLS_CHUNK;
    int ok = 1;
#define ALLOC(dst, n) do { if (ok) ok = ((dst) = sp_alloc((n), sizeof(float))) != NULL; } while (0)
    ok = (m->off = sp_alloc(m->ntensors + 1, sizeof(int64_t))) != NULL;
    ALLOC(m->w, m->P);   /* the anchor w* is made only when needed: sp_anchor() */
    ALLOC(m->g, m->P);
    ALLOC(m->rope_cos, S * half);
    ALLOC(m->rope_sin, S * half);
    ALLOC(m->gemm_ws, (size_t)m->nthreads * GEMM_SCRATCH_FLOATS);
    size_t Tmax = S < N ? S : N; /* longest sequence a batch can have */
    m->att_ws_stride = attention_scratch_floats((int)Tmax, (int)(d / nh));
    ALLOC(m->att_ws, (size_t)m->nthreads * m->att_ws_stride);
    sp_acts *a = &m->a;
    ALLOC(a->x, (L + 1) * N * d);
    ALLOC(a->ln1, L * N * d);
    ALLOC(a->ln1_mean, L * N);
    ALLOC(a->ln1_rstd, L * N);
    ALLOC(a->ln2, L * N * d);
    ALLOC(a->ln2_mean, L * N);
    ALLOC(a->ln2_rstd, L * N);
    ALLOC(a->qkv, L * N * 3 * d);
    ALLOC(a->lse, L * N * nh);
    ALLOC(a->atty, L * N * d);
    ALLOC(a->fch, L * N * f);
    ALLOC(a->fcg, L * N * f);
    ALLOC(a->lnf, N * d);
    ALLOC(a->lnf_mean, N);
    ALLOC(a->lnf_rstd, N);
    ALLOC(a->ao, N * d);
    ALLOC(a->mo, N * d);
    ALLOC(a->dres, N * d);
    ALLOC(a->dln1, N * d);
    ALLOC(a->dln2, N * d);
    ALLOC(a->dqkv, N * 3 * d);
    ALLOC(a->dfc, N * f);
    ALLOC(a->logits, chunk * V);
    ALLOC(a->xc, CLS_CHUNK * d);
    ALLOC(a->dxc, CLS_CHUNK * d);
#undef ALLOC
    if (ok) ok = (m->pool = sp_pool_create(m->nthreads)) != NULL;
    if (!ok) {
        double mb = (double)(2 * (size_t)m->P + (L + 1) * N * d + L * N * (6 * d + 2 * f) +
                             chunk * V) * 4.0 / 1048576.0;
        sp_model_destroy(m);
        return sp_fail(SP_ERR_OOM, fn, "out of memory allocating about %.0f MiB (params and gradients + activations "
                       "for max_batch %d)", mb, opt->max_batch);
    }
    sp_layout(cfg, m->off);
    /* rotary tables as HF computes them in fp32: inv_freq = 1 / base^(2i/rd), angle = t * inv_freq */
    for (size_t t = 0; t < S; t++)
        for (size_t i = 0; i < half; i++) {
            float inv_freq = 1.0f / powf(cfg->rotary_base, (float)(2 * i) / (float)cfg->rotary_dims);
            float ang = (float)t * inv_freq;
            m->rope_cos[t * half + i] = (float)cos((double)ang);
            m->rope_sin[t * half + i] = (float)sin((double)ang);
        }
    *out = m;
    return SP_OK;
}

sp_status sp_model_load(sp_model *m, const float *host_params, int64_t n) {
    const char *fn = "sp_model_load";
    sp_enter(fn);
    sp_status s = sp_check_load(fn, m, host_params, n, m ? m->P : 0);
    if (s) return s;
    memcpy(m->w, host_params, sizeof(float) * (size_t)n);
    if (m->wstar) memcpy(m->wstar, host_params, sizeof(float) * (size_t)n);
    sp_note_write(m, 0, n);
    return SP_OK;
}

sp_status sp_model_load_tensor(sp_model *m, int64_t offset, int64_t n, int32_t dtype, const void *src) {
    const char *fn = "sp_model_load_tensor";
    sp_enter(fn);
    sp_status s = sp_check_load_tensor(fn, m, src, offset, n, dtype, m ? m->P : 0);
    if (s || n == 0) return s;
    sp_convert_to_f32(m->w + offset, src, dtype, n);
    if (m->wstar) memcpy(m->wstar + offset, m->w + offset, sizeof(float) * (size_t)n);
    sp_note_write(m, offset, n);
    return SP_OK;
}

sp_status sp_anchor(sp_model *m, const char *fn) {
    if (m->wstar) return SP_OK;
    m->wstar = sp_alloc((size_t)m->P, sizeof(float));
    if (!m->wstar)
        return sp_fail(SP_ERR_OOM, fn, "out of memory for the anchor w* (%.0f MiB, a copy of the weights that "
                       "sampling needs)", (double)m->P * 4.0 / 1048576.0);
    memcpy(m->wstar, m->w, sizeof(float) * (size_t)m->P);
    return SP_OK;
}

static sp_status check_range(const sp_model *m, int64_t offset, int64_t n, const void *ptr,
                             const char *fn) {
    sp_enter(fn);
    return sp_check_copy(fn, m, "model", ptr, offset, n, m ? m->P : 0, "the ", " parameters");
}

sp_status sp_params_read(sp_model *m, int64_t offset, int64_t n, float *host_out) {
    sp_status s = check_range(m, offset, n, host_out, "sp_params_read");
    if (s) return s;
    if (n) memcpy(host_out, m->w + offset, sizeof(float) * (size_t)n);
    return SP_OK;
}

sp_status sp_params_write(sp_model *m, int64_t offset, int64_t n, const float *host_in) {
    sp_status s = check_range(m, offset, n, host_in, "sp_params_write");
    if (s == SP_OK && n > 0) s = sp_anchor(m, "sp_params_write");   /* w* keeps w as loaded */
    if (s) return s;
    if (n) memcpy(m->w + offset, host_in, sizeof(float) * (size_t)n);
    sp_note_write(m, offset, n);
    return SP_OK;
}

sp_status sp_grads_read(sp_model *m, int64_t offset, int64_t n, float *host_out) {
    sp_status s = check_range(m, offset, n, host_out, "sp_grads_read");
    if (s) return s;
    if (n) memcpy(host_out, m->g + offset, sizeof(float) * (size_t)n);
    return SP_OK;
}

sp_status sp_params_reset(sp_model *m, const sp_block *blocks, int32_t n_blocks) {
    const char *fn = "sp_params_reset";
    sp_enter(fn);
    int64_t total = 0;
    sp_status s = sp_check_handle(fn, m, "model");
    if (!s) s = sp_check_blocks(fn, m->P, blocks, n_blocks, &total);
    if (!s && total > 0) s = sp_anchor(m, fn);
    if (s) return s;
    for (int i = 0; i < n_blocks; i++)
        for (int64_t r = 0; r < blocks[i].rows; r++) {
            int64_t o = blocks[i].offset + r * blocks[i].stride;
            memcpy(m->w + o, m->wstar + o, sizeof(float) * (size_t)blocks[i].cols);
        }
    for (int i = 0; i < n_blocks; i++)
        if (blocks[i].rows > 0)
            sp_note_write(m, blocks[i].offset, (blocks[i].rows - 1) * blocks[i].stride + blocks[i].cols);
    return SP_OK;
}

/* ---------------------------------------------------------------- batches */

sp_status sp_batch_create(sp_model *m, const int32_t *host_tokens, int32_t B, int32_t T, sp_batch **out) {
    const char *fn = "sp_batch_create";
    sp_enter(fn);
    sp_status s = sp_check_batch_args(fn, m, m ? &m->c : NULL, m ? m->max_batch : 0, host_tokens, B, T, out);
    if (s) return s;
    sp_batch *b = sp_alloc(1, sizeof(sp_batch));
    if (!b) return sp_fail(SP_ERR_OOM, fn, "out of memory (batch)");
    b->m = m; b->B = B; b->T = T; b->cache_layer = -1;
    b->tokens = sp_alloc((size_t)B * T, sizeof(int32_t));
    b->losses = sp_alloc((size_t)B * (T - 1), sizeof(float));
    if (!b->tokens || !b->losses) {
        sp_free(b->tokens); sp_free(b->losses); sp_free(b);
        return sp_fail(SP_ERR_OOM, fn, "out of memory (batch of %d x %d tokens)", B, T);
    }
    memcpy(b->tokens, host_tokens, sizeof(int32_t) * (size_t)B * T);
    *out = b;
    return SP_OK;
}

sp_status sp_batch_destroy(sp_batch *b) {
    sp_enter(__func__);
    if (!b) return SP_OK;
    sp_free(b->tokens); sp_free(b->losses); sp_free(b->cache); sp_free(b);
    return SP_OK;
}

sp_status sp_memory_available(sp_model *m, int64_t *bytes_out) {
    const char *fn = "sp_memory_available";
    sp_enter(fn);
    sp_status s;
    if ((s = sp_check_handle(fn, m, "model")) || (s = sp_check_handle(fn, bytes_out, "bytes_out"))) return s;
    long long kib = -1;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %lld kB", &kib) == 1) break;
        fclose(f);
    }
    if (kib >= 0) {
        *bytes_out = (int64_t)kib * 1024;
        return SP_OK;
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages < 0 || size < 0) return sp_fail(SP_ERR_INTERNAL, fn, "neither /proc/meminfo nor sysconf gives the available memory");
    *bytes_out = (int64_t)pages * size;
    return SP_OK;
}

static sp_status check_mb(const sp_model *m, const sp_batch *b, const char *fn) {
    sp_enter(fn);
    return sp_check_model_batch(fn, m, b, b ? b->m : NULL);
}

/* ---------------------------------------------------------------- forward */

#define T_(l, k) (1 + 12 * (l) + (k))       /* tensor index of layer l, slot k */
#define W_(m, i) ((m)->w + (m)->off[i])
#define G_(m, i) ((m)->g + (m)->off[i])

/* ent: [B, nh, T] attention entropies of this layer (NULL: not formed) */
static void layer_forward(sp_model *m, int l, int B, int T, float *ent) {
    const sp_config *c = &m->c;
    int N = B * T, d = c->d_model, f = c->d_ff, nh = c->n_heads, hd = d / nh;
    sp_acts *a = &m->a;
    size_t Nd = (size_t)N * d, Nf = (size_t)N * f;
    size_t lNd = (size_t)l * m->max_batch * d, lNf = (size_t)l * m->max_batch * f;
    float *x = a->x + lNd, *xn = a->x + lNd + (size_t)m->max_batch * d;      /* [N,d] in, out */
    float *ln1 = a->ln1 + lNd, *ln2 = a->ln2 + lNd;                           /* [N,d] */
    float *m1 = a->ln1_mean + (size_t)l * m->max_batch, *r1 = a->ln1_rstd + (size_t)l * m->max_batch;
    float *m2 = a->ln2_mean + (size_t)l * m->max_batch, *r2 = a->ln2_rstd + (size_t)l * m->max_batch;
    float *qkv = a->qkv + 3 * lNd;                                            /* [N,3d] */
    float *lse = a->lse + (size_t)l * m->max_batch * nh;                      /* [B,nh,T] */
    float *atty = a->atty + lNd;                                              /* [N,d] */
    float *fch = a->fch + lNf, *fcg = a->fcg + lNf;                           /* [N,f] */
    float *ws = m->gemm_ws;
    (void)Nf;

    layernorm_forward(ln1, m1, r1, x, W_(m, T_(l, 0)), W_(m, T_(l, 1)), N, d, c->ln_eps);
    matmul_forward(qkv, ln1, W_(m, T_(l, 4)), W_(m, T_(l, 5)), N, d, 3 * d, ws);
    rotary_forward(qkv, m->rope_cos, m->rope_sin, B, T, nh, hd, c->rotary_dims);
    attention_forward(atty, lse, ent, qkv, B, T, nh, hd, m->att_ws, m->att_ws_stride);
    matmul_forward(a->ao, atty, W_(m, T_(l, 6)), W_(m, T_(l, 7)), N, d, d, ws);
    layernorm_forward(ln2, m2, r2, x, W_(m, T_(l, 2)), W_(m, T_(l, 3)), N, d, c->ln_eps);
    matmul_forward(fch, ln2, W_(m, T_(l, 8)), W_(m, T_(l, 9)), N, d, f, ws);
    gelu_forward(fcg, fch, (long)N * f);
    matmul_forward(a->mo, fcg, W_(m, T_(l, 10)), W_(m, T_(l, 11)), N, f, d, ws);
    residual_forward(xn, x, a->ao, a->mo, (long)Nd);
}

/* a.lnf = LN_f(x[L]) for the first N rows */
static void final_layernorm(sp_model *m, int N) {
    const sp_config *c = &m->c;
    int d = c->d_model, L = c->n_layers;
    float *xL = m->a.x + (size_t)L * m->max_batch * d;
    layernorm_forward(m->a.lnf, m->a.lnf_mean, m->a.lnf_rstd, xL, W_(m, 1 + 12 * L),
                      W_(m, 2 + 12 * L), N, d, c->ln_eps);
}

/* Residual stream from layer `start` (x[start] must hold its input; start == 0 embeds) up to the
 * final LayerNorm output a.lnf. */
static void forward_trunk(sp_model *m, const sp_batch *b, int start) {
    const sp_config *c = &m->c;
    int N = b->B * b->T, d = c->d_model, L = c->n_layers;
    if (start == 0) encoder_forward(m->a.x, b->tokens, W_(m, 0), N, d);
    for (int l = start; l < L; l++) layer_forward(m, l, b->B, b->T, NULL);
    final_layernorm(m, N);
}

/* Puts the batch's cache into x[cache_layer] and returns the layer to start at (0 without cache). */
static int start_from_cache(sp_model *m, const sp_batch *b, int allow) {
    if (b->cache_layer < 0 || !allow) return 0;
    size_t n = (size_t)b->B * b->T * m->c.d_model;
    memcpy(m->a.x + (size_t)b->cache_layer * m->max_batch * m->c.d_model, b->cache, sizeof(float) * n);
    return b->cache_layer;
}

static sp_status finish_losses(sp_batch *b, float *losses_out, double *mean_out, const char *fn) {
    int64_t n = (int64_t)b->B * (b->T - 1);
    double sum = 0.0;
    int64_t bad = -1;
    for (int64_t i = 0; i < n; i++) {
        sum += b->losses[i];
        if (bad < 0 && !isfinite(b->losses[i])) bad = i;
    }
    b->has_losses = 1;
    if (losses_out) memcpy(losses_out, b->losses, sizeof(float) * (size_t)n);
    if (mean_out) *mean_out = sum / (double)n;
    if (bad >= 0)
        return sp_fail(SP_ERR_NUMERIC, fn, "loss at [%lld, %lld] is %g", (long long)(bad / (b->T - 1)),
                       (long long)(bad % (b->T - 1)), b->losses[bad]);
    return SP_OK;
}

void sp_note_write(sp_model *m, int64_t offset, int64_t n) {
    int64_t lo = m->off[3 + 12 * m->c.n_layers], hi = m->off[4 + 12 * m->c.n_layers];
    if (n > 0 && offset < hi && offset + n > lo) m->wout_dirty = 1;
}

/* Brings the packed copies of embed_out up to date; returns 0 when they cannot be allocated. */
static int wout_packed(sp_model *m) {
    const sp_config *c = &m->c;
    int d = c->d_model, V = c->vocab_size;
    if (!m->wout_pk_fwd) {
        m->wout_pk_fwd = sp_alloc((size_t)gemm_packed_floats(d, V), sizeof(float));
        m->wout_pk_dx = sp_alloc((size_t)gemm_packed_floats(V, d), sizeof(float));
        if (!m->wout_pk_fwd || !m->wout_pk_dx) {
            sp_free(m->wout_pk_fwd); sp_free(m->wout_pk_dx);
            m->wout_pk_fwd = m->wout_pk_dx = NULL;
            return 0;
        }
        m->wout_dirty = 1;
    }
    if (m->wout_dirty) {
        const float *wout = W_(m, 3 + 12 * c->n_layers); /* [V, d] */
        gemm_pack_b(d, V, wout, 1, d, m->wout_pk_fwd);  /* B(k, v) = wout[v, k] */
        gemm_pack_b(V, d, wout, d, 1, m->wout_pk_dx);   /* B(v, k) = wout[v, k] */
        m->wout_dirty = 0;
    }
    return 1;
}

sp_status sp_forward(sp_model *m, sp_batch *b, float *losses_out, double *mean_out) {
    const char *fn = "sp_forward";
    sp_status s = check_mb(m, b, fn);
    if (s) return s;
    sp_use_threads(m);
    int start = start_from_cache(m, b, 1);
    forward_trunk(m, b, start);
    const sp_config *c = &m->c;
    int L = c->n_layers;
    int pk = wout_packed(m);
    fused_classifier(b->losses, NULL, NULL, NULL, m->a.lnf, W_(m, 3 + 12 * L), pk ? m->wout_pk_fwd : NULL, NULL,
                     b->tokens, b->B, b->T,
                     c->d_model, c->vocab_size, m->a.logits, m->a.xc, m->a.dxc, m->gemm_ws);
    return finish_losses(b, losses_out, mean_out, fn);
}

sp_status sp_forward_features(sp_model *m, sp_batch *b, float *feat_out, int64_t n_feat_total, float *losses_out) {
    const char *fn = "sp_forward_features";
    sp_enter(fn);
    sp_status s = sp_check_features(fn, m, m ? &m->c : NULL, b, b ? b->m : NULL, b ? b->B : 0, b ? b->T : 0,
                                    feat_out, n_feat_total);
    if (s) return s;
    const sp_config *c = &m->c;
    int L = c->n_layers, d = c->d_model, nh = c->n_heads, hd = d / nh, B = b->B, T = b->T, N = B * T;
    long F = (long)sp_features_of(c), Nl = (long)B * (T - 1);
    float *ent = sp_alloc((size_t)N * nh, sizeof(float));          /* [B, nh, T] one layer's attention entropies */
    float *G = sp_alloc((size_t)nh * hd * hd, sizeof(float));       /* [nh, hd, hd] one layer's head Gram matrices */
    float *cls = sp_alloc((size_t)Nl, sizeof(float));               /* next-token entropies */
    if (!ent || !G || !cls) {
        sp_free(ent); sp_free(G); sp_free(cls);
        return sp_fail(SP_ERR_OOM, fn, "out of memory (feature scratch for %d x %d tokens)", B, T);
    }
    sp_use_threads(m);
    encoder_forward(m->a.x, b->tokens, W_(m, 0), N, d);       /* always from the embedding: every layer is needed */
    for (int l = 0; l < L; l++) {
        layer_forward(m, l, B, T, ent);
        size_t lNd = (size_t)l * m->max_batch * d;
        feature_row_norms(feat_out + SP_FEAT_RESID(L, nh) + l, F, m->a.x + lNd + (size_t)m->max_batch * d, B, T, d);
        head_gram(G, W_(m, T_(l, SP_K_DENSEW)), d, nh, m->gemm_ws);
        head_norms(feat_out + SP_FEAT_HEAD(L, nh) + (long)l * nh, F, m->a.atty + lNd, G, B, T, nh, hd);
        feature_row_norms(feat_out + SP_FEAT_MLP(L, nh) + l, F, m->a.mo, B, T, d);  /* a.mo: this layer's MLP output */
        head_scatter(feat_out + SP_FEAT_ATTENT(L, nh) + (long)l * nh, F, ent, B, T, nh);
    }
    final_layernorm(m, N);
    int pk = wout_packed(m);
    fused_classifier(b->losses, cls, NULL, NULL, m->a.lnf, W_(m, 3 + 12 * L), pk ? m->wout_pk_fwd : NULL, NULL,
                     b->tokens, B, T, d, c->vocab_size, m->a.logits, m->a.xc, m->a.dxc, m->gemm_ws);
    for (long i = 0; i < Nl; i++) feat_out[i * F] = cls[i];
    sp_free(ent); sp_free(G); sp_free(cls);
    return finish_losses(b, losses_out, NULL, fn);
}

sp_status sp_batch_cache_at(sp_model *m, sp_batch *b, int32_t layer) {
    const char *fn = "sp_batch_cache_at";
    sp_status s = check_mb(m, b, fn);
    if (!s) s = sp_check_cache_layer(fn, layer, m->c.n_layers);
    if (s) return s;
    if (layer < 0) {
        sp_free(b->cache);
        b->cache = NULL;
        b->cache_layer = -1;
        return SP_OK;
    }
    size_t n = (size_t)b->B * b->T * m->c.d_model;
    if (!b->cache) {
        b->cache = sp_alloc(n, sizeof(float));
        if (!b->cache) return sp_fail(SP_ERR_OOM, fn, "out of memory (cache of %zu floats)", n);
    }
    b->cache_layer = -1;
    sp_use_threads(m);
    int d = m->c.d_model;
    encoder_forward(m->a.x, b->tokens, W_(m, 0), b->B * b->T, d);
    for (int l = 0; l < layer; l++) layer_forward(m, l, b->B, b->T, NULL);
    memcpy(b->cache, m->a.x + (size_t)layer * m->max_batch * d, sizeof(float) * n);
    b->cache_layer = layer;
    return SP_OK;
}

/* ---------------------------------------------------------------- backward */

/* Backward through layer l. On entry a.dres = dL/dx_{l+1}; on exit (when need_dx) dL/dx_l.
 * tw[k]: tensor slot k of this layer wants its weight gradient. */
static void layer_backward(sp_model *m, int l, int B, int T, const unsigned char *tw, int need_dx) {
    const sp_config *c = &m->c;
    int N = B * T, d = c->d_model, f = c->d_ff, nh = c->n_heads, hd = d / nh;
    sp_acts *a = &m->a;
    size_t lNd = (size_t)l * m->max_batch * d, lNf = (size_t)l * m->max_batch * f;
    float *x = a->x + lNd;                                                    /* [N,d] */
    float *ln1 = a->ln1 + lNd, *ln2 = a->ln2 + lNd;                           /* [N,d] */
    float *m1 = a->ln1_mean + (size_t)l * m->max_batch, *r1 = a->ln1_rstd + (size_t)l * m->max_batch;
    float *m2 = a->ln2_mean + (size_t)l * m->max_batch, *r2 = a->ln2_rstd + (size_t)l * m->max_batch;
    float *qkv = a->qkv + 3 * lNd;                                            /* [N,3d] */
    float *lse = a->lse + (size_t)l * m->max_batch * nh;                      /* [B,nh,T] */
    float *atty = a->atty + lNd;                                              /* [N,d] */
    float *fch = a->fch + lNf, *fcg = a->fcg + lNf;                           /* [N,f] */
    float *ws = m->gemm_ws;
    float *dres = a->dres;                                                    /* [N,d] */
    float *dy = a->ao;                                                        /* [N,d] */
#define GW(k) (tw[k] ? G_(m, T_(l, k)) : NULL)
    int need_dln1 = need_dx || tw[0] || tw[1];
    int need_dln2 = need_dx || tw[2] || tw[3];
    int need_dqkv = need_dln1 || tw[4] || tw[5];
    int need_dfc = need_dln2 || tw[8] || tw[9];

    /* MLP branch: mo = fcg Wp^T + bp; fcg = gelu(fch); fch = ln2 Wfc^T + bfc */
    matmul_backward(need_dfc ? a->dfc : NULL, GW(10), GW(11), dres, fcg, W_(m, T_(l, 10)), N, f, d, ws);
    if (need_dfc) {
        gelu_backward(a->dfc, fch, a->dfc, (long)N * f);
        matmul_backward(need_dln2 ? a->dln2 : NULL, GW(8), GW(9), a->dfc, ln2, W_(m, T_(l, 8)), N, d, f, ws);
    }
    /* attention branch: ao = atty Wd^T + bd; atty = attn(rotary(ln1 Wqkv^T + bqkv)) */
    matmul_backward(need_dqkv ? dy : NULL, GW(6), GW(7), dres, atty, W_(m, T_(l, 6)), N, d, d, ws);
    if (need_dqkv) {
        attention_backward(a->dqkv, dy, qkv, lse, B, T, nh, hd, m->att_ws, m->att_ws_stride);
        rotary_backward(a->dqkv, m->rope_cos, m->rope_sin, B, T, nh, hd, c->rotary_dims);
        matmul_backward(need_dln1 ? a->dln1 : NULL, GW(4), GW(5), a->dqkv, ln1, W_(m, T_(l, 4)), N, d, 3 * d, ws);
    }
    /* the two LayerNorms; dres (= dout, the skip path) accumulates their input gradients */
    if (need_dln2)
        layernorm_backward(need_dx ? dres : NULL, GW(2), GW(3), a->dln2, x, W_(m, T_(l, 2)), m2, r2, N, d);
    if (need_dln1)
        layernorm_backward(need_dx ? dres : NULL, GW(0), GW(1), a->dln1, x, W_(m, T_(l, 0)), m1, r1, N, d);
#undef GW
}

sp_status sp_forward_backward(sp_model *m, sp_batch *b, const sp_grad_request *req,
                              float *losses_out, double *mean_out) {
    const char *fn = "sp_forward_backward";
    sp_status s = check_mb(m, b, fn);
    if (s) return s;
    const sp_config *c = &m->c;
    int L = c->n_layers, d = c->d_model, N = b->B * b->T;
    int stop = req ? req->stop_layer : 0;

    /* which tensors want weight gradients */
    unsigned char *touched = sp_alloc(m->ntensors, 1);
    if (!touched) return sp_fail(SP_ERR_OOM, fn, "out of memory");
    s = sp_check_grad_request(fn, c, m->off, req, touched);
    if (s) { sp_free(touched); return s; }
    /* lowest layer the backward has to enter; need_x0: gradient at the embedding output */
    int need_x0 = stop == 0 && touched[0];
    int lo = L;
    for (int l = L - 1; l >= stop; l--)
        for (int k = 0; k < 12; k++) if (touched[T_(l, k)]) lo = l;
    if (need_x0) lo = 0;
    int t_lnf_w = touched[1 + 12 * L], t_lnf_b = touched[2 + 12 * L], t_out = touched[3 + 12 * L];

    sp_use_threads(m);
    int start = start_from_cache(m, b, b->cache_layer >= 0 && b->cache_layer <= lo);
    forward_trunk(m, b, start);
    int need_dlnf = lo < L || t_lnf_w || t_lnf_b;
    float *dlnf = m->a.dln1; /* [N,d] scratch */
    int pk = wout_packed(m);
    fused_classifier(b->losses, NULL, need_dlnf ? dlnf : NULL, t_out ? G_(m, 3 + 12 * L) : NULL, m->a.lnf,
                     W_(m, 3 + 12 * L), pk ? m->wout_pk_fwd : NULL, pk ? m->wout_pk_dx : NULL, b->tokens,
                     b->B, b->T, d, c->vocab_size, m->a.logits, m->a.xc,
                     m->a.dxc, m->gemm_ws);
    if (need_dlnf) {
        float *xL = m->a.x + (size_t)L * m->max_batch * d;
        if (lo < L) memset(m->a.dres, 0, sizeof(float) * (size_t)N * d);
        layernorm_backward(lo < L ? m->a.dres : NULL, t_lnf_w ? G_(m, 1 + 12 * L) : NULL,
                           t_lnf_b ? G_(m, 2 + 12 * L) : NULL, dlnf, xL, W_(m, 1 + 12 * L),
                           m->a.lnf_mean, m->a.lnf_rstd, N, d);
    }
    for (int l = L - 1; l >= lo; l--)
        layer_backward(m, l, b->B, b->T, touched + T_(l, 0), l > lo || (l == 0 && need_x0));
    if (need_x0) encoder_backward(G_(m, 0), m->a.dres, b->tokens, N, d, c->vocab_size);
    sp_free(touched);
    return finish_losses(b, losses_out, mean_out, fn);
}
