package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.chi.PredictedRows;
import io.spectro.cli.Main;
import io.spectro.io.Npy;
import io.spectro.map.ClusterMap;
import io.spectro.report.Fixtures;
import io.spectro.report.Report;
import io.spectro.structure.Cards;
import io.spectro.structure.Pipeline;
import io.spectro.structure.TokenTable;
import io.spectro.util.Vectors;
import io.spectro.whiten.Whitening;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Predicted and combined runs (docs/upsampling.md, "Predicted runs") through whiten, cluster, map, report. */
class PredictedRunsTest {
    @BeforeEach
    void quiet() {
        Pipeline.log = null;
    }

    @AfterEach
    void clear() {
        System.clearProperty("spectro.mapBytes");
    }

    static void assertSameTransform(Whitening a, Whitening b) {
        assertArrayEquals(a.mean(), b.mean());
        assertArrayEquals(a.std(), b.std());
        assertArrayEquals(a.pcaMean(), b.pcaMean());
        assertArrayEquals(a.eigenvalues(), b.eigenvalues());
        assertEquals(a.kept(), b.kept());
        for (int i = 0; i < a.kept(); i++) assertArrayEquals(a.basis()[i], b.basis()[i], "direction " + i);
    }

    @Test
    void whiteningIsFitOnGroundTruthOnlyAndAppliedToAll(@TempDir Path dir) {
        Path c = PredictedFixture.combined(dir, 600, 12);
        Path gt = dir.resolve("gt");
        assertEquals(600, PredictedRows.read(c).predictedCount());
        Whitening alone = Pipeline.whiten(gt.resolve("chi.npy"), gt.resolve("whiten"), Whitening.Options.defaults());
        Whitening comb = Pipeline.whiten(c.resolve("chi.npy"), c.resolve("whiten"), Whitening.Options.defaults());
        assertSameTransform(alone, comb);
        // the streamed (mapped) path reads the ground-truth rows through the same view: the same transform
        System.setProperty("spectro.mapBytes", "0");
        Whitening mapped = Pipeline.whiten(c.resolve("chi.npy"), dir.resolve("w-mapped"), Whitening.Options.defaults());
        assertSameTransform(alone, mapped);
        // a fit over all 1,200 rows would be another transform: the test can tell the difference
        Whitening all = Whitening.fit(Vectors.read(c.resolve("chi.npy")), Whitening.Options.defaults());
        assertNotEquals(alone.mean()[0], all.mean()[0]);
        // every row is transformed: the ground-truth rows exactly as in the run alone, the predicted ones by the same map
        Vectors wa = Vectors.read(gt.resolve("whiten/whitened.npy")), wc = Vectors.read(c.resolve("whiten/whitened.npy"));
        assertEquals(1200, wc.rows());
        assertArrayEquals(wa.data(), java.util.Arrays.copyOf(wc.data(), 600 * wc.cols()));
        Vectors pred = alone.apply(Vectors.read(dir.resolve("pred/chi.npy")));
        assertArrayEquals(pred.data(), java.util.Arrays.copyOfRange(wc.data(), 600 * wc.cols(), 1200 * wc.cols()));
        Pipeline.Source src = PipelineAccess.source(c.resolve("whiten/source.json"));
        assertEquals(600, src.fitRows());
        assertEquals(600, src.predictedRows());
    }

