/*
 * pool.h -- the CPU backend's threads: one small pool per model, parallel loops over chunks that
 * the threads claim from a shared counter.
 *
 * Why not OpenMP: an OpenMP parallel region ends in a barrier that waits for every thread of the
 * team, and libgomp's threads spin (GOMP_SPINCOUNT, only settable by environment before the library
 * loads) before they sleep. On a host where other processes keep every core busy, one descheduled
 * thread then holds up every op of a layer for a scheduler time slice, and the spinning threads burn
 * the time slice that the others need: 2.6x-45x slower than one thread on the 2-core test host.
 * Here the calling thread works too and returns as soon as every chunk is DONE: a helper that has
 * not started yet finds nothing left to claim, so nobody waits for a thread that is not running;
 * helpers spin only briefly (SP_POOL_SPIN_NS) and then sleep on a futex.
 *
 * Determinism: a loop body computes each item [i] on its own, whatever chunk or thread it is in
 * (callers keep every reduction inside one item), so results are bit-identical for any thread
 * count, chunking, or the serial path taken below the work threshold.
 */
#ifndef SPECTRO_POOL_H
#define SPECTRO_POOL_H

/* body of a loop: items [i0, i1) on thread tid (0 = the calling thread, < sp_pool_threads()) */
typedef void (*sp_range_fn)(void *ctx, long i0, long i1, int tid);

typedef struct sp_pool sp_pool;

/* Below this estimated work (about one flop or one float touched per unit) a loop runs on the
 * calling thread alone: waking a helper costs more than it saves (measured, docs/benchmarks.md).
 * sp_par_min_work starts at SP_PAR_MIN_WORK; the native tests set it to 0 (every loop split) to
 * check that the threshold does not change results, bench_cpu --min-work to measure it. */
#define SP_PAR_MIN_WORK (1L << 17)
extern long sp_par_min_work;

/* A pool of nthreads threads in all (nthreads - 1 helpers); fewer helpers when the system refuses
 * to create more (sp_pool_size tells). NULL only when out of memory. */
sp_pool *sp_pool_create(int nthreads);
void sp_pool_destroy(sp_pool *p);
int sp_pool_size(const sp_pool *p);

/* The pool that loops started by the calling thread use (thread-local; NULL: serial). */
void sp_pool_use(sp_pool *p);
sp_pool *sp_pool_current(void);
/* threads of the current pool (1 without one) */
int sp_pool_threads(void);

/* fn over items [0, n) in chunks of at least `grain` items; `work` is the estimated work of the
 * whole loop (see SP_PAR_MIN_WORK). Returns when every item is done. */
void sp_parallel_for(long n, long grain, long work, sp_range_fn fn, void *ctx);

/* The number of threads a model uses by default: the CPUs this process may run on
 * (sched_getaffinity), capped by a cgroup CPU quota (v2 cpu.max or v1 cfs_quota_us / period,
 * rounded up) of its own cgroup or an ancestor; at least 1. */
int sp_default_threads(void);

#endif
