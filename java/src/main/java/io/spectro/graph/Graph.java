package io.spectro.graph;

import io.spectro.util.Scratch;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * An undirected, unweighted graph in compressed sparse row form, long-indexed and off the heap: the
 * neighbours of node i are the int32 entries [start(i), end(i)) of {@code adj}, sorted, without self loops
 * or duplicates; {@code offsets} holds N + 1 int64 positions. Both live in {@link Scratch} segments (native
 * memory, or files the kernel may page out), so the graph's size is bounded by the disk, not the heap.
 */
public final class Graph {
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I = KnnGraph.I32;
    private final int n;
    private final MemorySegment offsets, adj;

    private Graph(int n, MemorySegment offsets, MemorySegment adj) {
        this.n = n;
        this.offsets = offsets;
        this.adj = adj;
    }

    public int nodes() { return n; }

    /** Position of node i's first neighbour in the adjacency. */
    public long start(int i) { return offsets.getAtIndex(I64, i); }

    /** One past node i's last neighbour. */
    public long end(int i) { return offsets.getAtIndex(I64, i + 1L); }

    /** The neighbour at adjacency position e. */
    public int adj(long e) { return adj.getAtIndex(I, e); }

    public int degree(int i) { return (int) (end(i) - start(i)); }

    /** Twice the number of edges. */
    public long volume() { return offsets.getAtIndex(I64, n); }

    /** The symmetrised kNN graph: i ~ j when j is among i's k nearest or i among j's. */
    public static Graph symmetrize(KnnGraph knn) { return symmetrize(knn, Scratch.offHeap()); }

    /**
     * As {@link #symmetrize(KnnGraph)}, the graph allocated from {@code scratch}. Heap: one node's
     * neighbour list at a time (the largest degree), whatever N is.
     */
    public static Graph symmetrize(KnnGraph knn, Scratch scratch) {
        int n = knn.n(), k = knn.k();
        MemorySegment nb = knn.segment();
        MemorySegment count = scratch.allocate(4L * n), offsets = scratch.allocate(8L * (n + 1));
        for (long e = 0, end = (long) n * k; e < end; e++) {
            int i = (int) (e / k), j = nb.getAtIndex(I, e);
            if (j == i || j < 0) continue;
            count.setAtIndex(I, i, count.getAtIndex(I, i) + 1);
            count.setAtIndex(I, j, count.getAtIndex(I, j) + 1);
        }
        long total = 0;
        for (int i = 0; i < n; i++) {
            offsets.setAtIndex(I64, i, total);
            total += count.getAtIndex(I, i);
            count.setAtIndex(I, i, 0); // from here: entries filled so far
        }
        offsets.setAtIndex(I64, n, total);
        MemorySegment raw = scratch.allocate(4L * total);
        for (long e = 0, end = (long) n * k; e < end; e++) {
            int i = (int) (e / k), j = nb.getAtIndex(I, e);
            if (j == i || j < 0) continue;
            raw.setAtIndex(I, offsets.getAtIndex(I64, i) + fill(count, i), j);
            raw.setAtIndex(I, offsets.getAtIndex(I64, j) + fill(count, j), i);
        }
        // sort and deduplicate every list, compacting in place (w <= lo: a list moves only towards the front)
        int[] buf = new int[16];
        long w = 0;
        for (int i = 0; i < n; i++) {
            long lo = offsets.getAtIndex(I64, i), hi = offsets.getAtIndex(I64, i + 1);
            int len = (int) (hi - lo);
            if (len > buf.length) buf = new int[Math.max(len, 2 * buf.length)];
            MemorySegment.copy(raw, I, 4 * lo, buf, 0, len);
            Arrays.sort(buf, 0, len);
            offsets.setAtIndex(I64, i, w);
            int prev = -1;
            for (int p = 0; p < len; p++) {
                if (buf[p] != prev) raw.setAtIndex(I, w++, buf[p]);
                prev = buf[p];
            }
        }
        offsets.setAtIndex(I64, n, w);
        return new Graph(n, offsets, raw.asSlice(0, 4 * w));
    }

    private static int fill(MemorySegment count, int i) {
        int c = count.getAtIndex(I, i);
        count.setAtIndex(I, i, c + 1);
        return c;
    }

    /** Builds a graph from an edge list (for tests); edges are symmetrised and deduplicated. */
    public static Graph fromEdges(int n, int[][] edges) {
        int k = 0;
        int[] deg = new int[n];
        for (int[] e : edges) deg[e[0]]++;
        for (int d : deg) k = Math.max(k, d);
        int[] nb = new int[n * Math.max(k, 1)];
        Arrays.fill(nb, -1);
        int[] fill = new int[n];
        for (int[] e : edges) nb[e[0] * Math.max(k, 1) + fill[e[0]]++] = e[1];
        return symmetrize(KnnGraph.of(n, Math.max(k, 1), nb, null));
    }
}
