package io.spectro.cluster;

import io.spectro.SpectroException;
import io.spectro.graph.Graph;
import io.spectro.graph.Knn;
import io.spectro.util.Vectors;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The sweep's local-minimum rule at demo scale (docs/clustering.md "Small inputs"): 30 well-separated Gaussian groups
 * in 7 dimensions (centres N(0, 16 I), unit spread, ~67 rows each, the inputs of bench/pile-snr/mixture.py) at the
 * published k, α and min size.
 */
class SmallInputsTest {

    static int[] truth;

    static Graph mixture(int n, int groups, int d, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[][] centre = new float[Math.max(groups, 1)][d];
        for (float[] c : centre) for (int j = 0; j < d; j++) c[j] = groups == 0 ? 0 : (float) (r.nextGaussian() * 4);
        float[] x = new float[n * d];
        truth = new int[n];
        for (int i = 0; i < n; i++) {
            int g = groups == 0 ? 0 : r.nextInt(groups);
            truth[i] = g;
            for (int j = 0; j < d; j++) x[i * d + j] = centre[g][j] + (float) r.nextGaussian();
        }
        return Graph.symmetrize(Knn.fit(new Vectors(x, n, d), Knn.Options.defaults()));
    }

    @Test
    void thirtyGroupsAtTwoThousandRows() {
        Graph g = mixture(2000, 30, 7, 0);
        PprClustering.Options auto = PprClustering.Options.defaults();
        PprClustering.Result local = PprClustering.fit(g, auto);
        double ari = Metrics.adjustedRand(truth, local.labels());
        System.out.println("30 groups, auto sweep: " + local.clusters().size() + " clusters, ARI " + ari + ", " + local.stats());
        assertEquals(PprClustering.Options.DEFAULT_WINDOW, local.stats().sweepWindow());
        assertTrue(local.clusters().size() >= 25, local.clusters().size() + " clusters");
        assertTrue(ari >= 0.8, "ARI " + ari);
        // the published global minimum returns groups joined into one connected component whole
        PprClustering.Result global = PprClustering.fit(g, auto.withSweepWindow(0));
        double ariGlobal = Metrics.adjustedRand(truth, global.labels());
        System.out.println("30 groups, global sweep: " + global.clusters().size() + " clusters, ARI " + ariGlobal);
        assertEquals(0, global.stats().sweepWindow());
        assertTrue(global.clusters().size() < local.clusters().size() && ariGlobal < ari, global.stats().toString());
    }

    @Test
    void isotropicNoiseGivesFew() {
        for (int d : new int[]{7, 2}) {
            PprClustering.Result r = PprClustering.fit(mixture(1905, 0, d, 1), PprClustering.Options.defaults());
            System.out.println("noise in " + d + " dims: " + r.clusters().size() + " clusters, " + r.stats());
            assertTrue(r.clusters().size() <= 3, d + " dims: " + r.clusters().size() + " clusters");
        }
    }

    @Test
    void autoWindowIsTheLocalRuleAtEverySize() {
        PprClustering.Options o = PprClustering.Options.defaults();
        assertEquals(PprClustering.Options.AUTO, o.sweepWindow());
        assertEquals(1.25, o.sweepWindowFor(2_000));
        assertEquals(1.25, o.sweepWindowFor(46_000_000));
        assertEquals(0, o.withSweepWindow(0).sweepWindowFor(2_000));
        assertEquals(2, o.withSweepWindow(2).sweepWindowFor(46_000_000));
        assertThrows(SpectroException.class, () -> o.withSweepWindow(0.5));
        assertThrows(SpectroException.class, () -> o.withSweepWindow(Double.NaN));
    }

    @Test
    void localMinimumOfAConductanceProfile() {
        // a dip at length 3 (0.1), a lower one at length 8 (0.0): window 1.25 keeps the first, 3 reaches the second
        double[] phi = {0.9, 0.5, 0.1, 0.2, 0.3, 0.2, 0.1, 0.0, 0.4};
        assertEquals(3, PprClustering.localMinimum(phi, phi.length, 1.25, 1));
        assertEquals(8, PprClustering.localMinimum(phi, phi.length, 3, 1));
        assertEquals(8, PprClustering.localMinimum(phi, phi.length, 1.25, 4));
        assertEquals(0, PprClustering.localMinimum(phi, phi.length, 1.25, 9));
    }
}
