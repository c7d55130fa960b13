package io.spectro.train;

import io.spectro.SpectroException;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A {@link Trainer.StepHook} for long runs: appends {@code step, loss, lr, seconds} to
 * {@code OUT/train_log.tsv} every step, writes {@code OUT/checkpoint/} (HF layout, f32, tokenizer,
 * loss curve) every {@code every} steps (built in a temporary directory, then renamed over the old one),
 * and stops training once {@code maxMinutes} have passed (0 = never).
 */
public final class TrainCheckpoints implements Trainer.StepHook {
    private final ModelConfig cfg;
    private final TrainOptions o;
    private final Tokenizer tok;
    private final Path out;
    private final int every;
    private final long deadlineNanos;
    private final long t0 = System.nanoTime();
    private final StringBuilder pending = new StringBuilder();

    public TrainCheckpoints(ModelConfig cfg, TrainOptions o, Tokenizer tok, Path out, int every, double maxMinutes) {
        this.cfg = cfg;
        this.o = o;
        this.tok = tok;
        this.out = out;
        this.every = every;
        this.deadlineNanos = maxMinutes > 0 ? t0 + (long) (maxMinutes * 60e9) : Long.MAX_VALUE;
        try {
            Files.createDirectories(out);
            Files.writeString(out.resolve("train_log.tsv"), "step\tloss\tlr\tseconds\n");
        } catch (IOException e) {
            throw new SpectroException(out + ": cannot write train_log.tsv (" + e.getMessage() + ")");
        }
    }

    @Override
    public boolean afterStep(int step, float[] weights, float[] losses) {
        double sec = (System.nanoTime() - t0) / 1e9;
        pending.append(step).append('\t').append(losses[step]).append('\t').append((float) o.lrAt(step)).append('\t')
                .append(String.format("%.1f", sec)).append('\n');
        boolean stop = System.nanoTime() > deadlineNanos;
        boolean last = step == o.steps() - 1 || stop;
        if (pending.length() > 4096 || last || (every > 0 && (step + 1) % every == 0)) flushLog();
        if (every > 0 && (step + 1) % every == 0 && !last) writeCheckpoint(step, weights, losses);
        if (stop) System.err.printf("train: --max-minutes reached after %d of %d steps%n", step + 1, o.steps());
        return !stop;
    }

    private void flushLog() {
        try {
            Files.writeString(out.resolve("train_log.tsv"), pending, StandardOpenOption.APPEND);
            pending.setLength(0);
        } catch (IOException e) {
            throw new SpectroException(out + ": cannot append to train_log.tsv (" + e.getMessage() + ")");
        }
    }

    private void writeCheckpoint(int step, float[] weights, float[] losses) {
        Path tmp = out.resolve("checkpoint.tmp"), dst = out.resolve("checkpoint");
        try (Arena a = Arena.ofConfined()) {
            deleteTree(tmp);
            MemorySegment seg = a.allocate(4L * weights.length, 4);
            MemorySegment.copy(weights, 0, seg, ValueLayout.JAVA_FLOAT, 0, weights.length);
            Checkpoint.write(tmp, cfg, seg, "f32");
            if (tok != null) tok.save(tmp.resolve("tokenizer.json"));
            LossCurve.writePng(tmp.resolve("loss_curve.png"), java.util.Arrays.copyOf(losses, step + 1), "training loss (to step " + (step + 1) + ")");
            Files.writeString(tmp.resolve("STEP.txt"), (step + 1) + " of " + o.steps() + " steps\n");
            deleteTree(dst);
            Files.move(tmp, dst, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new SpectroException(out + ": cannot write the checkpoint (" + e.getMessage() + ")");
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(f -> {
                try {
                    Files.delete(f);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
