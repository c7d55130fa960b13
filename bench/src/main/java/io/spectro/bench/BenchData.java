package io.spectro.bench;

import io.spectro.model.ModelConfig;
import io.spectro.model.RandomInit;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** Deterministic inputs shared by the benchmarks: a random-init model and random token ids. */
final class BenchData {
    private BenchData() {}

    /** The model's flat float32 parameters (io.spectro.model.RandomInit: N(0, 0.02^2), LayerNorm weights 1). */
    static MemorySegment params(ModelConfig c, long seed) {
        return RandomInit.init(c, seed, Arena.global());
    }

    static float[] toArray(MemorySegment params) {
        return params.toArray(ValueLayout.JAVA_FLOAT);
    }

    static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    static io.spectro.oracle.TorchNeoX.Dims dims(ModelConfig c) {
        return new io.spectro.oracle.TorchNeoX.Dims(c.vocabSize(), c.dModel(), c.nLayers(), c.nHeads(), c.dFf(),
                c.rotaryDims(), c.rotaryBase(), c.lnEps());
    }
}