    @Test
    void combinedRunGoesThroughClusterMapAndReportWithPredictedCounts(@TempDir Path dir) throws Exception {
        Path c = PredictedFixture.combined(dir, 600, 12);
        Path html = Report.write(c, true, Whitening.Options.defaults(), Fixtures.fastKnn(), Fixtures.fastCluster(),
                ClusterMap.Options.defaults());
        Pipeline.ClustersFile cf = Pipeline.readClusters(c.resolve("clusters"));
        assertTrue(cf.clusters().size() >= 2, "clusters found: " + cf.clusters().size());
        PredictedRows flags = PredictedRows.read(c);
        long predictedMembers = 0;
        for (Cards.Card card : cf.clusters()) {
            assertEquals(flags.countPredicted(card.members()), card.predicted(), card.id());
            predictedMembers += card.predicted();
            for (Cards.Example e : card.examples()) assertEquals(e.row() >= 600, e.predicted(), "row " + e.row());
        }
        assertTrue(predictedMembers > 0, "predicted rows are clustered");
        // predicted copies sit next to their ground truth: clusters mix both kinds
        assertTrue(cf.clusters().stream().anyMatch(k -> k.predicted() > 0 && k.predicted() < k.size()));
        String page = Files.readString(html);
        assertTrue(page.contains("\"predicted\":" + predictedMembers), "page data names the predicted total");
        assertTrue(page.contains("\"pred\":"), "cards carry their predicted counts");
        // the tokens of the combined run: both parts, sequences kept apart
        TokenTable t = TokenTable.read(c, 1200);
        assertEquals(t.token(5), t.token(605));
        assertNotEquals(t.seq(5), t.seq(605));
        assertEquals(t.context(5)[t.pos(5)], t.context(605)[t.pos(605)]);
        assertTrue(t.isPredicted(605) && !t.isPredicted(5));
        // combine wrote tokens.arrow too: the table read from it alone is the same
        Files.delete(c.resolve("tokens.csv"));
        TokenTable ta = TokenTable.read(c, 1200);
        for (int r : new int[]{0, 5, 599, 600, 605, 1199}) {
            assertEquals(t.token(r), ta.token(r));
            assertEquals(t.seq(r), ta.seq(r));
            assertEquals(t.pos(r), ta.pos(r));
        }
        // compare shows the predicted members next to the clusters
        String cmp = io.spectro.report.Compare.render("combined", cf, "combined", cf, List.of(t.token(5)));
        assertTrue(cmp.contains(predictedMembers + " clustered rows predicted"), cmp);
    }

    @Test
    void anAllPredictedRunUsesItsAuxTransformOrIsRefused(@TempDir Path dir) throws Exception {
        Path gt = PredictedFixture.groundTruth(dir.resolve("gt"), 400, 8, 7);
        Whitening w = Pipeline.whiten(gt.resolve("chi.npy"), gt.resolve("whiten"), Whitening.Options.defaults());
        Path aux = dir.resolve("aux");
        Files.createDirectories(aux.resolve("transform"));
        Files.copy(gt.resolve("whiten/transform.json"), aux.resolve("transform/transform.json"));
        Path p = PredictedFixture.predicted(gt, dir.resolve("pred"), "../aux", 9);
        Whitening used = Pipeline.whiten(p.resolve("chi.npy"), p.resolve("whiten"), Whitening.Options.defaults());
        assertSameTransform(w, used);
        assertArrayEquals(w.apply(Vectors.read(p.resolve("chi.npy"))).data(), Vectors.read(p.resolve("whiten/whitened.npy")).data());
        assertTrue(PipelineAccess.source(p.resolve("whiten/source.json")).transformFrom().endsWith("transform.json"));
        // without an AUX to take the transform from: refused, saying why and what to do
        Path q = PredictedFixture.predicted(gt, dir.resolve("pred2"), null, 9);
        SpectroException e = assertThrows(SpectroException.class,
                () -> Pipeline.whiten(q.resolve("chi.npy"), q.resolve("whiten"), Whitening.Options.defaults()));
        assertTrue(e.getMessage().contains("every row is predicted") && e.getMessage().contains("upsample combine"), e.getMessage());
        assertFalse(Files.exists(q.resolve("whiten/transform.json")));
    }

    static int cli(StringBuilder err, String... args) {
        int[] code = new int[1];
        err.append(io.spectro.cli.StructureCliTest.err(() -> code[0] = Main.run(args)));
        return code[0];
    }

