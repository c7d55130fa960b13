/*
 * test_probe.c -- loads libspectro_cuda.so with dlopen and checks the behaviour that must hold on
 * ANY machine:
 *   - the library loads (static cudart: no libcudart.so needed) and reports name "cuda", ABI version;
 *   - sp_noise reproduces Philox4x32-10 (known-answer values of the generator, checked through the
 *     uniform of element 0 ... 3) and is consistent across (first, n) windows;
 *   - layout functions work without a device;
 *   - without a usable GPU: sp_backend_probe returns SP_ERR_UNAVAILABLE with a non-empty message and
 *     sp_model_create refuses cleanly (no crash, no exit);
 *   - with a GPU: sp_backend_probe returns SP_OK and a tiny model can be created and destroyed.
 * Usage: test_probe /path/to/libspectro_cuda.so      exit code 0 = pass
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spectro.h"
#include "philox.h"   /* native/src/philox.h: the one Philox of both backends */

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL: "); printf(__VA_ARGS__); printf("\n"); } \
                              else { printf("ok:   "); printf(__VA_ARGS__); printf("\n"); } } while (0)

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "libspectro_cuda.so";
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("FAIL: dlopen(%s): %s\n", path, dlerror()); return 1; }
#define SYM(name) __typeof__(name) *p_##name = (__typeof__(name) *)dlsym(h, #name); \
    if (!p_##name) { printf("FAIL: missing symbol %s\n", #name); return 1; }
    SYM(sp_abi_version);
    SYM(sp_backend_name);
    SYM(sp_last_error);
    SYM(sp_backend_probe);
    SYM(sp_param_count);
    SYM(sp_param_offsets);
    SYM(sp_model_create);
    SYM(sp_model_destroy);
    SYM(sp_noise);
    SYM(sp_memory_available);

    CHECK(p_sp_abi_version() == SP_ABI_VERSION, "sp_abi_version = %d", p_sp_abi_version());
    CHECK(strcmp(p_sp_backend_name(), "cuda") == 0, "sp_backend_name = %s", p_sp_backend_name());

    /* Philox4x32-10 known answers (Random123 kat_vectors) */
    {
        philox4x32_ctr c = {{0, 0, 0, 0}};
        philox4x32_ctr x = philox4x32_10(c, 0, 0);
        CHECK(x.v[0] == 0x6627e8d5u && x.v[1] == 0xe169c58du && x.v[2] == 0xbc57ac4cu && x.v[3] == 0x9b00dbd8u,
              "philox4x32-10(0, 0) = %08x %08x %08x %08x", x.v[0], x.v[1], x.v[2], x.v[3]);
        philox4x32_ctr c2 = {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}};
        x = philox4x32_10(c2, 0xffffffffu, 0xffffffffu);
        CHECK(x.v[0] == 0x408f276du && x.v[1] == 0x41c83b0eu && x.v[2] == 0xa20bc7c6u && x.v[3] == 0x6d5451fdu,
              "philox4x32-10(ones, ones) = %08x %08x %08x %08x", x.v[0], x.v[1], x.v[2], x.v[3]);
        philox4x32_ctr c3 = {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
        x = philox4x32_10(c3, 0xa4093822u, 0x299f31d0u);
        CHECK(x.v[0] == 0xd16cfe09u && x.v[1] == 0x94fdccebu && x.v[2] == 0x5001e420u && x.v[3] == 0x24126ea1u,
              "philox4x32-10(pi, pi) = %08x %08x %08x %08x", x.v[0], x.v[1], x.v[2], x.v[3]);
    }
    /* sp_noise: spec by hand for element 5 = quad 1, slot 1; windows agree; moments */
    {
        uint64_t seed = 0x123456789abcdefULL; uint32_t stream = (7u << 12) | 3u; uint64_t step = 0x100000002ULL;
        float a[1000], b[10];
        sp_status s = p_sp_noise(seed, stream, step, 0, 1000, a);
        CHECK(s == SP_OK, "sp_noise status %d", (int)s);
        philox4x32_ctr c = {{1u, stream, 2u, 1u}};
        philox4x32_ctr x = philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
        double u0 = ((x.v[0] >> 8) + 0.5) / 16777216.0, u1 = ((x.v[1] >> 8) + 0.5) / 16777216.0;
        float want = (float)(sqrt(-2.0 * log(u0)) * sin(2.0 * 3.14159265358979323846 * u1));
        CHECK(a[5] == want, "sp_noise element 5 = %.9g, by hand %.9g", a[5], want);
        s = p_sp_noise(seed, stream, step, 3, 10, b);
        int same = s == SP_OK;
        for (int i = 0; i < 10; i++) same &= b[i] == a[3 + i];
        CHECK(same, "sp_noise(first=3, n=10) equals the window of sp_noise(0, 1000)");
        double m = 0, v = 0;
        for (int i = 0; i < 1000; i++) { m += a[i]; v += (double)a[i] * a[i]; }
        m /= 1000; v = v / 1000 - m * m;
        CHECK(fabs(m) < 0.15 && fabs(v - 1) < 0.15, "noise mean %.3f var %.3f", m, v);
        CHECK(p_sp_noise(1, 0, 0, -1, 3, b) == SP_ERR_INVALID && strlen(p_sp_last_error()) > 0,
              "sp_noise rejects first < 0: %s", p_sp_last_error());
    }
    /* layout without a device */
    sp_config cfg = {512, 64, 2, 4, 256, 8, 64, 10000.0f, 1e-5f};
    {
        int64_t P = p_sp_param_count(&cfg);
        int64_t want = 512LL * 64 * 2 + 2 * (4 * 64 + 3 * 64 * 64 + 3 * 64 + 64 * 64 + 64 + 256 * 64 + 256 + 64 * 256 + 64) + 2 * 64;
        CHECK(P == want, "sp_param_count = %lld (expected %lld)", (long long)P, (long long)want);
        int64_t off[SP_TENSORS(2)];
        CHECK(p_sp_param_offsets(&cfg, off, SP_TENSORS(2)) == SP_OK && off[1] == 512 * 64 && off[SP_TENSORS(2) - 1] == P - 512 * 64,
              "sp_param_offsets");
        sp_config bad = cfg; bad.n_heads = 5;
        CHECK(p_sp_param_count(&bad) == -1, "sp_param_count(invalid) = -1");
    }
    /* device */
    sp_status ps = p_sp_backend_probe();
    const char *msg = p_sp_last_error();
    printf("sp_backend_probe -> %d, message: \"%s\"\n", (int)ps, msg);
    sp_options opt = {0, 0, SP_PRECISION_FP32, 128};
    sp_model *m = NULL;
    if (ps == SP_ERR_UNAVAILABLE) {
        CHECK(strlen(msg) > 0 && strstr(msg, "CUDA") != NULL, "probe says why: %s", msg);
        sp_status cs = p_sp_model_create(&cfg, &opt, &m);
        CHECK(cs == SP_ERR_UNAVAILABLE && m == NULL && strlen(p_sp_last_error()) > 0,
              "sp_model_create refuses cleanly: %d \"%s\"", (int)cs, p_sp_last_error());
    } else {
        CHECK(ps == SP_OK, "probe OK on a GPU machine");
        sp_status cs = p_sp_model_create(&cfg, &opt, &m);
        CHECK(cs == SP_OK && m != NULL, "sp_model_create on the GPU: %d %s", (int)cs, p_sp_last_error());
        const char *(*describe)(const sp_model *) = (const char *(*)(const sp_model *))dlsym(h, "sp_cuda_describe");
        if (m && describe) printf("model: %s\n", describe(m));
        int64_t avail = -1;
        CHECK(m && p_sp_memory_available(m, &avail) == SP_OK && avail > 0, "sp_memory_available = %lld bytes: %s",
              (long long)avail, p_sp_last_error());
        CHECK(p_sp_model_destroy(m) == SP_OK, "sp_model_destroy");
        sp_options bad = opt; bad.precision = 7;
        CHECK(p_sp_model_create(&cfg, &bad, &m) == SP_ERR_INVALID, "bad precision rejected: %s", p_sp_last_error());
    }
    CHECK(p_sp_model_destroy(NULL) == SP_OK, "sp_model_destroy(NULL)");
    int64_t avail = 0;
    CHECK(p_sp_memory_available(NULL, &avail) == SP_ERR_INVALID && strstr(p_sp_last_error(), "NULL"),
          "sp_memory_available(NULL) refused: %s", p_sp_last_error());
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
