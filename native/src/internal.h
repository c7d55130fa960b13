/*
 * internal.h -- structures and helpers shared by the CPU backend's translation units.
 */
#ifndef SPECTRO_INTERNAL_H
#define SPECTRO_INTERNAL_H

#include "../include/spectro.h"
#include "pool.h"

#include <stddef.h>
#include <stdint.h>

/* errors, layout and the argument checks shared with the CUDA backend (abi_common.c) */
#include "abi_common.h"

/* ---------------------------------------------------------------- allocation (backend.c) */
/* 64-byte aligned, zero-filled allocation of n floats-or-bytes; NULL on failure or overflow. */
SP_HIDDEN void *sp_alloc(size_t count, size_t size);
SP_HIDDEN void sp_free(void *p);

/* ---------------------------------------------------------------- handles */
/* Activations of one forward pass, sized for max_batch tokens N (row n = b*T + t). */
typedef struct {
    float *x;          /* [L+1, N, d] residual stream at the input of layer l (x[L]: final LN input) */
    float *ln1;        /* [L, N, d]   LN1 output */
    float *ln1_mean;   /* [L, N] */
    float *ln1_rstd;   /* [L, N] */
    float *ln2;        /* [L, N, d]   LN2 output */
    float *ln2_mean;   /* [L, N] */
    float *ln2_rstd;   /* [L, N] */
    float *qkv;        /* [L, N, 3d]  after rotary */
    float *lse;        /* [L, B, nh, T] attention log-sum-exp (N*nh per layer) */
    float *atty;       /* [L, N, d]   attention output before attention.dense */
    float *fch;        /* [L, N, f]   dense_h_to_4h output (pre-GELU) */
    float *fcg;        /* [L, N, f]   GELU output */
    float *lnf;        /* [N, d]      final LN output */
    float *lnf_mean;   /* [N] */
    float *lnf_rstd;   /* [N] */
    /* scratch (forward and backward) */
    float *ao;         /* [N, d]  attention.dense output / dy (attention output grad) */
    float *mo;         /* [N, d]  MLP output */
    float *dres;       /* [N, d]  gradient of the residual stream */
    float *dln1;       /* [N, d] */
    float *dln2;       /* [N, d] */
    float *dqkv;       /* [N, 3d] */
    float *dfc;        /* [N, f] */
    float *logits;     /* [min(CLS_CHUNK, N), V] classifier chunk */
    float *xc;         /* [CLS_CHUNK, d] */
    float *dxc;        /* [CLS_CHUNK, d] */
} sp_acts;

struct sp_model {
    sp_config c;
    int nthreads;       /* threads asked for (0 in the options: sp_default_threads()) */
    sp_pool *pool;      /* its threads (pool.h; fewer when the system refused some) */
    int max_batch;
    int64_t P;          /* parameter count */
    int64_t *off;       /* [SP_TENSORS(L) + 1] tensor offsets, off[ntensors] = P */
    int ntensors;
    float *w;           /* [P] weights */
    float *wstar;       /* [P] anchor w*, NULL until sp_anchor() makes it (then w* is w as loaded) */
    float *g;           /* [P] gradients */
    float *rope_cos;    /* [max_seq, rd/2] */
    float *rope_sin;    /* [max_seq, rd/2] */
    float *gemm_ws;     /* [nthreads, GEMM_SCRATCH_FLOATS] */
    float *att_ws;      /* [nthreads, 2 * max_seq] */
    long att_ws_stride;
    /* embed_out prepacked for the classifier's two GEMMs (gemm_pack_b), so that a forward does not
     * re-pack the [V, d] matrix per chunk and per thread; allocated at the first forward (NULL when
     * that fails: the classifier then packs as it goes), rebuilt when a write touches embed_out. */
    float *wout_pk_fwd;  /* B of logits = x Wout^T: K = d, N = V */
    float *wout_pk_dx;   /* B of dx = dlogits Wout: K = V, N = d */
    int wout_dirty;
    sp_acts a;
};

/* model.c: note a write to w[offset .. offset + n) (marks the packed embed_out stale if it overlaps) */
SP_HIDDEN void sp_note_write(sp_model *m, int64_t offset, int64_t n);

struct sp_batch {
    sp_model *m;        /* owner */
    int B, T;
    int32_t *tokens;    /* [B, T] */
    float *losses;      /* [B, T-1] losses of the last forward */
    int has_losses;
    float *cache;       /* [B, T, d] residual stream at the input of layer cache_layer */
    int cache_layer;    /* -1: none */
};

struct sp_buffer {
    sp_model *m;        /* owner */
    int64_t n;
    float *data;
};

struct sp_accum {
    sp_model *m;        /* owner */
    int64_t n;
    double *sum_l;
    double *sum_phil;
};

/* model.c: makes the anchor w* (a copy of w) if the model has none yet; SP_ERR_OOM names fn */
SP_HIDDEN sp_status sp_anchor(sp_model *m, const char *fn);

/* model.c helper used by sgld.c: makes the model's pool the one the calling thread's loops use
 * (each ABI call that computes) */
SP_HIDDEN void sp_use_threads(const sp_model *m);

#endif
