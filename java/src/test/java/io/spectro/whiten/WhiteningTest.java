package io.spectro.whiten;

import io.spectro.SpectroException;
import io.spectro.util.Vectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class WhiteningTest {
    static Vectors correlated(int n, int h, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] d = new float[n * h];
        double[][] mix = new double[h][h];
        for (int i = 0; i < h; i++) for (int j = 0; j < h; j++) mix[i][j] = r.nextGaussian() * (j < 5 ? 3 : 0.3);
        double[] z = new double[h];
        for (int row = 0; row < n; row++) {
            for (int j = 0; j < h; j++) z[j] = r.nextGaussian();
            for (int i = 0; i < h; i++) {
                double s = 10 * i;
                for (int j = 0; j < h; j++) s += mix[i][j] * z[j];
                d[row * h + i] = (float) (s * (1 + i));
            }
        }
        return new Vectors(d, n, h);
    }

    static double[][] cov(Vectors v) {
        int n = v.rows(), k = v.cols();
        double[] mu = new double[k];
        for (int r = 0; r < n; r++) for (int j = 0; j < k; j++) mu[j] += v.get(r, j) / (double) n;
        double[][] c = new double[k][k];
        for (int r = 0; r < n; r++)
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++) c[a][b] += (v.get(r, a) - mu[a]) * (v.get(r, b) - mu[b]) / n;
        return c;
    }

    @Test
    void whitenedVectorsHaveIdentityCovariance() {
        Vectors x = correlated(3000, 24, 1);
        for (boolean center : new boolean[]{false, true}) {
            Whitening w = Whitening.fit(x, Whitening.Options.defaults().withComponents(12).withCenterRows(center));
            Vectors y = w.apply(x);
            assertEquals(12, y.cols());
            double[][] c = cov(y);
            for (int a = 0; a < 12; a++)
                for (int b = 0; b < 12; b++) assertEquals(a == b ? 1.0 : 0.0, c[a][b], 2e-3, "cov[" + a + "][" + b + "] centre=" + center);
        }
    }

    @Test
    void automaticChoiceFindsTheSignalDirections() {
        // 5 strong directions over isotropic noise in 40 dimensions
        SplittableRandom r = new SplittableRandom(3);
        int n = 4000, h = 40;
        float[] d = new float[n * h];
        double[][] dirs = new double[5][h];
        for (double[] v : dirs) for (int j = 0; j < h; j++) v[j] = r.nextGaussian();
        for (int row = 0; row < n; row++) {
            double[] s = new double[5];
            for (int a = 0; a < 5; a++) s[a] = r.nextGaussian() * 2;
            for (int j = 0; j < h; j++) {
                double v = r.nextGaussian();
                for (int a = 0; a < 5; a++) v += s[a] * dirs[a][j];
                d[row * h + j] = (float) v;
            }
        }
        Whitening w = Whitening.fit(new Vectors(d, n, h), Whitening.Options.defaults());
        // z-scoring makes the noise slightly heteroscedastic, so a few noise directions may pass
        assertTrue(w.kept() >= 5 && w.kept() <= 10, w.kept() + " directions, " + w.rule());
        assertTrue(w.explainedVariance() > 0.95, "explained " + w.explainedVariance());
    }

    @Test
    void savedTransformAppliesToOtherVectors(@TempDir Path dir) {
        Vectors x = correlated(800, 10, 2), other = correlated(50, 10, 9);
        Whitening w = Whitening.fit(x, Whitening.Options.defaults().withComponents(4).withCenterRows(true));
        w.save(dir.resolve("t.json"));
        Whitening back = Whitening.load(dir.resolve("t.json"));
        assertArrayEquals(w.apply(other).data(), back.apply(other).data(), 1e-5f);
        assertTrue(back.centerRows());
        assertEquals(4, back.kept());
    }

    @Test
    void badInput(@TempDir Path dir) throws Exception {
        Vectors x = correlated(100, 6, 4);
        x.data()[17 * 6 + 2] = Float.NaN;
        x.data()[42 * 6] = Float.POSITIVE_INFINITY;
        SpectroException e = assertThrows(SpectroException.class, () -> Whitening.fit(x, Whitening.Options.defaults()));
        assertTrue(e.getMessage().contains("[17, 42]"), e.getMessage());
        io.spectro.io.Npy.write(dir.resolve("chi.npy"), x.data(), 100, 6);
        e = assertThrows(SpectroException.class, () -> Vectors.read(dir.resolve("chi.npy")));
        assertTrue(e.getMessage().contains("chi.npy") && e.getMessage().contains("[17, 42]"), e.getMessage());
        io.spectro.io.Npy.write(dir.resolve("flat.npy"), new float[12], 12);
        e = assertThrows(SpectroException.class, () -> Vectors.read(dir.resolve("flat.npy")));
        assertTrue(e.getMessage().contains("flat.npy") && e.getMessage().contains("2-D"), e.getMessage());
        Whitening w = Whitening.fit(correlated(100, 6, 5), Whitening.Options.defaults());
        e = assertThrows(SpectroException.class, () -> w.apply(Vectors.zeros(3, 7)));
        assertTrue(e.getMessage().contains("7 columns"), e.getMessage());
        Files.writeString(dir.resolve("bad.json"), "{\"format\": \"nope\"}");
        assertThrows(SpectroException.class, () -> Whitening.load(dir.resolve("bad.json")));
        assertThrows(SpectroException.class, () -> Whitening.Options.defaults().withComponents(-1));
    }

    /**
     * Many planted groups whose centres spread evenly over all 16 columns: every eigenvalue is about the
     * same, none passes the Gavish-Donoho threshold, and the rule keeps all directions (the lower clamp of
     * 2 would project the groups on top of each other).
     */
    @Test
    void flatSpectrumKeepsEveryDirection() {
        int n = 4000, h = 16;
        float[] d = plantedGroups(new SplittableRandom(4), n, h, new float[200][h], 4);
        Whitening w = Whitening.fit(new Vectors(d, n, h), Whitening.Options.defaults());
        assertEquals(h, w.kept(), w.rule());
        assertTrue(w.rule().contains("flat spectrum"), w.rule());
    }

    /**
     * A flat spectrum wider than the cap keeps every direction too (the cap bounds signal directions; cutting 130
     * equal directions to 100 would drop structure at random), while a spectrum with signal directions stays capped.
     */
    @Test
    void flatSpectrumWiderThanTheCapKeepsEveryDirection() {
        SplittableRandom r = new SplittableRandom(5);
        int n = 6000, h = 130, groups = 300;
        float[][] centre = new float[groups][h];
        float[] d = plantedGroups(r, n, h, centre, 0.5);
        Whitening w = Whitening.fit(new Vectors(d, n, h), Whitening.Options.defaults());
        assertEquals(h, w.kept(), w.rule());
        assertTrue(w.rule().contains("flat spectrum") && w.rule().contains("the cap 100"), w.rule());
        // with a strong low-rank part the automatic choice is the signal directions, capped at maxComponents
        float[] spiked = d.clone();
        float[][] load = new float[3][h];
        for (float[] l : load) for (int j = 0; j < h; j++) l[j] = (float) r.nextGaussian();
        for (int row = 0; row < n; row++) // three shared factors per group, loading on every column
            for (int f = 0; f < 3; f++) for (int j = 0; j < h; j++) spiked[row * h + j] += 4 * centre[row % groups][f] * load[f][j];
        Whitening s = Whitening.fit(new Vectors(spiked, n, h), new Whitening.Options(0, 2, false, 0));
        assertEquals(2, s.kept(), s.rule());
    }

    /** Rows of groups (row i in group i mod groups) with isotropic centres of standard deviation spread, filled into centre, plus N(0, 1) noise. */
    static float[] plantedGroups(SplittableRandom r, int n, int h, float[][] centre, double spread) {
        for (float[] c : centre) for (int j = 0; j < h; j++) c[j] = (float) (spread * r.nextGaussian());
        float[] d = new float[n * h];
        for (int row = 0; row < n; row++) for (int j = 0; j < h; j++) d[row * h + j] = centre[row % centre.length][j] + (float) r.nextGaussian();
        return d;
    }

    /** A constant column is named in the rule; an input of constant columns only is refused with a reason. */
    @Test
    void constantColumns() {
        SplittableRandom r = new SplittableRandom(8);
        int n = 300, h = 6;
        float[] d = new float[n * h];
        for (int row = 0; row < n; row++) for (int j = 0; j < h; j++) d[row * h + j] = j == 2 ? 5f : (float) r.nextGaussian();
        Whitening w = Whitening.fit(new Vectors(d, n, h), Whitening.Options.defaults());
        assertTrue(w.rule().contains("1 constant column(s) carry no information: [2]"), w.rule());
        java.util.Arrays.fill(d, 3f);
        SpectroException e = assertThrows(SpectroException.class,
                () -> Whitening.fit(new Vectors(d, n, h), Whitening.Options.defaults()));
        assertTrue(e.getMessage().contains("every column is constant"), e.getMessage());
    }

    @Test
    void roundingNoiseDirectionsAreNotKept() {
        // rank 2 in 12 columns: the other 10 eigenvalues are float32 rounding (~3e-8 here, from the covariance's float
        // block sums and, with values ~2,000 spreads from zero, from the inputs); the median-relative threshold alone
        // kept 4-5 of them (4 here; 5 in UpsampleTest's fixture), scaled up to unit variance
        int n = 400, h = 12;
        SplittableRandom r = new SplittableRandom(5);
        double[] a = new double[h], b = new double[h], c = new double[h];
        for (int j = 0; j < h; j++) {
            a[j] = r.nextGaussian();
            b[j] = r.nextGaussian();
            c[j] = 2000 * (1 + r.nextDouble());
        }
        float[] d = new float[n * h];
        for (int i = 0; i < n; i++) {
            double u = r.nextGaussian(), v = r.nextGaussian();
            for (int j = 0; j < h; j++) d[i * h + j] = (float) (c[j] + a[j] * u + b[j] * v);
        }
        Whitening w = Whitening.fit(new Vectors(d, n, h), Whitening.Options.defaults());
        assertEquals(2, w.kept(), w.rule());
        assertTrue(w.rule().contains("float32"), w.rule());
        // the same structure stored near zero: the same (before: 4 kept)
        SplittableRandom r2 = new SplittableRandom(6);
        for (int i = 0; i < n; i++) {
            double u = r2.nextGaussian(), v = r2.nextGaussian();
            for (int j = 0; j < h; j++) d[i * h + j] = (float) (a[j] * u + b[j] * v);
        }
        Whitening near = Whitening.fit(new Vectors(d, n, h), Whitening.Options.defaults());
        assertEquals(2, near.kept(), near.rule());
    }
}
