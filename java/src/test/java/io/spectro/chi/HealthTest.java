package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.io.Npy;
import io.spectro.structure.Pipeline;
import io.spectro.whiten.Whitening;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class HealthTest {
    static double[][] chains(int m, int n, double slope, long seed) {
        Random r = new Random(seed);
        double[][] x = new double[m][n];
        for (int c = 0; c < m; c++) for (int i = 0; i < n; i++) x[c][i] = 5 + slope * i + 0.01 * r.nextGaussian();
        return x;
    }

    @Test
    void driftIsSmallForStationaryChainsAndLargeForARisingOne() {
        double[] z = new double[200];
        for (int s = 0; s < z.length; s++) z[s] = Diagnostics.drift(chains(4, 50, 0, s));
        double mean2 = 0;
        for (double v : z) mean2 += v * v / z.length;
        assertEquals(1.0, mean2, 0.35, "z of stationary white noise has variance ~1");
        assertTrue(Diagnostics.drift(chains(4, 50, 0.001, 1)) > 6); // rises by 0.05 over 50 draws, noise 0.01
        assertTrue(Diagnostics.drift(chains(4, 50, -0.001, 2)) < -6);
        assertTrue(Double.isNaN(Diagnostics.drift(chains(4, 3, 0, 1))));
    }

    static Diagnostics diag(double llc, double rhat, double drift, double meanS) {
        return new Diagnostics("l0h0", llc, rhat, 0.1, meanS, 5.0, "ok", drift, 50);
    }

    @Test
    void levelsAndReasons() {
        Health ok = Health.of(diag(2, 1.02, 0.5, 5.1), 0.9, true, 30);
        assertEquals(Health.Level.ok, ok.level());
        assertTrue(ok.reasons().isEmpty());
        Health neg = Health.of(diag(-0.6, 1.02, 0.5, 4.98), 0.9, true, 30);
        assertEquals(Health.Level.fail, neg.level());
        assertTrue(neg.reasons().get(0).contains("negative LLC -0.6"), neg.reasons().toString());
        assertEquals(Health.Level.warn, Health.of(diag(2, 1.15, 0.5, 5.1), 0.9, true, 30).level());
        assertEquals(Health.Level.fail, Health.of(diag(2, 1.4, 0.5, 5.1), 0.9, true, 30).level());
        assertEquals(Health.Level.warn, Health.of(diag(2, 1.0, -4, 5.1), 0.9, true, 30).level());
        Health drift = Health.of(diag(2, 1.0, 7, 5.1), 0.3, true, 30);
        assertEquals(Health.Level.fail, drift.level());
        assertEquals(2, drift.reasons().size(), drift.reasons().toString()); // drift (fail) and reliability (warn)
        assertEquals(Health.Level.fail, Health.of(diag(2, 1.0, 0, 5.1), 0.9, false, 30).level());
        Health stopped = Health.of(Diagnostics.failed("l1mlp", 5, "stopped: component l1mlp, chain 1, step 7: minibatch loss is NaN"), Double.NaN, false, 30);
        assertEquals(Health.Level.fail, stopped.level());
        assertTrue(stopped.reasons().get(0).contains("chain 1, step 7"));
        // the baseline (nbeta 0): LLC is 0 by definition, E[S] - L0 < 0 is what fails
        assertEquals(Health.Level.ok, Health.of(diag(0, 1.0, 0, 5.1), 0.9, true, 0).level());
        assertTrue(Health.of(diag(0, 1.0, 0, 4.9), 0.9, true, 0).reasons().get(0).contains("E[S] - L0"));
        String table = Health.table(List.of(ok, neg));
        assertTrue(table.contains("1 ok, 0 warn, 1 fail"), table);
        assertThrows(SpectroException.class, () -> Health.Policy.parse("maybe"));
    }

    /** A 3-component run whose middle component failed: drop leaves its column out, stop refuses, keep keeps it. */
    @Test
    void unhealthyPolicyDecidesWhatWhiteningUses(@TempDir Path dir) throws Exception {
        int n = 300, h = 3;
        Random r = new Random(3);
        float[] chi = new float[n * h];
        for (int i = 0; i < chi.length; i++) chi[i] = (float) r.nextGaussian();
        Npy.write(dir.resolve("chi.npy"), chi, n, h);
        ObjectMapper json = new ObjectMapper();
        Files.writeString(dir.resolve("components.json"), "[\"a\",\"b\",\"c\"]");
        List<Health> hs = new ArrayList<>();
        for (String c : List.of("a", "b", "c"))
            hs.add(Health.of(new Diagnostics(c, c.equals("b") ? -1 : 1, 1.0, 0, c.equals("b") ? 4 : 6, 5, "ok", 0, 50), 0.9, true, 30));
        ObjectNode root = json.createObjectNode();
        root.set("health", json.valueToTree(hs));
        Files.writeString(dir.resolve("diagnostics.json"), json.writeValueAsString(root));
        Pipeline.log = null;

        assertEquals("health: 2 ok, 0 warn, 1 fail (b)", Health.badge(dir));
        Whitening w = Pipeline.whiten(dir.resolve("chi.npy"), dir.resolve("whiten"), Whitening.Options.defaults(), Health.Policy.drop);
        assertEquals(2, w.inputDim());
        assertTrue(Files.readString(dir.resolve("whiten/source.json")).contains("\"droppedColumns\":[1]"));
        assertEquals(3, Pipeline.whiten(dir.resolve("chi.npy"), dir.resolve("w2"), Whitening.Options.defaults(), Health.Policy.keep).inputDim());
        SpectroException e = assertThrows(SpectroException.class,
                () -> Pipeline.whiten(dir.resolve("chi.npy"), dir.resolve("w3"), Whitening.Options.defaults(), Health.Policy.stop));
        assertTrue(e.getMessage().contains("component(s) b failed"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("w3")));
        // a NaN column that failed: dropped, whitening works; kept, whitening refuses naming the file
        for (int i = 0; i < n; i++) chi[i * h + 1] = Float.NaN;
        Npy.write(dir.resolve("chi.npy"), chi, n, h);
        assertEquals(2, Pipeline.whiten(dir.resolve("chi.npy"), dir.resolve("w4"), Whitening.Options.defaults(), Health.Policy.drop).inputDim());
        assertThrows(SpectroException.class,
                () -> Pipeline.whiten(dir.resolve("chi.npy"), dir.resolve("w5"), Whitening.Options.defaults(), Health.Policy.keep));
        // the clustering's cards name only the columns that were whitened
        var cf = Pipeline.cluster(dir.resolve("whiten/whitened.npy"), dir.resolve("clusters"),
                io.spectro.graph.Knn.Options.defaults().withK(10), io.spectro.cluster.PprClustering.Options.defaults().withK(10).withMinSize(5), dir);
        assertEquals(List.of("a", "c"), cf.components());
    }
}
