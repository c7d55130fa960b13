/*
 * abi.cuh -- what the ABI files of the CUDA backend share: the handle structs, the entry macros and
 * a few helpers. The ABI is split by subject, mirroring native/src (docs/cuda.md has the mapping):
 *   backend.cu   library name, probe, device check, CUDA errors     (native/src/backend.c)
 *   model.cu     model / params / blocks / batches, forward, backward (native/src/model.c)
 *   sgld.cu      buffers, SGLD, sp_noise, accumulators, their kernels (native/src/sgld.c)
 * and native/src/abi_common.c (errors, layout, every argument check) is compiled into both.
 * Only sp_* symbols leave the library (exports.map; abi_common's are hidden), so the helpers here
 * stay internal.
 */
#ifndef SPECTRO_CUDA_ABI_CUH
#define SPECTRO_CUDA_ABI_CUH

#include "common.cuh"

/* Every entry: ENTER(name), the abi_common checks of its arguments, then SET_DEVICE (the first CUDA call). */
#define ENTER(name) sp_enter(name)
#define INVALID(...) sp_set_error(SP_ERR_INVALID, __VA_ARGS__)
#define SET_DEVICE(m) CK(cudaSetDevice((m)->device))
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
    float *w, *anchor, *grad;     /* anchor: w as loaded; NULL until ensure_anchor() makes it (spectro.h) */
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

/* tensor indices: abi_common.h's canonical layout, under short names */
#define T_EMBED SP_T_EMBED
#define T_L(l, k) SP_T_LAYER(l, k)
#define T_LNFW(L) SP_T_LNFW(L)
#define T_LNFB(L) SP_T_LNFB(L)
#define T_OUT(L) SP_T_OUT(L)

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

/* ------------------------------------------------------------------ shared helpers */
/* backend.cu: device `device` exists, has compute capability >= 8.0 and takes a context (it
 * becomes current); fills the capability and name when asked. */
sp_status check_device(int device, int *cc_major, int *cc_minor, char *name, size_t name_cap);
/* model.cu: copies the floats [offset, offset + n) of the device array dev (on m's device; the range
 * already checked) to host_out, or from host_in when host_out is NULL; synchronises m's stream. A
 * write into m->w refreshes its bf16 copy (bf16 mode). */
sp_status copy_range(sp_model *m, float *dev, int64_t offset, int64_t n, float *host_out, const float *host_in);
/* model.cu: uploads blocks and their element starts to the model's device scratch (skipped when unchanged) */
sp_status upload_blocks(sp_model *m, const sp_block *blocks, int nb);
/* model.cu: sp_enter(fn), m and b not NULL, b belongs to m, then m's device selected */
sp_status enter_model_batch(const char *fn, sp_model *m, sp_batch *b);
/* model.cu: makes the anchor w* (a device copy of w, on m's stream) if the model has none yet */
sp_status ensure_anchor(sp_model *m);

#endif
