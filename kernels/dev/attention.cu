/*
 * dev/attention.cu -- the attention kernels, fp32 SIMT (attention.cu) and tensor-core bf16
 * (attention_tc.cu), against attention_cpu
 * (naive causal softmax, double accumulation): forward output, lse, and the backward dq, dk, dv;
 * then timing at Pythia-1.4B shapes (B 16, 16 heads, hd 128, T 512) and 160M (12 heads, hd 64).
 */
#include "common_dev.cuh"
#include <vector>

static void attention_cpu(std::vector<float> &out, std::vector<float> &dqkv, const float *qkv, const float *dout,
                          int B, int T, int nh, int hd) {
    int d = nh * hd;
    out.assign((size_t)B * T * d, 0.f);
    dqkv.assign((size_t)B * T * 3 * d, 0.f);
    double sc = 1.0 / sqrt((double)hd);
    std::vector<double> p(T), dp(T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)(b * T + t) * 3 * d) + h * 3 * hd;
                double mx = -1e300;
                for (int s = 0; s <= t; s++) {
                    const float *k = qkv + ((size_t)(b * T + s) * 3 * d) + h * 3 * hd + hd;
                    double a = 0;
                    for (int i = 0; i < hd; i++) a += (double)q[i] * k[i];
                    p[s] = a * sc;
                    mx = fmax(mx, p[s]);
                }
                double z = 0;
                for (int s = 0; s <= t; s++) { p[s] = exp(p[s] - mx); z += p[s]; }
                for (int s = 0; s <= t; s++) p[s] /= z;
                float *o = out.data() + (size_t)(b * T + t) * d + h * hd;
                const float *go = dout + (size_t)(b * T + t) * d + h * hd;
                for (int i = 0; i < hd; i++) {
                    double a = 0;
                    for (int s = 0; s <= t; s++) a += p[s] * qkv[((size_t)(b * T + s) * 3 * d) + h * 3 * hd + 2 * hd + i];
                    o[i] = (float)a;
                }
                double D = 0;
                for (int s = 0; s <= t; s++) {
                    const float *v = qkv + ((size_t)(b * T + s) * 3 * d) + h * 3 * hd + 2 * hd;
                    double a = 0;
                    for (int i = 0; i < hd; i++) a += (double)go[i] * v[i];
                    dp[s] = a;
                    D += p[s] * a;
                }
                float *dq = dqkv.data() + ((size_t)(b * T + t) * 3 * d) + h * 3 * hd;
                for (int s = 0; s <= t; s++) {
                    double ds = p[s] * (dp[s] - D) * sc;
                    const float *k = qkv + ((size_t)(b * T + s) * 3 * d) + h * 3 * hd + hd;
                    float *dk = dqkv.data() + ((size_t)(b * T + s) * 3 * d) + h * 3 * hd + hd;
                    float *dv = dk + hd;
                    for (int i = 0; i < hd; i++) {
                        dq[i] += (float)(ds * k[i]);
                        dk[i] += (float)(ds * q[i]);
                        dv[i] += (float)(p[s] * go[i]);
                    }
                }
            }
}

/* kind 0: fp32 SIMT kernels (attention.cu), 1: tensor cores (attention_tc.cu, bf16 operands) */
static sp_status fwd(int kind, float *out, float *lse, const float *qkv, int B, int T, int nh, int hd) {
    return kind ? attention_forward_tc(0, out, lse, qkv, B, T, nh, hd) : attention_forward(0, out, lse, qkv, B, T, nh, hd);
}
static sp_status bwd(int kind, float *dqkv, const float *go, const float *qkv, const float *out, const float *lse, float *Db,
                     int B, int T, int nh, int hd) {
    return kind ? attention_backward_tc(0, dqkv, go, qkv, out, lse, Db, B, T, nh, hd)
                : attention_backward(0, dqkv, go, qkv, out, lse, Db, B, T, nh, hd);
}

static void run(int B, int T, int nh, int hd, bool validate) {
    int d = nh * hd;
    size_t nq = (size_t)B * T * 3 * d, no = (size_t)B * T * d;
    float *hq = dev_host_rand(nq, 1.0f), *hgo = dev_host_rand(no, 1.0f);
    float *qkv = dev_upload(hq, nq), *gout = dev_upload(hgo, no), *out, *lse, *dqkv, *Db;
    DCK(cudaMalloc(&out, no * 4)); DCK(cudaMalloc(&lse, (size_t)B * nh * T * 4));
    DCK(cudaMalloc(&dqkv, nq * 4)); DCK(cudaMalloc(&Db, (size_t)B * nh * T * 4));
    printf("attention B=%d T=%d heads=%d hd=%d\n", B, T, nh, hd);
    std::vector<float> ro, rd;
    if (validate) attention_cpu(ro, rd, hq, hgo, B, T, nh, hd);
    double fl = 4.0 * B * nh * (double)T * T / 2 * hd;       /* causal QK^T + PV */
    for (int kind = 0; kind < 2; kind++) {
        const char *kn = kind ? "tensor-core bf16" : "fp32 SIMT";
        const double tol_o = kind ? 2e-2 : 1e-5, tol_d = kind ? 3e-2 : 1e-4;
        /* poison: NaN everywhere, so an unwritten element fails the check */
        DCK(cudaMemset(out, 0xff, no * 4)); DCK(cudaMemset(dqkv, 0xff, nq * 4)); DCK(cudaMemset(lse, 0xff, (size_t)B * nh * T * 4));
        SCK(fwd(kind, out, lse, qkv, B, T, nh, hd));
        SCK(bwd(kind, dqkv, gout, qkv, out, lse, Db, B, T, nh, hd));
        DCK(cudaDeviceSynchronize());
        if (validate) {
            char w[64];
            snprintf(w, sizeof w, "%s out", kn);
            dev_validate(w, out, ro.data(), no, tol_o);
            snprintf(w, sizeof w, "%s dqkv", kn);
            dev_validate(w, dqkv, rd.data(), nq, tol_d);
        }
        float f = dev_time_ms(5, [&] { fwd(kind, out, lse, qkv, B, T, nh, hd); });
        float bw = dev_time_ms(5, [&] { bwd(kind, dqkv, gout, qkv, out, lse, Db, B, T, nh, hd); });
        printf("  %-16s forward %.3f ms (%.1f TFLOP/s), backward %.3f ms (%.1f TFLOP/s at 2.5x forward flops)\n", kn, f,
               fl / f / 1e9, bw, 2.5 * fl / bw / 1e9);
    }
    cudaFree(qkv); cudaFree(gout); cudaFree(out); cudaFree(lse); cudaFree(dqkv); cudaFree(Db);
    free(hq); free(hgo);
}

int main(void) {
    run(2, 77, 3, 16, true);
    run(1, 130, 2, 80, true);
    run(1, 100, 2, 128, true);
    run(2, 300, 2, 64, true);
    run(1, 200, 3, 32, true);
    run(1, 257, 1, 96, true);
    run(16, 512, 16, 128, false);
    run(16, 512, 12, 64, false);
    run(8, 2048, 16, 128, false);
    return 0;
}
