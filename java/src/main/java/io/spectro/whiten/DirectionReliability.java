package io.spectro.whiten;

import io.spectro.SpectroException;
import io.spectro.chi.ChainSums;
import io.spectro.chi.ChiEstimator;
import io.spectro.util.Vectors;
import tools.jackson.databind.json.JsonMapper;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Split-half reliability of every whitening direction (docs/clustering.md, "Signal and noise per direction"):
 * χ is estimated twice from disjoint halves of a run's chains (state/NNNN.chains.bin: chains [0, m/2) and
 * [m/2, m), each with the same halves of the full run, as {@code ChiUncertainty.splitHalf} does per column),
 * both halves are projected on each PCA direction of the z-scored χ of all chains, and the Pearson r of the
 * two projections across tokens gives the reliability of the all-chain estimate along that direction,
 * 2r / (1 + r) (Spearman-Brown), and its signal-to-noise ratio, reliability / (1 - reliability) = 2r / (1 - r)
 * (signal variance over the variance the sampling noise of all chains adds). A direction with SNR below 1
 * (reliability below 0.5) is more sampling noise than structure: clustering cannot separate groups along it.
 */
public final class DirectionReliability {
    private DirectionReliability() {}

    /** χ of the chosen columns from all chains, from the first half of the chains and from the second half. */
    public record Halves(Vectors all, Vectors first, Vectors second, int chains) {}

    /**
     * The per-direction result.
     *
     * @param eigenvalues variance of each direction of the z-scored χ (all directions, largest first)
     * @param reliability split-half reliability of each direction (Spearman-Brown)
     * @param snr         reliability / (1 - reliability): signal over noise variance of the all-chain estimate
     */
    public record Result(String format, int chains, String halves, boolean centerRows, double[] eigenvalues,
                         double[] reliability, double[] snr, int aboveOne) {
        /** Leading directions whose reliability is at least {@code min} (stops at the first below it). */
        public int leadingAtLeast(double min) {
            int k = 0;
            while (k < reliability.length && reliability[k] >= min) k++;
            return k;
        }

        public void save(Path file) {
            io.spectro.io.Atomic.writeString(file, JsonMapper.shared().writerWithDefaultPrettyPrinter().writeValueAsString(this));
        }
    }

    /**
     * Reads the per-chain sums of {@code columns} (component indices: state/NNNN.chains.bin) and of the full run;
     * null when the run has none (written before per-chain sums existed) or fewer than 2 chains.
     */
    public static Halves halves(Path run, int[] columns) {
        Path state = run.resolve("state");
        Path fullFile = state.resolve("full.chains.bin");
        if (!Files.isRegularFile(fullFile)) return null;
        int[] shape = shape(fullFile);
        int m = shape[0], n = shape[1];
        if (m < 2) return null;
        ChainSums full = ChainSums.read(fullFile, m, n);
        int h = columns.length, half = m / 2;
        double[][] dAll = {ChiEstimator.deltaFull(full.pooled(0, m, true)), ChiEstimator.deltaFull(full.pooled(0, half, true)),
                ChiEstimator.deltaFull(full.pooled(half, 2 * half, true))};
        float[][] out = {new float[n * h], new float[n * h], new float[n * h]};
        for (int j = 0; j < h; j++) {
            Path f = state.resolve(String.format("%04d.chains.bin", columns[j]));
            if (!Files.isRegularFile(f)) return null;
            ChainSums c = ChainSums.read(f, m, n);
            double[][] x = {ChiEstimator.chi(c.pooled(0, m, false), dAll[0]), ChiEstimator.chi(c.pooled(0, half, false), dAll[1]),
                    ChiEstimator.chi(c.pooled(half, 2 * half, false), dAll[2])};
            for (int s = 0; s < 3; s++) for (int t = 0; t < n; t++) out[s][t * h + j] = (float) x[s][t];
        }
        for (int s = 0; s < 3; s++)
            for (float v : out[s])
                if (!Float.isFinite(v)) return null; // a stopped component: no reliability to report
        return new Halves(new Vectors(out[0], n, h), new Vectors(out[1], n, h), new Vectors(out[2], n, h), m);
    }

    /** Chains and tokens of a chains file (its header), without reading the sums. */
    private static int[] shape(Path f) {
        try (var in = new java.io.DataInputStream(Files.newInputStream(f))) {
            in.readInt();
            return new int[]{in.readInt(), in.readInt()};
        } catch (java.io.IOException e) {
            throw new SpectroException(f + ": cannot read per-chain state (" + e.getMessage() + ")", e);
        }
    }

    /** Fits the whitening with every direction on the all-chain χ and measures each direction on the halves. */
    public static Result of(Halves hv, boolean centerRows, int threads) {
        int h = hv.all().cols();
        Whitening w = Whitening.fit(hv.all(), new Whitening.Options(h, h, centerRows, threads));
        Vectors a = w.apply(hv.first(), threads), b = w.apply(hv.second(), threads);
        int k = w.kept(), n = a.rows();
        double[] rel = new double[k], snr = new double[k];
        int above = 0;
        for (int i = 0; i < k; i++) {
            double[] x = new double[n], y = new double[n];
            for (int t = 0; t < n; t++) {
                x[t] = a.get(t, i);
                y[t] = b.get(t, i);
            }
            double r = new org.apache.commons.math3.stat.correlation.PearsonsCorrelation().correlation(x, y);
            rel[i] = 2 * r / (1 + r);
            snr[i] = r >= 1 ? Double.POSITIVE_INFINITY : Math.max(0, 2 * r / (1 - r));
            if (snr[i] > 1) above++;
        }
        int half = hv.chains() / 2;
        return new Result("spectro-direction-reliability/1", hv.chains(),
                "chains [0, " + half + ") vs [" + half + ", " + 2 * half + ")", centerRows,
                java.util.Arrays.copyOf(w.eigenvalues(), k), rel, snr, above);
    }
}
