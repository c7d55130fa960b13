package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.model.RandomInit;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/** {@code spectro bench}: forward and forward+backward throughput of a backend. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Measure forward and forward+backward (full gradient) throughput in tokens/s on random tokens.",
                "Prints a table and one JSON line starting with {\"bench\": for scripts."})
public final class BenchCommand implements Callable<Integer> {
    @Mixin
    ModelSource source; // --preset: random weights of that shape

    @Option(names = "--batch", defaultValue = "4", description = "rows B (default ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--seq", defaultValue = "128", description = "tokens per row T (default ${DEFAULT-VALUE})")
    int seq;

    @Option(names = "--iters", defaultValue = "5", description = "timed iterations (default ${DEFAULT-VALUE})")
    int iters;

    @Option(names = "--warmup", defaultValue = "1", description = "untimed iterations first (default ${DEFAULT-VALUE})")
    int warmup;

    @Mixin
    BackendFlags backend;

    @Option(names = "--seed", defaultValue = "0", description = "seed of the random tokens and (with --preset) weights")
    long seed;

    @Option(names = "--no-backward", description = "time the forward pass only")
    boolean noBackward;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (batch < 1) throw new SpectroException("--batch must be >= 1, got " + batch);
        if (seq < 2) throw new SpectroException("--seq must be >= 2, got " + seq);
        if (iters < 1) throw new SpectroException("--iters must be >= 1, got " + iters);
        if (warmup < 0) throw new SpectroException("--warmup must be >= 0, got " + warmup);
        if ((long) batch * seq > Integer.MAX_VALUE / 2) throw new SpectroException("--batch x --seq is too large");
        backend.check();
        source.check();
        Backend b = backend.load();
        ModelConfig c;
        String name;
        Checkpoint ck = null;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment params = null; // random weights (--preset); a checkpoint loads tensor by tensor
            if (source.model != null) {
                ck = Checkpoint.open(source.model);
                c = ck.config();
                name = ck.root().getFileName().toString();
            } else {
                c = ModelConfig.preset(source.preset);
                params = RandomInit.init(c, seed, arena);
                name = source.preset;
            }
            if (seq > c.maxSeq()) throw new SpectroException("--seq " + seq + " exceeds the model's max_seq " + c.maxSeq());
            int[] tokens = new SplittableRandom(seed).ints((long) batch * seq, 0, c.vocabSize()).toArray();
            double fwdS, bwdS = Double.NaN, loss;
            try (NativeModel m = backend.create(b, c, batch * seq)) {
                if (ck != null) m.load(ck);
                else m.load(params);
                if (ck != null) {
                    ck.close();
                    ck = null;
                }
                try (NativeBatch nb = m.batch(tokens, batch, seq)) {
                    for (int i = 0; i < warmup; i++) m.forward(nb, null);
                    long t0 = System.nanoTime();
                    double l = 0;
                    for (int i = 0; i < iters; i++) l = m.forward(nb, null);
                    fwdS = (System.nanoTime() - t0) / 1e9;
                    loss = l;
                    if (!noBackward) {
                        for (int i = 0; i < warmup; i++) m.forwardBackward(nb, 0, null, null);
                        t0 = System.nanoTime();
                        for (int i = 0; i < iters; i++) m.forwardBackward(nb, 0, null, null);
                        bwdS = (System.nanoTime() - t0) / 1e9;
                    }
                }
            }
            long tok = (long) batch * seq * iters;
            PrintWriter out = spec.commandLine().getOut();
            out.printf("model %s (%,d parameters), backend %s, threads %s, precision %s, B %d x T %d, %d iterations after %d warm-up%n",
                    name, c.paramCount(), b.name(), backend.threads == 0 ? "default" : backend.threads, backend.precision, batch, seq, iters, warmup);
            out.printf("%-18s %12s %14s%n", "pass", "ms/iter", "tokens/s");
            out.printf("%-18s %12.2f %14.1f%n", "forward", fwdS * 1e3 / iters, tok / fwdS);
            if (!noBackward) out.printf("%-18s %12.2f %14.1f%n", "forward+backward", bwdS * 1e3 / iters, tok / bwdS);
            out.printf("mean loss %.4f (ln V = %.4f)%n", loss, Math.log(c.vocabSize()));
            ObjectNode j = JsonMapper.builder().build().createObjectNode();
            j.put("bench", "spectro");
            j.put("model", name);
            j.put("params", c.paramCount());
            j.put("backend", b.name());
            j.put("threads", backend.threads);
            j.put("precision", backend.precision);
            j.put("batch", batch);
            j.put("seq", seq);
            j.put("iters", iters);
            j.put("warmup", warmup);
            j.put("forward_ms", fwdS * 1e3 / iters);
            j.put("forward_tokens_per_s", tok / fwdS);
            if (!noBackward) {
                j.put("forward_backward_ms", bwdS * 1e3 / iters);
                j.put("forward_backward_tokens_per_s", tok / bwdS);
            }
            j.put("loss", loss);
            j.put("java", System.getProperty("java.version"));
            out.println(j);
            out.flush();
        } finally {
            if (ck != null) ck.close();
        }
        return 0;
    }
}
