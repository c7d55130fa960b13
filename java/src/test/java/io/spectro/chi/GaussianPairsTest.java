package io.spectro.chi;

import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.ComponentVector;
import io.spectro.sampling.Observables;
import io.spectro.sampling.SamplerOptions;
import io.spectro.sampling.TinyFixture;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static io.spectro.sampling.TinyFixture.TINY;
import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link GaussianPairs}: the streamed sums (native probe accumulators) against every draw stored and the naive
 * estimator ({@link ChiEstimator#chiNaive}), with the draws made here from the documented law — w* ± δ,
 * δ = s/√γ · N(0, 1) from the generator keyed by (seed, component, pair); the spread of the draws matches that law;
 * a fixed seed gives the same bits and another seed other draws.
 */
class GaussianPairsTest {
    static final int[] SAMPLING = TinyFixture.tokens(8, 9, 64, 5), PROBE = TinyFixture.tokens(2, 9, 64, 4);

    @Test
    void sumsGiveTheNaiveEstimatorOnTheDocumentedDraws() {
        TinyFixture.assumeNative();
        SamplerOptions so = SamplerOptions.small(7).withGamma(300f);
        int pairs = 6;
        try (NativeModel m = NativeModel.create(Backend.load("cpu"), TINY, 1, 4096, false);
             Observables obs = new Observables(m, TINY, PROBE, 2, 9, SAMPLING, 8, 9, 2, 5, 4096, 1 << 20)) {
            m.load(TinyFixture.params(TINY, 3));
            double loss0 = obs.samplingLoss();
            Component full = Decomposition.full(TINY);
            Component comp = Decomposition.resolve(TINY, "default").stream().filter(c -> c.name().equals("l1h0")).findFirst().orElseThrow();
            float[] w0 = ComponentVector.gather(comp, m::readParams);
            ComponentSums fs = GaussianPairs.sums(m, obs, full, -1, so, pairs, loss0, false);
            ComponentSums cs = GaussianPairs.sums(m, obs, comp, 4, so, pairs, loss0, true);
            assertArrayEquals(w0, ComponentVector.gather(comp, m::readParams), "w* restored");
            assertEquals(2 * pairs, cs.draws());
            double[] chi = ChiEstimator.chi(cs, ChiEstimator.deltaFull(fs));

            Draws fd = draws(m, obs, full, -1, so, pairs, false), cd = draws(m, obs, comp, 4, so, pairs, true);
            double[] ref = ChiEstimator.chiNaive(loss0, cd.s, cd.l, fd.s, fd.l);
            double max = 0;
            for (double v : ref) max = Math.max(max, Math.abs(v));
            for (int t = 0; t < ref.length; t++) assertEquals(ref[t], chi[t], 1e-9 * max + 1e-12, "token " + t);
            assertTrue(max > 0);
            // the draws' spread is the law's: |δ|² / (P s²/γ) ≈ 1 (chi-square with P degrees of freedom per draw)
            double ratio = cd.sq / (pairs * (double) w0.length / so.gamma());
            System.out.printf("gaussian pairs: %d params, |delta|^2 / (P/gamma) = %.4f, max |chi| %.3g%n", w0.length, ratio, max);
            assertEquals(1.0, ratio, 0.05);

            // same seed, same bits; another seed, other draws
            assertArrayEquals(chi, ChiEstimator.chi(GaussianPairs.sums(m, obs, comp, 4, so, pairs, loss0, true), ChiEstimator.deltaFull(fs)));
            double[] other = ChiEstimator.chi(GaussianPairs.sums(m, obs, comp, 4, so.withSeed(8), pairs, loss0, true), ChiEstimator.deltaFull(fs));
            assertFalse(java.util.Arrays.equals(chi, other));
        }
    }

    record Draws(double[] s, float[][] l, double sq) {}

    /** Every draw stored: S and the probe losses at w* + δ and w* − δ of each pair, made here from the documented law. */
    static Draws draws(NativeModel m, Observables obs, Component comp, int index, SamplerOptions so, int pairs, boolean fast) {
        obs.cacheAt(fast ? comp.lowestLayer() : -1);
        m.resetParams(comp.blockArray());
        float[] w0 = ComponentVector.gather(comp, m::readParams);
        double[] s = new double[2 * pairs];
        float[][] l = new float[2 * pairs][];
        double sq = 0, sd = so.noiseScale() / Math.sqrt(so.gamma());
        for (int p = 0; p < pairs; p++) {
            SplittableRandom rng = new SplittableRandom(GaussianPairs.key(so.seed(), index, p));
            double[] d = new double[w0.length];
            for (int i = 0; i < d.length; i++) {
                d[i] = sd * rng.nextGaussian();
                sq += d[i] * d[i];
            }
            for (int j = 0; j < 2; j++) {
                float[] w = new float[w0.length];
                for (int i = 0; i < w.length; i++) w[i] = (float) (w0[i] + (j == 0 ? d[i] : -d[i]));
                ComponentVector.scatter(m, comp, w);
                s[2 * p + j] = obs.samplingLoss();
                l[2 * p + j] = obs.probeLosses();
            }
        }
        m.resetParams(comp.blockArray());
        return new Draws(s, l, sq);
    }
}
