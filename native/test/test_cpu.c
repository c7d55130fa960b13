/*
 * test_cpu.c -- native tests of the CPU backend (run by `make test`).
 *
 * What is checked, and the tolerances (with their reasons):
 *  - forward losses against an independent double-precision reference written here (naive loops):
 *    |l_cpu - l_ref| <= 2e-6 + 2e-6 |l_ref|: fp32 sums over d, f, V terms (V in double in the
 *    classifier) keep a few 1e-7 relative error at these sizes;
 *  - every gradient element against central finite differences of the double reference
 *    (h = 1e-4, truncation and rounding ~1e-9, i.e. exact for our purpose):
 *    |g_cpu - g_fd| <= 3e-6 max|g_tensor| + 2e-4 |g_fd|: fp32 backward, ~6e-8 relative rounding per
 *    op accumulated over the ops of the network (measured worst case ~1/10 of this bound); elements far
 *    below their tensor's scale are judged against that scale (absolute), the others relatively;
 *  - directional central differences of the backend's OWN fp32 forward (h = 1e-2 along a random unit
 *    direction per tensor): |fd - g.u| <= 5e-4 + 2e-2 |g.u|: the fp32 loss carries ~1e-6 absolute
 *    noise, divided by 2h = 2e-2 that is ~5e-5, plus O(h^2) truncation;
 *  - bit-identical results: restricted backward vs full, cache path vs plain path, 1 vs 2 vs 3 threads
 *    (with the one-thread work threshold and with every loop split);
 *  - Philox known answer, sp_noise statistics and reproducibility, SGLD update algebra, restriction,
 *    error paths.
 */
#include "../include/spectro.h"
#include "../src/philox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_model.h"

/* ---------------------------------------------------------------- tests */
static void test_layout(void) {
    sp_config p14 = {50304, 128, 6, 4, 512, 8, 2048, 10000.0f, 1e-5f};
    CHECK(sp_param_count(&p14) == 14067712, "pythia-14m param count %lld", (long long)sp_param_count(&p14));
    int64_t off[SP_TENSORS(6)];
    OK(sp_param_offsets(&p14, off, SP_TENSORS(6)));
    CHECK(off[1] == 50304 * 128 && off[SP_TENSORS(6) - 1] == 14067712 - 50304 * 128, "offsets");
    sp_config bad = p14;
    bad.n_heads = 3;
    CHECK(sp_param_count(&bad) == -1, "invalid config count");
    CHECK(sp_config_validate(&bad) == SP_ERR_INVALID && strstr(sp_last_error(), "n_heads"), "validate: %s", sp_last_error());
    bad = p14; bad.rotary_dims = 7;
    CHECK(sp_config_validate(&bad) == SP_ERR_INVALID && strstr(sp_last_error(), "rotary_dims"), "rotary odd");
    bad = p14; bad.ln_eps = 0;
    CHECK(sp_config_validate(&bad) == SP_ERR_INVALID, "eps 0");
    CHECK(sp_config_validate(NULL) == SP_ERR_INVALID, "NULL config");
    CHECK(sp_config_validate(&p14) == SP_OK && sp_last_error()[0] == 0, "valid config clears the error");
    CHECK(sp_abi_version() == SP_ABI_VERSION && strcmp(sp_backend_name(), "cpu") == 0, "identity");
    CHECK(sp_backend_probe() == SP_OK, "probe");
    CHECK(sp_batch_cache_bytes(&p14, 8, 256) == 8LL * 256 * 128 * 4, "cache bytes");
}

