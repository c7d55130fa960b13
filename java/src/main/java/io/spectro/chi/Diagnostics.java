package io.spectro.chi;

import io.spectro.sampling.RestrictedSampler;

/**
 * Per-component sampler diagnostics (method.md section 2): local learning coefficient, Gelman-Rubin
 * R-hat across chains and the lag-1 autocorrelation of the draws, all on the sampling-observable
 * loss S recorded at every draw, plus the minibatch-loss trace summary.
 *
 * @param component   component name
 * @param llc         lambda = nbeta * (E[S] - L0), E over all draws of all chains
 * @param rhat        Gelman-Rubin potential scale reduction of S across chains (NaN with one chain)
 * @param autocorr1   mean over chains of the lag-1 autocorrelation of S (NaN with < 3 draws)
 * @param meanS       E[S]
 * @param loss0       L0, the sampling loss at w*
 * @param status      "ok", or the reason the component stopped (NaN/inf, naming chain and step)
 * @param drift       second half minus first half of every chain's draws of S, in standard errors
 *                    ({@link #drift}; NaN with fewer than 4 draws per chain)
 * @param draws       draws per chain (--draws, or where --target-reliability stopped; 0 for a run that stopped)
 */
public record Diagnostics(String component, double llc, double rhat, double autocorr1, double meanS,
                          double loss0, String status, double drift, int draws) {

    public static Diagnostics of(String name, RestrictedSampler.Traces tr, double loss0, double nbeta) {
        double[][] x = tr.drawLoss();
        double mean = 0;
        int count = 0;
        for (double[] c : x) for (double v : c) { mean += v; count++; }
        mean /= count;
        return new Diagnostics(name, nbeta * (mean - loss0), rhat(x), autocorr1(x), mean, loss0, "ok", drift(x), x[0].length);
    }

    public static Diagnostics failed(String name, double loss0, String why) {
        return new Diagnostics(name, Double.NaN, Double.NaN, Double.NaN, Double.NaN, loss0, why, Double.NaN, 0);
    }

    /**
     * Drift test of m chains x n draws: D = mean over chains of (mean of the last n/2 draws - mean of the
     * first n/2), divided by its standard error. Each half is centred on its own mean (so the step being
     * tested does not inflate its own error); from those residuals, every chain's variance s2 and the pooled
     * lag-1 autocorrelation rho (clamped to [0, 0.9]) give Var(D) = sum_c 2 s2_c / (n/2) (1 + rho) / (1 - rho) / m^2
     * (AR(1) approximation). |z| of a stationary chain is about N(0, 1); a chain still rising or falling gives
     * a large |z|. NaN with fewer than 4 draws.
     */
    public static double drift(double[][] x) {
        int m = x.length, n = x[0].length, h = n / 2;
        if (n < 4) return Double.NaN;
        double[][] res = new double[m][2 * h];
        double d = 0;
        for (int c = 0; c < m; c++) {
            double a = 0, b = 0;
            for (int i = 0; i < h; i++) { a += x[c][i]; b += x[c][n - h + i]; }
            a /= h;
            b /= h;
            d += b - a;
            for (int i = 0; i < h; i++) { res[c][i] = x[c][i] - a; res[c][h + i] = x[c][n - h + i] - b; }
        }
        d /= m;
        double num = 0, den = 0, var = 0;
        for (double[] r : res) {
            double s2 = 0;
            for (int i = 0; i < r.length; i++) {
                s2 += r[i] * r[i];
                if (i > 0 && i != h) num += r[i] * r[i - 1]; // lag-1 pairs within a half
            }
            den += s2;
            var += 2 * (s2 / (r.length - 2)) / h;
        }
        double rho = den > 0 ? Math.min(0.9, Math.max(0, num / den)) : 0;
        var *= (1 + rho) / (1 - rho) / ((double) m * m);
        if (var == 0) return d == 0 ? 0 : Math.copySign(Double.POSITIVE_INFINITY, d);
        return d / Math.sqrt(var);
    }

    /** Gelman-Rubin R-hat of m chains x n draws. */
    public static double rhat(double[][] x) {
        int m = x.length, n = x[0].length;
        if (m < 2 || n < 2) return Double.NaN;
        double[] means = new double[m];
        double grand = 0, w = 0;
        for (int j = 0; j < m; j++) {
            for (double v : x[j]) means[j] += v;
            means[j] /= n;
            grand += means[j];
            double s2 = 0;
            for (double v : x[j]) s2 += (v - means[j]) * (v - means[j]);
            w += s2 / (n - 1);
        }
        grand /= m;
        w /= m;
        double b = 0;
        for (double mu : means) b += (mu - grand) * (mu - grand);
        b *= (double) n / (m - 1);
        if (w == 0) return b == 0 ? 1.0 : Double.POSITIVE_INFINITY;
        double varPlus = (n - 1.0) / n * w + b / n;
        return Math.sqrt(varPlus / w);
    }

    /** Mean over chains of the lag-1 autocorrelation. */
    public static double autocorr1(double[][] x) {
        double sum = 0;
        int used = 0;
        for (double[] c : x) {
            if (c.length < 3) continue;
            double mu = 0;
            for (double v : c) mu += v;
            mu /= c.length;
            double num = 0, den = 0;
            for (int i = 0; i < c.length; i++) {
                den += (c[i] - mu) * (c[i] - mu);
                if (i > 0) num += (c[i] - mu) * (c[i - 1] - mu);
            }
            if (den > 0) { sum += num / den; used++; }
        }
        return used == 0 ? Double.NaN : sum / used;
    }
}
