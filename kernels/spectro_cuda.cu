/*
 * spectro_cuda.cu -- the ABI of native/include/spectro.h on CUDA (libspectro_cuda.so): errors,
 * library, layout, and the lifecycle of models, parameters, blocks and batches. The forward /
 * backward orchestration is in forward_backward.cu, buffers / SGLD / noise / accumulators in
 * sgld_accum.cu (abi.cuh: what they share); the kernels are in ops.cu, attention*.cu and gemm.cu.
 * See docs/cuda.md.
 *
 * Every ABI call: clears the error, selects the model's device, runs on the model's stream and
 * synchronises before returning (so a failing kernel is reported by the call that launched it).
 */
#include "abi.cuh"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
/* ------------------------------------------------------------------ errors */
static __thread char g_err[2048];
static __thread const char *g_fn = "spectro";

sp_status sp_set_error(sp_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return st;
}
void sp_set_fn(const char *fn) { g_fn = fn; g_err[0] = 0; }
const char *sp_fn(void) { return g_fn; }

sp_status sp_cuda_fail(cudaError_t e, const char *what, const char *file, int line) {
    cudaGetLastError(); /* clear a non-sticky error */
    sp_status st = (e == cudaErrorMemoryAllocation) ? SP_ERR_OOM : SP_ERR_INTERNAL;
    const char *base = strrchr(file, '/');
    return sp_set_error(st, "%s: CUDA error %d %s (%s) in %s at %s:%d", g_fn, (int)e, cudaGetErrorName(e),
                        cudaGetErrorString(e), what, base ? base + 1 : file, line);
}

/* ------------------------------------------------------------------ library */
extern "C" int32_t sp_abi_version(void) { return SP_ABI_VERSION; }
extern "C" const char *sp_backend_name(void) { return "cuda"; }
extern "C" const char *sp_last_error(void) { return g_err; }

static sp_status check_device(int device, int *cc_major, int *cc_minor, char *name, size_t name_cap) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return sp_set_error(SP_ERR_UNAVAILABLE, "%s: no CUDA device: cudaGetDeviceCount returned %d (%s: %s)",
                            g_fn, (int)e, cudaGetErrorName(e), cudaGetErrorString(e));
    }
    if (count <= 0) return sp_set_error(SP_ERR_UNAVAILABLE, "%s: no CUDA device: cudaGetDeviceCount found 0 devices", g_fn);
    if (device < 0 || device >= count)
        return sp_set_error(SP_ERR_INVALID, "%s: CUDA device %d does not exist (%d device(s))", g_fn, device, count);
    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return sp_set_error(SP_ERR_UNAVAILABLE, "%s: cudaGetDeviceProperties(%d) returned %d (%s)", g_fn, device, (int)e,
                            cudaGetErrorString(e));
    }
    if (prop.major < 8)
        return sp_set_error(SP_ERR_UNAVAILABLE, "%s: CUDA device %d (%s) has compute capability %d.%d; spectro needs >= 8.0",
                            g_fn, device, prop.name, prop.major, prop.minor);
    if (cc_major) *cc_major = prop.major;
    if (cc_minor) *cc_minor = prop.minor;
    if (name) snprintf(name, name_cap, "%s", prop.name);
    e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaFree(0);   /* creates the context: catches driver problems here */
    if (e != cudaSuccess) {
        cudaGetLastError();
        return sp_set_error(SP_ERR_UNAVAILABLE, "%s: cannot create a context on CUDA device %d: %s (%s)", g_fn, device,
                            cudaGetErrorName(e), cudaGetErrorString(e));
    }
    return SP_OK;
}

