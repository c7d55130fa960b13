/*
 * profile.cu -- per-op device time of the CUDA backend, for benches (not part of spectro.h).
 *
 *   sp_cuda_profile(m, -1)     starts (or restarts) profiling on model m
 *   sp_cuda_profile(m, steps)  stops it and returns a markdown table: per op name, calls, device ms per
 *                              step (totals / steps), share of the profiled time, TFLOP/s where the op
 *                              has a FLOP count (GEMMs, attention)
 *
 * While profiling is on, every launch wrapped in PROF / PROF_CK (abi.cuh) records a cudaEvent before
 * and after itself on the model's stream; the pairs are resolved into per-name totals when the pool
 * is full (which synchronises the stream) and when the table is read. Off (m->prof == NULL), a
 * wrapped launch costs one pointer test. The time between wrapped launches (host work, unwrapped
 * copies, synchronisation) is not in the table: compare its total with the step time.
 * The returned text lives in a static buffer (one profiling bench at a time).
 */
#include "abi.cuh"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROF_POOL 1024     /* event pairs in flight before a resolve */
#define PROF_NAMES 64

struct sp_prof {
    cudaEvent_t ev[2 * PROF_POOL];
    int nev;                               /* events created */
    const char *pend_name[PROF_POOL];
    double pend_flops[PROF_POOL];
    int npend;
    const char *names[PROF_NAMES];
    double ms[PROF_NAMES], flops[PROF_NAMES];
    long calls[PROF_NAMES];
    int nnames;
};

static char g_table[16384];

void prof_free(sp_model *m) {
    sp_prof *p = m->prof;
    if (!p) return;
    for (int i = 0; i < p->nev; i++) cudaEventDestroy(p->ev[i]);
    cudaGetLastError();
    free(p);
    m->prof = NULL;
}

/* waits for the pending pairs and adds them to the per-name totals */
static sp_status prof_resolve(sp_model *m) {
    sp_prof *p = m->prof;
    CK(cudaStreamSynchronize(m->st));
    for (int i = 0; i < p->npend; i++) {
        float t = 0.f;
        CK(cudaEventElapsedTime(&t, p->ev[2 * i], p->ev[2 * i + 1]));
        int k = 0;
        while (k < p->nnames && strcmp(p->names[k], p->pend_name[i]) != 0) k++;
        if (k == p->nnames) {
            if (p->nnames == PROF_NAMES) { k = PROF_NAMES - 1; p->names[k] = "(ops beyond the table's 64 names)"; }
            else { p->names[k] = p->pend_name[i]; p->nnames++; }
        }
        p->ms[k] += t;
        p->flops[k] += p->pend_flops[i];
        p->calls[k]++;
    }
    p->npend = 0;
    return SP_OK;
}

sp_status prof_begin(sp_model *m, const char *name, double flops) {
    sp_prof *p = m->prof;
    if (p->npend == PROF_POOL) TRY(prof_resolve(m));
    p->pend_name[p->npend] = name;
    p->pend_flops[p->npend] = flops;
    CK(cudaEventRecord(p->ev[2 * p->npend], m->st));
    return SP_OK;
}

sp_status prof_end(sp_model *m) {
    sp_prof *p = m->prof;
    CK(cudaEventRecord(p->ev[2 * p->npend + 1], m->st));
    p->npend++;
    return SP_OK;
}

extern "C" const char *sp_cuda_profile(sp_model *m, int steps) {
    g_table[0] = 0;
    if (!m) return g_table;
    if (cudaSetDevice(m->device) != cudaSuccess) { cudaGetLastError(); return g_table; }
    if (steps < 0) {                                   /* start */
        prof_free(m);
        sp_prof *p = (sp_prof *)calloc(1, sizeof(sp_prof));
        if (!p) return g_table;
        for (; p->nev < 2 * PROF_POOL; p->nev++)
            if (cudaEventCreate(&p->ev[p->nev]) != cudaSuccess) {
                cudaGetLastError();
                m->prof = p;
                prof_free(m);
                snprintf(g_table, sizeof g_table, "profiling not started: cudaEventCreate failed");
                return g_table;
            }
        m->prof = p;
        return g_table;
    }
    sp_prof *p = m->prof;
    if (!p) return g_table;
    if (prof_resolve(m) != SP_OK) {
        snprintf(g_table, sizeof g_table, "profiling failed: %s", sp_last_error());
        prof_free(m);
        return g_table;
    }
    if (steps < 1) steps = 1;
    int order[PROF_NAMES];
    double total = 0;
    for (int i = 0; i < p->nnames; i++) { order[i] = i; total += p->ms[i]; }
    for (int i = 1; i < p->nnames; i++)                /* by time, largest first */
        for (int j = i; j > 0 && p->ms[order[j]] > p->ms[order[j - 1]]; j--) { int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t; }
    int n = snprintf(g_table, sizeof g_table,
                     "| op | calls per step | ms per step | share | TFLOP/s |\n|---|---|---|---|---|\n");
    for (int r = 0; r < p->nnames && n < (int)sizeof g_table; r++) {
        int i = order[r];
        char tf[32] = "";
        if (p->flops[i] > 0 && p->ms[i] > 0) snprintf(tf, sizeof tf, "%.1f", p->flops[i] / (p->ms[i] * 1e-3) / 1e12);
        n += snprintf(g_table + n, sizeof g_table - n, "| %s | %.1f | %.3f | %.1f%% | %s |\n", p->names[i],
                      (double)p->calls[i] / steps, p->ms[i] / steps, total > 0 ? 100.0 * p->ms[i] / total : 0.0, tf);
    }
    if (n < (int)sizeof g_table)
        snprintf(g_table + n, sizeof g_table - n, "| **sum of the ops above** | | %.3f | 100%% | |\n", total / steps);
    prof_free(m);
    return g_table;
}
