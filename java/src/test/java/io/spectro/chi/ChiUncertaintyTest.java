package io.spectro.chi;

import io.spectro.sampling.SamplerOptions;
import io.spectro.sampling.TinyFixture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
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

    /** The chains file carries the run's identity and a CRC: another component's or a damaged one is refused by name; the first format is still read. */
    @Test
    void chainsFilesOfAnotherRunOrDamagedAreRefusedAndOldOnesRead(@TempDir Path dir) throws Exception {
        TinyFixture.assumeNative();
        var params = TinyFixture.params(TINY, 3);
        var in = new ChiRun.Inputs(TinyFixture.tokens(2, 9, 64, 4), 2, 9, TinyFixture.tokens(6, 9, 64, 5), 6, 9);
        SamplerOptions so = new SamplerOptions(2, 3, 1, 0, 2, 1e-3f, 30f, 300f, false, 0.99f, 0.1f, 1f, 5);
        ChiRun.Options o = new ChiRun.Options(so, "layer", true, 1 << 20, 1, "cpu", 4096, false, false);
        ChiRun.Result r = ChiRun.run(TINY, params, in, dir, o);
        Path state = dir.resolve("state"), c3 = state.resolve("0003.chains.bin");
        byte[] good = Files.readAllBytes(c3);
        Files.copy(state.resolve("0004.chains.bin"), c3, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        io.spectro.SpectroException e = assertThrows(io.spectro.SpectroException.class, () -> ChiRun.run(TINY, params, in, dir, o));
        assertTrue(e.getMessage().contains("0003.chains.bin: belongs to another run or component"), e.getMessage());
        byte[] bad = good.clone();
        bad[bad.length - 20] ^= 1;
        Files.write(c3, bad);
        e = assertThrows(io.spectro.SpectroException.class, () -> ChiRun.run(TINY, params, in, dir, o));
        assertTrue(e.getMessage().contains("0003.chains.bin: checksum mismatch"), e.getMessage());
        // the first format ("SPCH": no identity, no checksum) is read as before
        ChainSums cs = ChainSums.read(c3.resolveSibling("0002.chains.bin"), 2, in.probeTokens(), null);
        java.io.ByteArrayOutputStream legacy = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream out = new java.io.DataOutputStream(legacy)) {
            out.writeInt(0x53504348);
            out.writeInt(2);
            out.writeInt(in.probeTokens());
            for (int c = 0; c < 2; c++) {
                out.writeLong(cs.draws()[c]);
                out.writeDouble(cs.sumPhi()[c]);
                out.writeDouble(cs.sumPhiS()[c]);
                out.writeDouble(cs.sumS()[c]);
                for (double v : cs.perToken()[c]) out.writeDouble(v);
            }
        }
        Files.write(c3, good);
        Files.write(c3.resolveSibling("0002.chains.bin"), legacy.toByteArray());
        ChiRun.Result again = ChiRun.run(TINY, params, in, dir, o);
        assertArrayEquals(r.uncertainty().chiSe(), again.uncertainty().chiSe());
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
