package io.spectro.graph;

import io.spectro.SpectroException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The k nearest neighbours of every row (self excluded), nearest first: row i's neighbours are the int32
 * entries [i·k, i·k + k) of {@code neighbors} (long-indexed, off the heap: a scratch segment or a mapped
 * knn.npy), with squared Euclidean distances in {@code distances} (null when only the lists are known, as
 * for a cached knn.npy).
 */
public final class KnnGraph {
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private final int n, k;
    private final MemorySegment neighbors, distances;

    public KnnGraph(int n, int k, MemorySegment neighbors, MemorySegment distances) {
        if (neighbors.byteSize() < 4L * n * k || (distances != null && distances.byteSize() < 4L * n * k))
            throw new IllegalArgumentException("kNN segments do not hold n=" + n + " k=" + k);
        this.n = n;
        this.k = k;
        this.neighbors = neighbors;
        this.distances = distances;
    }

    /** Lists held on the heap (tests, small graphs). */
    public static KnnGraph of(int n, int k, int[] neighbors, float[] distances) {
        if ((long) n * k != neighbors.length || (distances != null && distances.length != neighbors.length))
            throw new IllegalArgumentException("kNN arrays do not match n=" + n + " k=" + k);
        MemorySegment nb = java.lang.foreign.Arena.ofAuto().allocate(4L * neighbors.length, 4);
        MemorySegment.copy(neighbors, 0, nb, I32, 0, neighbors.length);
        MemorySegment ds = null;
        if (distances != null) {
            ds = java.lang.foreign.Arena.ofAuto().allocate(4L * distances.length, 4);
            MemorySegment.copy(distances, 0, ds, F32, 0, distances.length);
        }
        return new KnnGraph(n, k, nb, ds);
    }

    public int n() { return n; }

    public int k() { return k; }

    /** The int32 lists, row-major [n, k], little-endian. */
    public MemorySegment segment() { return neighbors; }

    public int neighbor(int i, int j) { return neighbors.getAtIndex(I32, (long) i * k + j); }

    public float distance(int i, int j) { return distances.getAtIndex(F32, (long) i * k + j); }

    /** A heap copy of the lists (only below 2^31 entries). */
    public int[] neighbors() {
        return neighbors.asSlice(0, 4L * count()).toArray(ValueLayout.JAVA_INT);
    }

    /** A heap copy of the distances (only below 2^31 entries). */
    public float[] distances() {
        if (distances == null) throw new IllegalStateException("this kNN graph holds no distances");
        return distances.asSlice(0, 4L * count()).toArray(ValueLayout.JAVA_FLOAT);
    }

    private int count() {
        long c = (long) n * k;
        if (c > Integer.MAX_VALUE - 8) throw new SpectroException("kNN graph of " + c + " entries does not fit in a Java array");
        return (int) c;
    }

    /** Fraction of the true neighbours of the {@code sample} rows that this graph holds. */
    public double recallAgainst(int[] sample, KnnGraph exactOfSample) {
        long hit = 0;
        for (int s = 0; s < sample.length; s++) {
            int i = sample[s];
            for (int a = 0; a < k; a++) {
                int want = exactOfSample.neighbor(s, a);
                for (int b = 0; b < k; b++) {
                    if (neighbor(i, b) == want) {
                        hit++;
                        break;
                    }
                }
            }
        }
        return hit / (double) ((long) sample.length * k);
    }
}
