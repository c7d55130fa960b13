/*
 * gemm.c -- packed, register-tiled single-precision GEMM for x86-64-v3 (AVX2 + FMA).
 * See gemm.h for the contract. Structure (BLIS-like, simplified):
 *   tiles of C (mc x nc) are distributed over the pool's threads (claimed chunks; a thread keeps its
 *   packed A or B block when consecutive tiles share it and K fits one KC block);
 *   inside a tile: for each KC block of k: pack A (mc x kc) into MR-row panels and B (kc x nc)
 *   into NR-column panels (zero padded), then run the 6 x 16 micro-kernel over all panel pairs.
 * The micro-kernel keeps its 6 x 16 tile of C in 12 ymm accumulators; for the first k block it
 * starts from the bias (or 0), later blocks start from the partial sum stored in C.
 */
#include "gemm.h"
#include "pool.h"

#include <immintrin.h>
#include <string.h>

#define GEMM_MAX_THREADS 1024 /* = the model's thread limit (model.c MAX_THREADS) */

/* ---------------------------------------------------------------- packing */

/* in-place 8 x 8 transpose of r[0..8) */
static inline void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* Ap[p][k][r] = A(m0 + p*MR + r, k0 + k), zero for rows >= mc.
 * May write up to 2 floats past the last panel (the scratch layout leaves room). */
static void pack_a(int mc, int kc, const float *A, long rsa, long csa, int m0, int k0, int M, float *Ap) {
    for (int p = 0; p * GEMM_MR < mc; p++) {
        int rows = mc - p * GEMM_MR < GEMM_MR ? mc - p * GEMM_MR : GEMM_MR;
        float *dst = Ap + (long)p * GEMM_MR * kc;
        const float *src = A + (long)(m0 + p * GEMM_MR) * rsa + (long)k0 * csa;
        if (csa == 1) { /* rows contiguous along k: 8 x 8 transposes */
            int k = 0;
            for (; k + 8 <= kc; k += 8) {
                __m256 r[8];
                for (int i = 0; i < 8; i++)
                    r[i] = i < rows ? _mm256_loadu_ps(src + (long)i * rsa + k) : _mm256_setzero_ps();
                transpose8(r);
                for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + (k + j) * GEMM_MR, r[j]); /* spills 2, rewritten next */
            }
            for (; k < kc; k++)
                for (int r = 0; r < GEMM_MR; r++) dst[k * GEMM_MR + r] = r < rows ? src[(long)r * rsa + k] : 0.0f;
        } else if (rsa == 1 && rows == GEMM_MR && m0 + p * GEMM_MR + 8 <= M) {
            /* columns contiguous along m: copy 8 (6 used), next k overwrites the 2 extra */
            for (int k = 0; k < kc; k++) _mm256_storeu_ps(dst + k * GEMM_MR, _mm256_loadu_ps(src + (long)k * csa));
        } else {
            for (int k = 0; k < kc; k++) {
                const float *s = src + (long)k * csa;
                for (int r = 0; r < GEMM_MR; r++) dst[k * GEMM_MR + r] = r < rows ? s[(long)r * rsa] : 0.0f;
            }
        }
    }
}

