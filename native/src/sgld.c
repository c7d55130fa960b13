/*
 * sgld.c -- SGLD / RMSProp-SGLD update over strided blocks (Philox noise), buffers and the
 * streaming accumulators of the chi estimator. sp_noise itself is in abi_common.c (both backends).
 */
#include "internal.h"
#include "philox.h"
#include "pool.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- SGLD */

/* one block of an SGLD step: groups [i0, i1) of 4 elements (one Philox call each), counted from g0 */
typedef struct {
    sp_model *m;
    const sp_block *bk;
    sp_buffer *rms;
    const sp_sgld_params *p;
    int64_t e0, nb, g0;
    _Atomic int64_t bad;   /* smallest element number whose update is not finite (INT64_MAX: none) */
} sgld_args;

static void sgld_range(void *ctx, long i0, long i1, int tid) {
    sgld_args *a = ctx;
    sp_model *m = a->m;
    const sp_block *bk = a->bk;
    sp_buffer *rms = a->rms;
    const sp_sgld_params *p = a->p;
    const int64_t e0 = a->e0, nb = a->nb, cols = bk->cols;
    const float half_lr = 0.5f * p->lr, sqrt_lr = sqrtf(p->lr);
    const int noisy = p->noise_scale != 0.0f;
    int64_t bad_blk = INT64_MAX;
    for (int64_t gi = a->g0 + i0; gi < a->g0 + i1; gi++) {
        float xi[4] = {0, 0, 0, 0};
        if (noisy) sp_noise_block(p->seed, p->stream, p->step, (uint64_t)gi, xi);
        /* (row, column) of the group's first element in this block, then stepped (no division per element) */
        int64_t q0 = gi * 4 < e0 ? e0 - gi * 4 : 0, k0 = gi * 4 + q0 - e0;
        int64_t r = k0 / cols, cc = k0 % cols;
        for (int64_t q = q0; q < 4; q++, cc++) {
            int64_t e = gi * 4 + q;          /* component element number */
            if (e >= e0 + nb) break;
            if (cc == cols) { cc = 0; r++; }
            int64_t idx = bk->offset + r * bk->stride + cc;
            float g = m->g[idx], w = m->w[idx];
            float G = 1.0f, sG = 1.0f;
            if (p->rmsprop) {
                float v = p->alpha * rms->data[e] + (1.0f - p->alpha) * g * g;
                rms->data[e] = v;
                G = 1.0f / (sqrtf(v) + p->rms_eps);
                sG = sqrtf(G);
            }
            w = w - half_lr * G * (p->nbeta * g + p->gamma * (w - m->wstar[idx]));
            if (noisy) w += sqrt_lr * sG * xi[q] * p->noise_scale;
            m->w[idx] = w;
            if (!isfinite(w) && e < bad_blk) bad_blk = e;
        }
    }
    /* the smallest over the chunks (order-free) */
    int64_t cur = atomic_load(&a->bad);
    while (bad_blk < cur && !atomic_compare_exchange_weak(&a->bad, &cur, bad_blk)) {}
}

sp_status sp_sgld_update(sp_model *m, const sp_block *blocks, int32_t n_blocks, sp_buffer *rms,
                         const sp_sgld_params *p) {
    const char *fn = "sp_sgld_update";
    sp_enter(fn);
    int64_t total = 0;
    sp_status s = sp_check_sgld_update(fn, m, m ? m->P : 0, blocks, n_blocks, rms, rms ? rms->m : NULL,
                                       rms ? rms->n : 0, p, &total);
    if (s) return s;
    if (total > 0 && (s = sp_anchor(m, fn)) != SP_OK) return s;   /* the anchor is made at the first step */
    sp_use_threads(m);
    int64_t bad = -1, e0 = 0; /* first non-finite element number */
    for (int i = 0; i < n_blocks; i++) {
        const sp_block *bk = &blocks[i];
        int64_t rows = bk->rows, cols = bk->cols, nb = rows * cols;
        if (nb == 0) continue;
        /* element numbers e0 + r*cols + c; work is split in groups of 4 elements (one Philox call) */
        int64_t g0 = e0 >> 2, g1 = (e0 + nb - 1) >> 2;
        sgld_args a = {m, bk, rms, p, e0, nb, g0, INT64_MAX};
        sp_parallel_for(g1 - g0 + 1, 256, 40 * nb, sgld_range, &a);
        int64_t bad_blk = atomic_load(&a.bad);
        if (bad_blk != INT64_MAX && bad < 0) bad = bad_blk;
        sp_note_write(m, bk->offset, (rows - 1) * bk->stride + cols);
        e0 += nb;
    }
    if (bad >= 0)
        return sp_fail(SP_ERR_NUMERIC, fn, "updated parameter is not finite at component element %lld "
                       "(step %llu, stream %u)", (long long)bad, (unsigned long long)p->step, p->stream);
    return SP_OK;
}

