package io.spectro.whiten;

import io.spectro.cli.Main;
import io.spectro.chi.ChainSums;
import io.spectro.io.Npy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class DirectionReliabilityTest {
    static final int N = 1500, H = 6, M = 4;

    /**
     * A run whose chains see the same 2-dimensional signal (sd 3 and 1.5, mixed into all 6 columns) plus independent
     * noise (sd 1 per chain and column), written as per-chain sums: the full run's sums are zero (Δ_full = 0) and a
     * component's Σφℓ[t] of chain c is -K·x_c[t], so chain c alone estimates χ = x_c and the pool their mean.
     */
    static Path run(Path dir) { return run(dir, 0); }

    /**
     * With {@code global > 0} every chain also sees a common direction g[t] (sd {@code global}) in every column,
     * scaled per chain and column by 1 + 0.2 N(0, 1): the dominant common mode of the mini-Pile runs, whose
     * per-half scale errors must not make the other directions look anti-correlated.
     */
    static Path run(Path dir, double global) {
        SplittableRandom r = new SplittableRandom(5);
        double[][] mix = new double[2][H];
        for (double[] row : mix) for (int j = 0; j < H; j++) row[j] = r.nextGaussian();
        double[][] signal = new double[N][H];
        for (int t = 0; t < N; t++) {
            double s0 = 3 * r.nextGaussian(), s1 = 1.5 * r.nextGaussian();
            for (int j = 0; j < H; j++) signal[t][j] = s0 * mix[0][j] + s1 * mix[1][j];
        }
        double[] g = new double[N];
        for (int t = 0; t < N; t++) g[t] = global * r.nextGaussian();
        long k = 10;
        long[] draws = new long[M];
        java.util.Arrays.fill(draws, k);
        Path state = dir.resolve("state");
        float[] chi = new float[N * H];
        try {
            Files.createDirectories(state);
        } catch (java.io.IOException e) {
            throw new RuntimeException(e);
        }
        new ChainSums(draws, new double[M], new double[M], new double[M], new double[M][N]).write(state.resolve("full.chains.bin"), "test full");
        for (int j = 0; j < H; j++) {
            double[][] tok = new double[M][N];
            for (int c = 0; c < M; c++) {
                double scale = 1 + 0.2 * r.nextGaussian();
                for (int t = 0; t < N; t++) {
                    double x = signal[t][j] + scale * g[t] + r.nextGaussian();
                    tok[c][t] = -k * x;
                    chi[t * H + j] += (float) (x / M);
                }
            }
            new ChainSums(draws, new double[M], new double[M], new double[M], tok).write(state.resolve(String.format("%04d.chains.bin", j)), "test " + j);
        }
        Npy.write(dir.resolve("chi.npy"), chi, N, H);
        return dir;
    }

    @Test
    void signalDirectionsAreReliableAndNoiseDirectionsAreNot(@TempDir Path dir) {
        Path run = run(dir);
        DirectionReliability.Halves hv = DirectionReliability.halves(run, new int[]{0, 1, 2, 3, 4, 5});
        assertNotNull(hv);
        assertEquals(M, hv.chains());
        // the pooled χ from the chains is chi.npy's
        float[] chi = Npy.readFloats(run.resolve("chi.npy")).data();
        for (int i = 0; i < chi.length; i++) assertEquals(chi[i], hv.all().data()[i], 1e-4);
        DirectionReliability.Result res = DirectionReliability.of(hv, false, 1);
        assertEquals(H, res.reliability().length);
        // expected: the first two directions carry signal variance >> the noise of the 4-chain mean (1/4 per column)
        assertTrue(res.reliability()[0] > 0.95 && res.reliability()[1] > 0.9, java.util.Arrays.toString(res.reliability()));
        for (int i = 2; i < H; i++) assertTrue(Math.abs(res.reliability()[i]) < 0.25, "noise direction " + i + ": " + res.reliability()[i]);
        assertEquals(2, res.aboveOne());
        assertEquals(2, res.leadingAtLeast(0.5));
        assertEquals(res.snr()[0], res.reliability()[0] / (1 - res.reliability()[0]), 1e-9);
        // a subset of columns, and a run without per-chain sums
        assertEquals(3, DirectionReliability.halves(run, new int[]{0, 2, 4}).all().cols());
        assertNull(DirectionReliability.halves(dir.resolve("elsewhere"), new int[]{0}));
    }

    @Test
    void aDominantCommonDirectionDoesNotLeakIntoTheOthers(@TempDir Path dir) {
        DirectionReliability.Result res = DirectionReliability.of(DirectionReliability.halves(run(dir, 20), new int[]{0, 1, 2, 3, 4, 5}), false, 1);
        // direction 0 is the common mode (reliable); then the 2 planted signal directions; the rest noise, not anti-correlated
        assertTrue(res.eigenvalues()[0] > 4, java.util.Arrays.toString(res.eigenvalues()));
        for (int i = 0; i < 3; i++) assertTrue(res.reliability()[i] > 0.8, i + ": " + java.util.Arrays.toString(res.reliability()));
        for (int i = 3; i < H; i++) assertTrue(res.reliability()[i] > -0.4 && res.reliability()[i] < 0.4, i + ": " + java.util.Arrays.toString(res.reliability()));
    }

    @Test
    void whitenWritesReliabilityAndKeepsTheReliableDirections(@TempDir Path dir) throws Exception {
        Path run = run(dir);
        String chi = run.resolve("chi.npy").toString();
        assertEquals(0, Main.run("whiten", "--in", chi, "--out", dir.resolve("w").toString(), "--threads", "1"));
        String json = Files.readString(dir.resolve("w/reliability.json"));
        assertTrue(json.contains("\"aboveOne\" : 2") && json.contains("spectro-direction-reliability/1"), json);
        assertEquals(0, Main.run("whiten", "--in", chi, "--out", dir.resolve("w2").toString(), "--min-reliability", "0.5"));
        assertEquals(2, Whitening.load(dir.resolve("w2/transform.json")).kept());
        assertEquals(2, Npy.info(dir.resolve("w2/whitened.npy")).shape()[1]);
        // bad input: out of range, both options, no per-chain sums -> exit 2, nothing written
        PrintStream err = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true));
        try {
            assertEquals(2, Main.run("whiten", "--in", chi, "--out", dir.resolve("w3").toString(), "--min-reliability", "1.5"));
            assertEquals(2, Main.run("whiten", "--in", chi, "--out", dir.resolve("w3").toString(), "--min-reliability", "0.5", "--components", "3"));
            Path bare = dir.resolve("bare");
            Files.createDirectories(bare);
            Files.copy(run.resolve("chi.npy"), bare.resolve("chi.npy"));
            assertEquals(2, Main.run("whiten", "--in", bare.resolve("chi.npy").toString(), "--out", dir.resolve("w3").toString(), "--min-reliability", "0.5"));
            assertEquals(0, Main.run("whiten", "--in", bare.resolve("chi.npy").toString(), "--out", dir.resolve("w4").toString()));
            assertFalse(Files.exists(dir.resolve("w4/reliability.json")));
        } finally {
            System.setErr(err);
        }
        assertTrue(buf.toString().contains("per-chain sums"), buf.toString());
        assertFalse(Files.exists(dir.resolve("w3/transform.json")));
    }
}
