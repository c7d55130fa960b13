/*
 * dev/sgld_update.cu -- the fused SGLD kernel (sgld.cu sgld_update) on strided blocks: validated
 * against sgld_update_cpu (same Philox noise), then timed; GB/s against cudaMemcpy D2D.
 */
#include "common_dev.cuh"
#include "philox.h"   /* native/src/philox.h: the one Philox of both backends */

static void sgld_update_cpu(float *w, const float *ws, const float *g, float *rms, const sp_block *bl, int nb,
                            const sp_sgld_params *p) {
    int64_t e = 0;
    for (int b = 0; b < nb; b++)
        for (int64_t r = 0; r < bl[b].rows; r++)
            for (int64_t c = 0; c < bl[b].cols; c++, e++) {
                int64_t at = bl[b].offset + r * bl[b].stride + c;
                float G = 1, sG = 1;
                if (p->rmsprop) {
                    rms[e] = p->alpha * rms[e] + (1 - p->alpha) * g[at] * g[at];
                    G = 1.0f / (sqrtf(rms[e]) + p->rms_eps);
                    sG = sqrtf(G);
                }
                float xi = sp_noise_element(p->seed, p->stream, p->step, (uint64_t)e);
                w[at] = w[at] - 0.5f * p->lr * G * (p->nbeta * g[at] + p->gamma * (w[at] - ws[at])) +
                        sqrtf(p->lr) * sG * xi * p->noise_scale;
            }
}

int main(void) {
    /* a 2048-wide "head": 3 blocks like spectro's head component, plus a contiguous mlp-sized block */
    const int64_t d = 2048, hd = 128, f = 8192;
    const int64_t P = 3 * d * d + 3 * d + d * d + f * d + 1000;
    sp_block bl[4] = {{0, 3 * hd, d, d}, {3 * d * d, 1, 3 * hd, 3 * hd}, {3 * d * d + 3 * d + 5 * hd, d, hd, d},
                      {3 * d * d + 3 * d + d * d, 1, f * d, f * d}};
    int64_t n = 0;
    for (int i = 0; i < 4; i++) n += bl[i].rows * bl[i].cols;
    float *hw = dev_host_rand(P, 0.05f), *hws = dev_host_rand(P, 0.05f), *hg = dev_host_rand(P, 1.0f);
    float *hr = (float *)calloc(n, sizeof(float));
    float *w = dev_upload(hw, P), *ws = dev_upload(hws, P), *g = dev_upload(hg, P), *rms = dev_upload(hr, n);
    int64_t hs[5] = {0};
    for (int i = 0; i < 4; i++) hs[i + 1] = hs[i] + bl[i].rows * bl[i].cols;
    sp_block *dbl; int64_t *dbs; int *flag;
    DCK(cudaMalloc(&dbl, sizeof bl)); DCK(cudaMalloc(&dbs, sizeof hs)); DCK(cudaMalloc(&flag, sizeof(int)));
    DCK(cudaMemcpy(dbl, bl, sizeof bl, cudaMemcpyHostToDevice));
    DCK(cudaMemcpy(dbs, hs, sizeof hs, cudaMemcpyHostToDevice));
    DCK(cudaMemset(flag, 0, sizeof(int)));
    sp_sgld_params p = {1e-4f, 10.f, 300.f, 1, 0.99f, 0.1f, 1.0f, 7u << 12, 1234, 5};
    sgld_args a = {w, ws, g, NULL, rms, dbl, dbs, 4, n, p, flag};
    printf("sgld_update: %lld elements in 4 strided blocks\n", (long long)n);
    SCK(sgld_update(0, &a));
    DCK(cudaDeviceSynchronize());
    sgld_update_cpu(hw, hws, hg, hr, bl, 4, &p);
    dev_validate("w after one RMSProp-SGLD step", w, hw, P, 1e-6);
    dev_validate("rms state", rms, hr, n, 1e-6);
    float ms = dev_time_ms(20, [&] { sgld_update(0, &a); });
    double bytes = (double)n * 24;
    float *x, *y;
    DCK(cudaMalloc(&x, n * 12)); DCK(cudaMalloc(&y, n * 12));
    float mc = dev_time_ms(20, [&] { cudaMemcpyAsync(y, x, n * 12, cudaMemcpyDeviceToDevice, 0); });
    printf("  fused RMSProp-SGLD: %.3f ms, %.0f GB/s (24 B/element); cudaMemcpy D2D %.0f GB/s -> %.0f%%\n", ms,
           bytes / ms / 1e6, 2.0 * n * 12 / mc / 1e6, (bytes / ms) / (2.0 * n * 12 / mc) * 100);
    a.p.noise_scale = 0;
    ms = dev_time_ms(20, [&] { sgld_update(0, &a); });
    printf("  without noise:      %.3f ms, %.0f GB/s\n", ms, bytes / ms / 1e6);
    return 0;
}
