package io.spectro.chi;

/**
 * The susceptibility estimator of method.md section 3:
 * <pre>
 *   Delta_full[t] = S̄_full - mean_k l_full[k, t]
 *   chi^C[t]      = mean_k(phi S_C) - mean_k(phi l_C[t]) - mean_k(phi) Delta_full[t]
 * </pre>
 * over all draws of all chains of component C, pooled. No nbeta factor, no Bessel correction.
 * Everything is a function of sums, so permuting draws cannot change the result (up to the
 * rounding of the summation order).
 */
public final class ChiEstimator {
    private ChiEstimator() {}

    /** Delta_full[t] from the full run's sums. */
    public static double[] deltaFull(ComponentSums full) {
        double k = full.draws();
        double sBar = full.sumS() / k;
        double[] d = new double[full.sumL().length];
        for (int t = 0; t < d.length; t++) d[t] = sBar - full.sumL()[t] / k;
        return d;
    }

    /** chi^C[t] for every probe token t. */
    public static double[] chi(ComponentSums c, double[] deltaFull) {
        double k = c.draws();
        double mPhiS = c.sumPhiS() / k, mPhi = c.sumPhi() / k;
        double[] out = new double[c.sumL().length];
        for (int t = 0; t < out.length; t++) out[t] = mPhiS - c.sumPhiL()[t] / k - mPhi * deltaFull[t];
        return out;
    }

    /**
     * The naive reference: the same estimator from every draw stored ([K] S values, [K][N] probe
     * losses), for tests. {@code sFull}, {@code lFull} are the full run's draws.
     */
    public static double[] chiNaive(double loss0, double[] s, float[][] l, double[] sFull, float[][] lFull) {
        int n = l[0].length, k = s.length, kf = sFull.length;
        double sBar = 0;
        for (double v : sFull) sBar += v;
        sBar /= kf;
        double[] out = new double[n];
        for (int t = 0; t < n; t++) {
            double lf = 0;
            for (float[] row : lFull) lf += row[t];
            double delta = sBar - lf / kf;
            double a = 0, b = 0, c = 0;
            for (int i = 0; i < k; i++) {
                double phi = s[i] - loss0;
                a += phi * s[i];
                b += phi * l[i][t];
                c += phi;
            }
            out[t] = a / k - b / k - (c / k) * delta;
        }
        return out;
    }
}
