/*
 * test_load.c -- the checkpoint load path of the CPU backend (run by `make test`):
 *  - sp_model_load_tensor converts every one of the 65536 F16 bit patterns exactly as the CPU's own
 *    F16C instruction does (gcc's _Float16), and BF16 by widening;
 *  - a model loaded tensor by tensor from BF16 / F16 bytes at odd addresses equals one loaded with
 *    sp_model_load from the fp32 values, bit for bit (weights and forward losses);
 *  - the anchor w* is w as loaded: SGLD then sp_params_reset returns to it, and a later
 *    sp_model_load_tensor moves it too;
 *  - loading holds ONE copy of the weights: on a 135 MB model the peak resident memory added by
 *    sp_model_load_tensor (VmHWM reset through /proc/self/clear_refs) stays below 1.25x the fp32 model,
 *    and the anchor appears (+1x) only at the first sp_params_write;
 *  - argument errors.
 */
#include "../include/spectro.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_pass = 0, n_fail = 0;
#define CHECK(cond, ...) do { if (cond) n_pass++; else { n_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)
#define OK(call) do { sp_status s_ = (call); if (s_ != SP_OK) { printf("FAIL %s:%d: %s -> %d (%s)\n", __FILE__, \
    __LINE__, #call, (int)s_, sp_last_error()); n_fail++; } else n_pass++; } while (0)

static const sp_config MID = {1000, 64, 2, 4, 256, 8, 128, 10000.0f, 1e-5f};

static sp_model *create(sp_config c, int max_batch) {
    sp_options o = {1, 0, SP_PRECISION_FP32, max_batch};
    sp_model *m = NULL;
    OK(sp_model_create(&c, &o, &m));
    return m;
}

static uint32_t rng = 12345;
static uint32_t next_u32(void) { rng = rng * 1664525u + 1013904223u; return rng; }

static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* every F16 pattern against the hardware conversion */
static void test_f16_exhaustive(void) {
    sp_model *m = create(MID, 64);
    int64_t P = sp_param_count(&MID);
    CHECK(P >= 65536, "MID has %lld parameters", (long long)P);
    unsigned char *src = malloc(2 * 65536 + 1);
    for (uint32_t h = 0; h < 65536; h++) { uint16_t v = (uint16_t)h; memcpy(src + 1 + 2 * h, &v, 2); }
    OK(sp_model_load_tensor(m, 0, 65536, SP_DTYPE_F16, src + 1));
    float *w = malloc(4 * 65536);
    OK(sp_params_read(m, 0, 65536, w));
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        _Float16 x;
        uint16_t v = (uint16_t)h;
        memcpy(&x, &v, 2);
        float want = (float)x;
        int same = isnan(want) ? isnan(w[h]) && (f32_bits(w[h]) & 0x80000000u) == (f32_bits(want) & 0x80000000u)
                               : f32_bits(w[h]) == f32_bits(want);
        if (!same && bad++ < 5) printf("  f16 0x%04x -> 0x%08x, want 0x%08x\n", h, f32_bits(w[h]), f32_bits(want));
    }
    CHECK(bad == 0, "all 65536 F16 patterns convert exactly (%d wrong)", bad);
    free(src); free(w); sp_model_destroy(m);
}

