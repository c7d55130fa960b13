package io.spectro.bench;

import io.spectro.upsample.Regressor;
import io.spectro.upsample.Regressors;
import io.spectro.upsample.Synth;
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
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * Prediction throughput of the upsampling regressors' plain-Java path (io.spectro.upsample.Regressor#predict,
 * no libtorch), one thread: one op = {@code block} rows of {@code dIn} features → {@code dOut} outputs;
 * the secondary result {@code rows} is rows/s. The models are fitted in setup on 4,000 synthetic rows
 * (the MLP for 2 epochs: throughput depends only on the shapes).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 3)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-Xss8m"})
public class RegressorPredictBench {

    @State(Scope.Benchmark)
    public static class Model {
        @Param({"ridge", "mlp"})
        public String kind;
        @Param({"300"})
        public int dIn;
        @Param({"64"})
        public int dOut;
        @Param({"256"})
        public int hidden;
        @Param({"4096"})
        public int block;

        Regressor reg;
        float[] x, y;

        @Setup
        public void setUp() {
            Synth s = Synth.make(4000, dIn, dOut, 20, 0.7, 0.1, 42);
            Regressors.Options o = new Regressors.Options(hidden, 2, 2, 1e-3, 1e-4, 256, 5, 0.1, 5, 1, 1);
            reg = Regressors.fit(kind, s.x(), s.y(), s.n(), dIn, dOut, s.group(), o);
            x = Synth.make(block, dIn, dOut, 20, 0.7, 0.1, 7).x();
            y = new float[block * dOut];
        }
    }

    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Rows {
        public long rows;

        @Setup(Level.Iteration)
        public void reset() {
            rows = 0;
        }
    }

    @Benchmark
    public float predict(Model m, Rows c) {
        m.reg.predict(m.x, m.block, m.y);
        c.rows += m.block;
        return m.y[0];
    }
}
