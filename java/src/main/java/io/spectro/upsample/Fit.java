package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.Version;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.model.Checkpoint;
import io.spectro.util.Progress;
import io.spectro.util.Vectors;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code spectro upsample fit}: features for every ground-truth token of a run, a regressor from features to
 * the run's whitened χ trained on the sequences not held out, its held-out quality next to a ridge baseline,
 * and the AUX directory (docs/upsampling.md).
 */
public final class Fit {
    private static final JsonMapper JSON = JsonMapper.shared();

    /**
     * @param probe     the run's probe set (null: RUN/probe.npy)
     * @param holdout   fraction of the sequences held out, in (0, 0.5]
     * @param replicate a replicate run (same settings, another seed) for the ceilings, or null
     */
    public record Options(Path run, Path model, Path probe, Path out, FeatureSpec features, double holdout, String regressor,
                          Regressors.Options regressorOptions, Path replicate, long seed, Features.Options backend, boolean progress) {
        public Options {
            if (run == null || model == null || out == null) throw new SpectroException("upsample fit needs --run, --model and --out");
            if (features == null) throw new SpectroException("features missing");
            if (!(holdout > 0 && holdout <= 0.5)) throw new SpectroException("--holdout must be in (0, 0.5], got " + holdout);
            if (!Regressors.KINDS.contains(regressor))
                throw new SpectroException("--regressor: unknown kind '" + regressor + "'; known: " + String.join(", ", Regressors.KINDS));
            if (regressorOptions == null || backend == null) throw new SpectroException("regressor or backend options missing");
        }
    }

    /** What a fit measured. */
    public record Result(Quality.Report quality, int rows, int featureDim, double featureSeconds, double fitSeconds, double predictSeconds) {}

    private Fit() {}

    /** Test hook: computes the feature rows of the run (null: the native forwards). */
    interface FeatureSource {
        float[] rows(GroundTruth gt, Progress p);
    }

    public static Result run(Options o) {
        try (Checkpoint ck = Checkpoint.open(o.model())) {
            GroundTruth gt = GroundTruth.read(o.run(), o.probe(), ck);
            Progress p = new Progress("upsample fit: features", gt.nSeq(), System.err, o.progress());
            long t0 = System.nanoTime();
            float[] x;
            List<String> names;
            try (Features f = Features.open(ck, gt.components(), o.features(), o.backend())) {
                x = f.computeAll(gt.probe(), gt.nSeq(), gt.T(), p);
                names = f.names();
            }
            p.finish();
            double featureSeconds = (System.nanoTime() - t0) / 1e9;
            return fit(o, gt, x, names, featureSeconds);
        }
    }

