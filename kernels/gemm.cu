/*
 * gemm.cu -- the GEMMs of the CUDA backend.
 *
 * 1. cuBLASLt, loaded at run time with dlopen (no cuBLAS headers or import library are needed to
 *    build; the prototypes and enum values below are copied from the public cublasLt.h /
 *    cublas_api.h / library_types.h of CUDA 12/13, values checked against the CUDA 13.0 header).
 *    Search order: $SPECTRO_CUBLASLT (a file), libcublasLt.so.13, .so.12, .so (the loader path),
 *    /usr/local/cuda/lib64, then python site-packages nvidia/{cu13,cublas}/lib under common roots.
 * 2. Hand-written kernels when the library is absent or SPECTRO_GEMM=native: a WMMA tensor-core
 *    kernel (bf16 inputs, fp32 accumulation) and an fp32 SIMT kernel. Both handle any shape,
 *    leading dimension and transposition (bounds-checked tiles).
 * SPECTRO_GEMM=cublaslt makes a missing library an error at model creation instead of a fallback.
 */
#include "common.cuh"
#include <mma.h>
#include <dlfcn.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ cuBLASLt declarations */
typedef int lt_status;                       /* cublasStatus_t, CUBLAS_STATUS_SUCCESS == 0 */
typedef void *lt_handle;                     /* cublasLtHandle_t */
typedef void *lt_desc;                       /* cublasLtMatmulDesc_t */
typedef void *lt_layout;                     /* cublasLtMatrixLayout_t */
typedef void *lt_pref;                       /* cublasLtMatmulPreference_t */
typedef struct { uint64_t data[8]; } lt_algo;  /* cublasLtMatmulAlgo_t */
typedef struct {                             /* cublasLtMatmulHeuristicResult_t */
    lt_algo algo;
    size_t workspaceSize;
    lt_status state;
    float wavesCount;
    int reserved[4];
} lt_heur;

enum {
    LT_CUDA_R_32F = 0, LT_CUDA_R_16BF = 14,                /* cudaDataType_t */
    LT_COMPUTE_32F = 68,                                   /* cublasComputeType_t CUBLAS_COMPUTE_32F */
    LT_OP_N = 0, LT_OP_T = 1,                              /* cublasOperation_t */
    LT_DESC_TRANSA = 3, LT_DESC_TRANSB = 4, LT_DESC_EPILOGUE = 7, LT_DESC_BIAS_POINTER = 8,
    LT_EPILOGUE_DEFAULT = 1, LT_EPILOGUE_BIAS = 4,
    LT_PREF_MAX_WORKSPACE_BYTES = 1,
    LT_PREF_MIN_ALIGNMENT_A = 5, LT_PREF_MIN_ALIGNMENT_B = 6, LT_PREF_MIN_ALIGNMENT_C = 7, LT_PREF_MIN_ALIGNMENT_D = 8,
};

typedef lt_status (*fn_create)(lt_handle *);
typedef lt_status (*fn_destroy)(lt_handle);
typedef size_t (*fn_version)(void);
typedef lt_status (*fn_desc_create)(lt_desc *, int /*compute*/, int /*scale type*/);
typedef lt_status (*fn_desc_destroy)(lt_desc);
typedef lt_status (*fn_desc_set)(lt_desc, int, const void *, size_t);
typedef lt_status (*fn_layout_create)(lt_layout *, int, uint64_t, uint64_t, int64_t);
typedef lt_status (*fn_layout_destroy)(lt_layout);
typedef lt_status (*fn_pref_create)(lt_pref *);
typedef lt_status (*fn_pref_destroy)(lt_pref);
typedef lt_status (*fn_pref_set)(lt_pref, int, const void *, size_t);
typedef lt_status (*fn_heuristic)(lt_handle, lt_desc, lt_layout, lt_layout, lt_layout, lt_layout, lt_pref, int,
                                  lt_heur *, int *);
typedef lt_status (*fn_matmul)(lt_handle, lt_desc, const void *, const void *, lt_layout, const void *, lt_layout,
                               const void *, const void *, lt_layout, void *, lt_layout, const lt_algo *, void *,
                               size_t, cudaStream_t);

#define GEMM_CACHE 128
typedef struct {
    int valid;
    int key[14];
    lt_algo algo;
    size_t ws;
    int ok;                                   /* 0: no algorithm, use the native kernel */
} gemm_cache_entry;

