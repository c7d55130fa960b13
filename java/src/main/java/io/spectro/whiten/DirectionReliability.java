package io.spectro.whiten;

import static io.spectro.util.Dense.dot;
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
 * each half is z-scored on its own, loses its own stronger directions (see {@link #of}) and is projected on each
 * PCA direction of the z-scored χ of all chains, and the Pearson r of the
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

    /** Tokens used at most (every ceil(N / MAX_ROWS)-th): the measurement costs O(rows x H^2). */
    public static final int MAX_ROWS = 50_000;

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
        ChainSums full = ChainSums.read(fullFile, m, n, null);
        int h = columns.length, half = m / 2;
        double[][] dAll = {ChiEstimator.deltaFull(full.pooled(0, m, true)), ChiEstimator.deltaFull(full.pooled(0, half, true)),
                ChiEstimator.deltaFull(full.pooled(half, 2 * half, true))};
        int stride = (n + MAX_ROWS - 1) / MAX_ROWS, rows = (n + stride - 1) / stride;
        float[][] out = {new float[rows * h], new float[rows * h], new float[rows * h]};
        for (int j = 0; j < h; j++) {
            Path f = state.resolve(String.format("%04d.chains.bin", columns[j]));
            // a component without per-chain sums, or with other chains than the full run (--target-reliability rounds)
            if (!Files.isRegularFile(f) || shape(f)[0] != m) return null;
            ChainSums c = ChainSums.read(f, m, n, null);
            double[][] x = {ChiEstimator.chi(c.pooled(0, m, false), dAll[0]), ChiEstimator.chi(c.pooled(0, half, false), dAll[1]),
                    ChiEstimator.chi(c.pooled(half, 2 * half, false), dAll[2])};
            for (int s = 0; s < 3; s++) for (int t = 0; t < rows; t++) out[s][t * h + j] = (float) x[s][t * stride];
        }
        for (int s = 0; s < 3; s++)
            for (float v : out[s])
                if (!Float.isFinite(v)) return null; // a stopped component: no reliability to report
        return new Halves(new Vectors(out[0], rows, h), new Vectors(out[1], rows, h), new Vectors(out[2], rows, h), m);
    }

    /**
     * Chains and tokens of a chains file (its header: magic, in the current format the identity, then chains and
     * tokens), without reading the sums; the sums themselves are read and checked by {@link ChainSums#read}.
     */
    private static int[] shape(Path f) {
        try (var in = new java.io.DataInputStream(new java.io.BufferedInputStream(Files.newInputStream(f)))) {
            if (in.readInt() == FRAMED) in.readUTF();
            return new int[]{in.readInt(), in.readInt()};
        } catch (java.io.IOException e) {
            throw new SpectroException(f + ": cannot read per-chain state (" + e.getMessage() + ")", e);
        }
    }

    /** The magic of per-chain state files with identity and checksum ("SPH2", {@link ChainSums}). */
    private static final int FRAMED = 0x53504832;

    /**
     * Per direction i of the all-chain whitening (unit vector v_i): each half is z-scored (and row-centred) with
     * its <em>own</em> column statistics and loses its own i leading principal directions, then is projected on
     * v_i; r_i is the Pearson correlation of the two projections. Why not project the halves on v_i directly:
     * each replicate of χ is whitened on its own, and a dominant direction (the mini-Pile models: one direction
     * with 97% of the z-scored variance) is estimated with a slightly different orientation in each half, so a
     * fixed v_i orthogonal to the all-chain one picks up the dominant signal with opposite signs in the two
     * halves (measured r down to -0.75 on minor directions of the mini-Pile run and of
     * {@code DirectionReliabilityTest}); removing each half's own stronger directions first compares the
     * subspaces the clustering of each replicate would see.
     */
    public static Result of(Halves hv, boolean centerRows, int threads) {
        int h = hv.all().cols();
        Whitening.Options all = new Whitening.Options(h, h, centerRows, threads);
        Whitening w = Whitening.fit(hv.all(), all);
        double[][] v = unit(w);
        double[] ev = w.eigenvalues();
        double[][] a = deflated(hv.first(), v, all, threads), b = deflated(hv.second(), v, all, threads);
        int k = v.length;
        double[] rel = new double[k], snr = new double[k];
        int above = 0;
        var pearson = new org.apache.commons.math3.stat.correlation.PearsonsCorrelation();
        for (int i = 0; i < k; i++) {
            double r = pearson.correlation(a[i], b[i]);
            rel[i] = 2 * r / (1 + r);
            snr[i] = r >= 1 ? Double.POSITIVE_INFINITY : Math.max(0, 2 * r / (1 - r));
            if (snr[i] > 1) above++;
        }
        int half = hv.chains() / 2;
        return new Result("spectro-direction-reliability/1", hv.chains(),
                "chains [0, " + half + ") vs [" + half + ", " + 2 * half + ")", centerRows,
                java.util.Arrays.copyOf(ev, k), rel, snr, above);
    }

    /** The unit eigenvectors of a whitening's kept directions (its basis rows times sqrt(eigenvalue)). */
    private static double[][] unit(Whitening w) {
        double[][] u = new double[w.kept()][];
        for (int i = 0; i < u.length; i++) {
            double s = Math.sqrt(w.eigenvalues()[i]);
            u[i] = new double[w.basis()[i].length];
            for (int c = 0; c < u[i].length; c++) u[i][c] = w.basis()[i][c] * s;
        }
        return u;
    }

    /** [direction i][row]: the half z-scored on its own, minus its own i leading directions, projected on v[i]. */
    private static double[][] deflated(Vectors half, double[][] v, Whitening.Options o, int threads) {
        Whitening own = Whitening.fit(half, o);
        double[][] u = unit(own);
        Vectors z = own.standardize(half, threads);
        int n = z.rows(), h = z.cols(), k = v.length, ku = Math.min(k, u.length);
        double[][] m = new double[ku][k]; // u_j . v_i
        for (int j = 0; j < ku; j++) for (int i = 0; i < k; i++) m[j][i] = dot(u[j], v[i]);
        double[][] out = new double[k][n];
        double[] p = new double[ku];
        float[] row = new float[h];
        for (int t = 0; t < n; t++) {
            System.arraycopy(z.data(), t * h, row, 0, h);
            for (int j = 0; j < ku; j++) p[j] = dot(row, u[j]);
            for (int i = 0; i < k; i++) {
                double q = dot(row, v[i]);
                for (int j = 0; j < Math.min(i, ku); j++) q -= p[j] * m[j][i];
                out[i][t] = q;
            }
        }
        return out;
    }
}
