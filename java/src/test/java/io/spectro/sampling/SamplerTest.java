package io.spectro.sampling;

import io.spectro.SpectroException;
import io.spectro.chi.ChiEstimator;
import io.spectro.chi.ComponentSums;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.Block;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;
import io.spectro.nativeabi.SgldParams;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static io.spectro.sampling.TinyFixture.TINY;
import static org.junit.jupiter.api.Assertions.*;

class SamplerTest {
    static MemorySegment params;
    static long P;

    @BeforeAll
    static void setup() {
        TinyFixture.assumeNative();
        params = TinyFixture.params(TINY, 7);
        P = TINY.paramCount();
    }

    static NativeModel model(int threads) {
        NativeModel m = NativeModel.create(Backend.load("cpu"), TINY, threads, 4096, false);
        m.load(params);
        return m;
    }

    @Test
    void noiseFreeWithoutLocalizationIsGradientDescentAtHalfTheStep() {
        try (NativeModel m = model(1); NativeBatch b = m.batch(TinyFixture.tokens(4, 12, 64, 1), 4, 12)) {
            Block[] all = {new Block(0, 1, P, P)};
            m.forwardBackward(b, 0, null, null);
            float[] g = m.readGrads(0, (int) P);
            float[] w0 = m.readParams(0, (int) P);
            m.sgldUpdate(all, null, new SgldParams(1e-2f, 30f, 0f, false, 0.99f, 0.1f, 0f, 0, 1, 0));
            float[] w1 = m.readParams(0, (int) P);
            for (int i = 0; i < P; i++)
                assertEquals(w0[i] - 0.5f * 1e-2f * 30f * g[i], w1[i], 1e-6f * (1 + Math.abs(w0[i])), "element " + i);
        }
    }

    @Test
    void restrictedUpdateNeverTouchesOtherWeights() {
        Component head = Decomposition.resolve(TINY, "default").get(2); // l0h1
        try (NativeModel m = model(1); NativeBatch b = m.batch(TinyFixture.tokens(4, 12, 64, 1), 4, 12)) {
            float[] w0 = m.readParams(0, (int) P);
            for (int s = 0; s < 5; s++) {
                m.forwardBackward(b, head.lowestLayer(), head.blockArray(), null);
                m.sgldUpdate(head.blockArray(), null, new SgldParams(1e-2f, 30f, 300f, false, 0.99f, 0.1f, 1f, 5, 1, s));
            }
            float[] w1 = m.readParams(0, (int) P);
            boolean[] inside = new boolean[(int) P];
            for (Block bl : head.blocks())
                for (long r = 0; r < bl.rows(); r++)
                    for (long c = 0; c < bl.cols(); c++) inside[(int) (bl.offset() + r * bl.stride() + c)] = true;
            int moved = 0;
            for (int i = 0; i < P; i++) {
                if (inside[i]) { if (w0[i] != w1[i]) moved++; }
                else assertEquals(Float.floatToRawIntBits(w0[i]), Float.floatToRawIntBits(w1[i]), "element " + i + " outside the component changed");
            }
            assertTrue(moved > head.numel() * 0.9, "the component itself must move");
            m.resetParams(head.blockArray());
            assertArrayEquals(w0, m.readParams(0, (int) P));
        }
    }

    /**
     * At nbeta = 0 the chain samples the localizing Gaussian only: w - w* follows the discretised OU
     * process w' = (1 - eps*gamma/2)(w - w*) + sqrt(eps) xi, whose stationary variance is
     * eps / (1 - (1 - eps*gamma/2)^2) (exactly, for this discretisation); the mean is 0.
     */
    @Test
    void gaussianBaselineMatchesTheAnalyticPosterior() {
        Component embed = Decomposition.resolve(TINY, "default").get(0); // 1024 elements
        float eps = 1e-3f, gamma = 300f;
        try (NativeModel m = model(1); NativeBatch b = m.batch(TinyFixture.tokens(2, 8, 64, 1), 2, 8)) {
            float[] anchor = m.readParams(0, (int) embed.numel());
            double sum = 0, sum2 = 0;
            long n = 0;
            for (int s = 0; s < 400; s++) {
                m.forwardBackward(b, 0, embed.blockArray(), null);
                m.sgldUpdate(embed.blockArray(), null, new SgldParams(eps, 0f, gamma, false, 0.99f, 0.1f, 1f, 9, 3, s));
                if (s >= 100 && s % 5 == 0) {
                    float[] w = m.readParams(0, (int) embed.numel());
                    for (int i = 0; i < w.length; i++) { double d = w[i] - anchor[i]; sum += d; sum2 += d * d; n++; }
                }
            }
            double a = 1 - eps * gamma / 2, var = eps / (1 - a * a);
            double mean = sum / n, v = sum2 / n - mean * mean;
            assertEquals(0, mean, 4 * Math.sqrt(var / n) * 3, "mean of w - w*");
            assertEquals(var, v, 0.05 * var, "variance of w - w* (analytic " + var + ")");
        }
    }

    /** Records every draw so the estimator can be recomputed naively. */
    static final class Recorder implements DrawObserver<Void> {
        final List<Double> s = new ArrayList<>();
        final List<float[]> l = new ArrayList<>();
        long k; double sp, sps, ss;

