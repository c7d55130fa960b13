/*
 * spectro.h -- the whole native ABI of spectro.
 *
 * Two backends implement every function declared here, with the same symbol names:
 *   libspectro_cpu.so   native/src/*.c      (C, pthreads, fp32; the reference)
 *   libspectro_cuda.so  kernels/*.cu        (CUDA; bf16 or fp32 compute, fp32 accumulation)
 * Java loads exactly one of them per model through the FFM API (io.spectro.nativeabi).
 *
 * Architecture, the CPU <-> CUDA file mapping and the sampler bounds: ../../docs/architecture.md.
 * Both backends run the same argument checks (native/src/abi_common.c, compiled into both) before
 * touching backend memory, so they refuse the same arguments with the same message.
 *
 * Rules every function follows:
 *   - returns sp_status (SP_OK == 0) unless documented otherwise;
 *   - on failure, sp_last_error() returns a thread-local, NUL-terminated message that names the
 *     function and what was wrong ("sp_forward: token 70000 at [1, 3] outside vocab 50304");
 *   - never calls exit(), abort() or assert(); allocation failure is SP_ERR_OOM;
 *   - pointers documented "host" are ordinary CPU memory owned by the caller; handles own their
 *     backend memory (device memory on CUDA) and are released by their *_destroy function.
 *
 * Model (GPT-NeoX / Pythia, parallel residual), see ../../docs/architecture.md:
 *   x0 = embed_in[tokens]                                   [B, T, d]
 *   x_{l+1} = x_l + attn_l(LN1_l(x_l)) + mlp_l(LN2_l(x_l))  l = 0 .. L-1
 *   logits = LN_f(x_L) @ embed_out^T                        never materialised for all tokens
 *   loss[b, t] = -log softmax(logits[b, t])[tokens[b, t+1]] t = 0 .. T-2
 *
 * Parameters live in ONE flat float32 buffer of sp_param_count() floats. Tensors are stored
 * contiguously, row-major, in this canonical order (HF names, shapes [rows, cols]):
 *   index 0                 gpt_neox.embed_in.weight                          [V, d]
 *   for layer l: base = 1 + 12*l, prefix gpt_neox.layers.{l}.
 *     base+0  input_layernorm.weight [d]      base+1  input_layernorm.bias [d]
 *     base+2  post_attention_layernorm.weight [d]  base+3  post_attention_layernorm.bias [d]
 *     base+4  attention.query_key_value.weight [3d, d]   base+5  attention.query_key_value.bias [3d]
 *     base+6  attention.dense.weight [d, d]              base+7  attention.dense.bias [d]
 *     base+8  mlp.dense_h_to_4h.weight [f, d]            base+9  mlp.dense_h_to_4h.bias [f]
 *     base+10 mlp.dense_4h_to_h.weight [d, f]            base+11 mlp.dense_4h_to_h.bias [d]
 *   index 1 + 12*L          gpt_neox.final_layer_norm.weight [d]
 *   index 2 + 12*L          gpt_neox.final_layer_norm.bias [d]
 *   index 3 + 12*L          embed_out.weight [V, d]
 *   => SP_TENSORS(L) = 4 + 12*L tensors.
 * query_key_value rows are laid out per head: head h owns rows h*3*hd .. (h+1)*3*hd, as
 * [q_h (hd rows) | k_h (hd rows) | v_h (hd rows)], hd = d / n_heads.
 */
#ifndef SPECTRO_H
#define SPECTRO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SP_ABI_VERSION 2   /* 2: sp_feature_count, sp_forward_features, sp_feature_name */
#define SP_TENSORS(n_layers) (4 + 12 * (n_layers))

typedef enum {
    SP_OK = 0,
    SP_ERR_INVALID = 1,      /* bad argument, shape, token id, NULL handle */
    SP_ERR_OOM = 2,          /* host or device allocation failed */
    SP_ERR_UNAVAILABLE = 3,  /* backend cannot run here (no GPU, no driver, ...) */
    SP_ERR_NUMERIC = 4,      /* NaN or inf produced (loss, gradient, parameter) */
    SP_ERR_INTERNAL = 5      /* CUDA/runtime error or a broken invariant */
} sp_status;