/* Bp[p][k][c] = B(k0 + k, n0 + p*NR + c), zero for columns >= nc. */
static void pack_b(int nc, int kc, const float *B, long rsb, long csb, int n0, int k0, float *Bp) {
    for (int p = 0; p * GEMM_NR < nc; p++) {
        int cols = nc - p * GEMM_NR < GEMM_NR ? nc - p * GEMM_NR : GEMM_NR;
        float *dst = Bp + (long)p * GEMM_NR * kc;
        const float *src = B + (long)k0 * rsb + (long)(n0 + p * GEMM_NR) * csb;
        if (csb == 1) {
            if (cols == GEMM_NR) {
                for (int k = 0; k < kc; k++) {
                    const float *s = src + (long)k * rsb;
                    _mm256_storeu_ps(dst + k * GEMM_NR, _mm256_loadu_ps(s));
                    _mm256_storeu_ps(dst + k * GEMM_NR + 8, _mm256_loadu_ps(s + 8));
                }
            } else {
                for (int k = 0; k < kc; k++) {
                    const float *s = src + (long)k * rsb;
                    for (int c = 0; c < GEMM_NR; c++) dst[k * GEMM_NR + c] = c < cols ? s[c] : 0.0f;
                }
            }
        } else if (rsb == 1) { /* columns contiguous along k: 8 x 8 transposes */
            int k = 0;
            for (; k + 8 <= kc; k += 8) {
                for (int h = 0; h < 2; h++) {
                    __m256 r[8];
                    for (int i = 0; i < 8; i++) {
                        int c = h * 8 + i;
                        r[i] = c < cols ? _mm256_loadu_ps(src + (long)c * csb + k) : _mm256_setzero_ps();
                    }
                    transpose8(r);
                    for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + (k + j) * GEMM_NR + h * 8, r[j]);
                }
            }
            for (; k < kc; k++)
                for (int c = 0; c < GEMM_NR; c++) dst[k * GEMM_NR + c] = c < cols ? src[(long)c * csb + k] : 0.0f;
        } else {
            for (int c = 0; c < GEMM_NR; c++) {
                if (c < cols) {
                    const float *s = src + (long)c * csb;
                    for (int k = 0; k < kc; k++) dst[k * GEMM_NR + c] = s[(long)k * rsb];
                } else {
                    for (int k = 0; k < kc; k++) dst[k * GEMM_NR + c] = 0.0f;
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- micro-kernel */

/* c[6 x 16] (ldc) = init + sum_k a[k][0..6) * b[k][0..16); init = c (load) or bias16 (or 0). */
__attribute__((noinline)) static void kernel_6x16(int kc, const float *a, const float *b, float *c, long ldc,
                               int load_c, const float *bias16) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (load_c) {
        c00 = _mm256_loadu_ps(c + 0 * ldc); c01 = _mm256_loadu_ps(c + 0 * ldc + 8);
        c10 = _mm256_loadu_ps(c + 1 * ldc); c11 = _mm256_loadu_ps(c + 1 * ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * ldc); c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * ldc); c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * ldc); c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * ldc); c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
    } else if (bias16) {
        c00 = c10 = c20 = c30 = c40 = c50 = _mm256_loadu_ps(bias16);
        c01 = c11 = c21 = c31 = c41 = c51 = _mm256_loadu_ps(bias16 + 8);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = _mm256_loadu_ps(b + 8);
        __m256 a0 = _mm256_broadcast_ss(a + 0);
        __m256 a1 = _mm256_broadcast_ss(a + 1);
        c00 = _mm256_fmadd_ps(a0, b0, c00); c01 = _mm256_fmadd_ps(a0, b1, c01);
        c10 = _mm256_fmadd_ps(a1, b0, c10); c11 = _mm256_fmadd_ps(a1, b1, c11);
        __m256 a2 = _mm256_broadcast_ss(a + 2);
        __m256 a3 = _mm256_broadcast_ss(a + 3);
        c20 = _mm256_fmadd_ps(a2, b0, c20); c21 = _mm256_fmadd_ps(a2, b1, c21);
        c30 = _mm256_fmadd_ps(a3, b0, c30); c31 = _mm256_fmadd_ps(a3, b1, c31);
        __m256 a4 = _mm256_broadcast_ss(a + 4);
        __m256 a5 = _mm256_broadcast_ss(a + 5);
        c40 = _mm256_fmadd_ps(a4, b0, c40); c41 = _mm256_fmadd_ps(a4, b1, c41);
        c50 = _mm256_fmadd_ps(a5, b0, c50); c51 = _mm256_fmadd_ps(a5, b1, c51);
        a += GEMM_MR;
        b += GEMM_NR;
    }
    _mm256_storeu_ps(c + 0 * ldc, c00); _mm256_storeu_ps(c + 0 * ldc + 8, c01);
    _mm256_storeu_ps(c + 1 * ldc, c10); _mm256_storeu_ps(c + 1 * ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20); _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30); _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40); _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50); _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

/* Edge tile (rows < 6 or cols < 16): same arithmetic through a 6 x 16 temporary. */
static void kernel_edge(int kc, const float *a, const float *b, float *c, long ldc, int rows,
                        int cols, int load_c, const float *bias) {
    float t[GEMM_MR * GEMM_NR];
    float bias16[GEMM_NR];
    if (load_c) {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) t[r * GEMM_NR + j] = c[r * ldc + j];
    }
    if (bias) {
        for (int j = 0; j < GEMM_NR; j++) bias16[j] = j < cols ? bias[j] : 0.0f;
    }
    kernel_6x16(kc, a, b, t, GEMM_NR, load_c, bias ? bias16 : NULL);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) c[r * ldc + j] = t[r * GEMM_NR + j];
}

