/*
 * abi_common.c -- the host-side layer of both backends (see abi_common.h): errors, layout, and the
 * argument checks of the ABI. Plain C11 with no backend dependency: gcc builds it into
 * libspectro_cpu.so and into the object that libspectro_cuda.so links.
 */
#include "abi_common.h"
#include "philox.h"
#include "convert.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

/* ---------------------------------------------------------------- errors */

static _Thread_local char last_error[2048];
static _Thread_local const char *current_fn = "spectro";

void sp_enter(const char *fn) {
    current_fn = fn;
    last_error[0] = '\0';
}

const char *sp_fn(void) { return current_fn; }

void sp_clear_error(void) { last_error[0] = '\0'; }

const char *sp_last_error(void) { return last_error; }

static sp_status vfail(sp_status s, const char *fn, const char *fmt, va_list ap) {
    int k = 0;
    if (fn) {
        k = snprintf(last_error, sizeof last_error, "%s: ", fn);
        if (k < 0) k = 0;
    }
    if ((size_t)k < sizeof last_error) vsnprintf(last_error + k, sizeof last_error - (size_t)k, fmt, ap);
    return s;
}

sp_status sp_fail(sp_status s, const char *fn, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(s, fn, fmt, ap);
    va_end(ap);
    return s;
}

sp_status sp_set_error(sp_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(s, NULL, fmt, ap);
    va_end(ap);
    return s;
}

int32_t sp_abi_version(void) { return SP_ABI_VERSION; }

/* ---------------------------------------------------------------- config and layout */

sp_status sp_check_config(const char *fn, const sp_config *c) {
    if (!c) return sp_fail(SP_ERR_INVALID, fn, "config is NULL");
    if (c->vocab_size < 1 || c->vocab_size > (1 << 24))
        return sp_fail(SP_ERR_INVALID, fn, "vocab_size %d outside [1, 16777216]", c->vocab_size);
    if (c->d_model < 1 || c->d_model > 65536)
        return sp_fail(SP_ERR_INVALID, fn, "d_model %d outside [1, 65536]", c->d_model);
    if (c->n_layers < 1 || c->n_layers > 4096)
        return sp_fail(SP_ERR_INVALID, fn, "n_layers %d outside [1, 4096]", c->n_layers);
    if (c->n_heads < 1 || c->d_model % c->n_heads != 0)
        return sp_fail(SP_ERR_INVALID, fn, "n_heads %d must be >= 1 and divide d_model %d", c->n_heads, c->d_model);
    if (c->d_ff < 1 || c->d_ff > (1 << 20))
        return sp_fail(SP_ERR_INVALID, fn, "d_ff %d outside [1, 1048576]", c->d_ff);
    int hd = c->d_model / c->n_heads;
    if (c->rotary_dims < 0 || c->rotary_dims > hd || c->rotary_dims % 2 != 0)
        return sp_fail(SP_ERR_INVALID, fn, "rotary_dims %d must be even and in [0, head_dim %d]", c->rotary_dims, hd);
    if (c->max_seq < 2 || c->max_seq > (1 << 20))
        return sp_fail(SP_ERR_INVALID, fn, "max_seq %d outside [2, 1048576]", c->max_seq);
    if (!(c->rotary_base > 0.0f) || !isfinite(c->rotary_base))
        return sp_fail(SP_ERR_INVALID, fn, "rotary_base %g must be finite and > 0", (double)c->rotary_base);
    if (!(c->ln_eps > 0.0f) || !isfinite(c->ln_eps))
        return sp_fail(SP_ERR_INVALID, fn, "ln_eps %g must be finite and > 0", (double)c->ln_eps);
    return SP_OK;
}

int sp_tensor_layer(int n_layers, int i) {
    if (i == SP_T_EMBED) return -1;
    if (i >= SP_T_LNFW(n_layers)) return n_layers;
    return (i - 1) / 12;
}

