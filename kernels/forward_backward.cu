/*
 * forward_backward.cu -- the forward / backward orchestration of the CUDA backend: sp_forward,
 * sp_forward_backward (restriction aware) and sp_batch_cache_at, over the launchers of ops.cu,
 * attention*.cu and gemm.cu. See abi.cuh for how the ABI is split and docs/cuda.md.
 */
#include "abi.cuh"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

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
    PROF(m, "layernorm_forward", 0, layernorm_forward(m->st, ln1, m->use_bf16 ? m->sA : NULL, ACT(m->ln1_mean, l, m->Nmax),
                                                       ACT(m->ln1_rstd, l, m->Nmax), x, wf(m, base + K_LN1W), wf(m, base + K_LN1B), N, d, eps));
    op = m->use_bf16 ? (const void *)m->sA : (const void *)ln1;
    TRY(mm_fwd(m, "gemm qkv", qkv, op, wop(m, base + K_QKVW), wf(m, base + K_QKVB), N, d, 3 * d, 0.0f));
    PROF(m, "rotary_forward", 0, rotary_forward(m->st, qkv, m->cos_t, m->sin_t, N, T, m->nh, m->hd, m->rd));
    PROF(m, "attention_forward", attn_flops(m, B, T),
         (m->use_bf16 ? attention_forward_tc : attention_forward)(m->st, atty, lse, qkv, B, T, m->nh, m->hd));
    PROF_CK(m, "residual copy", cudaMemcpyAsync(xn, x, sizeof(float) * N * d, cudaMemcpyDeviceToDevice, m->st));
    TRY(act_op(m, &op, atty, m->sA, (int64_t)N * d));
    TRY(mm_fwd(m, "gemm dense", xn, op, wop(m, base + K_DENSEW), wf(m, base + K_DENSEB), N, d, d, 1.0f));
    /* mlp branch (parallel residual: LN2 reads x, not x + attn) */
    PROF(m, "layernorm_forward", 0, layernorm_forward(m->st, ln2, m->use_bf16 ? m->sA : NULL, ACT(m->ln2_mean, l, m->Nmax),
                                                       ACT(m->ln2_rstd, l, m->Nmax), x, wf(m, base + K_LN2W), wf(m, base + K_LN2B), N, d, eps));
    op = m->use_bf16 ? (const void *)m->sA : (const void *)ln2;
    TRY(mm_fwd(m, "gemm fc", h, op, wop(m, base + K_FCW), wf(m, base + K_FCB), N, d, f, 0.0f));
    if (m->use_bf16) { PROF(m, "gelu_forward", 0, gelu_forward(m->st, NULL, m->sB, h, (int64_t)N * f)); op = m->sB; }
    else { PROF(m, "gelu_forward", 0, gelu_forward(m->st, m->gel, NULL, h, (int64_t)N * f)); op = m->gel; }
    TRY(mm_fwd(m, "gemm proj", xn, op, wop(m, base + K_PROJW), wf(m, base + K_PROJB), N, f, d, 1.0f));
    return SP_OK;
}

/* Runs embedding (or the cache) .. final LN. */
static sp_status forward_trunk(sp_model *m, sp_batch *b, int use_cache) {
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
    for (int l = start; l < m->L; l++) TRY(layer_forward(m, l, b->B, b->T));
    PROF(m, "layernorm_forward", 0, layernorm_forward(m->st, m->lnf, NULL, m->lnf_mean, m->lnf_rstd, ACT(m->resid, m->L, Nd),
                                                   wf(m, T_LNFW(m->L)), wf(m, T_LNFB(m->L)), N, d, m->cfg.ln_eps));
    return SP_OK;
}

