/*
 * test_cuda_vs_cpu.c -- end-to-end comparison of libspectro_cuda.so against the reference
 * libspectro_cpu.so, both loaded with dlopen(RTLD_LOCAL) into the same process.
 *
 *   test_cuda_vs_cpu <dir with both libraries> [--quick]
 *
 * Two shapes (tiny: V 512, d 64, 2 layers, hd 16, T 37; Pythia-14M-like: V 50304, d 128, 6 layers,
 * hd 32, T 128), CUDA in fp32 mode (tight tolerances) and bf16 mode (loose), on the same random
 * weights and tokens: per-token losses, every gradient tensor, restricted gradients (head blocks with
 * the batch cached at its layer; mlp blocks of layer 0), the layer cache, SGLD and RMSProp-SGLD steps
 * (same noise), sp_noise (bitwise), the accumulators, sp_forward_features (every column; its losses
 * against the same backend's sp_forward). Tolerances and why: docs/testing.md "CUDA vs CPU".
 * Exit code 0 = all passed, 1 = a comparison failed, 77 = skipped (no GPU).
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spectro.h"

typedef struct {
    void *h;
    const char *name;
#define F(fn) __typeof__(fn) *fn
    F(sp_backend_probe); F(sp_last_error); F(sp_backend_name); F(sp_param_count); F(sp_param_offsets);
    F(sp_model_create); F(sp_model_destroy); F(sp_model_load); F(sp_params_read); F(sp_grads_read);
    F(sp_batch_create); F(sp_batch_destroy); F(sp_batch_cache_at); F(sp_forward); F(sp_forward_backward);
    F(sp_buffer_create); F(sp_buffer_destroy); F(sp_buffer_read); F(sp_sgld_update); F(sp_noise);
    F(sp_accum_create); F(sp_accum_destroy); F(sp_accum_add); F(sp_accum_read); F(sp_params_reset);
    F(sp_model_load_tensor); F(sp_params_write); F(sp_feature_count); F(sp_forward_features);
#undef F
} api;

static int load_api(api *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!a->h) { printf("cannot load %s: %s\n", path, dlerror()); return 0; }
    a->name = path;
#define L(fn) if (!(a->fn = (__typeof__(a->fn))dlsym(a->h, #fn))) { printf("%s: missing %s\n", path, #fn); return 0; }
    L(sp_backend_probe); L(sp_last_error); L(sp_backend_name); L(sp_param_count); L(sp_param_offsets);
    L(sp_model_create); L(sp_model_destroy); L(sp_model_load); L(sp_params_read); L(sp_grads_read);
    L(sp_batch_create); L(sp_batch_destroy); L(sp_batch_cache_at); L(sp_forward); L(sp_forward_backward);
    L(sp_buffer_create); L(sp_buffer_destroy); L(sp_buffer_read); L(sp_sgld_update); L(sp_noise);
    L(sp_accum_create); L(sp_accum_destroy); L(sp_accum_add); L(sp_accum_read); L(sp_params_reset);
    L(sp_model_load_tensor); L(sp_params_write); L(sp_feature_count); L(sp_forward_features);
#undef L
    return 1;
}

static int n_fail = 0, n_pass = 0;
static void report(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void report(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s  ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) n_pass++; else n_fail++;
}

#define CALL(a, expr) do { sp_status s_ = (a)->expr; if (s_ != SP_OK) { \
    report(0, "%s: %s -> %d: %s", (a)->sp_backend_name(), #expr, (int)s_, (a)->sp_last_error()); goto done; } } while (0)

static uint64_t rs = 0x9E3779B97F4A7C15ULL;
static double urand(void) {
    rs ^= rs >> 12; rs ^= rs << 25; rs ^= rs >> 27;
    return (double)((rs * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}
static float nrand(void) {
    double u = urand() + 1e-12, v = urand();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* max |a - b| / max |b| */
static double rel(const float *a, const float *b, int64_t n) {
    double md = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md || d != d) md = d != d ? INFINITY : d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / (mb + 1e-30);
}
static double maxabs(const float *a, const float *b, int64_t n) {
    double md = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md || d != d) md = d != d ? INFINITY : d;
    }
    return md;
}

