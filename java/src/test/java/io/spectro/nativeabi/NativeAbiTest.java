package io.spectro.nativeabi;

import io.spectro.SpectroException;
import io.spectro.model.Block;
import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import io.spectro.model.RandomInit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.*;

/** The FFM bindings against the real library; skipped when build/native/libspectro_cpu.so is absent. */
class NativeAbiTest {
    static final ModelConfig TINY = ModelConfig.preset("tiny");

    static Backend cpu() {
        Assumptions.assumeTrue(Backend.findLibrary("cpu").isPresent(), "libspectro_cpu.so not built (run scripts/build-native)");
        return Backend.load("cpu");
    }

    @Test
    void structLayoutsMatchC() {
        // offsetof() values printed by gcc 12 for native/include/spectro.h on x86-64
        assertEquals(36, SpectroAbi.SP_CONFIG.byteSize());
        assertEquals(28, SpectroAbi.offset(SpectroAbi.SP_CONFIG, "rotary_base"));
        assertEquals(32, SpectroAbi.offset(SpectroAbi.SP_CONFIG, "ln_eps"));
        assertEquals(16, SpectroAbi.SP_OPTIONS.byteSize());
        assertEquals(32, SpectroAbi.SP_BLOCK.byteSize());
        assertEquals(24, SpectroAbi.SP_GRAD_REQUEST.byteSize());
        assertEquals(8, SpectroAbi.offset(SpectroAbi.SP_GRAD_REQUEST, "blocks"));
        assertEquals(16, SpectroAbi.offset(SpectroAbi.SP_GRAD_REQUEST, "n_blocks"));
        assertEquals(8, SpectroAbi.SP_GRAD_REQUEST.byteAlignment());
        assertEquals(48, SpectroAbi.SP_SGLD_PARAMS.byteSize());
        assertEquals(12, SpectroAbi.offset(SpectroAbi.SP_SGLD_PARAMS, "rmsprop"));
        assertEquals(24, SpectroAbi.offset(SpectroAbi.SP_SGLD_PARAMS, "noise_scale"));
        assertEquals(28, SpectroAbi.offset(SpectroAbi.SP_SGLD_PARAMS, "stream"));
        assertEquals(32, SpectroAbi.offset(SpectroAbi.SP_SGLD_PARAMS, "seed"));
        assertEquals(40, SpectroAbi.offset(SpectroAbi.SP_SGLD_PARAMS, "step"));
    }

