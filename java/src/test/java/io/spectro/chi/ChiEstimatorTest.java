package io.spectro.chi;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class ChiEstimatorTest {
    private static ComponentSums stream(double loss0, double[] s, float[][] l) {
        int n = l[0].length;
        double sp = 0, sps = 0, ss = 0;
        double[] sl = new double[n], spl = new double[n];
        for (int k = 0; k < s.length; k++) {
            double phi = s[k] - loss0;
            sp += phi; sps += phi * s[k]; ss += s[k];
            for (int t = 0; t < n; t++) { sl[t] += l[k][t]; spl[t] += phi * l[k][t]; }
        }
        return new ComponentSums(s.length, sp, sps, ss, sl, spl);
    }

    @Test
    void streamingEqualsNaiveAndIgnoresDrawOrder() {
        Random r = new Random(1);
        int k = 40, n = 7;
        double loss0 = 3.0;
        double[] s = new double[k], sf = new double[k];
        float[][] l = new float[k][n], lf = new float[k][n];
        for (int i = 0; i < k; i++) {
            s[i] = loss0 + 0.1 * r.nextGaussian() + 0.05;
            sf[i] = loss0 + 0.1 * r.nextGaussian();
            for (int t = 0; t < n; t++) {
                l[i][t] = (float) (2 + (s[i] - loss0) * (t - 3) + 0.01 * r.nextGaussian());
                lf[i][t] = (float) (2 + 0.3 * r.nextGaussian());
            }
        }
        double[] naive = ChiEstimator.chiNaive(loss0, s, l, sf, lf);
        double[] delta = ChiEstimator.deltaFull(stream(loss0, sf, lf));
        double[] fast = ChiEstimator.chi(stream(loss0, s, l), delta);
        assertArrayEquals(naive, fast, 1e-12);
        // tokens whose loss rises with phi get negative chi (they co-vary with the sampling loss)
        assertTrue(fast[6] < fast[0], "chi must order tokens by their covariance with phi");
        // permute the draws
        double[] s2 = new double[k];
        float[][] l2 = new float[k][];
        for (int i = 0; i < k; i++) { s2[i] = s[(i * 7) % k]; l2[i] = l[(i * 7) % k]; }
        assertArrayEquals(fast, ChiEstimator.chi(stream(loss0, s2, l2), delta), 1e-12);
    }

    @Test
    void rhatAndAutocorrelation() {
        double[][] same = {{1, 2, 3, 4}, {1, 2, 3, 4}};
        assertEquals(Math.sqrt(0.75), Diagnostics.rhat(same), 1e-12);
        double[][] apart = {{1, 1.1, 0.9, 1}, {5, 5.1, 4.9, 5}};
        assertTrue(Diagnostics.rhat(apart) > 5);
        double[][] alternating = {{1, -1, 1, -1, 1, -1}};
        assertTrue(Diagnostics.autocorr1(alternating) < -0.8);
    }
}
