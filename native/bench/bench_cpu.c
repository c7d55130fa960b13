/*
 * bench_cpu.c -- micro-benchmark of the CPU backend through the ABI (sp_forward,
 * sp_forward_backward, restricted + cached variants).
 *
 *   bench_cpu [--vocab V] [--d D] [--layers L] [--heads H] [--ff F] [--rotary R] [--batch B]
 *             [--seq T] [--threads N] [--warmup W] [--runs R] [--fb-only 1] [--features 1] [--min-work W]
 * Defaults: the Pythia-14M shape (V 50304, d 128, 6 layers, 4 heads, f 512, rotary 8), B 8, T 256,
 * 2 threads, 2 warm-up runs, median of 7 runs (wall clock); also the fastest run and the median
 * process CPU time (all threads; includes OpenMP spin-waiting), useful on a busy machine.
 * Tokens/s counts all B*T positions. FLOPs: forward = 2 * (matmul MACs) per token, where matmul MACs
 * = L (4 d^2 + 2 d f) + V d (the classifier over all positions) + attention L * d * (T + 1)
 * (q.k and p.v over the causal half); forward+backward = 3 x forward (the usual convention).
 * --features 1: sp_forward vs sp_forward_features only, run alternately (one of each per round, so a
 * load change hits both) and reported as medians and the median of the per-round ratios (wall clock and
 * process CPU time).
 */
#include "../include/spectro.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double cpu_now(void) { /* CPU time of the whole process (all threads) */
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
extern long sp_par_min_work; /* pool.h: loops below this work run on one thread */
static double last_cpu_med, last_min, last_max;

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t st = 88172645463325252ull;
static double urand(void) {
    st ^= st << 13; st ^= st >> 7; st ^= st << 17;
    return ((st >> 11) + 0.5) / 9007199254740992.0;
}

#define DIE(call) do { sp_status s_ = (call); if (s_) { fprintf(stderr, "%s: %s\n", #call, sp_last_error()); return 1; } } while (0)

typedef sp_status (*step_fn)(sp_model *, sp_batch *, const void *);
static sp_status run_fwd(sp_model *m, sp_batch *b, const void *r) { return sp_forward(m, b, NULL, NULL); }
static sp_status run_fb(sp_model *m, sp_batch *b, const void *r) {
    return sp_forward_backward(m, b, (const sp_grad_request *)r, NULL, NULL);
}

static double median_time(step_fn f, sp_model *m, sp_batch *b, const void *r, int warmup, int runs) {
    double *t = malloc(sizeof(double) * runs), *ct = malloc(sizeof(double) * runs);
    for (int i = 0; i < warmup; i++) if (f(m, b, r)) { fprintf(stderr, "%s\n", sp_last_error()); exit(1); }
    for (int i = 0; i < runs; i++) {
        double t0 = now(), c0 = cpu_now();
        if (f(m, b, r)) { fprintf(stderr, "%s\n", sp_last_error()); exit(1); }
        t[i] = now() - t0;
        ct[i] = cpu_now() - c0;
    }
    qsort(t, runs, sizeof(double), cmp);
    qsort(ct, runs, sizeof(double), cmp);
    double med = t[runs / 2];
    last_cpu_med = ct[runs / 2];
    last_min = t[0];
    last_max = t[runs - 1];
    free(t);
    free(ct);
    return med;
}

/* sp_forward and sp_forward_features alternately; medians and the median per-round ratio, of the wall
 * clock and of the process CPU time (all threads: on a loaded host the steadier of the two) */
