/*
 * test_abi_checks.c -- the argument checks of the ABI, run through the ABI against EITHER library:
 *   test_abi_checks /path/to/libspectro_cpu.so     (make -C native test)
 *   test_abi_checks /path/to/libspectro_cuda.so    (make -C kernels probe-test)
 * Both backends run native/src/abi_common.c's checks before touching a device, so every check
 * that needs no model runs on any machine, the CUDA library included; the checks that need a
 * model run when sp_model_create succeeds (always on the CPU, on a GPU machine for CUDA).
 * Each case below fixed a drift between the two backends (docs/architecture.md).
 * Exit code 0 = pass.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../include/spectro.h"

static int n_pass = 0, n_fail = 0;
static const char *(*last_error)(void);

/* status s == want, and (when want != SP_OK) the message starts with fn and contains `part` */
static void expect(sp_status s, sp_status want, const char *fn, const char *part, const char *what) {
    const char *msg = last_error();
    int ok = s == want;
    if (ok && want != SP_OK) ok = strncmp(msg, fn, strlen(fn)) == 0 && (!part || strstr(msg, part) != NULL);
    if (ok && want == SP_OK) ok = msg[0] == '\0';
    if (ok) n_pass++;
    else n_fail++;
    printf("%s %s: status %d (want %d), \"%s\"\n", ok ? "ok:  " : "FAIL:", what, (int)s, (int)want, msg);
}

#define SYMS(X) X(sp_backend_name) X(sp_last_error) X(sp_config_validate) X(sp_param_count) X(sp_param_offsets) \
    X(sp_batch_cache_bytes) X(sp_model_create) X(sp_model_destroy) X(sp_model_load) X(sp_params_read) \
    X(sp_params_reset) X(sp_batch_create) X(sp_batch_destroy) X(sp_batch_cache_at) X(sp_memory_available) \
    X(sp_forward) X(sp_forward_backward) X(sp_buffer_create) X(sp_buffer_destroy) X(sp_buffer_read) \
    X(sp_sgld_update) X(sp_noise) X(sp_accum_create) X(sp_accum_destroy) X(sp_accum_add) X(sp_accum_read) \
    X(sp_accum_reset) X(sp_model_load_tensor) X(sp_feature_count) X(sp_forward_features) X(sp_feature_name) X(sp_abi_version)
#define DECL(name) static __typeof__(name) *p_##name;
SYMS(DECL)

static const sp_config TINY = {64, 16, 2, 2, 32, 4, 16, 10000.0f, 1e-5f};

static sp_sgld_params good_sgld(void) {
    sp_sgld_params p = {1e-3f, 10.0f, 100.0f, 1, 0.99f, 0.1f, 1.0f, 5, 42, 0};
    return p;
}

