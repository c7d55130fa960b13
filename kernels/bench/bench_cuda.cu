/*
 * bench_cuda.cu -- throughput of the CUDA backend at Pythia shapes with random weights.
 *   bench_cuda [--shapes 160m,410m,1.4b] [--B 16] [--T 512] [--steps 5] [--precision bf16|fp32|both]
 * Prints, per shape: forward and forward+backward tokens/s, model TFLOP/s and MFU
 * (flops = 6 * (params - embed_in) * tokens + 12 * L * d * T * tokens, the PaLM/llm.c count; MFU
 * against 989 TFLOP/s, the dense bf16 peak of H100/H200 SXM, in both precisions), the
 * restriction-aware fast path (head of the top layer with the
 * batch cached at the layer below), the fused SGLD update time and its GB/s against a measured
 * device-to-device copy bandwidth. Links the backend objects directly (no dlopen).
 */
#include "common.cuh"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" const char *sp_cuda_describe(const sp_model *m);
extern "C" const char *sp_cuda_profile(sp_model *m, int steps);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static uint64_t rng_state = 88172645463325252ULL;
static inline float rnd(void) {   /* xorshift64*, uniform in [-1, 1) */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (float)((rng_state * 2685821657736338717ULL) >> 40) * (1.0f / 8388608.0f) - 1.0f;
}

#define OK(call) do { sp_status s_ = (call); if (s_ != SP_OK) { printf("  ERROR %s -> %d: %s\n", #call, (int)s_, sp_last_error()); goto done; } } while (0)

