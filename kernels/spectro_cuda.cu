/*
 * spectro_cuda.cu -- the ABI of native/include/spectro.h on CUDA (libspectro_cuda.so).
 * Handles, validation, memory, and the orchestration of the forward / backward / SGLD; the kernels
 * are in ops.cu, attention.cu and gemm.cu. See docs/cuda.md.
 *
 * Every ABI call: clears the error, selects the model's device, runs on the model's stream and
 * synchronises before returning (so a failing kernel is reported by the call that launched it).
 */
#include "common.cuh"
#include "philox_cuda.cuh"
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

#define ENTER(name) sp_set_fn(name)
#define INVALID(...) sp_set_error(SP_ERR_INVALID, __VA_ARGS__)

/* ------------------------------------------------------------------ handles */
#define MAX_ALLOCS 64
struct sp_model {
    sp_config cfg;
    int device, use_bf16, Nmax, Rc;
    int L, d, nh, hd, f, V, rd;
    int64_t P;
    int64_t *off;                 /* [SP_TENSORS(L) + 1], last = P */
    cudaStream_t st;
    sp_gemm_ctx *gemm;
    void *allocs[MAX_ALLOCS];
    int nallocs;
    int64_t dev_bytes;
    float *w, *anchor, *grad;
    bf16 *wb;                     /* bf16 copy of w (bf16 mode) */
    float *cos_t, *sin_t;         /* [max_seq, rd/2] */
    /* activations saved for the backward, per layer */
    float *resid, *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *lse, *ln2, *ln2_mean, *ln2_rstd, *h;
    float *lnf, *lnf_mean, *lnf_rstd;
    /* scratch */
    float *dres, *dln1, *dln2, *datty, *dqkv, *dh, *gel, *Dbuf, *red, *logits;
    bf16 *dlog_b, *sA, *sB, *sR;
    int *flag;
    sp_block *d_blocks;
    int64_t *d_bstart;
    int blocks_cap;
    sp_block *h_last;             /* host copy of the blocks now in d_blocks (upload skipped when equal) */
    int n_last;
    char describe[800];
};

struct sp_batch {
    sp_model *m;
    int B, T;
    int32_t *tokens;
    float *losses;                /* [B*(T-1)] of the last forward */
    int has_losses;
    int cache_layer;              /* -1: none */
    float *cache;                 /* [B*T, d] */
};

struct sp_buffer { sp_model *m; int64_t n; float *d; };
struct sp_accum { sp_model *m; int64_t n; double *sum_l, *sum_phil; };

/* tensor indices */
#define T_EMBED 0
#define T_L(l, k) (1 + 12 * (l) + (k))
enum { K_LN1W = 0, K_LN1B, K_LN2W, K_LN2B, K_QKVW, K_QKVB, K_DENSEW, K_DENSEB, K_FCW, K_FCB, K_PROJW, K_PROJB };
#define T_LNFW(L) (1 + 12 * (L))
#define T_LNFB(L) (2 + 12 * (L))
#define T_OUT(L) (3 + 12 * (L))

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

/* layer of a tensor: -1 embed_in, L for the final LN and embed_out */
static int tensor_layer(int L, int i) {
    if (i == T_EMBED) return -1;
    if (i >= T_LNFW(L)) return L;
    return (i - 1) / 12;
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

#define MODEL_ENTER(name, m) do { ENTER(name); if (!(m)) return INVALID("%s: model is NULL", name); \
    cudaError_t e0_ = cudaSetDevice((m)->device); if (e0_ != cudaSuccess) return sp_cuda_fail(e0_, "cudaSetDevice", __FILE__, __LINE__); } while (0)
#define SYNC(m) CK(cudaStreamSynchronize((m)->st))

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
    TRY(check_range("sp_params_read", offset, n, m->P, host));
    if (n == 0) return SP_OK;
    CK(cudaMemcpyAsync(host, m->w + offset, sizeof(float) * n, cudaMemcpyDeviceToHost, m->st));
    SYNC(m);
    return SP_OK;
}

extern "C" sp_status sp_params_write(sp_model *m, int64_t offset, int64_t n, const float *host) {
    MODEL_ENTER("sp_params_write", m);
    TRY(check_range("sp_params_write", offset, n, m->P, host));
    if (n == 0) return SP_OK;
    CK(cudaMemcpyAsync(m->w + offset, host, sizeof(float) * n, cudaMemcpyHostToDevice, m->st));
    TRY(refresh_bf16(m, offset, n));
    SYNC(m);
    return SP_OK;
}

