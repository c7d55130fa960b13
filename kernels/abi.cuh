/*
 * abi.cuh -- what the three ABI files of the CUDA backend share: the handle structs, the tensor
 * indices of the canonical layout, the entry macros and a few helpers. The ABI is split by subject:
 *   spectro_cuda.cu      errors, library, layout, model / params / blocks / batches lifecycle
 *   forward_backward.cu  the forward / backward orchestration (sp_forward, sp_forward_backward,
 *                        sp_batch_cache_at)
 *   sgld_accum.cu        buffers, SGLD, sp_noise, accumulators
 * Only sp_* symbols leave the library (exports.map), so the helpers here stay internal.
 */
#ifndef SPECTRO_CUDA_ABI_CUH
#define SPECTRO_CUDA_ABI_CUH

#include "common.cuh"

#define ENTER(name) sp_set_fn(name)
#define INVALID(...) sp_set_error(SP_ERR_INVALID, __VA_ARGS__)
#define MODEL_ENTER(name, m) do { ENTER(name); if (!(m)) return INVALID("%s: model is NULL", name); \
    cudaError_t e0_ = cudaSetDevice((m)->device); if (e0_ != cudaSuccess) return sp_cuda_fail(e0_, "cudaSetDevice", __FILE__, __LINE__); } while (0)
#define SYNC(m) CK(cudaStreamSynchronize((m)->st))

/* ------------------------------------------------------------------ handles */
#define MAX_ALLOCS 64
struct sp_model {
    sp_config cfg;
    int device, use_bf16, Nmax, Rc;
    int L, d, nh, hd, f, V, rd;
    int64_t P;
    int64_t *off;                 /* [SP_TENSORS(L) + 1], last = P */
    cudaStream_t st;
    sp_gemm_ctx *gemm;
    void *allocs[MAX_ALLOCS];
    int nallocs;
    int64_t dev_bytes;
    float *w, *anchor, *grad;
    bf16 *wb;                     /* bf16 copy of w (bf16 mode) */
    float *cos_t, *sin_t;         /* [max_seq, rd/2] */
    /* activations saved for the backward, per layer */
    float *resid, *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *lse, *ln2, *ln2_mean, *ln2_rstd, *h;
    float *lnf, *lnf_mean, *lnf_rstd;
    /* scratch */
    float *dres, *dln1, *dln2, *datty, *dqkv, *dh, *gel, *Dbuf, *red, *logits;
    bf16 *dlog_b, *sA, *sB, *sR;
    int *flag;
    sp_block *d_blocks;
    int64_t *d_bstart;
    int blocks_cap;
    sp_block *h_last;             /* host copy of the blocks now in d_blocks (upload skipped when equal) */
    int n_last;
    char describe[800];
    struct sp_prof *prof;         /* per-op timing (profile.cu); NULL = off */
};

struct sp_batch {
    sp_model *m;
    int B, T;
    int32_t *tokens;
    float *losses;                /* [B*(T-1)] of the last forward */
    int has_losses;
    int cache_layer;              /* -1: none */
    float *cache;                 /* [B*T, d] */
};

struct sp_buffer { sp_model *m; int64_t n; float *d; };
struct sp_accum { sp_model *m; int64_t n; double *sum_l, *sum_phil; };

/* tensor indices */
#define T_EMBED 0
#define T_L(l, k) (1 + 12 * (l) + (k))
enum { K_LN1W = 0, K_LN1B, K_LN2W, K_LN2B, K_QKVW, K_QKVB, K_DENSEW, K_DENSEB, K_FCW, K_FCB, K_PROJW, K_PROJB };
#define T_LNFW(L) (1 + 12 * (L))
#define T_LNFB(L) (2 + 12 * (L))
#define T_OUT(L) (3 + 12 * (L))

/* layer of a tensor: -1 embed_in, L for the final LN and embed_out */
static inline int tensor_layer(int L, int i) {
    if (i == T_EMBED) return -1;
    if (i >= T_LNFW(L)) return L;
    return (i - 1) / 12;
}

/* ------------------------------------------------------------------ per-op profiling (profile.cu) */
/* PROF(m, name, flops, call) runs `call` (an sp_status expression) like TRY; while sp_cuda_profile
 * has profiling on, it also times it on the model's stream under `name` (a string literal) with
 * `flops` (0: none). PROF_CK does the same for a CUDA runtime call. */
typedef struct sp_prof sp_prof;
sp_status prof_begin(sp_model *m, const char *name, double flops);
sp_status prof_end(sp_model *m);
void prof_free(sp_model *m);
#define PROF(m, name, flops, call) do { if ((m)->prof) TRY(prof_begin((m), (name), (flops))); TRY(call); \
    if ((m)->prof) TRY(prof_end(m)); } while (0)
#define PROF_CK(m, name, call) do { if ((m)->prof) TRY(prof_begin((m), (name), 0)); CK(call); \
    if ((m)->prof) TRY(prof_end(m)); } while (0)

/* ------------------------------------------------------------------ shared helpers (spectro_cuda.cu) */
/* Copies the floats [offset, offset + n) of the device array dev (of `total` floats, on m's device)
 * to host_out, or from host_in when host_out is NULL, after checking the range and the host pointer;
 * synchronises m's stream. A write into m->w refreshes its bf16 copy (bf16 mode). */
sp_status copy_range(const char *fn, sp_model *m, float *dev, int64_t total, int64_t offset, int64_t n, float *host_out,
                     const float *host_in);
/* checks the blocks against the model; *total = their element count */
sp_status validate_blocks(const char *fn, const sp_model *m, const sp_block *blocks, int32_t nb, int64_t *total);
/* uploads blocks and their element starts to the model's device scratch (skipped when unchanged) */
sp_status upload_blocks(sp_model *m, const sp_block *blocks, int nb);
/* b is non-NULL and belongs to m */
sp_status check_batch(const char *fn, sp_model *m, sp_batch *b);

#endif
