/*
 * philox_cuda.cuh -- the noise generator of spectro.h (sp_noise), usable from host and device.
 *
 * Philox4x32-10 (Salmon et al. 2011, Random123) with
 *   key     k = (seed & 0xffffffff, seed >> 32)
 *   counter c = (element / 4 [low 32 bits], stream, step & 0xffffffff, step >> 32)
 * uniforms u_i = ((x_i >> 8) + 0.5) * 2^-24, Box-Muller in double precision:
 *   n0 = sqrt(-2 ln u0) cos(2 pi u1), n1 = sqrt(-2 ln u0) sin(2 pi u1), n2/n3 from u2/u3,
 * element e takes n_{e % 4} rounded to float.
 *
 * This file mirrors native/src/philox.h of the CPU backend (same spec, same arithmetic); the two
 * should be unified into one header. Everything is static inline so that it can be included by
 * several translation units.
 */
#ifndef SPECTRO_PHILOX_CUDA_CUH
#define SPECTRO_PHILOX_CUDA_CUH

#include <stdint.h>
#include <math.h>

#if defined(__CUDACC__)
#define SP_HD __host__ __device__ __forceinline__
#else
#define SP_HD static inline
#endif

#define SP_PHILOX_M0 0xD2511F53u
#define SP_PHILOX_M1 0xCD9E8D57u
#define SP_PHILOX_W0 0x9E3779B9u
#define SP_PHILOX_W1 0xBB67AE85u

typedef struct { uint32_t v[4]; } sp_philox_ctr;

SP_HD void sp_philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

/* Philox4x32 with 10 rounds: round, then (bump key, round) nine times. */
SP_HD sp_philox_ctr sp_philox4x32_10(sp_philox_ctr c, uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) { k0 += SP_PHILOX_W0; k1 += SP_PHILOX_W1; }
        uint32_t hi0, lo0, hi1, lo1;
        sp_philox_mulhilo(SP_PHILOX_M0, c.v[0], &hi0, &lo0);
        sp_philox_mulhilo(SP_PHILOX_M1, c.v[2], &hi1, &lo1);
        sp_philox_ctr o;
        o.v[0] = hi1 ^ c.v[1] ^ k0;
        o.v[1] = lo1;
        o.v[2] = hi0 ^ c.v[3] ^ k1;
        o.v[3] = lo0;
        c = o;
    }
    return c;
}

SP_HD double sp_philox_uniform(uint32_t x) {
    return ((double)(x >> 8) + 0.5) * (1.0 / 16777216.0);
}

/* The four normals of the group of elements 4*quad .. 4*quad+3. */
SP_HD void sp_philox_normal4(uint64_t seed, uint32_t stream, uint64_t step, uint64_t quad, float out[4]) {
    sp_philox_ctr c;
    c.v[0] = (uint32_t)quad;
    c.v[1] = stream;
    c.v[2] = (uint32_t)(step & 0xffffffffu);
    c.v[3] = (uint32_t)(step >> 32);
    sp_philox_ctr x = sp_philox4x32_10(c, (uint32_t)(seed & 0xffffffffu), (uint32_t)(seed >> 32));
    const double two_pi = 6.283185307179586476925286766559;
    double u0 = sp_philox_uniform(x.v[0]), u1 = sp_philox_uniform(x.v[1]);
    double u2 = sp_philox_uniform(x.v[2]), u3 = sp_philox_uniform(x.v[3]);
    double r0 = sqrt(-2.0 * log(u0)), r1 = sqrt(-2.0 * log(u2));
    out[0] = (float)(r0 * cos(two_pi * u1));
    out[1] = (float)(r0 * sin(two_pi * u1));
    out[2] = (float)(r1 * cos(two_pi * u3));
    out[3] = (float)(r1 * sin(two_pi * u3));
}

/* The normal of one element. */
SP_HD float sp_philox_normal(uint64_t seed, uint32_t stream, uint64_t step, uint64_t element) {
    float n[4];
    sp_philox_normal4(seed, stream, step, element >> 2, n);
    return n[element & 3];
}

#endif