extern "C" sp_status sp_grads_read(sp_model *m, int64_t offset, int64_t n, float *host) {
    MODEL_ENTER("sp_grads_read", m);
    TRY(check_range("sp_grads_read", offset, n, m->P, host));
    if (n == 0) return SP_OK;
    CK(cudaMemcpyAsync(host, m->grad + offset, sizeof(float) * n, cudaMemcpyDeviceToHost, m->st));
    SYNC(m);
    return SP_OK;
}

/* ------------------------------------------------------------------ blocks */
static sp_status validate_blocks(const char *fn, const sp_model *m, const sp_block *blocks, int32_t nb, int64_t *total) {
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

/* does block b hold an element in [a, e)? */
static int block_touches(const sp_block *b, int64_t a, int64_t e) {
    if (b->rows <= 0 || b->cols <= 0) return 0;
    if (b->rows == 1 || b->stride == 0) return b->offset < e && b->offset + b->cols > a;
    /* rows r with offset + r*stride + cols > a: r > (a - offset - cols) / stride */
    int64_t num = a - b->offset - b->cols;
    int64_t rmin;
    if (num < 0) rmin = 0;
    else rmin = num / b->stride + 1;
    if (rmin >= b->rows) return 0;
    return b->offset + rmin * b->stride < e;
}

/* uploads blocks and their element starts to device scratch */
static sp_status upload_blocks(sp_model *m, const sp_block *blocks, int nb) {
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

/* ------------------------------------------------------------------ forward */
#define ACT(ptr, l, per) ((ptr) + (int64_t)(l) * (per))

static inline const void *wop(const sp_model *m, int idx) {     /* GEMM operand of a weight */
    return m->use_bf16 ? (const void *)(m->wb + m->off[idx]) : (const void *)(m->w + m->off[idx]);
}
static inline const float *wf(const sp_model *m, int idx) { return m->w + m->off[idx]; }
static inline float *gf(const sp_model *m, int idx) { return m->grad + m->off[idx]; }

/* Y[N,out] (beta)= X[N,in] W[out,in]^T + bias */
static sp_status mm_fwd(sp_model *m, float *Y, const void *X, const void *W, const float *bias, int N, int in, int out, float beta) {
    return sp_gemm(m->gemm, m->st, 1, 0, out, N, in, W, in, X, in, beta, Y, out, bias, m->use_bf16);
}
/* dX[N,in] = dY[N,out] W[out,in] */
static sp_status mm_dx(sp_model *m, float *dX, const void *dY, const void *W, int N, int in, int out) {
    return sp_gemm(m->gemm, m->st, 0, 0, in, N, out, W, in, dY, out, 0.0f, dX, in, NULL, m->use_bf16);
}
/* dW[out,in] (beta)= dY[N,out]^T X[N,in] */
static sp_status mm_dw(sp_model *m, float *dW, const void *dY, const void *X, int N, int in, int out, float beta) {
    return sp_gemm(m->gemm, m->st, 0, 1, in, out, N, X, in, dY, out, beta, dW, in, NULL, m->use_bf16);
}
/* GEMM operand of an fp32 activation: itself (fp32) or its bf16 copy in `slot` */
static sp_status act_op(sp_model *m, const void **op, const float *x, bf16 *slot, int64_t n) {
    if (!m->use_bf16) { *op = x; return SP_OK; }
    TRY(convert_bf16(m->st, slot, x, n));
    *op = slot;
    return SP_OK;
}

static sp_status layer_forward(sp_model *m, int l, int B, int T) {
    const int N = B * T, d = m->d, f = m->f;
    const int64_t Nd = (int64_t)m->Nmax * d;
    const int base = T_L(l, 0);
    float *x = ACT(m->resid, l, Nd), *xn = ACT(m->resid, l + 1, Nd);
    float *ln1 = ACT(m->ln1, l, Nd), *ln2 = ACT(m->ln2, l, Nd), *atty = ACT(m->atty, l, Nd);
    float *qkv = ACT(m->qkv, l, 3 * Nd), *h = ACT(m->h, l, (int64_t)m->Nmax * f);
    float *lse = ACT(m->lse, l, (int64_t)m->Nmax * m->nh);
    const float eps = m->cfg.ln_eps;
    const void *op;
    /* attention branch */
    TRY(layernorm_forward(m->st, ln1, m->use_bf16 ? m->sA : NULL, ACT(m->ln1_mean, l, m->Nmax), ACT(m->ln1_rstd, l, m->Nmax),
                          x, wf(m, base + K_LN1W), wf(m, base + K_LN1B), N, d, eps));
    op = m->use_bf16 ? (const void *)m->sA : (const void *)ln1;
    TRY(mm_fwd(m, qkv, op, wop(m, base + K_QKVW), wf(m, base + K_QKVB), N, d, 3 * d, 0.0f));
    TRY(rotary_forward(m->st, qkv, m->cos_t, m->sin_t, N, T, m->nh, m->hd, m->rd));
    TRY((m->use_bf16 ? attention_forward_tc : attention_forward)(m->st, atty, lse, qkv, B, T, m->nh, m->hd));
    CK(cudaMemcpyAsync(xn, x, sizeof(float) * N * d, cudaMemcpyDeviceToDevice, m->st));
    TRY(act_op(m, &op, atty, m->sA, (int64_t)N * d));
    TRY(mm_fwd(m, xn, op, wop(m, base + K_DENSEW), wf(m, base + K_DENSEB), N, d, d, 1.0f));
    /* mlp branch (parallel residual: LN2 reads x, not x + attn) */
    TRY(layernorm_forward(m->st, ln2, m->use_bf16 ? m->sA : NULL, ACT(m->ln2_mean, l, m->Nmax), ACT(m->ln2_rstd, l, m->Nmax),
                          x, wf(m, base + K_LN2W), wf(m, base + K_LN2B), N, d, eps));
    op = m->use_bf16 ? (const void *)m->sA : (const void *)ln2;
    TRY(mm_fwd(m, h, op, wop(m, base + K_FCW), wf(m, base + K_FCB), N, d, f, 0.0f));
    if (m->use_bf16) { TRY(gelu_forward(m->st, NULL, m->sB, h, (int64_t)N * f)); op = m->sB; }
    else { TRY(gelu_forward(m->st, m->gel, NULL, h, (int64_t)N * f)); op = m->gel; }
    TRY(mm_fwd(m, xn, op, wop(m, base + K_PROJW), wf(m, base + K_PROJB), N, f, d, 1.0f));
    return SP_OK;
}

/* Runs embedding (or the cache) .. final LN. */
static sp_status forward_trunk(sp_model *m, sp_batch *b, int use_cache) {
    const int N = b->B * b->T, d = m->d;
    const int64_t Nd = (int64_t)m->Nmax * d;
    int start = 0;
    if (use_cache && b->cache_layer >= 0) {
        start = b->cache_layer;
        CK(cudaMemcpyAsync(ACT(m->resid, start, Nd), b->cache, sizeof(float) * N * d, cudaMemcpyDeviceToDevice, m->st));
    } else {
        TRY(encoder_forward(m->st, m->resid, b->tokens, wf(m, T_EMBED), N, d));
    }
    for (int l = start; l < m->L; l++) TRY(layer_forward(m, l, b->B, b->T));
    TRY(layernorm_forward(m->st, m->lnf, NULL, m->lnf_mean, m->lnf_rstd, ACT(m->resid, m->L, Nd),
                          wf(m, T_LNFW(m->L)), wf(m, T_LNFB(m->L)), N, d, m->cfg.ln_eps));
    return SP_OK;
}

/* Chunked classifier + cross entropy; with grads: d(embed_out) when need_out, d(lnf) into dln1 when need_dx. */
static sp_status classifier(sp_model *m, sp_batch *b, int grads, int need_out, int need_dx) {
    const int B = b->B, T = b->T, N = B * T, d = m->d, V = m->V;
    const void *X = m->lnf;
    if (m->use_bf16) { TRY(convert_bf16(m->st, m->sB, m->lnf, (int64_t)N * d)); X = m->sB; }
    const size_t esz = m->use_bf16 ? 2 : 4;
    const int iout = T_OUT(m->L);
    const float dscale = 1.0f / (float)((int64_t)B * (T - 1));
    for (int row0 = 0; row0 < N; row0 += m->Rc) {
        int R = N - row0 < m->Rc ? N - row0 : m->Rc;
        const void *Xr = (const char *)X + (size_t)row0 * d * esz;
        TRY(mm_fwd(m, m->logits, Xr, wop(m, iout), NULL, R, d, V, 0.0f));
        if (!grads) {
            TRY(fused_classifier(m->st, m->logits, NULL, NULL, b->losses, b->tokens, row0, R, V, T, dscale));
            continue;
        }
        TRY(fused_classifier(m->st, m->logits, m->use_bf16 ? NULL : m->logits, m->use_bf16 ? m->dlog_b : NULL, b->losses,
                             b->tokens, row0, R, V, T, dscale));
        const void *dl = m->use_bf16 ? (const void *)m->dlog_b : (const void *)m->logits;
        if (need_out) TRY(mm_dw(m, gf(m, iout), dl, Xr, R, d, V, row0 > 0 ? 1.0f : 0.0f));
        if (need_dx) TRY(mm_dx(m, m->dln1 + (int64_t)row0 * d, dl, wop(m, iout), R, d, V));
    }
    b->has_losses = 1;
    return SP_OK;
}

/* copies losses to the host (optional), mean in double, NaN check */
static sp_status finish_losses(sp_model *m, sp_batch *b, float *losses_out, double *mean_out) {
    int64_t n = (int64_t)b->B * (b->T - 1);
    float *h = losses_out;
    float *tmp = NULL;
    if (!h) {
        tmp = (float *)malloc(sizeof(float) * n);
        if (!tmp) return sp_set_error(SP_ERR_OOM, "%s: out of host memory", g_fn);
        h = tmp;
    }
    cudaError_t e = cudaMemcpyAsync(h, b->losses, sizeof(float) * n, cudaMemcpyDeviceToHost, m->st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(m->st);
    if (e != cudaSuccess) { free(tmp); return sp_cuda_fail(e, "cudaMemcpy(losses)", __FILE__, __LINE__); }
    double s = 0.0;
    int64_t bad = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(h[i]) && bad < 0) bad = i;
        s += h[i];
    }
    if (mean_out) *mean_out = s / (double)n;
    free(tmp);
    if (bad >= 0)
        return sp_set_error(SP_ERR_NUMERIC, "%s: loss %g at [%lld, %lld] is not finite", g_fn, (double)h[bad],
                            (long long)(bad / (b->T - 1)), (long long)(bad % (b->T - 1)));
    return SP_OK;
}

static sp_status check_batch(const char *fn, sp_model *m, sp_batch *b) {
    if (!b) return INVALID("%s: batch is NULL", fn);
    if (b->m != m) return INVALID("%s: the batch belongs to another model", fn);
    return SP_OK;
}

extern "C" sp_status sp_batch_cache_at(sp_model *m, sp_batch *b, int32_t layer) {
    MODEL_ENTER("sp_batch_cache_at", m);
    TRY(check_batch("sp_batch_cache_at", m, b));
    if (layer > m->L) return INVALID("sp_batch_cache_at: layer %d > n_layers %d", layer, m->L);
    if (layer < 0) {
        SYNC(m);
        if (b->cache) cudaFree(b->cache);
        b->cache = NULL;
        b->cache_layer = -1;
        return SP_OK;
    }
    const int N = b->B * b->T, d = m->d;
    const int64_t Nd = (int64_t)m->Nmax * d;
    if (!b->cache) {
        cudaError_t e = cudaMalloc(&b->cache, sizeof(float) * N * d);
        if (e != cudaSuccess) {
            cudaGetLastError();
            b->cache = NULL;
            return sp_set_error(SP_ERR_OOM, "sp_batch_cache_at: cannot allocate %.1f MiB for the cache (%s)",
                                sizeof(float) * (double)N * d / 1048576.0, cudaGetErrorString(e));
        }
    }
    b->cache_layer = -1;   /* recompute from the embedding with the current weights */
    TRY(encoder_forward(m->st, m->resid, b->tokens, wf(m, T_EMBED), N, d));
    for (int l = 0; l < layer; l++) TRY(layer_forward(m, l, b->B, b->T));
    CK(cudaMemcpyAsync(b->cache, ACT(m->resid, layer, Nd), sizeof(float) * N * d, cudaMemcpyDeviceToDevice, m->st));
    SYNC(m);
    b->cache_layer = layer;
    return SP_OK;
}

extern "C" sp_status sp_forward(sp_model *m, sp_batch *b, float *losses_out, double *mean_out) {
    MODEL_ENTER("sp_forward", m);
    TRY(check_batch("sp_forward", m, b));
    TRY(forward_trunk(m, b, 1));
    TRY(classifier(m, b, 0, 0, 0));
    return finish_losses(m, b, losses_out, mean_out);
}

/* ------------------------------------------------------------------ backward */
static sp_status layer_backward(sp_model *m, int l, int B, int T, const unsigned char *need, int nb) {
    const int N = B * T, d = m->d, f = m->f;
    const int64_t Nd = (int64_t)m->Nmax * d;
    const int base = T_L(l, 0);
#define NEED(k) (need[base + (k)])
    const int mlp_ln = nb || NEED(K_LN2W) || NEED(K_LN2B);
    const int mlp_in = mlp_ln || NEED(K_FCW) || NEED(K_FCB);
    const int att_ln = nb || NEED(K_LN1W) || NEED(K_LN1B);
    const int att_in = att_ln || NEED(K_QKVW) || NEED(K_QKVB);
    float *x = ACT(m->resid, l, Nd);
    float *ln1 = ACT(m->ln1, l, Nd), *ln2 = ACT(m->ln2, l, Nd), *atty = ACT(m->atty, l, Nd);
    float *qkv = ACT(m->qkv, l, 3 * Nd), *h = ACT(m->h, l, (int64_t)m->Nmax * f);
    float *lse = ACT(m->lse, l, (int64_t)m->Nmax * m->nh);
    const void *dres, *op, *op2;
    TRY(act_op(m, &dres, m->dres, m->sR, (int64_t)N * d));

    /* mlp: x_{l+1} += proj(gelu(fc(ln2(x)))) */
    if (NEED(K_PROJW)) {
        if (m->use_bf16) { TRY(gelu_forward(m->st, NULL, m->sA, h, (int64_t)N * f)); op = m->sA; }
        else { TRY(gelu_forward(m->st, m->gel, NULL, h, (int64_t)N * f)); op = m->gel; }
        TRY(mm_dw(m, gf(m, base + K_PROJW), dres, op, N, f, d, 0.0f));
    }
    if (NEED(K_PROJB)) TRY(colsum(m->st, gf(m, base + K_PROJB), m->dres, N, d, m->red));
    if (mlp_in) {
        TRY(mm_dx(m, m->dh, dres, wop(m, base + K_PROJW), N, f, d));
        TRY(gelu_backward(m->st, m->dh, h, (int64_t)N * f));
        TRY(act_op(m, &op, m->dh, m->sA, (int64_t)N * f));
        if (NEED(K_FCW)) {
            TRY(act_op(m, &op2, ln2, m->sB, (int64_t)N * d));
            TRY(mm_dw(m, gf(m, base + K_FCW), op, op2, N, d, f, 0.0f));
        }
        if (NEED(K_FCB)) TRY(colsum(m->st, gf(m, base + K_FCB), m->dh, N, f, m->red));
        if (mlp_ln) TRY(mm_dx(m, m->dln2, op, wop(m, base + K_FCW), N, d, f));
    }
    /* attention: x_{l+1} += dense(attn(rotary(qkv(ln1(x))))) */
    if (NEED(K_DENSEW)) {
        TRY(act_op(m, &op, atty, m->sA, (int64_t)N * d));
        TRY(mm_dw(m, gf(m, base + K_DENSEW), dres, op, N, d, d, 0.0f));
    }
    if (NEED(K_DENSEB)) TRY(colsum(m->st, gf(m, base + K_DENSEB), m->dres, N, d, m->red));
    if (att_in) {
        TRY(mm_dx(m, m->datty, dres, wop(m, base + K_DENSEW), N, d, d));
        TRY((m->use_bf16 ? attention_backward_tc : attention_backward)(m->st, m->dqkv, m->datty, qkv, atty, lse, m->Dbuf, B, T, m->nh, m->hd));
        TRY(rotary_backward(m->st, m->dqkv, m->cos_t, m->sin_t, N, T, m->nh, m->hd, m->rd));
        TRY(act_op(m, &op, m->dqkv, m->sA, (int64_t)N * 3 * d));
        if (NEED(K_QKVW)) {
            TRY(act_op(m, &op2, ln1, m->sB, (int64_t)N * d));
            TRY(mm_dw(m, gf(m, base + K_QKVW), op, op2, N, d, 3 * d, 0.0f));
        }
        if (NEED(K_QKVB)) TRY(colsum(m->st, gf(m, base + K_QKVB), m->dqkv, N, 3 * d, m->red));
        if (att_ln) TRY(mm_dx(m, m->dln1, op, wop(m, base + K_QKVW), N, d, 3 * d));
    }
    /* layernorms; dres becomes d x_l = d x_{l+1} + LN2'(..) + LN1'(..) when layers below need it */
    if (mlp_ln)
        TRY(layernorm_backward(m->st, nb ? m->dres : NULL, NEED(K_LN2W) ? gf(m, base + K_LN2W) : NULL,
                               NEED(K_LN2B) ? gf(m, base + K_LN2B) : NULL, m->dln2, x, ACT(m->ln2_mean, l, m->Nmax),
                               ACT(m->ln2_rstd, l, m->Nmax), wf(m, base + K_LN2W), N, d, m->red));
    if (att_ln)
        TRY(layernorm_backward(m->st, nb ? m->dres : NULL, NEED(K_LN1W) ? gf(m, base + K_LN1W) : NULL,
                               NEED(K_LN1B) ? gf(m, base + K_LN1B) : NULL, m->dln1, x, ACT(m->ln1_mean, l, m->Nmax),
                               ACT(m->ln1_rstd, l, m->Nmax), wf(m, base + K_LN1W), N, d, m->red));
#undef NEED
    return SP_OK;
}

extern "C" sp_status sp_forward_backward(sp_model *m, sp_batch *b, const sp_grad_request *req, float *losses_out,
                                         double *mean_out) {
    MODEL_ENTER("sp_forward_backward", m);
    TRY(check_batch("sp_forward_backward", m, b));
    const int L = m->L, nt = SP_TENSORS(L);
    int stop = req ? req->stop_layer : 0;
    if (stop < 0 || stop > L) return INVALID("sp_forward_backward: stop_layer %d outside [0, %d]", stop, L);
    const sp_block *blocks = req ? req->blocks : NULL;
    int nbk = req ? req->n_blocks : 0;
    if (!blocks && nbk != 0) return INVALID("sp_forward_backward: blocks is NULL but n_blocks = %d", nbk);
    int64_t total = 0;
    TRY(validate_blocks("sp_forward_backward", m, blocks, nbk, &total));
    unsigned char *need = (unsigned char *)calloc(nt, 1);
    if (!need) return sp_set_error(SP_ERR_OOM, "sp_forward_backward: out of host memory");
    int lo = L;                                    /* lowest layer the backward enters; -1: down to embed_in */
    for (int i = 0; i < nt; i++) {
        int layer = tensor_layer(L, i);
        int below_stop = layer < stop && !(stop == 0 && layer == -1);
        int want = !below_stop;
        if (nbk > 0) {
            want = 0;
            for (int k = 0; k < nbk && !want; k++) want = block_touches(&blocks[k], m->off[i], m->off[i + 1]);
            if (want && below_stop) {
                free(need);
                return INVALID("sp_forward_backward: a block touches tensor %d (%s) below stop_layer %d", i,
                               i == T_EMBED ? "embed_in" : "a lower layer", stop);
            }
        }
        if (want) { need[i] = 1; if (layer < lo) lo = layer; }
    }
    /* the batch's cache is used only when the backward stays at or above it (else: a full forward) */
    int use_cache = b->cache_layer >= 0 && b->cache_layer <= (lo < 0 ? 0 : lo);
    sp_status s = forward_trunk(m, b, use_cache);
    const int N = b->B * b->T, d = m->d;
    const int64_t Nd = (int64_t)m->Nmax * d;
    const int need_lnf = need[T_LNFW(L)] || need[T_LNFB(L)];
    const int below = lo < L;                      /* a layer or embed_in needs d x_L */
    (void)total;
    if (s == SP_OK) s = classifier(m, b, 1, need[T_OUT(L)], need_lnf || below);
    if (s == SP_OK && (need_lnf || below)) {
        if (below) s = (cudaMemsetAsync(m->dres, 0, sizeof(float) * N * d, m->st) == cudaSuccess) ? SP_OK
                       : sp_cuda_fail(cudaGetLastError(), "cudaMemset(dres)", __FILE__, __LINE__);
        if (s == SP_OK)
            s = layernorm_backward(m->st, below ? m->dres : NULL, need[T_LNFW(L)] ? gf(m, T_LNFW(L)) : NULL,
                                   need[T_LNFB(L)] ? gf(m, T_LNFB(L)) : NULL, m->dln1, ACT(m->resid, L, Nd), m->lnf_mean,
                                   m->lnf_rstd, wf(m, T_LNFW(L)), N, d, m->red);
    }
    if (below) {
        int lmin = lo < 0 ? 0 : lo;
        for (int l = L - 1; l >= lmin && s == SP_OK; l--) s = layer_backward(m, l, b->B, b->T, need, lo < l);
        if (s == SP_OK && need[T_EMBED]) {
            float *g = gf(m, T_EMBED);
            cudaError_t e = cudaMemsetAsync(g, 0, sizeof(float) * (int64_t)m->V * d, m->st);
            s = e == cudaSuccess ? encoder_backward(m->st, g, b->tokens, m->dres, N, d)
                                 : sp_cuda_fail(e, "cudaMemset(d embed_in)", __FILE__, __LINE__);
        }
    }
    free(need);
    TRY(s);
    return finish_losses(m, b, losses_out, mean_out);
}

/* ------------------------------------------------------------------ buffers */
extern "C" sp_status sp_buffer_create(sp_model *m, int64_t n, sp_buffer **out) {
    MODEL_ENTER("sp_buffer_create", m);
    if (!out) return INVALID("sp_buffer_create: out is NULL");
    *out = NULL;
    if (n < 0) return INVALID("sp_buffer_create: n = %lld < 0", (long long)n);
    sp_buffer *buf = (sp_buffer *)calloc(1, sizeof(sp_buffer));
    if (!buf) return sp_set_error(SP_ERR_OOM, "sp_buffer_create: out of host memory");
    buf->m = m; buf->n = n;
    if (n > 0) {
        cudaError_t e = cudaMalloc(&buf->d, sizeof(float) * n);
        if (e == cudaSuccess) e = cudaMemsetAsync(buf->d, 0, sizeof(float) * n, m->st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(m->st);
        if (e != cudaSuccess) {
            sp_status s = sp_cuda_fail(e, "sp_buffer_create allocation", __FILE__, __LINE__);
            cudaFree(buf->d); free(buf);
            return s;
        }
    }
    *out = buf;
    return SP_OK;
}

extern "C" sp_status sp_buffer_destroy(sp_buffer *buf) {
    ENTER("sp_buffer_destroy");
    if (!buf) return SP_OK;
    cudaSetDevice(buf->m->device);
    cudaStreamSynchronize(buf->m->st);
    cudaFree(buf->d);
    cudaGetLastError();
    free(buf);
    return SP_OK;
}

extern "C" sp_status sp_buffer_read(sp_buffer *buf, int64_t offset, int64_t n, float *host) {
    ENTER("sp_buffer_read");
    if (!buf) return INVALID("sp_buffer_read: buffer is NULL");
    CK(cudaSetDevice(buf->m->device));
    TRY(check_range("sp_buffer_read", offset, n, buf->n, host));
    if (n == 0) return SP_OK;
    CK(cudaMemcpyAsync(host, buf->d + offset, sizeof(float) * n, cudaMemcpyDeviceToHost, buf->m->st));
    SYNC(buf->m);
    return SP_OK;
}

extern "C" sp_status sp_buffer_write(sp_buffer *buf, int64_t offset, int64_t n, const float *host) {
    ENTER("sp_buffer_write");
    if (!buf) return INVALID("sp_buffer_write: buffer is NULL");
    CK(cudaSetDevice(buf->m->device));
    TRY(check_range("sp_buffer_write", offset, n, buf->n, host));
    if (n == 0) return SP_OK;
    CK(cudaMemcpyAsync(buf->d + offset, host, sizeof(float) * n, cudaMemcpyHostToDevice, buf->m->st));
    SYNC(buf->m);
    return SP_OK;
}

/* ------------------------------------------------------------------ SGLD */
extern "C" sp_status sp_sgld_update(sp_model *m, const sp_block *blocks, int32_t nb, sp_buffer *rms,
                                    const sp_sgld_params *p) {
    MODEL_ENTER("sp_sgld_update", m);
    if (!p) return INVALID("sp_sgld_update: params is NULL");
    if (!isfinite(p->lr) || p->lr < 0.f) return INVALID("sp_sgld_update: lr %g must be finite and >= 0", (double)p->lr);
    if (!isfinite(p->nbeta) || !isfinite(p->gamma) || !isfinite(p->noise_scale))
        return INVALID("sp_sgld_update: nbeta %g, gamma %g, noise_scale %g must be finite", (double)p->nbeta,
                       (double)p->gamma, (double)p->noise_scale);
    if (p->rmsprop != 0 && p->rmsprop != 1) return INVALID("sp_sgld_update: rmsprop %d must be 0 or 1", p->rmsprop);
    int64_t total = 0;
    TRY(validate_blocks("sp_sgld_update", m, blocks, nb, &total));
    if (p->rmsprop) {
        if (!(p->alpha >= 0.f && p->alpha <= 1.f)) return INVALID("sp_sgld_update: alpha %g outside [0, 1]", (double)p->alpha);
        if (!(p->rms_eps > 0.f) || !isfinite(p->rms_eps)) return INVALID("sp_sgld_update: rms_eps %g must be > 0", (double)p->rms_eps);
        if (!rms) return INVALID("sp_sgld_update: rmsprop needs the rms buffer");
        if (rms->m != m) return INVALID("sp_sgld_update: the rms buffer belongs to another model");
        if (rms->n < total)
            return INVALID("sp_sgld_update: rms buffer holds %lld floats but the blocks have %lld elements",
                           (long long)rms->n, (long long)total);
    }
    if (total == 0) return SP_OK;
    TRY(upload_blocks(m, blocks, nb));
    CK(cudaMemsetAsync(m->flag, 0, sizeof(int), m->st));
    sgld_args a;
    a.w = m->w; a.anchor = m->anchor; a.grad = m->grad; a.wb = m->wb; a.rms = p->rmsprop ? rms->d : NULL;
    a.blocks = m->d_blocks; a.bstart = m->d_bstart; a.nb = nb; a.total = total; a.p = *p; a.nonfinite = m->flag;
    TRY(sgld_update(m->st, &a));
    int flag = 0;
    CK(cudaMemcpyAsync(&flag, m->flag, sizeof(int), cudaMemcpyDeviceToHost, m->st));
    SYNC(m);
    if (flag) return sp_set_error(SP_ERR_NUMERIC, "sp_sgld_update: a parameter became NaN or inf (step %llu, stream %u)",
                                  (unsigned long long)p->step, p->stream);
    return SP_OK;
}

extern "C" sp_status sp_noise(uint64_t seed, uint32_t stream, uint64_t step, int64_t first, int64_t n, float *host_out) {
    ENTER("sp_noise");
    if (n < 0 || first < 0) return INVALID("sp_noise: first %lld and n %lld must be >= 0", (long long)first, (long long)n);
    if (n > 0 && !host_out) return INVALID("sp_noise: out is NULL");
    int64_t i = 0;
    while (i < n) {
        int64_t e = first + i;
        float q[4];
        sp_philox_normal4(seed, stream, step, (uint64_t)(e >> 2), q);
        for (int j = (int)(e & 3); j < 4 && i < n; j++, i++) host_out[i] = q[j];
    }
    return SP_OK;
}

/* ------------------------------------------------------------------ accumulation */
extern "C" sp_status sp_accum_create(sp_model *m, int64_t n, sp_accum **out) {
    MODEL_ENTER("sp_accum_create", m);
    if (!out) return INVALID("sp_accum_create: out is NULL");
    *out = NULL;
    if (n < 1) return INVALID("sp_accum_create: n = %lld must be >= 1", (long long)n);
    sp_accum *a = (sp_accum *)calloc(1, sizeof(sp_accum));
    if (!a) return sp_set_error(SP_ERR_OOM, "sp_accum_create: out of host memory");
    a->m = m; a->n = n;
    cudaError_t e = cudaMalloc(&a->sum_l, sizeof(double) * n);
    if (e == cudaSuccess) e = cudaMalloc(&a->sum_phil, sizeof(double) * n);
    if (e == cudaSuccess) e = cudaMemsetAsync(a->sum_l, 0, sizeof(double) * n, m->st);
    if (e == cudaSuccess) e = cudaMemsetAsync(a->sum_phil, 0, sizeof(double) * n, m->st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(m->st);
    if (e != cudaSuccess) {
        sp_status s = sp_cuda_fail(e, "sp_accum_create allocation", __FILE__, __LINE__);
        cudaFree(a->sum_l); cudaFree(a->sum_phil); free(a);
        return s;
    }
    *out = a;
    return SP_OK;
}

extern "C" sp_status sp_accum_destroy(sp_accum *a) {
    ENTER("sp_accum_destroy");
    if (!a) return SP_OK;
    cudaSetDevice(a->m->device);
    cudaStreamSynchronize(a->m->st);
    cudaFree(a->sum_l); cudaFree(a->sum_phil);
    cudaGetLastError();
    free(a);
    return SP_OK;
}

extern "C" sp_status sp_accum_add(sp_accum *a, sp_model *m, sp_batch *b, double phi) {
    MODEL_ENTER("sp_accum_add", m);
    if (!a) return INVALID("sp_accum_add: accum is NULL");
    TRY(check_batch("sp_accum_add", m, b));
    if (a->m != m) return INVALID("sp_accum_add: the accumulator belongs to another model");
    int64_t n = (int64_t)b->B * (b->T - 1);
    if (n != a->n) return INVALID("sp_accum_add: the batch has %lld losses but the accumulator %lld", (long long)n, (long long)a->n);
    if (!b->has_losses) return INVALID("sp_accum_add: no forward has run on this batch yet");
    if (!isfinite(phi)) return INVALID("sp_accum_add: phi %g is not finite", phi);
    TRY(accum_add(m->st, a->sum_l, a->sum_phil, b->losses, n, phi));
    SYNC(m);
    return SP_OK;
}

extern "C" sp_status sp_accum_read(sp_accum *a, double *host_sum_l, double *host_sum_phil) {
    ENTER("sp_accum_read");
    if (!a) return INVALID("sp_accum_read: accum is NULL");
    CK(cudaSetDevice(a->m->device));
    if (host_sum_l) CK(cudaMemcpyAsync(host_sum_l, a->sum_l, sizeof(double) * a->n, cudaMemcpyDeviceToHost, a->m->st));
    if (host_sum_phil) CK(cudaMemcpyAsync(host_sum_phil, a->sum_phil, sizeof(double) * a->n, cudaMemcpyDeviceToHost, a->m->st));
    SYNC(a->m);
    return SP_OK;
}

extern "C" sp_status sp_accum_reset(sp_accum *a) {
    ENTER("sp_accum_reset");
    if (!a) return INVALID("sp_accum_reset: accum is NULL");
    CK(cudaSetDevice(a->m->device));
    CK(cudaMemsetAsync(a->sum_l, 0, sizeof(double) * a->n, a->m->st));
    CK(cudaMemsetAsync(a->sum_phil, 0, sizeof(double) * a->n, a->m->st));
    SYNC(a->m);
    return SP_OK;
}
