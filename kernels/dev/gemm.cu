/*
 * dev/gemm.cu -- the GEMM paths of gemm.cu: native WMMA bf16 and SIMT fp32 kernels (and cuBLASLt when
 * found) validated against gemm_cpu on odd shapes and all transpositions, then TFLOP/s at the
 * Pythia-1.4B MLP shape (N 8192 tokens, 2048 -> 8192).
 */
#include "common_dev.cuh"

static void gemm_cpu(int ta, int tb, int m, int n, int k, const float *A, int lda, const float *B, int ldb, float beta,
                     float *D, int ldd, const float *bias) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += (double)(ta ? A[(size_t)i * lda + p] : A[(size_t)p * lda + i]) *
                     (tb ? B[(size_t)p * ldb + j] : B[(size_t)j * ldb + p]);
            float v = (float)s + beta * D[(size_t)j * ldd + i];
            if (bias) v += bias[i];
            D[(size_t)j * ldd + i] = v;
        }
}

static bf16 *to_bf16(const float *d, size_t n) {
    bf16 *b;
    DCK(cudaMalloc(&b, n * 2));
    SCK(convert_bf16(0, b, d, n));
    return b;
}

static void round_bf16(float *h, size_t n) {       /* host copy of the operand as bf16 sees it */
    for (size_t i = 0; i < n; i++) h[i] = __bfloat162float(__float2bfloat16_rn(h[i]));
}

int main(void) {
    sp_gemm_ctx *lt = NULL;
    sp_enter("dev/gemm");
    SCK(sp_gemm_ctx_create(0, &lt));
    printf("gemm context: %s\n", sp_gemm_ctx_describe(lt));
    int shapes[3][3] = {{37, 53, 29}, {128, 64, 200}, {100, 130, 70}};
    for (int s = 0; s < 3; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bf = 0; bf < 2; bf++)
                    for (int path = 0; path < (sp_gemm_ctx_uses_cublaslt(lt) ? 2 : 1); path++) {
                        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                        int lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 1, ldd = m + 2;
                        size_t na = (size_t)lda * (ta ? m : k), nb = (size_t)ldb * (tb ? k : n), nd = (size_t)ldd * n;
                        float *hA = dev_host_rand(na, 1), *hB = dev_host_rand(nb, 1), *hD = dev_host_rand(nd, 1),
                              *hb = dev_host_rand(m, 1);
                        float *A = dev_upload(hA, na), *B = dev_upload(hB, nb), *D = dev_upload(hD, nd), *bias = dev_upload(hb, m);
                        const void *a = A, *b = B;
                        if (bf) { a = to_bf16(A, na); b = to_bf16(B, nb); round_bf16(hA, na); round_bf16(hB, nb); }
                        if (path == 0) SCK(sp_gemm_native(0, ta, tb, m, n, k, a, lda, b, ldb, 1.0f, D, ldd, bias, bf));
                        else SCK(sp_gemm(lt, 0, ta, tb, m, n, k, a, lda, b, ldb, 1.0f, D, ldd, bias, bf));
                        DCK(cudaDeviceSynchronize());
                        gemm_cpu(ta, tb, m, n, k, hA, lda, hB, ldb, 1.0f, hD, ldd, hb);
                        char what[96];
                        snprintf(what, sizeof what, "%s %s %dx%dx%d t%d%d", path ? "cublaslt" : "native", bf ? "bf16" : "fp32", m, n, k, ta, tb);
                        dev_validate(what, D, hD, nd, 1e-5);
                        cudaFree(A); cudaFree(B); cudaFree(D); cudaFree(bias);
                        if (bf) { cudaFree((void *)a); cudaFree((void *)b); }
                        free(hA); free(hB); free(hD); free(hb);
                    }
    /* throughput: Y[N, f] = X[N, d] W[f, d]^T  (column-major m = f, n = N, k = d, A = W transposed) */
    int N = 8192, dd = 2048, f = 8192;
    float *W, *X, *Y;
    DCK(cudaMalloc(&W, (size_t)f * dd * 4)); DCK(cudaMalloc(&X, (size_t)N * dd * 4)); DCK(cudaMalloc(&Y, (size_t)N * f * 4));
    DCK(cudaMemset(W, 0, (size_t)f * dd * 4)); DCK(cudaMemset(X, 0, (size_t)N * dd * 4));
    bf16 *Wb = to_bf16(W, (size_t)f * dd), *Xb = to_bf16(X, (size_t)N * dd);
    double fl = 2.0 * N * dd * f;
    for (int bf = 1; bf >= 0; bf--) {
        const void *a = bf ? (const void *)Wb : W, *b = bf ? (const void *)Xb : X;
        float tn = dev_time_ms(3, [&] { sp_gemm_native(0, 1, 0, f, N, dd, a, dd, b, dd, 0.f, Y, f, NULL, bf); });
        printf("  native %s %dx%dx%d: %.2f ms, %.1f TFLOP/s\n", bf ? "bf16 WMMA" : "fp32 SIMT", f, N, dd, tn, fl / tn / 1e9);
        if (sp_gemm_ctx_uses_cublaslt(lt)) {
            float tl = dev_time_ms(10, [&] { sp_gemm(lt, 0, 1, 0, f, N, dd, a, dd, b, dd, 0.f, Y, f, NULL, bf); });
            printf("  cublaslt %s: %.2f ms, %.1f TFLOP/s\n", bf ? "bf16" : "fp32", tl, fl / tl / 1e9);
        }
    }
    sp_gemm_ctx_destroy(lt);
    return 0;
}
