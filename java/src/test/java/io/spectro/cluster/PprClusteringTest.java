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
            Ppr.Workspace ws = new Ppr.Workspace(n);
            for (boolean cg : new boolean[]{false, true}) {
                Ppr.Result p = cg ? Ppr.solve(g, 3, alpha, 1e-12, Long.MAX_VALUE, ws)
                        : Ppr.push(g, 3, alpha, 1e-12, Long.MAX_VALUE, ws);
                assertFalse(p.capped());
                double[] sparse = new double[n];
                for (int i = 0; i < p.nodes().length; i++) sparse[p.nodes()[i]] = p.values()[i];
                double sum = 0;
                for (int i = 0; i < n; i++) {
                    assertEquals(dense[i], sparse[i], 1e-9 + 1e-12 * g.degree(i) / alpha,
                            "node " + i + " alpha " + alpha + (cg ? " (CG)" : " (push)"));
                    sum += sparse[i];
                }
                if (cg) assertEquals(1.0, sum, 1e-9);
                else assertEquals(1.0, sum + p.residual(), 1e-9);
            }
        }
    }

    /**
     * The CG solve returns the push's PPR at the published α and tol on a graph of two loosely joined
     * dense groups, with far less work; the workspace comes back clean for the next seed.
     */
    @Test
    void solveMatchesPushAtPublishedSettings() {
        SplittableRandom rnd = new SplittableRandom(3);
        int n = 400;
        int[][] edges = new int[n * 12 + 4][];
        for (int i = 0; i < n * 12; i++) {
            int a = i % n, half = a < n / 2 ? 0 : n / 2;
            edges[i] = new int[]{a, half + rnd.nextInt(n / 2)};
            if (edges[i][1] == a) edges[i][1] = half + (a - half + 1) % (n / 2);
        }
        for (int i = 0; i < 4; i++) edges[n * 12 + i] = new int[]{i, n / 2 + i};
        Graph g = Graph.fromEdges(n, edges);
        Ppr.Workspace ws = new Ppr.Workspace(n);
        for (int seed : new int[]{5, 300, 5}) {
            Ppr.Result push = Ppr.push(g, seed, 0.001, 1e-7, Long.MAX_VALUE, ws);
            Ppr.Result cg = Ppr.solve(g, seed, 0.001, 1e-7, Long.MAX_VALUE, ws);
            double[] a = new double[n], b = new double[n];
            for (int i = 0; i < push.nodes().length; i++) a[push.nodes()[i]] = push.values()[i];
            for (int i = 0; i < cg.nodes().length; i++) b[cg.nodes()[i]] = cg.values()[i];
            for (int i = 0; i < n; i++) // each is within tol·deg(u) of the true PPR at every node
                assertEquals(a[i] / g.degree(i), b[i] / g.degree(i), 2e-7, "node " + i);
            assertTrue(cg.work() * 20 < push.work(), "CG work " + cg.work() + " vs push " + push.work());
            // the solve's state is sized by the set it explores: a workspace used only by it holds no
            // graph-sized array, and gives the same bits as the one the push used
            Ppr.Workspace own = new Ppr.Workspace(n);
            Ppr.Result again = Ppr.solve(g, seed, 0.001, 1e-7, Long.MAX_VALUE, own);
            assertNull(own.p);
            assertArrayEquals(cg.nodes(), again.nodes());
            assertArrayEquals(cg.values(), again.values());
        }
    }

    /**
     * The stop rule at larger N: 300 planted groups of 40-60 rows with minGain 0.02 ask for 400 new rows
     * over the window, the same ratio of minGain·N to cluster size (8x) as 10,000 groups of 100 rows in
     * 1M rows at the published 0.001. A fixed window of one round (8 seeds x 50 rows) stopped after its
     * first rounds; the window of stopWindow seeds keeps going until the groups are found.
     */
    @Test
    void manySmallClustersDoNotStopEarly() {
        int groups = 300, d = 16;
        SplittableRandom rnd = new SplittableRandom(17);
        int[] size = new int[groups];
        int n = 0;
        for (int c = 0; c < groups; c++) n += size[c] = 40 + rnd.nextInt(21);
        int[] truth = new int[n];
        float[] x = new float[n * d];
        for (int c = 0, r = 0; c < groups; c++) {
            float[] centre = new float[d];
            for (int j = 0; j < d; j++) centre[j] = (float) (rnd.nextGaussian() * 4);
            for (int i = 0; i < size[c]; i++, r++) {
                truth[r] = c;
                for (int j = 0; j < d; j++) x[r * d + j] = centre[j] + (float) rnd.nextGaussian();
            }
        }
        Graph g = Graph.symmetrize(Knn.fit(new Vectors(x, n, d), Knn.Options.defaults().withK(15)));
        PprClustering.Options o = new PprClustering.Options(15, 0.001, 1e-7, 0.99, 20, 0.02, 1, 50_000_000L, 8, 0.5, 0);
        assertEquals(Math.ceil(0.02 * n / 20), PprClustering.stopWindow(n, o));
        assertEquals(2300, PprClustering.stopWindow(46_000_000, PprClustering.Options.defaults()));
        PprClustering.Result r = PprClustering.fit(g, o);
        double ari = Metrics.adjustedRand(truth, r.labels());
        System.out.println("many small clusters: " + r.clusters().size() + " clusters, ARI " + ari + ", " + r.stats());
        assertTrue(r.stats().coverage() >= 0.9, r.stats().toString());
        assertTrue(ari >= 0.9, "ARI " + ari + ", " + r.stats());
        assertTrue(r.clusters().size() >= 0.95 * groups, r.clusters().size() + " clusters");
        assertEquals(0, r.stats().capped(), r.stats().toString());
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
        // unclustered rows (-1) are singletons: two of them are not a pair found together
        int[] truth = {0, 0, 0, 1, 1, 1, 2, 2, 2}, found = {0, 0, 0, 1, 1, 1, -1, -1, -1};
        assertEquals(1.0, Metrics.adjustedRand(truth, found, false), 1e-12);
        double singles = Metrics.adjustedRand(truth, found);
        assertTrue(singles < 1 && singles > 0.5, "ARI " + singles);
        assertEquals(Metrics.adjustedRand(truth, new int[]{0, 0, 0, 1, 1, 1, 7, 8, 9}, false), singles, 1e-12);
    }

    @Test
    void labelsFileRoundTrip(@TempDir Path dir) {
        Npy.write(dir.resolve("l.npy"), new int[]{-1, 2}, 2);
        assertArrayEquals(new int[]{-1, 2}, Npy.readInts(dir.resolve("l.npy")).data());
    }
}
