/* helpers of the dev/ programs (llm.c dev/cuda style: validate against a _cpu reference, then time) */
#pragma once
#include "common.cuh"
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>

#define DCK(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) { \
    printf("CUDA error %s at %s:%d: %s\n", #call, __FILE__, __LINE__, cudaGetErrorString(e_)); exit(1); } } while (0)
#define SCK(call) do { sp_status s_ = (call); if (s_ != SP_OK) { \
    printf("error %s -> %d: %s\n", #call, (int)s_, sp_last_error()); exit(1); } } while (0)

static uint64_t dev_rs = 0x2545F4914F6CDD1DULL;
static inline float dev_rand(void) {      /* uniform [-1, 1) */
    dev_rs ^= dev_rs >> 12; dev_rs ^= dev_rs << 25; dev_rs ^= dev_rs >> 27;
    return (float)((dev_rs * 2685821657736338717ULL) >> 40) * (1.0f / 8388608.0f) - 1.0f;
}
static inline float *dev_host_rand(size_t n, float scale) {
    float *p = (float *)malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = scale * dev_rand();
    return p;
}
static inline float *dev_upload(const float *h, size_t n) {
    float *d;
    DCK(cudaMalloc(&d, n * sizeof(float)));
    DCK(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}
static inline void dev_validate(const char *what, const float *dev, const float *ref, size_t n, double tol) {
    float *h = (float *)malloc(n * sizeof(float));
    DCK(cudaMemcpy(h, dev, n * sizeof(float), cudaMemcpyDeviceToHost));
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double dd = fabs((double)h[i] - ref[i]);
        if (dd > md || dd != dd) md = dd != dd ? INFINITY : dd;
        mr = fmax(mr, fabs(ref[i]));
    }
    double r = md / (mr + 1e-30);
    printf("  validate %-28s max|diff| %.3e  rel %.3e  %s\n", what, md, r, r <= tol ? "OK" : "MISMATCH");
    free(h);
    if (!(r <= tol)) exit(1);
}
/* mean milliseconds of fn over reps launches (after a warm-up), cudaEvent timed */
template <typename Fn>
static float dev_time_ms(int reps, Fn fn) {
    fn();
    DCK(cudaDeviceSynchronize());
    cudaEvent_t a, b;
    cudaEventCreate(&a); cudaEventCreate(&b);
    cudaEventRecord(a);
    for (int i = 0; i < reps; i++) fn();
    cudaEventRecord(b);
    DCK(cudaEventSynchronize(b));
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    cudaEventDestroy(a); cudaEventDestroy(b);
    return ms / reps;
}