static const char *kname[12] = {"ln1.w", "ln1.b", "ln2.w", "ln2.b", "qkv.w", "qkv.b", "dense.w", "dense.b",
                                 "fc.w", "fc.b", "proj.w", "proj.b"};
static void tname(int L, int t, char *buf, size_t cap) {
    if (t == 0) snprintf(buf, cap, "embed_in");
    else if (t == 1 + 12 * L) snprintf(buf, cap, "lnf.w");
    else if (t == 2 + 12 * L) snprintf(buf, cap, "lnf.b");
    else if (t == 3 + 12 * L) snprintf(buf, cap, "embed_out");
    else snprintf(buf, cap, "l%d.%s", (t - 1) / 12, kname[(t - 1) % 12]);
}

typedef struct { double loss, grad, sgld, accum; } tol;

static void run_case(api *cpu, api *gpu, const char *name, sp_config cfg, int B, int T, int precision) {
    const tol t = precision == SP_PRECISION_FP32 ? (tol){2e-4, 2e-3, 2e-5, 1e-4} : (tol){4e-2, 1e-1, 1e-3, 5e-2};
    const int L = cfg.n_layers, d = cfg.d_model, nh = cfg.n_heads, hd = d / nh, nt = SP_TENSORS(L);
    const int64_t P = cpu->sp_param_count(&cfg), nl = (int64_t)B * (T - 1);
    char tag[160];
    snprintf(tag, sizeof tag, "[%s cuda-%s B=%d T=%d]", name, precision ? "bf16" : "fp32", B, T);
    printf("--- %s  tolerances: loss %g abs, grad %g rel, sgld %g abs, accum %g rel\n", tag, t.loss, t.grad, t.sgld, t.accum);
    sp_options oc = {0, 0, SP_PRECISION_FP32, B * T}, og = {0, 0, precision, B * T};
    sp_model *mc = NULL, *mg = NULL;
    sp_batch *bc = NULL, *bg = NULL;
    sp_buffer *rc = NULL, *rg = NULL;
    sp_accum *ac = NULL, *ag = NULL;
    int64_t *off = calloc(nt + 1, sizeof(int64_t));
    float *w = malloc(sizeof(float) * P), *gc = malloc(sizeof(float) * P), *gg = malloc(sizeof(float) * P);
    float *lc = malloc(sizeof(float) * nl), *lg = malloc(sizeof(float) * nl);
    int32_t *tok = malloc(sizeof(int32_t) * B * T);
    double mean_c = 0, mean_g = 0;
    if (!off || !w || !gc || !gg || !lc || !lg || !tok) { report(0, "%s host allocation", tag); goto done; }
    cpu->sp_param_offsets(&cfg, off, nt);
    off[nt] = P;
    for (int i = 0; i < nt; i++) {
        int k = i == 0 || i == nt - 1 ? -1 : (i - 1) % 12;
        int lnw = (k == 0 || k == 2) || i == nt - 3, bias = (k == 1 || k == 3 || k == 5 || k == 7 || k == 9 || k == 11) || i == nt - 2;
        float sc = k == 4 ? 0.08f : (k < 0 ? 0.1f : 0.04f);
        for (int64_t j = off[i]; j < off[i + 1]; j++)
            w[j] = lnw ? 1.0f + 0.1f * nrand() : (bias ? 0.05f * nrand() : sc * nrand());
    }
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(urand() * cfg.vocab_size) % cfg.vocab_size;
    CALL(cpu, sp_model_create(&cfg, &oc, &mc));
    CALL(gpu, sp_model_create(&cfg, &og, &mg));
    CALL(cpu, sp_model_load(mc, w, P));
    CALL(gpu, sp_model_load(mg, w, P));
    CALL(cpu, sp_batch_create(mc, tok, B, T, &bc));
    CALL(gpu, sp_batch_create(mg, tok, B, T, &bg));

    /* forward */
    CALL(cpu, sp_forward(mc, bc, lc, &mean_c));
    CALL(gpu, sp_forward(mg, bg, lg, &mean_g));
    report(maxabs(lg, lc, nl) < t.loss, "%s sp_forward per-token losses max|diff| %.2e (mean cpu %.6f cuda %.6f)", tag,
           maxabs(lg, lc, nl), mean_c, mean_g);
    /* activation features: |cuda - cpu| <= tol (1 + |cpu|) per entry (entropies and norms are O(1)-O(10));
     * the features' losses against the same backend's sp_forward (bit-identical on the CPU; the MLP
     * output is added outside the GEMM on CUDA, so within the fp32 rounding of the residual there) */
    {
        int64_t F = cpu->sp_feature_count(&cfg), nf = nl * F;
        float *fc = malloc(sizeof(float) * nf), *fg = malloc(sizeof(float) * nf);
        float *l2c = malloc(sizeof(float) * nl), *l2g = malloc(sizeof(float) * nl);
        if (fc && fg && l2c && l2g && cpu->sp_forward_features(mc, bc, fc, nf, l2c) == SP_OK &&
            gpu->sp_forward_features(mg, bg, fg, nf, l2g) == SP_OK) {
            double worst = 0;
            int64_t wi = 0;
            for (int64_t i = 0; i < nf; i++) {
                double e = fabs((double)fg[i] - fc[i]) / (1.0 + fabs(fc[i]));
                if (e > worst || e != e) { worst = e != e ? INFINITY : e; wi = i; }
            }
            double ftol = precision == SP_PRECISION_FP32 ? 1e-3 : 1e-1;
            report(worst < ftol, "%s sp_forward_features %lld x %lld: max |diff|/(1+|cpu|) %.2e at column %lld (tol %g)", tag,
                   (long long)nl, (long long)F, worst, (long long)(wi % F), ftol);
            report(memcmp(l2c, lc, sizeof(float) * nl) == 0, "%s cpu: features' losses bit-identical to sp_forward", tag);
            report(maxabs(l2g, lg, nl) < (precision == SP_PRECISION_FP32 ? 1e-5 : 1e-3),
                   "%s cuda: features' losses vs sp_forward max|diff| %.2e", tag, maxabs(l2g, lg, nl));
        } else {
            report(0, "%s sp_forward_features: cpu \"%s\" cuda \"%s\"", tag, cpu->sp_last_error(), gpu->sp_last_error());
        }
        free(fc); free(fg); free(l2c); free(l2g);
    }
    /* full gradient */
    CALL(cpu, sp_forward_backward(mc, bc, NULL, lc, &mean_c));
    CALL(gpu, sp_forward_backward(mg, bg, NULL, lg, &mean_g));
    report(maxabs(lg, lc, nl) < t.loss, "%s sp_forward_backward losses max|diff| %.2e", tag, maxabs(lg, lc, nl));
    CALL(cpu, sp_grads_read(mc, 0, P, gc));
    CALL(gpu, sp_grads_read(mg, 0, P, gg));
    {
        double worst = 0;
        int wi = 0, bad = 0;
        char nm[64];
        for (int i = 0; i < nt; i++) {
            double r = rel(gg + off[i], gc + off[i], off[i + 1] - off[i]);
            if (r > worst) { worst = r; wi = i; }
            if (!(r < t.grad)) { tname(L, i, nm, sizeof nm); printf("      %s rel %.2e over tolerance\n", nm, r); bad++; }
        }
        tname(L, wi, nm, sizeof nm);
        report(!bad, "%s all %d gradient tensors: worst %s rel %.2e", tag, nt, nm, worst);
    }
    /* the per-op profiler (profile.cu) times the same launches: losses and gradients bit for bit as without it
     * (all but d embed_in, whose scatter uses atomics: docs/cuda.md) */
    {
        const char *(*prof)(sp_model *, int) = (const char *(*)(sp_model *, int))dlsym(gpu->h, "sp_cuda_profile");
        float *lp = (float *)malloc(sizeof(float) * nl), *gp = (float *)malloc(sizeof(float) * P);
        if (prof && lp && gp) {
            prof(mg, -1);
            CALL(gpu, sp_forward_backward(mg, bg, NULL, lp, NULL));
            CALL(gpu, sp_grads_read(mg, 0, P, gp));
            const char *table = prof(mg, 1);
            report(!memcmp(lp, lg, sizeof(float) * nl) && !memcmp(gp + off[1], gg + off[1], sizeof(float) * (P - off[1])) && strstr(table, "| gemm qkv |")
                       && strstr(table, "| attention_backward |"),
                   "%s profiled forward+backward: same losses and gradients bit for bit, table of %zu bytes", tag,
                   strlen(table));
            if (precision == SP_PRECISION_BF16 && L > 2) printf("%s\n", table);
        } else {
            report(0, "%s sp_cuda_profile missing or out of host memory", tag);
        }
        free(lp);
        free(gp);
    }
    /* restricted: head (nh-1) of the top layer with the batch cached at that layer */
    {
        int l = L - 1, h = nh - 1, base = 1 + 12 * l;
        sp_block hb[3] = {{off[base + 4] + (int64_t)h * 3 * hd * d, 3 * hd, d, d},
                          {off[base + 5] + (int64_t)h * 3 * hd, 1, 3 * hd, 3 * hd},
                          {off[base + 6] + (int64_t)h * hd, d, hd, d}};
        sp_grad_request req = {l, hb, 3};
        CALL(cpu, sp_batch_cache_at(mc, bc, l));
        CALL(gpu, sp_batch_cache_at(mg, bg, l));
        CALL(cpu, sp_forward_backward(mc, bc, &req, lc, NULL));
        CALL(gpu, sp_forward_backward(mg, bg, &req, lg, NULL));
        report(maxabs(lg, lc, nl) < t.loss, "%s cached at layer %d: losses max|diff| %.2e", tag, l, maxabs(lg, lc, nl));
        CALL(cpu, sp_grads_read(mc, 0, P, gc));
        CALL(gpu, sp_grads_read(mg, 0, P, gg));
        double r4 = rel(gg + off[base + 4], gc + off[base + 4], off[base + 5] - off[base + 4]);
        double r5 = rel(gg + off[base + 5], gc + off[base + 5], off[base + 6] - off[base + 5]);
        double r6 = rel(gg + off[base + 6], gc + off[base + 6], off[base + 7] - off[base + 6]);
        report(r4 < t.grad && r5 < t.grad && r6 < t.grad, "%s head l%dh%d blocks (stop %d, cache %d): qkv.w %.2e qkv.b %.2e dense.w %.2e",
               tag, l, h, l, l, r4, r5, r6);
        CALL(cpu, sp_batch_cache_at(mc, bc, -1));
        CALL(gpu, sp_batch_cache_at(mg, bg, -1));
        /* mlp of layer 0, stop 0 */
        sp_block mb[4];
        for (int k = 0; k < 4; k++) {
            int ti = 1 + 8 + k;
            mb[k] = (sp_block){off[ti], 1, off[ti + 1] - off[ti], off[ti + 1] - off[ti]};
        }
        sp_grad_request rq2 = {0, mb, 4};
        CALL(cpu, sp_forward_backward(mc, bc, &rq2, lc, NULL));
        CALL(gpu, sp_forward_backward(mg, bg, &rq2, lg, NULL));
        CALL(cpu, sp_grads_read(mc, 0, P, gc));
        CALL(gpu, sp_grads_read(mg, 0, P, gg));
        double worst = 0;
        for (int k = 0; k < 4; k++) {
            double r = rel(gg + mb[k].offset, gc + mb[k].offset, mb[k].cols);
            if (r > worst) worst = r;
        }
        report(worst < t.grad, "%s mlp l0 blocks: worst rel %.2e", tag, worst);
        /* SGLD: same gradient source (full backward), same noise, 3 RMSProp steps + 2 plain */
        CALL(cpu, sp_forward_backward(mc, bc, NULL, lc, NULL));
        CALL(gpu, sp_forward_backward(mg, bg, NULL, lg, NULL));
        sp_block sb[7] = {hb[0], hb[1], hb[2], mb[0], mb[1], mb[2], mb[3]};
        int64_t n = 0;
        for (int k = 0; k < 7; k++) n += sb[k].rows * sb[k].cols;
        CALL(cpu, sp_buffer_create(mc, n, &rc));
        CALL(gpu, sp_buffer_create(mg, n, &rg));
        for (int s = 0; s < 5; s++) {
            sp_sgld_params p = {1e-3f, 30.f, 300.f, s < 3, 0.99f, 0.1f, 1.0f, (3u << 12) | 1u, 987654321ULL, (uint64_t)s};
            CALL(cpu, sp_sgld_update(mc, sb, 7, rc, &p));
            CALL(gpu, sp_sgld_update(mg, sb, 7, rg, &p));
        }
        CALL(cpu, sp_params_read(mc, 0, P, gc));
        CALL(gpu, sp_params_read(mg, 0, P, gg));
        double e = maxabs(gg, gc, P);
        report(e < t.sgld, "%s 3 RMSProp-SGLD + 2 SGLD steps on head+mlp blocks: parameters max|diff| %.2e", tag, e);
        float *vc = malloc(sizeof(float) * n), *vg = malloc(sizeof(float) * n);
        if (vc && vg && cpu->sp_buffer_read(rc, 0, n, vc) == SP_OK && gpu->sp_buffer_read(rg, 0, n, vg) == SP_OK)
            report(rel(vg, vc, n) < t.grad * 2, "%s RMSProp state rel %.2e", tag, rel(vg, vc, n));
        free(vc); free(vg);
        CALL(cpu, sp_params_reset(mc, sb, 7));
        CALL(gpu, sp_params_reset(mg, sb, 7));
        CALL(cpu, sp_params_read(mc, 0, P, gc));
        CALL(gpu, sp_params_read(mg, 0, P, gg));
        report(maxabs(gg, w, P) == 0 && maxabs(gc, w, P) == 0, "%s sp_params_reset restores w* exactly on both", tag);
    }
    /* accumulators */
    {
        CALL(cpu, sp_accum_create(mc, nl, &ac));
        CALL(gpu, sp_accum_create(mg, nl, &ag));
        double phis[3] = {0.5, -2.0, 1.25};
        for (int k = 0; k < 3; k++) {
            CALL(cpu, sp_forward(mc, bc, NULL, NULL));
            CALL(gpu, sp_forward(mg, bg, NULL, NULL));
            CALL(cpu, sp_accum_add(ac, mc, bc, phis[k]));
            CALL(gpu, sp_accum_add(ag, mg, bg, phis[k]));
        }
        double *s1 = malloc(sizeof(double) * nl * 4);
        if (!s1) goto done;
        CALL(cpu, sp_accum_read(ac, s1, s1 + nl));
        CALL(gpu, sp_accum_read(ag, s1 + 2 * nl, s1 + 3 * nl));
        double md = 0, mx = 0;
        for (int64_t i = 0; i < 2 * nl; i++) {
            md = fmax(md, fabs(s1[2 * nl + i] - s1[i]));
            mx = fmax(mx, fabs(s1[i]));
        }
        free(s1);
        report(md / mx < t.accum, "%s accumulator sums rel %.2e", tag, md / mx);
    }
done:
    if (ac) cpu->sp_accum_destroy(ac);
    if (ag) gpu->sp_accum_destroy(ag);
    if (rc) cpu->sp_buffer_destroy(rc);
    if (rg) gpu->sp_buffer_destroy(rg);
    if (bc) cpu->sp_batch_destroy(bc);
    if (bg) gpu->sp_batch_destroy(bg);
    if (mc) cpu->sp_model_destroy(mc);
    if (mg) gpu->sp_model_destroy(mg);
    free(off); free(w); free(gc); free(gg); free(lc); free(lg); free(tok);
}

