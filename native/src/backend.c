/*
 * backend.c -- what is CPU-specific about the library itself: its name, the probe, host allocation.
 * (The error API and every argument check are in abi_common.c, shared with the CUDA backend, whose
 * counterpart of this file is kernels/backend.cu.)
 */
#include "internal.h"

#include <stdlib.h>

const char *sp_backend_name(void) { return "cpu"; }

sp_status sp_backend_probe(void) {
    sp_enter("sp_backend_probe");
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return sp_fail(SP_ERR_UNAVAILABLE, "sp_backend_probe",
                       "this CPU lacks AVX2/FMA (the CPU backend is built for x86-64-v3)");
    return SP_OK;
}

void *sp_alloc(size_t count, size_t size) {
    /* calloc: overflow-checked, zero-filled, and fresh large blocks come from mmap without a
     * memset (so a failed or huge allocation touches nothing). 16-byte alignment is enough: the
     * kernels use unaligned loads. */
    return calloc(count ? count : 1, size ? size : 1);
}

void sp_free(void *p) { free(p); }
