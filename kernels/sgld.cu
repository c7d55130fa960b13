/*
 * sgld.cu -- the SGLD chain of the CUDA backend (the counterpart of native/src/sgld.c): device
 * buffers (the RMSProp state), sp_sgld_update and its fused kernel (noise from native/src/philox.h),
 * sp_params_reset's kernel and the loss accumulators. The argument checks and sp_noise (the host
 * side of the noise) are native/src/abi_common.c's, shared with the CPU library. See abi.cuh and
 * docs/cuda.md.
 */
#include "abi.cuh"
#include "philox.h"   /* native/src/philox.h: the one Philox of both backends */
#include <stdlib.h>
#include <math.h>

/* ------------------------------------------------------------------ SGLD (one fused kernel) */
/* element e of the component -> flat parameter index (blocks numbered in order, row-major inside) */
__device__ __forceinline__ int64_t block_elem_addr(const sp_block *blocks, const int64_t *bstart, int nb, int64_t e) {
    int lo = 0, hi = nb - 1;
    while (lo < hi) {                          /* last b with bstart[b] <= e */
        int mid = (lo + hi + 1) >> 1;
        if (bstart[mid] <= e) lo = mid; else hi = mid - 1;
    }
    const sp_block bl = blocks[lo];
    int64_t local = e - bstart[lo];
    int64_t r = local / bl.cols, c = local - r * bl.cols;
    return bl.offset + r * bl.stride + c;
}

/* One element of the update (the arithmetic of the CPU reference, in the same order). */
__device__ __forceinline__ float sgld_one(const sp_sgld_params &p, float half_lr, float sqrt_lr, float g, float w,
                                          float ws, float *v, float xi) {
    float G = 1.0f, sG = 1.0f;
    if (p.rmsprop) {
        const float vn = p.alpha * *v + (1.0f - p.alpha) * g * g;
        *v = vn;
        G = 1.0f / (sqrtf(vn) + p.rms_eps);
        sG = sqrtf(G);
    }
    return w - half_lr * G * (p.nbeta * g + p.gamma * (w - ws)) + sqrt_lr * sG * xi * p.noise_scale;
}

/* One thread per group of 4 elements = one Philox call = its 4 normals. When the 4 elements are
 * consecutive in one row of one block and 16-byte aligned (every component of the default
 * decomposition: tensor offsets and row strides are multiples of 4 when d is), g, w, w*, V move as
 * float4 and the bf16 copy as 8 bytes, with one block search per group; otherwise element by element. */
