package io.spectro.util;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;

/** A minimal work-sharing loop over task indices on plain threads (no shared pool state). */
public final class Parallel {
    private Parallel() {}

    public static int defaultThreads() {
        return Math.max(1, Runtime.getRuntime().availableProcessors());
    }

    /** Runs body(t) for t in [0, tasks) on {@code threads} threads; rethrows the first failure. */
    public static void forEach(int tasks, int threads, IntConsumer body) {
        int t = Math.max(1, Math.min(threads, tasks));
        if (t == 1) {
            for (int i = 0; i < tasks; i++) body.accept(i);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] pool = new Thread[t];
        for (int w = 0; w < t; w++) {
            pool[w] = Thread.ofPlatform().name("spectro-worker-" + w).start(() -> {
                int i;
                while (failure.get() == null && (i = next.getAndIncrement()) < tasks) {
                    try {
                        body.accept(i);
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }
            });
        }
        for (Thread th : pool) {
            try {
                th.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
        Throwable e = failure.get();
        if (e instanceof RuntimeException re) throw re;
        if (e instanceof Error er) throw er;
        if (e != null) throw new IllegalStateException(e);
    }
}