extern "C" sp_status sp_backend_probe(void) {
    ENTER("sp_backend_probe");
    return check_device(0, NULL, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ layout */
extern "C" sp_status sp_config_validate(const sp_config *c) {
    const char *fn = "sp_config_validate";
    if (!c) return INVALID("%s: config is NULL", fn);
    /* the same limits as the CPU backend, so that both agree on what is a valid model */
    if (c->vocab_size < 1 || c->vocab_size > (1 << 24))
        return INVALID("%s: vocab_size %d outside [1, 16777216]", fn, c->vocab_size);
    if (c->d_model < 1 || c->d_model > 65536) return INVALID("%s: d_model %d outside [1, 65536]", fn, c->d_model);
    if (c->n_layers < 1 || c->n_layers > 4096) return INVALID("%s: n_layers %d outside [1, 4096]", fn, c->n_layers);
    if (c->n_heads < 1 || c->d_model % c->n_heads != 0)
        return INVALID("%s: n_heads %d must be >= 1 and divide d_model %d", fn, c->n_heads, c->d_model);
    if (c->d_ff < 1 || c->d_ff > (1 << 20)) return INVALID("%s: d_ff %d outside [1, 1048576]", fn, c->d_ff);
    int hd = c->d_model / c->n_heads;
    if (c->rotary_dims < 0 || c->rotary_dims > hd || c->rotary_dims % 2 != 0)
        return INVALID("%s: rotary_dims %d must be even and in [0, head_dim %d]", fn, c->rotary_dims, hd);
    if (c->max_seq < 2 || c->max_seq > (1 << 20)) return INVALID("%s: max_seq %d outside [2, 1048576]", fn, c->max_seq);
    if (!(c->rotary_base > 0.0f) || !isfinite(c->rotary_base))
        return INVALID("%s: rotary_base %g must be > 0", fn, (double)c->rotary_base);
    if (!(c->ln_eps > 0.0f) || !isfinite(c->ln_eps)) return INVALID("%s: ln_eps %g must be > 0", fn, (double)c->ln_eps);
    return SP_OK;
}

static int64_t tensor_numel(const sp_config *c, int i) {
    int64_t d = c->d_model, f = c->d_ff, V = c->vocab_size;
    int L = c->n_layers;
    if (i == T_EMBED || i == T_OUT(L)) return V * d;
    if (i == T_LNFW(L) || i == T_LNFB(L)) return d;
    switch ((i - 1) % 12) {
        case K_LN1W: case K_LN1B: case K_LN2W: case K_LN2B: case K_DENSEB: case K_PROJB: return d;
        case K_QKVW: return 3 * d * d;
        case K_QKVB: return 3 * d;
        case K_DENSEW: return d * d;
        case K_FCW: return f * d;
        case K_FCB: return f;
        case K_PROJW: return d * f;
    }
    return 0;
}

extern "C" int64_t sp_param_count(const sp_config *c) {
    sp_set_fn("sp_param_count");
    if (sp_config_validate(c) != SP_OK) return -1;
    int64_t tot = 0;
    for (int i = 0; i < SP_TENSORS(c->n_layers); i++) tot += tensor_numel(c, i);
    return tot;
}

extern "C" sp_status sp_param_offsets(const sp_config *c, int64_t *offsets, int32_t n) {
    ENTER("sp_param_offsets");
    TRY(sp_config_validate(c));
    if (!offsets) return INVALID("sp_param_offsets: offsets is NULL");
    int nt = SP_TENSORS(c->n_layers);
    if (n < nt) return INVALID("sp_param_offsets: n = %d < SP_TENSORS(%d) = %d", n, c->n_layers, nt);
    int64_t o = 0;
    for (int i = 0; i < nt; i++) { offsets[i] = o; o += tensor_numel(c, i); }
    return SP_OK;
}

/* ------------------------------------------------------------------ model */
static sp_status dalloc(sp_model *m, void **p, int64_t bytes, const char *what) {
    *p = NULL;
    if (bytes <= 0) return SP_OK;
    if (m->nallocs >= MAX_ALLOCS) return sp_set_error(SP_ERR_INTERNAL, "%s: too many allocations", g_fn);
    cudaError_t e = cudaMalloc(p, (size_t)bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *p = NULL;
        return sp_set_error(SP_ERR_OOM, "%s: cannot allocate %.1f MiB of device memory for %s (%s); %.1f MiB already "
                            "allocated by this model (max_batch %d)", g_fn, bytes / 1048576.0, what,
                            cudaGetErrorString(e), m->dev_bytes / 1048576.0, m->Nmax);
    }
    m->allocs[m->nallocs++] = *p;
    m->dev_bytes += bytes;
    return SP_OK;
}
#define DALLOC(ptr, bytes, what) TRY(dalloc(m, (void **)&(ptr), (int64_t)(bytes), what))

static void model_free(sp_model *m) {
    if (!m) return;
    cudaSetDevice(m->device);
    if (m->st) cudaStreamSynchronize(m->st);
    for (int i = 0; i < m->nallocs; i++) cudaFree(m->allocs[i]);
    if (m->d_blocks) cudaFree(m->d_blocks);
    if (m->d_bstart) cudaFree(m->d_bstart);
    free(m->h_last);
    if (m->gemm) sp_gemm_ctx_destroy(m->gemm);
    prof_free(m);
    if (m->st) cudaStreamDestroy(m->st);
    cudaGetLastError();
    free(m->off);
    free(m);
}

static sp_status model_alloc(sp_model *m) {
    const int64_t N = m->Nmax, d = m->d, f = m->f, L = m->L, V = m->V, nh = m->nh;
    const int64_t F = 4, H = 2;
    DALLOC(m->w, F * m->P, "the weights w");
    DALLOC(m->anchor, F * m->P, "the anchor w*");
    DALLOC(m->grad, F * m->P, "the gradients");
    if (m->use_bf16) DALLOC(m->wb, H * m->P, "the bf16 weight copy");
    int half = m->rd / 2;
    if (half > 0) {
        DALLOC(m->cos_t, F * m->cfg.max_seq * half, "rotary tables");
        DALLOC(m->sin_t, F * m->cfg.max_seq * half, "rotary tables");
    }
    DALLOC(m->resid, F * (L + 1) * N * d, "residual stream activations");
    DALLOC(m->ln1, F * L * N * d, "layernorm activations");
    DALLOC(m->ln2, F * L * N * d, "layernorm activations");
    DALLOC(m->atty, F * L * N * d, "attention outputs");
    DALLOC(m->qkv, F * L * N * 3 * d, "qkv activations");
    DALLOC(m->h, F * L * N * f, "mlp activations");
    DALLOC(m->ln1_mean, F * L * N, "layernorm statistics");
    DALLOC(m->ln1_rstd, F * L * N, "layernorm statistics");
    DALLOC(m->ln2_mean, F * L * N, "layernorm statistics");
    DALLOC(m->ln2_rstd, F * L * N, "layernorm statistics");
    DALLOC(m->lse, F * L * N * nh, "attention statistics");
    DALLOC(m->lnf, F * N * d, "final layernorm activations");
    DALLOC(m->lnf_mean, F * N, "layernorm statistics");
    DALLOC(m->lnf_rstd, F * N, "layernorm statistics");
    DALLOC(m->dres, F * N * d, "backward scratch");
    DALLOC(m->dln1, F * N * d, "backward scratch");
    DALLOC(m->dln2, F * N * d, "backward scratch");
    DALLOC(m->datty, F * N * d, "backward scratch");
    DALLOC(m->dqkv, F * N * 3 * d, "backward scratch");
    DALLOC(m->dh, F * N * f, "backward scratch");
    if (!m->use_bf16) DALLOC(m->gel, F * N * f, "gelu scratch");
    DALLOC(m->Dbuf, F * N * nh, "attention backward scratch");
    int64_t redw = 3 * d > f ? 3 * d : f;     /* widest column sum: qkv bias (3d) or fc bias (f) */
    DALLOC(m->red, F * 128 * (redw > 2 * d ? redw : 2 * d), "reduction scratch");
    DALLOC(m->logits, F * (int64_t)m->Rc * V, "classifier logits chunk");
    if (m->use_bf16) {
        int64_t wide = 3 * d > f ? 3 * d : f;
        DALLOC(m->dlog_b, H * (int64_t)m->Rc * V, "classifier bf16 chunk");
        DALLOC(m->sA, H * N * wide, "bf16 operand scratch");
        DALLOC(m->sB, H * N * wide, "bf16 operand scratch");
        DALLOC(m->sR, H * N * d, "bf16 operand scratch");
    }
    DALLOC(m->flag, sizeof(int), "flags");
    return SP_OK;
}

extern "C" sp_status sp_model_create(const sp_config *cfg, const sp_options *opt, sp_model **out) {
    ENTER("sp_model_create");
    if (!out) return INVALID("sp_model_create: out is NULL");
    *out = NULL;
    if (!opt) return INVALID("sp_model_create: options is NULL");
    TRY(sp_config_validate(cfg));
    sp_set_fn("sp_model_create");
    if (opt->precision != SP_PRECISION_FP32 && opt->precision != SP_PRECISION_BF16)
        return INVALID("sp_model_create: precision %d is neither SP_PRECISION_FP32 (0) nor SP_PRECISION_BF16 (1)", opt->precision);
    if (opt->max_batch < 2 || opt->max_batch > (1 << 24))
        return INVALID("sp_model_create: max_batch %d outside [2, 16777216] (B*T tokens)", opt->max_batch);
    int hd = cfg->d_model / cfg->n_heads;
    if (hd > attention_max_head_dim())
        return INVALID("sp_model_create: head dim %d > %d is not supported by the CUDA backend", hd, attention_max_head_dim());
    char name[256] = "";
    int ccM = 0, ccm = 0;
    TRY(check_device(opt->device, &ccM, &ccm, name, sizeof name));
    sp_model *m = (sp_model *)calloc(1, sizeof(sp_model));
    if (!m) return sp_set_error(SP_ERR_OOM, "sp_model_create: out of host memory");
    m->cfg = *cfg;
    m->device = opt->device;
    m->use_bf16 = opt->precision == SP_PRECISION_BF16;
    m->Nmax = opt->max_batch;
    m->L = cfg->n_layers; m->d = cfg->d_model; m->nh = cfg->n_heads; m->hd = hd; m->f = cfg->d_ff;
    m->V = cfg->vocab_size; m->rd = cfg->rotary_dims;
    m->P = sp_param_count(cfg);
    sp_set_fn("sp_model_create");
    /* classifier chunk: at most ~512 MiB of fp32 logits, a multiple of 64 rows */
    int64_t rc = (512LL << 20) / (4LL * m->V);
    if (rc >= 64) rc = rc / 64 * 64;
    if (rc < 1) rc = 1;
    const char *rows_env = getenv("SPECTRO_CLASSIFIER_ROWS");   /* testing: force small chunks */
    if (rows_env && atoll(rows_env) > 0) rc = atoll(rows_env);
    if (rc > m->Nmax) rc = m->Nmax;
    m->Rc = (int)rc;
    int nt = SP_TENSORS(m->L);
    m->off = (int64_t *)malloc(sizeof(int64_t) * (nt + 1));
    if (!m->off) { free(m); return sp_set_error(SP_ERR_OOM, "sp_model_create: out of host memory"); }
    sp_param_offsets(cfg, m->off, nt);
    m->off[nt] = m->P;
    sp_set_fn("sp_model_create");
    sp_status s;
    cudaError_t e = cudaStreamCreateWithFlags(&m->st, cudaStreamNonBlocking);
    if (e != cudaSuccess) { m->st = NULL; s = sp_cuda_fail(e, "cudaStreamCreate", __FILE__, __LINE__); model_free(m); return s; }
    s = model_alloc(m);
    if (s != SP_OK) { model_free(m); return s; }
    /* rotary tables in double precision: angle = t * base^(-2i/rd) */
    int half = m->rd / 2;
    if (half > 0) {
        size_t nelem = (size_t)cfg->max_seq * half;
        float *hc = (float *)malloc(nelem * sizeof(float)), *hs = (float *)malloc(nelem * sizeof(float));
        if (!hc || !hs) { free(hc); free(hs); model_free(m); return sp_set_error(SP_ERR_OOM, "sp_model_create: out of host memory"); }
        for (int t = 0; t < cfg->max_seq; t++)
            for (int i = 0; i < half; i++) {
                double inv = pow((double)cfg->rotary_base, -2.0 * i / (double)m->rd);
                double a = (double)t * inv;
                hc[(size_t)t * half + i] = (float)cos(a);
                hs[(size_t)t * half + i] = (float)sin(a);
            }
        cudaError_t e1 = cudaMemcpy(m->cos_t, hc, nelem * sizeof(float), cudaMemcpyHostToDevice);
        cudaError_t e2 = cudaMemcpy(m->sin_t, hs, nelem * sizeof(float), cudaMemcpyHostToDevice);
        free(hc); free(hs);
        if (e1 != cudaSuccess || e2 != cudaSuccess) {
            s = sp_cuda_fail(e1 != cudaSuccess ? e1 : e2, "cudaMemcpy(rotary tables)", __FILE__, __LINE__);
            model_free(m);
            return s;
        }
    }
    e = cudaMemsetAsync(m->grad, 0, sizeof(float) * m->P, m->st);
    if (e == cudaSuccess) e = cudaMemsetAsync(m->w, 0, sizeof(float) * m->P, m->st);
    if (e == cudaSuccess) e = cudaMemsetAsync(m->anchor, 0, sizeof(float) * m->P, m->st);
    if (e == cudaSuccess && m->wb) e = cudaMemsetAsync(m->wb, 0, 2 * m->P, m->st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(m->st);
    if (e != cudaSuccess) { s = sp_cuda_fail(e, "cudaMemset", __FILE__, __LINE__); model_free(m); return s; }
    s = sp_gemm_ctx_create(m->device, &m->gemm);
    if (s != SP_OK) { model_free(m); return s; }
    snprintf(m->describe, sizeof m->describe, "device %d %s (cc %d.%d), precision %s, gemm %s, %.1f MiB device memory, classifier chunk %d rows",
             m->device, name, ccM, ccm, m->use_bf16 ? "bf16" : "fp32", sp_gemm_ctx_describe(m->gemm),
             m->dev_bytes / 1048576.0, m->Rc);
    *out = m;
    return SP_OK;
}

/* Extra (CUDA only, not in spectro.h): device, precision and GEMM path of a model. */
extern "C" const char *sp_cuda_describe(const sp_model *m) { return m ? m->describe : ""; }

extern "C" sp_status sp_model_destroy(sp_model *m) {
    ENTER("sp_model_destroy");
    model_free(m);
    return SP_OK;
}

static sp_status refresh_bf16(sp_model *m, int64_t offset, int64_t n) {
    if (!m->use_bf16) return SP_OK;
    return convert_bf16(m->st, m->wb + offset, m->w + offset, n);
}

static sp_status check_range(const char *fn, int64_t offset, int64_t n, int64_t total, const void *host) {
    if (!host && n > 0) return INVALID("%s: host pointer is NULL", fn);
    if (offset < 0 || n < 0 || offset > total || n > total - offset)
        return INVALID("%s: range [%lld, %lld) outside [0, %lld)", fn, (long long)offset, (long long)(offset + n), (long long)total);
    return SP_OK;
}

sp_status copy_range(const char *fn, sp_model *m, float *dev, int64_t total, int64_t offset, int64_t n, float *host_out,
                     const float *host_in) {
    TRY(check_range(fn, offset, n, total, host_out ? (const void *)host_out : (const void *)host_in));
    if (n == 0) return SP_OK;
    if (host_in) {
        CK(cudaMemcpyAsync(dev + offset, host_in, sizeof(float) * n, cudaMemcpyHostToDevice, m->st));
        if (dev == m->w) TRY(refresh_bf16(m, offset, n));
    } else {
        CK(cudaMemcpyAsync(host_out, dev + offset, sizeof(float) * n, cudaMemcpyDeviceToHost, m->st));
    }
    SYNC(m);
    return SP_OK;
}

extern "C" sp_status sp_model_load(sp_model *m, const float *host, int64_t n) {
    MODEL_ENTER("sp_model_load", m);
    if (!host) return INVALID("sp_model_load: host_params is NULL");
    if (n != m->P) return INVALID("sp_model_load: n = %lld but the model has %lld parameters", (long long)n, (long long)m->P);
    CK(cudaMemcpyAsync(m->w, host, sizeof(float) * n, cudaMemcpyHostToDevice, m->st));
    CK(cudaMemcpyAsync(m->anchor, m->w, sizeof(float) * n, cudaMemcpyDeviceToDevice, m->st));
    TRY(refresh_bf16(m, 0, n));
    SYNC(m);
    return SP_OK;
}

extern "C" sp_status sp_params_read(sp_model *m, int64_t offset, int64_t n, float *host) {
    MODEL_ENTER("sp_params_read", m);
    return copy_range("sp_params_read", m, m->w, m->P, offset, n, host, NULL);
}

extern "C" sp_status sp_params_write(sp_model *m, int64_t offset, int64_t n, const float *host) {
    MODEL_ENTER("sp_params_write", m);
    return copy_range("sp_params_write", m, m->w, m->P, offset, n, NULL, host);
}

extern "C" sp_status sp_grads_read(sp_model *m, int64_t offset, int64_t n, float *host) {
    MODEL_ENTER("sp_grads_read", m);
    return copy_range("sp_grads_read", m, m->grad, m->P, offset, n, host, NULL);
}

/* ------------------------------------------------------------------ blocks */
sp_status validate_blocks(const char *fn, const sp_model *m, const sp_block *blocks, int32_t nb, int64_t *total) {
    if (nb < 0) return INVALID("%s: n_blocks %d < 0", fn, nb);
    if (nb > 0 && !blocks) return INVALID("%s: blocks is NULL", fn);
    int64_t tot = 0;
    for (int i = 0; i < nb; i++) {
        const sp_block *b = &blocks[i];
        if (b->offset < 0 || b->rows < 0 || b->cols < 0)
            return INVALID("%s: block %d (offset %lld, rows %lld, cols %lld) has a negative field", fn, i,
                           (long long)b->offset, (long long)b->rows, (long long)b->cols);
        if (b->rows == 0 || b->cols == 0) continue;
        if (b->rows > 1 && b->stride < b->cols)
            return INVALID("%s: block %d has stride %lld < cols %lld (rows would overlap)", fn, i, (long long)b->stride,
                           (long long)b->cols);
        if (b->rows > m->P || b->cols > m->P || b->offset >= m->P || (b->rows > 1 && b->stride > m->P))
            return INVALID("%s: block %d (offset %lld, rows %lld, cols %lld, stride %lld) reaches outside the %lld parameters",
                           fn, i, (long long)b->offset, (long long)b->rows, (long long)b->cols, (long long)b->stride,
                           (long long)m->P);
        int64_t last = b->offset + (b->rows > 1 ? (b->rows - 1) * b->stride : 0) + b->cols;  /* one past the end */
        if (last > m->P)
            return INVALID("%s: block %d (offset %lld, rows %lld, cols %lld, stride %lld) ends at %lld beyond the %lld parameters",
                           fn, i, (long long)b->offset, (long long)b->rows, (long long)b->cols, (long long)b->stride,
                           (long long)last, (long long)m->P);
        tot += b->rows * b->cols;
    }
    *total = tot;
    return SP_OK;
}

/* uploads blocks and their element starts to device scratch */
sp_status upload_blocks(sp_model *m, const sp_block *blocks, int nb) {
    /* a chain calls sp_sgld_update with the same blocks every step: skip the upload and its sync */
    if (m->h_last && nb == m->n_last && memcmp(m->h_last, blocks, sizeof(sp_block) * nb) == 0) return SP_OK;
    m->n_last = -1;
    if (nb > m->blocks_cap) {
        if (m->d_blocks) cudaFree(m->d_blocks);
        if (m->d_bstart) cudaFree(m->d_bstart);
        m->d_blocks = NULL; m->d_bstart = NULL; m->blocks_cap = 0;
        int cap = nb < 64 ? 64 : nb;
        CK(cudaMalloc(&m->d_blocks, sizeof(sp_block) * cap));
        CK(cudaMalloc(&m->d_bstart, sizeof(int64_t) * (cap + 1)));
        m->blocks_cap = cap;
    }
    sp_block *hb = (sp_block *)malloc(sizeof(sp_block) * (nb + 1));
    int64_t *hs = (int64_t *)malloc(sizeof(int64_t) * (nb + 1));
    if (!hb || !hs) { free(hb); free(hs); return sp_set_error(SP_ERR_OOM, "%s: out of host memory", g_fn); }
    int64_t acc = 0;
    for (int i = 0; i < nb; i++) {
        hb[i] = blocks[i];
        if (hb[i].rows == 1) hb[i].stride = hb[i].cols;
        hs[i] = acc;
        if (blocks[i].rows > 0 && blocks[i].cols > 0) acc += blocks[i].rows * blocks[i].cols;
        else { hb[i].rows = 0; hb[i].cols = 1; }  /* empty: never selected by the search (start == next start) */
    }
    hs[nb] = acc;
    cudaError_t e1 = cudaMemcpyAsync(m->d_blocks, hb, sizeof(sp_block) * nb, cudaMemcpyHostToDevice, m->st);
    cudaError_t e2 = cudaMemcpyAsync(m->d_bstart, hs, sizeof(int64_t) * (nb + 1), cudaMemcpyHostToDevice, m->st);
    cudaError_t e3 = cudaStreamSynchronize(m->st);   /* host arrays are freed below */
    free(hb); free(hs);
    CK(e1); CK(e2); CK(e3);
    sp_block *hl = (sp_block *)realloc(m->h_last, sizeof(sp_block) * (nb + 1));
    if (hl) {
        m->h_last = hl;
        memcpy(hl, blocks, sizeof(sp_block) * nb);
        m->n_last = nb;
    }
    return SP_OK;
}

extern "C" sp_status sp_params_reset(sp_model *m, const sp_block *blocks, int32_t nb) {
    MODEL_ENTER("sp_params_reset", m);
    int64_t total = 0;
    TRY(validate_blocks("sp_params_reset", m, blocks, nb, &total));
    if (total == 0) return SP_OK;
    TRY(upload_blocks(m, blocks, nb));
    TRY(reset_blocks(m->st, m->w, m->wb, m->anchor, m->d_blocks, m->d_bstart, nb, total));
    SYNC(m);
    return SP_OK;
}

/* ------------------------------------------------------------------ batches */
extern "C" sp_status sp_batch_create(sp_model *m, const int32_t *tokens, int32_t B, int32_t T, sp_batch **out) {
    MODEL_ENTER("sp_batch_create", m);
    if (!out) return INVALID("sp_batch_create: out is NULL");
    *out = NULL;
    if (!tokens) return INVALID("sp_batch_create: tokens is NULL");
    if (B < 1) return INVALID("sp_batch_create: B = %d must be >= 1", B);
    if (T < 2) return INVALID("sp_batch_create: T = %d must be >= 2", T);
    if (T > m->cfg.max_seq) return INVALID("sp_batch_create: T = %d > max_seq %d", T, m->cfg.max_seq);
    if ((int64_t)B * T > m->Nmax)
        return INVALID("sp_batch_create: B*T = %lld > max_batch %d of the model", (long long)B * T, m->Nmax);
    for (int64_t i = 0; i < (int64_t)B * T; i++)
        if (tokens[i] < 0 || tokens[i] >= m->V)
            return INVALID("sp_batch_create: token %d at [%lld, %lld] outside vocab %d", tokens[i], (long long)(i / T),
                           (long long)(i % T), m->V);
    sp_batch *b = (sp_batch *)calloc(1, sizeof(sp_batch));
    if (!b) return sp_set_error(SP_ERR_OOM, "sp_batch_create: out of host memory");
    b->m = m; b->B = B; b->T = T; b->cache_layer = -1;
    cudaError_t e = cudaMalloc(&b->tokens, sizeof(int32_t) * B * T);
    if (e == cudaSuccess) e = cudaMalloc(&b->losses, sizeof(float) * (int64_t)B * (T - 1));
    if (e == cudaSuccess) e = cudaMemcpyAsync(b->tokens, tokens, sizeof(int32_t) * B * T, cudaMemcpyHostToDevice, m->st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(m->st);
    if (e != cudaSuccess) {
        sp_status s = sp_cuda_fail(e, "batch allocation/upload", __FILE__, __LINE__);
        cudaFree(b->tokens); cudaFree(b->losses); free(b);
        return s;
    }
    *out = b;
    return SP_OK;
}

extern "C" sp_status sp_batch_destroy(sp_batch *b) {
    ENTER("sp_batch_destroy");
    if (!b) return SP_OK;
    cudaSetDevice(b->m->device);
    cudaStreamSynchronize(b->m->st);
    cudaFree(b->tokens); cudaFree(b->losses); cudaFree(b->cache);
    cudaGetLastError();
    free(b);
    return SP_OK;
}

extern "C" int64_t sp_batch_cache_bytes(const sp_config *cfg, int32_t B, int32_t T) {
    if (!cfg || B < 1 || T < 1 || cfg->d_model <= 0) return -1;
    return (int64_t)B * T * cfg->d_model * (int64_t)sizeof(float);
}

extern "C" sp_status sp_memory_available(sp_model *m, int64_t *bytes_out) {
    MODEL_ENTER("sp_memory_available", m);
    if (!bytes_out) return INVALID("sp_memory_available: bytes_out is NULL");
    size_t free_b = 0, total_b = 0;
    CK(cudaMemGetInfo(&free_b, &total_b));
    *bytes_out = (int64_t)free_b;
    return SP_OK;
}

sp_status check_batch(const char *fn, sp_model *m, sp_batch *b) {
    if (!b) return INVALID("%s: batch is NULL", fn);
    if (b->m != m) return INVALID("%s: the batch belongs to another model", fn);
    return SP_OK;
}