    @Test
    void combineRefusesMismatchedRunsWithNothingWritten(@TempDir Path dir) throws Exception {
        Path gt = PredictedFixture.groundTruth(dir.resolve("gt"), 300, 8, 3);
        Path other = PredictedFixture.predicted(gt, dir.resolve("other"), null, 4);
        PredictedFixture.manifest(other, "ffff", null);
        Path out = dir.resolve("out");
        StringBuilder err = new StringBuilder();
        assertEquals(2, cli(err, "upsample", "combine", "--run", gt.toString(), "--run", other.toString(), "--out", out.toString()));
        assertTrue(err.toString().contains("modelSha256") && err.toString().contains("other/manifest.json"), err.toString());
        Path comps = PredictedFixture.predicted(gt, dir.resolve("comps"), null, 4);
        Files.writeString(comps.resolve("components.json"), "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\"]");
        err.setLength(0);
        assertEquals(2, cli(err, "upsample", "combine", "--run", gt.toString(), "--run", comps.toString(), "--out", out.toString()));
        assertTrue(err.toString().contains("comps/components.json"), err.toString());
        Path noManifest = PredictedFixture.predicted(gt, dir.resolve("nomf"), null, 4);
        Files.delete(noManifest.resolve("manifest.json"));
        err.setLength(0);
        assertEquals(2, cli(err, "upsample", "combine", "--run", gt.toString(), "--run", noManifest.toString(), "--out", out.toString()));
        assertTrue(err.toString().contains("nomf/manifest.json: missing"), err.toString());
        assertFalse(Files.exists(out), "nothing written");
        try (var s = Files.list(dir)) {
            assertTrue(s.noneMatch(f -> f.getFileName().toString().contains("combine-")), "no temporary left");
        }
        // an existing, non-empty --out is refused too; the same runs combine into a fresh directory
        Files.createDirectories(out);
        Files.writeString(out.resolve("keep.txt"), "x");
        Path ok = PredictedFixture.predicted(gt, dir.resolve("ok"), null, 4);
        err.setLength(0);
        assertEquals(2, cli(err, "upsample", "combine", "--run", gt.toString(), "--run", ok.toString(), "--out", out.toString()));
        assertEquals("x", Files.readString(out.resolve("keep.txt")));
        assertEquals(0, cli(err, "upsample", "combine", "--run", gt.toString(), "--run", ok.toString(), "--out", dir.resolve("c").toString()));
        Npy.Floats c = Npy.readFloats(dir.resolve("c/chi.npy"));
        assertEquals(600, c.dim(0));
        assertEquals(Npy.readFloats(ok.resolve("chi.npy")).data()[0], c.data()[300 * 8]);
        assertEquals(300, PredictedRows.read(dir.resolve("c")).predictedCount());
        String manifest = Files.readString(dir.resolve("c/manifest.json"));
        assertTrue(manifest.contains("\"chiSha256\"") && manifest.contains(gt.toString()), manifest);
    }

    @Test
    void combineKeepsStandardErrorsAndHealthGatingByColumn(@TempDir Path dir) throws Exception {
        Path gt = PredictedFixture.groundTruth(dir.resolve("gt"), 300, 8, 3);
        Path p = PredictedFixture.predicted(gt, dir.resolve("pred"), null, 4);
        float[] se = new float[300 * 8];
        for (int i = 0; i < se.length; i++) se[i] = i;
        Npy.write(gt.resolve("chi_se.npy"), se, 300, 8);
        Npy.write(p.resolve("chi_se.npy"), se, 300, 8);
        StringBuilder health = new StringBuilder("{\"health\": [");
        for (int c = 0; c < 8; c++)
            health.append(c == 0 ? "" : ",").append("{\"component\": \"c").append(c).append("\", \"level\": \"")
                    .append(c == 3 ? "fail" : c == 5 ? "warn" : "ok").append("\", \"reasons\": [").append(c == 3 ? "\"R-hat 1.5\"" : "").append("]}");
        Files.writeString(gt.resolve("diagnostics.json"), health.append("]}").toString());
        Path c = dir.resolve("c");
        Combine.Result r = Combine.combine(List.of(gt, p), c);
        assertTrue(r.withSe());
        float[] cse = Npy.readFloats(c.resolve("chi_se.npy")).data();
        assertEquals(se[299 * 8 + 7], cse[299 * 8 + 7]);
        assertEquals(se[5], cse[300 * 8 + 5]);
        List<io.spectro.chi.Health.Level> lv = io.spectro.chi.Health.read(c, 8);
        assertEquals(io.spectro.chi.Health.Level.fail, lv.get(3));
        assertEquals(io.spectro.chi.Health.Level.warn, lv.get(5));
        assertTrue(Files.readString(c.resolve("diagnostics.json")).contains("part 0: R-hat 1.5"));
        // health gating by column on the combined run: the failing column is left out, the fit still on ground truth only
        Pipeline.whiten(c.resolve("chi.npy"), c.resolve("whiten"), Whitening.Options.defaults());
        Pipeline.Source src = PipelineAccess.source(c.resolve("whiten/source.json"));
        assertEquals(List.of(3), src.droppedColumns());
        assertEquals(300, src.fitRows());
        Whitening alone = Pipeline.whiten(gt.resolve("chi.npy"), gt.resolve("whiten"), Whitening.Options.defaults());
        assertSameTransform(alone, Whitening.load(c.resolve("whiten/transform.json")));
    }