/* Chunked classifier + cross entropy; with grads: d(embed_out) when need_out, d(lnf) into dln1 when need_dx. */
static sp_status classifier(sp_model *m, sp_batch *b, int grads, int need_out, int need_dx) {
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
            PROF(m, "fused_classifier", 0, fused_classifier(m->st, m->logits, NULL, NULL, b->losses, b->tokens, row0, R, V, T, dscale));
            continue;
        }
        PROF(m, "fused_classifier", 0, fused_classifier(m->st, m->logits, m->use_bf16 ? NULL : m->logits,
                                                        m->use_bf16 ? m->dlog_b : NULL, b->losses, b->tokens, row0, R, V, T, dscale));
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
        if (m->use_bf16) { PROF(m, "gelu_forward (recompute)", 0, gelu_forward(m->st, NULL, m->sA, h, (int64_t)N * f)); op = m->sA; }
        else { PROF(m, "gelu_forward (recompute)", 0, gelu_forward(m->st, m->gel, NULL, h, (int64_t)N * f)); op = m->gel; }
        TRY(mm_dw(m, "gemm proj dW", gf(m, base + K_PROJW), dres, op, N, f, d, 0.0f));
    }
    if (NEED(K_PROJB)) PROF(m, "colsum (bias grads)", 0, colsum(m->st, gf(m, base + K_PROJB), m->dres, N, d, m->red));
    if (mlp_in) {
        TRY(mm_dx(m, "gemm proj dX", m->dh, dres, wop(m, base + K_PROJW), N, f, d));
        PROF(m, "gelu_backward", 0, gelu_backward(m->st, m->dh, h, (int64_t)N * f));
        TRY(act_op(m, &op, m->dh, m->sA, (int64_t)N * f));
        if (NEED(K_FCW)) {
            TRY(act_op(m, &op2, ln2, m->sB, (int64_t)N * d));
            TRY(mm_dw(m, "gemm fc dW", gf(m, base + K_FCW), op, op2, N, d, f, 0.0f));
        }
        if (NEED(K_FCB)) PROF(m, "colsum (bias grads)", 0, colsum(m->st, gf(m, base + K_FCB), m->dh, N, f, m->red));
        if (mlp_ln) TRY(mm_dx(m, "gemm fc dX", m->dln2, op, wop(m, base + K_FCW), N, d, f));
    }
    /* attention: x_{l+1} += dense(attn(rotary(qkv(ln1(x))))) */
    if (NEED(K_DENSEW)) {
        TRY(act_op(m, &op, atty, m->sA, (int64_t)N * d));
        TRY(mm_dw(m, "gemm dense dW", gf(m, base + K_DENSEW), dres, op, N, d, d, 0.0f));
    }
    if (NEED(K_DENSEB)) PROF(m, "colsum (bias grads)", 0, colsum(m->st, gf(m, base + K_DENSEB), m->dres, N, d, m->red));
    if (att_in) {
        TRY(mm_dx(m, "gemm dense dX", m->datty, dres, wop(m, base + K_DENSEW), N, d, d));
        PROF(m, "attention_backward", 2.5 * attn_flops(m, B, T),
             (m->use_bf16 ? attention_backward_tc : attention_backward)(m->st, m->dqkv, m->datty, qkv, atty, lse, m->Dbuf, B, T,
                                                                        m->nh, m->hd));
        PROF(m, "rotary_backward", 0, rotary_backward(m->st, m->dqkv, m->cos_t, m->sin_t, N, T, m->nh, m->hd, m->rd));
        TRY(act_op(m, &op, m->dqkv, m->sA, (int64_t)N * 3 * d));
        if (NEED(K_QKVW)) {
            TRY(act_op(m, &op2, ln1, m->sB, (int64_t)N * d));
            TRY(mm_dw(m, "gemm qkv dW", gf(m, base + K_QKVW), op, op2, N, d, 3 * d, 0.0f));
        }
        if (NEED(K_QKVB)) PROF(m, "colsum (bias grads)", 0, colsum(m->st, gf(m, base + K_QKVB), m->dqkv, N, 3 * d, m->red));
        if (att_ln) TRY(mm_dx(m, "gemm qkv dX", m->dln1, op, wop(m, base + K_QKVW), N, d, 3 * d));
    }
    /* layernorms; dres becomes d x_l = d x_{l+1} + LN2'(..) + LN1'(..) when layers below need it */
    if (mlp_ln)
        PROF(m, "layernorm_backward", 0,
             layernorm_backward(m->st, nb ? m->dres : NULL, NEED(K_LN2W) ? gf(m, base + K_LN2W) : NULL,
                                NEED(K_LN2B) ? gf(m, base + K_LN2B) : NULL, m->dln2, x, ACT(m->ln2_mean, l, m->Nmax),
                                ACT(m->ln2_rstd, l, m->Nmax), wf(m, base + K_LN2W), N, d, m->red));
    if (att_ln)
        PROF(m, "layernorm_backward", 0,
             layernorm_backward(m->st, nb ? m->dres : NULL, NEED(K_LN1W) ? gf(m, base + K_LN1W) : NULL,
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
