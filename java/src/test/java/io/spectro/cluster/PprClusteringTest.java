package io.spectro.cluster;

import io.spectro.SpectroException;
import io.spectro.graph.Graph;
import io.spectro.graph.Knn;
import io.spectro.graph.KnnGraph;
import io.spectro.io.Npy;
import io.spectro.structure.SyntheticRun;
import io.spectro.util.Vectors;
import io.spectro.whiten.Whitening;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class PprClusteringTest {

    static Graph planted(Path dir, int rows, int clusters, long seed, int[][] truthOut) {
        int[] truth = SyntheticRun.write(dir, SyntheticRun.Spec.of(rows, 400, clusters, seed));
        truthOut[0] = truth;
        Vectors chi = Vectors.read(dir.resolve("chi.npy"));
        Vectors w = Whitening.fit(chi, Whitening.Options.defaults()).apply(chi);
        KnnGraph knn = Knn.fit(w, Knn.Options.defaults());
        return Graph.symmetrize(knn);
    }

    @Test
    void recoversPlantedClusters(@TempDir Path dir) {
        int[][] truth = new int[1][];
        Graph g = planted(dir, 2400, 7, 11, truth);
        PprClustering.Result r = PprClustering.fit(g, PprClustering.Options.defaults());
        double ari = Metrics.adjustedRand(truth[0], r.labels());
        System.out.println("planted: " + r.clusters().size() + " clusters, ARI " + ari + ", " + r.stats());
        assertTrue(ari >= 0.9, "ARI " + ari + " with " + r.clusters().size() + " clusters");
        int[] sizes = r.clusters().stream().mapToInt(PprClustering.Cluster::size).toArray();
        assertTrue(sizes.length >= 7, Arrays.toString(sizes));
    }

    @Test
    void sameSeedSameClusters(@TempDir Path dir) {
        int[][] truth = new int[1][];
        Graph g = planted(dir, 1200, 4, 5, truth);
        PprClustering.Result a = PprClustering.fit(g, PprClustering.Options.defaults().withSeed(3).withThreads(1));
        PprClustering.Result b = PprClustering.fit(g, PprClustering.Options.defaults().withSeed(3).withThreads(2));
        assertArrayEquals(a.labels(), b.labels());
        assertEquals(a.clusters().size(), b.clusters().size());
        for (int i = 0; i < a.clusters().size(); i++)
            assertArrayEquals(a.clusters().get(i).members(), b.clusters().get(i).members());
    }

    @Test
    void pushAgreesWithPowerIteration() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int trial = 0; trial < 3; trial++) {
            int n = 60;
            int[][] edges = new int[n * 4][];
            for (int i = 0; i < edges.length; i++) {
                int a = i % n, b = rnd.nextInt(n);
                if (b == a) b = (a + 1) % n;
                edges[i] = new int[]{a, b};
            }
            Graph g = Graph.fromEdges(n, edges);
            double alpha = trial == 0 ? 0.15 : trial == 1 ? 0.05 : 0.01;
            double[] dense = Ppr.dense(g, 3, alpha, 20_000);
            Ppr.Result p = Ppr.push(g, 3, alpha, 1e-12, Long.MAX_VALUE, new Ppr.Workspace(n));
            assertFalse(p.capped());
            double[] sparse = new double[n];
            for (int i = 0; i < p.nodes().length; i++) sparse[p.nodes()[i]] = p.values()[i];
            double sum = 0;
            for (int i = 0; i < n; i++) {
                assertEquals(dense[i], sparse[i], 1e-9 + 1e-12 * g.degree(i) / alpha, "node " + i + " alpha " + alpha);
                sum += sparse[i];
            }
            assertEquals(1.0, sum + p.residual(), 1e-9);
        }
    }

    @Test
    void optionsValidate() {
        PprClustering.Options d = PprClustering.Options.defaults();
        assertEquals(45, d.k());
        assertEquals(0.001, d.alpha());
        assertEquals(1e-7, d.tol());
        assertEquals(0.99, d.mainBody());
        assertEquals(20, d.minSize());
        assertEquals(0.001, d.minGain());
        assertThrows(SpectroException.class, () -> new PprClustering.Options(45, 0, 1e-7, 0.99, 20, 0.001, 1, 1, 1, 0.5, 0));
        assertThrows(SpectroException.class, () -> new PprClustering.Options(45, 0.001, 1e-7, 1.5, 20, 0.001, 1, 1, 1, 0.5, 0));
        assertThrows(SpectroException.class, () -> d.withMinSize(0));
    }

    @Test
    void tooFewVectorsForK() {
        Vectors v = Vectors.zeros(10, 3);
        SpectroException e = assertThrows(SpectroException.class, () -> Knn.fit(v, Knn.Options.defaults()));
        assertTrue(e.getMessage().contains("too few vectors"), e.getMessage());
    }

    @Test
    void ariBasics() {
        assertEquals(1.0, Metrics.adjustedRand(new int[]{0, 0, 1, 1}, new int[]{5, 5, 7, 7}), 1e-12);
        assertTrue(Metrics.adjustedRand(new int[]{0, 0, 1, 1}, new int[]{0, 1, 0, 1}) < 0);
    }

    @Test
    void labelsFileRoundTrip(@TempDir Path dir) {
        Npy.write(dir.resolve("l.npy"), new int[]{-1, 2}, 2);
        assertArrayEquals(new int[]{-1, 2}, Npy.readInts(dir.resolve("l.npy")).data());
    }
}