__global__ void __launch_bounds__(256) sgld_update_kernel(sgld_args a) {
    const sp_sgld_params p = a.p;
    const float half_lr = 0.5f * p.lr, sqrt_lr = sqrtf(p.lr);
    const bool noise = p.noise_scale != 0.0f;
    const int64_t nquads = (a.total + 3) / 4;
    for (int64_t q = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; q < nquads; q += (int64_t)gridDim.x * blockDim.x) {
        float xi[4] = {0.f, 0.f, 0.f, 0.f};
        if (noise) sp_noise_block(p.seed, p.stream, p.step, (uint64_t)q, xi);
        const int64_t e0 = q * 4;
        int lo = 0, hi = a.nb - 1;
        while (lo < hi) {                          /* last b with bstart[b] <= e0 */
            int mid = (lo + hi + 1) >> 1;
            if (a.bstart[mid] <= e0) lo = mid; else hi = mid - 1;
        }
        const sp_block bl = a.blocks[lo];
        const int64_t local = e0 - a.bstart[lo];
        const int64_t r = local / bl.cols, c = local - r * bl.cols;
        const int64_t at = bl.offset + r * bl.stride + c;
        if (e0 + 3 < a.total && c + 3 < bl.cols && (at & 3) == 0) {
            const float4 g4 = __ldg(reinterpret_cast<const float4 *>(a.grad + at));
            const float4 s4 = __ldg(reinterpret_cast<const float4 *>(a.anchor + at));
            float4 w4 = *reinterpret_cast<const float4 *>(a.w + at);
            float4 v4 = make_float4(0.f, 0.f, 0.f, 0.f);
            if (p.rmsprop) v4 = *reinterpret_cast<const float4 *>(a.rms + e0);
            w4.x = sgld_one(p, half_lr, sqrt_lr, g4.x, w4.x, s4.x, &v4.x, xi[0]);
            w4.y = sgld_one(p, half_lr, sqrt_lr, g4.y, w4.y, s4.y, &v4.y, xi[1]);
            w4.z = sgld_one(p, half_lr, sqrt_lr, g4.z, w4.z, s4.z, &v4.z, xi[2]);
            w4.w = sgld_one(p, half_lr, sqrt_lr, g4.w, w4.w, s4.w, &v4.w, xi[3]);
            *reinterpret_cast<float4 *>(a.w + at) = w4;
            if (p.rmsprop) *reinterpret_cast<float4 *>(a.rms + e0) = v4;
            if (a.wb) {
                __nv_bfloat162 b0 = __floats2bfloat162_rn(w4.x, w4.y), b1 = __floats2bfloat162_rn(w4.z, w4.w);
                uint2 u;
                u.x = *reinterpret_cast<uint32_t *>(&b0);
                u.y = *reinterpret_cast<uint32_t *>(&b1);
                *reinterpret_cast<uint2 *>(a.wb + at) = u;
            }
            if (!(isfinite(w4.x) && isfinite(w4.y) && isfinite(w4.z) && isfinite(w4.w))) atomicExch(a.nonfinite, 1);
            continue;
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int64_t e = e0 + j;
            if (e >= a.total) break;
            int64_t ae = block_elem_addr(a.blocks, a.bstart, a.nb, e);
            float v = p.rmsprop ? a.rms[e] : 0.f;
            float wn = sgld_one(p, half_lr, sqrt_lr, a.grad[ae], a.w[ae], a.anchor[ae], &v, xi[j]);
            if (p.rmsprop) a.rms[e] = v;
            a.w[ae] = wn;
            if (a.wb) a.wb[ae] = __float2bfloat16_rn(wn);
            if (!isfinite(wn)) atomicExch(a.nonfinite, 1);
        }
    }
}

sp_status sgld_update(cudaStream_t st, const sgld_args *a) {
    if (a->total <= 0) return SP_OK;
    sgld_update_kernel<<<grid_for((a->total + 3) / 4, 256), 256, 0, st>>>(*a);
    CK_LAUNCH("sgld_update_kernel");
    return SP_OK;
}

__global__ void reset_blocks_kernel(float *w, bf16 *wb, const float *anchor, const sp_block *blocks,
                                    const int64_t *bstart, int nb, int64_t total) {
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
        int64_t at = block_elem_addr(blocks, bstart, nb, e);
        float v = anchor[at];
        w[at] = v;
        if (wb) wb[at] = __float2bfloat16_rn(v);
    }
}

sp_status reset_blocks(cudaStream_t st, float *w, bf16 *wb, const float *anchor, const sp_block *blocks,
                       const int64_t *bstart, int nb, int64_t total) {
    if (total <= 0) return SP_OK;
    reset_blocks_kernel<<<grid_for(total, 256), 256, 0, st>>>(w, wb, anchor, blocks, bstart, nb, total);
    CK_LAUNCH("reset_blocks_kernel");
    return SP_OK;
}

/* ------------------------------------------------------------------ accumulation */
__global__ void accum_add_kernel(double *sum_l, double *sum_phil, const float *l, int64_t n, double phi) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        double v = (double)l[i];
        sum_l[i] += v;
        sum_phil[i] += phi * v;
    }
}

sp_status accum_add(cudaStream_t st, double *sum_l, double *sum_phil, const float *l, int64_t n, double phi) {
    if (n <= 0) return SP_OK;
    accum_add_kernel<<<grid_for(n, 256), 256, 0, st>>>(sum_l, sum_phil, l, n, phi);
    CK_LAUNCH("accum_add_kernel");
    return SP_OK;
}