struct sp_gemm_ctx {
    void *lib;
    int use_lt;
    char desc[600];
    lt_handle handle;
    void *workspace;
    size_t ws_size;
    long fallbacks;
    fn_create create; fn_destroy destroy; fn_version version;
    fn_desc_create desc_create; fn_desc_destroy desc_destroy; fn_desc_set desc_set;
    fn_layout_create layout_create; fn_layout_destroy layout_destroy;
    fn_pref_create pref_create; fn_pref_destroy pref_destroy; fn_pref_set pref_set;
    fn_heuristic heuristic; fn_matmul matmul;
    gemm_cache_entry cache[GEMM_CACHE];
    int cache_next;
};

static void *try_open(const char *path, char *tried, size_t tried_cap) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    size_t len = strlen(tried);
    if (!h && len + strlen(path) + 3 < tried_cap) snprintf(tried + len, tried_cap - len, "%s%s", len ? ", " : "", path);
    return h;
}

static void *open_cublaslt(char *found, size_t cap, char *tried, size_t tried_cap) {
    const char *env = getenv("SPECTRO_CUBLASLT");
    void *h;
    if (env && *env) {
        if ((h = try_open(env, tried, tried_cap))) { snprintf(found, cap, "%s", env); return h; }
    }
    static const char *names[] = {
        "libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so",
        "/usr/local/cuda/lib64/libcublasLt.so.13", "/usr/local/cuda/lib64/libcublasLt.so.12",
        "/usr/local/cuda/lib64/libcublasLt.so", NULL };
    for (int i = 0; names[i]; i++)
        if ((h = try_open(names[i], tried, tried_cap))) { snprintf(found, cap, "%s", names[i]); return h; }
    static const char *patterns[] = {
        "/opt/*/.venv/lib/python3*/site-packages/nvidia/cu13/lib/libcublasLt.so.13",
        "/opt/*/.venv/lib/python3*/site-packages/nvidia/cublas/lib/libcublasLt.so.1*",
        "/usr/local/lib/python3*/dist-packages/nvidia/cu13/lib/libcublasLt.so.13",
        "/usr/local/lib/python3*/dist-packages/nvidia/cublas/lib/libcublasLt.so.1*",
        "/usr/lib/python3*/site-packages/nvidia/cu13/lib/libcublasLt.so.13",
        "/usr/lib/python3*/site-packages/nvidia/cublas/lib/libcublasLt.so.1*",
        "/usr/local/lib/python3*/site-packages/nvidia/cu13/lib/libcublasLt.so.13",
        "/usr/local/lib/python3*/site-packages/nvidia/cublas/lib/libcublasLt.so.1*",
        "/root/.local/lib/python3*/site-packages/nvidia/cu13/lib/libcublasLt.so.13",
        "/root/.local/lib/python3*/site-packages/nvidia/cublas/lib/libcublasLt.so.1*",
        "/usr/local/cuda-*/lib64/libcublasLt.so.1*",
        "/usr/local/cuda-*/targets/x86_64-linux/lib/libcublasLt.so.1*",
        NULL };
    for (int i = 0; patterns[i]; i++) {
        glob_t g;
        if (glob(patterns[i], 0, NULL, &g) == 0) {
            for (size_t j = 0; j < g.gl_pathc; j++) {
                if ((h = try_open(g.gl_pathv[j], tried, tried_cap))) {
                    snprintf(found, cap, "%s", g.gl_pathv[j]);
                    globfree(&g);
                    return h;
                }
            }
            globfree(&g);
        }
    }
    return NULL;
}

#define LOAD_SYM(field, type, name) do { g->field = (type)dlsym(g->lib, name); \
    if (!g->field) { snprintf(why, sizeof why, "symbol %s missing in %s", name, found); goto native; } } while (0)