    /** The part after the features (tests call it with features of their own). */
    static Result fit(Options o, GroundTruth gt, float[] x, List<String> names, double featureSeconds) {
        int n = gt.rows(), dIn = names.size(), k = gt.transform().kept(), h = gt.transform().inputDim();
        int[] group = gt.groups();
        boolean[] held = GroupSplit.holdout(group, n, o.holdout(), o.seed());
        float[] y = gt.whitened().data();
        float[] xTr = Quality.select(x, dIn, held, false), yTr = Quality.select(y, k, held, false);
        float[] xHo = Quality.select(x, dIn, held, true), yHo = Quality.select(y, k, held, true);
        int[] gTr = selectInts(group, held, false);
        int nTr = gTr.length, nHo = n - nTr;
        float[] zAll = gt.transform().standardize(gt.chi(), 0).data();
        float[] zHo = Quality.select(zAll, h, held, true);

        Regressors.Options ro = o.regressorOptions().withSeed(o.seed());
        long t1 = System.nanoTime();
        Regressor chosen = Regressors.fit(o.regressor(), xTr, yTr, nTr, dIn, k, gTr, ro, progress("upsample fit: " + o.regressor(), o.progress()));
        double fitSeconds = (System.nanoTime() - t1) / 1e9;
        Regressor ridge = o.regressor().equals("ridge") ? chosen
                : Regressors.fit("ridge", xTr, yTr, nTr, dIn, k, gTr, ro, progress("upsample fit: ridge baseline", o.progress()));
        try {
            long t2 = System.nanoTime();
            float[] pHo = new float[nHo * k];
            chosen.predict(xHo, nHo, pHo);
            double predictSeconds = (System.nanoTime() - t2) / 1e9;
            float[] rHo = pHo;
            if (ridge != chosen) {
                rHo = new float[nHo * k];
                ridge.predict(xHo, nHo, rHo);
            }
            int[] cs = Quality.clusterSettings(nHo);
            int[] truth = Quality.cluster(new Vectors(yHo, nHo, k), cs[0], cs[1], o.seed());
            Quality.ModelQuality mq = Quality.of(chosen.kind(), gt.transform(), gt.columnNames(), yHo, zHo, pHo, nHo, truth, cs, o.seed());
            Quality.ModelQuality rq = ridge == chosen ? mq
                    : Quality.of("ridge", gt.transform(), gt.columnNames(), yHo, zHo, rHo, nHo, truth, cs, o.seed());
            Map<String, Double> projection = Quality.byName(gt.columnNames(), Quality.r2(zHo, Quality.unwhiten(gt.transform(), yHo, nHo), nHo, h));
            Map<String, Double> repR2 = null;
            Double ceiling = null;
            if (o.replicate() != null) {
                Vectors rep = gt.replicateChi(o.replicate());
                float[] repZ = Quality.select(gt.transform().standardize(rep, 0).data(), h, held, true);
                repR2 = Quality.byName(gt.columnNames(), Quality.r2(zHo, repZ, nHo, h));
                float[] repWhite = Quality.select(gt.transform().apply(rep).data(), k, held, true);
                ceiling = io.spectro.cluster.Metrics.adjustedRand(truth, Quality.cluster(new Vectors(repWhite, nHo, k), cs[0], cs[1], o.seed()));
            }
            Map<String, Object> clustering = new LinkedHashMap<>();
            clustering.put("k", cs[0]);
            clustering.put("minSize", cs[1]);
            clustering.put("seed", o.seed());
            clustering.put("method", "structure-stage kNN + PPR clustering (defaults otherwise)");
            Quality.Report rep = new Quality.Report(nTr, nHo, distinct(gTr), gt.nSeq() - distinct(gTr), k, clustering, Quality.count(truth), mq, rq,
                    projection, repR2, ceiling, NoiseCeiling.reliability(gt), NoiseCeiling.seReliability(gt));
            writeAux(o, gt, names, chosen, ridge, rep, yHo, pHo, featureSeconds, fitSeconds);
            return new Result(rep, n, dIn, featureSeconds, fitSeconds, predictSeconds);
        } finally {
            chosen.close();
            if (ridge != chosen) ridge.close();
        }
    }

    /** A regressor's fit progress (folds, epochs) as a progress line with ETA. */
    private static Regressors.Listener progress(String what, boolean enabled) {
        Progress[] p = {null};
        int[] last = {0};
        return (done, total, label) -> {
            if (p[0] == null) p[0] = new Progress(what, total, System.err, enabled);
            p[0].label(label);
            p[0].advance(done - last[0]);
            last[0] = done;
        };
    }

    static int distinct(int[] g) {
        return (int) java.util.Arrays.stream(g).distinct().count();
    }

    static int[] selectInts(int[] a, boolean[] keep, boolean value) {
        int n = 0;
        for (boolean b : keep) if (b == value) n++;
        int[] out = new int[n];
        for (int i = 0, o = 0; i < a.length; i++) if (keep[i] == value) out[o++] = a[i];
        return out;
    }