int64_t sp_tensor_numel(const sp_config *c, int i) {
    int64_t V = c->vocab_size, d = c->d_model, f = c->d_ff;
    int L = c->n_layers;
    if (i == SP_T_EMBED || i == SP_T_OUT(L)) return V * d;
    if (i == SP_T_LNFW(L) || i == SP_T_LNFB(L)) return d;
    switch ((i - 1) % 12) {
    case SP_K_QKVW: return 3 * d * d;
    case SP_K_QKVB: return 3 * d;
    case SP_K_DENSEW: return d * d;
    case SP_K_FCW: return f * d;
    case SP_K_FCB: return f;
    case SP_K_PROJW: return d * f;
    default: return d; /* the LayerNorms, attention.dense.bias, dense_4h_to_h.bias */
    }
}

void sp_layout(const sp_config *c, int64_t *off) {
    int nt = SP_TENSORS(c->n_layers);
    off[0] = 0;
    for (int i = 0; i < nt; i++) off[i + 1] = off[i] + sp_tensor_numel(c, i);
}

sp_status sp_config_validate(const sp_config *cfg) {
    sp_enter("sp_config_validate");
    return sp_check_config("sp_config_validate", cfg);
}

int64_t sp_param_count(const sp_config *cfg) {
    sp_enter("sp_param_count");
    if (sp_check_config("sp_param_count", cfg) != SP_OK) return -1;
    int64_t P = 0;
    for (int i = 0; i < SP_TENSORS(cfg->n_layers); i++) P += sp_tensor_numel(cfg, i);
    return P;
}

sp_status sp_param_offsets(const sp_config *cfg, int64_t *offsets, int32_t n) {
    const char *fn = "sp_param_offsets";
    sp_enter(fn);
    sp_status s = sp_check_config(fn, cfg);
    if (s) return s;
    if (!offsets) return sp_fail(SP_ERR_INVALID, fn, "offsets is NULL");
    int nt = SP_TENSORS(cfg->n_layers);
    if (n != nt)
        return sp_fail(SP_ERR_INVALID, fn, "n = %d but the model has SP_TENSORS(%d) = %d tensors", n, cfg->n_layers, nt);
    int64_t o = 0;
    for (int i = 0; i < nt; i++) { offsets[i] = o; o += sp_tensor_numel(cfg, i); }
    return SP_OK;
}

int64_t sp_batch_cache_bytes(const sp_config *cfg, int32_t B, int32_t T) {
    const char *fn = "sp_batch_cache_bytes";
    sp_enter(fn);
    if (sp_check_config(fn, cfg) != SP_OK) return -1;
    if (B < 1 || T < 1) {
        sp_fail(SP_ERR_INVALID, fn, "B = %d and T = %d must be >= 1", B, T);
        return -1;
    }
    return (int64_t)B * T * cfg->d_model * (int64_t)sizeof(float);
}

/* ---------------------------------------------------------------- argument checks */

sp_status sp_check_handle(const char *fn, const void *handle, const char *what) {
    return handle ? SP_OK : sp_fail(SP_ERR_INVALID, fn, "%s is NULL", what);
}

sp_status sp_check_owner(const char *fn, const void *owner, const void *m, const char *what) {
    return owner == m ? SP_OK : sp_fail(SP_ERR_INVALID, fn, "%s belongs to another model", what);
}

sp_status sp_check_model_args(const char *fn, const sp_config *cfg, const sp_options *opt, sp_model **out) {
    if (!out) return sp_fail(SP_ERR_INVALID, fn, "out is NULL");
    *out = NULL;
    sp_status s = sp_check_config(fn, cfg);
    if (s) return s;
    if (!opt) return sp_fail(SP_ERR_INVALID, fn, "options is NULL");
    if (opt->n_threads < 0 || opt->n_threads > SP_MAX_THREADS)
        return sp_fail(SP_ERR_INVALID, fn, "n_threads %d outside [0, %d]", opt->n_threads, SP_MAX_THREADS);
    if (opt->device < 0) return sp_fail(SP_ERR_INVALID, fn, "device %d < 0", opt->device);
    if (opt->precision != SP_PRECISION_FP32 && opt->precision != SP_PRECISION_BF16)
        return sp_fail(SP_ERR_INVALID, fn, "precision %d is neither SP_PRECISION_FP32 (0) nor SP_PRECISION_BF16 (1)",
                       opt->precision);
    if (opt->max_batch < 2 || opt->max_batch > (1 << 24))
        return sp_fail(SP_ERR_INVALID, fn, "max_batch %d outside [2, 16777216] (B*T tokens)", opt->max_batch);
    return SP_OK;
}