static void layout_checks(void) {
    int nt = SP_TENSORS(TINY.n_layers);
    int64_t off[SP_TENSORS(2) + 1];
    int64_t P = p_sp_param_count(&TINY);
    expect(p_sp_param_offsets(&TINY, off, nt), SP_OK, "", NULL, "sp_param_offsets(n == SP_TENSORS)");
    if (off[1] != 64 * 16 || off[nt - 1] != P - 64 * 16) { n_fail++; printf("FAIL: offsets %lld %lld\n", (long long)off[1], (long long)off[nt - 1]); }
    /* drift: the CPU refused n != SP_TENSORS(L), CUDA accepted any n >= SP_TENSORS(L) */
    expect(p_sp_param_offsets(&TINY, off, nt + 1), SP_ERR_INVALID, "sp_param_offsets", "SP_TENSORS(2) = 28",
           "sp_param_offsets(n == SP_TENSORS + 1)");
    expect(p_sp_param_offsets(&TINY, off, nt - 1), SP_ERR_INVALID, "sp_param_offsets", "n = 27", "sp_param_offsets(n < SP_TENSORS)");
    expect(p_sp_param_offsets(&TINY, NULL, nt), SP_ERR_INVALID, "sp_param_offsets", "offsets is NULL", "sp_param_offsets(NULL)");

    /* features: F = 1 + 2L + 2L nh (spectro.h), -1 with the message of an invalid config */
    if (p_sp_feature_count(&TINY) != 1 + 2 * 2 + 2 * 2 * 2) { n_fail++; printf("FAIL: sp_feature_count(TINY) = %lld\n", (long long)p_sp_feature_count(&TINY)); }
    else n_pass++;
    if (p_sp_abi_version() != SP_ABI_VERSION) { n_fail++; printf("FAIL: sp_abi_version %d\n", p_sp_abi_version()); }
    else n_pass++;
    char nm[32];
    expect(p_sp_feature_name(&TINY, 12, nm, sizeof nm), SP_OK, "", NULL, "sp_feature_name(last column)");
    if (strcmp(nm, "attent.l1.h1") != 0) { n_fail++; printf("FAIL: sp_feature_name(TINY, 12) = %s\n", nm); }
    else n_pass++;
    expect(p_sp_feature_name(&TINY, 5, nm, sizeof nm), SP_OK, "", NULL, "sp_feature_name(5)");
    if (strcmp(nm, "head.l1.h0") != 0) { n_fail++; printf("FAIL: sp_feature_name(TINY, 5) = %s\n", nm); }
    else n_pass++;
    expect(p_sp_feature_name(&TINY, 13, nm, sizeof nm), SP_ERR_INVALID, "sp_feature_name", "column 13 outside [0, 13)",
           "sp_feature_name(F)");
    expect(p_sp_feature_name(&TINY, 0, nm, 4), SP_ERR_INVALID, "sp_feature_name", "cap 4 is too small", "sp_feature_name(cap 4)");
    sp_config badf = TINY;
    badf.n_heads = 3;
    int64_t fc = p_sp_feature_count(&badf);
    expect(fc == -1 ? SP_ERR_INVALID : SP_OK, SP_ERR_INVALID, "sp_feature_count", "n_heads 3 must be >= 1 and divide d_model 16",
           "sp_feature_count(bad config)");
    fc = p_sp_feature_count(NULL);
    expect(fc == -1 ? SP_ERR_INVALID : SP_OK, SP_ERR_INVALID, "sp_feature_count", "config is NULL", "sp_feature_count(NULL)");
    sp_config bad = TINY;
    bad.n_heads = 3;
    int64_t r = p_sp_param_count(&bad);
    expect(r == -1 ? SP_ERR_INVALID : SP_OK, SP_ERR_INVALID, "sp_param_count", "n_heads 3", "sp_param_count(invalid) = -1");
    r = p_sp_param_count(&TINY);
    expect(r == P ? SP_OK : SP_ERR_INTERNAL, SP_OK, "", NULL, "sp_param_count after a failure clears the error");
    /* drift: CUDA's sp_batch_cache_bytes did not validate the config */
    r = p_sp_batch_cache_bytes(&bad, 2, 8);
    expect(r == -1 ? SP_ERR_INVALID : SP_OK, SP_ERR_INVALID, "sp_batch_cache_bytes", "n_heads", "sp_batch_cache_bytes(invalid config) = -1");
    r = p_sp_batch_cache_bytes(&TINY, 0, 8);
    expect(r == -1 ? SP_ERR_INVALID : SP_OK, SP_ERR_INVALID, "sp_batch_cache_bytes", "B = 0", "sp_batch_cache_bytes(B = 0) = -1");
    r = p_sp_batch_cache_bytes(&TINY, 2, 8);
    expect(r == 2 * 8 * 16 * 4 ? SP_OK : SP_ERR_INTERNAL, SP_OK, "", NULL, "sp_batch_cache_bytes = B T d 4");
    bad = TINY; bad.rotary_base = 0.0f;
    expect(p_sp_config_validate(&bad), SP_ERR_INVALID, "sp_config_validate", "rotary_base 0 must be finite", "rotary_base 0");
    bad = TINY; bad.ln_eps = INFINITY;
    expect(p_sp_config_validate(&bad), SP_ERR_INVALID, "sp_config_validate", "ln_eps inf must be finite", "ln_eps inf");
    expect(p_sp_config_validate(NULL), SP_ERR_INVALID, "sp_config_validate", "config is NULL", "config NULL");
}