static void test_gradients(sp_config c, int B, int T, const char *name) {
    layout ly = make_layout(c);
    float *p = random_params(&ly, 0.3);
    int32_t *tok = random_tokens(B * T, c.vocab_size);
    sp_model *m = new_model(c, 2, B * T, p, ly.P);
    sp_batch *b = NULL;
    OK(sp_batch_create(m, tok, B, T, &b));
    int nl = B * (T - 1);
    float *lc = malloc(sizeof(float) * nl);
    double *lr = malloc(sizeof(double) * nl), mean = 0;
    double *wd = malloc(sizeof(double) * ly.P);
    for (int64_t i = 0; i < ly.P; i++) wd[i] = p[i];
    double ref_mean = ref_forward(&ly, wd, tok, B, T, lr);
    OK(sp_forward(m, b, lc, &mean));
    double maxerr = 0;
    for (int i = 0; i < nl; i++) {
        double e = fabs(lc[i] - lr[i]) / (2e-6 + 2e-6 * fabs(lr[i]));
        if (e > maxerr) maxerr = e;
    }
    CHECK(maxerr <= 1.0, "%s: forward losses vs double reference: max err/tol %.3f", name, maxerr);
    printf("  %s: forward losses vs double reference, worst err/tol %.3f\n", name, maxerr);
    CHECK(fabs(mean - ref_mean) < 2e-6 * (1 + fabs(ref_mean)), "%s: mean %.8f vs %.8f", name, mean, ref_mean);

    OK(sp_forward_backward(m, b, NULL, NULL, &mean));
    float *g = grads(m, ly.P);
    /* element-wise against double central differences */
    int ntens = SP_TENSORS(c.n_layers), bad_tensors = 0;
    double worst = 0;
    for (int t = 0; t < ntens; t++) {
        double gmax = 0;
        for (int64_t i = ly.off[t]; i < ly.off[t + 1]; i++) gmax = fmax(gmax, fabs(g[i]));
        double tmax = 0;
        for (int64_t i = ly.off[t]; i < ly.off[t + 1]; i++) {
            double h = 1e-4, w0 = wd[i];
            wd[i] = w0 + h; double lp = ref_forward(&ly, wd, tok, B, T, NULL);
            wd[i] = w0 - h; double lm = ref_forward(&ly, wd, tok, B, T, NULL);
            wd[i] = w0;
            double fd = (lp - lm) / (2 * h);
            double e = fabs(g[i] - fd) / (3e-6 * gmax + 2e-4 * fabs(fd) + 1e-12);
            if (e > tmax) tmax = e;
        }
        if (tmax > 1.0) { bad_tensors++; printf("  %s tensor %d: max err/tol %.3f (max|g| %.3g)\n", name, t, tmax, gmax); }
        if (tmax > worst) worst = tmax;
    }
    CHECK(bad_tensors == 0, "%s: gradient vs double finite differences, %d tensors off", name, bad_tensors);
    printf("  %s: gradient check worst err/tol %.3f over %lld elements\n", name, worst, (long long)ly.P);

    /* directional derivative of the backend's own fp32 forward */
    int dir_bad = 0;
    float *wp = malloc(sizeof(float) * ly.P);
    for (int t = 0; t < ntens; t++) {
        int64_t n = ly.off[t + 1] - ly.off[t];
        double nrm = 0, gu = 0;
        double *u = malloc(sizeof(double) * n);
        for (int64_t i = 0; i < n; i++) { u[i] = nrand(); nrm += u[i] * u[i]; }
        for (int64_t i = 0; i < n; i++) { u[i] /= sqrt(nrm); gu += u[i] * g[ly.off[t] + i]; }
        double h = 1e-2, lp, lm;
        for (int64_t i = 0; i < n; i++) wp[i] = (float)(p[ly.off[t] + i] + h * u[i]);
        OK(sp_params_write(m, ly.off[t], n, wp));
        OK(sp_forward(m, b, NULL, &lp));
        for (int64_t i = 0; i < n; i++) wp[i] = (float)(p[ly.off[t] + i] - h * u[i]);
        OK(sp_params_write(m, ly.off[t], n, wp));
        OK(sp_forward(m, b, NULL, &lm));
        OK(sp_params_write(m, ly.off[t], n, p + ly.off[t]));
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - gu) > 5e-4 + 2e-2 * fabs(gu)) { dir_bad++; printf("  %s tensor %d: fd %.6g vs g.u %.6g\n", name, t, fd, gu); }
        free(u);
    }
    CHECK(dir_bad == 0, "%s: directional fp32 finite differences, %d tensors off", name, dir_bad);
    free(wp); free(g); free(wd); free(lr); free(lc); free(tok); free(p); free(ly.off);
    sp_batch_destroy(b);
    sp_model_destroy(m);
}