typedef struct {
    int32_t vocab_size;    /* V: rows of embed_in / embed_out (50304 for Pythia <= 2.8B) */
    int32_t d_model;       /* d */
    int32_t n_layers;      /* L */
    int32_t n_heads;       /* nh; d % nh == 0, hd = d / nh */
    int32_t d_ff;          /* f (intermediate_size, 4d for Pythia) */
    int32_t rotary_dims;   /* rotary_pct * hd, even, <= hd */
    int32_t max_seq;       /* max_position_embeddings; T must be <= max_seq */
    float rotary_base;     /* rotary_emb_base (10000) */
    float ln_eps;          /* layer_norm_eps (1e-5) */
} sp_config;

typedef enum { SP_PRECISION_FP32 = 0, SP_PRECISION_BF16 = 1 } sp_precision;

typedef struct {
    int32_t n_threads;     /* 0 .. 1024. CPU: threads (0 = library default: allowed CPUs, cgroup quota). CUDA: unused */
    int32_t device;        /* >= 0. CUDA device ordinal. CPU: unused */
    int32_t precision;     /* sp_precision. CPU: only FP32 (BF16 is SP_ERR_INVALID) */
    int32_t max_batch;     /* 2 .. 2^24: largest B*T the model will see (activation memory is sized by it) */
} sp_options;

/* A strided 2-D block of the flat parameter buffer: element (r, c) is at
 * offset + r * stride + c, for 0 <= r < rows, 0 <= c < cols. A component (method.md section 1)
 * is a list of blocks; its elements are numbered block by block, row-major inside a block
 * (this numbering keys the SGLD noise and the RMSProp state). */
typedef struct {
    int64_t offset;
    int64_t rows;
    int64_t cols;
    int64_t stride;
} sp_block;

/* Element types of a checkpoint tensor handed to sp_model_load_tensor (safetensors "F32", "F16",
 * "BF16"; raw little-endian bytes). */
typedef enum { SP_DTYPE_F32 = 0, SP_DTYPE_F16 = 1, SP_DTYPE_BF16 = 2 } sp_dtype;

typedef struct sp_model sp_model;   /* weights w (mutable), anchor w* (w as loaded), grads */
typedef struct sp_batch sp_batch;   /* token ids [B, T] resident in backend memory + optional cache */
typedef struct sp_buffer sp_buffer; /* a float buffer in backend memory (RMSProp state, ...) */
typedef struct sp_accum sp_accum;   /* streaming sums over draws for the chi estimator */

/* ---------------------------------------------------------------- library */
int32_t sp_abi_version(void);               /* returns SP_ABI_VERSION */
const char *sp_backend_name(void);          /* "cpu" or "cuda" */
const char *sp_last_error(void);            /* thread-local; "" when none */
/* SP_OK when the backend can run on this machine; otherwise SP_ERR_UNAVAILABLE and
 * sp_last_error() says why ("no CUDA device: cudaGetDeviceCount returned 35 ..."). */
sp_status sp_backend_probe(void);

/* ---------------------------------------------------------------- layout */
sp_status sp_config_validate(const sp_config *cfg);
int64_t sp_param_count(const sp_config *cfg);    /* -1 on invalid config */
/* offsets[i], i < SP_TENSORS(L): float offset of canonical tensor i in the flat buffer; n must be
 * SP_TENSORS(L). */
sp_status sp_param_offsets(const sp_config *cfg, int64_t *offsets, int32_t n);

/* ---------------------------------------------------------------- model */
sp_status sp_model_create(const sp_config *cfg, const sp_options *opt, sp_model **out);
sp_status sp_model_destroy(sp_model *m);    /* NULL is fine */
/* The anchor w* is w as the load calls below left it. Backends hold it as a second copy only once
 * something needs it apart from w: it is made (a copy of w) at the first sp_sgld_update or
 * sp_params_reset, or just before the first sp_params_write changes w, whichever comes first. A model
 * used for forward passes and gradients therefore holds one copy of the weights. */
