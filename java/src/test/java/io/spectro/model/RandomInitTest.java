package io.spectro.model;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.*;

class RandomInitTest {
    @Test
    void deterministicAndShaped() {
        ModelConfig c = ModelConfig.preset("tiny");
        ParamLayout p = ParamLayout.of(c);
        try (Arena a = Arena.ofShared(); Arena conf = Arena.ofConfined()) {
            MemorySegment x = RandomInit.init(c, 7, a), y = RandomInit.init(c, 7, conf), z = RandomInit.init(c, 8, a);
            assertEquals(-1, x.mismatch(y), "same seed, parallel vs sequential fill");
            assertNotEquals(-1, x.mismatch(z));
            float[] v = x.toArray(ValueLayout.JAVA_FLOAT);
            for (ParamLayout.Tensor t : p.tensors()) {
                double s = 0, s2 = 0;
                for (long i = t.offset(); i < t.offset() + t.numel(); i++) {
                    s += v[(int) i];
                    s2 += v[(int) i] * (double) v[(int) i];
                }
                double mean = s / t.numel(), sd = Math.sqrt(s2 / t.numel() - mean * mean);
                if (t.name().endsWith("layernorm.weight") || t.name().endsWith("final_layer_norm.weight")) {
                    assertEquals(1.0, mean, 0, t.name());
                    assertEquals(0.0, sd, 1e-6, t.name());
                } else if (t.shape().length == 1) {
                    assertEquals(0.0, s2, 0, t.name());
                } else {
                    assertEquals(0.0, mean, 0.002, t.name());
                    assertEquals(0.02, sd, 0.001, t.name());
                }
            }
        }
    }
}