sp_status sp_check_copy(const char *fn, const void *handle, const char *what, const void *host, int64_t offset,
                        int64_t n, int64_t size, const char *unit_before, const char *unit_after) {
    if (!handle) return sp_fail(SP_ERR_INVALID, fn, "%s is NULL", what);
    if (!host && n > 0) return sp_fail(SP_ERR_INVALID, fn, "host pointer is NULL");
    if (offset < 0 || n < 0 || offset > size || n > size - offset)
        return sp_fail(SP_ERR_INVALID, fn, "range [%lld, %lld) outside %s%lld%s", (long long)offset,
                       (long long)offset + (long long)n, unit_before, (long long)size, unit_after);
    return SP_OK;
}

sp_status sp_check_blocks(const char *fn, int64_t P, const sp_block *blocks, int32_t n_blocks, int64_t *total_out) {
    if (n_blocks < 0) return sp_fail(SP_ERR_INVALID, fn, "n_blocks %d < 0", n_blocks);
    if (n_blocks > 0 && !blocks) return sp_fail(SP_ERR_INVALID, fn, "blocks is NULL but n_blocks = %d", n_blocks);
    int64_t total = 0;
    for (int i = 0; i < n_blocks; i++) {
        const sp_block *bk = &blocks[i];
        if (bk->offset < 0 || bk->rows < 0 || bk->cols < 0)
            return sp_fail(SP_ERR_INVALID, fn, "block %d (offset %lld, rows %lld, cols %lld) has a negative field", i,
                           (long long)bk->offset, (long long)bk->rows, (long long)bk->cols);
        if (bk->rows == 0 || bk->cols == 0) continue;
        if (bk->rows > 1 && bk->stride < bk->cols)
            return sp_fail(SP_ERR_INVALID, fn, "block %d: stride %lld < cols %lld (rows would overlap)", i,
                           (long long)bk->stride, (long long)bk->cols);
        /* each term is bounded by P before the sum, so it cannot overflow */
        if (bk->rows > P || bk->cols > P || bk->offset >= P || (bk->rows > 1 && bk->stride > P) ||
            bk->offset + (bk->rows - 1) * (bk->rows > 1 ? bk->stride : 0) + bk->cols > P)
            return sp_fail(SP_ERR_INVALID, fn, "block %d (offset %lld, rows %lld, cols %lld, stride %lld) "
                           "reaches outside the %lld parameters", i, (long long)bk->offset, (long long)bk->rows,
                           (long long)bk->cols, (long long)bk->stride, (long long)P);
        total += bk->rows * bk->cols;
    }
    if (total_out) *total_out = total;
    return SP_OK;
}

sp_status sp_check_create(const char *fn, const void *out, const void *m, int64_t n, int64_t min_n) {
    sp_status s;
    if ((s = sp_check_handle(fn, out, "out")) || (s = sp_check_handle(fn, m, "model"))) return s;
    if (n < min_n) return sp_fail(SP_ERR_INVALID, fn, "n = %lld < %lld", (long long)n, (long long)min_n);
    return SP_OK;
}

sp_status sp_check_load(const char *fn, const void *m, const void *host, int64_t n, int64_t P) {
    sp_status s;
    if ((s = sp_check_handle(fn, m, "model")) || (s = sp_check_handle(fn, host, "params"))) return s;
    if (n != P)
        return sp_fail(SP_ERR_INVALID, fn, "n = %lld but the model has %lld parameters", (long long)n, (long long)P);
    return SP_OK;
}

sp_status sp_check_load_tensor(const char *fn, const void *m, const void *src, int64_t offset, int64_t n,
                               int32_t dtype, int64_t P) {
    sp_status s = sp_check_copy(fn, m, "model", src, offset, n, P, "the ", " parameters");
    if (s) return s;
    if (!sp_dtype_size(dtype))
        return sp_fail(SP_ERR_INVALID, fn, "dtype %d is not SP_DTYPE_F32 (0), SP_DTYPE_F16 (1) or SP_DTYPE_BF16 (2)", dtype);
    return SP_OK;
}