/* Copies n floats from host into both w and the anchor w* (n must be sp_param_count). */
sp_status sp_model_load(sp_model *m, const float *host_params, int64_t n);
/* The load path of a checkpoint, one tensor (or any range) at a time: converts n elements of
 * `dtype` (sp_dtype; raw little-endian bytes at `src`, host memory such as a memory-mapped
 * safetensors file, any alignment) to fp32 and writes them into w[offset .. offset + n) and the
 * anchor w*, exactly as sp_model_load would have. No full fp32 copy is made on the host: the CPU
 * converts straight into w, CUDA converts bounded chunks on the host and uploads them. Conversion
 * is exact, so a checkpoint loaded this way equals one converted to fp32 and passed to sp_model_load. */
sp_status sp_model_load_tensor(sp_model *m, int64_t offset, int64_t n, int32_t dtype, const void *src);
/* Read/write a range [offset, offset+n) of w (host <-> backend). */
sp_status sp_params_read(sp_model *m, int64_t offset, int64_t n, float *host_out);
sp_status sp_params_write(sp_model *m, int64_t offset, int64_t n, const float *host_in);
/* w[blocks] <- w*[blocks]  (end of a chain: restore the anchor). */
sp_status sp_params_reset(sp_model *m, const sp_block *blocks, int32_t n_blocks);
/* Read a range of the gradient buffer (same layout as the parameters). */
sp_status sp_grads_read(sp_model *m, int64_t offset, int64_t n, float *host_out);

/* ---------------------------------------------------------------- batches */
/* Uploads tokens [B, T] (host, int32). Checks 0 <= id < V, T >= 2, T <= max_seq, B*T <= max_batch. */
sp_status sp_batch_create(sp_model *m, const int32_t *host_tokens, int32_t B, int32_t T, sp_batch **out);
sp_status sp_batch_destroy(sp_batch *b);    /* NULL is fine */
/* Restriction-aware fast path. Computes, with the CURRENT weights, the residual stream at the
 * input of layer `layer` (0 <= layer <= L; layer == L caches the input of the final LayerNorm)
 * and keeps it in the batch ([B, T, d] floats). Later forwards on this batch start at that layer.
 * The caller guarantees that no weight below `layer` (embed_in, layers < layer) changes while the
 * cache is in use. layer < 0 drops the cache. */
sp_status sp_batch_cache_at(sp_model *m, sp_batch *b, int32_t layer);
int64_t sp_batch_cache_bytes(const sp_config *cfg, int32_t B, int32_t T); /* bytes one cache takes */
/* Bytes the model's backend could still allocate for batches and caches now: CPU, the kernel's
 * MemAvailable (/proc/meminfo; available physical pages where there is none); CUDA, the free memory
 * of the model's device (cudaMemGetInfo). Callers size the fast path's cache budget from it. */
sp_status sp_memory_available(sp_model *m, int64_t *bytes_out);

/* ---------------------------------------------------------------- forward / backward */
/* Per-token losses, losses_out[b*(T-1) + t] = -log p(tokens[b,t+1] | tokens[b,<=t]) (host,
 * [B, T-1], may be NULL); mean_out = their mean (may be NULL). The classifier is fused with the
 * cross-entropy: logits are formed a chunk of rows at a time, never [B*T, V] at once. */
sp_status sp_forward(sp_model *m, sp_batch *b, float *losses_out, double *mean_out);

/* ---------------------------------------------------------------- activation features */
/* Floats per prediction of sp_forward_features: F = 1 + 2 L + 2 L nh (-1 on an invalid config). */
int64_t sp_feature_count(const sp_config *cfg);

