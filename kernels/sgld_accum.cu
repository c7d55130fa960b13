/*
 * sgld_accum.cu -- the ABI entry points around the SGLD chain: device buffers (the RMSProp state),
 * sp_sgld_update (fused kernel in ops.cu), sp_noise (host side of native/src/philox.h) and the
 * loss accumulators. See abi.cuh for how the ABI is split and docs/cuda.md.
 */
#include "abi.cuh"
#include "philox.h"   /* native/src/philox.h: the one Philox of both backends */
#include <stdlib.h>
#include <math.h>

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
    return copy_range("sp_buffer_read", buf->m, buf->d, buf->n, offset, n, host, NULL);
}

extern "C" sp_status sp_buffer_write(sp_buffer *buf, int64_t offset, int64_t n, const float *host) {
    ENTER("sp_buffer_write");
    if (!buf) return INVALID("sp_buffer_write: buffer is NULL");
    CK(cudaSetDevice(buf->m->device));
    return copy_range("sp_buffer_write", buf->m, buf->d, buf->n, offset, n, NULL, host);
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
    PROF(m, "sgld_update", 0, sgld_update(m->st, &a));
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
        sp_noise_block(seed, stream, step, (uint64_t)(e >> 2), q);
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
    PROF(m, "accum_add", 0, accum_add(m->st, a->sum_l, a->sum_phil, b->losses, n, phi));
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
