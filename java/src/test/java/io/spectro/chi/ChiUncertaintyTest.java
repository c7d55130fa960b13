package io.spectro.chi;

import io.spectro.sampling.SamplerOptions;
import io.spectro.sampling.TinyFixture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static io.spectro.sampling.TinyFixture.TINY;
import static org.junit.jupiter.api.Assertions.*;

class ChiUncertaintyTest {
    @Test
    void reliabilityOfIdenticalHalvesIsOneAndOfPureNoiseAboutZero() {
        Random r = new Random(1);
        double[] a = new double[20000], b = new double[20000];
        for (int i = 0; i < a.length; i++) { a[i] = r.nextGaussian(); b[i] = r.nextGaussian(); }
        assertEquals(1.0, ChiUncertainty.spearmanBrown(a, a.clone()), 1e-12);
        assertEquals(0.0, ChiUncertainty.spearmanBrown(a, b), 0.03); // r ~ N(0, 1/sqrt(20000)), SB ~ 2r
        // signal + noise of equal variance in each half: r = 1/2, reliability of the whole = 2/3
        double[] s1 = new double[a.length], s2 = new double[a.length];
        for (int i = 0; i < a.length; i++) { double t = r.nextGaussian(); s1[i] = t + a[i]; s2[i] = t + b[i]; }
        assertEquals(2.0 / 3, ChiUncertainty.spearmanBrown(s1, s2), 0.02);
    }

    /** Per-chain sums of a real run: they add up to the pooled sums, and give finite SEs and a reliability. */
    @Test
    void chainSumsOfARunAddUpAndGiveErrorBars(@TempDir Path dir) {
        TinyFixture.assumeNative();
        var params = TinyFixture.params(TINY, 3);
        var in = new ChiRun.Inputs(TinyFixture.tokens(2, 9, 64, 4), 2, 9, TinyFixture.tokens(6, 9, 64, 5), 6, 9);
        SamplerOptions so = new SamplerOptions(4, 6, 2, 1, 2, 1e-3f, 30f, 300f, false, 0.99f, 0.1f, 1f, 5);
        ChiRun.Result r = ChiRun.run(TINY, params, in, dir, new ChiRun.Options(so, "default", true, 1 << 20, 1, "cpu", 4096, false, false));
        int n = in.probeTokens(), h = r.components().size();
        for (int c = -1; c < h; c++) {
            Path state = ChiRun.statePath(dir.resolve("state"), c);
            ComponentSums pooled = ComponentSums.read(state, n, null);
            ChainSums ch = ChainSums.read(ChainSums.fileFor(state), 4, n, null);
            ComponentSums sum = ch.pooled(0, 4, c < 0);
            assertEquals(pooled.draws(), sum.draws());
            assertEquals(pooled.sumPhiS(), sum.sumPhiS(), 1e-9 * Math.abs(pooled.sumPhiS()));
            double[] want = c < 0 ? pooled.sumL() : pooled.sumPhiL(), got = c < 0 ? sum.sumL() : sum.sumPhiL();
            for (int t = 0; t < n; t++) assertEquals(want[t], got[t], 1e-9 * Math.max(1, Math.abs(want[t])), "run " + c + " token " + t);
        }
        float[] se = r.uncertainty().chiSe();
        assertEquals(n * h, se.length);
        double meanAbsChi = 0, meanSe = 0;
        for (int i = 0; i < se.length; i++) {
            assertTrue(Float.isFinite(se[i]) && se[i] >= 0, "se " + i);
            meanAbsChi += Math.abs(r.chi()[i]);
            meanSe += se[i];
        }
        assertTrue(meanSe > 0 && meanSe < 10 * meanAbsChi, meanSe + " vs " + meanAbsChi);
        for (double rel : r.uncertainty().reliability()) assertTrue(rel <= 1 && rel > -1, "reliability " + rel);
        assertEquals(h, r.health().size());
        // resumed: the same errors from the state files
        ChiRun.Result again = ChiRun.run(TINY, params, in, dir, new ChiRun.Options(so, "default", true, 1 << 20, 1, "cpu", 4096, false, false));
        assertArrayEquals(se, again.uncertainty().chiSe());
        assertArrayEquals(r.uncertainty().reliability(), again.uncertainty().reliability());
    }

    @Test
    void theBaselineHasItsOwnSeed() {
        SamplerOptions so = SamplerOptions.small(7);
        SamplerOptions b = so.baseline();
        assertEquals(0f, b.nbeta());
        assertNotEquals(so.seed(), b.seed());
        assertEquals(so.withNbeta(0f), new SamplerOptions(b.chains(), b.draws(), b.stepsBetween(), b.burnin(), b.batch(), b.lr(),
                b.nbeta(), b.gamma(), b.rmsprop(), b.alpha(), b.rmsEps(), b.noiseScale(), so.seed())); // only the seed differs
        assertNotEquals(SamplerOptions.baselineSeed(0), SamplerOptions.baselineSeed(1));
    }
}
