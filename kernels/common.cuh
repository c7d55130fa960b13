/*
 * common.cuh -- shared definitions of the CUDA backend: error handling and the launchers of every
 * op (kernels live in ops.cu, attention*.cu, gemm.cu and, for SGLD / reset / accumulators, sgld.cu).
 */
#ifndef SPECTRO_CUDA_COMMON_CUH
#define SPECTRO_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <stdint.h>
#include <stddef.h>
#include "spectro.h"
#include "abi_common.h"   /* native/src/abi_common.h: errors, layout and argument checks of both backends */

typedef __nv_bfloat16 bf16;

/* ------------------------------------------------------------------ errors */
/* sp_set_error, sp_fail, sp_enter and sp_fn (the ABI call now running) come from abi_common.h.
 * Turns a CUDA error into SP_ERR_INTERNAL (SP_ERR_OOM for allocation failures) with text. */
sp_status sp_cuda_fail(cudaError_t e, const char *what, const char *file, int line);

#define CK(call) do { cudaError_t e_ = (call); \
    if (e_ != cudaSuccess) return sp_cuda_fail(e_, #call, __FILE__, __LINE__); } while (0)
/* after a kernel launch */
#define CK_LAUNCH(name) do { cudaError_t e_ = cudaGetLastError(); \
    if (e_ != cudaSuccess) return sp_cuda_fail(e_, name, __FILE__, __LINE__); } while (0)
#define TRY(x) do { sp_status s_ = (x); if (s_ != SP_OK) return s_; } while (0)

static inline unsigned int cdiv(int64_t a, int64_t b) { return (unsigned int)((a + b - 1) / b); }
/* blocks of a grid-stride launch over n items */
static inline int grid_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b > 65535LL * 32) b = 65535LL * 32;   /* grid-stride loops cover the rest */
    if (b < 1) b = 1;
    return (int)b;
}

/* ------------------------------------------------------------------ GEMM (gemm.cu) */
/* Column-major GEMM as in BLAS: D(m,n) = alpha op(A) op(B) + beta D (+ bias[m] per row when bias
 * != NULL). A and B are both fp32 (bf16 == 0) or both bf16 (bf16 == 1); D is fp32; accumulation in
 * fp32. transa/transb: 0 = N, 1 = T. */
typedef struct sp_gemm_ctx sp_gemm_ctx;
sp_status sp_gemm_ctx_create(int device, sp_gemm_ctx **out);
void sp_gemm_ctx_destroy(sp_gemm_ctx *g);
const char *sp_gemm_ctx_describe(const sp_gemm_ctx *g);     /* "cublaslt (path ...)" or "native (why)" */
int sp_gemm_ctx_uses_cublaslt(const sp_gemm_ctx *g);
sp_status sp_gemm(sp_gemm_ctx *g, cudaStream_t st, int transa, int transb, int m, int n, int k,
                  const void *A, int lda, const void *B, int ldb, float beta, float *D, int ldd,
                  const float *bias, int use_bf16);
/* The native kernels alone (used by the dev programs and by the fallback). */
sp_status sp_gemm_native(cudaStream_t st, int transa, int transb, int m, int n, int k,
                         const void *A, int lda, const void *B, int ldb, float beta, float *D, int ldd,
                         const float *bias, int use_bf16);

/* ------------------------------------------------------------------ ops (ops.cu) */
sp_status encoder_forward(cudaStream_t st, float *out, const int32_t *tokens, const float *wte, int N, int d);
/* dwte must be zeroed by the caller; atomic scatter-add. */
sp_status encoder_backward(cudaStream_t st, float *dwte, const int32_t *tokens, const float *dout, int N, int d);
/* out (fp32, may be NULL) and/or out_b (bf16, may be NULL); mean/rstd [N]. */
sp_status layernorm_forward(cudaStream_t st, float *out, bf16 *out_b, float *mean, float *rstd,
                            const float *x, const float *w, const float *b, int N, int d, float eps);
/* dx (+)= LN backward (accumulates into dx when dx != NULL); dw, db overwritten when != NULL.
 * scratch: >= 2 * d * 128 floats. */
sp_status layernorm_backward(cudaStream_t st, float *dx, float *dw, float *db, const float *dout,
                             const float *x, const float *mean, const float *rstd, const float *w,
                             int N, int d, float *scratch);
/* In place on qkv [N, 3d] (per head [q|k|v]); position t = n % T; tables [max_seq, rd/2]. */
sp_status rotary_forward(cudaStream_t st, float *qkv, const float *cos_t, const float *sin_t,
                         int N, int T, int nh, int hd, int rd);
sp_status rotary_backward(cudaStream_t st, float *dqkv, const float *cos_t, const float *sin_t,
                          int N, int T, int nh, int hd, int rd);