/* ---------------------------------------------------------------- buffers */

sp_status sp_buffer_create(sp_model *m, int64_t n, sp_buffer **out) {
    const char *fn = "sp_buffer_create";
    sp_enter(fn);
    if (out) *out = NULL;
    sp_status s = sp_check_create(fn, out, m, n, 0);
    if (s) return s;
    sp_buffer *b = sp_alloc(1, sizeof(sp_buffer));
    float *d = sp_alloc((size_t)n, sizeof(float));
    if (!b || !d) {
        sp_free(b); sp_free(d);
        return sp_fail(SP_ERR_OOM, fn, "out of memory (%lld floats)", (long long)n);
    }
    b->m = m;
    b->n = n;
    b->data = d;
    *out = b;
    return SP_OK;
}

sp_status sp_buffer_destroy(sp_buffer *buf) {
    sp_enter(__func__);
    if (buf) { sp_free(buf->data); sp_free(buf); }
    return SP_OK;
}

static sp_status buf_range(const sp_buffer *buf, int64_t offset, int64_t n, const void *p, const char *fn) {
    sp_enter(fn);
    return sp_check_copy(fn, buf, "buffer", p, offset, n, buf ? buf->n : 0, "the buffer of ", " floats");
}

sp_status sp_buffer_read(sp_buffer *buf, int64_t offset, int64_t n, float *host_out) {
    sp_status s = buf_range(buf, offset, n, host_out, "sp_buffer_read");
    if (s) return s;
    if (n) memcpy(host_out, buf->data + offset, sizeof(float) * (size_t)n);
    return SP_OK;
}

sp_status sp_buffer_write(sp_buffer *buf, int64_t offset, int64_t n, const float *host_in) {
    sp_status s = buf_range(buf, offset, n, host_in, "sp_buffer_write");
    if (s) return s;
    if (n) memcpy(buf->data + offset, host_in, sizeof(float) * (size_t)n);
    return SP_OK;
}

/* ---------------------------------------------------------------- accumulators */

sp_status sp_accum_create(sp_model *m, int64_t n, sp_accum **out) {
    const char *fn = "sp_accum_create";
    sp_enter(fn);
    if (out) *out = NULL;
    sp_status s = sp_check_create(fn, out, m, n, 1);
    if (s) return s;
    sp_accum *a = sp_alloc(1, sizeof(sp_accum));
    double *s1 = sp_alloc((size_t)n, sizeof(double)), *s2 = sp_alloc((size_t)n, sizeof(double));
    if (!a || !s1 || !s2) {
        sp_free(a); sp_free(s1); sp_free(s2);
        return sp_fail(SP_ERR_OOM, fn, "out of memory (%lld doubles x 2)", (long long)n);
    }
    a->m = m; a->n = n; a->sum_l = s1; a->sum_phil = s2;
    *out = a;
    return SP_OK;
}

sp_status sp_accum_destroy(sp_accum *a) {
    sp_enter(__func__);
    if (a) { sp_free(a->sum_l); sp_free(a->sum_phil); sp_free(a); }
    return SP_OK;
}

sp_status sp_accum_add(sp_accum *a, sp_model *m, sp_batch *b, double phi) {
    const char *fn = "sp_accum_add";
    sp_enter(fn);
    int64_t n = b ? (int64_t)b->B * (b->T - 1) : 0;
    sp_status s = sp_check_accum_add(fn, a, a ? a->m : NULL, a ? a->n : 0, m, b, b ? b->m : NULL, n,
                                     b ? b->has_losses : 0, phi);
    if (s) return s;
    for (int64_t i = 0; i < n; i++) {
        double l = b->losses[i];
        a->sum_l[i] += l;
        a->sum_phil[i] += phi * l;
    }
    return SP_OK;
}

sp_status sp_accum_read(sp_accum *a, double *host_sum_l, double *host_sum_phil) {
    sp_enter("sp_accum_read");
    sp_status s = sp_check_handle("sp_accum_read", a, "accum");
    if (s) return s;
    if (host_sum_l) memcpy(host_sum_l, a->sum_l, sizeof(double) * (size_t)a->n);
    if (host_sum_phil) memcpy(host_sum_phil, a->sum_phil, sizeof(double) * (size_t)a->n);
    return SP_OK;
}

sp_status sp_accum_reset(sp_accum *a) {
    sp_enter("sp_accum_reset");
    sp_status s = sp_check_handle("sp_accum_reset", a, "accum");
    if (s) return s;
    memset(a->sum_l, 0, sizeof(double) * (size_t)a->n);
    memset(a->sum_phil, 0, sizeof(double) * (size_t)a->n);
    return SP_OK;
}
