/*
 * test_pool.c -- native tests of the CPU backend's threads (pool.c), run by `make test`:
 *  - sp_parallel_for runs every item exactly once, for chunkings around the thread count, and two
 *    pools used at once from two threads do not mix their loops;
 *  - the default thread count follows the affinity mask (sched_setaffinity) and a cgroup quota
 *    (v2 cpu.max, v1 cfs_quota_us / cfs_period_us, on fake trees under a temp directory).
 */
#define _GNU_SOURCE
#include "../src/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sp_cgroup_cpu_limit(const char *sysfs, const char *proc_cgroup); /* pool.c, exported for tests */

static int n_pass = 0, n_fail = 0;
#define CHECK(cond, ...) do { if (cond) n_pass++; else { n_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

typedef struct { _Atomic int *hits; _Atomic int bad_tid; int nt; } count_args;

static void count_range(void *ctx, long i0, long i1, int tid) {
    count_args *a = ctx;
    if (tid < 0 || tid >= a->nt) atomic_store(&a->bad_tid, 1);
    for (long i = i0; i < i1; i++) atomic_fetch_add(&a->hits[i], 1);
}

/* every item once; returns 1 when so */
static int loop_once(long n, long grain, int nt) {
    _Atomic int *hits = calloc((size_t)n + 1, sizeof *hits);
    count_args a = {hits, 0, nt};
    sp_parallel_for(n, grain, 1L << 40, count_range, &a);
    int ok = !atomic_load(&a.bad_tid);
    for (long i = 0; i < n; i++) ok &= atomic_load(&hits[i]) == 1;
    free(hits);
    return ok;
}

static void *hammer(void *arg) { /* many loops on this thread's own pool */
    sp_pool *p = arg;
    sp_pool_use(p);
    int ok = 1;
    for (int r = 0; r < 300; r++) ok &= loop_once(1 + r % 97, 1 + r % 3, sp_pool_size(p));
    sp_pool_use(NULL);
    return ok ? (void *)1 : NULL;
}

static void test_loops(void) {
    for (int nt = 1; nt <= 4; nt++) {
        sp_pool *p = sp_pool_create(nt);
        CHECK(p && sp_pool_size(p) == nt, "pool of %d threads (got %d)", nt, p ? sp_pool_size(p) : -1);
        sp_pool_use(p);
        CHECK(sp_pool_threads() == nt && sp_pool_current() == p, "current pool");
        int ok = 1;
        long sizes[] = {1, 2, 3, 7, 8, 9, 31, 100, 1000, 100003};
        for (int s = 0; s < 10; s++)
            for (long grain = 1; grain <= 5; grain += 2) ok &= loop_once(sizes[s], grain, nt);
        CHECK(ok, "%d threads: every item exactly once", nt);
        sp_pool_destroy(p);
        CHECK(sp_pool_current() == NULL && sp_pool_threads() == 1, "destroy clears the current pool");
    }
    sp_pool *a = sp_pool_create(3), *b = sp_pool_create(2);
    pthread_t ta, tb;
    void *ra = NULL, *rb = NULL;
    pthread_create(&ta, NULL, hammer, a);
    pthread_create(&tb, NULL, hammer, b);
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    CHECK(ra && rb, "two pools used at once from two threads");
    sp_pool_destroy(a);
    sp_pool_destroy(b);
    CHECK(loop_once(1000, 1, 1), "no pool: the loop runs on the calling thread");
}

static void test_default_threads(void) {
    cpu_set_t orig, one;
    if (sched_getaffinity(0, sizeof orig, &orig) != 0) { CHECK(0, "sched_getaffinity failed"); return; }
    int n = CPU_COUNT(&orig), d = sp_default_threads();
    CHECK(d >= 1 && d <= n, "default threads %d within [1, %d allowed CPUs]", d, n);
    int first = 0;
    while (!CPU_ISSET(first, &orig)) first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof one, &one) == 0) {
        CHECK(sp_default_threads() == 1, "one allowed CPU: default threads %d", sp_default_threads());
        sched_setaffinity(0, sizeof orig, &orig);
    } else {
        CHECK(0, "sched_setaffinity to one CPU failed");
    }
    CHECK(sp_default_threads() == d, "default threads back to %d after the mask is restored", d);
}

static void put(const char *root, const char *rel, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) { *s = 0; mkdir(path, 0755); *s = '/'; }
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

static void test_cgroup(void) {
    char root[] = "/tmp/spectro-cgroup-XXXXXX";
    if (!mkdtemp(root)) { CHECK(0, "mkdtemp"); return; }
    /* v2: a quota of 1.5 CPUs on the parent, none on the leaf -> 2 */
    put(root, "a/cpu.max", "150000 100000\n");
    put(root, "a/b/cpu.max", "max 100000\n");
    CHECK(sp_cgroup_cpu_limit(root, "0::/a/b\n") == 2, "v2 parent quota 1.5 -> %d", sp_cgroup_cpu_limit(root, "0::/a/b\n"));
    put(root, "a/b/cpu.max", "50000 100000\n");
    CHECK(sp_cgroup_cpu_limit(root, "0::/a/b\n") == 1, "v2 leaf quota 0.5 -> 1");
    CHECK(sp_cgroup_cpu_limit(root, "0::/\n") == 0, "v2 root without cpu.max: no limit");
    CHECK(sp_cgroup_cpu_limit(root, "0::/c\n") == 0, "v2 missing cgroup: no limit");
    /* v1: cpu,cpuacct controller with quota 3 x period; -1 means none */
    put(root, "cpu,cpuacct/x/cpu.cfs_quota_us", "300000\n");
    put(root, "cpu,cpuacct/x/cpu.cfs_period_us", "100000\n");
    const char *v1 = "12:pids:/x\n4:cpu,cpuacct:/x\n1:name=systemd:/x\n";
    CHECK(sp_cgroup_cpu_limit(root, v1) == 3, "v1 quota 3 -> %d", sp_cgroup_cpu_limit(root, v1));
    put(root, "cpu,cpuacct/x/cpu.cfs_quota_us", "-1\n");
    CHECK(sp_cgroup_cpu_limit(root, v1) == 0, "v1 quota -1: no limit");
    CHECK(sp_cgroup_cpu_limit(root, "") == 0 && sp_cgroup_cpu_limit(root, "garbage") == 0, "empty or bad text");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) printf("note: could not remove %s\n", root);
}

int main(void) {
    test_loops();
    test_default_threads();
    test_cgroup();
    printf("native pool: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