        public void onDraw(Draw d) {
            s.add(d.samplingLoss()); l.add(d.probeLosses());
            k++; sp += d.phi(); sps += d.phi() * d.samplingLoss(); ss += d.samplingLoss();
        }
        public Void result() { return null; }
        public boolean wantsProbeLosses() { return true; }
    }

    private static double[] toArray(List<Double> l) {
        return l.stream().mapToDouble(Double::doubleValue).toArray();
    }

    @Test
    void streamingEstimatorEqualsNaiveOnRealDrawsAndFastPathEqualsPlainPath() {
        SamplerOptions so = new SamplerOptions(2, 6, 2, 2, 3, 1e-3f, 30f, 300f, false, 0.99f, 0.1f, 1f, 11);
        int[] probe = TinyFixture.tokens(3, 10, 64, 2), samp = TinyFixture.tokens(8, 10, 64, 3);
        try (NativeModel m = model(2);
             Observables obs = new Observables(m, TINY, probe, 3, 10, samp, 8, 10, 3, 11, 4096, 1 << 20)) {
            double loss0 = obs.samplingLoss();
            Recorder full = new Recorder();
            RestrictedSampler.run(m, obs, Decomposition.full(TINY), -1, so, loss0, false, List.of(full), null);
            double[][] fullAcc = obs.drainProbe();
            double[] delta = ChiEstimator.deltaFull(new ComponentSums(full.k, full.sp, full.sps, full.ss, fullAcc[0], fullAcc[1]));
            for (int ci : new int[]{4, 6, 7}) { // l1h0 (lowest layer 1), l1mlp, unembed
                Component c = Decomposition.resolve(TINY, "default").get(ci);
                double[] chi = null;
                for (boolean fast : new boolean[]{false, true}) {
                    Recorder rec = new Recorder();
                    RestrictedSampler.run(m, obs, c, ci, so, loss0, fast, List.of(rec), null);
                    double[][] acc = obs.drainProbe();
                    double[] streaming = ChiEstimator.chi(new ComponentSums(rec.k, rec.sp, rec.sps, rec.ss, acc[0], acc[1]), delta);
                    double[] naive = ChiEstimator.chiNaive(loss0, toArray(rec.s), rec.l.toArray(float[][]::new),
                            toArray(full.s), full.l.toArray(float[][]::new));
                    assertEquals(so.chains() * so.draws(), rec.k);
                    for (int t = 0; t < naive.length; t++)
                        assertEquals(naive[t], streaming[t], 1e-9 + 1e-6 * Math.abs(naive[t]), c.name() + " token " + t);
                    if (chi == null) chi = streaming;
                    else for (int t = 0; t < chi.length; t++) // fast path vs plain path: float rounding only
                        assertEquals(chi[t], streaming[t], 1e-4 * (1e-3 + Math.abs(chi[t])), c.name() + " fast vs plain, token " + t);
                }
                double norm = 0;
                for (double v : chi) norm += v * v;
                assertTrue(norm > 0, "chi of " + c.name() + " must not vanish");
            }
        }
    }

    @Test
    void divergenceIsReportedWithComponentChainAndStep() {
        // lr * gamma / 2 = 5e5: the localization term overshoots by that factor each step, so the
        // weights overflow float after about 7 steps
        SamplerOptions wild = new SamplerOptions(2, 10, 2, 0, 2, 1e3f, 0f, 1e3f, false, 0.99f, 0.1f, 1f, 3);
        Component mlp = Decomposition.resolve(TINY, "default").get(3); // l0mlp
        try (NativeModel m = model(1);
             Observables obs = new Observables(m, TINY, TinyFixture.tokens(2, 8, 64, 1), 2, 8, TinyFixture.tokens(4, 8, 64, 2), 4, 8, 2, 1, 4096, 0)) {
            RestrictedSampler.NonFiniteException e = assertThrows(RestrictedSampler.NonFiniteException.class,
                    () -> RestrictedSampler.run(m, obs, mlp, 3, wild, obs.samplingLoss(), true, List.of(), null));
            assertTrue(e.getMessage().startsWith("component l0mlp, chain 0, step "), e.getMessage());
            // the weights were restored: the model is usable again
            float[] w = m.readParams(0, (int) P);
            for (float v : w) assertTrue(Float.isFinite(v));
        }
    }

    @Test
    void automaticCacheBudgetComesFromTheBackendsFreeMemory() {
        try (NativeModel m = model(1);
             Observables obs = new Observables(m, TINY, TinyFixture.tokens(2, 8, 64, 1), 2, 8, TinyFixture.tokens(4, 8, 64, 2), 4, 8, 2, 1,
                     4096, Observables.AUTO_BUDGET)) {
            long avail = m.memoryAvailable();
            assertTrue(avail > (64L << 20), "available " + avail);
            // half of the host's available memory on the CPU backend (the value moves a little between the two reads)
            assertEquals(avail / 2.0, obs.cacheBudgetBytes(), 0.1 * avail);
            assertEquals((2 + 4 + 2 * 2) * 8L * TINY.dModel() * 4, obs.cacheBytesNeeded());
            assertEquals(1 + 1 + 2, obs.cacheAt(1)); // every batch cached: probe, sampling, two minibatches
        }
        try (NativeModel m = model(1)) {
            assertThrows(SpectroException.class, () -> new Observables(m, TINY, TinyFixture.tokens(2, 8, 64, 1), 2, 8,
                    TinyFixture.tokens(4, 8, 64, 2), 4, 8, 2, 1, 4096, -5));
        }
    }
}