/* sp_model_load_tensor: BF16 bytes at an odd address, tensor by tensor (embed_in spans several of the
 * CUDA backend's 4 Mi-float staging chunks) give bit-identical weights on both backends; the lazily
 * made anchor is the loaded weights (SGLD step, sp_params_write, then reset). */
static void check_load_tensor(api *cpu, api *gpu, sp_config cfg) {
    const int nt = SP_TENSORS(cfg.n_layers);
    const int64_t P = cpu->sp_param_count(&cfg);
    sp_options o = {0, 0, SP_PRECISION_FP32, 64};
    sp_model *mc = NULL, *mg = NULL;
    int64_t *off = calloc(nt + 1, sizeof(int64_t));
    unsigned char *raw = malloc(2 * P + 1);
    float *wc = malloc(sizeof(float) * P), *wg = malloc(sizeof(float) * P);
    if (!off || !raw || !wc || !wg) { report(0, "load_tensor: host allocation"); goto done; }
    cpu->sp_param_offsets(&cfg, off, nt);
    off[nt] = P;
    for (int64_t i = 0; i < P; i++) {
        float f = 0.05f * nrand();
        uint32_t u;
        memcpy(&u, &f, 4);
        uint16_t b = (uint16_t)(u >> 16);
        memcpy(raw + 1 + 2 * i, &b, 2);
    }
    CALL(cpu, sp_model_create(&cfg, &o, &mc));
    CALL(gpu, sp_model_create(&cfg, &o, &mg));
    for (int t = 0; t < nt; t++) {
        CALL(cpu, sp_model_load_tensor(mc, off[t], off[t + 1] - off[t], SP_DTYPE_BF16, raw + 1 + 2 * off[t]));
        CALL(gpu, sp_model_load_tensor(mg, off[t], off[t + 1] - off[t], SP_DTYPE_BF16, raw + 1 + 2 * off[t]));
    }
    CALL(cpu, sp_params_read(mc, 0, P, wc));
    CALL(gpu, sp_params_read(mg, 0, P, wg));
    report(memcmp(wc, wg, sizeof(float) * P) == 0, "sp_model_load_tensor (BF16, %lld parameters): bit-identical weights", (long long)P);
    {
        sp_block ub = {off[nt - 1], cfg.vocab_size, cfg.d_model, cfg.d_model};
        sp_sgld_params sn = {1e-2f, 0.0f, 0.0f, 0, 0.99f, 0.1f, 1.0f, 3, 9, 0};
        float x = 0.25f;
        CALL(gpu, sp_sgld_update(mg, &ub, 1, NULL, &sn));
        CALL(gpu, sp_params_write(mg, 3, 1, &x));
        sp_block all = {0, 1, P, P};
        CALL(gpu, sp_params_reset(mg, &all, 1));
        CALL(gpu, sp_params_read(mg, 0, P, wg));
        report(memcmp(wc, wg, sizeof(float) * P) == 0, "CUDA: the anchor made at the first SGLD step is the loaded weights");
    }
done:
    if (mc) cpu->sp_model_destroy(mc);
    if (mg) gpu->sp_model_destroy(mg);
    free(off); free(raw); free(wc); free(wg);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "build/native";
    int quick = argc > 2 && !strcmp(argv[2], "--quick");
    char p1[1024], p2[1024];
    snprintf(p1, sizeof p1, "%s/libspectro_cpu.so", dir);
    snprintf(p2, sizeof p2, "%s/libspectro_cuda.so", dir);
    api cpu, gpu;
    if (!load_api(&cpu, p1) || !load_api(&gpu, p2)) return 1;
    if (gpu.sp_backend_probe() != SP_OK) { printf("SKIP: %s\n", gpu.sp_last_error()); return 77; }
    printf("cpu: %s, cuda: %s\n", cpu.sp_backend_name(), gpu.sp_backend_name());
    /* sp_noise: the two libraries must give the same floats */
    {
        int n = 4099;
        float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
        int same = a && b && cpu.sp_noise(77, 5, 1ULL << 33, 3, n, a) == SP_OK && gpu.sp_noise(77, 5, 1ULL << 33, 3, n, b) == SP_OK;
        int ndiff = 0;
        for (int i = 0; same && i < n; i++) ndiff += a[i] != b[i];
        report(same && ndiff == 0, "sp_noise identical in both libraries (%d of %d differ)", ndiff, n);
        free(a); free(b);
    }
    sp_config tiny = {512, 64, 2, 4, 256, 4, 64, 10000.f, 1e-5f};
    sp_config p14 = {50304, 128, 6, 4, 512, 8, 2048, 10000.f, 1e-5f};
    check_load_tensor(&cpu, &gpu, p14);
    for (int prec = 0; prec < 2; prec++) {
        run_case(&cpu, &gpu, "tiny", tiny, 3, 37, prec);
        if (!quick) run_case(&cpu, &gpu, "pythia-14m-like", p14, 4, 128, prec);
    }
    printf("%s: %d passed, %d failed\n", n_fail ? "FAILED" : "PASSED", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