/* restricted backward (stop_layer + blocks) and the cache give bit-identical gradients */
static void test_restricted_and_cache(void) {
    sp_config c = MID;
    layout ly = make_layout(c);
    float *p = random_params(&ly, 0.1);
    int B = 2, T = 33, L = c.n_layers, d = c.d_model, hd = d / c.n_heads;
    int32_t *tok = random_tokens(B * T, c.vocab_size), *tok2 = random_tokens(B * T, c.vocab_size);
    sp_model *m = new_model(c, 2, B * T, p, ly.P);
    sp_batch *b = NULL, *b2 = NULL;
    OK(sp_batch_create(m, tok, B, T, &b));
    OK(sp_batch_create(m, tok2, B, T, &b2));
    int64_t avail = -1;
    CHECK(sp_memory_available(m, &avail) == SP_OK && avail > (1LL << 20), "sp_memory_available = %lld", (long long)avail);
    CHECK(sp_memory_available(NULL, &avail) == SP_ERR_INVALID && sp_memory_available(m, NULL) == SP_ERR_INVALID,
          "sp_memory_available: NULL arguments refused");
    int nl = B * (T - 1);
    float *l_full = malloc(4 * nl), *l_r = malloc(4 * nl);
    OK(sp_forward_backward(m, b, NULL, l_full, NULL));
    float *gfull = grads(m, ly.P);
    OK(sp_forward_backward(m, b2, NULL, NULL, NULL));
    float *gother = grads(m, ly.P);

#define TI(l, k) (1 + 12 * (l) + (k))
    int l1 = 1;
    sp_block head[3] = {
        {ly.off[TI(l1, 4)] + 3L * hd * d, 3 * hd, d, d},      /* q,k,v rows of head 1 */
        {ly.off[TI(l1, 5)] + 3L * hd, 1, 3 * hd, 3 * hd},      /* their biases */
        {ly.off[TI(l1, 6)] + hd, d, hd, d},                    /* dense input columns of head 1 */
    };
    sp_block mlp0[4] = {
        {ly.off[TI(0, 8)], 1, ly.off[TI(0, 9)] - ly.off[TI(0, 8)], 0},
        {ly.off[TI(0, 9)], 1, c.d_ff, 0},
        {ly.off[TI(0, 10)], d, c.d_ff, c.d_ff},
        {ly.off[TI(0, 11)], 1, d, d},
    };
    sp_block unembed = {ly.off[3 + 12 * L], c.vocab_size, d, d};
    sp_block embed = {ly.off[0], c.vocab_size, d, d};
    sp_block lnf = {ly.off[1 + 12 * L], 1, 2 * d, 2 * d};
    sp_block ln1 = {ly.off[TI(1, 0)], 1, d, d};
    struct { const char *name; int stop; const sp_block *bl; int nb; int t0, t1; int cache; } cases[] = {
        {"head l1h1", 1, head, 3, TI(1, 4), TI(1, 6), -1},
        {"head l1h1 cached", 1, head, 3, TI(1, 4), TI(1, 6), 1},
        {"head l1h1 stop 0", 0, head, 3, TI(1, 4), TI(1, 6), -1},
        {"mlp l0", 0, mlp0, 4, TI(0, 8), TI(0, 11), -1},
        {"mlp l0 cached at 0", 0, mlp0, 4, TI(0, 8), TI(0, 11), 0},
        {"unembed", L, &unembed, 1, 3 + 12 * L, 3 + 12 * L, -1},
        {"unembed cached at L", L, &unembed, 1, 3 + 12 * L, 3 + 12 * L, L},
        {"embed", 0, &embed, 1, 0, 0, -1},
        {"final ln", L, &lnf, 1, 1 + 12 * L, 2 + 12 * L, -1},
        {"ln1 l1 cached", 1, &ln1, 1, TI(1, 0), TI(1, 0), 1},
        {"all from layer 1", 1, NULL, 0, TI(1, 0), 3 + 12 * L, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        /* grads start as those of the other batch: untouched tensors must keep them */
        OK(sp_forward_backward(m, b2, NULL, NULL, NULL));
        OK(sp_batch_cache_at(m, b, cases[k].cache));
        sp_grad_request rq = {cases[k].stop, cases[k].bl, cases[k].nb};
        OK(sp_forward_backward(m, b, &rq, l_r, NULL));
        float *g = grads(m, ly.P);
        int ok_in = 1, ok_out = 1;
        for (int t = 0; t < SP_TENSORS(L); t++) {
            size_t n = (size_t)(ly.off[t + 1] - ly.off[t]);
            int inside = t >= cases[k].t0 && t <= cases[k].t1;
            if (inside && memcmp(g + ly.off[t], gfull + ly.off[t], 4 * n)) ok_in = 0;
            if (!inside && memcmp(g + ly.off[t], gother + ly.off[t], 4 * n)) ok_out = 0;
        }
        CHECK(ok_in, "restricted %s: requested tensors bit-identical to the full gradient", cases[k].name);
        CHECK(ok_out, "restricted %s: untouched tensors kept their contents", cases[k].name);
        CHECK(memcmp(l_r, l_full, 4 * nl) == 0, "restricted %s: losses bit-identical", cases[k].name);
        free(g);
    }
    /* the cache: forwards from every layer are bit-identical to the plain forward */
    float *l_plain = malloc(4 * nl), *l_c = malloc(4 * nl);
    OK(sp_batch_cache_at(m, b, -1));
    OK(sp_forward(m, b, l_plain, NULL));
    for (int layer = 0; layer <= L; layer++) {
        OK(sp_batch_cache_at(m, b, layer));
        OK(sp_forward(m, b, l_c, NULL));
        CHECK(memcmp(l_c, l_plain, 4 * nl) == 0, "cache at %d: forward bit-identical", layer);
    }
    /* a full request on a cached batch falls back to the plain path (still exact) */
    OK(sp_batch_cache_at(m, b, L));
    OK(sp_forward_backward(m, b, NULL, l_c, NULL));
    float *g = grads(m, ly.P);
    CHECK(memcmp(g, gfull, 4 * ly.P) == 0 && memcmp(l_c, l_full, 4 * nl) == 0, "cached batch, full request");
    free(g);
    /* blocks below stop_layer are refused */
    sp_grad_request rq = {2, mlp0, 4};
    CHECK(sp_forward_backward(m, b, &rq, NULL, NULL) == SP_ERR_INVALID && strstr(sp_last_error(), "below stop_layer"),
          "block below stop_layer: %s", sp_last_error());
    rq.stop_layer = L + 1; rq.blocks = NULL; rq.n_blocks = 0;
    CHECK(sp_forward_backward(m, b, &rq, NULL, NULL) == SP_ERR_INVALID, "stop_layer > L");
    free(l_plain); free(l_c); free(l_full); free(l_r); free(gfull); free(gother); free(tok); free(tok2); free(p);
    free(ly.off);
    sp_batch_destroy(b); sp_batch_destroy(b2); sp_model_destroy(m);
}

extern long sp_par_min_work; /* pool.h: loops below this work run on one thread (0: every loop split) */

/* 1, 2, 3 threads, with the default one-thread threshold and with every loop split (threshold 0):
 * losses, gradients and an SGLD step (noise, RMSProp) bit-identical to one thread. */
static void test_threads(void) {
    sp_config c = MID;
    layout ly = make_layout(c);
    float *p = random_params(&ly, 0.1);
    int B = 4, T = 65, nl = B * (T - 1);
    int32_t *tok = random_tokens(B * T, c.vocab_size);
    float *g[6], *l[6], *w[6];
    long min_work = sp_par_min_work;
    sp_block all = {0, 1, ly.P, ly.P};
    sp_sgld_params sp = {1e-3f, 10.0f, 1.0f, 1, 0.99f, 0.1f, 1.0f, 3, 77, 5};
    for (int k = 0; k < 6; k++) {
        sp_par_min_work = k < 3 ? min_work : 0;
        sp_model *m = new_model(c, k % 3 + 1, B * T, p, ly.P);
        sp_batch *b = NULL;
        sp_buffer *rms = NULL;
        OK(sp_batch_create(m, tok, B, T, &b));
        l[k] = malloc(4 * nl);
        OK(sp_forward_backward(m, b, NULL, l[k], NULL));
        g[k] = grads(m, ly.P);
        OK(sp_buffer_create(m, ly.P, &rms));
        OK(sp_sgld_update(m, &all, 1, rms, &sp));
        w[k] = malloc(4 * ly.P);
        OK(sp_params_read(m, 0, ly.P, w[k]));
        sp_buffer_destroy(rms); sp_batch_destroy(b); sp_model_destroy(m);
    }
    sp_par_min_work = min_work;
    for (int k = 1; k < 6; k++) {
        const char *how = k < 3 ? "" : ", every loop split";
        CHECK(memcmp(l[0], l[k], 4 * nl) == 0, "losses bit-identical with 1 and %d threads%s", k % 3 + 1, how);
        CHECK(memcmp(g[0], g[k], 4 * ly.P) == 0, "gradients bit-identical with 1 and %d threads%s", k % 3 + 1, how);
        CHECK(memcmp(w[0], w[k], 4 * ly.P) == 0, "sgld step bit-identical with 1 and %d threads%s", k % 3 + 1, how);
    }
    for (int k = 0; k < 6; k++) { free(g[k]); free(l[k]); free(w[k]); }
    free(p); free(tok); free(ly.off);
}

static void test_noise(void) {
    philox4x32_ctr c0 = {{0, 0, 0, 0}};
    philox4x32_ctr x = philox4x32_10(c0, 0, 0);
    CHECK(x.v[0] == 0x6627e8d5u && x.v[1] == 0xe169c58du && x.v[2] == 0xbc57ac4cu && x.v[3] == 0x9b00dbd8u,
          "Philox4x32-10 KAT zero: %08x %08x %08x %08x", x.v[0], x.v[1], x.v[2], x.v[3]);
    /* Random123 kat_vectors: philox4x32 10 with all-ones counter and key */
    philox4x32_ctr c1 = {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}};
    x = philox4x32_10(c1, 0xffffffffu, 0xffffffffu);
    CHECK(x.v[0] == 0x408f276du && x.v[1] == 0x41c83b0eu && x.v[2] == 0xa20bc7c6u && x.v[3] == 0x6d5451fdu,
          "Philox4x32-10 KAT ones: %08x %08x %08x %08x", x.v[0], x.v[1], x.v[2], x.v[3]);
    /* Random123 kat_vectors: pi digits */
    philox4x32_ctr c2 = {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    x = philox4x32_10(c2, 0xa4093822u, 0x299f31d0u);
    CHECK(x.v[0] == 0xd16cfe09u && x.v[1] == 0x94fdccebu && x.v[2] == 0x5001e420u && x.v[3] == 0x24126ea1u,
          "Philox4x32-10 KAT pi: %08x %08x %08x %08x", x.v[0], x.v[1], x.v[2], x.v[3]);

    /* the sp_noise mapping written out independently for a few elements */
    uint64_t seed = 0x123456789abcdefull, step = 0x100000007ull;
    uint32_t stream = (3u << 12) | 2u;
    int64_t first = 4 * 1000 + 1, n = 11;
    float out[11];
    OK(sp_noise(seed, stream, step, first, n, out));
    int ok = 1;
    for (int i = 0; i < n; i++) {
        int64_t e = first + i;
        philox4x32_ctr c = {{(uint32_t)(e / 4), stream, (uint32_t)step, (uint32_t)(step >> 32)}};
        philox4x32_ctr r = philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
        int pair = (int)(e % 4) / 2;
        double u0 = ((r.v[2 * pair] >> 8) + 0.5) / 16777216.0, u1 = ((r.v[2 * pair + 1] >> 8) + 0.5) / 16777216.0;
        double rr = sqrt(-2 * log(u0)), ang = 2 * M_PI * u1;
        float want = (float)(e % 2 == 0 ? rr * cos(ang) : rr * sin(ang));
        if (out[i] != want) ok = 0;
    }
    CHECK(ok, "sp_noise matches the spec formula");

    int64_t N = 1 << 20;
    float *a = malloc(4 * N), *b2 = malloc(4 * N);
    OK(sp_noise(7, 1, 0, 0, N, a));
    OK(sp_noise(7, 1, 0, 0, N, b2));
    CHECK(memcmp(a, b2, 4 * N) == 0, "sp_noise reproducible");
    OK(sp_noise(7, 1, 0, 3, 100, b2));
    CHECK(memcmp(a + 3, b2, 400) == 0, "sp_noise offset consistent");
    double s = 0, s2 = 0, s4 = 0;
    for (int64_t i = 0; i < N; i++) { s += a[i]; s2 += (double)a[i] * a[i]; s4 += pow(a[i], 4); }
    double mean = s / N, var = s2 / N - mean * mean, kurt = s4 / N;
    CHECK(fabs(mean) < 5e-3 && fabs(var - 1) < 5e-3 && fabs(kurt - 3) < 0.05,
          "sp_noise moments: mean %.4g var %.4g E[x^4] %.4g", mean, var, kurt);
    OK(sp_noise(7, 2, 0, 0, 100, b2));
    CHECK(memcmp(a, b2, 400) != 0, "another stream differs");
    OK(sp_noise(7, 1, 1, 0, 100, b2));
    CHECK(memcmp(a, b2, 400) != 0, "another step differs");
    CHECK(sp_noise(7, 1, 0, 0, 10, NULL) == SP_ERR_INVALID, "noise NULL out");
    CHECK(sp_noise(7, 1, 0, -1, 10, a) == SP_ERR_INVALID, "noise negative first");
    free(a); free(b2);
}

static void test_sgld(void) {
    sp_config c = TINY;
    layout ly = make_layout(c);
    float *p = random_params(&ly, 0.3);
    int B = 2, T = 7;
    int32_t *tok = random_tokens(B * T, c.vocab_size);
    sp_model *m = new_model(c, 2, B * T, p, ly.P);
    sp_batch *b = NULL;
    OK(sp_batch_create(m, tok, B, T, &b));
    OK(sp_forward_backward(m, b, NULL, NULL, NULL));
    float *g = grads(m, ly.P), *w0 = malloc(4 * ly.P), *w1 = malloc(4 * ly.P);
    int d = c.d_model, hd = d / c.n_heads;
    /* head 1 of layer 0: strided dense columns + contiguous qkv rows */
    sp_block bl[2] = {{ly.off[1 + 6] + hd, d, hd, d}, {ly.off[1 + 4] + 3L * hd * d, 3 * hd, d, d}};
    int64_t total = (int64_t)d * hd + 3LL * hd * d;
    unsigned char *in = calloc(ly.P, 1);
    int64_t *num = malloc(sizeof(int64_t) * ly.P), e = 0;
    for (int k = 0; k < 2; k++)
        for (int64_t r = 0; r < bl[k].rows; r++)
            for (int64_t cc = 0; cc < bl[k].cols; cc++) { int64_t i = bl[k].offset + r * bl[k].stride + cc; in[i] = 1; num[i] = e++; }

    /* noise-free, gamma 0: w - lr/2 nbeta g */
    sp_sgld_params sp = {1e-3f, 7.0f, 0.0f, 0, 0.99f, 0.1f, 0.0f, 5, 42, 3};
    OK(sp_params_read(m, 0, ly.P, w0));
    OK(sp_sgld_update(m, bl, 2, NULL, &sp));
    OK(sp_params_read(m, 0, ly.P, w1));
    int ok_in = 1, ok_out = 1;
    for (int64_t i = 0; i < ly.P; i++) {
        if (in[i]) { float want = w0[i] - (sp.lr / 2) * sp.nbeta * g[i]; if (fabsf(w1[i] - want) > 1e-6f * fabsf(want) + 1e-12f) ok_in = 0; }
        else if (memcmp(&w1[i], &w0[i], 4)) ok_out = 0;
    }
    CHECK(ok_in, "sgld noise-free gamma 0 equals w - lr/2 nbeta g");
    CHECK(ok_out, "sgld leaves elements outside its blocks untouched");

    /* pure noise: w1 - w0 = sqrt(lr) xi[element number]; gamma pulls back towards w* */
    OK(sp_params_write(m, 0, ly.P, p));
    sp_sgld_params sn = {1e-2f, 0.0f, 0.0f, 0, 0.99f, 0.1f, 1.0f, 77, 9, 11};
    OK(sp_sgld_update(m, bl, 2, NULL, &sn));
    OK(sp_params_read(m, 0, ly.P, w1));
    float *xi = malloc(4 * total);
    OK(sp_noise(sn.seed, sn.stream, sn.step, 0, total, xi));
    ok_in = 1; ok_out = 1;
    for (int64_t i = 0; i < ly.P; i++) {
        if (in[i]) { if (fabsf((w1[i] - p[i]) - sqrtf(sn.lr) * xi[num[i]]) > 1e-5f) ok_in = 0; }
        else if (memcmp(&w1[i], &p[i], 4)) ok_out = 0;
    }
    CHECK(ok_in, "sgld noise follows sp_noise element numbering");
    CHECK(ok_out, "noisy sgld leaves other elements untouched");
    sp_sgld_params sg = {1e-2f, 0.0f, 100.0f, 0, 0.99f, 0.1f, 0.0f, 0, 0, 0};
    OK(sp_sgld_update(m, bl, 2, NULL, &sg));
    OK(sp_params_read(m, 0, ly.P, w0));
    ok_in = 1;
    for (int64_t i = 0; i < ly.P; i++)
        if (in[i]) { float want = w1[i] - 0.5f * sg.lr * sg.gamma * (w1[i] - p[i]); if (fabsf(w0[i] - want) > 1e-6f) ok_in = 0; }
    CHECK(ok_in, "localisation term pulls towards w*");
    OK(sp_params_reset(m, bl, 2));
    OK(sp_params_read(m, 0, ly.P, w0));
    CHECK(memcmp(w0, p, 4 * ly.P) == 0, "params_reset restores the anchor");

    /* RMSProp: V = (1-alpha) g^2 on the first step, G = 1/(sqrt V + eps) */
    sp_buffer *rms = NULL;
    OK(sp_buffer_create(m, total, &rms));
    sp_sgld_params sr = {1e-3f, 5.0f, 0.0f, 1, 0.9f, 0.1f, 0.0f, 0, 0, 0};
    OK(sp_sgld_update(m, bl, 2, rms, &sr));
    OK(sp_params_read(m, 0, ly.P, w1));
    float *v = malloc(4 * total);
    OK(sp_buffer_read(rms, 0, total, v));
    ok_in = 1;
    for (int64_t i = 0; i < ly.P; i++) if (in[i]) {
        float vv = 0.1f * g[i] * g[i], G = 1.0f / (sqrtf(vv) + 0.1f);
        float want = p[i] - 0.5f * sr.lr * G * sr.nbeta * g[i];
        if (fabsf(v[num[i]] - vv) > 1e-6f * vv + 1e-30f || fabsf(w1[i] - want) > 1e-6f * fabsf(want) + 1e-9f) ok_in = 0;
    }
    CHECK(ok_in, "rmsprop state and update");
    CHECK(sp_sgld_update(m, bl, 2, NULL, &sr) == SP_ERR_INVALID, "rmsprop without buffer");
    sp_buffer *small = NULL;
    OK(sp_buffer_create(m, total - 1, &small));
    CHECK(sp_sgld_update(m, bl, 2, small, &sr) == SP_ERR_INVALID, "rmsprop buffer too small");
    sp_buffer_destroy(small);
    sp_block outside = {ly.P - 5, 2, 4, 4};
    CHECK(sp_sgld_update(m, &outside, 1, NULL, &sp) == SP_ERR_INVALID && strstr(sp_last_error(), "outside"),
          "block outside the buffer: %s", sp_last_error());
    sp_sgld_params huge = {1e-3f, 1e38f, 0.0f, 0, 0.9f, 0.1f, 0.0f, 0, 0, 0};
    float bigg = 1e30f;
    OK(sp_params_write(m, 0, ly.P, p));
    /* make a gradient-sized kick that overflows: nbeta * g with g ~ 1e-2 -> 1e36 * lr ... use w itself */
    OK(sp_params_write(m, bl[0].offset, 1, &bigg));
    huge.gamma = 1e38f; huge.lr = 1.0f;
    CHECK(sp_sgld_update(m, bl, 2, NULL, &huge) == SP_ERR_NUMERIC && strstr(sp_last_error(), "not finite"),
          "non-finite update reported: %s", sp_last_error());
    free(v); free(xi); free(in); free(num); free(g); free(w0); free(w1); free(p); free(tok); free(ly.off);
    sp_buffer_destroy(rms);
    sp_batch_destroy(b); sp_model_destroy(m);
}

static void test_errors_and_accum(void) {
    sp_config c = TINY;
    layout ly = make_layout(c);
    float *p = random_params(&ly, 0.3);
    int B = 2, T = 7;
    int32_t *tok = random_tokens(B * T, c.vocab_size);
    sp_model *m = new_model(c, 1, B * T, p, ly.P), *m2 = NULL;
    sp_batch *b = NULL;
    tok[1 * T + 3] = 70;
    CHECK(sp_batch_create(m, tok, B, T, &b) == SP_ERR_INVALID && b == NULL, "bad token refused");
    CHECK(strstr(sp_last_error(), "token 70") && strstr(sp_last_error(), "[1, 3]") && strstr(sp_last_error(), "sp_batch_create"),
          "bad token message: %s", sp_last_error());
    tok[1 * T + 3] = -1;
    CHECK(sp_batch_create(m, tok, B, T, &b) == SP_ERR_INVALID, "negative token");
    tok[1 * T + 3] = 5;
    CHECK(sp_batch_create(m, tok, B, 17, &b) == SP_ERR_INVALID && strstr(sp_last_error(), "max_seq"), "T > max_seq");
    CHECK(sp_batch_create(m, tok, 3, 7, &b) == SP_ERR_INVALID && strstr(sp_last_error(), "max_batch"), "B*T > max_batch");
    CHECK(sp_batch_create(m, tok, 7, 1, &b) == SP_ERR_INVALID, "T < 2");
    CHECK(sp_batch_create(NULL, tok, B, T, &b) == SP_ERR_INVALID, "NULL model");
    CHECK(sp_batch_create(m, NULL, B, T, &b) == SP_ERR_INVALID, "NULL tokens");
    CHECK(sp_forward(NULL, NULL, NULL, NULL) == SP_ERR_INVALID && strstr(sp_last_error(), "sp_forward"), "NULL forward");
    CHECK(sp_model_load(m, p, ly.P - 1) == SP_ERR_INVALID, "load n mismatch");
    float tmp[4];
    CHECK(sp_params_read(m, ly.P - 2, 4, tmp) == SP_ERR_INVALID, "params_read out of range");
    CHECK(sp_grads_read(m, -1, 1, tmp) == SP_ERR_INVALID, "grads_read negative");
    CHECK(sp_params_write(m, 0, 1, NULL) == SP_ERR_INVALID, "params_write NULL");
    sp_options o = {1, 0, SP_PRECISION_BF16, 14};
    CHECK(sp_model_create(&c, &o, &m2) == SP_ERR_INVALID && m2 == NULL && strstr(sp_last_error(), "fp32"), "bf16 refused");
    o.precision = 0; o.max_batch = 1;
    CHECK(sp_model_create(&c, &o, &m2) == SP_ERR_INVALID, "max_batch 1");
    sp_config bad = c; bad.d_model = 15;
    o.max_batch = 14;
    CHECK(sp_model_create(&bad, &o, &m2) == SP_ERR_INVALID && strstr(sp_last_error(), "n_heads"), "bad config: %s", sp_last_error());
    o.n_threads = -2;
    CHECK(sp_model_create(&c, &o, &m2) == SP_ERR_INVALID, "negative threads");
    o.n_threads = 1;
    CHECK(sp_model_create(&c, &o, NULL) == SP_ERR_INVALID, "NULL out");
    /* absurd max_batch for a huge vocab: OOM, not a crash */
    sp_config big = {1 << 24, 65536, 1, 1, 1, 0, 16, 10000.0f, 1e-5f};
    o.max_batch = 1 << 24;
    sp_status st = sp_model_create(&big, &o, &m2);
    CHECK(st == SP_ERR_OOM && m2 == NULL, "huge model -> OOM (%d: %s)", st, sp_last_error());
    CHECK(sp_model_destroy(NULL) == SP_OK && sp_batch_destroy(NULL) == SP_OK && sp_buffer_destroy(NULL) == SP_OK &&
          sp_accum_destroy(NULL) == SP_OK, "destroy NULL");

    /* accumulators */
    OK(sp_batch_create(m, tok, B, T, &b));
    sp_accum *a = NULL;
    OK(sp_accum_create(m, B * (T - 1), &a));
    CHECK(sp_accum_add(a, m, b, 1.0) == SP_ERR_INVALID && strstr(sp_last_error(), "no losses"), "accum before forward");
    float l[12];
    OK(sp_forward(m, b, l, NULL));
    OK(sp_accum_add(a, m, b, 2.0));
    OK(sp_accum_add(a, m, b, -0.5));
    double s1[12], s2[12];
    OK(sp_accum_read(a, s1, s2));
    int ok = 1;
    for (int i = 0; i < 12; i++) if (s1[i] != 2.0 * l[i] || fabs(s2[i] - 1.5 * l[i]) > 1e-12) ok = 0;
    CHECK(ok, "accum sums");
    OK(sp_accum_reset(a));
    OK(sp_accum_read(a, s1, s2));
    CHECK(s1[0] == 0 && s2[11] == 0, "accum reset");
    sp_accum *a2 = NULL;
    OK(sp_accum_create(m, 5, &a2));
    CHECK(sp_accum_add(a2, m, b, 1.0) == SP_ERR_INVALID, "accum n mismatch");
    /* a batch of another model */
    sp_model *m3 = new_model(c, 1, B * T, p, ly.P);
    CHECK(sp_forward(m3, b, NULL, NULL) == SP_ERR_INVALID && strstr(sp_last_error(), "another model"), "foreign batch");
    /* non-finite parameters -> SP_ERR_NUMERIC from the forward */
    float nanv = NAN;
    OK(sp_params_write(m, ly.off[3 + 12 * c.n_layers], 1, &nanv));
    CHECK(sp_forward(m, b, NULL, NULL) == SP_ERR_NUMERIC && strstr(sp_last_error(), "loss"), "NaN loss: %s", sp_last_error());
    CHECK(sp_batch_cache_at(m, b, c.n_layers + 1) == SP_ERR_INVALID, "cache layer > L");
    sp_block neg = {0, -1, 1, 1};
    CHECK(sp_params_reset(m, &neg, 1) == SP_ERR_INVALID, "negative rows");
    CHECK(sp_params_reset(m, NULL, 1) == SP_ERR_INVALID, "NULL blocks");
    sp_buffer *buf = NULL;
    OK(sp_buffer_create(m, 10, &buf));
    CHECK(sp_buffer_read(buf, 5, 6, tmp) == SP_ERR_INVALID, "buffer range");
    sp_buffer_destroy(buf);
    sp_accum_destroy(a); sp_accum_destroy(a2);
    sp_batch_destroy(b); sp_model_destroy(m); sp_model_destroy(m3);
    free(p); free(tok); free(ly.off);
}

/* The classifier keeps embed_out prepacked between calls: every way of changing embed_out (params
 * write, SGLD update on an unembed block, reset, load) must be seen by the next forward, which has to
 * equal a fresh model's bit for bit; writes elsewhere must not matter. */
static void test_packed_unembed(void) {
    sp_config c = MID;
    layout ly = make_layout(c);
    float *p = random_params(&ly, 0.1);
    int B = 2, T = 33, nl = B * (T - 1), L = c.n_layers;
    int64_t lo = ly.off[3 + 12 * L], nV = (int64_t)c.vocab_size * c.d_model;
    int32_t *tok = random_tokens(B * T, c.vocab_size);
    sp_model *m = new_model(c, 2, B * T, p, ly.P);
    sp_batch *b = NULL;
    OK(sp_batch_create(m, tok, B, T, &b));
    float *l0 = malloc(4 * nl), *l1 = malloc(4 * nl), *lf = malloc(4 * nl);
    float *q = malloc(4 * ly.P);
    OK(sp_forward(m, b, l0, NULL));
    /* fresh-model losses at weights q */
#define FRESH(out) do { sp_model *m2_ = new_model(c, 1, B * T, q, ly.P); sp_batch *b2_ = NULL; \
        OK(sp_batch_create(m2_, tok, B, T, &b2_)); OK(sp_forward(m2_, b2_, out, NULL)); \
        sp_batch_destroy(b2_); sp_model_destroy(m2_); } while (0)
    /* 1. sp_params_write into embed_out */
    float *row = malloc(4 * c.d_model);
    for (int k = 0; k < c.d_model; k++) row[k] = 0.5f * (float)(k % 7) - 1.0f;
    int64_t at = lo + 5L * c.d_model;
    OK(sp_params_write(m, at, c.d_model, row));
    OK(sp_forward(m, b, l1, NULL));
    memcpy(q, p, 4 * ly.P); memcpy(q + at, row, 4 * c.d_model);
    FRESH(lf);
    CHECK(memcmp(l1, lf, 4 * nl) == 0 && memcmp(l1, l0, 4 * nl) != 0, "params_write into embed_out seen by the next forward");
    /* 2. SGLD update on an unembed block (noise only), then forward_backward */
    sp_block ub = {lo, c.vocab_size, c.d_model, c.d_model};
    sp_sgld_params sn = {1e-2f, 0.0f, 0.0f, 0, 0.99f, 0.1f, 1.0f, 3, 9, 0};
    OK(sp_sgld_update(m, &ub, 1, NULL, &sn));
    OK(sp_forward_backward(m, b, NULL, l1, NULL));
    OK(sp_params_read(m, 0, ly.P, q));
    FRESH(lf);
    CHECK(memcmp(l1, lf, 4 * nl) == 0, "SGLD update of embed_out seen by the next forward_backward");
    /* 3. reset restores w* (the anchor is the loaded p) */
    OK(sp_params_reset(m, &ub, 1));
    OK(sp_forward(m, b, l1, NULL));
    CHECK(memcmp(l1, l0, 4 * nl) == 0, "reset of embed_out seen by the next forward");
    /* 4. a write outside embed_out changes losses the ordinary way; 5. load replaces everything */
    OK(sp_params_write(m, 0, c.d_model, row));
    OK(sp_forward(m, b, l1, NULL));
    memcpy(q, p, 4 * ly.P); memcpy(q, row, 4 * c.d_model);
    FRESH(lf);
    CHECK(memcmp(l1, lf, 4 * nl) == 0, "write outside embed_out");
    for (int64_t i = 0; i < nV; i++) q[lo + i] = p[lo + i] * -0.5f;
    OK(sp_model_load(m, q, ly.P));
    OK(sp_forward(m, b, l1, NULL));
    FRESH(lf);
    CHECK(memcmp(l1, lf, 4 * nl) == 0, "load seen by the next forward");
#undef FRESH
    sp_batch_destroy(b); sp_model_destroy(m);
    free(l0); free(l1); free(lf); free(q); free(row); free(p); free(tok); free(ly.off);
}

int main(void) {
    test_layout();
    test_gradients(TINY, 2, 7, "tiny");
    test_gradients(ODD, 3, 5, "odd");
    test_restricted_and_cache();
    test_threads();
    test_noise();
    test_sgld();
    test_errors_and_accum();
    test_packed_unembed();
    printf("native: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
