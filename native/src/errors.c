/*
 * errors.c -- thread-local last error, allocation helpers, library identity.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[1024];

sp_status sp_fail(sp_status s, const char *fn, const char *fmt, ...) {
    int k = snprintf(last_error, sizeof last_error, "%s: ", fn);
    if (k < 0) k = 0;
    if ((size_t)k < sizeof last_error) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last_error + k, sizeof last_error - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return s;
}

void sp_clear_error(void) { last_error[0] = '\0'; }

const char *sp_last_error(void) { return last_error; }

int32_t sp_abi_version(void) { return SP_ABI_VERSION; }

const char *sp_backend_name(void) { return "cpu"; }

sp_status sp_backend_probe(void) {
    sp_clear_error();
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return sp_fail(SP_ERR_UNAVAILABLE, "sp_backend_probe",
                       "this CPU lacks AVX2/FMA (the CPU backend is built for x86-64-v3)");
    return SP_OK;
}

sp_status sp_check_copy(const char *fn, const void *handle, const char *what, const void *host, int64_t offset,
                        int64_t n, int64_t size, const char *unit_before, const char *unit_after) {
    if (!handle) return sp_fail(SP_ERR_INVALID, fn, "%s is NULL", what);
    if (!host && n > 0) return sp_fail(SP_ERR_INVALID, fn, "host pointer is NULL");
    if (offset < 0 || n < 0 || offset > size || n > size - offset)
        return sp_fail(SP_ERR_INVALID, fn, "range [%lld, %lld) outside %s%lld%s", (long long)offset,
                       (long long)offset + (long long)n, unit_before, (long long)size, unit_after);
    return SP_OK;
}

void *sp_alloc(size_t count, size_t size) {
    /* calloc: overflow-checked, zero-filled, and fresh large blocks come from mmap without a
     * memset (so a failed or huge allocation touches nothing). 16-byte alignment is enough: the
     * kernels use unaligned loads. */
    return calloc(count ? count : 1, size ? size : 1);
}

void sp_free(void *p) { free(p); }
