package io.spectro.calibrate;

import io.spectro.SpectroException;
import io.spectro.cluster.Metrics;
import io.spectro.io.Npy;
import io.spectro.structure.Pipeline;
import org.apache.commons.math3.stat.correlation.PearsonsCorrelation;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code spectro diagnose}: is a run's structure distinguishable from its nβ = 0 baseline beyond the
 * seed-to-seed noise? Per component, the Pearson correlation over tokens of the run's χ column with the
 * baseline's and with a replicate's (the same settings, another seed); for the whitened clustering, the
 * adjusted Rand index of the run's labels with the baseline's and with the replicate's. The run is flagged
 * when ARI(run, baseline) &gt; ARI(run, replicate) − {@value #MARGIN}: its clusters differ from the
 * baseline's no more than from its own replicate's (minus a margin).
 */
public final class Distinguishability {
    private Distinguishability() {}

    public static final double MARGIN = 0.1;

    public record Column(String component, double corrBaseline, double corrReplicate) {}

    /** {@code replicate} and the replicate fields are null/NaN without a replicate. */
    public record Report(List<Column> columns, double ariBaseline, double ariReplicate, boolean distinguishable) {
        public String table() {
            StringBuilder sb = new StringBuilder("| component | corr(run, baseline) | corr(run, replicate) |\n|---|---|---|\n");
            for (Column c : columns)
                sb.append(String.format(Locale.ROOT, "| %s | %.4f | %.4f |%n", c.component(), c.corrBaseline(), c.corrReplicate()));
            sb.append(String.format(Locale.ROOT, "%nwhitened clustering: ARI(run, baseline) = %.4f, ARI(run, replicate) = %.4f%n", ariBaseline, ariReplicate));
            if (Double.isNaN(ariReplicate)) sb.append("no replicate: the seed-to-seed ceiling is unknown (run the same settings with another --seed and pass --replicate)\n");
            else sb.append(distinguishable
                    ? String.format(Locale.ROOT, "distinguishable: ARI(run, baseline) <= ARI(run, replicate) - %.1f%n", MARGIN)
                    : String.format(Locale.ROOT, "NOT distinguishable from the baseline: ARI(run, baseline) > ARI(run, replicate) - %.1f "
                    + "(the landscape adds less to the structure than the seed changes it)%n", MARGIN));
            return sb.toString();
        }
    }

    /** Compares run directories holding chi.npy (clusters are computed with the defaults where missing). */
    public static Report compare(Path run, Path baseline, Path replicate) {
        Npy.Floats a = chi(run), b = chi(baseline), r = replicate == null ? null : chi(replicate);
        check(run, a, baseline, b);
        if (r != null) check(run, a, replicate, r);
        int n = a.dim(0), h = a.dim(1);
        List<String> names = Pipeline.components(run, h);
        List<Column> cols = new ArrayList<>();
        for (int c = 0; c < h; c++)
            cols.add(new Column(names.get(c), corr(a, b, c), r == null ? Double.NaN : corr(a, r, c)));
        int[] la = labels(run), lb = labels(baseline);
        double ariB = Metrics.adjustedRand(la, lb);
        double ariR = replicate == null ? Double.NaN : Metrics.adjustedRand(la, labels(replicate));
        return new Report(cols, ariB, ariR, !Double.isNaN(ariR) && ariB <= ariR - MARGIN);
    }

    private static Npy.Floats chi(Path run) {
        Npy.Floats f = Npy.readFloats(run.resolve("chi.npy"));
        if (f.shape().length != 2) throw new SpectroException(run.resolve("chi.npy") + ": expected a 2-D array");
        return f;
    }

    private static void check(Path p, Npy.Floats a, Path q, Npy.Floats b) {
        if (a.dim(0) != b.dim(0) || a.dim(1) != b.dim(1))
            throw new SpectroException(q.resolve("chi.npy") + ": shape " + b.dim(0) + "x" + b.dim(1) + " differs from "
                    + p.resolve("chi.npy") + " (" + a.dim(0) + "x" + a.dim(1) + "): not runs of the same probe set and components");
    }

    private static double corr(Npy.Floats a, Npy.Floats b, int c) {
        int n = a.dim(0), h = a.dim(1);
        double[] x = new double[n], y = new double[n];
        for (int t = 0; t < n; t++) { x[t] = a.data()[t * h + c]; y[t] = b.data()[t * h + c]; }
        return new PearsonsCorrelation().correlation(x, y);
    }

    private static int[] labels(Path run) {
        Pipeline.ensureClusters(run);
        return Npy.readInts(run.resolve("clusters").resolve("labels.npy")).data();
    }
}
