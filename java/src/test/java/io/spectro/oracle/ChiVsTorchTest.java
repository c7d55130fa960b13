package io.spectro.oracle;

import io.spectro.chi.ChiRun;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.ModelConfig;
import io.spectro.nativeabi.Backend;
import io.spectro.sampling.SamplerOptions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * End to end: the engine's chi ({@link ChiRun}: native sampler, fast path, streaming estimator) against
 * {@link TorchChi} (libtorch, float64, full backward every step, the estimator written out from
 * method.md) driven by the same Philox noise, on a tiny random model. The two SGLD trajectories differ
 * only by float32 rounding, so the chi columns must agree closely. Skipped without libspectro_cpu.so.
 */
class ChiVsTorchTest {
    static final ModelConfig TINY = new ModelConfig(64, 16, 2, 2, 32, 4, 64, 10000f, 1e-5f);
    /** Per component: max |chi_engine - chi_torch| over tokens <= CHI_TOL * max |chi_torch|. */
    static final double CHI_TOL = 5e-4;

    static Backend backend;

    @BeforeAll
    static void native_() {
        Assumptions.assumeTrue(Backend.findLibrary("cpu").isPresent(), "libspectro_cpu.so not built");
        backend = Backend.load("cpu");
    }

    @ParameterizedTest(name = "rmsprop={0} fastPath={1}")
    @CsvSource({"false, true", "true, true", "false, false"})
    void engineEqualsTorch(boolean rmsprop, boolean fastPath, @TempDir Path dir) {
        long seed = 17;
        SamplerOptions so = new SamplerOptions(2, 3, 2, 1, 2, 1e-3f, 30f, 300f, rmsprop, 0.99f, 0.1f, 1f, seed);
        float[] p = NativeVsTorchTest.randomParams(TINY, 5, 0.3);
        int nProbe = 2, probeT = 9, nSampling = 2, samplingT = 9;
        int[] probe = NativeVsTorchTest.tokens(nProbe * probeT, TINY.vocabSize(), 6);
        int[] sampling = NativeVsTorchTest.tokens(nSampling * samplingT, TINY.vocabSize(), 7);
        MemorySegment params = Arena.ofAuto().allocate(4L * p.length, 64);
        MemorySegment.copy(p, 0, params, ValueLayout.JAVA_FLOAT, 0, p.length);

        // one minibatch = the whole sampling set (nSampling == batch), so the engine's row permutation cannot matter
        ChiRun.Result engine = ChiRun.run(TINY, params, new ChiRun.Inputs(probe, nProbe, probeT, sampling, nSampling, samplingT),
                dir, new ChiRun.Options(so, "default", fastPath, 1 << 20, 1, "cpu", 4096, false, false));

        List<Component> comps = Decomposition.resolve(TINY, "default");
        double[] pd = new double[p.length];
        for (int i = 0; i < p.length; i++) pd[i] = p[i];
        TorchChi.Result ref;
        try (TorchNeoX m = new TorchNeoX(NativeVsTorchTest.dims(TINY), pd, TorchNeoX.DType.FLOAT64)) {
            TorchChi.Settings s = new TorchChi.Settings(so.chains(), so.draws(), so.stepsBetween(), so.burnin(), so.lr(),
                    so.nbeta(), so.gamma(), so.rmsprop(), so.alpha(), so.rmsEps(), seed);
            ref = TorchChi.run(m, Decomposition.full(TINY), comps, s, TorchChi.philox(backend::noise, seed),
                    probe, nProbe, probeT, sampling, nSampling, samplingT, List.of(sampling), nSampling);
        }
        assertEquals(ref.loss0(), engine.loss0(), 1e-5);
        assertEquals(comps.size(), engine.components().size());
        int n = engine.rows();
        double worst = 0;
        for (int c = 0; c < comps.size(); c++) {
            double maxRef = 0, maxErr = 0;
            for (int t = 0; t < n; t++) {
                double want = ref.at(t, c), got = engine.chi()[t * comps.size() + c];
                maxRef = Math.max(maxRef, Math.abs(want));
                maxErr = Math.max(maxErr, Math.abs(want - got));
            }
            assertTrue(maxRef > 1e-6, comps.get(c).name() + ": chi is all but zero (" + maxRef + "), the check would be empty");
            assertTrue(maxErr <= CHI_TOL * maxRef, comps.get(c).name() + ": max |chi error| " + maxErr + " > "
                    + CHI_TOL + " x max |chi| " + maxRef);
            worst = Math.max(worst, maxErr / (CHI_TOL * maxRef));
        }
        System.out.printf("ChiVsTorch rmsprop=%s fastPath=%s: worst chi error %.3f x tolerance%n", rmsprop, fastPath, worst);
    }
}
