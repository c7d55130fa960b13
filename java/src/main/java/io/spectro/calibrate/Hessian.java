package io.spectro.calibrate;

import static io.spectro.util.Dense.dot;
import static io.spectro.util.Dense.norm;
import io.spectro.components.Component;
import io.spectro.model.Block;
import io.spectro.nativeabi.NativeException;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.ComponentVector;
import io.spectro.sampling.Observables;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;

import java.util.SplittableRandom;

/**
 * The extreme Hessian eigenvalues of a component's loss at w* (docs/method.md, "Calibration"): Lanczos
 * iteration (with full reorthogonalisation) on Hessian-vector products, each a central finite difference of
 * gradients, Hv ≈ (∇L(w* + h v) − ∇L(w* − h v)) / (2h), |v| = 1, h = {@value #H_REL} |w*_C| (at least 1e-4),
 * with ∇L the native {@code forwardBackward} gradient of the mean loss over the first {@code batches}
 * minibatches of the SGLD pool (the loss the chains sample), restricted to the component's parameters (the
 * others stay at w*). Finite differences cost two gradients per product and need no second-order code on
 * either backend; their error is O(h²) from the third derivative plus fp32 rounding of the gradients
 * divided by h. Lanczos rather than plain power iteration: the Hessian at a trained point is indefinite,
 * and power iteration on a spectrum with λ_min ≈ −λ_max barely converges, while the extreme Ritz values of
 * a Krylov space of 20 vectors do; the largest (algebraic) one is what the stability check needs.
 */
public final class Hessian {
    static final double H_REL = 1e-3;

    private Hessian() {}

    /**
     * @param lambdaMax  the largest eigenvalue (Ritz value)
     * @param lambdaMin  the smallest (negative: w* is not a minimum in every direction of the component)
     * @param iterations Lanczos steps (Hessian-vector products)
     * @param residual   |H y − λ_max y| of the top Ritz vector y (β_k times its last coordinate): its accuracy
     */
    public record Top(double lambdaMax, double lambdaMin, int iterations, double residual) {
        static final Top NONE = new Top(Double.NaN, Double.NaN, 0, Double.NaN);
    }

    /**
     * @param fast    the fast path (backward stops at the component's lowest layer, only its tensors get gradients)
     * @param batches minibatches averaged per gradient
     * @param steps   Lanczos steps at most (also at most the component's size)
     */
    public static Top top(NativeModel model, Observables obs, Component comp, boolean fast, int batches, int steps, long seed) {
        Block[] blocks = comp.blockArray();
        int stop = fast ? comp.lowestLayer() : 0;
        obs.cacheAt(fast ? comp.lowestLayer() : -1);
        model.resetParams(blocks);
        float[] w0 = ComponentVector.gather(comp, model::readParams);
        int n = w0.length, k = Math.min(steps, n);
        double h = Math.max(1e-4, H_REL * norm(toDouble(w0)));
        SplittableRandom rng = new SplittableRandom(seed);
        double[][] q = new double[k + 1][];
        q[0] = new double[n];
        for (int i = 0; i < n; i++) q[0][i] = rng.nextDouble() - 0.5;
        scale(q[0], 1 / norm(q[0]));
        double[] alpha = new double[k], beta = new double[k];
        int m = 0;
        try {
            for (int j = 0; j < k; j++) {
                double[] gp = gradient(model, obs, comp, blocks, stop, fast, w0, q[j], h, batches);
                double[] gm = gradient(model, obs, comp, blocks, stop, fast, w0, q[j], -h, batches);
                double[] w = new double[n];
                for (int i = 0; i < n; i++) w[i] = (gp[i] - gm[i]) / (2 * h);
                alpha[j] = dot(w, q[j]);
                if (!Double.isFinite(alpha[j])) return Top.NONE;
                for (int r = 0; r <= j; r++) { // full reorthogonalisation (twice is enough)
                    double c = dot(w, q[r]);
                    for (int i = 0; i < n; i++) w[i] -= c * q[r][i];
                }
                for (int r = 0; r <= j; r++) {
                    double c = dot(w, q[r]);
                    for (int i = 0; i < n; i++) w[i] -= c * q[r][i];
                }
                m = j + 1;
                beta[j] = norm(w);
                if (beta[j] < 1e-12 * Math.max(1, Math.abs(alpha[j]))) break; // an invariant subspace: exact
                scale(w, 1 / beta[j]);
                q[j + 1] = w;
            }
        } catch (NativeException e) {
            return Top.NONE; // NaN/inf in a loss or gradient
        } finally {
            model.resetParams(blocks);
        }
        double[][] t = new double[m][m];
        for (int j = 0; j < m; j++) {
            t[j][j] = alpha[j];
            if (j + 1 < m) t[j][j + 1] = t[j + 1][j] = beta[j];
        }
        EigenDecomposition ed = new EigenDecomposition(new Array2DRowRealMatrix(t));
        double[] ev = ed.getRealEigenvalues();
        int top = 0, low = 0;
        for (int i = 0; i < ev.length; i++) {
            if (ev[i] > ev[top]) top = i;
            if (ev[i] < ev[low]) low = i;
        }
        double residual = Math.abs(beta[m - 1] * ed.getEigenvector(top).getEntry(m - 1));
        return new Top(ev[top], ev[low], m, residual);
    }

    /** Mean gradient over the first batches minibatches at w0 + step * v, on the component's parameters. */
    private static double[] gradient(NativeModel model, Observables obs, Component comp, Block[] blocks, int stop, boolean fast,
                                     float[] w0, double[] v, double step, int batches) {
        float[] w = new float[w0.length];
        for (int i = 0; i < w.length; i++) w[i] = (float) (w0[i] + step * v[i]);
        ComponentVector.scatter(model, comp, w);
        double[] g = new double[w.length];
        int k = Math.max(1, batches);
        for (int b = 0; b < k; b++) {
            model.forwardBackward(obs.minibatch(b), stop, fast ? blocks : null, null);
            float[] gb = ComponentVector.gather(comp, model::readGrads);
            for (int i = 0; i < g.length; i++) g[i] += gb[i] / (double) k;
        }
        return g;
    }

    private static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    private static void scale(double[] x, double f) {
        for (int i = 0; i < x.length; i++) x[i] *= f;
    }
}