sp_status sp_check_model_batch(const char *fn, const void *m, const void *b, const void *b_owner) {
    sp_status s;
    if ((s = sp_check_handle(fn, m, "model")) || (s = sp_check_handle(fn, b, "batch"))) return s;
    return sp_check_owner(fn, b_owner, m, "batch");
}

sp_status sp_check_batch_args(const char *fn, const void *m, const sp_config *c, int32_t max_batch,
                              const int32_t *tokens, int32_t B, int32_t T, sp_batch **out) {
    if (!out) return sp_fail(SP_ERR_INVALID, fn, "out is NULL");
    *out = NULL;
    sp_status s;
    if ((s = sp_check_handle(fn, m, "model")) || (s = sp_check_handle(fn, tokens, "tokens"))) return s;
    if (B < 1) return sp_fail(SP_ERR_INVALID, fn, "B = %d < 1", B);
    if (T < 2) return sp_fail(SP_ERR_INVALID, fn, "T = %d < 2 (a batch needs a next token to predict)", T);
    if (T > c->max_seq) return sp_fail(SP_ERR_INVALID, fn, "T = %d > max_seq %d", T, c->max_seq);
    if ((int64_t)B * T > max_batch)
        return sp_fail(SP_ERR_INVALID, fn, "B*T = %lld > max_batch %d of the model", (long long)B * T, max_batch);
    for (int64_t i = 0; i < (int64_t)B * T; i++) {
        int32_t id = tokens[i];
        if (id < 0 || id >= c->vocab_size)
            return sp_fail(SP_ERR_INVALID, fn, "token %d at [%lld, %lld] outside vocab %d", id, (long long)(i / T),
                           (long long)(i % T), c->vocab_size);
    }
    return SP_OK;
}

sp_status sp_check_cache_layer(const char *fn, int32_t layer, int n_layers) {
    if (layer > n_layers) return sp_fail(SP_ERR_INVALID, fn, "layer %d > n_layers %d", layer, n_layers);
    return SP_OK;
}

sp_status sp_check_sgld_params(const char *fn, const sp_sgld_params *p) {
    if (!p) return sp_fail(SP_ERR_INVALID, fn, "params is NULL");
    if (!(p->lr > 0.0f) || !isfinite(p->lr)) return sp_fail(SP_ERR_INVALID, fn, "lr %g must be finite and > 0", (double)p->lr);
    if (!(p->nbeta >= 0.0f) || !isfinite(p->nbeta))
        return sp_fail(SP_ERR_INVALID, fn, "nbeta %g must be finite and >= 0", (double)p->nbeta);
    if (!(p->gamma >= 0.0f) || !isfinite(p->gamma))
        return sp_fail(SP_ERR_INVALID, fn, "gamma %g must be finite and >= 0", (double)p->gamma);
    if (p->rmsprop != 0 && p->rmsprop != 1) return sp_fail(SP_ERR_INVALID, fn, "rmsprop %d must be 0 or 1", p->rmsprop);
    if (!(p->alpha >= 0.0f && p->alpha < 1.0f))
        return sp_fail(SP_ERR_INVALID, fn, "alpha %g outside [0, 1)", (double)p->alpha);
    if (!(p->rms_eps > 0.0f) || !isfinite(p->rms_eps))
        return sp_fail(SP_ERR_INVALID, fn, "rms_eps %g must be finite and > 0", (double)p->rms_eps);
    if (!(p->noise_scale >= 0.0f) || !isfinite(p->noise_scale))
        return sp_fail(SP_ERR_INVALID, fn, "noise_scale %g must be finite and >= 0", (double)p->noise_scale);
    return SP_OK;
}