    private static void writeAux(Options o, GroundTruth gt, List<String> names, Regressor chosen, Regressor ridge, Quality.Report q,
                                 float[] yHo, float[] pHo, double featureSeconds, double fitSeconds) {
        Path out = o.out();
        Atomic.createDirectories(out);
        try {
            Files.deleteIfExists(out.resolve("aux.json")); // from here on the directory is not an AUX until sealed
        } catch (IOException e) {
            throw new SpectroException(out.resolve("aux.json") + ": cannot delete (" + IoErrors.describe(e) + ")", e);
        }
        try {
            Atomic.createDirectories(out.resolve("transform"));
            Atomic.writeBytes(out.resolve(Aux.TRANSFORM), Files.readAllBytes(gt.transformFile()));
            chosen.save(out.resolve(Aux.MODEL));
            if (ridge != chosen) ridge.save(out.resolve(Aux.RIDGE));
        } catch (IOException e) {
            throw new SpectroException(out + ": cannot write the AUX (" + IoErrors.describe(e) + ")", e);
        }
        Atomic.writeString(out.resolve("quality.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(q));
        Atomic.writeString(out.resolve("quality.md"), Quality.markdown(q, "Upsampling quality: " + gt.run()));
        plots(out, q, yHo, pHo, q.heldoutRows(), q.directions());

        ObjectNode j = JSON.createObjectNode();
        j.put("format", Aux.FORMAT);
        j.put("spectro", Version.VERSION);
        j.put("modelSha256", gt.modelSha256());
        ObjectNode run = j.putObject("run");
        run.put("dir", gt.run().toAbsolutePath().toString());
        run.put("chiSha256", Aux.sha256(gt.run().resolve("chi.npy")));
        run.put("transformSha256", Aux.sha256(gt.transformFile()));
        if (gt.manifest().has("dataSha256")) run.set("dataSha256", gt.manifest().get("dataSha256"));
        j.set("config", gt.manifest().get("config"));
        j.set("components", gt.manifest().get("components"));
        j.put("sequenceLength", gt.T());
        ObjectNode f = j.putObject("features");
        f.put("spec", o.features().text());
        f.put("h", o.features().h());
        f.put("seed", o.features().seed());
        f.put("dim", names.size());
        f.set("names", JSON.valueToTree(names));
        ObjectNode r = j.putObject("regressor");
        r.put("kind", chosen.kind());
        r.set("options", o.regressorOptions().withSeed(o.seed()).toJson());
        ObjectNode t = j.putObject("target");
        t.put("space", "whitened");
        t.put("dim", gt.transform().kept());
        t.put("transform", Aux.TRANSFORM);
        t.set("columns", JSON.valueToTree(gt.columnNames()));
        ObjectNode qj = j.putObject("quality");
        ObjectNode ho = qj.putObject("heldout");
        ho.put("meanR2", q.model().meanR2());
        ho.put("meanCosine", q.model().meanCosine());
        ho.put("ari", q.model().ari());
        if (q.ceilingAri() == null) ho.putNull("ceilingAri");
        else ho.put("ceilingAri", q.ceilingAri());
        ho.put("rows", q.heldoutRows());
        ObjectNode rb = qj.putObject("ridge");
        rb.put("meanR2", q.ridge().meanR2());
        rb.put("meanCosine", q.ridge().meanCosine());
        rb.put("ari", q.ridge().ari());
        ObjectNode sec = j.putObject("seconds");
        sec.put("features", featureSeconds);
        sec.put("featuresPerRow", featureSeconds / gt.rows());
        sec.put("fit", fitSeconds);
        Aux.seal(out, j);
    }

    /** quality_r2.png (R² per component: model, ridge, replicate) and quality_scatter.png (direction 0, held out). */
    private static void plots(Path out, Quality.Report q, float[] yHo, float[] pHo, int n, int k) {
        DefaultCategoryDataset ds = new DefaultCategoryDataset();
        for (String c : q.model().componentR2().keySet()) {
            ds.addValue(q.model().componentR2().get(c), q.model().kind(), c);
            if (q.ridge() != q.model()) ds.addValue(q.ridge().componentR2().get(c), "ridge", c);
            if (q.replicateR2() != null) ds.addValue(q.replicateR2().get(c), "replicate (ceiling)", c);
        }
        JFreeChart bar = ChartFactory.createBarChart("Held-out R² per component (z-scored χ)", "component", "R²", ds,
                PlotOrientation.VERTICAL, true, false, false);
        XYSeriesCollection sc = new XYSeriesCollection();
        XYSeries s = new XYSeries("held-out rows");
        for (int r = 0; r < n; r++) s.add(yHo[r * k], pHo[r * k]);
        sc.addSeries(s);
        JFreeChart scatter = ChartFactory.createScatterPlot("Whitened direction 0: predicted vs ground truth (held out)",
                "ground truth", "predicted", sc, PlotOrientation.VERTICAL, false, false, false);
        try (Atomic.Group g = new Atomic.Group()) {
            ChartUtils.saveChartAsPNG(g.temp(out.resolve("quality_r2.png")).toFile(), bar, 900, 420);
            ChartUtils.saveChartAsPNG(g.temp(out.resolve("quality_scatter.png")).toFile(), scatter, 520, 520);
            g.commit();
        } catch (IOException e) {
            throw new SpectroException(out + ": cannot write plots (" + IoErrors.describe(e) + ")", e);
        }
    }
}
