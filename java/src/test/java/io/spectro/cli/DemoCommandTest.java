package io.spectro.cli;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * `spectro demo pile` from the command line: the mini-Pile demo reduced to minutes (clusters on the shipped
 * small model, the explorer in headless Chromium); `spectro demo`: the shipped tiny model,
 * sampler settings passed through, changed settings refused.
 */
class DemoCommandTest {
    /** Clusters the larger shipped model gave on this reduced setting (4 windows = 508 tokens, 2 pairs; measured: 2). */
    static final int LARGE_MIN_CLUSTERS = 2;

    @TempDir
    Path tmp;

    @Test
    void samplerSettingsReachTheRunAndAChangedSettingIsRefused() throws Exception {
        Assumptions.assumeTrue(CoreCommandsTest.cpuPresent(), "libspectro_cpu.so not built");
        Path out = tmp.resolve("demo");
        String[] small = {"--out", out.toString(), "--draws", "2", "--chains", "1", "--burnin", "1", "--probe-synthetic", "2",
                "--probe-text", "1", "--sampling", "4", "--batch", "4", "--text-chars", "20000", "--threads", "2"};
        CoreCommandsTest.Result r = CoreCommandsTest.run(concat(new String[] {"demo", "--nbeta", "50", "--gamma", "200", "--lr", "5e-4"}, small));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("using the shipped model"), r.err());
        String manifest = Files.readString(out.resolve("run/manifest.json"));
        assertTrue(manifest.contains("\"nbeta\" : 50.0") || manifest.contains("\"nbeta\":50.0"), manifest);
        assertTrue(manifest.contains("\"gamma\" : 200.0") || manifest.contains("\"gamma\":200.0"), manifest);
        assertTrue(Files.readString(out.resolve("induction.md")).contains("| l1h0 |"));
        // the same --out with another nbeta: a clear refusal, exit 2, naming the sampler settings
        CoreCommandsTest.Result again = CoreCommandsTest.run(concat(new String[] {"demo", "--nbeta", "60", "--gamma", "200", "--lr", "5e-4"}, small));
        assertEquals(2, again.code(), again.err());
        assertTrue(again.err().contains("different run") && again.err().contains("\"nbeta\":60.0"), again.err());
    }

    @Test
    void pileDemoOnTheShippedSmallModelFindsClustersAndTheExplorerOpens() throws Exception {
        Assumptions.assumeTrue(CoreCommandsTest.cpuPresent(), "libspectro_cpu.so not built");
        Path out = tmp.resolve("pile");
        // the demo's default estimator (Gaussian pairs) on both shipped models, reduced: 4 probe windows, 2 pairs
        CoreCommandsTest.Result r = CoreCommandsTest.run("demo", "pile", "--probe-rows", "4", "--pairs", "2",
                "--out", out.toString(), "--threads", "2");
        assertEquals(0, r.code(), r.err());
        io.spectro.structure.Pipeline.ClustersFile large = io.spectro.structure.Pipeline.readClusters(out.resolve("run-large/clusters"));
        assertEquals(6 * (8 + 1) + 2, large.components().size(), "every head, MLP, embed and unembed: " + large.components());
        assertTrue(large.clusters().size() >= LARGE_MIN_CLUSTERS, "large-model clusters: " + large.clusters().size());
        assertTrue(Files.readString(out.resolve("compare.html")).contains(" she"), "the tokens-across-scale page follows the pronouns");
        io.spectro.structure.Pipeline.ClustersFile cf = io.spectro.structure.Pipeline.readClusters(out.resolve("run-small/clusters"));
        assertEquals(4 * 127, cf.rows());
        assertEquals(4 * (4 + 1) + 2, cf.components().size(), "every head, MLP, embed and unembed: " + cf.components());
        assertTrue(cf.clusters().size() >= 2, "clusters: " + cf.clusters().size());
        // the probe windows come from every subset and the cards know it
        assertTrue(cf.clusters().stream().allMatch(c -> !c.subsets().isEmpty()));
        for (var c : cf.clusters()) for (var t : c.tokens()) assertFalse(t.t().contains("\uFFFD"), "replacement char in " + t.t());
        Path html = out.resolve("run-small/report/index.html");
        assertTrue(Files.isRegularFile(html));
        // the subset-purity report: every clustered row counted once, chance = the largest subset's share
        io.spectro.report.SubsetPurity sp = io.spectro.report.SubsetPurity.of(cf);
        assertNotNull(sp);
        assertEquals(cf.clusters().stream().mapToInt(c -> c.size()).sum(),
                sp.subsets().values().stream().mapToInt(io.spectro.report.SubsetPurity.Split::rows).sum());
        // a cluster's largest subset holds at least 1/(subsets) of it
        assertTrue(sp.mean() >= 1.0 / sp.subsets().size() - 1e-9 && sp.mean() <= 1 && sp.weighted() <= 1, sp.line());
        assertTrue(Files.readString(out.resolve("run-small/report/subsets.json")).contains("\"chance\""));
        String exe = io.spectro.report.ExplorerTestAccess.chromium();
        Assumptions.assumeTrue(exe != null, "chromium not installed (scripts/install-test-deps installs it)");
        String last = cf.clusters().get(cf.clusters().size() - 1).id();
        String dom = io.spectro.report.ExplorerTestAccess.dumpDom(exe, tmp.resolve("profile"), html.toUri() + "#click=" + last);
        assertTrue(dom.contains("data-ready=\"1\""), dom.substring(0, Math.min(300, dom.length())));
        assertTrue(dom.contains("<h2>" + last + "</h2>"), "the last card opens");
        assertTrue(dom.contains("Subset mix"), "the card shows its subset mix");
        for (var c : cf.clusters()) assertTrue(dom.contains("\"id\":\"" + c.id() + "\""), "card " + c.id() + " in the page data");
    }

    @Test
    void pileDemoWithGaussianPairsWritesItsRunAndRefusesAnotherEstimatorInIt() throws Exception {
        Assumptions.assumeTrue(CoreCommandsTest.cpuPresent(), "libspectro_cpu.so not built");
        Path out = tmp.resolve("pile-gauss");
        CoreCommandsTest.Result r = CoreCommandsTest.run("demo", "pile", "--quick", "--probe-rows", "2", "--estimator", "gaussian",
                "--pairs", "1", "--sampling-rows", "4", "--out", out.toString(), "--threads", "2");
        assertEquals(0, r.code(), r.err());
        // the log states the settings the estimator uses, not chains it does not run
        assertTrue(r.err().contains("1 gaussian pairs per component (no chains)") && !r.err().contains("2 chains x"), r.err());
        String desc = Files.readString(out.resolve("run-small/gaussian_pairs.json"));
        assertTrue(desc.contains("\"drawsPerComponent\" : 2"), desc);
        assertTrue(desc.contains("\"samplingShape\" : \"4x128\""), desc);
        assertArrayEquals(new long[]{2 * 127, 4 * (4 + 1) + 2}, io.spectro.io.Npy.readFloats(out.resolve("run-small/chi.npy")).shape());
        assertTrue(Files.isRegularFile(out.resolve("run-small/report/index.html")));
        assertTrue(Files.isRegularFile(out.resolve("run-small/subsets.json")));
        // the same command reuses the cache; other pairs or other sampling windows are refused, saying which
        String[] again = {"demo", "pile", "--quick", "--probe-rows", "2", "--estimator", "gaussian", "--pairs", "1", "--sampling-rows", "4",
                "--out", out.toString(), "--threads", "2"};
        r = CoreCommandsTest.run(again);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("chi cached"), r.err());
        again[8] = "2";
        r = CoreCommandsTest.run(again);
        assertEquals(2, r.code());
        assertTrue(r.err().contains("1 pairs per component, not 2"), r.err());
        again[8] = "1";
        again[10] = "8";
        r = CoreCommandsTest.run(again);
        assertEquals(2, r.code());
        assertTrue(r.err().contains("dataSha256"), r.err());
        // the cached run belongs to the gaussian estimator: the chains' demo in the same --out is refused, naming it
        r = CoreCommandsTest.run("demo", "pile", "--quick", "--probe-rows", "2", "--estimator", "sgld", "--out", out.toString(), "--threads", "2");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("another estimator"), r.err());
        assertEquals(2, CoreCommandsTest.run("demo", "pile", "--estimator", "exact", "--out", tmp.resolve("x").toString()).code());
        // chain options with a chain-free estimator are refused (exit 2), not silently ignored
        r = CoreCommandsTest.run("demo", "pile", "--draws", "5", "--out", tmp.resolve("y").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("runs no chains"), r.err());
        assertFalse(Files.exists(tmp.resolve("y")));
    }

    private static String[] concat(String[] a, String[] b) {
        String[] r = new String[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