static void bench_shape(const char *name, sp_config cfg, int B, int T, int steps, int precision) {
    const double peak = 989e12;
    sp_options opt = {0, 0, precision, B * T};
    sp_model *m = NULL;
    sp_batch *b = NULL;
    sp_buffer *rms = NULL;
    float *host = NULL;
    int32_t *tok = NULL;
    int64_t P = sp_param_count(&cfg);
    int L = cfg.n_layers, d = cfg.d_model, V = cfg.vocab_size, nh = cfg.n_heads, hd = d / nh;
    int64_t *off = (int64_t *)malloc(sizeof(int64_t) * SP_TENSORS(L));
    sp_param_offsets(&cfg, off, SP_TENSORS(L));
    printf("== %s %s: d=%d L=%d heads=%d d_ff=%d V=%d params %.1fM, B=%d T=%d\n", name, precision ? "bf16" : "fp32",
           d, L, nh, cfg.d_ff, V, P / 1e6, B, T);
    fflush(stdout);
    double t0 = now();
    OK(sp_model_create(&cfg, &opt, &m));
    printf("  %s (create %.2f s)\n", sp_cuda_describe(m), now() - t0);
    host = (float *)malloc(sizeof(float) * P);
    tok = (int32_t *)malloc(sizeof(int32_t) * B * T);
    if (!host || !tok) { printf("  ERROR host allocation\n"); goto done; }
    for (int64_t i = 0; i < P; i++) host[i] = 0.03f * rnd();
    for (int l = 0; l <= L; l++) {   /* LayerNorm weights 1 so that activations keep a sane scale */
        int idx[2] = {1 + 12 * l, 1 + 12 * l + 2};   /* input_layernorm.weight, post_attention_layernorm.weight */
        for (int k = 0; k < (l < L ? 2 : 1); k++)
            for (int c = 0; c < d; c++) host[off[l < L ? idx[k] : 1 + 12 * L] + c] = 1.0f;
    }
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)((rnd() + 1.0f) * 0.5f * (V - 1));
    t0 = now();
    OK(sp_model_load(m, host, P));
    printf("  load %.2f s\n", now() - t0);
    OK(sp_batch_create(m, tok, B, T, &b));
    {
        double mean = 0;
        const double toks = (double)B * T;
        const double flops = 6.0 * (double)(P - (int64_t)V * d) * toks + 12.0 * L * d * (double)T * toks;
        for (int i = 0; i < 2; i++) OK(sp_forward_backward(m, b, NULL, NULL, &mean));
        t0 = now();
        for (int i = 0; i < steps; i++) OK(sp_forward_backward(m, b, NULL, NULL, &mean));
        double dt = (now() - t0) / steps, dtf = dt;
        printf("  forward+backward: %.1f ms/step, %.0f tokens/s, %.1f TFLOP/s, MFU %.1f%% (loss %.4f)\n", dt * 1e3,
               toks / dt, flops / dt / 1e12, flops / dt / peak * 100, mean);
        t0 = now();
        for (int i = 0; i < steps; i++) OK(sp_forward(m, b, NULL, &mean));
        dt = (now() - t0) / steps;
        printf("  forward:          %.1f ms/step, %.0f tokens/s, %.1f TFLOP/s, MFU %.1f%%\n", dt * 1e3, toks / dt,
               flops / 3 / dt / 1e12, flops / 3 / dt / peak * 100);
        fflush(stdout);
        /* where the time goes: device time per op (profile.cu), measured in separate, profiled steps */
        sp_cuda_profile(m, -1);
        for (int i = 0; i < 3; i++) OK(sp_forward_backward(m, b, NULL, NULL, &mean));
        printf("\n  device time per op, forward+backward (3 profiled steps; the un-profiled step above: %.1f ms)\n\n%s\n",
               dtf * 1e3, sp_cuda_profile(m, 3));
        sp_cuda_profile(m, -1);
        for (int i = 0; i < 3; i++) OK(sp_forward(m, b, NULL, &mean));
        printf("  device time per op, forward only (3 profiled steps; un-profiled: %.1f ms)\n\n%s\n", dt * 1e3,
               sp_cuda_profile(m, 3));
        fflush(stdout);
        /* restriction-aware fast path: head 0 of the top layer, batch cached at the top layer */
        int l = L - 1;
        sp_block hb[3] = {{off[1 + 12 * l + 4], 3 * hd, d, d}, {off[1 + 12 * l + 5], 1, 3 * hd, 3 * hd},
                          {off[1 + 12 * l + 6], d, hd, d}};
        sp_grad_request req = {l, hb, 3};
        OK(sp_batch_cache_at(m, b, l));
        for (int i = 0; i < 2; i++) OK(sp_forward_backward(m, b, &req, NULL, &mean));
        t0 = now();
        for (int i = 0; i < steps; i++) OK(sp_forward_backward(m, b, &req, NULL, &mean));
        double dtr = (now() - t0) / steps;
        printf("  restricted (head l%dh0, cache at layer %d): forward+backward %.1f ms/step, %.0f tokens/s (%.1fx faster than the full step)\n",
               l, l, dtr * 1e3, toks / dtr, dtf / dtr);
        OK(sp_batch_cache_at(m, b, -1));
        fflush(stdout);
        /* SGLD: the mlp component of layer 0 (both matrices and biases), RMSProp + noise */
        sp_block mb[4];
        int64_t n = 0;
        for (int k = 0; k < 4; k++) {
            int t = 1 + 12 * 0 + 8 + k;
            int64_t numel = off[t + 1] - off[t];
            mb[k].offset = off[t]; mb[k].rows = 1; mb[k].cols = numel; mb[k].stride = numel;
            n += numel;
        }
        OK(sp_buffer_create(m, n, &rms));
        sp_sgld_params p = {1e-5f, 10.f, 300.f, 1, 0.99f, 0.1f, 1.0f, 1u << 12, 42, 0};
        for (int i = 0; i < 3; i++) { p.step = i; OK(sp_sgld_update(m, mb, 4, rms, &p)); }
        int reps = 20;
        t0 = now();
        for (int i = 0; i < reps; i++) { p.step = 10 + i; OK(sp_sgld_update(m, mb, 4, rms, &p)); }
        double ds = (now() - t0) / reps;
        double bytes = (double)n * (4 * 6 + (precision ? 2 : 0));
        /* device-to-device copy bandwidth over the same number of bytes */
        void *x = NULL, *y = NULL;
        size_t cb = (size_t)n * 4 * 3;
        double bw = 0;
        if (cudaMalloc(&x, cb) == cudaSuccess && cudaMalloc(&y, cb) == cudaSuccess) {
            cudaMemcpy(y, x, cb, cudaMemcpyDeviceToDevice);
            cudaDeviceSynchronize();
            double tc = now();
            for (int i = 0; i < reps; i++) cudaMemcpy(y, x, cb, cudaMemcpyDeviceToDevice);
            cudaDeviceSynchronize();
            tc = (now() - tc) / reps;
            bw = 2.0 * cb / tc;
        }
        cudaGetLastError();
        if (x) cudaFree(x);
        if (y) cudaFree(y);
        printf("  SGLD RMSProp update, %lld elements (mlp of layer 0): %.3f ms/step (host call incl.), %.0f GB/s "
               "(%.0f bytes/element); device memcpy %.0f GB/s (read+write) -> %.0f%% of copy bandwidth\n",
               (long long)n, ds * 1e3, bytes / ds / 1e9, bytes / n, bw / 1e9, bw > 0 ? bytes / ds / bw * 100 : 0);
        p.noise_scale = 0.f;
        t0 = now();
        for (int i = 0; i < reps; i++) { p.step = 40 + i; OK(sp_sgld_update(m, mb, 4, rms, &p)); }
        ds = (now() - t0) / reps;
        printf("  SGLD without noise: %.3f ms/step, %.0f GB/s\n", ds * 1e3, bytes / ds / 1e9);
    }
