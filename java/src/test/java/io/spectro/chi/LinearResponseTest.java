package io.spectro.chi;

import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.ComponentVector;
import io.spectro.sampling.Observables;
import io.spectro.sampling.SamplerOptions;
import io.spectro.sampling.TinyFixture;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.LUDecomposition;
import org.junit.jupiter.api.Test;

import static io.spectro.sampling.TinyFixture.TINY;
import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link LinearResponse} (CG on Hessian-vector products, one directional difference of the losses) against a
 * dense reference built another way: every probe token's and S's gradient coordinate by coordinate (central
 * differences of the forward losses alone), the dense Hessian from central differences of the native gradient,
 * v = (γ I + nβ H)⁻¹ ∇S solved by LU, χ[t] = (∇S − ∇ℓ_t) · v. Tolerance: 0.3% of the column's largest value
 * (measured: 7e-5 at nβ 0; 7e-4 at nβ 500, the CG tolerance 1e-3, where γ + nβ H stays positive definite: H of this component spans ±0.41; the reference's float32 losses differenced at h = 1e-2 carry ~1e-4).
 */
class LinearResponseTest {
    static final int[] SAMPLING = TinyFixture.tokens(8, 9, 64, 5), PROBE = TinyFixture.tokens(2, 9, 64, 4);

    @Test
    void columnMatchesTheDenseGaussianCovariance() {
        TinyFixture.assumeNative();
        float[] flat = null; // the nβ = 0 column: the landscape term must move the nβ > 0 one by more than the error
        for (float nbeta : new float[]{0f, 500f}) {
            try (NativeModel m = NativeModel.create(Backend.load("cpu"), TINY, 1, 4096, false);
                 Observables obs = new Observables(m, TINY, PROBE, 2, 9, SAMPLING, 8, 9, 2, 5, 4096, 1 << 20)) {
                m.load(TinyFixture.params(TINY, 3));
                Component comp = Decomposition.resolve(TINY, "default").stream().filter(c -> c.name().equals("l1h0")).findFirst().orElseThrow();
                SamplerOptions so = SamplerOptions.small(0).withNbeta(nbeta);
                LinearResponse.Column col = LinearResponse.column(m, obs, comp, so, LinearResponse.Options.defaults());
                float[] w0 = ComponentVector.gather(comp, m::readParams);
                double[] ref = dense(m, obs, comp, w0, so);
                assertArrayEquals(w0, ComponentVector.gather(comp, m::readParams), "w* restored");
                double max = 0, err = 0;
                for (int t = 0; t < ref.length; t++) {
                    max = Math.max(max, Math.abs(ref[t]));
                    err = Math.max(err, Math.abs(ref[t] - col.chi()[t]));
                }
                System.out.printf("linear response, nbeta %.0f: %d tokens, max |chi| %.3g, max error %.3g, CG steps %d, residual %.2g%n",
                        nbeta, ref.length, max, err, col.steps(), col.residual());
                assertTrue(max > 0);
                assertTrue(err <= 3e-3 * max, "max error " + err + " vs max |chi| " + max);
                if (nbeta == 0) {
                    assertEquals(0, col.steps());
                    flat = col.chi();
                } else {
                    assertTrue(col.steps() > 0 && col.residual() <= 1e-3);
                    double moved = 0;
                    for (int t = 0; t < ref.length; t++) moved = Math.max(moved, Math.abs(col.chi()[t] - flat[t]));
                    System.out.printf("linear response: nbeta H moves chi by %.3g%n", moved);
                    assertTrue(moved > 20 * err, "the Hessian term moved chi by " + moved + ", error " + err);
                }
            }
        }
    }

    @Test
    void refusesANoiseFreeSampler() {
        assertThrows(io.spectro.SpectroException.class, () -> ChainFreeRun.run(null, null, "default",
                SamplerOptions.small(0).withNoiseScale(0f), new ChainFreeRun.Options("linear", 1, 20), "cpu", 1, 0, 4096, null, null, null, false));
    }

    /** The reference column: coordinate-wise gradients of the losses, the dense Hessian, an LU solve. */
    static double[] dense(NativeModel m, Observables obs, Component comp, float[] w0, SamplerOptions so) {
        int n = w0.length, tokens = obs.probeTokens();
        double h = 1e-2;
        double[] gS = new double[n];
        double[][] gT = new double[tokens][n];
        for (int i = 0; i < n; i++) {
            float[] w = w0.clone();
            w[i] = (float) (w0[i] + h);
            ComponentVector.scatter(m, comp, w);
            double sp = obs.samplingLoss();
            float[] lp = obs.probeLosses();
            w[i] = (float) (w0[i] - h);
            ComponentVector.scatter(m, comp, w);
            double sm = obs.samplingLoss();
            float[] lm = obs.probeLosses();
            gS[i] = (sp - sm) / (2 * h);
            for (int t = 0; t < tokens; t++) gT[t][i] = ((double) lp[t] - lm[t]) / (2 * h);
        }
        double[][] a = new double[n][n];
        double hh = 1e-3;
        for (int j = 0; j < n; j++) {
            double[] gp = nativeGrad(m, obs, comp, w0, j, hh), gm = nativeGrad(m, obs, comp, w0, j, -hh);
            for (int i = 0; i < n; i++) a[i][j] = so.nbeta() * (gp[i] - gm[i]) / (2 * hh);
        }
        m.resetParams(comp.blockArray());
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < i; j++) a[i][j] = a[j][i] = (a[i][j] + a[j][i]) / 2;
            a[i][i] += so.gamma();
        }
        double[] v = new LUDecomposition(new Array2DRowRealMatrix(a)).getSolver().solve(new ArrayRealVector(gS)).toArray();
        double[] chi = new double[tokens];
        for (int t = 0; t < tokens; t++)
            for (int i = 0; i < n; i++) chi[t] += (gS[i] - gT[t][i]) * v[i];
        return chi;
    }

    private static double[] nativeGrad(NativeModel m, Observables obs, Component comp, float[] w0, int j, double h) {
        float[] w = w0.clone();
        w[j] = (float) (w0[j] + h);
        ComponentVector.scatter(m, comp, w);
        return obs.samplingGradient(comp, comp.lowestLayer(), comp.blockArray());
    }
}
