/*
 * backend.cu -- what is CUDA-specific about libspectro_cuda.so itself: its name, the probe, the
 * device check that sp_model_create runs, and CUDA errors as sp_status. The error API and every
 * argument check are in native/src/abi_common.c, shared with the CPU backend, whose counterpart of
 * this file is native/src/backend.c. See docs/cuda.md.
 */
#include "abi.cuh"
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ errors */
sp_status sp_cuda_fail(cudaError_t e, const char *what, const char *file, int line) {
    cudaGetLastError(); /* clear a non-sticky error */
    sp_status st = (e == cudaErrorMemoryAllocation) ? SP_ERR_OOM : SP_ERR_INTERNAL;
    const char *base = strrchr(file, '/');
    return sp_set_error(st, "%s: CUDA error %d %s (%s) in %s at %s:%d", sp_fn(), (int)e, cudaGetErrorName(e),
                        cudaGetErrorString(e), what, base ? base + 1 : file, line);
}

/* ------------------------------------------------------------------ library */
extern "C" const char *sp_backend_name(void) { return "cuda"; }

sp_status check_device(int device, int *cc_major, int *cc_minor, char *name, size_t name_cap) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return sp_set_error(SP_ERR_UNAVAILABLE, "%s: no CUDA device: cudaGetDeviceCount returned %d (%s: %s)",
                            sp_fn(), (int)e, cudaGetErrorName(e), cudaGetErrorString(e));
    }
    if (count <= 0) return sp_set_error(SP_ERR_UNAVAILABLE, "%s: no CUDA device: cudaGetDeviceCount found 0 devices", sp_fn());
    if (device < 0 || device >= count)
        return sp_set_error(SP_ERR_INVALID, "%s: CUDA device %d does not exist (%d device(s))", sp_fn(), device, count);
    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return sp_set_error(SP_ERR_UNAVAILABLE, "%s: cudaGetDeviceProperties(%d) returned %d (%s)", sp_fn(), device, (int)e,
                            cudaGetErrorString(e));
    }
    if (prop.major < 8)
        return sp_set_error(SP_ERR_UNAVAILABLE, "%s: CUDA device %d (%s) has compute capability %d.%d; spectro needs >= 8.0",
                            sp_fn(), device, prop.name, prop.major, prop.minor);
    if (cc_major) *cc_major = prop.major;
    if (cc_minor) *cc_minor = prop.minor;
    if (name) snprintf(name, name_cap, "%s", prop.name);
    e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaFree(0);   /* creates the context: catches driver problems here */
    if (e != cudaSuccess) {
        cudaGetLastError();
        return sp_set_error(SP_ERR_UNAVAILABLE, "%s: cannot create a context on CUDA device %d: %s (%s)", sp_fn(), device,
                            cudaGetErrorName(e), cudaGetErrorString(e));
    }
    return SP_OK;
}

extern "C" sp_status sp_backend_probe(void) {
    ENTER("sp_backend_probe");
    return check_device(0, NULL, NULL, NULL, 0);
}

