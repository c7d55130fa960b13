package io.spectro.train;

import io.spectro.SpectroException;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import io.spectro.model.RandomInit;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;
import io.spectro.tokenizer.Tokenizer;
import io.spectro.util.Progress;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Trains a GPT-NeoX from its current weights with AdamW on the native backend's gradients.
 * The optimizer runs in Java on the host copy of the parameters (the models this trains are small:
 * the demo's has about 0.2M parameters). Weight decay applies to every 2-D weight (embeddings
 * included) and not to biases or LayerNorm parameters.
 */
public final class Trainer {
    private Trainer() {}

    /** Loss per step (the minibatch's mean loss before the step's update). */
    public record Result(float[] losses, double seconds) {}

    /** Called after every step with the updated weights; returns false to stop training there. */
    public interface StepHook {
        boolean afterStep(int step, float[] weights, float[] losses);
    }

    /**
     * @param data rows of T tokens (row-major [rows, T]); minibatches are drawn uniformly with the seed
     */
    public static Result fit(NativeModel model, ModelConfig cfg, int[] data, int rows, int T, TrainOptions o, boolean progressBar) {
        return fit(model, cfg, data, rows, T, o, progressBar, null);
    }

    /**
     * As {@link #fit(NativeModel, ModelConfig, int[], int, int, TrainOptions, boolean)}, calling {@code hook}
     * (when not null) after each step; when it returns false training stops and the result holds the
     * losses of the steps done.
     */
    public static Result fit(NativeModel model, ModelConfig cfg, int[] data, int rows, int T, TrainOptions o, boolean progressBar, StepHook hook) {
        if (rows < 1) throw new SpectroException("training data is empty");
        long P = cfg.paramCount();
        if (P > Integer.MAX_VALUE - 8) throw new SpectroException("the trainer holds parameters on the heap; " + P + " is too many");
        int n = (int) P;
        boolean[] decay = decayMask(cfg);
        float[] w = model.readParams(0, n);
        float[] m = new float[n], v = new float[n];
        float[] losses = new float[o.steps()];
        SplittableRandom rng = new SplittableRandom(o.seed());
        long t0 = System.nanoTime();
        Progress bar = new Progress("train", o.steps(), System.err, progressBar);
        int[] batch = new int[o.batch() * T];
        for (int s = 0; s < o.steps(); s++) {
            for (int b = 0; b < o.batch(); b++) System.arraycopy(data, rng.nextInt(rows) * T, batch, b * T, T);
            double loss;
            try (NativeBatch nb = model.batch(batch, o.batch(), T)) {
                loss = model.forwardBackward(nb, 0, null, null);
            }
            if (!Double.isFinite(loss)) throw new SpectroException("training diverged: loss " + loss + " at step " + s + " (lower --lr?)");
            losses[s] = (float) loss;
            float[] g = model.readGrads(0, n);
            double norm = 0;
            for (float x : g) norm += (double) x * x;
            norm = Math.sqrt(norm);
            float scale = o.clip() > 0 && norm > o.clip() ? (float) (o.clip() / norm) : 1f;
            float lr = (float) o.lrAt(s);
            double bc1 = 1 - Math.pow(o.beta1(), s + 1), bc2 = 1 - Math.pow(o.beta2(), s + 1);
            for (int i = 0; i < n; i++) {
                float gi = g[i] * scale;
                m[i] = o.beta1() * m[i] + (1 - o.beta1()) * gi;
                v[i] = o.beta2() * v[i] + (1 - o.beta2()) * gi * gi;
                double mh = m[i] / bc1, vh = v[i] / bc2;
                if (decay[i]) w[i] -= lr * o.weightDecay() * w[i];
                w[i] -= (float) (lr * mh / (Math.sqrt(vh) + o.adamEps()));
            }
            model.writeParams(0, w);
            bar.label(String.format("loss %.3f", loss));
            bar.step();
            if (hook != null && !hook.afterStep(s, w, losses)) {
                losses = java.util.Arrays.copyOf(losses, s + 1);
                break;
            }
        }
        bar.finish();
        return new Result(losses, (System.nanoTime() - t0) / 1e9);
    }

    /** True for elements of 2-D weight tensors (decayed); false for biases and LayerNorm parameters. */
    static boolean[] decayMask(ModelConfig cfg) {
        ParamLayout lay = ParamLayout.of(cfg);
        boolean[] mask = new boolean[(int) lay.total()];
        for (int i = 0; i < lay.tensorCount(); i++) {
            ParamLayout.Tensor t = lay.tensor(i);
            if (t.shape().length == 2)
                java.util.Arrays.fill(mask, (int) t.offset(), (int) (t.offset() + t.numel()), true);
        }
        return mask;
    }

    /** Trains from a random initialisation and writes checkpoint, tokenizer and loss curve to {@code out}. */
    public static Result trainNew(ModelConfig cfg, int[] data, int rows, int T, TrainOptions o, Tokenizer tok, Path out, boolean progress) {
        return trainNew(cfg, data, rows, T, o, tok, out, progress, null);
    }

    /** As above, with a hook called after every step (checkpoints, a time limit: {@link TrainCheckpoints}). */
    public static Result trainNew(ModelConfig cfg, int[] data, int rows, int T, TrainOptions o, Tokenizer tok, Path out, boolean progress,
                                  StepHook hook) {
        if (T > cfg.maxSeq()) throw new SpectroException("sequence length " + T + " exceeds the model's context " + cfg.maxSeq());
        try (Arena arena = Arena.ofConfined();
             NativeModel m = NativeModel.create(Backend.load("cpu"), cfg, o.threads(), o.batch() * T, false)) {
            MemorySegment init = RandomInit.init(cfg, o.seed(), arena);
            m.load(init);
            Result r = fit(m, cfg, data, rows, T, o, progress, hook);
            m.readParams(0, init);
            Checkpoint.write(out, cfg, init, "f32");
            if (tok != null) tok.save(out.resolve("tokenizer.json"));
            LossCurve.writePng(out.resolve("loss_curve.png"), r.losses(), "training loss");
            float[] l = r.losses();
            double tail = 0;
            int k = Math.min(50, l.length);
            for (int i = l.length - k; i < l.length; i++) tail += l[i];
            System.err.printf("train: %d steps in %.1f s, loss %.3f -> %.3f (mean of last %d)%n", l.length, r.seconds(), l[0], tail / k, k);
            return r;
        }
    }
}
