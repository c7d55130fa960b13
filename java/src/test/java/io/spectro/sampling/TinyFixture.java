package io.spectro.sampling;

import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import org.junit.jupiter.api.Assumptions;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/** A tiny random GPT-NeoX and token sets for sampler tests; skips when the CPU library is not built. */
public final class TinyFixture {
    public static final ModelConfig TINY = new ModelConfig(64, 16, 2, 2, 32, 4, 32, 10000f, 1e-5f);

    private TinyFixture() {}

    public static void assumeNative() {
        String dir = System.getProperty("spectro.native.dir", "build/native");
        Assumptions.assumeTrue(Files.exists(Path.of(dir, "libspectro_cpu.so")), "libspectro_cpu.so not built");
    }

    /** Weights N(0, 0.3) (large enough that every component matters), LayerNorm weights 1. */
    public static MemorySegment params(ModelConfig cfg, long seed) {
        ParamLayout lay = ParamLayout.of(cfg);
        MemorySegment m = Arena.global().allocate(lay.total() * 4, 64);
        Random r = new Random(seed);
        for (int i = 0; i < lay.tensorCount(); i++) {
            ParamLayout.Tensor t = lay.tensor(i);
            boolean ln = t.name().contains("layernorm") || t.name().contains("final_layer_norm");
            for (long k = 0; k < t.numel(); k++) {
                float v = ln ? (t.name().endsWith("weight") ? 1f : 0f) : (float) (0.3 * r.nextGaussian());
                m.setAtIndex(ValueLayout.JAVA_FLOAT, t.offset() + k, v);
            }
        }
        return m;
    }

    /** Sequences with a repeated span so that the model's losses vary by position. */
    public static int[] tokens(int rows, int T, int vocab, long seed) {
        Random r = new Random(seed);
        int[] x = new int[rows * T];
        for (int b = 0; b < rows; b++) {
            for (int t = 0; t < T; t++) x[b * T + t] = t < T / 2 ? r.nextInt(vocab) : x[b * T + t - T / 2];
        }
        return x;
    }
}
