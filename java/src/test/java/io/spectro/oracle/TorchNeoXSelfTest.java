package io.spectro.oracle;

import org.apache.commons.math3.special.Erf;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checks the libtorch oracle by itself (no native library needed), in double precision:
 * <ol>
 *   <li>its per-token losses equal a plain-loop scalar implementation of the same GPT-NeoX forward
 *       (written from the Hugging Face code, not from the oracle), which pins the layout conventions
 *       (per-head [q|k|v] rows, rotate-half rotary, parallel residual);</li>
 *   <li>its autograd gradient equals central finite differences on sampled parameters of every tensor.</li>
 * </ol>
 */
class TorchNeoXSelfTest {
    // partial rotary (r < hd) and full rotary (r == hd), odd sizes
    static final TorchNeoX.Dims PARTIAL = new TorchNeoX.Dims(13, 8, 2, 2, 12, 2, 10000, 1e-5);
    static final TorchNeoX.Dims FULL_ROT = new TorchNeoX.Dims(11, 12, 1, 3, 20, 4, 100, 1e-5);

    /** Weights N(0, std), LayerNorm weights 1 + N(0, 0.1), all biases non-zero. */
    static double[] randomParams(TorchNeoX.Dims m, long seed, double std) {
        long[] off = TorchNeoX.offsets(m);
        String[] names = TorchNeoX.names(m);
        double[] p = new double[(int) off[off.length - 1]];
        Random r = new Random(seed);
        for (int i = 0; i < names.length; i++) {
            boolean lnWeight = names[i].contains("norm.weight");
            for (long k = off[i]; k < off[i + 1]; k++)
                p[(int) k] = lnWeight ? 1 + 0.1 * r.nextGaussian() : std * r.nextGaussian();
        }
        return p;
    }