/* ---------------------------------------------------------------- driver */

/* per-thread memory of what its scratch currently holds (K <= KC only: one k block) */
typedef struct { int a_m0, a_mc, b_n0, b_nc; } pack_state;

static void gemm_tile(int m0, int mc, int n0, int nc, int M, int K,
                      const float *A, long rsa, long csa, const float *B, long rsb, long csb,
                      const float *Bpk, long npad, float *C, long ldc, int accumulate, const float *bias,
                      float *scratch, pack_state *ps) {
    float *Ap = scratch;
    float *Bscratch = scratch + (long)GEMM_MC * GEMM_KC + 16;
    for (int k0 = 0; k0 < K || k0 == 0; k0 += GEMM_KC) {
        int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        int load_c = accumulate || k0 > 0;
        if (kc > 0) {
            int single = K <= GEMM_KC;
            if (!single || ps->a_m0 != m0 || ps->a_mc != mc) {
                pack_a(mc, kc, A, rsa, csa, m0, k0, M, Ap);
                ps->a_m0 = single ? m0 : -1; ps->a_mc = mc;
            }
            if (!Bpk && (!single || ps->b_n0 != n0 || ps->b_nc != nc)) {
                pack_b(nc, kc, B, rsb, csb, n0, k0, Bscratch);
                ps->b_n0 = single ? n0 : -1; ps->b_nc = nc;
            }
        }
        /* prepacked: k block k0 starts at k0 * npad, panel n0 / NR of it at n0 * kc (gemm_pack_b) */
        const float *Bp = Bpk ? Bpk + (long)k0 * npad + (long)n0 * kc : Bscratch;
        for (int jp = 0; jp * GEMM_NR < nc; jp++) {
            int cols = nc - jp * GEMM_NR < GEMM_NR ? nc - jp * GEMM_NR : GEMM_NR;
            const float *bp = Bp + (long)jp * GEMM_NR * kc;
            const float *bias_j = bias ? bias + n0 + jp * GEMM_NR : NULL;
            for (int ip = 0; ip * GEMM_MR < mc; ip++) {
                int rows = mc - ip * GEMM_MR < GEMM_MR ? mc - ip * GEMM_MR : GEMM_MR;
                const float *ap = Ap + (long)ip * GEMM_MR * kc;
                float *c = C + (long)(m0 + ip * GEMM_MR) * ldc + n0 + jp * GEMM_NR;
                if (rows == GEMM_MR && cols == GEMM_NR)
                    kernel_6x16(kc, ap, bp, c, ldc, load_c, bias_j);
                else
                    kernel_edge(kc, ap, bp, c, ldc, rows, cols, load_c, bias_j);
            }
        }
        if (kc <= 0) break;
    }
}

typedef struct {
    int M, N, K;
    const float *A; long rsa, csa;
    const float *B; long rsb, csb;
    const float *Bpk;
    float *C; long ldc;
    int accumulate;
    const float *bias;
    float *scratch;
    int mt, nn, mpanels, npanels;
    pack_state *ps;  /* [threads] */
} gemm_args;

static void gemm_tiles_range(void *ctx, long t0, long t1, int tid) {
    const gemm_args *g = ctx;
    int M = g->M, N = g->N, mt = g->mt, nn = g->nn, mpanels = g->mpanels, npanels = g->npanels;
    float *ws = g->scratch + (long)tid * GEMM_SCRATCH_FLOATS;
    for (long t = t0; t < t1; t++) {
        int ti = (int)(t / nn), tj = (int)(t % nn);
        int p0 = (int)((long)ti * mpanels / mt), p1 = (int)((long)(ti + 1) * mpanels / mt);
        int q0 = (int)((long)tj * npanels / nn), q1 = (int)((long)(tj + 1) * npanels / nn);
        int m0 = p0 * GEMM_MR, m1 = p1 * GEMM_MR < M ? p1 * GEMM_MR : M;
        int n0 = q0 * GEMM_NR, n1 = q1 * GEMM_NR < N ? q1 * GEMM_NR : N;
        if (m1 <= m0 || n1 <= n0) continue;
        gemm_tile(m0, m1 - m0, n0, n1 - n0, M, g->K, g->A, g->rsa, g->csa, g->B, g->rsb, g->csb, g->Bpk,
                  gemm_npad(N), g->C, g->ldc, g->accumulate, g->bias, ws, &g->ps[tid]);
    }
}