    @Test
    void missingLibraryIsReportedClearly() {
        Assumptions.assumeTrue(Backend.findLibrary("cuda").isEmpty(), "libspectro_cuda.so exists here");
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> Backend.load("cuda"));
        assertTrue(e.getMessage().startsWith("cuda backend unavailable because libspectro_cuda.so not found in"), e.getMessage());
        assertTrue(e.getMessage().contains("scripts/build-native"), e.getMessage());
        assertTrue(Backend.unavailableReason("cuda").isPresent());
        assertThrows(SpectroException.class, () -> Backend.load("tpu"));
    }

    @Test
    void cudaReportsUnavailableWithoutAGpu() {
        Assumptions.assumeTrue(Backend.findLibrary("cuda").isPresent(), "libspectro_cuda.so not built");
        var reason = Backend.unavailableReason("cuda");
        if (reason.isPresent()) {
            assertTrue(reason.get().startsWith("cuda backend unavailable because: "), reason.get());
            assertTrue(reason.get().length() > "cuda backend unavailable because: ".length() + 5, reason.get());
            if (Backend.findLibrary("cpu").isPresent()) assertEquals("cpu", Backend.load("auto").name());
        } else {
            assertEquals("cuda", Backend.load("cuda").name());
            assertEquals("cuda", Backend.load("auto").name());
        }
    }

    @Test
    void layoutAgreesWithNative() {
        Backend b = cpu();
        assertEquals("cpu", b.name());
        for (String p : ModelConfig.presetNames()) {
            ModelConfig c = ModelConfig.preset(p);
            b.validate(c);
            assertEquals(c.paramCount(), b.paramCount(c), p);
            assertArrayEquals(ParamLayout.of(c).offsets(), b.paramOffsets(c), p);
        }
        assertTrue(b.cacheBytes(TINY, 2, 8) >= 2L * 8 * 64 * 4);
    }

    @Test
    void forwardOfRandomTinyModel() {
        Backend b = cpu();
        int B = 3, T = 12;
        int[] tokens = new int[B * T];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (i * 131 + 7) % TINY.vocabSize();
        try (Arena a = Arena.ofShared(); NativeModel m = NativeModel.create(b, TINY, 1, B * T, false)) {
            m.load(RandomInit.init(TINY, 1, a));
            float[] l = new float[B * (T - 1)];
            try (NativeBatch nb = m.batch(tokens, B, T)) {
                double mean = m.forward(nb, l);
                double s = 0;
                for (float v : l) {
                    assertTrue(Float.isFinite(v));
                    // logits ~ N(0, (0.02 * sqrt(d))^2) = N(0, 0.16^2): a token's loss is ln V minus its
                    // logit's deviation, so 33 tokens spread about +-0.5 around ln V (4 sigma = 0.64)
                    assertEquals(Math.log(TINY.vocabSize()), v, 0.8);
                    s += v;
                }
                assertEquals(s / l.length, mean, 1e-5);
                assertEquals(mean, m.forward(nb, null), 1e-6, "losses may be null");
                // the residual cache does not change the result while the weights below stay fixed
                nb.cacheAt(1);
                assertEquals(1, nb.cachedLayer());
                float[] l2 = new float[l.length];
                m.forward(nb, l2);
                for (int i = 0; i < l.length; i++) assertEquals(l[i], l2[i], 1e-4);
                nb.cacheAt(-1);
            }
        }
    }

    @Test
    void outOfVocabTokenNamesSpBatchCreate() {
        Backend b = cpu();
        try (NativeModel m = NativeModel.create(b, TINY, 1, 64, false)) {
            NativeException e = assertThrows(NativeException.class, () -> m.batch(new int[]{1, 2, 3, 512}, 2, 2));
            assertEquals("sp_batch_create", e.function());
            assertEquals(SpectroAbi.SP_ERR_INVALID, e.status());
            assertTrue(e.getMessage().startsWith("sp_batch_create failed (SP_ERR_INVALID): "), e.getMessage());
            assertFalse(e.nativeMessage().isEmpty());
            // too many tokens for max_batch
            assertThrows(NativeException.class, () -> m.batch(new int[66], 1, 66));
        }
    }

    @Test
    void bf16IsRefusedOnCpu() {
        Backend b = cpu();
        NativeException e = assertThrows(NativeException.class, () -> NativeModel.create(b, TINY, 1, 64, true));
        assertEquals("sp_model_create", e.function());
        assertTrue(e.nativeMessage().contains("bf16"), e.nativeMessage());
    }

    @Test
    void paramsGradsSgldResetBuffersAccum() {
        Backend b = cpu();
        ParamLayout p = ParamLayout.of(TINY);
        int B = 2, T = 8;
        int[] tokens = new int[B * T];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (i * 17 + 3) % TINY.vocabSize();
        try (Arena a = Arena.ofShared(); NativeModel m = NativeModel.create(b, TINY, 1, B * T, false)) {
            MemorySegment w = RandomInit.init(TINY, 2, a);
            m.load(w);
            ParamLayout.Tensor fc = p.layer(1, ParamLayout.FC_OUT_W);
            float[] r = m.readParams(fc.offset(), 10);
            for (int i = 0; i < 10; i++) assertEquals(w.getAtIndex(ValueLayout.JAVA_FLOAT, fc.offset() + i), r[i]);
            MemorySegment all = a.allocate(4 * p.total());
            m.readParams(0, all);
            assertEquals(-1, all.mismatch(w));

            NativeBatch nb = m.batch(tokens, B, T);
            // full gradient, then a restricted one: the requested tensor gets the same values
            m.forwardBackward(nb, 0, null, null);
            float[] full = m.readGrads(fc.offset(), (int) fc.numel());
            MemorySegment gAll = a.allocate(4 * p.total());
            m.readGrads(0, gAll);
            assertEquals(full[5], gAll.getAtIndex(ValueLayout.JAVA_FLOAT, fc.offset() + 5));
            Block[] comp = {new Block(fc.offset(), fc.shape()[0], fc.shape()[1], fc.shape()[1])};
            float[] losses = new float[B * (T - 1)];
            double mean = m.forwardBackward(nb, 1, comp, losses);
            assertTrue(Double.isFinite(mean) && Float.isFinite(losses[0]));
            float[] restricted = m.readGrads(fc.offset(), (int) fc.numel());
            double norm = 0;
            for (int i = 0; i < full.length; i++) {
                assertEquals(full[i], restricted[i], 1e-6 + 1e-4 * Math.abs(full[i]));
                norm += full[i] * (double) full[i];
            }
            assertTrue(norm > 0, "gradient is not zero");

            // noise-free SGLD with nbeta 0: w - w* shrinks by (1 - lr*gamma/2)
            float[] moved = m.readParams(fc.offset(), 4);
            for (int i = 0; i < 4; i++) moved[i] += 1f;
            m.writeParams(fc.offset(), moved);
            m.sgldUpdate(new Block[]{Block.range(fc.offset(), 4)}, null,
                    new SgldParams(0.1f, 0f, 2f, false, 0.99f, 0.1f, 0f, 5, 42L, 0L));
            float[] after = m.readParams(fc.offset(), 4);
            for (int i = 0; i < 4; i++)
                assertEquals(0.9, after[i] - w.getAtIndex(ValueLayout.JAVA_FLOAT, fc.offset() + i), 1e-5);
            // with noise: the change is sqrt(lr) * xi, xi from sp_noise(seed, stream, step, element)
            m.sgldUpdate(new Block[]{Block.range(fc.offset(), 4)}, null,
                    new SgldParams(0.01f, 0f, 0f, false, 0.99f, 0.1f, 1f, 5, 42L, 7L));
            float[] noisy = m.readParams(fc.offset(), 4);
            float[] xi = b.noise(42L, 5, 7L, 0, 4);
            for (int i = 0; i < 4; i++) assertEquals(after[i] + 0.1f * xi[i], noisy[i], 1e-5);
            // RMSProp state lives in a buffer
            try (NativeBuffer rms = m.buffer(4)) {
                assertArrayEquals(new float[4], rms.read(0, 4));
                m.forwardBackward(nb, 0, null, null);
                m.sgldUpdate(new Block[]{Block.range(fc.offset(), 4)}, rms,
                        new SgldParams(1e-4f, 1f, 0f, true, 0.99f, 0.1f, 0f, 5, 42L, 8L));
                float[] v = rms.read(0, 4);
                float[] g = m.readGrads(fc.offset(), 4);
                for (int i = 0; i < 4; i++) assertEquals(0.01f * g[i] * g[i], v[i], 1e-9 + 1e-4 * v[i]);
                rms.write(1, new float[]{3f, 4f});
                assertArrayEquals(new float[]{v[0], 3f, 4f, v[3]}, rms.read(0, 4));
            }
            m.resetParams(new Block(fc.offset(), 1, 4, 4));
            float[] back = m.readParams(fc.offset(), 4);
            for (int i = 0; i < 4; i++) assertEquals(w.getAtIndex(ValueLayout.JAVA_FLOAT, fc.offset() + i), back[i]);

            try (NativeAccum acc = m.accum((long) B * (T - 1))) {
                float[] l = new float[B * (T - 1)];
                m.forward(nb, l);
                acc.add(m, nb, 2.0);
                acc.add(m, nb, -0.5);
                double[][] s = acc.read();
                for (int i = 0; i < l.length; i++) {
                    assertEquals(2.0 * l[i], s[0][i], 1e-5);
                    assertEquals(1.5 * l[i], s[1][i], 1e-5);
                }
                acc.reset();
                assertEquals(0.0, acc.read()[0][3]);
            }
            nb.close();
            nb.close(); // idempotent
            assertThrows(IllegalStateException.class, () -> m.forward(nb, null));
        }
    }

    @Test
    void modelCloseClosesChildren() {
        Backend b = cpu();
        NativeModel m = NativeModel.create(b, TINY, 1, 16, false);
        NativeBatch nb = m.batch(new int[]{1, 2, 3, 4}, 2, 2);
        NativeBuffer buf = m.buffer(3);
        m.close();
        m.close();
        assertThrows(IllegalStateException.class, () -> buf.read(0, 1));
        assertThrows(IllegalStateException.class, nb::handle);
        nb.close();
        buf.close();
    }

    @Test
    void noiseIsPhilox4x32BoxMuller() {
        Backend b = cpu();
        long seed = 0x1234_5678_9abc_def0L;
        int stream = (3 << 12) | 2;
        long step = (1L << 32) + 17;
        float[] x = b.noise(seed, stream, step, 0, 4099);
        float[] y = b.noise(seed, stream, step, 1001, 10);
        for (int i = 0; i < 10; i++) assertEquals(x[1001 + i], y[i]);
        for (int e : new int[]{0, 1, 2, 3, 4, 5, 1001, 4098})
            assertEquals(PhiloxReference.normal(seed, stream, step, e), x[e], 1e-6f * Math.max(1, Math.abs(x[e])), "element " + e);
        double s = 0, s2 = 0;
        for (float v : x) {
            s += v;
            s2 += v * v;
        }
        assertEquals(0, s / x.length, 0.1);
        assertEquals(1, s2 / x.length, 0.1);
    }
}
