package io.spectro.oracle;

import io.spectro.model.ModelConfig;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * sp_forward_features (NativeModel.features) of the CPU backend against the libtorch oracle's own
 * features (TorchNeoX.features: the per-head projection by the direct product, entropies as
 * -sum p log p in double), on random checkpoints of the tiny and the Pythia-14M shape, the oracle in
 * float64. Tolerance per entry: |native - torch| <= FEAT_TOL (1 + |torch|), FEAT_TOL = 1e-5. The native
 * side is fp32 (sums over d, hd, V, the head norms through a^T G a): measured worst 2.3e-7 (tiny) and
 * 3.5e-7 (Pythia-14M shape), so the bound leaves ~30x for other seeds and compilers, while a wrong
 * column, head or layer (O(1) differences on O(1)-O(10) entries) cannot pass. The worst case is printed.
 * Skipped when libspectro_cpu.so is not built.
 */
class FeaturesVsTorchTest {
    static final double FEAT_TOL = 1e-5;

    static Backend backend;

    @BeforeAll
    static void native_() {
        NativeVsTorchTest.native_(); // skips when libspectro_cpu.so is not built
        backend = NativeVsTorchTest.backend;
    }

    @Test
    void tiny() {
        compare(NativeVsTorchTest.TINY, 2, 12, 0.3, 301);
    }

    @Test
    void pythia14mShape() {
        compare(NativeVsTorchTest.P14M, 1, 20, 0.08, 302);
    }

    @Test
    void columnNames() {
        ModelConfig c = NativeVsTorchTest.TINY; // L 2, nh 2
        List<String> names = backend.featureNames(c);
        assertEquals(1 + 2 * 2 + 2 * 2 * 2, backend.featureCount(c));
        assertEquals(List.of("entropy", "resid.l0", "resid.l1", "head.l0.h0", "head.l0.h1", "head.l1.h0", "head.l1.h1",
                "mlp.l0", "mlp.l1", "attent.l0.h0", "attent.l0.h1", "attent.l1.h0", "attent.l1.h1"), names);
    }

    private void compare(ModelConfig c, int B, int T, double std, long seed) {
        float[] p = NativeVsTorchTest.randomParams(c, seed, std);
        int[] tok = NativeVsTorchTest.tokens(B * T, c.vocabSize(), seed + 1);
        try (NativeModel nm = NativeModel.create(backend, c, 2, B * T, false);
             TorchNeoX oracle = new TorchNeoX(NativeVsTorchTest.dims(c), p, TorchNeoX.DType.FLOAT64)) {
            nm.load(p);
            NativeBatch b = nm.batch(tok, B, T);
            int F = nm.featureCount(), n = B * (T - 1);
            assertEquals(1 + 2 * c.nLayers() + 2 * c.nLayers() * c.nHeads(), F);
            float[] feat = new float[n * F], lf = new float[n], l0 = new float[n];
            nm.features(b, feat, lf);
            nm.forward(b, l0);
            assertArrayEquals(l0, lf, "features' losses equal sp_forward's bit for bit");
            assertArrayEquals(feat, nm.features(b), "features(batch) = features(batch, out, losses)");
            double[] ref = oracle.features(tok, B, T);
            assertEquals(ref.length, feat.length);
            List<String> names = backend.featureNames(c);
            double worst = 0;
            int wi = 0;
            for (int i = 0; i < feat.length; i++) {
                double e = Math.abs(feat[i] - ref[i]) / (1 + Math.abs(ref[i]));
                if (e > worst) { worst = e; wi = i; }
            }
            System.out.printf("features %dx%d V%d: %d x %d, worst |native - torch|/(1+|torch|) = %.2e (%s of row %d)%n",
                    c.nLayers(), c.dModel(), c.vocabSize(), n, F, worst, names.get(wi % F), wi / F);
            assertTrue(worst <= FEAT_TOL, "feature " + names.get(wi % F) + " of row " + wi / F + ": native " + feat[wi]
                    + " torch " + ref[wi]);
            // not vacuous: the norms and entropies are positive (attention entropies at t > 0)
            for (int i = 0; i < n; i++)
                for (int k = 0; k < F; k++)
                    if (k < 1 + 2 * c.nLayers() + c.nLayers() * c.nHeads() || i % (T - 1) > 0)
                        assertTrue(feat[i * F + k] > 0, names.get(k) + " of row " + i + " = " + feat[i * F + k]);
        }
    }
}
