package io.spectro.graph;

import io.spectro.SpectroException;
import io.spectro.util.Kernels;
import io.spectro.util.Parallel;
import io.spectro.util.Progress;
import io.spectro.util.Vectors;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * k-nearest-neighbour graphs under squared Euclidean distance.
 * <ul>
 * <li>exact: blocked brute force (query blocks x reference blocks, one query against four
 * references per Vector API kernel call), multithreaded over query blocks; O(n^2 d).</li>
 * <li>approximate: a random-projection forest (Annoy-style splits between two random points) seeds
 * every list from brute force within leaves, then NN-descent rounds (neighbours of neighbours,
 * only pairs touching a list entry that is new since the last round) refine it; O(n d (T L + r k^2)).
 * Its recall against the exact lists is measured on a sample by {@link #recall}.</li>
 * </ul>
 * Deterministic for a seed, whatever the number of threads.
 */
public final class Knn {
    public enum Method { AUTO, EXACT, APPROXIMATE }

    /**
     * @param k neighbours per row (45 in published work)
     * @param method AUTO picks EXACT up to {@code exactLimit} rows, APPROXIMATE above
     * @param exactLimit the AUTO switch point
     * @param trees random-projection trees of the approximate method
     * @param leafSize rows per leaf (0 = max(2k+10, 64))
     * @param iterations NN-descent rounds at most
     * @param threads worker threads (0 = all processors)
     * @param seed random seed of the forest
     */
    public record Options(int k, Method method, int exactLimit, int trees, int leafSize, int iterations, int threads,
                          long seed) {
        public Options {
            if (k < 1) throw new SpectroException("knn option k must be >= 1, got " + k);
            if (method == null) throw new SpectroException("knn option method is missing");
            if (exactLimit < 0) throw new SpectroException("knn option exactLimit must be >= 0, got " + exactLimit);
            if (trees < 1) throw new SpectroException("knn option trees must be >= 1, got " + trees);
            if (leafSize < 0) throw new SpectroException("knn option leafSize must be >= 0, got " + leafSize);
            if (iterations < 0) throw new SpectroException("knn option iterations must be >= 0, got " + iterations);
            if (threads < 0) throw new SpectroException("knn option threads must be >= 0, got " + threads);
        }

        public static Options defaults() {
            return new Options(45, Method.AUTO, 60_000, 8, 0, 6, 0, 1L);
        }

        public Options withK(int k) { return new Options(k, method, exactLimit, trees, leafSize, iterations, threads, seed); }

        public Options withMethod(Method m) { return new Options(k, m, exactLimit, trees, leafSize, iterations, threads, seed); }

        int threadCount() { return threads == 0 ? Parallel.defaultThreads() : threads; }

        int leaf() { return leafSize > 0 ? leafSize : Math.max(2 * k + 10, 64); }
    }

    private Knn() {}

    public static KnnGraph fit(Vectors v, Options o) { return fit(v, o, null); }

    /** As {@link #fit(Vectors, Options)}, advancing {@code progress} (may be null; total (trees + iterations) × rows) by the rows of each tree and of each NN-descent round (the rounds left when it converges early are never counted, so the ETA is an upper bound). */
    public static KnnGraph fit(Vectors v, Options o, Progress progress) {
        if (v.rows() <= o.k())
            throw new SpectroException("too few vectors for k: " + v.rows() + " rows, k = " + o.k()
                    + " needs at least k+1 rows");
        Method m = o.method() == Method.AUTO ? (v.rows() <= o.exactLimit() ? Method.EXACT : Method.APPROXIMATE) : o.method();
        return m == Method.EXACT ? exact(v, o.k(), o.threadCount()) : approximate(v, o, progress);
    }

    // ---- bounded max-heaps, one per row, stored in flat arrays ----

    /** Heap of row q in (idx, dist) at base q*k, size sz; returns new size. Max at the root. */
    private static int heapPush(int[] idx, float[] dist, byte[] fresh, int base, int k, int sz, int j, float d) {
        if (sz < k) {
            int c = sz;
            while (c > 0) {
                int p = (c - 1) >> 1;
                if (!greater(d, j, dist[base + p], idx[base + p])) break;
                idx[base + c] = idx[base + p];
                dist[base + c] = dist[base + p];
                if (fresh != null) fresh[base + c] = fresh[base + p];
                c = p;
            }
            idx[base + c] = j;
            dist[base + c] = d;
            if (fresh != null) fresh[base + c] = 1;
            return sz + 1;
        }
        // replace the root and sift down
        int c = 0;
        while (true) {
            int l = 2 * c + 1;
            if (l >= k) break;
            int r = l + 1, big = l;
            if (r < k && greater(dist[base + r], idx[base + r], dist[base + l], idx[base + l])) big = r;
            if (!greater(dist[base + big], idx[base + big], d, j)) break;
            idx[base + c] = idx[base + big];
            dist[base + c] = dist[base + big];
            if (fresh != null) fresh[base + c] = fresh[base + big];
            c = big;
        }
        idx[base + c] = j;
        dist[base + c] = d;
        if (fresh != null) fresh[base + c] = 1;
        return k;
    }

    private static boolean greater(float d1, int i1, float d2, int i2) {
        return d1 > d2 || (d1 == d2 && i1 > i2);
    }

    /** True when (d, j) would enter the full heap at base and j is not already in it. */
    private static boolean admits(int[] idx, float[] dist, int base, int k, int sz, int j, float d) {
        if (sz == k && !greater(dist[base], idx[base], d, j)) return false;
        for (int a = 0; a < sz; a++) if (idx[base + a] == j) return false;
        return true;
    }

    private static KnnGraph sorted(int n, int k, int[] idx, float[] dist) {
        Integer[] order = new Integer[k];
        int[] ti = new int[k];
        float[] td = new float[k];
        for (int q = 0; q < n; q++) {
            int base = q * k;
            for (int a = 0; a < k; a++) order[a] = a;
            final int b = base;
            Arrays.sort(order, (x, y) -> {
                int c = Float.compare(dist[b + x], dist[b + y]);
                return c != 0 ? c : Integer.compare(idx[b + x], idx[b + y]);
            });
            for (int a = 0; a < k; a++) {
                ti[a] = idx[base + order[a]];
                td[a] = Math.max(0f, dist[base + order[a]]);
            }
            System.arraycopy(ti, 0, idx, base, k);
            System.arraycopy(td, 0, dist, base, k);
        }
        return new KnnGraph(n, k, idx, dist);
    }

    // ---- exact ----

    public static KnnGraph exact(Vectors v, int k, int threads) {
        int n = v.rows();
        if (n <= k) throw new SpectroException("too few vectors for k: " + n + " rows, k = " + k);
        int[] idx = new int[n * k];
        float[] dist = new float[n * k];
        exactInto(v, null, k, threads, idx, dist);
        return sorted(n, k, idx, dist);
    }

    /** Exact neighbours (among all rows) of the given query rows; queries[i]'s list at i*k. */
    public static KnnGraph exactFor(Vectors v, int[] queries, int k, int threads) {
        int[] idx = new int[queries.length * k];
        float[] dist = new float[queries.length * k];
        exactInto(v, queries, k, threads, idx, dist);
        return sorted(queries.length, k, idx, dist);
    }

    private static void exactInto(Vectors v, int[] queries, int k, int threads, int[] idx, float[] dist) {
        int n = v.rows(), d = v.cols();
        float[] x = v.data();
        float[] norms = new float[n];
        for (int i = 0; i < n; i++) norms[i] = Kernels.dot(x, i * d, x, i * d, d);
        int nq = queries == null ? n : queries.length;
        final int QB = 32, RB = 1024;
        int blocks = (nq + QB - 1) / QB;
        Parallel.forEach(blocks, threads, blk -> {
            int q0 = blk * QB, q1 = Math.min(nq, q0 + QB);
            int[] size = new int[q1 - q0];
            float[] dots = new float[4];
            for (int r0 = 0; r0 < n; r0 += RB) {
                int r1 = Math.min(n, r0 + RB);
                for (int qi = q0; qi < q1; qi++) {
                    int q = queries == null ? qi : queries[qi];
                    int base = qi * k, qo = q * d;
                    float nqv = norms[q];
                    int sz = size[qi - q0];
                    int j = r0;
                    for (; j + 3 < r1; j += 4) {
                        Kernels.dot4(x, qo, x, j * d, (j + 1) * d, (j + 2) * d, (j + 3) * d, d, dots, 0);
                        for (int t = 0; t < 4; t++) {
                            int jj = j + t;
                            if (jj == q) continue;
                            float dd = nqv + norms[jj] - 2f * dots[t];
                            if (sz < k || greater(dist[base], idx[base], dd, jj))
                                sz = heapPush(idx, dist, null, base, k, sz, jj, dd);
                        }
                    }
                    for (; j < r1; j++) {
                        if (j == q) continue;
                        float dd = nqv + norms[j] - 2f * Kernels.dot(x, qo, x, j * d, d);
                        if (sz < k || greater(dist[base], idx[base], dd, j))
                            sz = heapPush(idx, dist, null, base, k, sz, j, dd);
                    }
                    size[qi - q0] = sz;
                }
            }
        });
    }

    // ---- approximate: random-projection forest + NN-descent ----

    /** Counters of the last approximate run (for benchmarks and logs). */
    public record Stats(int trees, int leafSize, int rounds, java.util.List<Long> updatesPerRound) {}

    private static volatile Stats lastStats;

    public static Stats lastStats() { return lastStats; }

    public static KnnGraph approximate(Vectors v, Options o) { return approximate(v, o, null); }

    static KnnGraph approximate(Vectors v, Options o, Progress progress) {
        int n = v.rows(), d = v.cols(), k = o.k(), threads = o.threadCount();
        if (n <= k) throw new SpectroException("too few vectors for k: " + n + " rows, k = " + k);
        float[] x = v.data();
        int[] idx = new int[n * k];
        float[] dist = new float[n * k];
        byte[] fresh = new byte[n * k];
        int[] size = new int[n];
        int leaf = Math.max(o.leaf(), k + 1);
        for (int t = 0; t < o.trees(); t++) {
            int[] perm = new int[n];
            for (int i = 0; i < n; i++) perm[i] = i;
            int[] leaves = buildTree(x, n, d, perm, leaf, new SplittableRandom(o.seed() * 1_000_003L + t));
            int nl = leaves.length / 2;
            Parallel.forEach(nl, threads, li -> {
                int lo = leaves[2 * li], hi = leaves[2 * li + 1];
                for (int a = lo; a < hi; a++) {
                    int i = perm[a];
                    for (int b = a + 1; b < hi; b++) {
                        int j = perm[b];
                        float dd = Kernels.sqdist(x, i * d, x, j * d, d);
                        if (admits(idx, dist, i * k, k, size[i], j, dd)) size[i] = heapPush(idx, dist, fresh, i * k, k, size[i], j, dd);
                        if (admits(idx, dist, j * k, k, size[j], i, dd)) size[j] = heapPush(idx, dist, fresh, j * k, k, size[j], i, dd);
                    }
                }
            });
            if (progress != null) {
                progress.label("tree " + (t + 1));
                progress.advance(n);
            }
        }
        // rows whose lists are short (tiny leaves cannot happen since leaf > k, but be safe): fill with random rows
        SplittableRandom fill = new SplittableRandom(o.seed() ^ 0x5DEECE66DL);
        for (int i = 0; i < n; i++) {
            while (size[i] < k) {
                int j = fill.nextInt(n);
                if (j == i) continue;
                float dd = Kernels.sqdist(x, i * d, x, j * d, d);
                if (admits(idx, dist, i * k, k, size[i], j, dd)) size[i] = heapPush(idx, dist, fresh, i * k, k, size[i], j, dd);
            }
        }
        long[] updates = new long[o.iterations()];
        int rounds = 0;
        final int CHUNK = 256;
        for (int it = 0; it < o.iterations(); it++) {
            if (progress != null) progress.label("NN-descent round " + (it + 1));
            int[] snapIdx = idx.clone();
            byte[] snapFresh = fresh.clone();
            Arrays.fill(fresh, (byte) 0);
            AtomicLong changed = new AtomicLong();
            int chunks = (n + CHUNK - 1) / CHUNK;
            ThreadLocal<int[]> stamps = ThreadLocal.withInitial(() -> {
                int[] s = new int[n];
                Arrays.fill(s, -1);
                return s;
            });
            Parallel.forEach(chunks, threads, c -> {
                int[] stamp = stamps.get();
                long local = 0;
                for (int i = c * CHUNK, end = Math.min(n, i + CHUNK); i < end; i++) {
                    int base = i * k;
                    stamp[i] = i;
                    for (int a = 0; a < k; a++) stamp[snapIdx[base + a]] = i;
                    for (int a = 0; a < k; a++) {
                        int j = snapIdx[base + a];
                        boolean jNew = snapFresh[base + a] != 0;
                        int jb = j * k;
                        for (int b = 0; b < k; b++) {
                            int m = snapIdx[jb + b];
                            if (stamp[m] == i) continue;
                            if (!jNew && snapFresh[jb + b] == 0) continue;
                            stamp[m] = i;
                            float dd = Kernels.sqdist(x, i * d, x, m * d, d);
                            if (greater(dist[base], idx[base], dd, m)) {
                                heapPush(idx, dist, fresh, base, k, k, m, dd);
                                local++;
                            }
                        }
                    }
                }
                changed.addAndGet(local);
                if (progress != null) {
                    synchronized (progress) {
                        progress.advance(Math.min(n, c * CHUNK + CHUNK) - c * CHUNK);
                    }
                }
            });
            updates[it] = changed.get();
            rounds++;
            if (progress != null) progress.label("round " + rounds + " done: " + changed.get() + " updates");
            if (changed.get() < 0.001 * n * k) break;
        }
        lastStats = new Stats(o.trees(), leaf, rounds, Arrays.stream(Arrays.copyOf(updates, rounds)).boxed().toList());
        return sorted(n, k, idx, dist);
    }

    /** Splits perm into leaves of at most leafSize rows; returns [lo0, hi0, lo1, hi1, ...]. */
    private static int[] buildTree(float[] x, int n, int d, int[] perm, int leafSize, SplittableRandom rnd) {
        int[] out = new int[Math.max(4, 4 * (n / Math.max(1, leafSize / 2) + 2))];
        int nOut = 0;
        int[] stack = new int[128];
        int sp = 0;
        stack[sp++] = 0;
        stack[sp++] = n;
        float[] normal = new float[d];
        while (sp > 0) {
            int hi = stack[--sp], lo = stack[--sp];
            if (hi - lo <= leafSize) {
                if (nOut + 2 > out.length) out = Arrays.copyOf(out, out.length * 2);
                out[nOut++] = lo;
                out[nOut++] = hi;
                continue;
            }
            int a = perm[lo + rnd.nextInt(hi - lo)], b = perm[lo + rnd.nextInt(hi - lo)];
            int tries = 0;
            while (b == a && tries++ < 8) b = perm[lo + rnd.nextInt(hi - lo)];
            float off = 0;
            for (int c = 0; c < d; c++) {
                float xa = x[a * d + c], xb = x[b * d + c];
                normal[c] = xa - xb;
                off += (xa - xb) * (xa + xb) * 0.5f;
            }
            int i = lo, j = hi - 1;
            while (i <= j) {
                float s = Kernels.dot(x, perm[i] * d, normal, 0, d) - off;
                boolean left = s > 0 || (s == 0 && rnd.nextBoolean());
                if (left) i++;
                else {
                    int t = perm[i];
                    perm[i] = perm[j];
                    perm[j] = t;
                    j--;
                }
            }
            int mid = i;
            if (mid - lo < 1 || hi - mid < 1 || Math.min(mid - lo, hi - mid) < (hi - lo) / 50) {
                // degenerate split (duplicates or a bad pair): split a random shuffle in half
                for (int s = hi - 1; s > lo; s--) {
                    int r = lo + rnd.nextInt(s - lo + 1);
                    int t = perm[s];
                    perm[s] = perm[r];
                    perm[r] = t;
                }
                mid = (lo + hi) >>> 1;
            }
            if (sp + 4 > stack.length) stack = Arrays.copyOf(stack, stack.length * 2);
            stack[sp++] = lo;
            stack[sp++] = mid;
            stack[sp++] = mid;
            stack[sp++] = hi;
        }
        return Arrays.copyOf(out, nOut);
    }

    /**
     * Recall of {@code g} on {@code samples} rows drawn with the seed: the fraction of their exact k
     * nearest neighbours that g holds.
     */
    public static double recall(Vectors v, KnnGraph g, int samples, long seed, int threads) {
        int n = v.rows();
        int s = Math.min(samples, n);
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] pick = rnd.ints(0, n).distinct().limit(s).toArray();
        KnnGraph ex = exactFor(v, pick, g.k(), threads);
        return g.recallAgainst(pick, ex);
    }
}