static int bench_features(sp_model *m, sp_batch *b, int64_t nf, int warmup, int runs) {
    float *feat = malloc(sizeof(float) * (size_t)nf);
    double *t = malloc(sizeof(double) * 6 * runs);
    double *tf = t, *tx = t + runs, *r = t + 2 * runs, *cf = t + 3 * runs, *cx = t + 4 * runs, *cr = t + 5 * runs;
    for (int i = 0; i < warmup + runs; i++) {
        double t0 = now(), c0 = cpu_now();
        DIE(sp_forward(m, b, NULL, NULL));
        double t1 = now(), c1 = cpu_now();
        DIE(sp_forward_features(m, b, feat, nf, NULL));
        double t2 = now(), c2 = cpu_now();
        int k = i - warmup;
        if (k < 0) continue;
        tf[k] = t1 - t0; tx[k] = t2 - t1; r[k] = tx[k] / tf[k];
        cf[k] = c1 - c0; cx[k] = c2 - c1; cr[k] = cx[k] / cf[k];
    }
    for (int j = 0; j < 6; j++) qsort(t + j * runs, runs, sizeof(double), cmp);
    int h = runs / 2;
    printf("wall: forward_ms %.3f features_ms %.3f ratio %.3f (per-round ratios %.3f .. %.3f)\n", 1e3 * tf[h], 1e3 * tx[h],
           r[h], r[0], r[runs - 1]);
    printf("cpu:  forward_ms %.3f features_ms %.3f ratio %.3f (per-round ratios %.3f .. %.3f) | %lld feature floats\n",
           1e3 * cf[h], 1e3 * cx[h], cr[h], cr[0], cr[runs - 1], (long long)nf);
    free(feat); free(t);
    return 0;
}

