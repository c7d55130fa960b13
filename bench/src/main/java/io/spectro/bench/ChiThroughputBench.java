package io.spectro.bench;

import io.spectro.chi.ChiRun;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.ModelConfig;
import io.spectro.oracle.TorchChi;
import io.spectro.oracle.TorchNeoX;
import io.spectro.sampling.SamplerOptions;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Susceptibility vectors per second: one op = a whole chi run over ALL components of the default
 * decomposition (32 for Pythia-14M) plus the unrestricted full run, i.e. every vector of the probe set.
 * The secondary result {@code vectors} is chi vectors/s (= ops/s * probe tokens, 4 x 63 = 252).
 * <ul>
 *   <li>{@code engine}: {@link ChiRun} (native CPU backend) with the fast path on or off;</li>
 *   <li>{@code libtorch}: {@link TorchChi}, the straightforward devinterp-style estimator: a full forward
 *       and backward of every parameter at every step, the restricted update with torch ops.</li>
 * </ul>
 * Settings are small so that one op takes tens of seconds: chains x draws x steps-between (defaults
 * 1 x 1 x 2, burn-in 0: 2 SGLD steps and 1 draw per chain), SGLD batch 4 x 64 (the sampling set, one
 * minibatch), probe 4 x 64, 2 threads. The cost per vector scales with chains x draws x steps.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 0)
@Measurement(iterations = 2, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-Xss8m"})
public class ChiThroughputBench {

    @State(Scope.Benchmark)
    public static class Setting {
        @Param({"pythia-14m"})
        public String model;
        @Param({"1"})
        public int chains;
        @Param({"1"})
        public int draws;
        @Param({"2"})
        public int steps;
        @Param({"2"})
        public int threads;

        final int rows = 4, T = 64;
        ModelConfig cfg;
        MemorySegment params;
        int[] probe, sampling;

        @Setup(Level.Trial)
        public void setup() {
            cfg = ModelConfig.preset(model);
            params = BenchData.params(cfg, 1);
            probe = BenchData.tokens(rows * T, cfg.vocabSize(), 3);
            sampling = BenchData.tokens(rows * T, cfg.vocabSize(), 4);
        }

        SamplerOptions sampler() {
            return SamplerOptions.small(7).withChains(chains).withDraws(draws).withStepsBetween(steps).withBurnin(0).withBatch(rows);
        }

        int probeTokens() {
            return rows * (T - 1);
        }
    }

    /** chi vectors/s as a JMH secondary result. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Vectors {
        public long vectors;

        @Setup(Level.Iteration)
        public void reset() {
            vectors = 0;
        }
    }

    @State(Scope.Benchmark)
    public static class Engine {
        @Param({"true", "false"})
        public boolean fastPath;
        Path root;

        @Setup(Level.Trial)
        public void setup() throws IOException {
            root = Files.createTempDirectory("spectro-chi-bench");
        }

        @TearDown(Level.Trial)
        public void close() {
            delete(root);
        }
    }

    @State(Scope.Benchmark)
    public static class Torch {
        TorchNeoX model;
        List<Component> comps;
        Component full;
        TorchChi.Noise noise;

        @Setup(Level.Trial)
        public void setup(Setting s) {
            TorchNeoX.setThreads(s.threads);
            model = new TorchNeoX(BenchData.dims(s.cfg), BenchData.toArray(s.params), TorchNeoX.DType.FLOAT32);
            comps = Decomposition.resolve(s.cfg, "default");
            full = Decomposition.full(s.cfg);
            noise = TorchChi.torchRandn(7);
        }

        @TearDown(Level.Trial)
        public void close() {
            model.close();
        }
    }

    @Benchmark
    public float engine(Setting s, Engine e, Vectors v) throws IOException {
        Path dir = Files.createTempDirectory(e.root, "run");
        ChiRun.Options o = new ChiRun.Options(s.sampler(), "default", e.fastPath, 1L << 30, s.threads, "cpu",
                s.rows * s.T, false, false);
        ChiRun.Result r = ChiRun.run(s.cfg, s.params, new ChiRun.Inputs(s.probe, s.rows, s.T, s.sampling, s.rows, s.T), dir, o);
        delete(dir); // a fresh directory every op: a finished run directory would be resumed, not recomputed
        v.vectors += r.rows();
        return r.chi()[0];
    }

    @Benchmark
    public double libtorch(Setting s, Torch t, Vectors v) {
        SamplerOptions so = s.sampler();
        TorchChi.Settings ts = new TorchChi.Settings(so.chains(), so.draws(), so.stepsBetween(), so.burnin(), so.lr(),
                so.nbeta(), so.gamma(), so.rmsprop(), so.alpha(), so.rmsEps(), so.seed());
        TorchChi.Result r = TorchChi.run(t.model, t.full, t.comps, ts, t.noise, s.probe, s.rows, s.T, s.sampling,
                s.rows, s.T, List.of(s.sampling), s.rows);
        v.vectors += r.rows();
        return r.chi()[0];
    }

    static void delete(Path p) {
        if (p == null || !Files.exists(p)) return;
        try (Stream<Path> w = Files.walk(p)) {
            for (Path x : w.sorted(Comparator.reverseOrder()).toList()) Files.delete(x);
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
    }
}
