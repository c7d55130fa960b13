/*
 * ops.h -- the layer operations of the CPU backend, one function per op (llm.c style).
 * The CUDA backend (kernels/) mirrors these names and semantics function for function.
 *
 * Notation: N = B*T tokens (row n = b*T + t), d model width, nh heads, hd = d/nh head width,
 * f MLP width, V vocabulary, rd rotary dims. All buffers fp32 row-major; shapes in brackets.
 * "overwritten" outputs are fully written; "+=" outputs are accumulated into.
 * Every op parallelises over independent outputs (pool.h) and reduces in a fixed order, so
 * results are bit-identical for any thread count.
 */
#ifndef SPECTRO_OPS_H
#define SPECTRO_OPS_H

#include <stdint.h>

/* tokens per chunk of the fused classifier (multiple of GEMM_MR); logits scratch is [CHUNK, V] */
#define CLS_CHUNK 240

/* x[n, :] = wte[tokens[n], :]                      x [N,d], wte [V,d] */
void encoder_forward(float *x, const int32_t *tokens, const float *wte, int N, int d);
/* dwte = 0; dwte[tokens[n], :] += dx[n, :]          dwte [V,d] overwritten, dx [N,d] */
void encoder_backward(float *dwte, const float *dx, const int32_t *tokens, int N, int d, int V);

/* out = (x - mean) * rstd * w + b per row             out,x [N,d]; mean,rstd [N]; w,b [d] */
void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int N, int d, float eps);
/* dx += dLN/dx (dx may be NULL); dw, db overwritten (each may be NULL)
 * dout,x [N,d]; mean,rstd [N]; w [d] */
void layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, const float *mean, const float *rstd, int N, int d);

/* out = x W^T + b                                     out [N,OC], x [N,C], W [OC,C], b [OC] or NULL
 * scratch: gemm packing space (GEMM_SCRATCH_FLOATS per thread) */
void matmul_forward(float *out, const float *x, const float *w, const float *b, int N, int C,
                    int OC, float *scratch);
/* dx = dout W, dW = dout^T x, db = sum_n dout (all overwritten; each may be NULL)
 * dx [N,C], dW [OC,C], db [OC], dout [N,OC], x [N,C], W [OC,C] */
void matmul_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                     const float *w, int N, int C, int OC, float *scratch);

/* GPT-NeoX rotate-half rotary embedding, in place on the q and k parts of every head:
 * for i < rd/2, (x1, x2) = (v[i], v[i + rd/2]) -> (x1 c - x2 s, x2 c + x1 s), c/s at position t.
 * qkv [N, 3d] (per head [q_h | k_h | v_h]); cosb, sinb [max_seq, rd/2] */
void rotary_forward(float *qkv, const float *cosb, const float *sinb, int B, int T, int nh, int hd,
                    int rd);
/* the transpose (inverse rotation) applied in place to dq, dk of dqkv [N, 3d] */
void rotary_backward(float *dqkv, const float *cosb, const float *sinb, int B, int T, int nh,
                     int hd, int rd);

/* causal attention per (b, head): out_t = sum_{j<=t} softmax_j(q_t.k_j / sqrt(hd)) v_j
 * out [N,d] (head h in columns h*hd..), lse [B,nh,T] (log-sum-exp of the scaled scores, kept for
 * the backward), ent [B,nh,T] or NULL (entropy in nats of each softmax, fused: the same pass; the
 * CUDA backend forms it in a separate kernel, attention_entropy), qkv [N,3d] (after rotary);
 * scratch: attention_scratch_floats(T, hd) per thread */
void attention_forward(float *out, float *lse, float *ent, const float *qkv, int B, int T, int nh, int hd,
                       float *scratch, long scratch_stride);
/* dqkv overwritten [N,3d] from dout [N,d]; probabilities are recomputed from qkv and lse.
 * (P and dS [T, T] are kept per (b, head), then dK, dV are formed column by column) */
long attention_scratch_floats(int T, int hd);
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *lse, int B,
                        int T, int nh, int hd, float *scratch, long scratch_stride);

/* exact (erf) GELU: out = 0.5 x (1 + erf(x / sqrt 2)); erf vectorised (A&S 7.1.26, |err| <= 1.5e-7)
 * out, x [n] */
void gelu_forward(float *out, const float *x, long n);
/* din = dout * GELU'(x) (din may alias dout)              din, x, dout [n] */
void gelu_backward(float *din, const float *x, const float *dout, long n);

/* parallel residual: out = (x + a) + m                    out, x, a, m [n]
 * (its backward is the identity: the same dout feeds the skip and both branches) */
void residual_forward(float *out, const float *x, const float *a, const float *m, long n);

/* Fused classifier + cross-entropy over the B*(T-1) predicting positions (t < T-1):
 *   logits = x[n] Wout^T, loss[b*(T-1)+t] = logsumexp(logits) - logits[tokens[b, t+1]]
 * formed CLS_CHUNK tokens at a time (logits scratch [CLS_CHUNK, V], never [N, V]).
 * Backward (when dx or dwout is non-NULL): dlogits = (softmax - onehot) / (B*(T-1)), then
 *   dx = dlogits Wout (overwritten, rows t = T-1 zero)  dwout = dlogits^T x (overwritten)
 * x [N,d] (final LayerNorm output), wout [V,d], tokens [B,T], losses [B*(T-1)], ent [B*(T-1)] or NULL
 * (entropy in nats of softmax(logits), the same pass; only without backward)
 * xc, dxc: [CLS_CHUNK, d] scratch */
void fused_classifier(float *losses, float *ent, float *dx, float *dwout, const float *x, const float *wout,
                      const float *wout_pk_fwd, const float *wout_pk_dx,
                      const int32_t *tokens, int B, int T, int d, int V, float *logits, float *xc,
                      float *dxc, float *scratch);

/* ---- activation features (sp_forward_features; predicting positions i < B*(T-1), row
 * n = (i / (T-1)) * T + i % (T-1)) */
/* out[i * ld] = ||x[n, :]||_2                                  x [N,d] */
void feature_row_norms(float *out, long ld, const float *x, int B, int T, int d);
/* G[h] = Wd[:, h*hd:(h+1)*hd]^T Wd[:, h*hd:(h+1)*hd]            G [nh, hd, hd], Wd [d, d] */
void head_gram(float *G, const float *wd, int d, int nh, float *scratch);
/* out[i * ld + h] = sqrt(a^T G[h] a), a = atty[n, h*hd:(h+1)*hd]  atty [N,d] */
void head_norms(float *out, long ld, const float *atty, const float *G, int B, int T, int nh, int hd);
/* out[i * ld + h] = ent[(b*nh + h)*T + t]                     ent [B,nh,T] (attention_forward's) */
void head_scatter(float *out, long ld, const float *ent, int B, int T, int nh);

/* vectorised helpers shared by the ops (exp within ~2 ulp of expf) */
double sum_exp_shifted(float *row, int n, float shift, int store); /* sum exp(row - shift), store: row <- exp */
float vmax(const float *x, int n);

#endif
