package io.spectro.graph;

import io.spectro.io.Npy;
import io.spectro.util.Kernels;
import io.spectro.util.MappedVectors;
import io.spectro.util.Scratch;
import io.spectro.util.Vectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class KnnTest {
    static Vectors blobs(int n, int d, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * d];
        float[][] centres = new float[20][d];
        for (float[] c : centres) for (int j = 0; j < d; j++) c[j] = (float) (r.nextGaussian() * 3);
        for (int i = 0; i < n; i++) {
            float[] c = centres[r.nextInt(centres.length)];
            for (int j = 0; j < d; j++) x[i * d + j] = c[j] + (float) r.nextGaussian();
        }
        return new Vectors(x, n, d);
    }

    @Test
    void exactMatchesBruteForce() {
        Vectors v = blobs(700, 13, 1);
        KnnGraph g = Knn.exact(v, 10, 2);
        for (int i = 0; i < v.rows(); i += 37) {
            final int q = i;
            Integer[] all = new Integer[v.rows() - 1];
            int m = 0;
            for (int j = 0; j < v.rows(); j++) if (j != q) all[m++] = j;
            double[] dist = new double[v.rows()];
            for (int j = 0; j < v.rows(); j++) {
                double s = 0;
                for (int c = 0; c < v.cols(); c++) {
                    double t = v.get(q, c) - v.get(j, c);
                    s += t * t;
                }
                dist[j] = s;
            }
            Arrays.sort(all, (a, b) -> Double.compare(dist[a], dist[b]));
            for (int a = 0; a < 10; a++) {
                assertEquals(dist[all[a]], g.distances()[q * 10 + a], 1e-3 * (1 + dist[all[a]]), "row " + q + " rank " + a);
            }
        }
    }

    @Test
    void exactIsTheSameOnOneOrTwoThreadsAndScalar() {
        Vectors v = blobs(500, 9, 2);
        KnnGraph a = Knn.exact(v, 7, 1), b = Knn.exact(v, 7, 2);
        assertArrayEquals(a.neighbors(), b.neighbors());
    }

    @Test
    void approximateHasHighRecallAndIsDeterministic() {
        Vectors v = blobs(6000, 16, 3);
        Knn.Options o = Knn.Options.defaults().withK(15).withMethod(Knn.Method.APPROXIMATE);
        KnnGraph g = Knn.fit(v, o);
        double recall = Knn.recall(v, g, 300, 5, 2);
        assertTrue(recall > 0.95, "recall " + recall + " " + Knn.lastStats());
        // the build renumbers the rows internally: every listed distance is that of the listed input row
        for (int i = 0; i < v.rows(); i += 97)
            for (int a = 0; a < 15; a++) {
                int j = g.neighbors()[i * 15 + a];
                assertNotEquals(i, j);
                assertEquals(Kernels.scalarSqdist(v.data(), i * 16, v.data(), j * 16, 16), g.distances()[i * 15 + a], 1e-4f,
                        "row " + i + " rank " + a);
                if (a > 0) assertTrue(g.distances()[i * 15 + a - 1] <= g.distances()[i * 15 + a], "nearest first");
            }
        KnnGraph again = Knn.fit(v, new Knn.Options(15, Knn.Method.APPROXIMATE, 0, 8, 0, 6, 1, 1L));
        assertArrayEquals(g.neighbors(), again.neighbors());
        // one thread builds the trees one after the other; three build trees 1-7 ahead on their own pool: same graph
        KnnGraph three = Knn.fit(v, new Knn.Options(15, Knn.Method.APPROXIMATE, 0, 8, 0, 6, 3, 1L));
        assertArrayEquals(again.neighbors(), three.neighbors());
        assertArrayEquals(again.distances(), three.distances());
    }

    @Test
    void symmetrizedGraphIsSymmetric() {
        Vectors v = blobs(300, 5, 4);
        Graph g = Graph.symmetrize(Knn.exact(v, 6, 2));
        for (int i = 0; i < g.nodes(); i++) {
            assertTrue(g.degree(i) >= 6);
            for (long e = g.start(i); e < g.end(i); e++) {
                int j = g.adj(e);
                assertNotEquals(i, j);
                if (e > g.start(i)) assertTrue(g.adj(e - 1) < j, "sorted, no duplicates");
                boolean back = false;
                for (long f = g.start(j); f < g.end(j); f++) back |= g.adj(f) == i;
                assertTrue(back, i + " ~ " + j + " both ways");
            }
        }
    }

    @Test
    void kernelsAgreeWithScalar() {
        SplittableRandom r = new SplittableRandom(5);
        for (int d : new int[]{1, 3, 8, 17, 64, 410}) {
            float[] a = new float[d + 3], b = new float[4 * d + 5];
            for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
            for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian();
            assertEquals(Kernels.scalarSqdist(a, 2, b, 1, d), Kernels.sqdist(a, 2, b, 1, d), 1e-3f * d);
            // the segment kernels (mapped files, scratch) give the array kernels' bits exactly
            MemorySegment sa = Arena.ofAuto().allocate(4L * a.length), sb = Arena.ofAuto().allocate(4L * b.length);
            MemorySegment.copy(a, 0, sa, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, a.length);
            MemorySegment.copy(b, 0, sb, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, b.length);
            float[] out = new float[4];
            Kernels.dot4(sa, 8, sb, 4, 4L * (1 + d), 4L * (1 + 2 * d), 4L * (1 + 3 * d), d, out, 0);
            for (int t = 0; t < 4; t++) assertEquals(Kernels.scalarDot(a, 2, b, 1 + t * d, d), out[t], 1e-3f * d);
            assertEquals(Kernels.sqdist(a, 2, b, 1, d), Kernels.sqdist(sa, 8, sb, 4, d));
            assertEquals(Kernels.sqdist(a, 2, b, 1, d), Kernels.sqdist(a, 2, sb, 4, d));
            assertEquals(Kernels.dot(a, 2, b, 1, d), Kernels.dot(sa, 8, sb, 4, d));
            // four distances at once: the bits of four single ones, array and segment forms alike
            float[] four = new float[5], fourSeg = new float[5];
            Kernels.sqdist4(a, 2, b, 1, 1 + d, 1 + 2 * d, 1 + 3 * d, d, four, 1);
            Kernels.sqdist4(a, 2, sb, 4, 4L * (1 + d), 4L * (1 + 2 * d), 4L * (1 + 3 * d), d, fourSeg, 1);
            for (int t = 0; t < 4; t++) {
                assertEquals(Kernels.sqdist(a, 2, b, 1 + t * d, d), four[1 + t], "d " + d + " row " + t);
                assertEquals(four[1 + t], fourSeg[1 + t]);
            }
        }
    }

    /**
     * The approximate build copies the vectors onto the heap within -Dspectro.knnHeapBytes and reads the segment
     * beyond it: both give the same lists, bit for bit.
     */
    @Test
    void heapAndSegmentVectorsGiveTheSameGraph(@TempDir Path dir) throws Exception {
        Vectors v = blobs(4000, 37, 8);
        Npy.write(dir.resolve("v.npy"), v.data(), v.rows(), v.cols());
        Knn.Options o = Knn.Options.defaults().withK(12).withMethod(Knn.Method.APPROXIMATE);
        String old = System.getProperty("spectro.knnHeapBytes");
        try (MappedVectors m = MappedVectors.open(dir.resolve("v.npy"))) {
            KnnGraph heap = Knn.fit(m, o);
            assertEquals("heap", Knn.lastStats().vectors());
            System.setProperty("spectro.knnHeapBytes", "0");
            KnnGraph seg = Knn.fit(m, o);
            assertEquals("segment", Knn.lastStats().vectors());
            KnnGraph arr = Knn.fit(v, o);
            assertArrayEquals(heap.neighbors(), seg.neighbors());
            assertArrayEquals(heap.distances(), seg.distances());
            assertArrayEquals(heap.neighbors(), arr.neighbors());
        } finally {
            if (old == null) System.clearProperty("spectro.knnHeapBytes");
            else System.setProperty("spectro.knnHeapBytes", old);
        }
    }

    /** Mapped vectors and file-backed scratch give the lists and graph of heap vectors and native memory, bit for bit. */
    @Test
    void mappedVectorsAndScratchFilesGiveTheSameGraph(@TempDir Path dir) throws Exception {
        Vectors v = blobs(3000, 12, 6);
        Knn.Options o = Knn.Options.defaults().withK(10).withMethod(Knn.Method.APPROXIMATE);
        KnnGraph heap = Knn.fit(v, o);
        Npy.write(dir.resolve("v.npy"), v.data(), v.rows(), v.cols());
        Path sd = dir.resolve("scratch");
        try (MappedVectors m = MappedVectors.open(dir.resolve("v.npy")); Scratch s = Scratch.in(sd)) {
            KnnGraph mapped = Knn.fit(m, o, null, s);
            assertArrayEquals(heap.neighbors(), mapped.neighbors());
            assertArrayEquals(heap.distances(), mapped.distances());
            Graph a = Graph.symmetrize(heap), b = Graph.symmetrize(mapped, s);
            assertEquals(a.volume(), b.volume());
            for (int i = 0; i < a.nodes(); i++) {
                assertEquals(a.start(i), b.start(i));
                for (long e = a.start(i); e < a.end(i); e++) assertEquals(a.adj(e), b.adj(e));
            }
            try (var files = Files.list(sd)) {
                assertEquals(0, files.count(), "scratch files are unlinked once mapped");
            }
        }
    }
}