/* tensor-by-tensor BF16 / F16 load equals sp_model_load of the same values; anchor semantics */
static void test_equivalence_and_anchor(int32_t dtype, const char *name) {
    sp_config c = MID;
    int64_t P = sp_param_count(&c);
    int nt = SP_TENSORS(c.n_layers);
    int64_t *off = malloc(sizeof(int64_t) * (nt + 1));
    OK(sp_param_offsets(&c, off, nt));
    off[nt] = P;
    unsigned char *raw = malloc(2 * P + 3);
    float *ref = malloc(4 * P);
    for (int64_t i = 0; i < P; i++) {
        float f = ((int32_t)(next_u32() >> 8) - (1 << 23)) / (float)(1 << 23) * 0.1f;
        uint16_t v;
        if (dtype == SP_DTYPE_BF16) { v = (uint16_t)(f32_bits(f) >> 16); ref[i] = bits_f32((uint32_t)v << 16); }
        else { _Float16 x = (_Float16)f; memcpy(&v, &x, 2); ref[i] = (float)x; }
        memcpy(raw + 3 + 2 * i, &v, 2);
    }
    for (int t = 0; t < nt; t++)
        if ((t - 1) % 12 == 0 || (t - 1) % 12 == 2 || t == 1 + 12 * c.n_layers)  /* LayerNorm weights near 1 */
            for (int64_t i = off[t]; i < off[t + 1]; i++) {
                ref[i] += 1.0f;
                uint16_t v;
                if (dtype == SP_DTYPE_BF16) { v = (uint16_t)(f32_bits(ref[i]) >> 16); ref[i] = bits_f32((uint32_t)v << 16); }
                else { _Float16 x = (_Float16)ref[i]; memcpy(&v, &x, 2); ref[i] = (float)x; }
                memcpy(raw + 3 + 2 * i, &v, 2);
            }
    int B = 2, T = 17, nl = B * (T - 1);
    int32_t tok[34];
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(next_u32() % (uint32_t)c.vocab_size);
    sp_model *a = create(c, B * T), *b = create(c, B * T);
    OK(sp_model_load(a, ref, P));
    for (int t = 0; t < nt; t++) OK(sp_model_load_tensor(b, off[t], off[t + 1] - off[t], dtype, raw + 3 + 2 * off[t]));
    float *w = malloc(4 * P);
    OK(sp_params_read(b, 0, P, w));
    CHECK(memcmp(w, ref, 4 * P) == 0, "%s: tensor-by-tensor load equals sp_model_load of the same values", name);
    float la[34], lb[34];
    sp_batch *ba = NULL, *bb = NULL;
    OK(sp_batch_create(a, tok, B, T, &ba));
    OK(sp_batch_create(b, tok, B, T, &bb));
    OK(sp_forward(a, ba, la, NULL));
    OK(sp_forward(b, bb, lb, NULL));
    CHECK(memcmp(la, lb, 4 * nl) == 0, "%s: forward losses bit-identical", name);

    /* anchor: SGLD noise on the unembedding, then reset -> the loaded values */
    int L = c.n_layers;
    sp_block ub = {off[3 + 12 * L], c.vocab_size, c.d_model, c.d_model};
    sp_sgld_params sn = {1e-2f, 0.0f, 0.0f, 0, 0.99f, 0.1f, 1.0f, 3, 9, 0};
    OK(sp_sgld_update(b, &ub, 1, NULL, &sn));
    OK(sp_params_read(b, 0, P, w));
    CHECK(memcmp(w, ref, 4 * P) != 0, "%s: the SGLD step moved w", name);
    OK(sp_params_reset(b, &ub, 1));
    OK(sp_params_read(b, 0, P, w));
    CHECK(memcmp(w, ref, 4 * P) == 0, "%s: reset returns to the weights as loaded", name);
    /* once the anchor exists, a tensor load moves it too: F32 bytes of -ref for embed_out */
    int64_t n_out = off[4 + 12 * L] - off[3 + 12 * L];
    float *neg = malloc(4 * n_out + 4);
    for (int64_t i = 0; i < n_out; i++) { float v = -ref[off[3 + 12 * L] + i]; memcpy((char *)neg + 1 + 4 * i, &v, 4); }
    OK(sp_model_load_tensor(b, off[3 + 12 * L], n_out, SP_DTYPE_F32, (char *)neg + 1));
    OK(sp_sgld_update(b, &ub, 1, NULL, &sn));
    OK(sp_params_reset(b, &ub, 1));
    OK(sp_params_read(b, off[3 + 12 * L], n_out, w));
    int moved = 1;
    for (int64_t i = 0; i < n_out; i++) moved &= f32_bits(w[i]) == f32_bits(-ref[off[3 + 12 * L] + i]);
    CHECK(moved, "%s: sp_model_load_tensor after sampling moves the anchor too", name);
    sp_batch_destroy(ba); sp_batch_destroy(bb); sp_model_destroy(a); sp_model_destroy(b);
    free(off); free(raw); free(ref); free(w); free(neg);
}

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, k) == 0) { v = atol(line + k); break; }
    fclose(f);
    return v;
}