sp_status sp_check_sgld_update(const char *fn, const void *m, int64_t P, const sp_block *blocks, int32_t n_blocks,
                               const void *rms, const void *rms_owner, int64_t rms_n, const sp_sgld_params *p,
                               int64_t *total_out) {
    int64_t total = 0;
    sp_status s;
    if ((s = sp_check_sgld_params(fn, p)) || (s = sp_check_handle(fn, m, "model")) ||
        (s = sp_check_blocks(fn, P, blocks, n_blocks, &total)))
        return s;
    if (p->rmsprop) {
        if (!rms) return sp_fail(SP_ERR_INVALID, fn, "rmsprop needs an rms buffer (got NULL)");
        if ((s = sp_check_owner(fn, rms_owner, m, "the rms buffer"))) return s;
        if (rms_n < total)
            return sp_fail(SP_ERR_INVALID, fn, "rms buffer holds %lld floats but the blocks have %lld elements",
                           (long long)rms_n, (long long)total);
    }
    *total_out = total;
    return SP_OK;
}

/* does block b hold an element in [a, e)? */
static int block_touches(const sp_block *b, int64_t a, int64_t e) {
    if (b->rows <= 0 || b->cols <= 0) return 0;
    if (b->rows == 1 || b->stride == 0) return b->offset < e && b->offset + b->cols > a;
    /* rows r with offset + r*stride + cols > a: r > (a - offset - cols) / stride */
    int64_t num = a - b->offset - b->cols;
    int64_t rmin = num < 0 ? 0 : num / b->stride + 1;
    if (rmin >= b->rows) return 0;
    return b->offset + rmin * b->stride < e;
}

sp_status sp_check_grad_request(const char *fn, const sp_config *c, const int64_t *off, const sp_grad_request *req,
                                unsigned char *touched) {
    const int L = c->n_layers, nt = SP_TENSORS(L);
    int stop = req ? req->stop_layer : 0;
    if (stop < 0 || stop > L) return sp_fail(SP_ERR_INVALID, fn, "stop_layer %d outside [0, %d]", stop, L);
    const sp_block *blocks = req ? req->blocks : NULL;
    int nb = req ? req->n_blocks : 0;
    sp_status s = sp_check_blocks(fn, off[nt], blocks, nb, NULL);
    if (s) return s;
    for (int i = 0; i < nt; i++) {
        int layer = sp_tensor_layer(L, i);
        int below_stop = layer < stop && !(stop == 0 && layer == -1);
        int want = !below_stop;
        if (nb > 0) {
            want = 0;
            for (int k = 0; k < nb && !want; k++) want = block_touches(&blocks[k], off[i], off[i + 1]);
            if (want && below_stop)
                return sp_fail(SP_ERR_INVALID, fn, "a block touches tensor %d (%s) below stop_layer %d", i,
                               i == SP_T_EMBED ? "embed_in" : "a lower layer", stop);
        }
        touched[i] = (unsigned char)want;
    }
    return SP_OK;
}

sp_status sp_check_accum_add(const char *fn, const void *a, const void *a_owner, int64_t a_n, const void *m,
                             const void *b, const void *b_owner, int64_t b_losses, int has_losses, double phi) {
    sp_status s;
    if ((s = sp_check_handle(fn, a, "accum")) || (s = sp_check_handle(fn, m, "model")) ||
        (s = sp_check_handle(fn, b, "batch")) || (s = sp_check_owner(fn, b_owner, m, "batch")) ||
        (s = sp_check_owner(fn, a_owner, m, "accum")))
        return s;
    if (b_losses != a_n)
        return sp_fail(SP_ERR_INVALID, fn, "batch holds %lld losses but the accumulator has %lld", (long long)b_losses,
                       (long long)a_n);
    if (!has_losses) return sp_fail(SP_ERR_INVALID, fn, "batch has no losses yet (run sp_forward first)");
    if (!isfinite(phi)) return sp_fail(SP_ERR_INVALID, fn, "phi %g is not finite", phi);
    return SP_OK;
}

int64_t sp_features_of(const sp_config *c) {
    int64_t L = c->n_layers, nh = c->n_heads;
    return 1 + 2 * L + 2 * L * nh;
}

int64_t sp_feature_count(const sp_config *cfg) {
    sp_enter("sp_feature_count");
    if (sp_check_config("sp_feature_count", cfg) != SP_OK) return -1;
    return sp_features_of(cfg);
}

