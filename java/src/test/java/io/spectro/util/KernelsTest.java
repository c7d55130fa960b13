package io.spectro.util;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class KernelsTest {
    @Test
    void affineGivesTheSameBitsAsTheScalarChainAndIsCorrect() {
        SplittableRandom r = new SplittableRandom(3);
        for (int[] s : new int[][]{{7, 13, 37}, {64, 300, 64}, {4, 5, 16}, {1, 3, 2}}) {
            int rows = s[0], d = s[1], m = s[2];
            float[] in = new float[rows * d], wt = new float[d * m], b = new float[m];
            for (int i = 0; i < in.length; i++) in[i] = (float) r.nextGaussian();
            for (int i = 0; i < wt.length; i++) wt[i] = (float) r.nextGaussian();
            for (int i = 0; i < m; i++) b[i] = (float) r.nextGaussian();
            float[] fast = new float[rows * m], slow = new float[rows * m];
            Kernels.affine(in, rows, d, wt, m, b, fast);
            Kernels.scalarAffine(in, 0, rows, d, wt, m, 0, m, b, slow);
            assertArrayEquals(slow, fast, "rows " + rows + " d " + d + " m " + m + (Kernels.vectorized() ? " (vector)" : " (scalar)"));
            for (int q = 0; q < rows; q++)
                for (int j = 0; j < m; j++) {
                    double e = b[j];
                    for (int i = 0; i < d; i++) e += (double) in[q * d + i] * wt[i * m + j];
                    assertEquals(e, fast[q * m + j], 1e-4 * (1 + Math.abs(e)) * Math.sqrt(d));
                }
        }
    }
}
