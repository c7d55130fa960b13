package io.spectro.graph;

import io.spectro.SpectroException;
import io.spectro.util.Kernels;
import io.spectro.util.Parallel;
import io.spectro.util.Progress;
import io.spectro.util.MappedVectors;
import io.spectro.util.NodeMap;
import io.spectro.util.Rows;
import io.spectro.util.Scratch;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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

    private static final ValueLayout.OfInt I = KnnGraph.I32;
    private static final ValueLayout.OfFloat F = KnnGraph.F32;
    private static final ValueLayout.OfByte B = ValueLayout.JAVA_BYTE;

    /**
     * The rows as one float32 segment, row-major: a mapped file's data as it is, heap vectors copied off
     * the heap (native memory, freed when unreachable).
     */
    static MemorySegment data(Rows v) {
        if (v instanceof MappedVectors m) return m.data();
        int n = v.rows(), d = v.cols(), br = v.blockRows();
        MemorySegment s = Arena.ofAuto().allocate(4L * n * d, 64);
        float[] buf = new float[br * d];
        for (int r0 = 0; r0 < n; r0 += br) {
            int r1 = Math.min(n, r0 + br);
            v.copy(r0, r1, buf);
            MemorySegment.copy(buf, 0, s, F, 4L * r0 * d, (r1 - r0) * d);
        }
        return s;
    }

    public static KnnGraph fit(Rows v, Options o) { return fit(v, o, null, Scratch.offHeap()); }

    /**
     * As {@link #fit(Rows, Options)}, advancing {@code progress} (may be null; total (trees + iterations) × rows)
     * by the rows of each tree and of each NN-descent round (the rounds left when it converges early are never
     * counted, so the ETA is an upper bound). The lists, distances and the NN-descent working set are allocated
     * from {@code scratch} (long-indexed, off the heap); the heap holds O(threads · k²) ints and the forest's
     * leaf bounds (O(N / leaf)).
     */
    public static KnnGraph fit(Rows v, Options o, Progress progress, Scratch scratch) {
        if (v.rows() <= o.k())
            throw new SpectroException("too few vectors for k: " + v.rows() + " rows, k = " + o.k()
                    + " needs at least k+1 rows");
        Method m = o.method() == Method.AUTO ? (v.rows() <= o.exactLimit() ? Method.EXACT : Method.APPROXIMATE) : o.method();
        return m == Method.EXACT ? exact(v, o.k(), o.threadCount(), scratch) : approximate(v, o, progress, scratch);
    }

    // ---- bounded max-heaps, one per row, in flat heap arrays: the lists of the rows being worked on (a leaf, a
    // query block, one row) are copied from the long-indexed segments into a Local, updated there, copied back ----

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

    /** Heap copies of some rows' lists (and vectors), reused by one thread. */
    private static final class Local {
        int[] rows = new int[0], idx = new int[0], size = new int[0];
        float[] dist = new float[0], vec = new float[0], dd = new float[4];
        int[] cand = new int[0];
        byte[] fresh = new byte[0];

        Local candidates(int m) {
            if (cand.length < m) cand = new int[m];
            return this;
        }

        Local ensure(int m, int k, int d) {
            if (rows.length < m) {
                rows = new int[m];
                size = new int[m];
                idx = new int[m * k];
                dist = new float[m * k];
                fresh = new byte[m * k];
                vec = new float[m * d];
            }
            return this;
        }

        /** Copies row's list (and its size, when sizes is not null) into slot. */
        void load(int slot, int row, int k, MemorySegment sIdx, MemorySegment sDist, MemorySegment sFresh, MemorySegment sizes) {
            long at = (long) row * k;
            rows[slot] = row;
            MemorySegment.copy(sIdx, I, 4 * at, idx, slot * k, k);
            MemorySegment.copy(sDist, F, 4 * at, dist, slot * k, k);
            if (sFresh != null) MemorySegment.copy(sFresh, B, at, fresh, slot * k, k);
            size[slot] = sizes == null ? k : sizes.getAtIndex(I, row);
        }

        void store(int slot, int k, MemorySegment sIdx, MemorySegment sDist, MemorySegment sFresh, MemorySegment sizes) {
            long at = (long) rows[slot] * k;
            MemorySegment.copy(idx, slot * k, sIdx, I, 4 * at, k);
            MemorySegment.copy(dist, slot * k, sDist, F, 4 * at, k);
            if (sFresh != null) MemorySegment.copy(fresh, slot * k, sFresh, B, at, k);
            if (sizes != null) sizes.setAtIndex(I, rows[slot], size[slot]);
        }
    }

    /** Sorts every row's list nearest first (ties by index), in place; distances clamped at 0. */
    private static KnnGraph sorted(int n, int k, MemorySegment idx, MemorySegment dist) {
        return sorted(n, k, idx, dist, null, idx, dist);
    }

    /**
     * As {@link #sorted(int, int, MemorySegment, MemorySegment)}, for lists numbered in another order: with
     * {@code perm} (row r of idx/dist is row perm[r] of the input, and so are the ids in the lists) row r's list,
     * its ids mapped through perm and then sorted, goes to row perm[r] of outIdx/outDist.
     */
    private static KnnGraph sorted(int n, int k, MemorySegment idx, MemorySegment dist, MemorySegment perm,
                                   MemorySegment outIdx, MemorySegment outDist) {
        Integer[] order = new Integer[k];
        int[] ri = new int[k], ti = new int[k];
        float[] rd = new float[k], td = new float[k];
        for (int q = 0; q < n; q++) {
            long base = (long) q * k;
            MemorySegment.copy(idx, I, 4 * base, ri, 0, k);
            MemorySegment.copy(dist, F, 4 * base, rd, 0, k);
            if (perm != null) for (int a = 0; a < k; a++) ri[a] = perm.getAtIndex(I, ri[a]);
            for (int a = 0; a < k; a++) order[a] = a;
            Arrays.sort(order, (x, y) -> {
                int c = Float.compare(rd[x], rd[y]);
                return c != 0 ? c : Integer.compare(ri[x], ri[y]);
            });
            for (int a = 0; a < k; a++) {
                ti[a] = ri[order[a]];
                td[a] = Math.max(0f, rd[order[a]]);
            }
            long out = perm == null ? base : (long) perm.getAtIndex(I, q) * k;
            MemorySegment.copy(ti, 0, outIdx, I, 4 * out, k);
            MemorySegment.copy(td, 0, outDist, F, 4 * out, k);
        }
        return new KnnGraph(n, k, outIdx, outDist);
    }

    // ---- exact ----

    public static KnnGraph exact(Rows v, int k, int threads) { return exact(v, k, threads, Scratch.offHeap()); }

    static KnnGraph exact(Rows v, int k, int threads, Scratch scratch) {
        int n = v.rows();
        if (n <= k) throw new SpectroException("too few vectors for k: " + n + " rows, k = " + k);
        MemorySegment idx = scratch.allocate(4L * n * k), dist = scratch.allocate(4L * n * k);
        exactInto(data(v), n, v.cols(), null, k, threads, idx, dist);
        return sorted(n, k, idx, dist);
    }

    /** Exact neighbours (among all rows) of the given query rows; queries[i]'s list at i*k. */
    public static KnnGraph exactFor(Rows v, int[] queries, int k, int threads) {
        Scratch s = Scratch.offHeap();
        MemorySegment idx = s.allocate(4L * queries.length * k), dist = s.allocate(4L * queries.length * k);
        exactInto(data(v), v.rows(), v.cols(), queries, k, threads, idx, dist);
        return sorted(queries.length, k, idx, dist);
    }

    private static void exactInto(MemorySegment x, int n, int d, int[] queries, int k, int threads, MemorySegment idx,
                                  MemorySegment dist) {
        long row = 4L * d;
        MemorySegment norms = Scratch.offHeap().allocate(4L * n);
        for (int i = 0; i < n; i++) norms.setAtIndex(F, i, Kernels.dot(x, i * row, x, i * row, d));
        int nq = queries == null ? n : queries.length;
        final int QB = 32, RB = 1024;
        int blocks = (nq + QB - 1) / QB;
        Parallel.forEach(blocks, threads, blk -> {
            int q0 = blk * QB, q1 = Math.min(nq, q0 + QB);
            int[] size = new int[q1 - q0];
            int[] bIdx = new int[(q1 - q0) * k];
            float[] bDist = new float[(q1 - q0) * k];
            float[] dots = new float[4], rn = new float[RB];
            for (int r0 = 0; r0 < n; r0 += RB) {
                int r1 = Math.min(n, r0 + RB);
                MemorySegment.copy(norms, F, 4L * r0, rn, 0, r1 - r0);
                for (int qi = q0; qi < q1; qi++) {
                    int q = queries == null ? qi : queries[qi];
                    int base = (qi - q0) * k;
                    long qo = q * row;
                    float nqv = norms.getAtIndex(F, q);
                    int sz = size[qi - q0];
                    int j = r0;
                    for (; j + 3 < r1; j += 4) {
                        Kernels.dot4(x, qo, x, j * row, (j + 1) * row, (j + 2) * row, (j + 3) * row, d, dots, 0);
                        for (int t = 0; t < 4; t++) {
                            int jj = j + t;
                            if (jj == q) continue;
                            float dd = nqv + rn[jj - r0] - 2f * dots[t];
                            if (sz < k || greater(bDist[base], bIdx[base], dd, jj))
                                sz = heapPush(bIdx, bDist, null, base, k, sz, jj, dd);
                        }
                    }
                    for (; j < r1; j++) {
                        if (j == q) continue;
                        float dd = nqv + rn[j - r0] - 2f * Kernels.dot(x, qo, x, j * row, d);
                        if (sz < k || greater(bDist[base], bIdx[base], dd, j))
                            sz = heapPush(bIdx, bDist, null, base, k, sz, j, dd);
                    }
                    size[qi - q0] = sz;
                }
            }
            MemorySegment.copy(bIdx, 0, idx, I, 4L * q0 * k, (q1 - q0) * k);
            MemorySegment.copy(bDist, 0, dist, F, 4L * q0 * k, (q1 - q0) * k);
        });
    }

    // ---- approximate: random-projection forest + NN-descent ----

    /** Counters of the last approximate run (for benchmarks and logs). */
    public record Stats(int trees, int leafSize, int rounds, java.util.List<Long> updatesPerRound, String vectors,
                        long treeDistances, java.util.List<Long> distancesPerRound) {}

    private static volatile Stats lastStats;

    public static Stats lastStats() { return lastStats; }

    public static KnnGraph approximate(Rows v, Options o) { return approximate(v, o, null, Scratch.offHeap()); }

    static KnnGraph approximate(Rows v, Options o, Progress progress, Scratch scratch) {
        int n = v.rows(), d = v.cols(), k = o.k(), threads = o.threadCount();
        if (n <= k) throw new SpectroException("too few vectors for k: " + n + " rows, k = " + k);
        long nk = (long) n * k;
        MemorySegment idx = scratch.allocate(4 * nk), dist = scratch.allocate(4 * nk), fresh = scratch.allocate(nk);
        MemorySegment size = scratch.allocate(4L * n), perm = scratch.allocate(4L * n), order = scratch.allocate(4L * n);
        int leaf = Math.max(o.leaf(), k + 1);
        // The first tree, built on the rows as given, also renumbers them: row r of the build is input row
        // order[r], in the first tree's leaf order, so a row's neighbours (and theirs) sit near it in memory.
        // Everything below runs on the renumbered rows; the lists are numbered back at the end.
        for (int i = 0; i < n; i++) order.setAtIndex(I, i, i);
        KnnData given = KnnData.view(v);
        int[] firstLeaves = buildTree(given, order, leaf, treeRandom(o, 0));
        KnnData x = given.reordered(order, scratch);
        given = null;
        ThreadLocal<Local> locals = ThreadLocal.withInitial(Local::new);
        AtomicLong evals = new AtomicLong();
        // A tree's split passes are serial, so with more than one thread the later trees are built ahead, each on its
        // own thread from its own seed and permutation (4 N bytes each): the same trees as built one after the other,
        // while the leaves of earlier ones are searched. The leaves are still searched in tree order.
        TreeBuilds ahead = threads > 1 && o.trees() > 1 ? new TreeBuilds(x, o, leaf, Math.min(threads, o.trees() - 1), scratch) : null;
        try {
            for (int t = 0; t < o.trees(); t++) {
                MemorySegment tperm = perm;
                int[] leaves;
                if (t == 0) {
                    for (int i = 0; i < n; i++) perm.setAtIndex(I, i, i);
                    leaves = firstLeaves;
                } else if (ahead != null) {
                    tperm = ahead.perm(t);
                    leaves = ahead.leaves(t);
                } else {
                    for (int i = 0; i < n; i++) perm.setAtIndex(I, i, i);
                    leaves = buildTree(x, perm, leaf, treeRandom(o, t));
                }
                MemorySegment permT = tperm;
                int nl = leaves.length / 2;
                Parallel.forEach(nl, threads, li -> {
                    int lo = leaves[2 * li], hi = leaves[2 * li + 1], m = hi - lo;
                    Local L = locals.get().ensure(m, k, d);
                    for (int a = 0; a < m; a++) {
                        int i = permT.getAtIndex(I, lo + a);
                        L.load(a, i, k, idx, dist, fresh, size);
                        x.copyRow(i, L.vec, a * d);
                    }
                    float[] dd = L.dd;
                    for (int a = 0; a < m; a++) {
                        int i = L.rows[a];
                        for (int b0 = a + 1; b0 < m; b0 += 4) {
                            int cnt = Math.min(4, m - b0);
                            if (cnt == 4) Kernels.sqdist4(L.vec, a * d, L.vec, b0 * d, (b0 + 1) * d, (b0 + 2) * d, (b0 + 3) * d, d, dd, 0);
                            else for (int t2 = 0; t2 < cnt; t2++) dd[t2] = Kernels.sqdist(L.vec, a * d, L.vec, (b0 + t2) * d, d);
                            for (int t2 = 0; t2 < cnt; t2++) {
                                int b = b0 + t2, j = L.rows[b];
                                if (admits(L.idx, L.dist, a * k, k, L.size[a], j, dd[t2]))
                                    L.size[a] = heapPush(L.idx, L.dist, L.fresh, a * k, k, L.size[a], j, dd[t2]);
                                if (admits(L.idx, L.dist, b * k, k, L.size[b], i, dd[t2]))
                                    L.size[b] = heapPush(L.idx, L.dist, L.fresh, b * k, k, L.size[b], i, dd[t2]);
                            }
                        }
                    }
                    for (int a = 0; a < m; a++) L.store(a, k, idx, dist, fresh, size);
                    evals.addAndGet((long) m * (m - 1) / 2);
                });
                if (progress != null) {
                    progress.label("tree " + (t + 1));
                    progress.advance(n);
                }
            }
        } finally {
            if (ahead != null) ahead.close();
        }
        long treeEvals = evals.get();
        // rows whose lists are short (tiny leaves cannot happen since leaf > k, but be safe): fill with random rows
        SplittableRandom fill = new SplittableRandom(o.seed() ^ 0x5DEECE66DL);
        Local one = new Local().ensure(1, k, d);
        for (int i = 0; i < n; i++) {
            if (size.getAtIndex(I, i) >= k) continue;
            one.load(0, i, k, idx, dist, fresh, size);
            x.copyRow(i, one.vec, 0);
            while (one.size[0] < k) {
                int j = fill.nextInt(n);
                if (j == i) continue;
                float dd = x.sqdist(one.vec, 0, j);
                if (admits(one.idx, one.dist, 0, k, one.size[0], j, dd))
                    one.size[0] = heapPush(one.idx, one.dist, one.fresh, 0, k, one.size[0], j, dd);
            }
            one.store(0, k, idx, dist, fresh, size);
        }
        long[] updates = new long[o.iterations()], roundEvals = new long[o.iterations()];
        int rounds = 0;
        final int CHUNK = 256;
        MemorySegment snapIdx = o.iterations() > 0 ? scratch.allocate(4 * nk) : null;
        MemorySegment snapFresh = o.iterations() > 0 ? scratch.allocate(nk) : null;
        ThreadLocal<NodeMap> seen = ThreadLocal.withInitial(() -> new NodeMap(4 * (k * k + k + 1))); // a row's candidates
        for (int it = 0; it < o.iterations(); it++) {
            if (progress != null) progress.label("NN-descent round " + (it + 1));
            MemorySegment.copy(idx, 0, snapIdx, 0, 4 * nk);
            MemorySegment.copy(fresh, 0, snapFresh, 0, nk);
            fresh.fill((byte) 0);
            AtomicLong changed = new AtomicLong();
            evals.set(0);
            int chunks = (n + CHUNK - 1) / CHUNK;
            Parallel.forEach(chunks, threads, c -> {
                NodeMap stamp = seen.get();
                Local L = locals.get().ensure(1, k, d).candidates(k * k);
                int[] own = new int[k], nb = new int[k], cand = L.cand;
                byte[] ownFresh = new byte[k], nbFresh = new byte[k];
                float[] dd = L.dd;
                long local = 0, evaluated = 0;
                for (int i = c * CHUNK, end = Math.min(n, i + CHUNK); i < end; i++) {
                    long base = (long) i * k;
                    MemorySegment.copy(snapIdx, I, 4 * base, own, 0, k);
                    MemorySegment.copy(snapFresh, B, base, ownFresh, 0, k);
                    stamp.clear();
                    stamp.add(i);
                    for (int a = 0; a < k; a++) stamp.add(own[a]);
                    // the candidates: neighbours of neighbours in pairs touching a list entry new since the last
                    // round, each once, in list order (the order of the heap updates below)
                    int nc = 0;
                    for (int a = 0; a < k; a++) {
                        int j = own[a];
                        boolean jNew = ownFresh[a] != 0;
                        long jb = (long) j * k;
                        MemorySegment.copy(snapFresh, B, jb, nbFresh, 0, k);
                        if (!jNew && !any(nbFresh)) continue;
                        MemorySegment.copy(snapIdx, I, 4 * jb, nb, 0, k);
                        for (int b = 0; b < k; b++) {
                            // (the two skips commute: neither changes the set)
                            if (!jNew && nbFresh[b] == 0) continue;
                            int m = nb[b];
                            if (stamp.add(m)) cand[nc++] = m;
                        }
                    }
                    if (nc == 0) continue;
                    L.load(0, i, k, idx, dist, fresh, null);
                    x.copyRow(i, L.vec, 0);
                    boolean changedRow = false;
                    for (int q = 0; q < nc; q += 4) {
                        int cnt = Math.min(4, nc - q);
                        if (cnt == 4) x.sqdist4(L.vec, 0, cand[q], cand[q + 1], cand[q + 2], cand[q + 3], dd, 0);
                        else for (int t = 0; t < cnt; t++) dd[t] = x.sqdist(L.vec, 0, cand[q + t]);
                        for (int t = 0; t < cnt; t++) {
                            int m = cand[q + t];
                            if (greater(L.dist[0], L.idx[0], dd[t], m)) {
                                heapPush(L.idx, L.dist, L.fresh, 0, k, k, m, dd[t]);
                                local++;
                                changedRow = true;
                            }
                        }
                    }
                    evaluated += nc;
                    if (changedRow) L.store(0, k, idx, dist, fresh, null);
                }
                changed.addAndGet(local);
                evals.addAndGet(evaluated);
                if (progress != null) {
                    synchronized (progress) {
                        progress.advance(Math.min(n, c * CHUNK + CHUNK) - c * CHUNK);
                    }
                }
            });
            updates[it] = changed.get();
            roundEvals[it] = evals.get();
            rounds++;
            if (progress != null) progress.label("round " + rounds + " done: " + changed.get() + " updates");
            if (changed.get() < 0.001 * n * k) break;
        }
        lastStats = new Stats(o.trees(), leaf, rounds, Arrays.stream(Arrays.copyOf(updates, rounds)).boxed().toList(),
                x.onHeap() ? "heap" : "segment", treeEvals, Arrays.stream(Arrays.copyOf(roundEvals, rounds)).boxed().toList());
        return sorted(n, k, idx, dist, order, snapIdx != null ? snapIdx : scratch.allocate(4 * nk), scratch.allocate(4 * nk));
    }

    private static boolean any(byte[] flags) {
        for (byte f : flags) if (f != 0) return true;
        return false;
    }

    private static SplittableRandom treeRandom(Options o, int t) { return new SplittableRandom(o.seed() * 1_000_003L + t); }

    /** Trees 1 .. trees-1 built on a small pool of their own, each into its own permutation. */
    private static final class TreeBuilds implements AutoCloseable {
        private final MemorySegment[] perms;
        private final java.util.List<java.util.concurrent.Future<int[]>> leaves = new java.util.ArrayList<>();
        private final java.util.concurrent.ExecutorService pool;

        TreeBuilds(KnnData x, Options o, int leaf, int workers, Scratch scratch) {
            int n = x.n;
            perms = new MemorySegment[o.trees()];
            pool = java.util.concurrent.Executors.newFixedThreadPool(workers,
                    r -> Thread.ofPlatform().daemon().name("spectro-rptree").unstarted(r));
            leaves.add(null);
            for (int t = 1; t < o.trees(); t++) {
                MemorySegment p = perms[t] = scratch.allocate(4L * n);
                int tt = t;
                leaves.add(pool.submit(() -> {
                    for (int i = 0; i < n; i++) p.setAtIndex(I, i, i);
                    return buildTree(x, p, leaf, treeRandom(o, tt));
                }));
            }
        }

        MemorySegment perm(int t) { return perms[t]; }

        int[] leaves(int t) {
            try {
                return leaves.get(t).get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while building random-projection tree " + t, e);
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) throw re;
                if (e.getCause() instanceof Error er) throw er;
                throw new IllegalStateException(e.getCause());
            }
        }

        @Override
        public void close() {
            pool.shutdownNow();
            try {
                pool.awaitTermination(1, java.util.concurrent.TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Splits perm into leaves of at most leafSize rows; returns [lo0, hi0, lo1, hi1, ...]. */
    private static int[] buildTree(KnnData x, MemorySegment perm, int leafSize, SplittableRandom rnd) {
        int n = x.n, d = x.d;
        int[] out = new int[Math.max(4, 4 * (n / Math.max(1, leafSize / 2) + 2))];
        int nOut = 0;
        int[] stack = new int[128];
        int sp = 0;
        stack[sp++] = 0;
        stack[sp++] = n;
        float[] normal = new float[d];
        MemorySegment normalSeg = MemorySegment.ofArray(normal);
        while (sp > 0) {
            int hi = stack[--sp], lo = stack[--sp];
            if (hi - lo <= leafSize) {
                if (nOut + 2 > out.length) out = Arrays.copyOf(out, out.length * 2);
                out[nOut++] = lo;
                out[nOut++] = hi;
                continue;
            }
            int a = p(perm, lo + rnd.nextInt(hi - lo)), b = p(perm, lo + rnd.nextInt(hi - lo));
            int tries = 0;
            while (b == a && tries++ < 8) b = p(perm, lo + rnd.nextInt(hi - lo));
            float off = 0;
            for (int c = 0; c < d; c++) {
                float xa = x.get(a, c), xb = x.get(b, c);
                normal[c] = xa - xb;
                off += (xa - xb) * (xa + xb) * 0.5f;
            }
            int i = lo, j = hi - 1;
            while (i <= j) {
                float s = x.dot(p(perm, i), normal, normalSeg) - off;
                boolean left = s > 0 || (s == 0 && rnd.nextBoolean());
                if (left) i++;
                else {
                    swap(perm, i, j);
                    j--;
                }
            }
            int mid = i;
            if (mid - lo < 1 || hi - mid < 1 || Math.min(mid - lo, hi - mid) < (hi - lo) / 50) {
                // degenerate split (duplicates or a bad pair): split a random shuffle in half
                for (int s = hi - 1; s > lo; s--) {
                    int r = lo + rnd.nextInt(s - lo + 1);
                    swap(perm, s, r);
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

    private static int p(MemorySegment perm, int i) { return perm.getAtIndex(I, i); }

    private static void swap(MemorySegment perm, int i, int j) {
        int t = perm.getAtIndex(I, i);
        perm.setAtIndex(I, i, perm.getAtIndex(I, j));
        perm.setAtIndex(I, j, t);
    }

    /**
     * Recall of {@code g} on {@code samples} rows drawn with the seed: the fraction of their exact k
     * nearest neighbours that g holds.
     */
    public static double recall(Rows v, KnnGraph g, int samples, long seed, int threads) {
        int n = v.rows();
        int s = Math.min(samples, n);
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] pick = rnd.ints(0, n).distinct().limit(s).toArray();
        KnnGraph ex = exactFor(v, pick, g.k(), threads);
        return g.recallAgainst(pick, ex);
    }
}
