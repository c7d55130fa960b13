package io.spectro.chi;

/**
 * Uncertainty of χ from the chains, which are independent replicates of the whole estimator:
 * <ul>
 *   <li>standard error per token: chain c of a component paired with chain c of the full run gives an
 *       estimate χ_c[t] from 1/m of the draws; SE[t] = sd_c(χ_c[t]) / sqrt(m) (m >= 2 chains);</li>
 *   <li>split-half reliability of a column: χ from the first half of the chains and from the second half
 *       (each with the same halves of the full run), their Pearson correlation r across tokens, then the
 *       Spearman-Brown prophecy 2r / (1 + r) for the reliability of the estimate from all chains.</li>
 * </ul>
 */
public final class ChiUncertainty {
    private ChiUncertainty() {}

    /** Per-token standard error of a component's column; NaN everywhere with fewer than 2 chains. */
    public static double[] standardError(ChainSums comp, ChainSums full) {
        int m = comp.chains(), n = comp.perToken()[0].length;
        double[] se = new double[n];
        if (m < 2 || full.chains() != m) {
            java.util.Arrays.fill(se, Double.NaN);
            return se;
        }
        double[] sum = new double[n], sum2 = new double[n];
        for (int c = 0; c < m; c++) {
            double[] x = ChiEstimator.chi(comp.pooled(c, c + 1, false), ChiEstimator.deltaFull(full.pooled(c, c + 1, true)));
            for (int t = 0; t < n; t++) {
                sum[t] += x[t];
                sum2[t] += x[t] * x[t];
            }
        }
        for (int t = 0; t < n; t++) {
            double mean = sum[t] / m, var = Math.max(0, (sum2[t] - m * mean * mean) / (m - 1));
            se[t] = Math.sqrt(var / m);
        }
        return se;
    }

    /** Split-half reliability of a component's column (chains [0, m/2) vs [m/2, m)); NaN with fewer than 2 chains. */
    public static double splitHalf(ChainSums comp, ChainSums full) {
        int m = comp.chains(), h = m / 2;
        if (m < 2 || full.chains() != m) return Double.NaN;
        double[] a = ChiEstimator.chi(comp.pooled(0, h, false), ChiEstimator.deltaFull(full.pooled(0, h, true)));
        double[] b = ChiEstimator.chi(comp.pooled(h, 2 * h, false), ChiEstimator.deltaFull(full.pooled(h, 2 * h, true)));
        return spearmanBrown(a, b);
    }

    /** 2r / (1 + r) of the Pearson correlation r of two half estimates (NaN when either is constant). */
    public static double spearmanBrown(double[] a, double[] b) {
        double r = pearson(a, b);
        return 2 * r / (1 + r);
    }

    static double pearson(double[] a, double[] b) {
        return new org.apache.commons.math3.stat.correlation.PearsonsCorrelation().correlation(a, b);
    }
}
