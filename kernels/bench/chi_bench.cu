/*
 * chi_bench.cu -- what one chi vector costs on this GPU: steady-state time of one restricted SGLD step
 * (sp_forward_backward with cache + stop_layer + blocks, then the fused RMSProp-SGLD update) for
 * representative components of a Pythia shape, the per-draw observable forward (sp_forward +
 * sp_accum_add, from the cache and from the embedding), and the projection to GPU-seconds per chi
 * vector at the published settings (method.md sections 2 and 5).
 *
 *   chi_bench [--shape 1.4b] [--B 16] [--T 512] [--steps 8] [--chains 4] [--draws 100] [--gap 160]
 *             [--burnin 0] [--sampling 8192]
 *
 * Projection (all assumptions printed): H + 1 runs (H components + the unrestricted full run), each
 * chains x (burnin + draws x gap) SGLD steps; per draw a forward over the probe set (Np tokens, one
 * chi vector per probe token) and the sampling set (Ns tokens) + accumulation. Heads and MLPs of
 * layer l cost what the measured layers 0, L/2, L-1 give by linear interpolation; the observable
 * forward of a run restricted to layer l starts at layer l when the observables' residual at l is
 * kept ("cached": (Np + Ns) x d x 4 bytes per run), else at the embedding ("uncached").
 * Links the backend objects directly (no dlopen, no Java).
 */