    /** Leaves column {@code drop} out of a run's chi.npy and components.json. */
    static void dropColumn(Path run, int drop) throws Exception {
        Npy.Floats f = Npy.readFloats(run.resolve("chi.npy"));
        int n = f.dim(0), h = f.dim(1);
        float[] y = new float[n * (h - 1)];
        for (int r = 0, o = 0; r < n; r++) for (int c = 0; c < h; c++) if (c != drop) y[o++] = f.data()[r * h + c];
        Npy.write(run.resolve("chi.npy"), y, n, h - 1);
        List<String> names = new java.util.ArrayList<>(List.of(tools.jackson.databind.json.JsonMapper.shared()
                .readValue(run.resolve("components.json").toFile(), String[].class)));
        names.remove(drop);
        Files.writeString(run.resolve("components.json"), tools.jackson.databind.json.JsonMapper.shared().writeValueAsString(names));
    }

    @Test
    void aPredictedRunWithoutTheGatedColumnsCombinesWithItsGroundTruth(@TempDir Path dir) throws Exception {
        Path gt = PredictedFixture.groundTruth(dir.resolve("gt"), 300, 8, 3);
        StringBuilder health = new StringBuilder("{\"health\": [");
        for (int c = 0; c < 8; c++)
            health.append(c == 0 ? "" : ",").append("{\"level\": \"").append(c == 3 ? "fail" : "ok").append("\"}");
        Files.writeString(gt.resolve("diagnostics.json"), health.append("]}").toString());
        // apply predicts only the 7 columns the ground truth's whitening used
        Path p = PredictedFixture.predicted(gt, dir.resolve("pred"), null, 4);
        dropColumn(p, 3);
        Combine.Result r = Combine.combine(List.of(gt, p), dir.resolve("c"));
        assertEquals(8, r.columns());
        assertEquals(List.of(io.spectro.structure.SyntheticRun.componentNames(8).get(3)), r.filled());
        Npy.Floats c = Npy.readFloats(dir.resolve("c/chi.npy"));
        Npy.Floats pc = Npy.readFloats(p.resolve("chi.npy"));
        assertTrue(Float.isNaN(c.data()[300 * 8 + 3]));
        assertEquals(pc.data()[7 * 7 + 4], c.data()[(300 + 7) * 8 + 5]); // predicted column 4 is the run's column 5
        assertEquals(Npy.readFloats(gt.resolve("chi.npy")).data()[3], c.data()[3]);
        assertTrue(Files.readString(dir.resolve("c/manifest.json")).contains("missingColumns"));
        // health gating leaves the column out, so the NaN never reaches whitening; the fit is the ground truth's
        Pipeline.whiten(dir.resolve("c/chi.npy"), dir.resolve("c/whiten"), Whitening.Options.defaults());
        assertEquals(List.of(3), PipelineAccess.source(dir.resolve("c/whiten/source.json")).droppedColumns());
        assertSameTransform(Pipeline.whiten(gt.resolve("chi.npy"), gt.resolve("whiten"), Whitening.Options.defaults()),
                Whitening.load(dir.resolve("c/whiten/transform.json")));
        // a part with ground-truth rows may not lack columns
        Path gt2 = PredictedFixture.groundTruth(dir.resolve("gt2"), 300, 8, 5);
        dropColumn(gt2, 3);
        SpectroException e = assertThrows(SpectroException.class, () -> Combine.combine(List.of(gt, gt2), dir.resolve("c2")));
        assertTrue(e.getMessage().contains("only an all-predicted run may lack columns"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("c2")));
    }

    @Test
    void predictedFlagsAreValidatedAgainstChi(@TempDir Path dir) throws Exception {
        Path gt = PredictedFixture.groundTruth(dir.resolve("gt"), 200, 6, 3);
        assertFalse(PredictedRows.read(gt).present());
        assertEquals(0, PredictedRows.read(gt).predictedCount());
        PredictedRows.write(gt, new byte[199]);
        SpectroException e = assertThrows(SpectroException.class, () -> PredictedRows.read(gt));
        assertTrue(e.getMessage().contains("predicted.npy: has 199 flags, chi.npy has 200 rows"), e.getMessage());
        StringBuilder err = new StringBuilder();
        assertEquals(2, cli(err, "whiten", "--in", gt.resolve("chi.npy").toString(), "--out", gt.resolve("whiten").toString()));
        assertTrue(err.toString().contains("predicted.npy"), err.toString());
        byte[] bad = new byte[200];
        bad[17] = 2;
        PredictedRows.write(gt, bad);
        e = assertThrows(SpectroException.class, () -> PredictedRows.read(gt));
        assertTrue(e.getMessage().contains("row 17 holds 2"), e.getMessage());
        Npy.write(gt.resolve("predicted.npy"), new int[200], 200);
        e = assertThrows(SpectroException.class, () -> PredictedRows.read(gt));
        assertTrue(e.getMessage().contains("dtype <i4"), e.getMessage());
    }
}
