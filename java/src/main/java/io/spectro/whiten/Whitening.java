package io.spectro.whiten;

import io.spectro.SpectroException;
import io.spectro.util.Kernels;
import io.spectro.util.MappedVectors;
import io.spectro.util.Parallel;
import io.spectro.util.Progress;
import io.spectro.util.Rows;
import io.spectro.util.Vectors;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The preprocessing of method.md section 4: z-score every component column over the rows, optionally
 * centre every row, then PCA-whiten onto {@code kept} directions (each projected coordinate has unit
 * variance on the fitting data). The fitted transform is a plain value that can be saved as JSON and
 * applied to other vectors (e.g. upsampled ones).
 *
 * <p>Default number of directions ({@code components = 0}): the Gavish-Donoho optimal hard threshold
 * for an unknown noise level, keep λ_i > ω(β)² · median(λ) with β = H/N and
 * ω(β) ≈ 0.56β³ - 0.95β² + 1.82β + 1.43 (singular values σ_i ∝ √λ_i), clamped to
 * [min(2,H), min(H, maxComponents)]. See docs/clustering.md.
 */
public record Whitening(double[] mean, double[] std, boolean centerRows, double[] pcaMean, double[] eigenvalues,
                        int kept, double[][] basis, String rule) {

    /**
     * @param components directions to keep; 0 = automatic (Gavish-Donoho threshold)
     * @param maxComponents cap of the automatic choice
     * @param centerRows subtract each row's mean after z-scoring
     * @param threads worker threads (0 = all processors)
     */
    public record Options(int components, int maxComponents, boolean centerRows, int threads) {
        public Options {
            if (components < 0) throw new SpectroException("whiten option components must be >= 0 (0 = automatic), got " + components);
            if (maxComponents < 1) throw new SpectroException("whiten option maxComponents must be >= 1, got " + maxComponents);
            if (threads < 0) throw new SpectroException("whiten option threads must be >= 0, got " + threads);
        }

        public static Options defaults() { return new Options(0, 100, false, 0); }

        public Options withComponents(int c) { return new Options(c, maxComponents, centerRows, threads); }

        public Options withCenterRows(boolean b) { return new Options(components, maxComponents, b, threads); }
    }

    public int inputDim() { return mean.length; }

    public static Whitening fit(Vectors x, Options o) { return fit((Rows) x, o, null); }

    /**
     * Fits on rows read block by block (heap or mapped; the same arithmetic in the same order either way):
     * column statistics (2 passes, the first checks for NaN/∞), the mean of the standardised rows (1 pass),
     * the covariance (1 pass, row blocks split over threads); heap: O(H² · threads) plus one block per thread.
     */
    public static Whitening fit(Rows x, Options o, Progress progress) {
        int n = x.rows(), h = x.cols();
        if (n < 2) throw new SpectroException("whitening needs at least 2 rows, got " + n);
        if (o.components() > h)
            throw new SpectroException("whiten option components = " + o.components() + " exceeds the " + h + " input columns");
        int threads = o.threads() == 0 ? Parallel.defaultThreads() : o.threads();
        Whitening pre = zscore(x, o.centerRows(), progress);
        double[] mean = pre.mean(), std = pre.std();
        double[] pcaMean = new double[h];
        int br = x.blockRows();
        float[] raw = new float[br * h], zd = new float[br * h];
        float[][] mi = pre.floatStats();
        for (int r0 = 0; r0 < n; r0 += br) {
            int r1 = Math.min(n, r0 + br), len = r1 - r0;
            x.copy(r0, r1, raw);
            pre.standardizeRows(raw, zd, len, h, mi[0], mi[1]);
            for (int r = 0; r < len; r++) for (int c = 0; c < h; c++) pcaMean[c] += zd[r * h + c];
            if (progress != null) progress.advance(len);
        }
        for (int c = 0; c < h; c++) pcaMean[c] /= n;
        double[][] cov = pre.covariance(x, pcaMean, threads, progress);
        EigenDecomposition eig = new EigenDecomposition(new Array2DRowRealMatrix(cov, false));
        double[] ev = eig.getRealEigenvalues();
        Integer[] order = new Integer[h];
        for (int i = 0; i < h; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(ev[b], ev[a]));
        double[] sortedEv = new double[h];
        for (int i = 0; i < h; i++) sortedEv[i] = Math.max(0, ev[order[i]]);
        int keep;
        String rule;
        if (o.components() > 0) {
            keep = o.components();
            rule = "fixed: " + keep + " directions";
        } else {
            double beta = Math.min(1.0, h / (double) n);
            double omega = 0.56 * beta * beta * beta - 0.95 * beta * beta + 1.82 * beta + 1.43;
            double[] s = sortedEv.clone();
            Arrays.sort(s);
            double median = h % 2 == 1 ? s[h / 2] : 0.5 * (s[h / 2 - 1] + s[h / 2]);
            double thr = omega * omega * median;
            keep = 0;
            while (keep < h && sortedEv[keep] > thr) keep++;
            int lo = Math.min(2, h), hi = Math.min(h, o.maxComponents());
            rule = String.format("auto (Gavish-Donoho): eigenvalue > %.4g x median eigenvalue %.4g, clamped to [%d, %d]",
                    omega * omega, median, lo, hi);
            if (keep == 0) {
                // a flat spectrum (largest eigenvalue within the threshold of the median): no low-rank signal to
                // separate from a noise floor, e.g. structure spread evenly over all columns. Keeping the 2 of
                // the lower clamp would throw that structure away, and so would the cap: which 100 of 410 equal
                // directions survive is arbitrary, and the rest hold most of the separation (1M x 410 with 2,000
                // planted clusters: 4.2% of the exact 45 nearest neighbours leave their cluster in all 410
                // directions, 48.6% in the 100 the cap kept; docs/clustering.md). Keep every direction.
                keep = h;
                rule += "; no eigenvalue above the threshold (flat spectrum): all " + h + " directions kept"
                        + (h > hi ? " (the cap " + hi + " bounds the signal directions of a spectrum that has some; "
                        + "truncating a flat one drops structure at random: --components N to force fewer)" : "");
            } else keep = Math.min(hi, keep);
            keep = Math.max(lo, keep);
        }
        double top = sortedEv[0];
        // Eigenvalues at the floating-point floor are rounding, not structure (whitening would scale them up to unit
        // variance), and for low-rank inputs the median-relative threshold above cannot tell, since the median itself
        // is rounding then. Two floors, with a margin: the covariance sums float32 products over blocks of COV_BLOCK
        // rows (error ~2^-24 sqrt(COV_BLOCK) per entry, ~sqrt(H) times that per eigenvalue), and float32 inputs carry
        // rounding of variance 2^-46 x^2/12 per value, i.e. (mean^2 + std^2)/std^2 times that of a z-scored column:
        // large when values sit far from zero relative to their spread.
        double floor = 10 * Math.pow(2, -24) * Math.sqrt((double) COV_BLOCK * h);
        for (int c = 0; c < h; c++)
            if (std[c] > 0) floor = Math.max(floor, 100 * Math.pow(2, -46) / 12 * (mean[c] * mean[c] + std[c] * std[c]) / (std[c] * std[c]));
        floor = Math.max(1e-9 * Math.max(top, 1e-30), floor);
        int usable = 0;
        while (usable < h && sortedEv[usable] > floor) usable++;
        if (keep > usable) {
            if (usable == 0)
                throw new SpectroException("whitening input has zero variance after standardisation (every column is constant)");
            keep = usable;
            rule += "; reduced to " + usable + " directions of non-zero variance above float32 rounding (eigenvalue > "
                    + String.format("%.3g", floor) + ")";
        }
        List<Integer> constant = new ArrayList<>();
        for (int c = 0; c < h; c++) if (cov[c][c] == 0) constant.add(c);
        if (!constant.isEmpty()) // a constant column is all zeros after z-scoring: it adds nothing to any distance
            rule += "; " + constant.size() + " constant column(s) carry no information: "
                    + (constant.size() > 20 ? constant.subList(0, 20) + " ..." : constant);
        double[][] basis = new double[keep][h];
        for (int i = 0; i < keep; i++) {
            double[] v = eig.getEigenvector(order[i]).toArray();
            // fix the sign: largest-magnitude entry positive, so the transform is reproducible
            int arg = 0;
            for (int c = 1; c < h; c++) if (Math.abs(v[c]) > Math.abs(v[arg])) arg = c;
            double sign = v[arg] < 0 ? -1 : 1;
            double sc = sign / Math.sqrt(sortedEv[i]);
            for (int c = 0; c < h; c++) basis[i][c] = v[c] * sc;
        }
        return new Whitening(mean, std, o.centerRows(), pcaMean, sortedEv, keep, basis, rule);
    }

    /** Fraction of the standardised variance the kept directions explain. */
    public double explainedVariance() {
        double all = 0, kept = 0;
        for (int i = 0; i < eigenvalues.length; i++) {
            all += eigenvalues[i];
            if (i < this.kept) kept += eigenvalues[i];
        }
        return all == 0 ? 0 : kept / all;
    }

    /**
     * The preprocessing step alone: x's column means and standard deviations, no PCA; its
     * {@link #standardize} z-scores each column (and centres each row when {@code centerRows}).
     */
    public static Whitening zscore(Vectors x, boolean centerRows) { return zscore(x, centerRows, null); }

    /** Column statistics in two passes over x (the first also refuses NaN/∞ rows). */
    public static Whitening zscore(Rows x, boolean centerRows, Progress progress) {
        int n = x.rows(), h = x.cols(), br = x.blockRows();
        x.requireFinite("whitening input");
        double[] mean = new double[h], std = new double[h];
        float[] d = new float[br * h];
        for (int r0 = 0; r0 < n; r0 += br) {
            int r1 = Math.min(n, r0 + br);
            x.copy(r0, r1, d);
            for (int r = 0; r < r1 - r0; r++) for (int c = 0; c < h; c++) mean[c] += d[r * h + c];
            if (progress != null) progress.advance(r1 - r0);
        }
        for (int c = 0; c < h; c++) mean[c] /= n;
        for (int r0 = 0; r0 < n; r0 += br) {
            int r1 = Math.min(n, r0 + br);
            x.copy(r0, r1, d);
            for (int r = 0; r < r1 - r0; r++)
                for (int c = 0; c < h; c++) {
                    double t = d[r * h + c] - mean[c];
                    std[c] += t * t;
                }
            if (progress != null) progress.advance(r1 - r0);
        }
        for (int c = 0; c < h; c++) {
            std[c] = Math.sqrt(std[c] / n);
            if (!(std[c] > 1e-30)) std[c] = 1; // a constant column becomes all zeros
        }
        return new Whitening(mean, std, centerRows, new double[h], null, 0, null, null);
    }

    /** The column means and 1/std as floats, as {@link #standardizeRows} uses them. */
    private float[][] floatStats() {
        int h = mean.length;
        float[] m = new float[h], inv = new float[h];
        for (int c = 0; c < h; c++) {
            m[c] = (float) mean[c];
            inv[c] = (float) (1.0 / std[c]);
        }
        return new float[][]{m, inv};
    }

    /** z-scores (and optionally row-centres) {@code len} rows of src into dst. */
    private void standardizeRows(float[] src, float[] dst, int len, int h, float[] m, float[] inv) {
        for (int r = 0; r < len; r++) {
            int o = r * h;
            double rs = 0;
            for (int c = 0; c < h; c++) {
                float v = (src[o + c] - m[c]) * inv[c];
                dst[o + c] = v;
                rs += v;
            }
            if (centerRows) {
                float rm = (float) (rs / h);
                for (int c = 0; c < h; c++) dst[o + c] -= rm;
            }
        }
    }

    /** The standardised rows of x, computed block by block when read (for the cards' profiles). */
    public Rows standardized(Rows x) {
        if (x.cols() != mean.length)
            throw new SpectroException("vectors have " + x.cols() + " columns, the whitening transform expects " + mean.length);
        float[][] mi = floatStats();
        return new Rows() {
            @Override public int rows() { return x.rows(); }

            @Override public int cols() { return x.cols(); }

            @Override public void copy(int r0, int r1, float[] dst) {
                float[] raw = new float[(r1 - r0) * x.cols()];
                x.copy(r0, r1, raw);
                standardizeRows(raw, dst, r1 - r0, x.cols(), mi[0], mi[1]);
            }
        };
    }

    /** z-scores (and optionally row-centres) x with this transform's column statistics. */
    public Vectors standardize(Vectors x, int threads) {
        int n = x.rows(), h = x.cols();
        if (h != mean.length)
            throw new SpectroException("vectors have " + h + " columns, the whitening transform expects " + mean.length);
        float[] out = new float[n * h];
        float[] d = x.data();
        float[][] mi = floatStats();
        Parallel.forEach((n + 4095) / 4096, threads, b -> {
            int r0 = b * 4096, len = Math.min(n, r0 + 4096) - r0;
            float[] src = Arrays.copyOfRange(d, r0 * h, (r0 + len) * h), dst = new float[len * h];
            standardizeRows(src, dst, len, h, mi[0], mi[1]);
            System.arraycopy(dst, 0, out, r0 * h, len * h);
        });
        return new Vectors(out, n, h);
    }

    /** The standardised (z-scored, optionally row-centred) vectors projected on the kept directions. */
    public Vectors apply(Vectors x) { return apply(x, Parallel.defaultThreads()); }

    public Vectors apply(Vectors x, int threads) {
        x.requireFinite("vectors to whiten");
        float[] out = new float[x.rows() * kept];
        project(x, threads, (r0, len, block) -> System.arraycopy(block, 0, out, r0 * kept, len * kept), null);
        return new Vectors(out, x.rows(), kept);
    }

    /** Projects x straight into a new .npy file (mapped, written block by block, renamed when complete). */
    public void applyTo(Rows x, Path file, int threads, Progress progress) {
        try (MappedVectors out = MappedVectors.create(file, x.rows(), kept)) {
            project(x, threads, out::put, progress);
            out.commit();
        }
    }

    private interface BlockSink {
        void put(int r0, int len, float[] block);
    }

    /** Standardises and projects x in blocks of 1,024 rows (in parallel); each block goes to sink. */
    private void project(Rows x, int threads, BlockSink sink, Progress progress) {
        int n = x.rows(), h = x.cols(), k = kept;
        if (h != mean.length)
            throw new SpectroException("vectors have " + h + " columns, the whitening transform expects " + mean.length);
        float[] w = new float[k * h];
        float[] zm = new float[h];
        for (int c = 0; c < h; c++) zm[c] = (float) pcaMean[c];
        for (int i = 0; i < k; i++) for (int c = 0; c < h; c++) w[i * h + c] = (float) basis[i][c];
        float[][] mi = floatStats();
        int blocks = (n + 1023) / 1024;
        Parallel.forEach(blocks, threads, b -> {
            int r0 = b * 1024, len = Math.min(n, r0 + 1024) - r0;
            float[] raw = new float[len * h], z = new float[len * h], out = new float[len * k], row = new float[h];
            x.copy(r0, r0 + len, raw);
            standardizeRows(raw, z, len, h, mi[0], mi[1]);
            for (int r = 0; r < len; r++) {
                for (int c = 0; c < h; c++) row[c] = z[r * h + c] - zm[c];
                for (int i = 0; i < k; i++) out[r * k + i] = Kernels.dot(row, 0, w, i * h, h);
            }
            sink.put(r0, len, out);
            if (progress != null) {
                synchronized (progress) {
                    progress.advance(len);
                }
            }
        });
    }

    /** Covariance (divided by n) of the standardised rows of x around mu, accumulated in double over row blocks. */
    /** Rows per float32 block of the covariance's dot products (their rounding sets a floor on usable eigenvalues). */
    static final int COV_BLOCK = 128;

    private double[][] covariance(Rows x, double[] mu, int threads, Progress progress) {
        int n = x.rows(), h = x.cols();
        final int B = COV_BLOCK;
        int blocks = (n + B - 1) / B;
        int parts = Math.max(1, Math.min(threads, blocks));
        double[][] acc = new double[parts][h * h];
        float[][] mi = floatStats();
        long[] reported = new long[1];
        Parallel.forEach(parts, parts, p -> {
            int b0 = (int) ((long) blocks * p / parts), b1 = (int) ((long) blocks * (p + 1) / parts);
            float[] t = new float[h * B], raw = new float[h * B], zd = new float[h * B];
            double[] a = acc[p];
            for (int b = b0; b < b1; b++) {
                int r0 = b * B, r1 = Math.min(n, r0 + B), len = r1 - r0;
                x.copy(r0, r1, raw);
                standardizeRows(raw, zd, len, h, mi[0], mi[1]);
                Arrays.fill(t, 0f);
                for (int r = 0; r < len; r++)
                    for (int c = 0; c < h; c++) t[c * B + r] = (float) (zd[r * h + c] - mu[c]);
                for (int i = 0; i < h; i++)
                    for (int j = i; j < h; j++) a[i * h + j] += Kernels.dot(t, i * B, t, j * B, len);
                if (progress != null && (b - b0) % 64 == 63) {
                    synchronized (progress) {
                        progress.advance(64L * B);
                        reported[0] += 64L * B;
                    }
                }
            }
        });
        if (progress != null) progress.advance(n - reported[0]);
        double[][] cov = new double[h][h];
        for (int i = 0; i < h; i++)
            for (int j = i; j < h; j++) {
                double s = 0;
                for (double[] a : acc) s += a[i * h + j];
                cov[i][j] = cov[j][i] = s / n;
            }
        return cov;
    }

    // ---- persistence ----

    /** The JSON form (a format tag plus every field). */
    public record Json(String format, double[] mean, double[] std, boolean centerRows, double[] pcaMean,
                       double[] eigenvalues, int kept, double explainedVariance, String rule, double[][] basis) {}

    public void save(Path file) {
        io.spectro.io.Atomic.writeString(file, JsonMapper.shared().writeValueAsString(new Json("spectro-whitening/1", mean, std,
                centerRows, pcaMean, eigenvalues, kept, explainedVariance(), rule, basis)));
    }

    public static Whitening load(Path file) {
        Json j;
        try {
            j = JsonMapper.shared().readValue(file, Json.class);
        } catch (JacksonException e) {
            throw new SpectroException(file + ": not a whitening transform (" + e.getOriginalMessage() + ")", e);
        }
        if (j == null || !"spectro-whitening/1".equals(j.format()))
            throw new SpectroException(file + ": not a spectro-whitening/1 file");
        int h = j.mean() == null ? -1 : j.mean().length;
        if (h < 1 || j.std() == null || j.std().length != h || j.pcaMean() == null || j.pcaMean().length != h
                || j.basis() == null || j.basis().length != j.kept() || j.kept() < 1
                || Arrays.stream(j.basis()).anyMatch(r -> r == null || r.length != h))
            throw new SpectroException(file + ": inconsistent whitening transform (mean/std/pcaMean/basis sizes differ)");
        return new Whitening(j.mean(), j.std(), j.centerRows(), j.pcaMean(), j.eigenvalues(), j.kept(), j.basis(), j.rule());
    }
}