/* one copy of the weights at load; the anchor appears at the first write */
static void test_resident_memory(void) {
    sp_config c = {8192, 512, 8, 8, 2048, 16, 64, 10000.0f, 1e-5f};
    int64_t P = sp_param_count(&c);
    double model_mb = P * 4.0 / 1048576.0;
    sp_model *m = create(c, 64);
    uint16_t *src = malloc(2 * P);
    for (int64_t i = 0; i < P; i++) src[i] = (uint16_t)(0x3c00u + (i & 0xff));   /* bf16 around 0.008 */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int can_reset = f && fputs("5", f) >= 0;
    if (f && fclose(f) != 0) can_reset = 0;
    if (!can_reset) {
        printf("skip: resident-memory check (cannot reset VmHWM through /proc/self/clear_refs)\n");
    } else {
        long rss0 = status_kb("VmRSS:");
        OK(sp_model_load_tensor(m, 0, P, SP_DTYPE_BF16, src));
        double peak_mb = (status_kb("VmHWM:") - rss0) / 1024.0;
        CHECK(peak_mb > 0.75 * model_mb && peak_mb < 1.25 * model_mb,
              "loading a %.0f MiB model added %.0f MiB at peak (one copy expected, not two)", model_mb, peak_mb);
        long rss1 = status_kb("VmRSS:");
        float one = 0.5f;
        OK(sp_params_write(m, 7, 1, &one));
        double anchor_mb = (status_kb("VmRSS:") - rss1) / 1024.0;
        printf("load: %.0f MiB model, +%.0f MiB peak resident at load, +%.0f MiB at the first write (anchor)\n",
               model_mb, peak_mb, anchor_mb);
        CHECK(anchor_mb > 0.75 * model_mb && anchor_mb < 1.25 * model_mb,
              "the first sp_params_write made the anchor: +%.0f MiB for a %.0f MiB model", anchor_mb, model_mb);
    }
    free(src);
    sp_model_destroy(m);
}

static void test_errors(void) {
    sp_model *m = create(MID, 64);
    int64_t P = sp_param_count(&MID);
    uint16_t x[4] = {0, 0, 0, 0};
    CHECK(sp_model_load_tensor(NULL, 0, 1, SP_DTYPE_BF16, x) == SP_ERR_INVALID && strstr(sp_last_error(), "model is NULL"),
          "NULL model: %s", sp_last_error());
    CHECK(sp_model_load_tensor(m, 0, 1, SP_DTYPE_BF16, NULL) == SP_ERR_INVALID && strstr(sp_last_error(), "NULL"),
          "NULL src: %s", sp_last_error());
    CHECK(sp_model_load_tensor(m, 0, 1, 3, x) == SP_ERR_INVALID && strstr(sp_last_error(), "dtype 3"),
          "bad dtype: %s", sp_last_error());
    CHECK(sp_model_load_tensor(m, P - 1, 2, SP_DTYPE_BF16, x) == SP_ERR_INVALID && strstr(sp_last_error(), "outside"),
          "past the end: %s", sp_last_error());
    CHECK(sp_model_load_tensor(m, -1, 1, SP_DTYPE_BF16, x) == SP_ERR_INVALID, "negative offset");
    CHECK(sp_model_load_tensor(m, 0, -1, SP_DTYPE_BF16, x) == SP_ERR_INVALID, "negative n");
    OK(sp_model_load_tensor(m, P, 0, SP_DTYPE_BF16, x));
    sp_model_destroy(m);
}

int main(void) {
    test_f16_exhaustive();
    test_equivalence_and_anchor(SP_DTYPE_BF16, "bf16");
    test_equivalence_and_anchor(SP_DTYPE_F16, "f16");
    test_resident_memory();
    test_errors();
    printf("native load: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