int main(int argc, char **argv) {
    sp_config c = {50304, 128, 6, 4, 512, 8, 2048, 10000.0f, 1e-5f};
    int B = 8, T = 256, threads = 2, warmup = 2, runs = 7, fb_only = 0, features = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--vocab")) c.vocab_size = v;
        else if (!strcmp(argv[i], "--d")) c.d_model = v;
        else if (!strcmp(argv[i], "--layers")) c.n_layers = v;
        else if (!strcmp(argv[i], "--heads")) c.n_heads = v;
        else if (!strcmp(argv[i], "--ff")) c.d_ff = v;
        else if (!strcmp(argv[i], "--rotary")) c.rotary_dims = v;
        else if (!strcmp(argv[i], "--batch")) B = v;
        else if (!strcmp(argv[i], "--seq")) T = v;
        else if (!strcmp(argv[i], "--threads")) threads = v;
        else if (!strcmp(argv[i], "--warmup")) warmup = v;
        else if (!strcmp(argv[i], "--runs")) runs = v;
        else if (!strcmp(argv[i], "--fb-only")) fb_only = v;
        else if (!strcmp(argv[i], "--features")) features = v;
        else if (!strcmp(argv[i], "--min-work")) sp_par_min_work = atol(argv[i + 1]);
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (argc % 2 == 0) { fprintf(stderr, "usage: bench_cpu [--vocab V] [--d D] ... (see source)\n"); return 2; }
    if (T > c.max_seq) c.max_seq = T;
    int64_t P = sp_param_count(&c);
    if (P < 0) { fprintf(stderr, "%s\n", sp_last_error()); return 2; }
    int L = c.n_layers;
    int64_t *off = malloc(sizeof(int64_t) * SP_TENSORS(L));
    DIE(sp_param_offsets(&c, off, SP_TENSORS(L)));
    float *p = malloc(sizeof(float) * P);
    for (int64_t i = 0; i < P; i++) p[i] = (float)(0.04 * (urand() - 0.5));
    for (int l = 0; l <= L; l++) { /* LayerNorm weights 1 */
        int64_t o = l < L ? off[1 + 12 * l] : off[1 + 12 * L];
        for (int i = 0; i < c.d_model; i++) p[o + i] = 1.0f;
        if (l < L) for (int i = 0; i < c.d_model; i++) p[off[1 + 12 * l + 2] + i] = 1.0f;
    }
    int32_t *tok = malloc(sizeof(int32_t) * B * T);
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(urand() * c.vocab_size) % c.vocab_size;
    sp_options o = {threads, 0, SP_PRECISION_FP32, B * T};
    sp_model *m;
    sp_batch *b;
    DIE(sp_model_create(&c, &o, &m));
    DIE(sp_model_load(m, p, P));
    DIE(sp_batch_create(m, tok, B, T, &b));

    double d = c.d_model, f = c.d_ff, V = c.vocab_size;
    double macs = L * (4 * d * d + 2 * d * f) + V * d + L * d * (T + 1);
    double fwd_flops = 2 * macs * B * T, fb_flops = 3 * fwd_flops;
    printf("shape: V %d d %d L %d heads %d f %d rotary %d | B %d T %d | threads %d | median of %d (warm-up %d)\n",
           c.vocab_size, c.d_model, L, c.n_heads, c.d_ff, c.rotary_dims, B, T, threads, runs, warmup);
    sp_grad_request full = {0, NULL, 0};
    if (features) return bench_features(m, b, (int64_t)B * (T - 1) * sp_feature_count(&c), warmup, runs);
    if (fb_only) { /* one line: forward+backward (full) median, min, max ms (scripts/bench-contention) */
        double tb = median_time(run_fb, m, b, &full, warmup, runs);
        printf("fb_ms %.3f min %.3f max %.3f\n", 1e3 * tb, 1e3 * last_min, 1e3 * last_max);
        return 0;
    }
    double tf = median_time(run_fwd, m, b, NULL, warmup, runs);
    printf("%-34s %9.2f ms %10.0f tok/s %7.1f GFLOP/s | min %8.2f ms | cpu %8.2f ms\n", "forward", 1e3 * tf, B * T / tf, fwd_flops / tf * 1e-9, 1e3 * last_min, 1e3 * last_cpu_med);
    double tb = median_time(run_fb, m, b, &full, warmup, runs);
    printf("%-34s %9.2f ms %10.0f tok/s %7.1f GFLOP/s | min %8.2f ms | cpu %8.2f ms\n", "forward+backward (full)", 1e3 * tb, B * T / tb, fb_flops / tb * 1e-9, 1e3 * last_min, 1e3 * last_cpu_med);
    /* restricted: one head of the top layer, batch cached at that layer */
    int hd = c.d_model / c.n_heads, lt = L - 1;
    sp_block head[3] = {
        {off[1 + 12 * lt + 4], 3 * hd, c.d_model, c.d_model},
        {off[1 + 12 * lt + 5], 1, 3 * hd, 3 * hd},
        {off[1 + 12 * lt + 6], c.d_model, hd, c.d_model},
    };
    sp_grad_request rh = {lt, head, 3};
    DIE(sp_batch_cache_at(m, b, lt));
    double th = median_time(run_fb, m, b, &rh, warmup, runs);
    printf("%-34s %9.2f ms %10.0f tok/s                 | min %8.2f ms | cpu %8.2f ms\n", "fwd+bwd head l(L-1)h0, cached", 1e3 * th, B * T / th, 1e3 * last_min, 1e3 * last_cpu_med);
    sp_block h0[3] = {
        {off[1 + 4], 3 * hd, c.d_model, c.d_model}, {off[1 + 5], 1, 3 * hd, 3 * hd}, {off[1 + 6], c.d_model, hd, c.d_model}};
    sp_grad_request r0 = {0, h0, 3};
    DIE(sp_batch_cache_at(m, b, 0));
    double t0 = median_time(run_fb, m, b, &r0, warmup, runs);
    printf("%-34s %9.2f ms %10.0f tok/s                 | min %8.2f ms | cpu %8.2f ms\n", "fwd+bwd head l0h0, cached at 0", 1e3 * t0, B * T / t0, 1e3 * last_min, 1e3 * last_cpu_med);
    sp_block ue = {off[3 + 12 * L], c.vocab_size, c.d_model, c.d_model};
    sp_grad_request ru = {L, &ue, 1};
    DIE(sp_batch_cache_at(m, b, L));
    double tu = median_time(run_fb, m, b, &ru, warmup, runs);
    printf("%-34s %9.2f ms %10.0f tok/s                 | min %8.2f ms | cpu %8.2f ms\n", "fwd+bwd unembed, cached at L", 1e3 * tu, B * T / tu, 1e3 * last_min, 1e3 * last_cpu_med);
    double tfc = median_time(run_fwd, m, b, NULL, warmup, runs);
    printf("%-34s %9.2f ms %10.0f tok/s                 | min %8.2f ms | cpu %8.2f ms\n", "forward, cached at L", 1e3 * tfc, B * T / tfc, 1e3 * last_min, 1e3 * last_cpu_med);
    sp_batch_destroy(b);
    sp_model_destroy(m);
    free(p); free(tok); free(off);
    return 0;
}
