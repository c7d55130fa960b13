package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.torch.Libtorch;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.List;

/**
 * Makes and reads {@link Regressor}s. Kinds: {@code ridge} (closed form on standardised inputs, λ by
 * grouped K-fold cross-validation; the baseline) and {@code mlp} (an MLP trained with AdamW in
 * libtorch through the JavaCPP presets; prediction runs in plain Java). A saved model is a directory
 * with {@code regressor.json} (format, kind, layer widths, kind-specific facts) and float32 .npy
 * tensors; {@link #load} needs no native library for either kind.
 */
public final class Regressors {
    public static final List<String> KINDS = List.of("ridge", "mlp");

    private Regressors() {}

    /**
     * Training options; each kind reads the ones it uses. Ridge: {@code folds}, {@code seed}
     * (fold assignment). MLP: all but {@code folds}.
     *
     * @param hidden     units per hidden layer (mlp)
     * @param depth      hidden layers (mlp), >= 1
     * @param epochs     most passes over the training rows (mlp)
     * @param lr         AdamW learning rate (mlp)
     * @param weightDecay AdamW decoupled weight decay (mlp)
     * @param batch      rows per minibatch (mlp)
     * @param patience   epochs without a better validation loss before stopping (mlp)
     * @param validation fraction of the sequences held out for early stopping (mlp), in (0, 0.5]
     * @param folds      grouped cross-validation folds for λ (ridge), >= 2
     * @param seed       initialisation, shuffling and split seed
     * @param threads    libtorch intra-op threads (mlp); 1 gives bit-identical refits
     */
    public record Options(int hidden, int depth, int epochs, double lr, double weightDecay, int batch, int patience,
                          double validation, int folds, long seed, int threads) {
        public Options {
            req(hidden >= 1 && hidden <= 65536, "hidden width must be in [1, 65536], got " + hidden);
            req(depth >= 1 && depth <= 16, "depth (hidden layers) must be in [1, 16], got " + depth);
            req(epochs >= 1, "epochs must be >= 1, got " + epochs);
            req(lr > 0 && lr < 1 && Double.isFinite(lr), "lr must be in (0, 1), got " + lr);
            req(weightDecay >= 0 && Double.isFinite(weightDecay), "weight decay must be >= 0, got " + weightDecay);
            req(batch >= 1, "batch must be >= 1, got " + batch);
            req(patience >= 1, "patience must be >= 1, got " + patience);
            req(validation > 0 && validation <= 0.5, "validation fraction must be in (0, 0.5], got " + validation);
            req(folds >= 2 && folds <= 100, "folds must be in [2, 100], got " + folds);
            req(threads >= 1 && threads <= 1024, "threads must be in [1, 1024], got " + threads);
        }

        private static void req(boolean ok, String msg) {
            if (!ok) throw new SpectroException("regressor options: " + msg);
        }

        /** hidden 256, depth 2, 300 epochs, lr 1e-3, weight decay 1e-4, batch 256, patience 15, 10% validation, 5 folds, seed 1, 1 thread. */
        public static Options defaults() {
            return new Options(256, 2, 300, 1e-3, 1e-4, 256, 15, 0.1, 5, 1, 1);
        }

        public Options withSeed(long s) {
            return new Options(hidden, depth, epochs, lr, weightDecay, batch, patience, validation, folds, s, threads);
        }

        /** The options as a JSON object (for {@code aux.json}'s regressor.options). */
        public ObjectNode toJson() {
            return JsonMapper.shared().valueToTree(this);
        }
    }

    /**
     * Where a fit is: ridge reports each cross-validation fold and the final solve ({@code total} = folds + 1),
     * the MLP each epoch ({@code total} = the most epochs; it may stop early), with a label such as
     * "validation mse 0.123 (best 0.120 at epoch 17)". Called on the fitting thread.
     */
    @FunctionalInterface
    public interface Listener {
        Listener NONE = (done, total, label) -> {};

        void progress(int done, int total, String label);
    }

    /**
     * Fits a regressor of {@code kind} to rows {@code x} (n × dIn) → {@code y} (n × dOut), row-major;
     * {@code group[i]} is the sequence of row i, so every internal validation split keeps sequences whole.
     */
    public static Regressor fit(String kind, float[] x, float[] y, int n, int dIn, int dOut, int[] group, Options o) {
        return fit(kind, x, y, n, dIn, dOut, group, o, Listener.NONE);
    }

    /** {@link #fit(String, float[], float[], int, int, int, int[], Options)} reporting progress to {@code listener}. */
    public static Regressor fit(String kind, float[] x, float[] y, int n, int dIn, int dOut, int[] group, Options o, Listener listener) {
        checkShapes(x, y, n, dIn, dOut, group);
        return switch (kind) {
            case "ridge" -> Ridge.fit(x, y, n, dIn, dOut, group, o, listener);
            case "mlp" -> fitMlp(x, y, n, dIn, dOut, group, o, listener);
            default -> throw new SpectroException("unknown regressor kind '" + kind + "'; known: " + String.join(", ", KINDS));
        };
    }

    /** libtorch is loaded (or refused with "libtorch unavailable because ...") before TorchMlp's class is touched. */
    private static Regressor fitMlp(float[] x, float[] y, int n, int dIn, int dOut, int[] group, Options o, Listener listener) {
        try {
            Libtorch.load();
        } catch (SpectroException e) {
            throw new SpectroException("regressor kind mlp: " + e.getMessage() + " (the ridge kind needs no libtorch)", e.getCause());
        }
        return TorchMlp.fit(x, y, n, dIn, dOut, group, o, listener);
    }

    private static void checkShapes(float[] x, float[] y, int n, int dIn, int dOut, int[] group) {
        if (n < 2 || dIn < 1 || dOut < 1) throw new IllegalArgumentException("need n >= 2, dIn >= 1, dOut >= 1; got " + n + ", " + dIn + ", " + dOut);
        if ((long) n * dIn > x.length || (long) n * dOut > y.length || group.length < n)
            throw new IllegalArgumentException(n + " rows need " + (long) n * dIn + " inputs, " + (long) n * dOut + " targets and " + n
                    + " group ids; got " + x.length + ", " + y.length + ", " + group.length);
        for (long i = 0; i < (long) n * dIn; i++)
            if (!Float.isFinite(x[(int) i])) throw new SpectroException("features: non-finite value at row " + i / dIn + ", column " + i % dIn);
        for (long i = 0; i < (long) n * dOut; i++)
            if (!Float.isFinite(y[(int) i])) throw new SpectroException("targets: non-finite value at row " + i / dOut + ", column " + i % dOut);
    }

    /** Reads a regressor saved by {@link Regressor#save}; corrupt or missing files are refused naming the file. */
    public static Regressor load(Path dir) {
        String kind = DenseNet.readMeta(dir).get("kind").asString();
        if (!KINDS.contains(kind))
            throw new SpectroException(dir.resolve(DenseNet.META) + ": unknown regressor kind '" + kind + "'; known: " + String.join(", ", KINDS));
        DenseNet net = DenseNet.load(dir);
        if (kind.equals("ridge") && net.layers() != 1)
            throw new SpectroException(dir.resolve(DenseNet.META) + ": a ridge model has one layer, this one has " + net.layers());
        return net;
    }
}
