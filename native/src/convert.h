/*
 * convert.h -- host-side conversion of checkpoint tensors to fp32, shared by both backends (the CPU
 * backend includes it from model.c, the CUDA backend from spectro_cuda.cu, as philox.h is shared).
 *
 * Sources are the raw little-endian bytes of a safetensors tensor (F32, F16 or BF16, see sp_dtype
 * in spectro.h) at any alignment: a memory-mapped file is converted straight into the model's
 * parameters, a bounded chunk at a time, so no full host fp32 copy of the checkpoint ever exists.
 * Every conversion is exact (F16 and BF16 are subsets of fp32), so the result is bit-identical to
 * any other correct converter (Java's Float.float16ToFloat, torch's .float()).
 * Assumes a little-endian host (x86-64, AArch64).
 */
#ifndef SPECTRO_CONVERT_H
#define SPECTRO_CONVERT_H

#include <stdint.h>
#include <string.h>

#include "../include/spectro.h"

/* Bytes per element of an sp_dtype; 0 for a value that is not one. */
static inline int64_t sp_dtype_size(int32_t dtype) {
    switch (dtype) {
    case SP_DTYPE_F32: return 4;
    case SP_DTYPE_F16: return 2;
    case SP_DTYPE_BF16: return 2;
    default: return 0;
    }
}

static inline float sp_bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE binary16 -> binary32, exact (subnormals normalised, inf kept, NaN payload kept). */
static inline float sp_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return sp_bits_to_f32(sign | 0x7f800000u | (man << 13));
    if (exp != 0) return sp_bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
    if (man == 0) return sp_bits_to_f32(sign);
    uint32_t e = 113;                      /* 2^-14 * 0.man: shift the leading 1 into bit 10 */
    while (!(man & 0x400u)) { man <<= 1; e--; }
    return sp_bits_to_f32(sign | (e << 23) | ((man & 0x3ffu) << 13));
}

/* dst[i] = element i of src (n elements of `dtype`, little-endian, any alignment), i < n.
 * dtype must be valid (sp_dtype_size(dtype) != 0). */
static inline void sp_convert_to_f32(float *dst, const void *src, int32_t dtype, int64_t n) {
    const unsigned char *s = (const unsigned char *)src;
    if (dtype == SP_DTYPE_F32) {
        memcpy(dst, s, (size_t)n * 4);
    } else if (dtype == SP_DTYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            uint16_t b;
            memcpy(&b, s + 2 * i, 2);
            dst[i] = sp_bits_to_f32((uint32_t)b << 16);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = sp_f16_to_f32(h);
        }
    }
}

#endif