static void create_checks(void) {
    sp_options good = {1, 0, SP_PRECISION_FP32, 64};
    sp_model *m = (sp_model *)&good; /* any non-NULL value: a refusal must reset it */
    struct { sp_options o; const char *part; const char *what; } cases[] = {
        {{-1, 0, 0, 64}, "n_threads -1 outside [0, 1024]", "n_threads -1 (CUDA ignored it)"},
        {{1025, 0, 0, 64}, "n_threads 1025", "n_threads 1025"},
        {{1, -1, 0, 64}, "device -1 < 0", "device -1 (the CPU ignored it)"},
        {{1, 0, 7, 64}, "precision 7 is neither", "precision 7 (the CPU said only 'not supported')"},
        {{1, 0, 0, 1}, "max_batch 1 outside [2, 16777216]", "max_batch 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        m = (sp_model *)&good;
        expect(p_sp_model_create(&TINY, &cases[i].o, &m), SP_ERR_INVALID, "sp_model_create", cases[i].part, cases[i].what);
        if (m != NULL) { n_fail++; printf("FAIL: %s left *out set\n", cases[i].what); }
    }
    expect(p_sp_model_create(&TINY, NULL, &m), SP_ERR_INVALID, "sp_model_create", "options is NULL", "options NULL");
    expect(p_sp_model_create(&TINY, &good, NULL), SP_ERR_INVALID, "sp_model_create", "out is NULL", "out NULL");
    sp_config bad = TINY; bad.rotary_dims = 3;
    expect(p_sp_model_create(&bad, &good, &m), SP_ERR_INVALID, "sp_model_create", "rotary_dims 3", "invalid config");
}

/* The sampler bounds (docs/architecture.md "Sampler bounds"): checked before the model handle, so
 * these run without a model on either library. */
static void sgld_param_checks(void) {
    struct { int field; float v; const char *part; } cases[] = {
        {0, 0.0f, "lr 0 must be finite and > 0"}, {0, NAN, "lr nan"}, {0, -1e-3f, "lr -0.001"},
        {1, -1.0f, "nbeta -1 must be finite and >= 0"}, {1, INFINITY, "nbeta inf"},
        {2, -1.0f, "gamma -1 must be finite and >= 0"},
        {3, 2.0f, "rmsprop 2 must be 0 or 1"}, {3, -1.0f, "rmsprop -1"},
        {4, 1.0f, "alpha 1 outside [0, 1)"}, {4, -0.5f, "alpha -0.5"}, {4, NAN, "alpha nan"},
        {5, 0.0f, "rms_eps 0 must be finite and > 0"}, {5, INFINITY, "rms_eps inf"},
        {6, -1.0f, "noise_scale -1 must be finite and >= 0"}, {6, INFINITY, "noise_scale inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sp_sgld_params p = good_sgld();
        switch (cases[i].field) {
        case 0: p.lr = cases[i].v; break;
        case 1: p.nbeta = cases[i].v; break;
        case 2: p.gamma = cases[i].v; break;
        case 3: p.rmsprop = (int32_t)cases[i].v; break;
        case 4: p.alpha = cases[i].v; break;
        case 5: p.rms_eps = cases[i].v; break;
        default: p.noise_scale = cases[i].v; break;
        }
        expect(p_sp_sgld_update(NULL, NULL, 0, NULL, &p), SP_ERR_INVALID, "sp_sgld_update", cases[i].part, cases[i].part);
    }
    /* alpha and rms_eps are checked for plain SGLD too: one set of bounds, no conditions */
    sp_sgld_params p = good_sgld();
    p.rmsprop = 0;
    p.alpha = 1.0f;
    expect(p_sp_sgld_update(NULL, NULL, 0, NULL, &p), SP_ERR_INVALID, "sp_sgld_update", "alpha 1", "alpha 1 with plain SGLD");
    p = good_sgld();
    expect(p_sp_sgld_update(NULL, NULL, 0, NULL, NULL), SP_ERR_INVALID, "sp_sgld_update", "params is NULL", "params NULL");
    expect(p_sp_sgld_update(NULL, NULL, 0, NULL, &p), SP_ERR_INVALID, "sp_sgld_update", "model is NULL", "valid params, model NULL");
    float x[4];
    expect(p_sp_noise(1, 0, 0, -1, 3, x), SP_ERR_INVALID, "sp_noise", "first = -1 < 0", "sp_noise first < 0");
    expect(p_sp_noise(1, 0, 0, 0, -3, x), SP_ERR_INVALID, "sp_noise", "n = -3 < 0", "sp_noise n < 0");
    expect(p_sp_noise(1, 0, 0, 0, 3, NULL), SP_ERR_INVALID, "sp_noise", "out is NULL", "sp_noise out NULL");
    expect(p_sp_noise(1, 0, 0, 0, 3, x), SP_OK, "", NULL, "sp_noise valid");
}

/* NULL handles: refused with the function's name, before any device call (no crash without a GPU). */
static void null_handle_checks(void) {
    float f[4];
    double d[4];
    int32_t tok[4] = {1, 2, 3, 4};
    int64_t n64;
    sp_batch *b = (sp_batch *)tok;
    sp_buffer *buf = (sp_buffer *)tok;
    sp_accum *acc = (sp_accum *)tok;
    expect(p_sp_model_load(NULL, f, 4), SP_ERR_INVALID, "sp_model_load", "model is NULL", "sp_model_load(NULL)");
    expect(p_sp_model_load_tensor(NULL, 0, 4, SP_DTYPE_BF16, f), SP_ERR_INVALID, "sp_model_load_tensor", "model is NULL",
           "sp_model_load_tensor(NULL)");
    expect(p_sp_params_read(NULL, 0, 4, f), SP_ERR_INVALID, "sp_params_read", "model is NULL", "sp_params_read(NULL)");
    expect(p_sp_params_reset(NULL, NULL, 0), SP_ERR_INVALID, "sp_params_reset", "model is NULL", "sp_params_reset(NULL)");
    expect(p_sp_batch_create(NULL, tok, 1, 4, &b), SP_ERR_INVALID, "sp_batch_create", "model is NULL", "sp_batch_create(NULL)");
    if (b != NULL) { n_fail++; printf("FAIL: sp_batch_create(NULL) left *out set\n"); }
    expect(p_sp_batch_cache_at(NULL, NULL, 0), SP_ERR_INVALID, "sp_batch_cache_at", "model is NULL", "sp_batch_cache_at(NULL)");
    expect(p_sp_memory_available(NULL, &n64), SP_ERR_INVALID, "sp_memory_available", "model is NULL", "sp_memory_available(NULL)");
    expect(p_sp_forward(NULL, NULL, f, d), SP_ERR_INVALID, "sp_forward", "model is NULL", "sp_forward(NULL)");
    expect(p_sp_forward_backward(NULL, NULL, NULL, f, d), SP_ERR_INVALID, "sp_forward_backward", "model is NULL",
           "sp_forward_backward(NULL)");
    expect(p_sp_forward_features(NULL, NULL, f, 8, f), SP_ERR_INVALID, "sp_forward_features", "model is NULL",
           "sp_forward_features(NULL)");
    expect(p_sp_buffer_create(NULL, 4, &buf), SP_ERR_INVALID, "sp_buffer_create", "model is NULL", "sp_buffer_create(NULL)");
    if (buf != NULL) { n_fail++; printf("FAIL: sp_buffer_create(NULL) left *out set\n"); }
    expect(p_sp_buffer_read(NULL, 0, 1, f), SP_ERR_INVALID, "sp_buffer_read", "buffer is NULL", "sp_buffer_read(NULL)");
    expect(p_sp_accum_create(NULL, 4, &acc), SP_ERR_INVALID, "sp_accum_create", "model is NULL", "sp_accum_create(NULL)");
    expect(p_sp_accum_add(NULL, NULL, NULL, 1.0), SP_ERR_INVALID, "sp_accum_add", "accum is NULL", "sp_accum_add(NULL)");
    expect(p_sp_accum_read(NULL, d, d), SP_ERR_INVALID, "sp_accum_read", "accum is NULL", "sp_accum_read(NULL)");
    expect(p_sp_accum_reset(NULL), SP_ERR_INVALID, "sp_accum_reset", "accum is NULL", "sp_accum_reset(NULL)");
    expect(p_sp_model_destroy(NULL), SP_OK, "", NULL, "sp_model_destroy(NULL)");
}

/* Checks that need models: run on the CPU always, on CUDA where a GPU exists. */
static void model_checks(sp_model *m1, sp_model *m2) {
    int64_t P = p_sp_param_count(&TINY);
    float *w = calloc((size_t)P, sizeof(float));
    float f[8];
    expect(p_sp_model_load(m1, w, P - 1), SP_ERR_INVALID, "sp_model_load", "n = ", "sp_model_load(n = P - 1)");
    expect(p_sp_model_load(m1, w, P), SP_OK, "", NULL, "sp_model_load");
    expect(p_sp_model_load(m2, w, P), SP_OK, "", NULL, "sp_model_load (second model)");
    expect(p_sp_params_read(m1, P - 2, 4, f), SP_ERR_INVALID, "sp_params_read", "outside the ", "sp_params_read past the end");
    expect(p_sp_model_load_tensor(m1, P - 2, 4, SP_DTYPE_F16, f), SP_ERR_INVALID, "sp_model_load_tensor", "outside the ",
           "sp_model_load_tensor past the end");
    expect(p_sp_model_load_tensor(m1, 0, 4, 3, f), SP_ERR_INVALID, "sp_model_load_tensor", "dtype 3 is not",
           "sp_model_load_tensor(dtype 3)");
    expect(p_sp_model_load_tensor(m1, 0, 4, SP_DTYPE_BF16, NULL), SP_ERR_INVALID, "sp_model_load_tensor", "host pointer is NULL",
           "sp_model_load_tensor(src NULL)");
    expect(p_sp_model_load_tensor(m1, 0, 4, SP_DTYPE_F32, w), SP_OK, "", NULL, "sp_model_load_tensor");
    /* rms buffer of another model: CUDA refused it, the CPU did not check */
    sp_buffer *r1 = NULL, *r2 = NULL, *small = NULL;
    expect(p_sp_buffer_create(m1, 64, &r1), SP_OK, "", NULL, "sp_buffer_create");
    expect(p_sp_buffer_create(m2, 64, &r2), SP_OK, "", NULL, "sp_buffer_create (second model)");
    expect(p_sp_buffer_create(m1, 8, &small), SP_OK, "", NULL, "sp_buffer_create (small)");
    sp_block blk = {16, 4, 8, 16}; /* 32 elements of embed_in */
    sp_sgld_params p = good_sgld();
    expect(p_sp_sgld_update(m1, &blk, 1, r2, &p), SP_ERR_INVALID, "sp_sgld_update", "rms buffer belongs to another model",
           "rms buffer of another model");
    expect(p_sp_sgld_update(m1, &blk, 1, small, &p), SP_ERR_INVALID, "sp_sgld_update", "holds 8 floats", "rms buffer too small");
    expect(p_sp_sgld_update(m1, &blk, 1, NULL, &p), SP_ERR_INVALID, "sp_sgld_update", "needs an rms buffer", "rms buffer NULL");
    p.rmsprop = 2; /* the CPU took any non-zero value as 1 */
    expect(p_sp_sgld_update(m1, &blk, 1, r1, &p), SP_ERR_INVALID, "sp_sgld_update", "rmsprop 2 must be 0 or 1", "rmsprop 2 with a model");
    p = good_sgld();
    expect(p_sp_sgld_update(m1, &blk, 1, r1, &p), SP_OK, "", NULL, "sp_sgld_update valid");
    sp_block neg = {-1, 1, 1, 1}, overlap = {0, 2, 8, 4}, outside = {P - 4, 2, 4, 4};
    expect(p_sp_sgld_update(m1, &neg, 1, r1, &p), SP_ERR_INVALID, "sp_sgld_update", "negative field", "block with a negative field");
    expect(p_sp_sgld_update(m1, &overlap, 1, r1, &p), SP_ERR_INVALID, "sp_sgld_update", "rows would overlap", "block stride < cols");
    expect(p_sp_params_reset(m1, &outside, 1), SP_ERR_INVALID, "sp_params_reset", "reaches outside the", "block past the end");

    int32_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    sp_batch *b1 = NULL, *b2 = NULL;
    expect(p_sp_batch_create(m1, tok, 1, 8, &b1), SP_OK, "", NULL, "sp_batch_create");
    expect(p_sp_batch_create(m2, tok, 1, 8, &b2), SP_OK, "", NULL, "sp_batch_create (second model)");
    tok[3] = 64;
    sp_batch *bx = NULL;
    expect(p_sp_batch_create(m1, tok, 1, 8, &bx), SP_ERR_INVALID, "sp_batch_create", "token 64 at [0, 3] outside vocab 64", "bad token");
    expect(p_sp_batch_create(m1, tok, 1, 1, &bx), SP_ERR_INVALID, "sp_batch_create", "T = 1 < 2", "T = 1");
    expect(p_sp_forward(m1, b2, NULL, NULL), SP_ERR_INVALID, "sp_forward", "batch belongs to another model", "batch of another model");
    expect(p_sp_batch_cache_at(m1, b1, 3), SP_ERR_INVALID, "sp_batch_cache_at", "layer 3 > n_layers 2", "cache layer > L");
    sp_grad_request rq = {3, NULL, 0};
    expect(p_sp_forward_backward(m1, b1, &rq, NULL, NULL), SP_ERR_INVALID, "sp_forward_backward", "stop_layer 3 outside [0, 2]",
           "stop_layer > L");
    sp_grad_request below = {1, &blk, 1};
    expect(p_sp_forward_backward(m1, b1, &below, NULL, NULL), SP_ERR_INVALID, "sp_forward_backward",
           "tensor 0 (embed_in) below stop_layer 1", "block below stop_layer");
    sp_grad_request nullb = {0, NULL, 2};
    expect(p_sp_forward_backward(m1, b1, &nullb, NULL, NULL), SP_ERR_INVALID, "sp_forward_backward",
           "blocks is NULL but n_blocks = 2", "blocks NULL, n_blocks 2");

    /* accumulator of another model: CUDA refused it, the CPU did not check */
    sp_accum *a1 = NULL, *a2 = NULL;
    expect(p_sp_accum_create(m1, 7, &a1), SP_OK, "", NULL, "sp_accum_create");
    expect(p_sp_accum_create(m2, 7, &a2), SP_OK, "", NULL, "sp_accum_create (second model)");
    expect(p_sp_accum_add(a1, m1, b1, 1.0), SP_ERR_INVALID, "sp_accum_add", "no losses yet", "accum before a forward");
    expect(p_sp_forward(m1, b1, NULL, NULL), SP_OK, "", NULL, "sp_forward");
    expect(p_sp_accum_add(a2, m1, b1, 1.0), SP_ERR_INVALID, "sp_accum_add", "accum belongs to another model", "accum of another model");
    expect(p_sp_accum_add(a1, m1, b1, NAN), SP_ERR_INVALID, "sp_accum_add", "phi nan is not finite", "phi NaN");
    expect(p_sp_accum_add(a1, m1, b1, 0.5), SP_OK, "", NULL, "sp_accum_add valid");

    /* sp_forward_features: B*(T-1)*F = 1*7*13 = 91 floats */
    float *feat = calloc(91, sizeof(float));
    expect(p_sp_forward_features(m1, b2, feat, 91, NULL), SP_ERR_INVALID, "sp_forward_features", "batch belongs to another model",
           "features: batch of another model");
    expect(p_sp_forward_features(m1, NULL, feat, 91, NULL), SP_ERR_INVALID, "sp_forward_features", "batch is NULL",
           "features: batch NULL");
    expect(p_sp_forward_features(m1, b1, NULL, 91, NULL), SP_ERR_INVALID, "sp_forward_features", "feat_out is NULL",
           "features: feat_out NULL");
    expect(p_sp_forward_features(m1, b1, feat, 90, NULL), SP_ERR_INVALID, "sp_forward_features",
           "n_feat_total = 90 but the batch needs B*(T-1)*F = 1*7*13 = 91 floats", "features: n_feat_total too small");
    expect(p_sp_forward_features(m1, b1, feat, 92, NULL), SP_ERR_INVALID, "sp_forward_features", "n_feat_total = 92",
           "features: n_feat_total too large");
    expect(p_sp_forward_features(m1, b1, feat, 91, NULL), SP_OK, "", NULL, "sp_forward_features");
    int finite = 1;
    for (int i = 0; i < 91; i++) finite &= isfinite(feat[i]) && feat[i] >= 0.0f;
    if (!finite) { n_fail++; printf("FAIL: sp_forward_features of zero weights gave a negative or non-finite feature\n"); }
    else n_pass++;
    free(feat);
    p_sp_accum_destroy(a1); p_sp_accum_destroy(a2);
    p_sp_batch_destroy(b1); p_sp_batch_destroy(b2);
    p_sp_buffer_destroy(r1); p_sp_buffer_destroy(r2); p_sp_buffer_destroy(small);
    free(w);
}

int main(int argc, char **argv) {
    if (argc < 2) { printf("usage: test_abi_checks /path/to/libspectro_{cpu,cuda}.so\n"); return 2; }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("FAIL: dlopen(%s): %s\n", argv[1], dlerror()); return 1; }
#define LOAD(name) p_##name = (__typeof__(name) *)dlsym(h, #name); \
    if (!p_##name) { printf("FAIL: missing symbol %s\n", #name); return 1; }
    SYMS(LOAD)
    last_error = p_sp_last_error;
    /* abi_common's helpers stay inside the library */
    if (dlsym(h, "sp_check_config") || dlsym(h, "sp_fail")) { n_fail++; printf("FAIL: abi_common helpers are exported\n"); }
    printf("test_abi_checks: %s backend (%s)\n", p_sp_backend_name(), argv[1]);
    layout_checks();
    create_checks();
    sgld_param_checks();
    null_handle_checks();
    sp_options opt = {1, 0, SP_PRECISION_FP32, 64};
    sp_model *m1 = NULL, *m2 = NULL;
    sp_status s1 = p_sp_model_create(&TINY, &opt, &m1);
    sp_status s2 = s1 == SP_OK ? p_sp_model_create(&TINY, &opt, &m2) : s1;
    if (s1 == SP_OK && s2 == SP_OK) {
        model_checks(m1, m2);
    } else if (s1 == SP_ERR_UNAVAILABLE) {
        printf("no device here (%s): the checks that need a model were skipped\n", p_sp_last_error());
    } else {
        n_fail++;
        printf("FAIL: sp_model_create: %d %s\n", (int)(s1 ? s1 : s2), p_sp_last_error());
    }
    p_sp_model_destroy(m1);
    p_sp_model_destroy(m2);
    printf("%s: %d passed, %d failed\n", n_fail ? "FAILED" : "PASSED", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