/* out_f (fp32) or out_b (bf16), exactly one non-NULL. */
sp_status gelu_forward(cudaStream_t st, float *out_f, bf16 *out_b, const float *x, int64_t n);
/* dinout <- dinout * gelu'(x), in place. */
sp_status gelu_backward(cudaStream_t st, float *dinout, const float *x, int64_t n);
/* out[c] = sum_r X[r, c] over N rows, overwritten. scratch >= C * 128 floats. */
sp_status colsum(cudaStream_t st, float *out, const float *X, int N, int C, float *scratch);
sp_status convert_bf16(cudaStream_t st, bf16 *out, const float *in, int64_t n);
/* Cross entropy on a chunk of logits [R, V] (rows row0 .. row0+R-1 of the batch):
 * losses[b*(T-1)+t] for rows with t < T-1 (target = tokens[row+1]); when dlog_f/dlog_b != NULL
 * also writes dlogits = (softmax - onehot) * dscale (rows t = T-1: zeros), fp32 in place or bf16. */
sp_status fused_classifier(cudaStream_t st, float *logits, float *dlog_f, bf16 *dlog_b, float *losses, float *ent,
                           int64_t ent_ld, const int32_t *tokens, int row0, int R, int V, int T, float dscale);
/* Activation features of sp_forward_features (spectro.h). Prediction i < B*(T-1) is row
 * n = (i / (T-1)) * T + i % (T-1); outputs go to out[i * ld (+ h)], a column of the [B*(T-1), F] rows.
 * fused_classifier above: ent (may be NULL) gets the entropy of softmax(logits) of each predicting row. */
sp_status feature_row_norms(cudaStream_t st, float *out, int64_t ld, const float *x, int B, int T, int d);  /* ||x[n]|| */
/* x[n] += mo[n] for every row, out[i * ld] = ||mo[n]|| for the predicting rows */
sp_status residual_add_norms(cudaStream_t st, float *x, const float *mo, float *out, int64_t ld, int B, int T, int d);
/* G [nh, hd, hd] = per head Wd[:, h]^T Wd[:, h]; Wd [d, d] attention.dense.weight (fp32) */
sp_status head_gram(cudaStream_t st, float *G, const float *wd, int d, int nh);
/* out[i * ld + h] = sqrt(a^T G[h] a), a = atty[n, h*hd..] (hd <= 256) */
sp_status head_norms(cudaStream_t st, float *out, int64_t ld, const float *atty, const float *G, int B, int T, int nh, int hd);
/* out[i * ld + h] = entropy of head h's causal softmax for query t, recomputed from qkv in fp32 */
sp_status attention_entropy(cudaStream_t st, float *out, int64_t ld, const float *qkv, int B, int T, int nh, int hd);
/* SGLD over strided blocks (sgld.cu). binfo: device [nb] blocks, bstart: device [nb+1]. */
typedef struct {
    float *w; const float *anchor; const float *grad; bf16 *wb; float *rms;
    const sp_block *blocks; const int64_t *bstart; int nb; int64_t total;
    sp_sgld_params p; int *nonfinite;
} sgld_args;
sp_status sgld_update(cudaStream_t st, const sgld_args *a);
sp_status accum_add(cudaStream_t st, double *sum_l, double *sum_phil, const float *l, int64_t n, double phi);
/* Copies blocks of w* into w (and the bf16 copy when wb != NULL). */
sp_status reset_blocks(cudaStream_t st, float *w, bf16 *wb, const float *anchor, const sp_block *blocks,
                       const int64_t *bstart, int nb, int64_t total);

/* ------------------------------------------------------------------ attention (attention.cu) */
/* qkv [B*T, 3d] (per head [q|k|v], rotary applied), out [B*T, d], lse [B, nh, T]. */
sp_status attention_forward(cudaStream_t st, float *out, float *lse, const float *qkv, int B, int T, int nh, int hd);
/* dqkv [B*T, 3d] overwritten; dout [B*T, d]; Dbuf scratch [B, nh, T]. */
sp_status attention_backward(cudaStream_t st, float *dqkv, const float *dout, const float *qkv,
                             const float *out, const float *lse, float *Dbuf, int B, int T, int nh, int hd);
int attention_max_head_dim(void);
/* D[b, h, t] = rowsum(dout * out) per head ([B, nh, T]), the first step of both backward paths. */
sp_status attention_backward_D(cudaStream_t st, float *D, const float *dout, const float *out, int B, int T, int nh, int hd);
/* The same two functions on the tensor cores (attention_tc.cu, bf16 operands, fp32 accumulation;
 * used in bf16 mode). They run the fp32 kernels above when hd % 4 != 0, a pointer is not 16-byte
 * aligned, or SPECTRO_ATTENTION=simt. */
sp_status attention_forward_tc(cudaStream_t st, float *out, float *lse, const float *qkv, int B, int T, int nh, int hd);
sp_status attention_backward_tc(cudaStream_t st, float *dqkv, const float *dout, const float *qkv,
                                const float *out, const float *lse, float *Dbuf, int B, int T, int nh, int hd);

#endif
