/*
 * gemm.h -- the one matrix product every matmul of the CPU backend goes through.
 *
 *   C[m, n] = (accumulate ? C[m, n] : (bias ? bias[n] : 0)) + sum_k A(m, k) * B(k, n)
 *   A(m, k) = A[m * rsa + k * csa]      B(k, n) = B[k * rsb + n * csb]      C row-major, ldc
 *
 * Packed, register-tiled (6 x 16 AVX2/FMA micro-kernel), cache-blocked (KC along k), OpenMP over
 * tiles of C. Determinism: every C element is summed in the same order (k ascending, partial sums
 * stored at KC boundaries) whatever the tiling or the number of threads, so results are
 * bit-identical for any thread count.
 *
 * scratch: GEMM_SCRATCH_FLOATS floats per thread of the current pool (sp_pool_threads() slots), 64-byte
 * aligned; the model owns it (no allocation inside the product).
 */
#ifndef SPECTRO_GEMM_H
#define SPECTRO_GEMM_H

#define GEMM_MR 6
#define GEMM_NR 16
#define GEMM_KC 256
#define GEMM_MC 240   /* multiple of GEMM_MR; A block MC x KC = 240 KiB, lives in L2 */
#define GEMM_NC 256   /* multiple of GEMM_NR */
#define GEMM_SCRATCH_FLOATS ((long)GEMM_MC * GEMM_KC + 16 + (long)GEMM_KC * GEMM_NC + 64)

void gemm(int M, int N, int K,
          const float *A, long rsa, long csa,
          const float *B, long rsb, long csb,
          float *C, long ldc, int accumulate, const float *bias, float *scratch);

/* B prepacked once for many products (a weight that stays fixed): gemm_pack_b writes B's K x N
 * panels, GEMM_KC rows of k at a time, into Bp (gemm_packed_floats(K, N) floats, 64-byte aligned);
 * gemm_pb then computes exactly what gemm computes with that B, bit for bit, without packing it. */
static inline long gemm_npad(int N) { return ((long)N + GEMM_NR - 1) / GEMM_NR * GEMM_NR; }
static inline long gemm_packed_floats(int K, int N) { return (long)K * gemm_npad(N); }
void gemm_pack_b(int K, int N, const float *B, long rsb, long csb, float *Bp);
void gemm_pb(int M, int N, int K, const float *A, long rsa, long csa, const float *Bp,
             float *C, long ldc, int accumulate, const float *bias, float *scratch);

#endif
