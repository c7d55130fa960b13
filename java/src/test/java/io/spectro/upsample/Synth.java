package io.spectro.upsample;

import java.util.SplittableRandom;

/**
 * Synthetic regression data shaped like the upsampling stage's: rows grouped in sequences (each
 * sequence shifts its rows' features, so a split that leaks sequences would flatter a model), features
 * x, targets y = linear map + a smooth nonlinear part (tanh and squares of random projections, the
 * squares having no linear component that ridge could use) + noise.
 */
public record Synth(float[] x, float[] y, int[] group, int n, int dIn, int dOut) {

    /** {@code nonlinear} in [0, 1] weights the nonlinear part against the linear one. */
    public static Synth make(int n, int dIn, int dOut, int perSequence, double nonlinear, double noise, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int m = 16;
        double[][] lin = gauss(r, dOut, dIn, 1 / Math.sqrt(dIn)), p = gauss(r, m, dIn, 1 / Math.sqrt(dIn)),
                q = gauss(r, dOut, m, 1 / Math.sqrt(m));
        float[] x = new float[n * dIn], y = new float[n * dOut];
        int[] g = new int[n];
        double[] shift = new double[dIn], h = new double[m];
        for (int i = 0; i < n; i++) {
            g[i] = i / perSequence;
            if (i % perSequence == 0) for (int j = 0; j < dIn; j++) shift[j] = 0.5 * r.nextGaussian();
            for (int j = 0; j < dIn; j++) x[i * dIn + j] = (float) (r.nextGaussian() + shift[j]);
            for (int a = 0; a < m; a++) {
                double t = 0;
                for (int j = 0; j < dIn; j++) t += p[a][j] * x[i * dIn + j];
                h[a] = a % 2 == 0 ? Math.tanh(2 * t) : t * t - 1;
            }
            for (int k = 0; k < dOut; k++) {
                double l = 0, nl = 0;
                for (int j = 0; j < dIn; j++) l += lin[k][j] * x[i * dIn + j];
                for (int a = 0; a < m; a++) nl += q[k][a] * h[a];
                y[i * dOut + k] = (float) ((1 - nonlinear) * l + nonlinear * nl + noise * r.nextGaussian() + 3 * k);
            }
        }
        return new Synth(x, y, g, n, dIn, dOut);
    }

    private static double[][] gauss(SplittableRandom r, int a, int b, double scale) {
        double[][] m = new double[a][b];
        for (int i = 0; i < a; i++) for (int j = 0; j < b; j++) m[i][j] = scale * r.nextGaussian();
        return m;
    }

    /** Rows where {@code keep[i] == want}. */
    public Synth select(boolean[] keep, boolean want) {
        int c = 0;
        for (int i = 0; i < n; i++) if (keep[i] == want) c++;
        float[] xs = new float[c * dIn], ys = new float[c * dOut];
        int[] gs = new int[c];
        for (int i = 0, o = 0; i < n; i++) {
            if (keep[i] != want) continue;
            System.arraycopy(x, i * dIn, xs, o * dIn, dIn);
            System.arraycopy(y, i * dOut, ys, o * dOut, dOut);
            gs[o++] = group[i];
        }
        return new Synth(xs, ys, gs, c, dIn, dOut);
    }

    /** Mean over outputs of R² of {@code pred} against y (each output's own mean as the baseline). */
    public double meanR2(float[] pred) {
        double sum = 0;
        for (int k = 0; k < dOut; k++) {
            double mu = 0, sse = 0, sst = 0;
            for (int i = 0; i < n; i++) mu += y[i * dOut + k];
            mu /= n;
            for (int i = 0; i < n; i++) {
                double t = y[i * dOut + k];
                sse += (t - pred[i * dOut + k]) * (t - pred[i * dOut + k]);
                sst += (t - mu) * (t - mu);
            }
            sum += 1 - sse / sst;
        }
        return sum / dOut;
    }

    public double heldOutR2(Regressor reg) {
        float[] p = new float[n * dOut];
        reg.predict(x, n, p);
        return meanR2(p);
    }
}
