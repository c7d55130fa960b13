package io.spectro.upsample;

import io.spectro.cluster.Metrics;
import io.spectro.cluster.PprClustering;
import io.spectro.graph.Graph;
import io.spectro.graph.Knn;
import io.spectro.util.Vectors;
import io.spectro.whiten.Whitening;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Held-out quality of an auxiliary model (docs/upsampling.md): per-component R² in z-scored χ units (the
 * predictions mapped back through the run's transform, compared with the z-scored ground truth), R² per
 * whitened direction, the mean cosine between predicted and true whitened vectors, and the adjusted Rand
 * index between clustering the held-out ground truth and clustering the predictions with the same settings.
 */
public final class Quality {
    private Quality() {}

    /**
     * One model's held-out numbers.
     *
     * @param componentR2 R² per χ column (z-scored units), in the transform's column order
     * @param directionR2 R² per whitened direction
     * @param clusters    clusters found in the predictions (the ground truth's count is in {@link Report})
     */
    public record ModelQuality(String kind, double meanR2, Map<String, Double> componentR2, double[] directionR2, double meanCosine,
                               double ari, int clusters) {}

    /**
     * The report of one fit.
     *
     * @param projectionR2   per column, R² of the ground truth's own whitened vectors mapped back (what the kept
     *                       directions can hold at best: a prediction in the whitened space cannot exceed it)
     * @param replicateR2    per column, R² of a replicate run's χ against the run's (the seed-to-seed ceiling), or null
     * @param reliability    per column, split-half reliability from RUN/diagnostics.json (null when absent)
     * @param seReliability  per column, 1 − mean(se²)/var(χ) from RUN/chi_se.npy (null when absent): the share of
     *                       the column's variance that is not estimation noise, an upper bound of R²
     * @param ceilingAri     ARI(run, replicate) of the held-out rows clustered with the same settings, or null
     */
    public record Report(int trainRows, int heldoutRows, int trainSequences, int heldoutSequences, int directions,
                         Map<String, Object> clustering, int truthClusters, ModelQuality model, ModelQuality ridge,
                         Map<String, Double> projectionR2, Map<String, Double> replicateR2, Double ceilingAri,
                         Map<String, Double> reliability, Map<String, Double> seReliability) {}

    /** Clustering settings for n held-out rows: the structure stage's defaults, k and the smallest cluster scaled down for small n. */
    public static int[] clusterSettings(int n) {
        int k = Math.max(2, Math.min(Knn.Options.defaults().k(), (n - 1) / 3));
        int minSize = Math.max(3, Math.min(PprClustering.Options.defaults().minSize(), n / 30));
        return new int[]{k, minSize};
    }

    /** Labels of the rows of v clustered with the structure stage's kNN + PPR clustering (-1: unclustered). */
    public static int[] cluster(Vectors v, int k, int minSize, long seed) {
        Graph g = Graph.symmetrize(Knn.fit(v, Knn.Options.defaults().withK(k)));
        return PprClustering.fit(g, PprClustering.Options.defaults().withK(k).withMinSize(minSize).withSeed(seed)).labels();
    }

    static int count(int[] labels) {
        return (int) java.util.Arrays.stream(labels).filter(l -> l >= 0).distinct().count();
    }

    /** The standardised (z-scored) rows that the whitened rows {@code y} stand for: pcaMean + Σ_i y_i λ_i basis_i. */
    public static float[] unwhiten(Whitening w, float[] y, int n) {
        int k = w.kept(), h = w.inputDim();
        float[] z = new float[n * h];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < h; c++) {
                double s = w.pcaMean()[c];
                for (int i = 0; i < k; i++) s += y[r * k + i] * w.eigenvalues()[i] * w.basis()[i][c];
                z[r * h + c] = (float) s;
            }
        return z;
    }

    /** χ units of z-scored rows: mean + std · z (row centring, when the transform used it, is not undone). */
    public static void unstandardize(Whitening w, float[] z, int n) {
        int h = w.inputDim();
        for (int r = 0; r < n; r++) for (int c = 0; c < h; c++) z[r * h + c] = (float) (w.mean()[c] + w.std()[c] * z[r * h + c]);
    }

    /** R² of each column of {@code pred} against {@code truth} (n × d, row-major), centred on the truth's mean. */
    public static double[] r2(float[] truth, float[] pred, int n, int d) {
        double[] out = new double[d];
        for (int c = 0; c < d; c++) {
            double m = 0;
            for (int r = 0; r < n; r++) m += truth[r * d + c];
            m /= n;
            double ss = 0, res = 0;
            for (int r = 0; r < n; r++) {
                double t = truth[r * d + c], e = t - pred[r * d + c];
                ss += (t - m) * (t - m);
                res += e * e;
            }
            out[c] = ss > 0 ? 1 - res / ss : Double.NaN;
        }
        return out;
    }

    public static double meanCosine(float[] a, float[] b, int n, int d) {
        double s = 0;
        int counted = 0;
        for (int r = 0; r < n; r++) {
            double ab = 0, aa = 0, bb = 0;
            for (int c = 0; c < d; c++) {
                ab += (double) a[r * d + c] * b[r * d + c];
                aa += (double) a[r * d + c] * a[r * d + c];
                bb += (double) b[r * d + c] * b[r * d + c];
            }
            if (aa > 0 && bb > 0) {
                s += ab / Math.sqrt(aa * bb);
                counted++;
            }
        }
        return counted == 0 ? Double.NaN : s / counted;
    }

    static double mean(double[] x) {
        double s = 0;
        int n = 0;
        for (double v : x) if (Double.isFinite(v)) { s += v; n++; }
        return n == 0 ? Double.NaN : s / n;
    }

    static Map<String, Double> byName(List<String> names, double[] v) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) m.put(names.get(i), v[i]);
        return m;
    }

    /**
     * One model's numbers on the held-out rows.
     *
     * @param trueWhite held-out ground truth, whitened (n × kept)
     * @param trueZ     held-out ground truth, z-scored (n × columns)
     * @param predWhite the model's predictions (n × kept)
     * @param truthLabels clustering of {@code trueWhite} with settings {@code cs}
     */
    public static ModelQuality of(String kind, Whitening w, List<String> names, float[] trueWhite, float[] trueZ, float[] predWhite,
                                  int n, int[] truthLabels, int[] cs, long seed) {
        int k = w.kept(), h = w.inputDim();
        double[] comp = r2(trueZ, unwhiten(w, predWhite, n), n, h);
        double[] dir = r2(trueWhite, predWhite, n, k);
        int[] labels = cluster(new Vectors(predWhite, n, k), cs[0], cs[1], seed);
        return new ModelQuality(kind, mean(comp), byName(names, comp), dir, meanCosine(trueWhite, predWhite, n, k),
                Metrics.adjustedRand(truthLabels, labels), count(labels));
    }

    /** The rows of a row-major matrix where {@code keep} is true. */
    public static float[] select(float[] x, int d, boolean[] keep, boolean value) {
        int n = 0;
        for (boolean b : keep) if (b == value) n++;
        float[] out = new float[n * d];
        for (int r = 0, o = 0; r < keep.length; r++)
            if (keep[r] == value) {
                System.arraycopy(x, r * d, out, o * d, d);
                o++;
            }
        return out;
    }

    /** Markdown of a report. */
    public static String markdown(Report r, String title) {
        StringBuilder s = new StringBuilder("# " + title + "\n\n");
        s.append(String.format("Held out by sequence: %d rows of %d sequences (trained on %d rows of %d sequences); %d whitened directions.%n%n",
                r.heldoutRows(), r.heldoutSequences(), r.trainRows(), r.trainSequences(), r.directions()));
        s.append("| model | mean R² (z-scored χ) | mean cosine (whitened) | ARI(pred, truth) | clusters (truth ").append(r.truthClusters()).append(") |\n");
        s.append("|---|---|---|---|---|\n");
        for (ModelQuality q : r.ridge() == r.model() || r.ridge() == null ? List.of(r.model()) : List.of(r.model(), r.ridge()))
            s.append(String.format("| %s | %.3f | %.3f | %.3f | %d |%n", q.kind(), q.meanR2(), q.meanCosine(), q.ari(), q.clusters()));
        s.append(String.format("%nCeiling ARI(run, replicate) on the same rows: %s.%n",
                r.ceilingAri() == null ? "no replicate given (--replicate)" : String.format("%.3f", r.ceilingAri())));
        if (r.ceilingAri() != null && r.ceilingAri() > 0)
            s.append(String.format("Predicted ARI as a fraction of the ceiling: %.2f.%n", r.model().ari() / r.ceilingAri()));
        s.append("\nClustering of the held-out rows: ").append(r.clustering()).append("\n\n");
        s.append("| component | R² ").append(r.model().kind()).append(r.ridge() != null && r.ridge() != r.model() ? " | R² ridge" : "")
                .append(" | projection ceiling | replicate R² | split-half reliability | 1 − se²/var |\n|---|---|");
        if (r.ridge() != null && r.ridge() != r.model()) s.append("---|");
        s.append("---|---|---|---|\n");
        for (String c : r.model().componentR2().keySet()) {
            s.append("| ").append(c).append(String.format(" | %.3f", r.model().componentR2().get(c)));
            if (r.ridge() != null && r.ridge() != r.model()) s.append(String.format(" | %.3f", r.ridge().componentR2().get(c)));
            s.append(" | ").append(fmt(r.projectionR2(), c)).append(" | ").append(fmt(r.replicateR2(), c)).append(" | ")
                    .append(fmt(r.reliability(), c)).append(" | ").append(fmt(r.seReliability(), c)).append(" |\n");
        }
        s.append("\nR² per whitened direction (").append(r.model().kind()).append("): ");
        List<String> d = new ArrayList<>();
        for (double v : r.model().directionR2()) d.add(String.format("%.3f", v));
        s.append(String.join(", ", d)).append("\n\n");
        s.append("R² cannot exceed the target's reliability: where the replicate R², the split-half reliability or 1 − se²/var is "
                + "low, the ground truth itself is mostly estimation noise at these sampler settings.\n");
        return s.toString();
    }

    private static String fmt(Map<String, Double> m, String k) {
        if (m == null || !m.containsKey(k) || m.get(k) == null) return "–";
        return String.format("%.3f", m.get(k));
    }
}