/* One forward pass that also returns, for every prediction position (b, t < T-1), a row of F =
 * sp_feature_count floats: feat_out[i * F + k], i = b*(T-1) + t (the indexing of sp_forward's losses),
 * n_feat_total must be B*(T-1)*F. Column k of the row, with L layers and nh heads:
 *   k = 0                              entropy (nats) of the next-token distribution softmax(logits[b,t]),
 *                                      from the fused classifier (logits never held for all rows)
 *   k = 1 + l                          ||x_{l+1}[b,t]||_2, the residual stream after layer l (the sum
 *                                      x_l + attn_l + mlp_l, before any LayerNorm; l = L-1 is the input
 *                                      of the final LayerNorm)                              l < L
 *   k = 1 + L + l*nh + h               ||Wd_l[:, h*hd:(h+1)*hd] a_{l,h}[b,t]||_2: head h's attention
 *                                      output (softmax-weighted values, [hd]) through its column slice
 *                                      of attention.dense.weight, bias excluded (the head's own
 *                                      contribution to the residual; the dense bias belongs to no head)
 *   k = 1 + L + L*nh + l               ||mlp_l(LN2_l(x_l))[b,t]||_2, the MLP branch's output as added to
 *                                      the residual, dense_4h_to_h bias included
 *   k = 1 + 2L + L*nh + l*nh + h       entropy (nats) of head h's attention distribution of query t,
 *                                      softmax_j<=t(q_t.k_j / sqrt(hd)) (0 at t = 0)
 * Every entry is a deterministic function of w and the tokens (bit-identical for any thread count
 * on the CPU). The forward always runs from the embedding: the batch's cache is not used (every
 * layer's activations are needed). losses_out (may be NULL) as in sp_forward, and kept in the batch
 * like sp_forward's (sp_accum_add): bit-identical to sp_forward's on the CPU; on CUDA the MLP output
 * is formed in scratch and then added to the residual (to take its norm), where sp_forward lets the
 * GEMM add it, so the last bit can differ there.
 * Head norms are computed as sqrt(a^T G_h a) with G_h = Wd_h^T Wd_h formed per call ([nh, hd, hd]),
 * so a head costs O(hd^2) per token instead of O(d hd). SP_ERR_NUMERIC as sp_forward (a loss not
 * finite; feat_out is then still written). */
sp_status sp_forward_features(sp_model *m, sp_batch *b, float *feat_out, int64_t n_feat_total, float *losses_out);
/* The name of feature column k < F, NUL-terminated into buf (cap bytes, >= 32 is always enough):
 * "entropy", "resid.l{l}", "head.l{l}.h{h}", "mlp.l{l}", "attent.l{l}.h{h}" for the columns above. */
sp_status sp_feature_name(const sp_config *cfg, int64_t k, char *buf, int32_t cap);

/* Which gradients sp_forward_backward forms. */
typedef struct {
    /* Backward stops at the input of this layer: layers < stop_layer and embed_in get no
     * gradient (0 = the whole model). The batch's cache is used only when its layer is <= stop_layer
     * (nothing below the cache can receive gradient); otherwise the forward runs from the embedding. */
    int32_t stop_layer;
    /* Only tensors touched by these blocks get weight gradients (NULL / 0 = every tensor at or
     * above stop_layer, embed_in included when stop_layer == 0). Entries of touched tensors
     * outside the blocks may be written too; untouched tensors keep whatever they held. */
    const sp_block *blocks;
    int32_t n_blocks;
} sp_grad_request;

/* Forward, then gradient of the MEAN per-token loss over all B*(T-1) predictions into the
 * model's gradient buffer (overwritten, not accumulated). losses_out / mean_out as in sp_forward. */
sp_status sp_forward_backward(sp_model *m, sp_batch *b, const sp_grad_request *req,
                              float *losses_out, double *mean_out);

