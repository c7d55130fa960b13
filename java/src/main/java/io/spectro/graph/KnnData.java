package io.spectro.graph;

import io.spectro.util.Kernels;
import io.spectro.util.Rows;
import io.spectro.util.Scratch;
import io.spectro.util.Vectors;

import java.lang.foreign.MemorySegment;

/**
 * The rows the approximate kNN build reads, in one of two places with the same bits either way:
 * <ul>
 * <li>a heap {@code float[]} (row-major) when 4·N·d bytes are at most {@link #heapBound()} and N·d fits an
 * array: plain array loads, which the JIT does not bounds-check per lane as it does loads from a mapped
 * segment (the off-heap build cost ~1.4× the CPU of the heap one, docs/benchmarks.md);</li>
 * <li>the float32 segment otherwise (the mapped whitened.npy as it is, or native memory), so N·d is bounded
 * by the address space, not by the heap.</li>
 * </ul>
 * Every distance goes through kernels whose array and segment forms do the same operations in the same order
 * ({@link Kernels#sqdist4}), so the graph does not depend on where the rows are.
 */
final class KnnData {
    final int n, d;
    private final float[] a;        // row-major rows, or null
    private final MemorySegment s;  // when a == null
    private final long row;         // bytes per row

    private KnnData(int n, int d, float[] a, MemorySegment s) {
        this.n = n;
        this.d = d;
        this.a = a;
        this.s = s;
        this.row = 4L * d;
    }

    /**
     * Bytes of vectors the kNN build copies onto the heap: {@code -Dspectro.knnHeapBytes} (0 = never), by default a
     * quarter of the maximum heap (1M × 100 whitened floats = 400 MB fit a 2 GB heap; 10M × 100 need a 16 GB one).
     */
    static long heapBound() {
        return Long.getLong("spectro.knnHeapBytes", Runtime.getRuntime().maxMemory() / 4);
    }

    /** The rows where they are (a heap Vectors' array, a mapped file's segment), else copied off the heap. */
    static KnnData view(Rows v) {
        int n = v.rows(), d = v.cols();
        if (v instanceof Vectors h && h.data().length == (long) n * d) return new KnnData(n, d, h.data(), null);
        return new KnnData(n, d, null, Knn.data(v));
    }

    /**
     * These rows in the order {@code order} (row r = row order[r] here): on the heap within {@link #heapBound()},
     * else in a segment from {@code scratch}.
     */
    KnnData reordered(MemorySegment order, Scratch scratch) {
        long count = (long) n * d;
        KnnData src = this;
        if (4 * count <= heapBound() && count <= Integer.MAX_VALUE - 64) {
            float[] x = new float[(int) count];
            for (int r = 0; r < n; r++) src.copyRow(order.getAtIndex(KnnGraph.I32, r), x, r * d);
            return new KnnData(n, d, x, null);
        }
        MemorySegment x = scratch.allocate(4 * count);
        for (int r = 0; r < n; r++) {
            long from = order.getAtIndex(KnnGraph.I32, r) * row;
            if (src.a != null) MemorySegment.copy(src.a, (int) (from / 4), x, KnnGraph.F32, r * row, d);
            else MemorySegment.copy(src.s, from, x, r * row, row);
        }
        return new KnnData(n, d, null, x);
    }

    boolean onHeap() { return a != null; }

    float get(int i, int c) { return a != null ? a[i * d + c] : s.getAtIndex(KnnGraph.F32, (long) i * d + c); }

    /** Copies row i to dst[off .. off+d). */
    void copyRow(int i, float[] dst, int off) {
        if (a != null) System.arraycopy(a, i * d, dst, off, d);
        else MemorySegment.copy(s, KnnGraph.F32, i * row, dst, off, d);
    }

    /** Squared distance of q[qo .. qo+d) to row j. */
    float sqdist(float[] q, int qo, int j) {
        return a != null ? Kernels.sqdist(q, qo, a, j * d, d) : Kernels.sqdist(q, qo, s, j * row, d);
    }

    /** Squared distances of q[qo .. qo+d) to rows j0..j3, into out[oo .. oo+4). */
    void sqdist4(float[] q, int qo, int j0, int j1, int j2, int j3, float[] out, int oo) {
        if (a != null) Kernels.sqdist4(q, qo, a, j0 * d, j1 * d, j2 * d, j3 * d, d, out, oo);
        else Kernels.sqdist4(q, qo, s, j0 * row, j1 * row, j2 * row, j3 * row, d, out, oo);
    }

    /** Row i · normal, where normalSeg is normal as a segment (the same bits in either form). */
    float dot(int i, float[] normal, MemorySegment normalSeg) {
        return a != null ? Kernels.dot(a, i * d, normal, 0, d) : Kernels.dot(s, i * row, normalSeg, 0, d);
    }
}
