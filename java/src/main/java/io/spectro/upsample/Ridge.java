package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.util.Parallel;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Ridge regression in closed form on standardised inputs, the baseline of the upsampling stage:
 * {@code W(λ) = (R + λ I)^-1 B}, R the inputs' correlation matrix and B their scaled covariance with the
 * targets, solved for every λ of the grid from one eigendecomposition of R. λ (one for all outputs) is
 * chosen by grouped K-fold cross-validation (folds keep sequences whole, {@link GroupSplit#folds}),
 * maximising the pooled held-out mean R² over outputs; ties go to the larger λ.
 *
 * <p>All statistics are moments accumulated once per fold in double on globally centred data; a
 * fold's training statistics are the total minus the fold's, and its held-out squared error follows
 * from its own moments, so cross-validation costs one pass over the rows. Deterministic: folds are
 * summed in a fixed order whatever the thread count.
 */
final class Ridge {
    /** The λ grid, relative to unit-variance inputs (R has a unit diagonal). */
    static final double[] LAMBDAS = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000};
    private static final int BLOCK = 32;

    private Ridge() {}

    /** Sums over a set of rows (centred by the global means): count, Σx, Σy, Σy², Σxxᵀ (full), Σxyᵀ. */
    private static final class Moments {
        final int d, e;
        long n;
        final double[] sx, sy, syy, sxx, sxy;

        Moments(int d, int e) {
            this.d = d;
            this.e = e;
            sx = new double[d];
            sy = new double[e];
            syy = new double[e];
            sxx = new double[d * d];
            sxy = new double[d * e];
        }

        void add(Moments o, double sign) {
            n += (long) sign * o.n;
            axpy(sign, o.sx, sx);
            axpy(sign, o.sy, sy);
            axpy(sign, o.syy, syy);
            axpy(sign, o.sxx, sxx);
            axpy(sign, o.sxy, sxy);
        }

        private static void axpy(double a, double[] x, double[] y) {
            for (int i = 0; i < x.length; i++) y[i] += a * x[i];
        }

        /** Accumulates rows {@code rows[0..count)}, in blocks whose transposes make the Gram updates dot products. */
        void accumulate(float[] x, float[] y, int[] rows, int count, double[] gx, double[] gy) {
            double[] xt = new double[d * BLOCK], yt = new double[e * BLOCK];
            for (int s = 0; s < count; s += BLOCK) {
                int b = Math.min(BLOCK, count - s);
                for (int r = 0; r < b; r++) {
                    long xo = (long) rows[s + r] * d, yo = (long) rows[s + r] * e;
                    for (int j = 0; j < d; j++) xt[j * BLOCK + r] = x[(int) (xo + j)] - gx[j];
                    for (int k = 0; k < e; k++) yt[k * BLOCK + r] = y[(int) (yo + k)] - gy[k];
                }
                n += b;
                for (int j = 0; j < d; j++) {
                    int jo = j * BLOCK;
                    for (int r = 0; r < b; r++) sx[j] += xt[jo + r];
                    for (int k = j; k < d; k++) sxx[j * d + k] += dot(xt, jo, xt, k * BLOCK, b);
                    for (int k = 0; k < e; k++) sxy[j * e + k] += dot(xt, jo, yt, k * BLOCK, b);
                }
                for (int k = 0; k < e; k++) {
                    int ko = k * BLOCK;
                    for (int r = 0; r < b; r++) {
                        sy[k] += yt[ko + r];
                        syy[k] += yt[ko + r] * yt[ko + r];
                    }
                }
            }
            for (int j = 0; j < d; j++) for (int k = 0; k < j; k++) sxx[j * d + k] = sxx[k * d + j];
        }

        private static double dot(double[] a, int ao, double[] b, int bo, int len) {
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int i = 0;
            for (; i + 3 < len; i += 4) {
                s0 += a[ao + i] * b[bo + i];
                s1 += a[ao + i + 1] * b[bo + i + 1];
                s2 += a[ao + i + 2] * b[bo + i + 2];
                s3 += a[ao + i + 3] * b[bo + i + 3];
            }
            for (; i < len; i++) s0 += a[ao + i] * b[bo + i];
            return (s0 + s1) + (s2 + s3);
        }
    }

    /** Ridge solutions of one training set for every λ, as affine maps on centred data: ŷ = c + Σ_j a_j x_j. */
    private static final class Solutions {
        final double[] mx, my, sd; // training means and input standard deviations (0 = constant input)
        final double[][] w;        // per λ: standardised coefficients, d × e row-major

        Solutions(Moments t, double[] lambdas) {
            int d = t.d, e = t.e;
            double nt = t.n;
            mx = new double[d];
            my = new double[e];
            sd = new double[d];
            for (int j = 0; j < d; j++) mx[j] = t.sx[j] / nt;
            for (int k = 0; k < e; k++) my[k] = t.sy[k] / nt;
            for (int j = 0; j < d; j++) {
                double var = t.sxx[j * d + j] / nt - mx[j] * mx[j];
                sd[j] = var > 1e-20 ? Math.sqrt(var) : 0;
            }
            double[][] r = new double[d][d], bq = new double[d][e];
            for (int j = 0; j < d; j++) {
                for (int k = 0; k < d; k++)
                    r[j][k] = sd[j] > 0 && sd[k] > 0 ? (t.sxx[j * d + k] / nt - mx[j] * mx[k]) / (sd[j] * sd[k]) : (j == k ? 1 : 0);
                if (sd[j] > 0) for (int k = 0; k < e; k++) bq[j][k] = (t.sxy[j * e + k] / nt - mx[j] * my[k]) / sd[j];
            }
            EigenDecomposition eig = new EigenDecomposition(new Array2DRowRealMatrix(r, false));
            RealMatrix v = eig.getV();
            double[] ev = eig.getRealEigenvalues();
            double[][] vv = v.getData();
            double[][] q = v.transpose().multiply(new Array2DRowRealMatrix(bq, false)).getData(); // Vᵀ B
            w = new double[lambdas.length][];
            for (int l = 0; l < lambdas.length; l++) {
                double[] wl = new double[d * e];
                double[] row = new double[e];
                for (int i = 0; i < d; i++) {
                    double inv = 1 / (Math.max(ev[i], 0) + lambdas[l]);
                    for (int k = 0; k < e; k++) row[k] = q[i][k] * inv;
                    for (int j = 0; j < d; j++) {
                        double vji = vv[j][i];
                        if (vji == 0) continue;
                        int jo = j * e;
                        for (int k = 0; k < e; k++) wl[jo + k] += vji * row[k];
                    }
                }
                w[l] = wl;
            }
        }

        /** Raw-unit slopes a (d × e) for λ index l. */
        double[] slopes(int l, int e) {
            int d = sd.length;
            double[] a = new double[d * e];
            for (int j = 0; j < d; j++) if (sd[j] > 0) for (int k = 0; k < e; k++) a[j * e + k] = w[l][j * e + k] / sd[j];
            return a;
        }
    }

    /** Σ over the rows of {@code f} of (y_k - c_k - a_kᵀx)², for every output k, from f's moments. */
    private static double[] sse(Moments f, Solutions s, int l) {
        int d = f.d, e = f.e;
        double[] a = s.slopes(l, e), out = new double[e], ak = new double[d], u = new double[d];
        for (int k = 0; k < e; k++) {
            double c = s.my[k];
            for (int j = 0; j < d; j++) {
                ak[j] = a[j * e + k];
                c -= ak[j] * s.mx[j];
            }
            double axy = 0, ax = 0, quad = 0;
            for (int j = 0; j < d; j++) {
                axy += ak[j] * f.sxy[j * e + k];
                ax += ak[j] * f.sx[j];
            }
            for (int j = 0; j < d; j++) {
                double acc = 0;
                int jo = j * d;
                for (int i = 0; i < d; i++) acc += f.sxx[jo + i] * ak[i];
                u[j] = acc;
            }
            for (int j = 0; j < d; j++) quad += ak[j] * u[j];
            out[k] = Math.max(0, f.syy[k] - 2 * c * f.sy[k] - 2 * axy + f.n * c * c + 2 * c * ax + quad);
        }
        return out;
    }

    static DenseNet fit(float[] x, float[] y, int n, int d, int e, int[] group, Regressors.Options o, Regressors.Listener listener) {
        int groups = GroupSplit.distinct(group, n).length;
        if (groups < 2)
            throw new SpectroException("ridge: choosing λ by cross-validation needs rows from at least 2 sequences, got " + groups);
        int k = Math.min(o.folds(), groups);
        int[] fold = GroupSplit.folds(group, n, k, o.seed());
        double[] gx = new double[d], gy = new double[e];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++) gx[j] += x[i * d + j];
            for (int c = 0; c < e; c++) gy[c] += y[i * e + c];
        }
        for (int j = 0; j < d; j++) gx[j] /= n;
        for (int c = 0; c < e; c++) gy[c] /= n;

        int[][] rows = new int[k][];
        int[] cnt = new int[k];
        for (int i = 0; i < n; i++) cnt[fold[i]]++;
        for (int f = 0; f < k; f++) rows[f] = new int[cnt[f]];
        int[] at = new int[k];
        for (int i = 0; i < n; i++) rows[fold[i]][at[fold[i]]++] = i;
        Moments[] m = new Moments[k];
        Parallel.forEach(k, o.threads(), f -> {
            m[f] = new Moments(d, e);
            m[f].accumulate(x, y, rows[f], rows[f].length, gx, gy);
        });
        Moments total = new Moments(d, e);
        for (Moments f : m) total.add(f, 1);

        double[][] sse = new double[LAMBDAS.length][e];
        double[][][] foldSse = new double[k][][];
        Parallel.forEach(k, o.threads(), f -> {
            Moments train = new Moments(d, e);
            train.add(total, 1);
            train.add(m[f], -1);
            Solutions s = new Solutions(train, LAMBDAS);
            foldSse[f] = new double[LAMBDAS.length][];
            for (int l = 0; l < LAMBDAS.length; l++) foldSse[f][l] = sse(m[f], s, l);
        });
        listener.progress(k, k + 1, "cross-validated " + LAMBDAS.length + " values of λ on " + k + " folds");
        for (int f = 0; f < k; f++)
            for (int l = 0; l < LAMBDAS.length; l++) for (int c = 0; c < e; c++) sse[l][c] += foldSse[f][l][c];
        double[] cvR2 = new double[LAMBDAS.length];
        int best = LAMBDAS.length - 1;
        for (int l = LAMBDAS.length - 1; l >= 0; l--) {
            double sum = 0;
            int used = 0;
            for (int c = 0; c < e; c++) {
                if (total.syy[c] <= 0) continue;
                sum += 1 - sse[l][c] / total.syy[c];
                used++;
            }
            cvR2[l] = used == 0 ? 0 : sum / used;
            if (cvR2[l] > cvR2[best]) best = l;
        }

        Solutions s = new Solutions(total, new double[]{LAMBDAS[best]});
        listener.progress(k + 1, k + 1, "λ " + LAMBDAS[best] + ", cross-validated mean R² " + String.format(java.util.Locale.ROOT, "%.4f", cvR2[best]));
        float[] xMean = new float[d], xScale = new float[d], wt = new float[e * d], yMean = new float[e], yScale = new float[e];
        for (int j = 0; j < d; j++) {
            xMean[j] = (float) (s.mx[j] + gx[j]);
            xScale[j] = s.sd[j] > 0 ? (float) (1 / s.sd[j]) : 0f;
            for (int c = 0; c < e; c++) wt[c * d + j] = (float) s.w[0][j * e + c];
        }
        for (int c = 0; c < e; c++) {
            yMean[c] = (float) (s.my[c] + gy[c]);
            yScale[c] = 1;
        }
        ObjectNode info = JsonMapper.shared().createObjectNode();
        info.put("lambda", LAMBDAS[best]);
        info.put("folds", k);
        info.put("seed", o.seed());
        info.put("rows", n);
        ArrayNode grid = info.putArray("cv");
        for (int l = 0; l < LAMBDAS.length; l++) grid.addObject().put("lambda", LAMBDAS[l]).put("meanR2", cvR2[l]);
        return new DenseNet("ridge", new int[]{d, e}, xMean, xScale, new float[][]{wt}, new float[][]{new float[e]}, yMean, yScale, info);
    }
}
