/*
 * pool.c -- the CPU backend's thread pool and default thread count (see pool.h).
 *
 * A loop is published as one 64-bit word, (chunk count << 32) | next unclaimed chunk, next to its
 * body, context and chunk size. A thread claims chunk i by a compare-and-swap of (n, i) -> (n, i+1)
 * and only then reads the body: the caller writes the next loop's fields only after every chunk of
 * this one is done, which needs the claimed chunk. A stale claim (a helper still holding a word of
 * an earlier loop) can only succeed when the current word is the same (n, i), i.e. chunk i of the
 * current loop is unclaimed, so it is a valid claim of that loop.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* how long a thread spins for work (helpers) or for the last chunks (caller) before it sleeps */
#define SP_POOL_SPIN_NS 20000L
/* chunks per thread a loop is cut into (more: better balance when a thread is descheduled) */
#define SP_POOL_CHUNKS_PER_THREAD 4

struct sp_pool {
    _Atomic uint64_t word;       /* (nchunks << 32) | next chunk */
    _Atomic uint32_t done;       /* chunks finished of the current loop (futex word of the caller) */
    _Atomic uint32_t gen;        /* loops published (futex word of sleeping helpers) */
    _Atomic int sleepers;        /* helpers asleep on gen */
    _Atomic int caller_sleeps;   /* the caller is (about to be) asleep on done */
    _Atomic int quit;
    sp_range_fn fn;
    void *ctx;
    long n, chunk;
    int size;                    /* threads in all, caller included */
    int nhelpers;
    pthread_t *helpers;
};

static __thread sp_pool *current;
long sp_par_min_work = SP_PAR_MIN_WORK;

