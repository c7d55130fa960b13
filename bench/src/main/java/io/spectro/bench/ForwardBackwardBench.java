package io.spectro.bench;

import io.spectro.model.ModelConfig;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;
import io.spectro.oracle.TorchNeoX;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
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

import java.util.concurrent.TimeUnit;

/**
 * Forward + backward (gradient of the mean loss for every parameter) of the CPU backend against the
 * same model in libtorch ({@link TorchNeoX}, autograd), Pythia-14M shape, random init, batch 8 x 256
 * tokens, 2 threads each. One op = one forward+backward of batch*seq tokens; the secondary result
 * {@code tokens} is tokens/s (= ops/s * batch * seq). The native library is found through
 * SPECTRO_NATIVE_DIR (scripts/bench sets it) or -Dspectro.native.dir.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 3, time = 5)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-Xss8m"})
public class ForwardBackwardBench {

    @State(Scope.Benchmark)
    public static class Shape {
        @Param({"pythia-14m"})
        public String model;
        @Param({"8"})
        public int batch;
        @Param({"256"})
        public int seq;
        @Param({"2"})
        public int threads;

        ModelConfig cfg() {
            return ModelConfig.preset(model);
        }
    }

    /** tokens/s as a JMH secondary result. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Tokens {
        public long tokens;

        @Setup(Level.Iteration)
        public void reset() {
            tokens = 0;
        }
    }

    @State(Scope.Benchmark)
    public static class NativeState {
        NativeModel model;
        NativeBatch batch;
        int tokens;

        @Setup(Level.Trial)
        public void setup(Shape s) {
            ModelConfig c = s.cfg();
            model = NativeModel.create(Backend.load("cpu"), c, s.threads, s.batch * s.seq, false);
            model.load(BenchData.params(c, 1));
            batch = model.batch(BenchData.tokens(s.batch * s.seq, c.vocabSize(), 2), s.batch, s.seq);
            tokens = s.batch * s.seq;
        }

        @TearDown(Level.Trial)
        public void close() {
            model.close();
        }
    }

    @State(Scope.Benchmark)
    public static class TorchState {
        TorchNeoX model;
        Tensor tokens;
        int count;

        @Setup(Level.Trial)
        public void setup(Shape s) {
            ModelConfig c = s.cfg();
            TorchNeoX.setThreads(s.threads);
            model = new TorchNeoX(BenchData.dims(c), BenchData.toArray(BenchData.params(c, 1)), TorchNeoX.DType.FLOAT32);
            tokens = model.tokens(BenchData.tokens(s.batch * s.seq, c.vocabSize(), 2), s.batch, s.seq);
            tokens.retainReference();
            count = s.batch * s.seq;
        }

        @TearDown(Level.Trial)
        public void close() {
            model.close();
        }
    }

    @Benchmark
    public double spectroCpu(NativeState s, Tokens t) {
        double loss = s.model.forwardBackward(s.batch, 0, null, null);
        t.tokens += s.tokens;
        return loss;
    }

    @Benchmark
    public double libtorch(TorchState s, Tokens t) {
        try (PointerScope scope = new PointerScope()) {
            Tensor loss = s.model.perTokenLoss(s.tokens).mean();
            TensorVector grads = s.model.gradOf(loss); // every parameter's gradient, as autograd gives them
            t.tokens += s.count;
            return loss.item_double() + grads.size();
        }
    }
}
