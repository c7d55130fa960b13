/*
 * model.cu -- the model ABI of the CUDA backend (the counterpart of native/src/model.c): model,
 * parameter and batch handles, blocks, forward, forward+backward (restriction aware) and the
 * per-batch residual cache, over the launchers of ops.cu, attention*.cu and gemm.cu. Buffers, SGLD,
 * noise and accumulators are in sgld.cu, the library and device probe in backend.cu (abi.cuh: what
 * they share); the argument checks are native/src/abi_common.c's. See docs/cuda.md.
 *
 * Every ABI call: clears the error, checks its arguments (abi_common.c, before any CUDA call),
 * selects the model's device, runs on the model's stream and synchronises before returning (so a
 * failing kernel is reported by the call that launched it).
 */
#include "abi.cuh"
#include "convert.h"  /* native/src/convert.h: the checkpoint dtype conversion of both backends */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* ------------------------------------------------------------------ model */
static sp_status dalloc(sp_model *m, void **p, int64_t bytes, const char *what) {
    *p = NULL;
    if (bytes <= 0) return SP_OK;
    if (m->nallocs >= MAX_ALLOCS) return sp_set_error(SP_ERR_INTERNAL, "%s: too many allocations", sp_fn());
    cudaError_t e = cudaMalloc(p, (size_t)bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *p = NULL;
        return sp_set_error(SP_ERR_OOM, "%s: cannot allocate %.1f MiB of device memory for %s (%s); %.1f MiB already "
                            "allocated by this model (max_batch %d)", sp_fn(), bytes / 1048576.0, what,
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
    TRY(sp_check_model_args("sp_model_create", cfg, opt, out));
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
    int nt = SP_TENSORS(m->L);
    m->off = (int64_t *)malloc(sizeof(int64_t) * (nt + 1));
    if (!m->off) { free(m); return sp_set_error(SP_ERR_OOM, "sp_model_create: out of host memory"); }
    sp_layout(cfg, m->off);
    m->P = m->off[nt];
    /* classifier chunk: at most ~512 MiB of fp32 logits, a multiple of 64 rows */
    int64_t rc = (512LL << 20) / (4LL * m->V);
    if (rc >= 64) rc = rc / 64 * 64;
    if (rc < 1) rc = 1;
    const char *rows_env = getenv("SPECTRO_CLASSIFIER_ROWS");   /* testing: force small chunks */
    if (rows_env && atoll(rows_env) > 0) rc = atoll(rows_env);
    if (rc > m->Nmax) rc = m->Nmax;
    m->Rc = (int)rc;
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

sp_status copy_range(sp_model *m, float *dev, int64_t offset, int64_t n, float *host_out, const float *host_in) {
    if (n == 0) return SP_OK;
    CK(cudaSetDevice(m->device));
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
    ENTER("sp_model_load");
    TRY(sp_check_load("sp_model_load", m, host, n, m ? m->P : 0));
    SET_DEVICE(m);
    CK(cudaMemcpyAsync(m->w, host, sizeof(float) * n, cudaMemcpyHostToDevice, m->st));
    if (m->anchor) CK(cudaMemcpyAsync(m->anchor, m->w, sizeof(float) * n, cudaMemcpyDeviceToDevice, m->st));
    TRY(refresh_bf16(m, 0, n));
    SYNC(m);
    return SP_OK;
}

/* host staging for sp_model_load_tensor: converted a chunk at a time, never the whole model */
#define LOAD_CHUNK_FLOATS ((int64_t)1 << 22)

extern "C" sp_status sp_model_load_tensor(sp_model *m, int64_t offset, int64_t n, int32_t dtype, const void *src) {
    ENTER("sp_model_load_tensor");
    TRY(sp_check_load_tensor("sp_model_load_tensor", m, src, offset, n, dtype, m ? m->P : 0));
    SET_DEVICE(m);
    if (n == 0) return SP_OK;
    int64_t cap = n < LOAD_CHUNK_FLOATS ? n : LOAD_CHUNK_FLOATS;
    float *stage = (float *)malloc(sizeof(float) * (size_t)cap);
    if (!stage) return sp_set_error(SP_ERR_OOM, "sp_model_load_tensor: out of host memory (%.0f MiB staging)", cap * 4.0 / 1048576.0);
    const unsigned char *s = (const unsigned char *)src;
    cudaError_t e = cudaSuccess;
    for (int64_t done = 0; done < n && e == cudaSuccess; done += cap) {
        int64_t k = n - done < cap ? n - done : cap;
        sp_convert_to_f32(stage, s + done * sp_dtype_size(dtype), dtype, k);
        /* on the model's stream, waited for: the next chunk overwrites `stage` */
        e = cudaMemcpyAsync(m->w + offset + done, stage, sizeof(float) * (size_t)k, cudaMemcpyHostToDevice, m->st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(m->st);
    }
    free(stage);
    CK(e);
    if (m->anchor) CK(cudaMemcpyAsync(m->anchor + offset, m->w + offset, sizeof(float) * n, cudaMemcpyDeviceToDevice, m->st));
    TRY(refresh_bf16(m, offset, n));
    SYNC(m);
    return SP_OK;
}

sp_status ensure_anchor(sp_model *m) {
    if (m->anchor) return SP_OK;
    DALLOC(m->anchor, sizeof(float) * m->P, "the anchor w* (a copy of the weights that sampling needs)");
    CK(cudaMemcpyAsync(m->anchor, m->w, sizeof(float) * m->P, cudaMemcpyDeviceToDevice, m->st));
    return SP_OK;
}

extern "C" sp_status sp_params_read(sp_model *m, int64_t offset, int64_t n, float *host) {
    ENTER("sp_params_read");
    TRY(sp_check_copy("sp_params_read", m, "model", host, offset, n, m ? m->P : 0, "the ", " parameters"));
    return copy_range(m, m->w, offset, n, host, NULL);
}

extern "C" sp_status sp_params_write(sp_model *m, int64_t offset, int64_t n, const float *host) {
    ENTER("sp_params_write");
    TRY(sp_check_copy("sp_params_write", m, "model", host, offset, n, m ? m->P : 0, "the ", " parameters"));
    if (n > 0) {
        SET_DEVICE(m);
        TRY(ensure_anchor(m));   /* w* keeps w as loaded */
    }
    return copy_range(m, m->w, offset, n, NULL, host);
}

extern "C" sp_status sp_grads_read(sp_model *m, int64_t offset, int64_t n, float *host) {
    ENTER("sp_grads_read");
    TRY(sp_check_copy("sp_grads_read", m, "model", host, offset, n, m ? m->P : 0, "the ", " parameters"));
    return copy_range(m, m->grad, offset, n, host, NULL);
}

/* ------------------------------------------------------------------ blocks */
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
    if (!hb || !hs) { free(hb); free(hs); return sp_set_error(SP_ERR_OOM, "%s: out of host memory", sp_fn()); }
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
    ENTER("sp_params_reset");
    int64_t total = 0;
    TRY(sp_check_handle("sp_params_reset", m, "model"));
    TRY(sp_check_blocks("sp_params_reset", m->P, blocks, nb, &total));
    SET_DEVICE(m);
    if (total == 0) return SP_OK;
    TRY(ensure_anchor(m));
    TRY(upload_blocks(m, blocks, nb));
    TRY(reset_blocks(m->st, m->w, m->wb, m->anchor, m->d_blocks, m->d_bstart, nb, total));
    SYNC(m);
    return SP_OK;
}

/* ------------------------------------------------------------------ batches */
extern "C" sp_status sp_batch_create(sp_model *m, const int32_t *tokens, int32_t B, int32_t T, sp_batch **out) {
    ENTER("sp_batch_create");
    TRY(sp_check_batch_args("sp_batch_create", m, m ? &m->cfg : NULL, m ? m->Nmax : 0, tokens, B, T, out));
    SET_DEVICE(m);
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

extern "C" sp_status sp_memory_available(sp_model *m, int64_t *bytes_out) {
    ENTER("sp_memory_available");
    TRY(sp_check_handle("sp_memory_available", m, "model"));
    TRY(sp_check_handle("sp_memory_available", bytes_out, "bytes_out"));
    SET_DEVICE(m);
    size_t free_b = 0, total_b = 0;
    CK(cudaMemGetInfo(&free_b, &total_b));
    *bytes_out = (int64_t)free_b;
    return SP_OK;
}

sp_status enter_model_batch(const char *fn, sp_model *m, sp_batch *b) {
    sp_enter(fn);
    TRY(sp_check_model_batch(fn, m, b, b ? b->m : NULL));
    SET_DEVICE(m);
    return SP_OK;
}

/* ------------------------------------------------------------------ forward */
#define ACT(ptr, l, per) ((ptr) + (int64_t)(l) * (per))

static inline const void *wop(const sp_model *m, int idx) {     /* GEMM operand of a weight */
    return m->use_bf16 ? (const void *)(m->wb + m->off[idx]) : (const void *)(m->w + m->off[idx]);
}
static inline const float *wf(const sp_model *m, int idx) { return m->w + m->off[idx]; }
static inline float *gf(const sp_model *m, int idx) { return m->grad + m->off[idx]; }

/* The GEMMs; `name` labels them in the per-op profile (profile.cu), 2 N in out FLOPs each. */
/* Y[N,out] (beta)= X[N,in] W[out,in]^T + bias */
static sp_status mm_fwd(sp_model *m, const char *name, float *Y, const void *X, const void *W, const float *bias, int N,
                        int in, int out, float beta) {
    PROF(m, name, 2.0 * N * in * out, sp_gemm(m->gemm, m->st, 1, 0, out, N, in, W, in, X, in, beta, Y, out, bias, m->use_bf16));
    return SP_OK;
}
/* dX[N,in] = dY[N,out] W[out,in] */
static sp_status mm_dx(sp_model *m, const char *name, float *dX, const void *dY, const void *W, int N, int in, int out) {
    PROF(m, name, 2.0 * N * in * out, sp_gemm(m->gemm, m->st, 0, 0, in, N, out, W, in, dY, out, 0.0f, dX, in, NULL, m->use_bf16));
    return SP_OK;
}
/* dW[out,in] (beta)= dY[N,out]^T X[N,in] */
static sp_status mm_dw(sp_model *m, const char *name, float *dW, const void *dY, const void *X, int N, int in, int out,
                       float beta) {
    PROF(m, name, 2.0 * N * in * out, sp_gemm(m->gemm, m->st, 0, 1, in, out, N, X, in, dY, out, beta, dW, in, NULL, m->use_bf16));
    return SP_OK;
}
/* causal attention FLOPs of the forward (QK^T and PV over the causal half); the backward is 2.5x */
static double attn_flops(const sp_model *m, int B, int T) {
    return 2.0 * B * m->nh * m->hd * (double)T * (T + 1);
}
/* GEMM operand of an fp32 activation: itself (fp32) or its bf16 copy in `slot` */
static sp_status act_op(sp_model *m, const void **op, const float *x, bf16 *slot, int64_t n) {
    if (!m->use_bf16) { *op = x; return SP_OK; }
    PROF(m, "convert_bf16 (GEMM operand)", 0, convert_bf16(m->st, slot, x, n));
    *op = slot;
    return SP_OK;
}

/* Where sp_forward_features puts its columns (NULL in every other forward): buf [B*(T-1), F] on the
 * device, G scratch [nh, hd, hd]. */
typedef struct { float *buf, *G; int64_t F; } feat_ctx;

static sp_status layer_forward(sp_model *m, int l, int B, int T, const feat_ctx *fc) {
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
    PROF(m, "layernorm_forward", 0, layernorm_forward(m->st, ln1, m->use_bf16 ? m->sA : NULL, ACT(m->ln1_mean, l, m->Nmax),
                                                       ACT(m->ln1_rstd, l, m->Nmax), x, wf(m, base + SP_K_LN1W), wf(m, base + SP_K_LN1B), N, d, eps));
    op = m->use_bf16 ? (const void *)m->sA : (const void *)ln1;
    TRY(mm_fwd(m, "gemm qkv", qkv, op, wop(m, base + SP_K_QKVW), wf(m, base + SP_K_QKVB), N, d, 3 * d, 0.0f));
    PROF(m, "rotary_forward", 0, rotary_forward(m->st, qkv, m->cos_t, m->sin_t, N, T, m->nh, m->hd, m->rd));
    PROF(m, "attention_forward", attn_flops(m, B, T),
         (m->use_bf16 ? attention_forward_tc : attention_forward)(m->st, atty, lse, qkv, B, T, m->nh, m->hd));
    if (fc) PROF(m, "attention_entropy", attn_flops(m, B, T) / 2,
                 attention_entropy(m->st, fc->buf + SP_FEAT_ATTENT(m->L, m->nh) + (int64_t)l * m->nh, fc->F, qkv, B, T, m->nh, m->hd));
    PROF_CK(m, "residual copy", cudaMemcpyAsync(xn, x, sizeof(float) * N * d, cudaMemcpyDeviceToDevice, m->st));
    TRY(act_op(m, &op, atty, m->sA, (int64_t)N * d));
    TRY(mm_fwd(m, "gemm dense", xn, op, wop(m, base + SP_K_DENSEW), wf(m, base + SP_K_DENSEB), N, d, d, 1.0f));
    /* mlp branch (parallel residual: LN2 reads x, not x + attn) */
    PROF(m, "layernorm_forward", 0, layernorm_forward(m->st, ln2, m->use_bf16 ? m->sA : NULL, ACT(m->ln2_mean, l, m->Nmax),
                                                       ACT(m->ln2_rstd, l, m->Nmax), x, wf(m, base + SP_K_LN2W), wf(m, base + SP_K_LN2B), N, d, eps));
    op = m->use_bf16 ? (const void *)m->sA : (const void *)ln2;
    TRY(mm_fwd(m, "gemm fc", h, op, wop(m, base + SP_K_FCW), wf(m, base + SP_K_FCB), N, d, f, 0.0f));
    if (m->use_bf16) { PROF(m, "gelu_forward", 0, gelu_forward(m->st, NULL, m->sB, h, (int64_t)N * f)); op = m->sB; }
    else { PROF(m, "gelu_forward", 0, gelu_forward(m->st, m->gel, NULL, h, (int64_t)N * f)); op = m->gel; }
    if (!fc) {
        TRY(mm_fwd(m, "gemm proj", xn, op, wop(m, base + SP_K_PROJW), wf(m, base + SP_K_PROJB), N, f, d, 1.0f));
        return SP_OK;
    }
    /* features: the MLP output into scratch (dres, free in a forward), then added with its norm taken */
    TRY(mm_fwd(m, "gemm proj", m->dres, op, wop(m, base + SP_K_PROJW), wf(m, base + SP_K_PROJB), N, f, d, 0.0f));
    PROF(m, "residual_add_norms", 0, residual_add_norms(m->st, xn, m->dres, fc->buf + SP_FEAT_MLP(m->L, m->nh) + l, fc->F, B, T, d));
    PROF(m, "feature_row_norms", 0, feature_row_norms(m->st, fc->buf + SP_FEAT_RESID(m->L, m->nh) + l, fc->F, xn, B, T, d));
    PROF(m, "head_gram", 2.0 * d * d * m->hd, head_gram(m->st, fc->G, wf(m, base + SP_K_DENSEW), d, m->nh));
    PROF(m, "head_norms", 2.0 * B * (T - 1) * d * m->hd,
         head_norms(m->st, fc->buf + SP_FEAT_HEAD(m->L, m->nh) + (int64_t)l * m->nh, fc->F, atty, fc->G, B, T, m->nh, m->hd));
    return SP_OK;
}

/* Runs embedding (or the cache) .. final LN; fc: the features' columns (then never from the cache). */
static sp_status forward_trunk(sp_model *m, sp_batch *b, int use_cache, const feat_ctx *fc) {
    const int N = b->B * b->T, d = m->d;
    const int64_t Nd = (int64_t)m->Nmax * d;
    int start = 0;
    if (use_cache && b->cache_layer >= 0) {
        start = b->cache_layer;
        PROF_CK(m, "cache copy", cudaMemcpyAsync(ACT(m->resid, start, Nd), b->cache, sizeof(float) * N * d,
                                                 cudaMemcpyDeviceToDevice, m->st));
    } else {
        PROF(m, "encoder_forward", 0, encoder_forward(m->st, m->resid, b->tokens, wf(m, T_EMBED), N, d));
    }
    for (int l = start; l < m->L; l++) TRY(layer_forward(m, l, b->B, b->T, fc));
    PROF(m, "layernorm_forward", 0, layernorm_forward(m->st, m->lnf, NULL, m->lnf_mean, m->lnf_rstd, ACT(m->resid, m->L, Nd),
                                                   wf(m, T_LNFW(m->L)), wf(m, T_LNFB(m->L)), N, d, m->cfg.ln_eps));
    return SP_OK;
}

/* Chunked classifier + cross entropy; with grads: d(embed_out) when need_out, d(lnf) into dln1 when need_dx.
 * ent (may be NULL, no grads): next-token entropies into ent[i * ent_ld]. */
static sp_status classifier(sp_model *m, sp_batch *b, int grads, int need_out, int need_dx, float *ent = NULL,
                            int64_t ent_ld = 0) {
    const int B = b->B, T = b->T, N = B * T, d = m->d, V = m->V;
    const void *X = m->lnf;
    if (m->use_bf16) { PROF(m, "convert_bf16 (GEMM operand)", 0, convert_bf16(m->st, m->sB, m->lnf, (int64_t)N * d)); X = m->sB; }
    const size_t esz = m->use_bf16 ? 2 : 4;
    const int iout = T_OUT(m->L);
    const float dscale = 1.0f / (float)((int64_t)B * (T - 1));
    for (int row0 = 0; row0 < N; row0 += m->Rc) {
        int R = N - row0 < m->Rc ? N - row0 : m->Rc;
        const void *Xr = (const char *)X + (size_t)row0 * d * esz;
        TRY(mm_fwd(m, "gemm classifier", m->logits, Xr, wop(m, iout), NULL, R, d, V, 0.0f));
        if (!grads) {
            PROF(m, "fused_classifier", 0, fused_classifier(m->st, m->logits, NULL, NULL, b->losses, ent, ent_ld, b->tokens, row0, R, V, T, dscale));
            continue;
        }
        PROF(m, "fused_classifier", 0, fused_classifier(m->st, m->logits, m->use_bf16 ? NULL : m->logits,
                                                        m->use_bf16 ? m->dlog_b : NULL, b->losses, NULL, 0, b->tokens, row0, R, V,
                                                        T, dscale));
        const void *dl = m->use_bf16 ? (const void *)m->dlog_b : (const void *)m->logits;
        if (need_out) TRY(mm_dw(m, "gemm classifier dW", gf(m, iout), dl, Xr, R, d, V, row0 > 0 ? 1.0f : 0.0f));
        if (need_dx) TRY(mm_dx(m, "gemm classifier dX", m->dln1 + (int64_t)row0 * d, dl, wop(m, iout), R, d, V));
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
        if (!tmp) return sp_set_error(SP_ERR_OOM, "%s: out of host memory", sp_fn());
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
        return sp_set_error(SP_ERR_NUMERIC, "%s: loss %g at [%lld, %lld] is not finite", sp_fn(), (double)h[bad],
                            (long long)(bad / (b->T - 1)), (long long)(bad % (b->T - 1)));
    return SP_OK;
}

extern "C" sp_status sp_batch_cache_at(sp_model *m, sp_batch *b, int32_t layer) {
    TRY(enter_model_batch("sp_batch_cache_at", m, b));
    TRY(sp_check_cache_layer("sp_batch_cache_at", layer, m->L));
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
    for (int l = 0; l < layer; l++) TRY(layer_forward(m, l, b->B, b->T, NULL));
    CK(cudaMemcpyAsync(b->cache, ACT(m->resid, layer, Nd), sizeof(float) * N * d, cudaMemcpyDeviceToDevice, m->st));
    SYNC(m);
    b->cache_layer = layer;
    return SP_OK;
}

extern "C" sp_status sp_forward(sp_model *m, sp_batch *b, float *losses_out, double *mean_out) {
    TRY(enter_model_batch("sp_forward", m, b));
    TRY(forward_trunk(m, b, 1, NULL));
    TRY(classifier(m, b, 0, 0, 0));
    return finish_losses(m, b, losses_out, mean_out);
}

extern "C" sp_status sp_forward_features(sp_model *m, sp_batch *b, float *feat_out, int64_t n_feat_total, float *losses_out) {
    const char *fn = "sp_forward_features";
    sp_enter(fn);
    TRY(sp_check_features(fn, m, m ? &m->cfg : NULL, b, b ? b->m : NULL, b ? b->B : 0, b ? b->T : 0, feat_out, n_feat_total));
    SET_DEVICE(m);
    const int64_t scratch = n_feat_total + (int64_t)m->nh * m->hd * m->hd;
    float *buf = NULL;
    cudaError_t e = cudaMalloc(&buf, sizeof(float) * scratch);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return sp_set_error(SP_ERR_OOM, "%s: cannot allocate %.1f MiB of device memory for the features (%s)", fn,
                            sizeof(float) * (double)scratch / 1048576.0, cudaGetErrorString(e));
    }
    feat_ctx fc = {buf, buf + n_feat_total, sp_features_of(&m->cfg)};
    sp_status s = forward_trunk(m, b, 0, &fc);      /* from the embedding: every layer's features are needed */
    if (s == SP_OK) s = classifier(m, b, 0, 0, 0, buf, fc.F);
    if (s == SP_OK) {
        e = cudaMemcpyAsync(feat_out, buf, sizeof(float) * n_feat_total, cudaMemcpyDeviceToHost, m->st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(m->st);
        if (e != cudaSuccess) s = sp_cuda_fail(e, "cudaMemcpy(features)", __FILE__, __LINE__);
    } else {
        cudaStreamSynchronize(m->st);   /* nothing may still use buf when it is freed */
    }
    cudaFree(buf);
    cudaGetLastError();
    TRY(s);
    return finish_losses(m, b, losses_out, NULL);
}

/* ------------------------------------------------------------------ backward */
static sp_status layer_backward(sp_model *m, int l, int B, int T, const unsigned char *need, int nb) {
    const int N = B * T, d = m->d, f = m->f;
    const int64_t Nd = (int64_t)m->Nmax * d;
    const int base = T_L(l, 0);
#define NEED(k) (need[base + (k)])
    const int mlp_ln = nb || NEED(SP_K_LN2W) || NEED(SP_K_LN2B);
    const int mlp_in = mlp_ln || NEED(SP_K_FCW) || NEED(SP_K_FCB);
    const int att_ln = nb || NEED(SP_K_LN1W) || NEED(SP_K_LN1B);
    const int att_in = att_ln || NEED(SP_K_QKVW) || NEED(SP_K_QKVB);
    float *x = ACT(m->resid, l, Nd);
    float *ln1 = ACT(m->ln1, l, Nd), *ln2 = ACT(m->ln2, l, Nd), *atty = ACT(m->atty, l, Nd);
    float *qkv = ACT(m->qkv, l, 3 * Nd), *h = ACT(m->h, l, (int64_t)m->Nmax * f);
    float *lse = ACT(m->lse, l, (int64_t)m->Nmax * m->nh);
    const void *dres, *op, *op2;
    TRY(act_op(m, &dres, m->dres, m->sR, (int64_t)N * d));

    /* mlp: x_{l+1} += proj(gelu(fc(ln2(x)))) */
    if (NEED(SP_K_PROJW)) {
        if (m->use_bf16) { PROF(m, "gelu_forward (recompute)", 0, gelu_forward(m->st, NULL, m->sA, h, (int64_t)N * f)); op = m->sA; }
        else { PROF(m, "gelu_forward (recompute)", 0, gelu_forward(m->st, m->gel, NULL, h, (int64_t)N * f)); op = m->gel; }
        TRY(mm_dw(m, "gemm proj dW", gf(m, base + SP_K_PROJW), dres, op, N, f, d, 0.0f));
    }
    if (NEED(SP_K_PROJB)) PROF(m, "colsum (bias grads)", 0, colsum(m->st, gf(m, base + SP_K_PROJB), m->dres, N, d, m->red));
    if (mlp_in) {
        TRY(mm_dx(m, "gemm proj dX", m->dh, dres, wop(m, base + SP_K_PROJW), N, f, d));
        PROF(m, "gelu_backward", 0, gelu_backward(m->st, m->dh, h, (int64_t)N * f));
        TRY(act_op(m, &op, m->dh, m->sA, (int64_t)N * f));
        if (NEED(SP_K_FCW)) {
            TRY(act_op(m, &op2, ln2, m->sB, (int64_t)N * d));
            TRY(mm_dw(m, "gemm fc dW", gf(m, base + SP_K_FCW), op, op2, N, d, f, 0.0f));
        }
        if (NEED(SP_K_FCB)) PROF(m, "colsum (bias grads)", 0, colsum(m->st, gf(m, base + SP_K_FCB), m->dh, N, f, m->red));
        if (mlp_ln) TRY(mm_dx(m, "gemm fc dX", m->dln2, op, wop(m, base + SP_K_FCW), N, d, f));
    }
    /* attention: x_{l+1} += dense(attn(rotary(qkv(ln1(x))))) */
    if (NEED(SP_K_DENSEW)) {
        TRY(act_op(m, &op, atty, m->sA, (int64_t)N * d));
        TRY(mm_dw(m, "gemm dense dW", gf(m, base + SP_K_DENSEW), dres, op, N, d, d, 0.0f));
    }
    if (NEED(SP_K_DENSEB)) PROF(m, "colsum (bias grads)", 0, colsum(m->st, gf(m, base + SP_K_DENSEB), m->dres, N, d, m->red));
    if (att_in) {
        TRY(mm_dx(m, "gemm dense dX", m->datty, dres, wop(m, base + SP_K_DENSEW), N, d, d));
        PROF(m, "attention_backward", 2.5 * attn_flops(m, B, T),
             (m->use_bf16 ? attention_backward_tc : attention_backward)(m->st, m->dqkv, m->datty, qkv, atty, lse, m->Dbuf, B, T,
                                                                        m->nh, m->hd));
        PROF(m, "rotary_backward", 0, rotary_backward(m->st, m->dqkv, m->cos_t, m->sin_t, N, T, m->nh, m->hd, m->rd));
        TRY(act_op(m, &op, m->dqkv, m->sA, (int64_t)N * 3 * d));
        if (NEED(SP_K_QKVW)) {
            TRY(act_op(m, &op2, ln1, m->sB, (int64_t)N * d));
            TRY(mm_dw(m, "gemm qkv dW", gf(m, base + SP_K_QKVW), op, op2, N, d, 3 * d, 0.0f));
        }
        if (NEED(SP_K_QKVB)) PROF(m, "colsum (bias grads)", 0, colsum(m->st, gf(m, base + SP_K_QKVB), m->dqkv, N, 3 * d, m->red));
        if (att_ln) TRY(mm_dx(m, "gemm qkv dX", m->dln1, op, wop(m, base + SP_K_QKVW), N, d, 3 * d));
    }
    /* layernorms; dres becomes d x_l = d x_{l+1} + LN2'(..) + LN1'(..) when layers below need it */
    if (mlp_ln)
        PROF(m, "layernorm_backward", 0,
             layernorm_backward(m->st, nb ? m->dres : NULL, NEED(SP_K_LN2W) ? gf(m, base + SP_K_LN2W) : NULL,
                                NEED(SP_K_LN2B) ? gf(m, base + SP_K_LN2B) : NULL, m->dln2, x, ACT(m->ln2_mean, l, m->Nmax),
                                ACT(m->ln2_rstd, l, m->Nmax), wf(m, base + SP_K_LN2W), N, d, m->red));
    if (att_ln)
        PROF(m, "layernorm_backward", 0,
             layernorm_backward(m->st, nb ? m->dres : NULL, NEED(SP_K_LN1W) ? gf(m, base + SP_K_LN1W) : NULL,
                                NEED(SP_K_LN1B) ? gf(m, base + SP_K_LN1B) : NULL, m->dln1, x, ACT(m->ln1_mean, l, m->Nmax),
                                ACT(m->ln1_rstd, l, m->Nmax), wf(m, base + SP_K_LN1W), N, d, m->red));
#undef NEED
    return SP_OK;
}

extern "C" sp_status sp_forward_backward(sp_model *m, sp_batch *b, const sp_grad_request *req, float *losses_out,
                                         double *mean_out) {
    const char *fn = "sp_forward_backward";
    sp_enter(fn);
    TRY(sp_check_model_batch(fn, m, b, b ? b->m : NULL));
    const int L = m->L, nt = SP_TENSORS(L);
    unsigned char *need = (unsigned char *)calloc(nt, 1);
    if (!need) return sp_set_error(SP_ERR_OOM, "sp_forward_backward: out of host memory");
    sp_status s = sp_check_grad_request(fn, &m->cfg, m->off, req, need);
    cudaError_t e0 = s == SP_OK ? cudaSetDevice(m->device) : cudaSuccess;
    if (e0 != cudaSuccess) s = sp_cuda_fail(e0, "cudaSetDevice", __FILE__, __LINE__);
    if (s != SP_OK) { free(need); return s; }
    int lo = L;                                    /* lowest layer the backward enters; -1: down to embed_in */
    for (int i = 0; i < nt; i++)
        if (need[i] && sp_tensor_layer(L, i) < lo) lo = sp_tensor_layer(L, i);
    /* the batch's cache is used only when the backward stays at or above it (else: a full forward) */
    int use_cache = b->cache_layer >= 0 && b->cache_layer <= (lo < 0 ? 0 : lo);
    s = forward_trunk(m, b, use_cache, NULL);
    const int N = b->B * b->T, d = m->d;
    const int64_t Nd = (int64_t)m->Nmax * d;
    const int need_lnf = need[T_LNFW(L)] || need[T_LNFB(L)];
    const int below = lo < L;                      /* a layer or embed_in needs d x_L */
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