#include "common.cuh"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" const char *sp_cuda_describe(const sp_model *m);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static uint64_t rs = 0x9E3779B97F4A7C15ULL;
static inline float rnd(void) {
    rs ^= rs >> 12; rs ^= rs << 25; rs ^= rs >> 27;
    return (float)((rs * 2685821657736338717ULL) >> 40) * (1.0f / 8388608.0f) - 1.0f;
}
#define OK(call) do { sp_status s_ = (call); if (s_ != SP_OK) { \
    printf("ERROR %s -> %d: %s\n", #call, (int)s_, sp_last_error()); exit(1); } } while (0)

typedef struct { const char *name; int layer; int stop; sp_block bl[4]; int nb; int64_t n; } comp;

static double interp(const int *ls, const double *v, int n, int l) {   /* piecewise linear in the layer */
    if (l <= ls[0]) return v[0];
    for (int i = 1; i < n; i++)
        if (l <= ls[i]) return v[i - 1] + (v[i] - v[i - 1]) * (double)(l - ls[i - 1]) / (double)(ls[i] - ls[i - 1]);
    return v[n - 1];
}

int main(int argc, char **argv) {
    const char *shape = "1.4b";
    int B = 16, T = 512, steps = 8, chains = 4, draws = 100, gap = 160, burnin = 0;
    double Ns = 8192;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shape") && i + 1 < argc) shape = argv[++i];
        else if (!strcmp(argv[i], "--B") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--T") && i + 1 < argc) T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--chains") && i + 1 < argc) chains = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--draws") && i + 1 < argc) draws = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gap") && i + 1 < argc) gap = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--burnin") && i + 1 < argc) burnin = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sampling") && i + 1 < argc) Ns = atof(argv[++i]);
        else { printf("usage: chi_bench [--shape 1.4b|410m|160m] [--B 16] [--T 512] [--steps 8] [--chains 4] [--draws 100] [--gap 160] [--burnin 0] [--sampling 8192]\n"); return 2; }
    }
    sp_config cfg;
    if (!strcmp(shape, "1.4b")) cfg = (sp_config){50304, 2048, 24, 16, 8192, 32, 2048, 10000.f, 1e-5f};
    else if (!strcmp(shape, "410m")) cfg = (sp_config){50304, 1024, 24, 16, 4096, 16, 2048, 10000.f, 1e-5f};
    else if (!strcmp(shape, "160m")) cfg = (sp_config){50304, 768, 12, 12, 3072, 16, 2048, 10000.f, 1e-5f};
    else { printf("unknown shape %s\n", shape); return 2; }
    if (sp_backend_probe() != SP_OK) { printf("no GPU: %s\n", sp_last_error()); return 1; }
    const int L = cfg.n_layers, d = cfg.d_model, nh = cfg.n_heads, hd = d / nh, V = cfg.vocab_size;
    const int64_t P = sp_param_count(&cfg);
    int64_t *off = (int64_t *)malloc(sizeof(int64_t) * (SP_TENSORS(L) + 1));
    OK(sp_param_offsets(&cfg, off, SP_TENSORS(L)));
    off[SP_TENSORS(L)] = P;
    sp_options opt = {0, 0, SP_PRECISION_BF16, B * T};
    sp_model *m;
    OK(sp_model_create(&cfg, &opt, &m));
    printf("chi_bench %s bf16, B=%d T=%d (%d tokens per batch), params %.1fM\n  %s\n", shape, B, T, B * T, P / 1e6,
           sp_cuda_describe(m));
    float *host = (float *)malloc(sizeof(float) * P);
    for (int64_t i = 0; i < P; i++) host[i] = 0.02f * rnd();
    for (int l = 0; l <= L; l++)
        for (int k = 0; k < (l < L ? 2 : 1); k++) {
            int64_t o = off[l < L ? 1 + 12 * l + 2 * k : 1 + 12 * L];
            for (int c = 0; c < d; c++) host[o + c] = 1.0f;
        }
    OK(sp_model_load(m, host, P));
    free(host);
    int32_t *tok = (int32_t *)malloc(sizeof(int32_t) * B * T), *tok2 = (int32_t *)malloc(sizeof(int32_t) * B * T);
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int32_t)((rnd() + 1.0f) * 0.5f * (V - 1));
        tok2[i] = (int32_t)((rnd() + 1.0f) * 0.5f * (V - 1));
    }
    sp_batch *b, *obs;
    OK(sp_batch_create(m, tok, B, T, &b));        /* the SGLD minibatch */
    OK(sp_batch_create(m, tok2, B, T, &obs));     /* an observable batch (probe or sampling) */
    sp_accum *acc;
    OK(sp_accum_create(m, (int64_t)B * (T - 1), &acc));

    const int mid = L / 2, ls[3] = {0, mid, L - 1};
    comp cs[9];
    int nc = 0;
    for (int i = 0; i < 3; i++) {
        int l = ls[i], base = 1 + 12 * l;
        comp c = {"head", l, l, {{off[base + 4], 3 * hd, d, d}, {off[base + 5], 1, 3 * hd, 3 * hd}, {off[base + 6], d, hd, d}}, 3, 0};
        cs[nc++] = c;
    }
    for (int i = 0; i < 3; i++) {
        int l = ls[i], base = 1 + 12 * l;
        comp c = {"mlp", l, l, {}, 4, 0};
        for (int k = 0; k < 4; k++) {
            int64_t n = off[base + 8 + k + 1] - off[base + 8 + k];
            c.bl[k] = (sp_block){off[base + 8 + k], 1, n, n};
        }
        cs[nc++] = c;
    }
    { int64_t n = (int64_t)V * d; comp c = {"unembed", L, L, {{off[3 + 12 * L], 1, n, n}}, 1, 0}; cs[nc++] = c; }
    { int64_t n = (int64_t)V * d; comp c = {"embed", 0, 0, {{off[0], 1, n, n}}, 1, 0}; cs[nc++] = c; }
    { comp c = {"full", 0, 0, {{0, 1, P, P}}, 1, 0}; cs[nc++] = c; }
    for (int i = 0; i < nc; i++) {
        cs[i].n = 0;
        for (int k = 0; k < cs[i].nb; k++) cs[i].n += cs[i].bl[k].rows * cs[i].bl[k].cols;
    }
    sp_buffer *rms;
    OK(sp_buffer_create(m, P, &rms));
    double tstep[9], tfb[9], tsg[9];
    printf("\n| component | layer | elements | fwd+bwd ms | SGLD update ms | step ms |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < nc; i++) {
        comp *c = &cs[i];
        const bool full = !strcmp(c->name, "full");
        sp_grad_request req = {c->stop, full ? NULL : c->bl, full ? 0 : c->nb};
        OK(sp_batch_cache_at(m, b, (full || !strcmp(c->name, "embed")) ? -1 : c->layer));
        sp_sgld_params p = {1e-5f, 10.f, 300.f, 1, 0.99f, 0.1f, 1.0f, (uint32_t)(i << 12), 1234, 0};
        double mean;
        for (int s = 0; s < 2; s++) {
            OK(sp_forward_backward(m, b, &req, NULL, &mean));
            p.step = s;
            OK(sp_sgld_update(m, c->bl, c->nb, rms, &p));
        }
        double a = 0, g = 0;
        for (int s = 0; s < steps; s++) {
            double t0 = now();
            OK(sp_forward_backward(m, b, &req, NULL, &mean));
            double t1 = now();
            p.step = 2 + s;
            OK(sp_sgld_update(m, c->bl, c->nb, rms, &p));
            a += t1 - t0;
            g += now() - t1;
        }
        tfb[i] = a / steps; tsg[i] = g / steps; tstep[i] = tfb[i] + tsg[i];
        printf("| %s | %d | %.1fM | %.2f | %.3f | %.2f |\n", c->name, c->layer, c->n / 1e6, tfb[i] * 1e3, tsg[i] * 1e3,
               tstep[i] * 1e3);
        fflush(stdout);
        OK(sp_params_reset(m, c->bl, c->nb));
    }
    OK(sp_batch_cache_at(m, b, -1));
    /* per-draw observable forward: from the embedding and from cached layers 0, mid, L-1, L */
    const int fl[4] = {0, mid, L - 1, L};
    double tf[4], tf_nc;
    {
        double mean;
        OK(sp_batch_cache_at(m, obs, -1));
        OK(sp_forward(m, obs, NULL, &mean));
        double t0 = now();
        for (int s = 0; s < steps; s++) { OK(sp_forward(m, obs, NULL, &mean)); OK(sp_accum_add(acc, m, obs, 0.5)); }
        tf_nc = (now() - t0) / steps;
        for (int i = 0; i < 4; i++) {
            OK(sp_batch_cache_at(m, obs, fl[i]));
            OK(sp_forward(m, obs, NULL, &mean));
            t0 = now();
            for (int s = 0; s < steps; s++) { OK(sp_forward(m, obs, NULL, &mean)); OK(sp_accum_add(acc, m, obs, 0.5)); }
            tf[i] = (now() - t0) / steps;
        }
    }
    printf("\nobservable forward + accumulate, %d tokens: from the embedding %.2f ms (%.0f tokens/s); "
           "cached at layer 0 %.2f, %d %.2f, %d %.2f, %d %.2f ms\n", B * T, tf_nc * 1e3, B * T / tf_nc, tf[0] * 1e3,
           mid, tf[1] * 1e3, L - 1, tf[2] * 1e3, L, tf[3] * 1e3);

    /* ---- projection */
    const double Sst = (double)chains * (burnin + (double)draws * gap);   /* SGLD steps per run */
    const double Dr = (double)chains * draws;                             /* observable forwards per run */
    const double ntok = (double)B * T;
    double sgld = 0, fw_c = 0, fw_u = 0;   /* seconds; forward per observable token */
    const double hv[3] = {tstep[0], tstep[1], tstep[2]}, mv[3] = {tstep[3], tstep[4], tstep[5]};
    for (int l = 0; l < L; l++) {
        double th = interp(ls, hv, 3, l), tm = interp(ls, mv, 3, l);
        double ff = interp(fl, tf, 4, l) / ntok;
        sgld += Sst * (nh * th + tm);
        fw_c += Dr * (nh + 1) * ff;
    }
    sgld += Sst * (tstep[6] + tstep[7] + tstep[8]);                   /* unembed, embed, full */
    fw_c += Dr * (tf[3] / ntok + 2 * tf_nc / ntok);
    fw_u = Dr * ((double)nh * L + L + 3) * tf_nc / ntok;
    const int H = nh * L + L + 2;
    printf("\nprojection, published settings: %d components + full run = %d runs, %d chains x (%d burn-in + %d draws x %d steps)"
           " = %.0f SGLD steps per run, %d x %d = %.0f observable forwards per run; sampling set Ns = %.0f tokens;\n"
           "one chi vector per probe token; SGLD minibatch %d x %d; head/mlp cost of layer l interpolated from layers 0, %d, %d\n",
           H, H + 1, chains, burnin, draws, gap, Sst, chains, draws, Dr, Ns, B, T, mid, L - 1);
    printf("SGLD total %.0f GPU-s (%.1f GPU-h) per sweep; observable forward %.4f GPU-s per token cached, %.4f uncached\n",
           sgld, sgld / 3600, fw_c, fw_u);
    printf("\n| probe tokens Np | SGLD s/vector | forward s/vector (cached) | total s/vector (cached) | vs 4.1 H200-s | total uncached | vs 4.1 |\n|---|---|---|---|---|---|---|\n");
    const double nps[5] = {8192, 65536, 524288, 1048576, 4250000};
    for (int i = 0; i < 5; i++) {
        double Np = nps[i];
        double s1 = sgld / Np, f1 = fw_c * (Np + Ns) / Np, f2 = fw_u * (Np + Ns) / Np;
        printf("| %.0f | %.4f | %.4f | %.4f | %.1fx | %.4f | %.1fx |\n", Np, s1, f1, s1 + f1, 4.1 / (s1 + f1), s1 + f2,
               4.1 / (s1 + f2));
    }
    sp_accum_destroy(acc);
    sp_buffer_destroy(rms);
    sp_batch_destroy(obs);
    sp_batch_destroy(b);
    sp_model_destroy(m);
    free(off); free(tok); free(tok2);
    return 0;
}
