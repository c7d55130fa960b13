package io.spectro.calibrate;

import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.ComponentVector;
import io.spectro.sampling.Observables;
import io.spectro.sampling.TinyFixture;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.junit.jupiter.api.Test;

import static io.spectro.sampling.TinyFixture.TINY;
import static org.junit.jupiter.api.Assertions.*;

/** Lanczos against the dense Hessian of a small component (every column a central difference of gradients, symmetrised). */
class HessianTest {
    @Test
    void lanczosFindsTheExtremeEigenvaluesOfTheDenseHessian() {
        TinyFixture.assumeNative();
        int[] sampling = TinyFixture.tokens(8, 9, 64, 5);
        try (NativeModel m = NativeModel.create(Backend.load("cpu"), TINY, 1, 4096, false);
             Observables obs = new Observables(m, TINY, TinyFixture.tokens(1, 9, 64, 4), 1, 9, sampling, 8, 9, 2, 5, 4096, 1 << 20)) {
            m.load(TinyFixture.params(TINY, 3));
            Component comp = Decomposition.resolve(TINY, "default").stream().filter(c -> c.name().equals("l1h0")).findFirst().orElseThrow();
            Hessian.Top top = Hessian.top(m, obs, comp, true, 4, 20, 1);
            // dense: column j = (g(w + h e_j) - g(w - h e_j)) / 2h, the same gradient (mean over the first 4 minibatches)
            float[] w0 = ComponentVector.gather(comp, m::readParams);
            int n = w0.length;
            double h = 1e-3;
            double[][] hm = new double[n][n];
            for (int j = 0; j < n; j++) {
                double[] gp = grad(m, obs, comp, w0, j, h), gm = grad(m, obs, comp, w0, j, -h);
                for (int i = 0; i < n; i++) hm[i][j] = (gp[i] - gm[i]) / (2 * h);
            }
            m.resetParams(comp.blockArray());
            for (int i = 0; i < n; i++) for (int j = 0; j < i; j++) hm[i][j] = hm[j][i] = (hm[i][j] + hm[j][i]) / 2;
            double[] eig = new EigenDecomposition(new Array2DRowRealMatrix(hm)).getRealEigenvalues();
            double max = Double.NEGATIVE_INFINITY, min = Double.POSITIVE_INFINITY;
            for (double e : eig) { max = Math.max(max, e); min = Math.min(min, e); }
            System.out.printf("hessian: %d params, eigenvalues %.5g .. %.5g (dense), %.5g .. %.5g (Lanczos, %d steps, residual %.2g)%n",
                    n, min, max, top.lambdaMin(), top.lambdaMax(), top.iterations(), top.residual());
            assertEquals(max, top.lambdaMax(), 0.02 * Math.abs(max));
            assertEquals(min, top.lambdaMin(), 0.02 * Math.abs(min));
            assertEquals(ComponentVector.gather(comp, m::readParams)[0], w0[0]); // w* restored
        }
    }

    private static double[] grad(NativeModel m, Observables obs, Component comp, float[] w0, int j, double h) {
        float[] w = w0.clone();
        w[j] += (float) h;
        ComponentVector.scatter(m, comp, w);
        double[] g = new double[w.length];
        for (int b = 0; b < 4; b++) {
            m.forwardBackward(obs.minibatch(b), comp.lowestLayer(), comp.blockArray(), null);
            float[] gb = ComponentVector.gather(comp, m::readGrads);
            for (int i = 0; i < g.length; i++) g[i] += gb[i] / 4.0;
        }
        return g;
    }
}