static void gemm_impl(int M, int N, int K,
                      const float *A, long rsa, long csa,
                      const float *B, long rsb, long csb, const float *Bpk,
                      float *C, long ldc, int accumulate, const float *bias, float *scratch) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 && accumulate) return;
    int nt = sp_pool_threads();
    if (nt > GEMM_MAX_THREADS) nt = GEMM_MAX_THREADS;
    int mpanels = (M + GEMM_MR - 1) / GEMM_MR;
    int npanels = (N + GEMM_NR - 1) / GEMM_NR;
    int mt = (M + GEMM_MC - 1) / GEMM_MC;
    int nn = (N + GEMM_NC - 1) / GEMM_NC;
    /* balance: with few tiles, split M further so that the tile count is a multiple of nt.
     * (The tiling never changes any C element's summation order, see gemm.h.) */
    if (nt > 1 && (mt * nn) % nt != 0 && mt * nn < 8 * nt) {
        int best = mt;
        for (int cand = mt; cand <= mpanels && cand <= mt * nt * 2; cand++)
            if ((cand * nn) % nt == 0) { best = cand; break; }
        if (best == mt && nn == 1 && mpanels < nt) { /* tiny: split N instead */
            for (int cand = nn; cand <= npanels; cand++)
                if ((mt * cand) % nt == 0) { nn = cand; break; }
        }
        mt = best;
    }
    long tiles = (long)mt * nn;
    /* chunks of tiles claimed by whichever thread is running (pool.h); a C element's sum does not
     * depend on who computes its tile. Each thread remembers what its scratch holds. */
    pack_state ps[GEMM_MAX_THREADS];
    for (int t = 0; t < nt && t < GEMM_MAX_THREADS; t++) ps[t] = (pack_state){-1, -1, -1, -1};
    gemm_args g = {M, N, K, A, rsa, csa, B, rsb, csb, Bpk, C, ldc, accumulate, bias, scratch,
                   mt, nn, mpanels, npanels, ps};
    sp_parallel_for(tiles, 1, 2L * M * N * (K > 0 ? K : 1), gemm_tiles_range, &g);
}

void gemm(int M, int N, int K,
          const float *A, long rsa, long csa,
          const float *B, long rsb, long csb,
          float *C, long ldc, int accumulate, const float *bias, float *scratch) {
    gemm_impl(M, N, K, A, rsa, csa, B, rsb, csb, NULL, C, ldc, accumulate, bias, scratch);
}

void gemm_pb(int M, int N, int K, const float *A, long rsa, long csa, const float *Bp,
             float *C, long ldc, int accumulate, const float *bias, float *scratch) {
    gemm_impl(M, N, K, A, rsa, csa, NULL, 0, 0, Bp, C, ldc, accumulate, bias, scratch);
}

typedef struct { int N, k0, kc; const float *B; long rsb, csb, npad; float *Bp; } pack_args;

static void pack_panels_range(void *ctx, long p0, long p1, int tid) {
    const pack_args *a = ctx;
    for (long p = p0; p < p1; p++) {
        int cols = a->N - (int)p * GEMM_NR < GEMM_NR ? a->N - (int)p * GEMM_NR : GEMM_NR;
        pack_b(cols, a->kc, a->B, a->rsb, a->csb, (int)p * GEMM_NR, a->k0,
               a->Bp + (long)a->k0 * a->npad + p * GEMM_NR * a->kc);
    }
}

void gemm_pack_b(int K, int N, const float *B, long rsb, long csb, float *Bp) {
    long npad = gemm_npad(N);
    int npanels = (int)(npad / GEMM_NR);
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        pack_args a = {N, k0, kc, B, rsb, csb, npad, Bp};
        sp_parallel_for(npanels, 1, (long)npad * kc, pack_panels_range, &a);
    }
}