    static int[] randomTokens(int n, int vocab, long seed) {
        Random r = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    @Test
    void offsetsFollowSpectroH() {
        TorchNeoX.Dims m = PARTIAL;
        long[] off = TorchNeoX.offsets(m);
        long V = 13, d = 8, f = 12;
        long layer = 4 * d + 3 * d * d + 3 * d + d * d + d + f * d + f + d * f + d;
        assertEquals(V * d + 2 * layer + 2 * d + V * d, off[off.length - 1]);
        assertEquals(V * d, off[1]);
        assertEquals(V * d + 4 * d, off[5]); // query_key_value.weight of layer 0
        assertEquals("gpt_neox.layers.1.mlp.dense_4h_to_h.bias", TorchNeoX.names(m)[24]);
        assertEquals("embed_out.weight", TorchNeoX.names(m)[27]);
    }

    @Test
    void lossesEqualScalarReference() {
        for (TorchNeoX.Dims m : new TorchNeoX.Dims[]{PARTIAL, FULL_ROT}) {
            double[] p = randomParams(m, 7, 0.5);
            int B = 2, T = 6;
            int[] tok = randomTokens(B * T, m.vocab(), 3);
            double[] ref = ScalarNeoX.losses(m, p, tok, B, T);
            try (TorchNeoX o = new TorchNeoX(m, p, TorchNeoX.DType.FLOAT64)) {
                TorchNeoX.Result r = o.forward(tok, B, T);
                assertArrayEquals(ref, r.losses(), 1e-11, "per-token losses vs scalar reference, " + m);
                double mean = 0;
                for (double v : ref) mean += v / ref.length;
                assertEquals(mean, r.meanLoss(), 1e-11);
                // the losses must depend on the weights at all: a sanity floor away from ln V
                assertTrue(Math.abs(mean - Math.log(m.vocab())) > 1e-3);
            }
        }
    }

    @Test
    void float32AgreesWithFloat64() {
        TorchNeoX.Dims m = PARTIAL;
        double[] p = randomParams(m, 11, 0.3);
        float[] pf = new float[p.length];
        for (int i = 0; i < p.length; i++) { pf[i] = (float) p[i]; p[i] = pf[i]; }
        int[] tok = randomTokens(2 * 5, m.vocab(), 5);
        try (TorchNeoX o64 = new TorchNeoX(m, p, TorchNeoX.DType.FLOAT64);
             TorchNeoX o32 = new TorchNeoX(m, pf, TorchNeoX.DType.FLOAT32)) {
            TorchNeoX.Result a = o64.forwardBackward(tok, 2, 5), b = o32.forwardBackward(tok, 2, 5);
            assertArrayEquals(a.losses(), b.losses(), 1e-5);
            double gmax = 0;
            for (double v : a.grad()) gmax = Math.max(gmax, Math.abs(v));
            assertArrayEquals(a.grad(), b.grad(), 1e-5 * gmax);
        }
    }

    @Test
    void autogradEqualsCentralDifferences() {
        for (TorchNeoX.Dims m : new TorchNeoX.Dims[]{PARTIAL, FULL_ROT}) {
            double[] p = randomParams(m, 21, 0.4);
            int B = 2, T = 5;
            int[] tok = randomTokens(B * T, m.vocab(), 9);
            long[] off = TorchNeoX.offsets(m);
            String[] names = TorchNeoX.names(m);
            Random pick = new Random(5);
            try (TorchNeoX o = new TorchNeoX(m, p, TorchNeoX.DType.FLOAT64)) {
                double[] g = o.forwardBackward(tok, B, T).grad();
                double h = 1e-5;
                int checked = 0;
                for (int i = 0; i < names.length; i++) {
                    long n = off[i + 1] - off[i];
                    for (int s = 0; s < 4; s++) {
                        int k = (int) (off[i] + pick.nextLong(n));
                        double orig = p[k];
                        p[k] = orig + h;
                        o.setParams(p);
                        double up = o.forward(tok, B, T).meanLoss();
                        p[k] = orig - h;
                        o.setParams(p);
                        double down = o.forward(tok, B, T).meanLoss();
                        p[k] = orig;
                        double fd = (up - down) / (2 * h);
                        assertEquals(fd, g[k], 1e-9 + 1e-6 * Math.abs(fd),
                                names[i] + " element " + (k - off[i]) + " (" + m + ")");
                        checked++;
                    }
                }
                o.setParams(p);
                assertEquals(4 * names.length, checked);
            }
        }
    }

    @Test
    void gradientIsNotAccumulatedAcrossCalls() {
        TorchNeoX.Dims m = PARTIAL;
        double[] p = randomParams(m, 1, 0.3);
        int[] tok = randomTokens(8, m.vocab(), 2);
        try (TorchNeoX o = new TorchNeoX(m, p, TorchNeoX.DType.FLOAT64)) {
            double[] g1 = o.forwardBackward(tok, 2, 4).grad();
            double[] g2 = o.forwardBackward(tok, 2, 4).grad();
            assertArrayEquals(g1, g2, 0.0);
        }
    }

    /**
     * Plain loops, double precision, one sequence at a time: a second, deliberately naive forward
     * written from the Hugging Face GPTNeoX code. Only for tiny models.
     */
    static final class ScalarNeoX {
        static double[] losses(TorchNeoX.Dims m, double[] p, int[] tok, int B, int T) {
            long[] off = TorchNeoX.offsets(m);
            int d = m.d(), nh = m.heads(), hd = m.headDim(), f = m.ff(), r = m.rotaryDims(), V = m.vocab();
            double[] out = new double[B * (T - 1)];
            for (int b = 0; b < B; b++) {
                double[][] x = new double[T][d];
                for (int t = 0; t < T; t++)
                    for (int j = 0; j < d; j++) x[t][j] = p[(int) off[0] + tok[b * T + t] * d + j];
                for (int l = 0; l < m.layers(); l++) {
                    int base = 1 + 12 * l;
                    double[][] attn = new double[T][d], mlp = new double[T][d];
                    double[][] h1 = new double[T][], qkv = new double[T][];
                    for (int t = 0; t < T; t++) {
                        h1[t] = ln(x[t], p, off[base], off[base + 1], m.lnEps());
                        qkv[t] = affine(h1[t], p, off[base + 4], off[base + 5], 3 * d, d);
                    }
                    double[][] ctx = new double[T][d];
                    for (int h = 0; h < nh; h++) {
                        double[][] q = new double[T][], k = new double[T][], v = new double[T][];
                        for (int t = 0; t < T; t++) {
                            int row = h * 3 * hd;
                            q[t] = rope(java.util.Arrays.copyOfRange(qkv[t], row, row + hd), t, r, m.rotaryBase());
                            k[t] = rope(java.util.Arrays.copyOfRange(qkv[t], row + hd, row + 2 * hd), t, r, m.rotaryBase());
                            v[t] = java.util.Arrays.copyOfRange(qkv[t], row + 2 * hd, row + 3 * hd);
                        }
                        for (int t = 0; t < T; t++) {
                            double[] s = new double[t + 1];
                            double mx = Double.NEGATIVE_INFINITY;
                            for (int u = 0; u <= t; u++) {
                                double dot = 0;
                                for (int j = 0; j < hd; j++) dot += q[t][j] * k[u][j];
                                s[u] = dot / Math.sqrt(hd);
                                mx = Math.max(mx, s[u]);
                            }
                            double z = 0;
                            for (int u = 0; u <= t; u++) { s[u] = Math.exp(s[u] - mx); z += s[u]; }
                            for (int u = 0; u <= t; u++)
                                for (int j = 0; j < hd; j++) ctx[t][h * hd + j] += s[u] / z * v[u][j];
                        }
                    }
                    for (int t = 0; t < T; t++) {
                        attn[t] = affine(ctx[t], p, off[base + 6], off[base + 7], d, d);
                        double[] h2 = ln(x[t], p, off[base + 2], off[base + 3], m.lnEps());
                        double[] a = affine(h2, p, off[base + 8], off[base + 9], f, d);
                        for (int j = 0; j < f; j++) a[j] = 0.5 * a[j] * (1 + Erf.erf(a[j] / Math.sqrt(2)));
                        mlp[t] = affine(a, p, off[base + 10], off[base + 11], d, f);
                    }
                    for (int t = 0; t < T; t++)
                        for (int j = 0; j < d; j++) x[t][j] += attn[t][j] + mlp[t][j];
                }
                int L = m.layers();
                for (int t = 0; t < T - 1; t++) {
                    double[] hf = ln(x[t], p, off[1 + 12 * L], off[2 + 12 * L], m.lnEps());
                    double[] logits = new double[V];
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int v = 0; v < V; v++) {
                        double s = 0;
                        for (int j = 0; j < d; j++) s += p[(int) off[3 + 12 * L] + v * d + j] * hf[j];
                        logits[v] = s;
                        mx = Math.max(mx, s);
                    }
                    double z = 0;
                    for (double lg : logits) z += Math.exp(lg - mx);
                    out[b * (T - 1) + t] = -(logits[tok[b * T + t + 1]] - mx - Math.log(z));
                }
            }
            return out;
        }

        static double[] ln(double[] x, double[] p, long w, long b, double eps) {
            int d = x.length;
            double mu = 0, var = 0;
            for (double v : x) mu += v / d;
            for (double v : x) var += (v - mu) * (v - mu) / d;
            double[] y = new double[d];
            for (int j = 0; j < d; j++) y[j] = (x[j] - mu) / Math.sqrt(var + eps) * p[(int) w + j] + p[(int) b + j];
            return y;
        }

        /** y = W x + b, W [rows, cols] at offset w. */
        static double[] affine(double[] x, double[] p, long w, long b, int rows, int cols) {
            double[] y = new double[rows];
            for (int i = 0; i < rows; i++) {
                double s = p[(int) b + i];
                for (int j = 0; j < cols; j++) s += p[(int) (w + (long) i * cols + j)] * x[j];
                y[i] = s;
            }
            return y;
        }

        /** rotate-half rotary on the first r dims at position t. */
        static double[] rope(double[] x, int t, int r, double base) {
            double[] y = x.clone();
            for (int i = 0; i < r / 2; i++) {
                double a = t * Math.pow(base, -2.0 * i / r), c = Math.cos(a), s = Math.sin(a);
                y[i] = x[i] * c - x[i + r / 2] * s;
                y[i + r / 2] = x[i + r / 2] * c + x[i] * s;
            }
            return y;
        }
    }
}