sp_status sp_gemm_ctx_create(int device, sp_gemm_ctx **out) {
    (void)device;
    *out = NULL;
    sp_gemm_ctx *g = (sp_gemm_ctx *)calloc(1, sizeof(sp_gemm_ctx));
    if (!g) return sp_set_error(SP_ERR_OOM, "%s: out of host memory", sp_fn());
    const char *mode = getenv("SPECTRO_GEMM");
    int force_native = mode && strcmp(mode, "native") == 0;
    int force_lt = mode && strcmp(mode, "cublaslt") == 0;
    char found[400] = "", tried[2000] = "", why[2400] = "";
    if (force_native) { snprintf(why, sizeof why, "SPECTRO_GEMM=native"); goto native; }
    g->lib = open_cublaslt(found, sizeof found, tried, sizeof tried);
    if (!g->lib) { snprintf(why, sizeof why, "libcublasLt not found (tried %s)", tried); goto native; }
    LOAD_SYM(create, fn_create, "cublasLtCreate");
    LOAD_SYM(destroy, fn_destroy, "cublasLtDestroy");
    LOAD_SYM(version, fn_version, "cublasLtGetVersion");
    LOAD_SYM(desc_create, fn_desc_create, "cublasLtMatmulDescCreate");
    LOAD_SYM(desc_destroy, fn_desc_destroy, "cublasLtMatmulDescDestroy");
    LOAD_SYM(desc_set, fn_desc_set, "cublasLtMatmulDescSetAttribute");
    LOAD_SYM(layout_create, fn_layout_create, "cublasLtMatrixLayoutCreate");
    LOAD_SYM(layout_destroy, fn_layout_destroy, "cublasLtMatrixLayoutDestroy");
    LOAD_SYM(pref_create, fn_pref_create, "cublasLtMatmulPreferenceCreate");
    LOAD_SYM(pref_destroy, fn_pref_destroy, "cublasLtMatmulPreferenceDestroy");
    LOAD_SYM(pref_set, fn_pref_set, "cublasLtMatmulPreferenceSetAttribute");
    LOAD_SYM(heuristic, fn_heuristic, "cublasLtMatmulAlgoGetHeuristic");
    LOAD_SYM(matmul, fn_matmul, "cublasLtMatmul");
    {
        lt_status s = g->create(&g->handle);
        if (s != 0) { snprintf(why, sizeof why, "cublasLtCreate returned %d (%s)", s, found); goto native; }
        g->ws_size = 32u << 20;
        cudaError_t e = cudaMalloc(&g->workspace, g->ws_size);
        if (e != cudaSuccess) {
            cudaGetLastError();
            g->workspace = NULL; g->ws_size = 0;
        }
        g->use_lt = 1;
        snprintf(g->desc, sizeof g->desc, "cublaslt %zu (%s)", g->version(), found);
        *out = g;
        return SP_OK;
    }
native:
    if (force_lt) {
        sp_status st = sp_set_error(SP_ERR_UNAVAILABLE, "%s: SPECTRO_GEMM=cublaslt but %s", sp_fn(), why);
        if (g->lib) dlclose(g->lib);
        free(g);
        return st;
    }
    if (g->handle && g->destroy) g->destroy(g->handle);
    if (g->lib) dlclose(g->lib);
    g->lib = NULL; g->handle = NULL; g->use_lt = 0;
    snprintf(g->desc, sizeof g->desc, "native (%s)", why);
    *out = g;
    return SP_OK;
}

void sp_gemm_ctx_destroy(sp_gemm_ctx *g) {
    if (!g) return;
    if (g->workspace) cudaFree(g->workspace);
    if (g->use_lt && g->handle) g->destroy(g->handle);
    /* the library stays loaded: other contexts (or cuBLASLt's own atexit handlers) may use it */
    free(g);
}

const char *sp_gemm_ctx_describe(const sp_gemm_ctx *g) { return g ? g->desc : "none"; }
int sp_gemm_ctx_uses_cublaslt(const sp_gemm_ctx *g) { return g && g->use_lt; }

static unsigned align_of(const void *p) {
    uintptr_t a = (uintptr_t)p;
    unsigned al = 256;
    while (al > 1 && (a % al) != 0) al >>= 1;
    return al;
}

