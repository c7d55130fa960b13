/*
 * abi_common.h -- the host-side C layer that BOTH backends compile in (abi_common.c; gcc for
 * libspectro_cpu.so, and the same object linked into libspectro_cuda.so), as philox.h is shared:
 * the error API, config validation, the canonical tensor layout (sizes, offsets, parameter count,
 * cache bytes) and every argument check of the ABI that does not need backend memory. A backend
 * entry point runs these checks first, before it touches a device, so that both libraries refuse
 * the same arguments with the same message (native/test/test_abi_checks.c runs against both).
 *
 * Nothing here is exported: the symbols are hidden (only spectro.h's calls leave either library).
 */
#ifndef SPECTRO_ABI_COMMON_H
#define SPECTRO_ABI_COMMON_H

#include "../include/spectro.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SP_HIDDEN __attribute__((visibility("hidden")))

/* ---------------------------------------------------------------- errors */
/* Clears the thread-local error and records fn as the ABI call now running on this thread. */
SP_HIDDEN void sp_enter(const char *fn);
/* The ABI call now running (for messages of helpers that do not know it); "spectro" before any. */
SP_HIDDEN const char *sp_fn(void);
SP_HIDDEN void sp_clear_error(void);
/* Sets the thread-local message "fn: <printf text>" and returns s. */
SP_HIDDEN sp_status sp_fail(sp_status s, const char *fn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sets the thread-local message to the printf text as it is and returns s. */
SP_HIDDEN sp_status sp_set_error(sp_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- canonical layout */
/* Tensor indices of spectro.h's canonical order: layer l, slot k (SP_K_*) is SP_T_LAYER(l, k). */
#define SP_T_EMBED 0
#define SP_T_LAYER(l, k) (1 + 12 * (l) + (k))
#define SP_T_LNFW(L) (1 + 12 * (L))
#define SP_T_LNFB(L) (2 + 12 * (L))
#define SP_T_OUT(L) (3 + 12 * (L))
enum { SP_K_LN1W = 0, SP_K_LN1B, SP_K_LN2W, SP_K_LN2B, SP_K_QKVW, SP_K_QKVB, SP_K_DENSEW, SP_K_DENSEB,
       SP_K_FCW, SP_K_FCB, SP_K_PROJW, SP_K_PROJB };

/* Layer of tensor i: -1 for embed_in, L for the final LayerNorm and embed_out. */
SP_HIDDEN int sp_tensor_layer(int n_layers, int i);
/* Floats of canonical tensor i of a valid config. */
SP_HIDDEN int64_t sp_tensor_numel(const sp_config *c, int i);
/* off[0 .. SP_TENSORS(L)] for a valid config: off[i] = start of tensor i, off[SP_TENSORS(L)] = P. */
SP_HIDDEN void sp_layout(const sp_config *c, int64_t *off);

/* ---------------------------------------------------------------- argument checks */
/* Each returns SP_OK or SP_ERR_INVALID with "fn: what is wrong" set. */
SP_HIDDEN sp_status sp_check_config(const char *fn, const sp_config *c);
/* sp_model_create's arguments that do not depend on the backend: out, opt, cfg and the ranges of
 * every sp_options field (n_threads [0, SP_MAX_THREADS], device >= 0, precision FP32 or BF16,
 * max_batch [2, 2^24]). What a backend cannot do (bf16 on the CPU, a missing device) it checks after. */
#define SP_MAX_THREADS 1024
SP_HIDDEN sp_status sp_check_model_args(const char *fn, const sp_config *cfg, const sp_options *opt, sp_model **out);
/* A handle argument is not NULL (`what` names it: "model", "batch", ...). */
SP_HIDDEN sp_status sp_check_handle(const char *fn, const void *handle, const char *what);
/* A handle (named `what`) that belongs to model `owner` is used with model m. */
SP_HIDDEN sp_status sp_check_owner(const char *fn, const void *owner, const void *m, const char *what);
/* A host copy of n floats at offset into a store of `size` floats: the handle (named `what`) and
 * the host pointer are not NULL, the range lies inside; the range message reads
 * "outside <unit_before><size><unit_after>". */
SP_HIDDEN sp_status sp_check_copy(const char *fn, const void *handle, const char *what, const void *host,
                                  int64_t offset, int64_t n, int64_t size, const char *unit_before,
                                  const char *unit_after);
/* Blocks against a model of P parameters; *total_out (may be NULL) = their element count. */
SP_HIDDEN sp_status sp_check_blocks(const char *fn, int64_t P, const sp_block *blocks, int32_t n_blocks,
                                    int64_t *total_out);
/* sp_buffer_create / sp_accum_create: out and m not NULL, n >= min_n (the caller has set *out = NULL). */
SP_HIDDEN sp_status sp_check_create(const char *fn, const void *out, const void *m, int64_t n, int64_t min_n);
/* sp_model_load: m not NULL, host not NULL, n equals the model's parameter count P. */
SP_HIDDEN sp_status sp_check_load(const char *fn, const void *m, const void *host, int64_t n, int64_t P);
/* sp_model_load_tensor: the range [offset, offset + n) as sp_check_copy checks it against the model's
 * P parameters (m not NULL, src not NULL when n > 0), dtype one of sp_dtype. */
SP_HIDDEN sp_status sp_check_load_tensor(const char *fn, const void *m, const void *src, int64_t offset, int64_t n,
                                         int32_t dtype, int64_t P);
/* m and b not NULL, b (owned by b_owner) belongs to m. */
SP_HIDDEN sp_status sp_check_model_batch(const char *fn, const void *m, const void *b, const void *b_owner);
/* sp_batch_create's arguments for model m (config c, max_batch tokens; c and max_batch are read
 * only when m is not NULL). Sets *out = NULL first when out is not NULL. */
SP_HIDDEN sp_status sp_check_batch_args(const char *fn, const void *m, const sp_config *c, int32_t max_batch,
                                        const int32_t *tokens, int32_t B, int32_t T, sp_batch **out);
/* sp_batch_cache_at's layer for a model of n_layers layers (any layer < 0 drops the cache). */
SP_HIDDEN sp_status sp_check_cache_layer(const char *fn, int32_t layer, int n_layers);
/* The sampler's parameter bounds (docs/architecture.md, "Sampler bounds"; the same numbers as
 * io.spectro.sampling.SamplerOptions and io.spectro.nativeabi.SgldParams). */
SP_HIDDEN sp_status sp_check_sgld_params(const char *fn, const sp_sgld_params *p);
/* sp_sgld_update, in this order: the parameters (sp_check_sgld_params), m not NULL, the blocks
 * against the model's P parameters (*total_out = their element count), and with rmsprop an rms
 * buffer that is not NULL, belongs to m (rms_owner) and holds at least that many floats (rms_n). */
SP_HIDDEN sp_status sp_check_sgld_update(const char *fn, const void *m, int64_t P, const sp_block *blocks,
                                         int32_t n_blocks, const void *rms, const void *rms_owner, int64_t rms_n,
                                         const sp_sgld_params *p, int64_t *total_out);
/* A gradient request against a model (config c, tensor offsets off[0 .. nt], off[nt] = P):
 * stop_layer in [0, L], the blocks valid, no block below stop_layer. On SP_OK, touched[i] (nt
 * bytes, filled here) says whether tensor i gets its weight gradient (spectro.h sp_grad_request). */
SP_HIDDEN sp_status sp_check_grad_request(const char *fn, const sp_config *c, const int64_t *off,
                                          const sp_grad_request *req, unsigned char *touched);
/* sp_accum_add: a, m, b not NULL, b and a belong to m, b holds a->n losses of a forward, phi finite. */
SP_HIDDEN sp_status sp_check_accum_add(const char *fn, const void *a, const void *a_owner, int64_t a_n,
                                       const void *m, const void *b, const void *b_owner, int64_t b_losses,
                                       int has_losses, double phi);
/* sp_forward_features: m, b not NULL, b belongs to m, feat_out not NULL and n_feat_total equal to
 * B*(T-1)*sp_feature_count (c: the model's config, B, T the batch's; read only when m and b pass). */
SP_HIDDEN sp_status sp_check_features(const char *fn, const void *m, const sp_config *c, const void *b,
                                      const void *b_owner, int32_t B, int32_t T, const float *feat_out,
                                      int64_t n_feat_total);
/* F = 1 + 2 L + 2 L nh of a valid config, and the first column of each group (spectro.h). */
SP_HIDDEN int64_t sp_features_of(const sp_config *c);
#define SP_FEAT_RESID(L, nh) 1
#define SP_FEAT_HEAD(L, nh) (1 + (L))
#define SP_FEAT_MLP(L, nh) (1 + (L) + (L) * (nh))
#define SP_FEAT_ATTENT(L, nh) (1 + 2 * (L) + (L) * (nh))
/* sp_noise's arguments. */
SP_HIDDEN sp_status sp_check_noise(const char *fn, int64_t first, int64_t n, const float *out);

#ifdef __cplusplus
}
#endif
#endif
