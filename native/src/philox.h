/*
 * philox.h -- Philox4x32-10 counter-based RNG and the spectro noise mapping (sp_noise).
 *
 * The ONE implementation of the generator for both backends: header-only, static inline, compiled
 * by gcc for the CPU backend (native/src/sgld.c, native/test) and by nvcc for the CUDA backend
 * (kernels/sgld.cu: the SGLD kernel on the device and sp_noise on the host; kernels/test/test_probe.c
 * by gcc), which includes it through -I../native/src. Under nvcc every function is
 * __host__ __device__ and force-inlined (SP_HD). The definition follows Salmon et al., "Parallel random numbers:
 * as easy as 1, 2, 3" (SC'11) / Random123 philox4x32 with R = 10 rounds:
 *   round:  (hi0, lo0) = mulhilo(M0, c0); (hi1, lo1) = mulhilo(M1, c2)
 *           c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
 *   key bump between rounds: k0 += W0, k1 += W1.
 * Known answer (Random123 kat_vectors): key (0,0), counter (0,0,0,0) ->
 *   0x6627e8d5 0xe169c58d 0xbc57ac4c 0x9b00dbd8   (checked in native/test/test_cpu.c).
 *
 * spectro mapping (spectro.h, sp_noise): key k = (seed lo, seed hi), counter
 * c = (element / 4 [low 32 bits], stream, step lo, step hi); u_i = ((x_i >> 8) + 0.5) * 2^-24;
 * Box-Muller in double: n0 = r cos(2 pi u1), n1 = r sin(2 pi u1) with r = sqrt(-2 ln u0),
 * n2, n3 likewise from (u2, u3); element e takes n_{e % 4} rounded to float.
 */
#ifndef SPECTRO_PHILOX_H
#define SPECTRO_PHILOX_H

#include <stdint.h>
#include <math.h>

#if defined(__CUDACC__)
#define SP_HD static __forceinline__ __host__ __device__
#else
#define SP_HD static inline
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

typedef struct { uint32_t v[4]; } philox4x32_ctr;

SP_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

/* Philox4x32-10: counter c (4 words), key (k0, k1) -> 4 random words. */
SP_HD philox4x32_ctr philox4x32_10(philox4x32_ctr c, uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, lo0, hi1, lo1;
        philox_mulhilo(PHILOX_M0, c.v[0], &hi0, &lo0);
        philox_mulhilo(PHILOX_M1, c.v[2], &hi1, &lo1);
        philox4x32_ctr n;
        n.v[0] = hi1 ^ c.v[1] ^ k0;
        n.v[1] = lo1;
        n.v[2] = hi0 ^ c.v[3] ^ k1;
        n.v[3] = lo0;
        c = n;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    return c;
}

/* uniform in (0, 1): ((x >> 8) + 0.5) * 2^-24, exact in double */
SP_HD double philox_uniform(uint32_t x) {
    return ((double)(x >> 8) + 0.5) * (1.0 / 16777216.0);
}

/* The four normals of one Philox block (group = element / 4), as floats. */
SP_HD void sp_noise_block(uint64_t seed, uint32_t stream, uint64_t step, uint64_t group,
                              float out[4]) {
    philox4x32_ctr c;
    c.v[0] = (uint32_t)group;
    c.v[1] = stream;
    c.v[2] = (uint32_t)step;
    c.v[3] = (uint32_t)(step >> 32);
    philox4x32_ctr x = philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    const double two_pi = 6.283185307179586476925286766559;
    for (int p = 0; p < 2; p++) {
        double u0 = philox_uniform(x.v[2 * p]);
        double u1 = philox_uniform(x.v[2 * p + 1]);
        double r = sqrt(-2.0 * log(u0));
        out[2 * p] = (float)(r * cos(two_pi * u1));
        out[2 * p + 1] = (float)(r * sin(two_pi * u1));
    }
}

/* The normal of one element e. */
SP_HD float sp_noise_element(uint64_t seed, uint32_t stream, uint64_t step, uint64_t e) {
    float n[4];
    sp_noise_block(seed, stream, step, e >> 2, n);
    return n[e & 3];
}

#endif /* SPECTRO_PHILOX_H */