sp_status sp_feature_name(const sp_config *cfg, int64_t k, char *buf, int32_t cap) {
    const char *fn = "sp_feature_name";
    sp_enter(fn);
    sp_status s = sp_check_config(fn, cfg);
    if (s) return s;
    int64_t F = sp_features_of(cfg), L = cfg->n_layers, nh = cfg->n_heads;
    if (k < 0 || k >= F) return sp_fail(SP_ERR_INVALID, fn, "column %lld outside [0, %lld)", (long long)k, (long long)F);
    if (!buf || cap < 1) return sp_fail(SP_ERR_INVALID, fn, "buf is NULL or cap %d < 1", cap);
    int n;
    if (k == 0) n = snprintf(buf, (size_t)cap, "entropy");
    else if (k < SP_FEAT_HEAD(L, nh)) n = snprintf(buf, (size_t)cap, "resid.l%lld", (long long)(k - SP_FEAT_RESID(L, nh)));
    else if (k < SP_FEAT_MLP(L, nh)) {
        int64_t j = k - SP_FEAT_HEAD(L, nh);
        n = snprintf(buf, (size_t)cap, "head.l%lld.h%lld", (long long)(j / nh), (long long)(j % nh));
    } else if (k < SP_FEAT_ATTENT(L, nh)) n = snprintf(buf, (size_t)cap, "mlp.l%lld", (long long)(k - SP_FEAT_MLP(L, nh)));
    else {
        int64_t j = k - SP_FEAT_ATTENT(L, nh);
        n = snprintf(buf, (size_t)cap, "attent.l%lld.h%lld", (long long)(j / nh), (long long)(j % nh));
    }
    if (n < 0 || n >= cap) return sp_fail(SP_ERR_INVALID, fn, "cap %d is too small for the name of column %lld", cap, (long long)k);
    return SP_OK;
}

sp_status sp_check_features(const char *fn, const void *m, const sp_config *c, const void *b, const void *b_owner,
                            int32_t B, int32_t T, const float *feat_out, int64_t n_feat_total) {
    sp_status s = sp_check_model_batch(fn, m, b, b_owner);
    if (s) return s;
    if (!feat_out) return sp_fail(SP_ERR_INVALID, fn, "feat_out is NULL");
    int64_t F = sp_features_of(c), want = (int64_t)B * (T - 1) * F;
    if (n_feat_total != want)
        return sp_fail(SP_ERR_INVALID, fn, "n_feat_total = %lld but the batch needs B*(T-1)*F = %d*%d*%lld = %lld floats",
                       (long long)n_feat_total, B, T - 1, (long long)F, (long long)want);
    return SP_OK;
}

sp_status sp_check_noise(const char *fn, int64_t first, int64_t n, const float *out) {
    if (n < 0) return sp_fail(SP_ERR_INVALID, fn, "n = %lld < 0", (long long)n);
    if (first < 0) return sp_fail(SP_ERR_INVALID, fn, "first = %lld < 0", (long long)first);
    if (n > 0 && !out) return sp_fail(SP_ERR_INVALID, fn, "out is NULL");
    return SP_OK;
}

/* ---------------------------------------------------------------- noise */

/* The host side of the noise (spectro.h sp_noise): the same loop in both libraries, on the calling
 * thread (a build with -fopenmp would spread a long range over OpenMP threads; the CPU backend no
 * longer uses OpenMP, see docs/native.md "Threads"). */
sp_status sp_noise(uint64_t seed, uint32_t stream, uint64_t step, int64_t first, int64_t n, float *host_out) {
    const char *fn = "sp_noise";
    sp_enter(fn);
    sp_status s = sp_check_noise(fn, first, n, host_out);
    if (s || n == 0) return s;
    /* one Philox block serves 4 consecutive elements: loop over the blocks the range touches */
    int64_t g0 = first >> 2, g1 = (first + n - 1) >> 2;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 65536)
#endif
    for (int64_t g = g0; g <= g1; g++) {
        float xi[4];
        sp_noise_block(seed, stream, step, (uint64_t)g, xi);
        for (int q = 0; q < 4; q++) {
            int64_t e = g * 4 + q;
            if (e >= first && e < first + n) host_out[e - first] = xi[q];
        }
    }
    return SP_OK;
}