/* ---------------------------------------------------------------- buffers */
sp_status sp_buffer_create(sp_model *m, int64_t n, sp_buffer **out);   /* zero-filled */
sp_status sp_buffer_destroy(sp_buffer *buf);
sp_status sp_buffer_read(sp_buffer *buf, int64_t offset, int64_t n, float *host_out);
sp_status sp_buffer_write(sp_buffer *buf, int64_t offset, int64_t n, const float *host_in);

/* ---------------------------------------------------------------- SGLD */
/* One fused update over the elements of `blocks` (numbered as described at sp_block), using the
 * gradient buffer g (from the last sp_forward_backward) and the anchor w*:
 *   rmsprop:  V <- alpha V + (1 - alpha) g^2 ;  G = 1 / (sqrt(V) + rms_eps)     (V in `rms`)
 *   plain:    G = 1
 *   w <- w - (lr/2) G (nbeta g + gamma (w - w*)) + sqrt(lr) sqrt(G) xi * noise_scale
 * xi ~ N(0,1) from sp_noise(seed, stream, step, element index) below; noise_scale is 1 for SGLD
 * and 0 for the noise-free (gradient descent) test mode. `rms` must hold the component's element
 * count (may be NULL when rmsprop == 0) and belong to m. Returns SP_ERR_NUMERIC if any updated w is
 * not finite. Bounds (every field, checked before the model handle; docs/architecture.md "Sampler
 * bounds", the same numbers as the Java side): lr finite > 0, nbeta finite >= 0, gamma finite >= 0,
 * rmsprop 0 or 1, alpha in [0, 1), rms_eps finite > 0, noise_scale finite >= 0. */
typedef struct {
    float lr;            /* epsilon */
    float nbeta;         /* n * beta */
    float gamma;         /* localization strength */
    int32_t rmsprop;     /* 0 plain SGLD, 1 RMSProp-SGLD */
    float alpha;         /* RMSProp decay (0.99) */
    float rms_eps;       /* RMSProp additive constant (0.1) */
    float noise_scale;   /* 1 = SGLD, 0 = noise-free */
    uint32_t stream;     /* (component index << 12) | chain : independent noise per chain */
    uint64_t seed;
    uint64_t step;       /* global step counter of this chain (burn-in included) */
} sp_sgld_params;

sp_status sp_sgld_update(sp_model *m, const sp_block *blocks, int32_t n_blocks, sp_buffer *rms,
                         const sp_sgld_params *p);

/* The noise generator, exposed so that tests and other backends can reproduce it exactly.
 * Philox4x32-10 with key k = (seed & 0xffffffff, seed >> 32) and counter
 *   c = (element / 4 [low 32 bits], stream, step & 0xffffffff, step >> 32).
 * The four outputs x0..x3 give uniforms u_i = ((x_i >> 8) + 0.5) * 2^-24 in (0, 1), and two
 * Box-Muller pairs computed in double precision:
 *   n0 = sqrt(-2 ln u0) cos(2 pi u1), n1 = sqrt(-2 ln u0) sin(2 pi u1), n2, n3 likewise from u2, u3.
 * Element e takes n_{e % 4}, rounded to float. Writes out[i] for elements first .. first+n-1. */
sp_status sp_noise(uint64_t seed, uint32_t stream, uint64_t step, int64_t first, int64_t n,
                   float *host_out);

/* ---------------------------------------------------------------- estimator accumulation */
/* Streaming sums over draws for n probe tokens (backend memory, double precision):
 *   sum_l[t]   += l[t]          sum_phil[t] += phi * l[t]
 * where l = the per-token losses of the LAST sp_forward on `b` (b must hold n = B*(T-1) losses). */
sp_status sp_accum_create(sp_model *m, int64_t n, sp_accum **out);
sp_status sp_accum_destroy(sp_accum *a);
sp_status sp_accum_add(sp_accum *a, sp_model *m, sp_batch *b, double phi);
sp_status sp_accum_read(sp_accum *a, double *host_sum_l, double *host_sum_phil);
sp_status sp_accum_reset(sp_accum *a);

#ifdef __cplusplus
}
#endif
#endif /* SPECTRO_H */