/* ------------------------------------------------------------------ buffers */
extern "C" sp_status sp_buffer_create(sp_model *m, int64_t n, sp_buffer **out) {
    ENTER("sp_buffer_create");
    if (out) *out = NULL;
    TRY(sp_check_create("sp_buffer_create", out, m, n, 0));
    SET_DEVICE(m);
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
    TRY(sp_check_copy("sp_buffer_read", buf, "buffer", host, offset, n, buf ? buf->n : 0, "the buffer of ", " floats"));
    return copy_range(buf->m, buf->d, offset, n, host, NULL);
}

extern "C" sp_status sp_buffer_write(sp_buffer *buf, int64_t offset, int64_t n, const float *host) {
    ENTER("sp_buffer_write");
    TRY(sp_check_copy("sp_buffer_write", buf, "buffer", host, offset, n, buf ? buf->n : 0, "the buffer of ", " floats"));
    return copy_range(buf->m, buf->d, offset, n, NULL, host);
}

/* ------------------------------------------------------------------ SGLD */
extern "C" sp_status sp_sgld_update(sp_model *m, const sp_block *blocks, int32_t nb, sp_buffer *rms,
                                    const sp_sgld_params *p) {
    ENTER("sp_sgld_update");
    int64_t total = 0;
    TRY(sp_check_sgld_update("sp_sgld_update", m, m ? m->P : 0, blocks, nb, rms, rms ? rms->m : NULL, rms ? rms->n : 0, p,
                             &total));
    SET_DEVICE(m);
    if (total == 0) return SP_OK;
    TRY(ensure_anchor(m));   /* the anchor is made at the first step */
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

/* ------------------------------------------------------------------ accumulation */
extern "C" sp_status sp_accum_create(sp_model *m, int64_t n, sp_accum **out) {
    ENTER("sp_accum_create");
    if (out) *out = NULL;
    TRY(sp_check_create("sp_accum_create", out, m, n, 1));
    SET_DEVICE(m);
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
    ENTER("sp_accum_add");
    int64_t n = b ? (int64_t)b->B * (b->T - 1) : 0;
    TRY(sp_check_accum_add("sp_accum_add", a, a ? a->m : NULL, a ? a->n : 0, m, b, b ? b->m : NULL, n,
                           b ? b->has_losses : 0, phi));
    SET_DEVICE(m);
    PROF(m, "accum_add", 0, accum_add(m->st, a->sum_l, a->sum_phil, b->losses, n, phi));
    SYNC(m);
    return SP_OK;
}

extern "C" sp_status sp_accum_read(sp_accum *a, double *host_sum_l, double *host_sum_phil) {
    ENTER("sp_accum_read");
    TRY(sp_check_handle("sp_accum_read", a, "accum"));
    CK(cudaSetDevice(a->m->device));
    if (host_sum_l) CK(cudaMemcpyAsync(host_sum_l, a->sum_l, sizeof(double) * a->n, cudaMemcpyDeviceToHost, a->m->st));
    if (host_sum_phil) CK(cudaMemcpyAsync(host_sum_phil, a->sum_phil, sizeof(double) * a->n, cudaMemcpyDeviceToHost, a->m->st));
    SYNC(a->m);
    return SP_OK;
}

extern "C" sp_status sp_accum_reset(sp_accum *a) {
    ENTER("sp_accum_reset");
    TRY(sp_check_handle("sp_accum_reset", a, "accum"));
    CK(cudaSetDevice(a->m->device));
    CK(cudaMemsetAsync(a->sum_l, 0, sizeof(double) * a->n, a->m->st));
    CK(cudaMemsetAsync(a->sum_phil, 0, sizeof(double) * a->n, a->m->st));
    SYNC(a->m);
    return SP_OK;
}