/* Returns SP_OK after running, or SP_ERR_UNAVAILABLE (no error text) when cuBLASLt has no algorithm. */
static sp_status gemm_lt(sp_gemm_ctx *g, cudaStream_t st, int transa, int transb, int m, int n, int k,
                         const void *A, int lda, const void *B, int ldb, float beta, float *D, int ldd,
                         const float *bias, int use_bf16) {
    unsigned alA = align_of(A), alB = align_of(B), alD = align_of(D);
    int key[14] = {transa, transb, m, n, k, lda, ldb, ldd, bias != NULL, use_bf16, beta != 0.f, (int)alA, (int)alB, (int)alD};
    gemm_cache_entry *ce = NULL;
    for (int i = 0; i < GEMM_CACHE; i++)
        if (g->cache[i].valid && memcmp(g->cache[i].key, key, sizeof key) == 0) { ce = &g->cache[i]; break; }
    if (ce && !ce->ok) return SP_ERR_UNAVAILABLE;

    int ab_type = use_bf16 ? LT_CUDA_R_16BF : LT_CUDA_R_32F;
    lt_desc desc = NULL; lt_layout la = NULL, lb = NULL, ld = NULL; lt_pref pref = NULL;
    sp_status ret = SP_OK;
    lt_status s;
    int32_t ta = transa ? LT_OP_T : LT_OP_N, tb = transb ? LT_OP_T : LT_OP_N;
    uint32_t epi = bias ? LT_EPILOGUE_BIAS : LT_EPILOGUE_DEFAULT;
    float alpha = 1.0f;
#define LTCK(call) do { s = (call); if (s != 0) { \
        ret = sp_set_error(SP_ERR_INTERNAL, "%s: %s returned cuBLAS status %d (m=%d n=%d k=%d ta=%d tb=%d bf16=%d) at %s:%d", \
                           sp_fn(), #call, s, m, n, k, transa, transb, use_bf16, __FILE__, __LINE__); goto done; } } while (0)
    LTCK(g->desc_create(&desc, LT_COMPUTE_32F, LT_CUDA_R_32F));
    LTCK(g->desc_set(desc, LT_DESC_TRANSA, &ta, sizeof ta));
    LTCK(g->desc_set(desc, LT_DESC_TRANSB, &tb, sizeof tb));
    LTCK(g->desc_set(desc, LT_DESC_EPILOGUE, &epi, sizeof epi));
    if (bias) LTCK(g->desc_set(desc, LT_DESC_BIAS_POINTER, &bias, sizeof bias));
    /* stored shapes (rows x cols, column-major) */
    LTCK(g->layout_create(&la, ab_type, transa ? k : m, transa ? m : k, lda));
    LTCK(g->layout_create(&lb, ab_type, transb ? n : k, transb ? k : n, ldb));
    LTCK(g->layout_create(&ld, LT_CUDA_R_32F, m, n, ldd));
    if (!ce) {
        LTCK(g->pref_create(&pref));
        uint64_t ws = g->ws_size;
        LTCK(g->pref_set(pref, LT_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
        uint32_t a32 = alA, b32 = alB, d32 = alD;
        LTCK(g->pref_set(pref, LT_PREF_MIN_ALIGNMENT_A, &a32, sizeof a32));
        LTCK(g->pref_set(pref, LT_PREF_MIN_ALIGNMENT_B, &b32, sizeof b32));
        LTCK(g->pref_set(pref, LT_PREF_MIN_ALIGNMENT_C, &d32, sizeof d32));
        LTCK(g->pref_set(pref, LT_PREF_MIN_ALIGNMENT_D, &d32, sizeof d32));
        lt_heur res[1];
        int found = 0;
        memset(res, 0, sizeof res);
        s = g->heuristic(g->handle, desc, la, lb, ld, ld, pref, 1, res, &found);
        ce = &g->cache[g->cache_next];
        g->cache_next = (g->cache_next + 1) % GEMM_CACHE;
        memset(ce, 0, sizeof *ce);
        memcpy(ce->key, key, sizeof key);
        ce->valid = 1;
        if (s != 0 || found < 1 || res[0].state != 0) {
            ce->ok = 0;
            ret = SP_ERR_UNAVAILABLE;
            goto done;
        }
        ce->ok = 1;
        ce->algo = res[0].algo;
        ce->ws = res[0].workspaceSize;
    }
    LTCK(g->matmul(g->handle, desc, &alpha, A, la, B, lb, &beta, D, ld, D, ld, &ce->algo,
                   g->workspace, g->ws_size, st));
#undef LTCK
done:
    if (pref) g->pref_destroy(pref);
    if (la) g->layout_destroy(la);
    if (lb) g->layout_destroy(lb);
    if (ld) g->layout_destroy(ld);
    if (desc) g->desc_destroy(desc);
    return ret;
}

sp_status sp_gemm(sp_gemm_ctx *g, cudaStream_t st, int transa, int transb, int m, int n, int k,
                  const void *A, int lda, const void *B, int ldb, float beta, float *D, int ldd,
                  const float *bias, int use_bf16) {
    if (m <= 0 || n <= 0) return SP_OK;
    if (g && g->use_lt) {
        sp_status s = gemm_lt(g, st, transa, transb, m, n, k, A, lda, B, ldb, beta, D, ldd, bias, use_bf16);
        if (s != SP_ERR_UNAVAILABLE) return s;
        g->fallbacks++;
    }
    return sp_gemm_native(st, transa, transb, m, n, k, A, lda, B, ldb, beta, D, ldd, bias, use_bf16);
}

/* ------------------------------------------------------------------ native fp32 SIMT GEMM */
/* 64x64 tile of D per block, 256 threads, 4x4 per thread, K step 16. */
#define SG_T 64
#define SG_K 16
__global__ void __launch_bounds__(256) gemm_f32_kernel(int transa, int transb, int m, int n, int k,
        const float *A, int lda, const float *B, int ldb, float beta, float *D, int ldd, const float *bias) {
    __shared__ float As[SG_K][SG_T + 4];   /* As[kk][i] = opA(i0 + i, k0 + kk) */
    __shared__ float Bs[SG_K][SG_T + 4];   /* Bs[kk][j] = opB(k0 + kk, j0 + j) */
    const int i0 = blockIdx.x * SG_T, j0 = blockIdx.y * SG_T;
    const int tid = threadIdx.x;
    const int ti = (tid % 16) * 4, tj = (tid / 16) * 4;
    float acc[4][4];
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int b = 0; b < 4; b++) acc[a][b] = 0.f;
    for (int k0 = 0; k0 < k; k0 += SG_K) {
        for (int idx = tid; idx < SG_K * SG_T; idx += 256) {
            int kk, i;
            if (transa) { i = idx / SG_K; kk = idx % SG_K; } else { kk = idx / SG_T; i = idx % SG_T; }
            int gi = i0 + i, gk = k0 + kk;
            float v = 0.f;
            if (gi < m && gk < k) v = transa ? A[(int64_t)gi * lda + gk] : A[(int64_t)gk * lda + gi];
            As[kk][i] = v;
        }
        for (int idx = tid; idx < SG_K * SG_T; idx += 256) {
            int kk, j;
            if (transb) { kk = idx / SG_T; j = idx % SG_T; } else { j = idx / SG_K; kk = idx % SG_K; }
            int gj = j0 + j, gk = k0 + kk;
            float v = 0.f;
            if (gj < n && gk < k) v = transb ? B[(int64_t)gk * ldb + gj] : B[(int64_t)gj * ldb + gk];
            Bs[kk][j] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < SG_K; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int x = 0; x < 4; x++) { a[x] = As[kk][ti + x]; b[x] = Bs[kk][tj + x]; }
#pragma unroll
            for (int x = 0; x < 4; x++)
#pragma unroll
                for (int y = 0; y < 4; y++) acc[x][y] += a[x] * b[y];
        }
        __syncthreads();
    }
#pragma unroll
    for (int y = 0; y < 4; y++) {
        int gj = j0 + tj + y;
        if (gj >= n) continue;
#pragma unroll
        for (int x = 0; x < 4; x++) {
            int gi = i0 + ti + x;
            if (gi >= m) continue;
            float *p = D + (int64_t)gj * ldd + gi;
            float v = acc[x][y];
            if (beta != 0.f) v += beta * *p;
            if (bias) v += bias[gi];
            *p = v;
        }
    }
}

/* ------------------------------------------------------------------ native WMMA bf16 GEMM */
/* 64x64 tile per block, 4 warps in 2x2, each warp 32x32 = 2x2 fragments 16x16x16, K step 32. */
#define WG_T 64
#define WG_K 32
__global__ void __launch_bounds__(128) gemm_bf16_wmma_kernel(int transa, int transb, int m, int n, int k,
        const bf16 *A, int lda, const bf16 *B, int ldb, float beta, float *D, int ldd, const float *bias) {
    using namespace nvcuda;
    __shared__ __align__(32) bf16 As[WG_T][WG_K + 8];     /* As[i][kk] row-major */
    __shared__ __align__(32) bf16 Bs[WG_K][WG_T + 8];     /* Bs[kk][j] row-major */
    __shared__ __align__(32) float Cs[WG_T][WG_T + 4];    /* column-major tile: Cs[j][i] */
    const int i0 = blockIdx.x * WG_T, j0 = blockIdx.y * WG_T;
    const int tid = threadIdx.x, warp = tid / 32;
    const int wi = (warp % 2) * 32, wj = (warp / 2) * 32;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
    for (int a = 0; a < 2; a++)
#pragma unroll
        for (int b = 0; b < 2; b++) wmma::fill_fragment(acc[a][b], 0.0f);
    const bf16 zero = __float2bfloat16_rn(0.f);
    for (int k0 = 0; k0 < k; k0 += WG_K) {
        for (int idx = tid; idx < WG_T * WG_K; idx += 128) {
            int i, kk;
            if (transa) { i = idx / WG_K; kk = idx % WG_K; } else { kk = idx / WG_T; i = idx % WG_T; }
            int gi = i0 + i, gk = k0 + kk;
            bf16 v = zero;
            if (gi < m && gk < k) v = transa ? A[(int64_t)gi * lda + gk] : A[(int64_t)gk * lda + gi];
            As[i][kk] = v;
        }
        for (int idx = tid; idx < WG_T * WG_K; idx += 128) {
            int j, kk;
            if (transb) { kk = idx / WG_T; j = idx % WG_T; } else { j = idx / WG_K; kk = idx % WG_K; }
            int gj = j0 + j, gk = k0 + kk;
            bf16 v = zero;
            if (gj < n && gk < k) v = transb ? B[(int64_t)gk * ldb + gj] : B[(int64_t)gj * ldb + gk];
            Bs[kk][j] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < WG_K; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb[2];
#pragma unroll
            for (int a = 0; a < 2; a++) wmma::load_matrix_sync(fa[a], &As[wi + a * 16][kk], WG_K + 8);
#pragma unroll
            for (int b = 0; b < 2; b++) wmma::load_matrix_sync(fb[b], &Bs[kk][wj + b * 16], WG_T + 8);
#pragma unroll
            for (int a = 0; a < 2; a++)
#pragma unroll
                for (int b = 0; b < 2; b++) wmma::mma_sync(acc[a][b], fa[a], fb[b], acc[a][b]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int a = 0; a < 2; a++)
#pragma unroll
        for (int b = 0; b < 2; b++)
            wmma::store_matrix_sync(&Cs[wj + b * 16][wi + a * 16], acc[a][b], WG_T + 4, wmma::mem_col_major);
    __syncthreads();
    for (int idx = tid; idx < WG_T * WG_T; idx += 128) {
        int j = idx / WG_T, i = idx % WG_T;
        int gi = i0 + i, gj = j0 + j;
        if (gi >= m || gj >= n) continue;
        float *p = D + (int64_t)gj * ldd + gi;
        float v = Cs[j][i];
        if (beta != 0.f) v += beta * *p;
        if (bias) v += bias[gi];
        *p = v;
    }
}

sp_status sp_gemm_native(cudaStream_t st, int transa, int transb, int m, int n, int k,
                         const void *A, int lda, const void *B, int ldb, float beta, float *D, int ldd,
                         const float *bias, int use_bf16) {
    if (m <= 0 || n <= 0) return SP_OK;
    if ((unsigned)cdiv(n, 64) > 65535u)
        return sp_set_error(SP_ERR_INVALID, "%s: native GEMM n=%d too large", sp_fn(), n);
    dim3 grid(cdiv(m, 64), cdiv(n, 64));
    if (use_bf16) {
        gemm_bf16_wmma_kernel<<<grid, 128, 0, st>>>(transa, transb, m, n, k, (const bf16 *)A, lda, (const bf16 *)B, ldb,
                                                     beta, D, ldd, bias);
        CK_LAUNCH("gemm_bf16_wmma_kernel");
    } else {
        gemm_f32_kernel<<<grid, 256, 0, st>>>(transa, transb, m, n, k, (const float *)A, lda, (const float *)B, ldb,
                                              beta, D, ldd, bias);
        CK_LAUNCH("gemm_f32_kernel");
    }
    return SP_OK;
}