static long futex(_Atomic uint32_t *addr, int op, uint32_t val) {
    return syscall(SYS_futex, (uint32_t *)addr, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Claims and runs chunks of the current loop until none is left. */
static void run_chunks(sp_pool *p, int tid) {
    uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
    for (;;) {
        uint32_t n = (uint32_t)(w >> 32), i = (uint32_t)w;
        if (i >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&p->word, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* w reloaded */
        long i0 = (long)i * p->chunk, i1 = i0 + p->chunk < p->n ? i0 + p->chunk : p->n;
        p->fn(p->ctx, i0, i1, tid);
        uint32_t d = atomic_fetch_add(&p->done, 1) + 1; /* seq_cst: pairs with caller_sleeps */
        if (d == n && tid != 0 && atomic_load(&p->caller_sleeps)) futex(&p->done, FUTEX_WAKE, 1);
        w = atomic_load_explicit(&p->word, memory_order_acquire);
    }
}

typedef struct { sp_pool *p; int tid; } helper_arg;

static void *helper_main(void *arg) {
    helper_arg a = *(helper_arg *)arg;
    free(arg);
    sp_pool *p = a.p;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g = atomic_load(&p->gen);
        if (g == seen) {
            long t0 = now_ns();
            for (int k = 1; (g = atomic_load(&p->gen)) == seen; k++) {
                if ((k & 63) || now_ns() - t0 < SP_POOL_SPIN_NS) { cpu_relax(); continue; }
                atomic_fetch_add(&p->sleepers, 1);
                if (atomic_load(&p->gen) == seen) futex(&p->gen, FUTEX_WAIT, seen);
                atomic_fetch_sub(&p->sleepers, 1);
            }
        }
        seen = g;
        if (atomic_load(&p->quit)) return NULL;
        run_chunks(p, a.tid);
    }
}

sp_pool *sp_pool_create(int nthreads) {
    if (nthreads < 1) nthreads = 1;
    sp_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->size = 1;
    if (nthreads == 1) return p;
    p->helpers = calloc((size_t)nthreads - 1, sizeof(pthread_t));
    if (!p->helpers) return p;
    /* helpers take no asynchronous signals (the host process, e.g. a JVM, handles those) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int t = 1; t < nthreads; t++) {
        helper_arg *a = malloc(sizeof *a);
        if (!a) break;
        a->p = p;
        a->tid = t;
        if (pthread_create(&p->helpers[t - 1], NULL, helper_main, a) != 0) { free(a); break; }
        p->nhelpers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    p->size = 1 + p->nhelpers;
    return p;
}

void sp_pool_destroy(sp_pool *p) {
    if (!p) return;
    if (current == p) current = NULL;
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    futex(&p->gen, FUTEX_WAKE, INT_MAX);
    for (int t = 0; t < p->nhelpers; t++) pthread_join(p->helpers[t], NULL);
    free(p->helpers);
    free(p);
}

int sp_pool_size(const sp_pool *p) { return p ? p->size : 1; }
void sp_pool_use(sp_pool *p) { current = p; }
sp_pool *sp_pool_current(void) { return current; }
int sp_pool_threads(void) { return sp_pool_size(current); }

void sp_parallel_for(long n, long grain, long work, sp_range_fn fn, void *ctx) {
    if (n <= 0) return;
    sp_pool *p = current;
    if (grain < 1) grain = 1;
    int nt = sp_pool_size(p);
    if (nt == 1 || work < sp_par_min_work || n <= grain) { fn(ctx, 0, n, 0); return; }
    long chunk = (n + (long)SP_POOL_CHUNKS_PER_THREAD * nt - 1) / ((long)SP_POOL_CHUNKS_PER_THREAD * nt);
    if (chunk < grain) chunk = grain;
    if ((n + chunk - 1) / chunk > (long)UINT32_MAX / 2) chunk = (n + UINT32_MAX / 2 - 1) / (UINT32_MAX / 2);
    uint32_t nchunks = (uint32_t)((n + chunk - 1) / chunk);
    if (nchunks == 1) { fn(ctx, 0, n, 0); return; }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->word, (uint64_t)nchunks << 32, memory_order_release);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) futex(&p->gen, FUTEX_WAKE, INT_MAX);
    run_chunks(p, 0);
    /* the chunks other threads claimed: spin a little, then sleep until the last one is done */
    uint32_t d = atomic_load(&p->done);
    if (d == nchunks) return;
    long t0 = now_ns();
    for (int k = 1; (d = atomic_load(&p->done)) != nchunks; k++) {
        if ((k & 63) || now_ns() - t0 < SP_POOL_SPIN_NS) { cpu_relax(); continue; }
        atomic_store(&p->caller_sleeps, 1);
        d = atomic_load(&p->done);
        if (d != nchunks) futex(&p->done, FUTEX_WAIT, d);
        atomic_store(&p->caller_sleeps, 0);
    }
}

/* ---------------------------------------------------------------- default thread count */

/* "<quota> <period>" (v2 cpu.max; quota "max" = none) or two files (v1); 0 when none or unreadable */
static int read_limit_v2(const char *file) {
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char q[32] = {0};
    long period = 0;
    int ok = fscanf(f, "%31s %ld", q, &period) == 2;
    fclose(f);
    if (!ok || !strcmp(q, "max") || period <= 0) return 0;
    long quota = atol(q);
    if (quota <= 0) return 0;
    long cpus = (quota + period - 1) / period;
    return cpus > INT_MAX ? INT_MAX : (int)cpus;
}

static int read_limit_v1(const char *dir) {
    char file[8500];
    long quota = 0, period = 0;
    snprintf(file, sizeof file, "%s/cpu.cfs_quota_us", dir);
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    int ok = fscanf(f, "%ld", &quota) == 1;
    fclose(f);
    snprintf(file, sizeof file, "%s/cpu.cfs_period_us", dir);
    f = fopen(file, "r");
    if (!f) return 0;
    ok = ok && fscanf(f, "%ld", &period) == 1;
    fclose(f);
    if (!ok || quota <= 0 || period <= 0) return 0;
    long cpus = (quota + period - 1) / period;
    return cpus > INT_MAX ? INT_MAX : (int)cpus;
}

/* smallest limit over <mount><path> and its ancestors up to <mount> (0: none) */
static int walk_limit(const char *mount, const char *path, int v2) {
    char dir[8448];
    int best = 0;
    snprintf(dir, sizeof dir, "%s%s", mount, path);
    size_t base = strlen(mount);
    for (;;) {
        size_t len = strlen(dir);
        while (len > base && dir[len - 1] == '/') dir[--len] = 0;
        int lim;
        if (v2) {
            char file[8464];
            snprintf(file, sizeof file, "%s/cpu.max", dir);
            lim = read_limit_v2(file);
        } else {
            lim = read_limit_v1(dir);
        }
        if (lim > 0 && (best == 0 || lim < best)) best = lim;
        char *slash = strrchr(dir + base, '/');
        if (!slash) break;
        *slash = 0;
    }
    return best;
}

/* The CPU limit of the cgroups in proc_cgroup (the text of /proc/self/cgroup) under the cgroup
 * file systems mounted at sysfs (normally /sys/fs/cgroup); 0 when there is none. Exported for the
 * native tests, which point it at a fake tree. */
int sp_cgroup_cpu_limit(const char *sysfs, const char *proc_cgroup);
int sp_cgroup_cpu_limit(const char *sysfs, const char *proc_cgroup) {
    int best = 0;
    const char *line = proc_cgroup;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[4096];
        if (len < sizeof buf) { /* "<id>:<controllers>:<path>" */
            memcpy(buf, line, len);
            buf[len] = 0;
            char *c1 = strchr(buf, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c2) {
                *c1 = 0;
                *c2 = 0;
                const char *ctrl = c1 + 1, *path = c2 + 1;
                char mount[4352];
                int lim = 0;
                if (!strcmp(buf, "0") && !*ctrl) { /* v2 unified hierarchy */
                    lim = walk_limit(sysfs, path, 1);
                    if (!lim) { snprintf(mount, sizeof mount, "%s/unified", sysfs); lim = walk_limit(mount, path, 1); }
                } else {
                    /* v1: the cpu controller, mounted as cpu, cpu,cpuacct or cpuacct,cpu */
                    char list[256];
                    snprintf(list, sizeof list, ",%s,", ctrl);
                    if (strstr(list, ",cpu,")) {
                        const char *names[] = {ctrl, "cpu", "cpu,cpuacct", "cpuacct,cpu"};
                        for (int k = 0; k < 4 && !lim; k++) {
                            snprintf(mount, sizeof mount, "%s/%s", sysfs, names[k]);
                            lim = walk_limit(mount, path, 0); /* the cgroup and its ancestors */
                        }
                    }
                }
                if (lim > 0 && (best == 0 || lim < best)) best = lim;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return best;
}

int sp_default_threads(void) {
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) {
        char text[8192];
        size_t len = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[len] = 0;
        int lim = sp_cgroup_cpu_limit("/sys/fs/cgroup", text);
        if (lim > 0 && lim < n) n = lim;
    }
    return n < 1 ? 1 : n;
}