done:
    fflush(stdout);
    sp_buffer_destroy(rms);
    sp_batch_destroy(b);
    sp_model_destroy(m);
    free(host);
    free(tok);
    free(off);
}

int main(int argc, char **argv) {
    const char *shapes = "160m,410m,1.4b", *prec = "bf16";
    int B = 16, T = 512, steps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shapes") && i + 1 < argc) shapes = argv[++i];
        else if (!strcmp(argv[i], "--B") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--T") && i + 1 < argc) T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) prec = argv[++i];
        else { printf("usage: bench_cuda [--shapes 160m,410m,1.4b] [--B 16] [--T 512] [--steps 5] [--precision bf16|fp32|both]\n"); return 2; }
    }
    if (sp_backend_probe() != SP_OK) { printf("no GPU: %s\n", sp_last_error()); return 1; }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", shapes);
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
        sp_config c;
        if (!strcmp(s, "14m")) c = (sp_config){50304, 128, 6, 4, 512, 8, 2048, 10000.f, 1e-5f};
        else if (!strcmp(s, "70m")) c = (sp_config){50304, 512, 6, 8, 2048, 16, 2048, 10000.f, 1e-5f};
        else if (!strcmp(s, "160m")) c = (sp_config){50304, 768, 12, 12, 3072, 16, 2048, 10000.f, 1e-5f};
        else if (!strcmp(s, "410m")) c = (sp_config){50304, 1024, 24, 16, 4096, 16, 2048, 10000.f, 1e-5f};
        else if (!strcmp(s, "1b")) c = (sp_config){50304, 2048, 16, 8, 8192, 64, 2048, 10000.f, 1e-5f};
        else if (!strcmp(s, "1.4b")) c = (sp_config){50304, 2048, 24, 16, 8192, 32, 2048, 10000.f, 1e-5f};
        else { printf("unknown shape %s\n", s); continue; }
        if (!strcmp(prec, "bf16") || !strcmp(prec, "both")) bench_shape(s, c, B, T, steps, SP_PRECISION_BF16);
        if (!strcmp(prec, "fp32") || !strcmp(prec, "both")) bench_shape(s, c, B, T, steps, SP_PRECISION_FP32);
    }
    return 0;
}
