package io.spectro.model;

import org.apache.commons.rng.UniformRandomProvider;
import org.apache.commons.rng.sampling.distribution.ZigguratSampler;
import org.apache.commons.rng.simple.RandomSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Deterministic random initialisation: every weight matrix (embed_in, query_key_value, dense,
 * MLP, embed_out) ~ N(0, std^2) with std 0.02, LayerNorm weights 1, all biases 0. The values
 * depend only on the seed: each tensor is cut into chunks of {@value #CHUNK} elements and each chunk
 * draws from its own XoShiRo256++ generator seeded by a hash of (seed, tensor index, chunk index), so
 * the result does not depend on the number of threads.
 */
public final class RandomInit {
    public static final double STD = 0.02;
    static final int CHUNK = 1 << 20;

    private RandomInit() {}

    /** A well-mixed 64-bit seed for (seed, tensor, chunk) (SplitMix64 finaliser); the generator expands it further. */
    static Long mix(long seed, long tensor, long chunk) {
        long z = seed;
        for (long v : new long[]{tensor, chunk}) {
            z += 0x9E3779B97F4A7C15L + v;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            z ^= z >>> 31;
        }
        return z;
    }

    /** Allocates the flat parameters in {@code arena} and fills them. */
    public static MemorySegment init(ModelConfig c, long seed, Arena arena) {
        ParamLayout layout = ParamLayout.of(c);
        MemorySegment p = arena.allocate(4 * layout.total(), 64);
        fill(layout, p, seed, STD);
        return p;
    }

    /** Fills {@code params} (4 * layout.total() bytes, accessible from any thread unless it is small). */
    public static void fill(ParamLayout layout, MemorySegment params, long seed, double std) {
        record Job(ParamLayout.Tensor t, long chunk) {}
        List<Job> jobs = new ArrayList<>();
        for (ParamLayout.Tensor t : layout.tensors()) {
            if (t.shape().length == 1) {
                boolean lnWeight = t.name().endsWith("layernorm.weight") || t.name().endsWith("final_layer_norm.weight");
                params.asSlice(4 * t.offset(), 4 * t.numel()).fill((byte) 0);
                if (lnWeight) for (long i = 0; i < t.numel(); i++) params.setAtIndex(ValueLayout.JAVA_FLOAT, t.offset() + i, 1f);
            } else {
                for (long ch = 0; ch * CHUNK < t.numel(); ch++) jobs.add(new Job(t, ch));
            }
        }
        IntStream range = IntStream.range(0, jobs.size());
        boolean shared = params.isAccessibleBy(new Thread(() -> {}));
        (shared ? range.parallel() : range).forEach(j -> {
            Job job = jobs.get(j);
            UniformRandomProvider rng = RandomSource.XO_SHI_RO_256_PP.create(
                    (Object) mix(seed, job.t.index(), job.chunk));
            ZigguratSampler.NormalizedGaussian g = ZigguratSampler.NormalizedGaussian.of(rng);
            long start = job.chunk * CHUNK, end = Math.min(job.t.numel(), start + CHUNK);
            for (long i = start; i < end; i++) params.setAtIndex(ValueLayout.JAVA_FLOAT, job.t.offset() + i, (float) (std * g.sample()));
        });
    }
}
