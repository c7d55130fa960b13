package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.torch.Libtorch;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

import java.util.SplittableRandom;

/**
 * Trains the {@code mlp} regressor in libtorch (JavaCPP presets): {@code depth} hidden layers of
 * {@code hidden} ReLU units (torch.nn.Linear, default initialisation from {@code torch.manual_seed}),
 * mean-squared error on standardised targets, AdamW with decoupled weight decay, shuffled minibatches,
 * and early stopping on a validation split that keeps sequences whole ({@link GroupSplit#holdout}): the
 * weights of the epoch with the lowest validation loss are kept, and training stops {@code patience}
 * epochs after it. Inputs and targets are standardised with the training rows' statistics.
 *
 * <p>The result is a {@link DenseNet}: prediction runs in plain Java, with no native memory. Every
 * tensor of a fit lives in one PointerScope closed before returning (per-batch scopes inside it).
 * libtorch's seed and thread count are process-wide, so fits run one at a time ({@link Libtorch#exclusive});
 * with {@code threads = 1} a refit with the same seed and data is bit-identical. Training polls
 * {@link Libtorch#checkExiting} between minibatches, so a SIGTERM/SIGINT stops it before the JVM exits.
 */
final class TorchMlp {
    private static final int EVAL_CHUNK = 1 << 15;

    private TorchMlp() {}

    /** Per-column mean and standard deviation over the selected rows (sd 0 for a constant column). */
    private static double[][] stats(float[] a, int n, int d, boolean[] skip) {
        double[] mu = new double[d], sd = new double[d];
        long c = 0;
        for (int i = 0; i < n; i++) {
            if (skip[i]) continue;
            c++;
            for (int j = 0; j < d; j++) mu[j] += a[i * d + j];
        }
        for (int j = 0; j < d; j++) mu[j] /= c;
        for (int i = 0; i < n; i++) {
            if (skip[i]) continue;
            for (int j = 0; j < d; j++) {
                double t = a[i * d + j] - mu[j];
                sd[j] += t * t;
            }
        }
        for (int j = 0; j < d; j++) {
            double v = sd[j] / c;
            sd[j] = v > 1e-20 ? Math.sqrt(v) : 0;
        }
        return new double[][]{mu, sd};
    }

    /** The rows with {@code which[i] == want}, standardised: (a - mu) / sd (0 where sd is 0). */
    private static float[] standardise(float[] a, int n, int d, boolean[] which, boolean want, double[][] st) {
        int c = 0;
        for (int i = 0; i < n; i++) if (which[i] == want) c++;
        float[] out = new float[c * d];
        for (int i = 0, o = 0; i < n; i++) {
            if (which[i] != want) continue;
            for (int j = 0; j < d; j++) out[o * d + j] = st[1][j] > 0 ? (float) ((a[i * d + j] - st[0][j]) / st[1][j]) : 0f;
            o++;
        }
        return out;
    }

    static DenseNet fit(float[] x, float[] y, int n, int d, int e, int[] group, Regressors.Options o, Regressors.Listener listener) {
        Libtorch.load();
        boolean[] val;
        try {
            val = GroupSplit.holdout(group, n, o.validation(), o.seed());
        } catch (IllegalArgumentException ex) {
            throw new SpectroException("mlp: early stopping needs a validation split by sequence: " + ex.getMessage(), ex);
        }
        double[][] xs = stats(x, n, d, val), ys = stats(y, n, e, val);
        float[] zt = standardise(x, n, d, val, false, xs), tt = standardise(y, n, e, val, false, ys);
        float[] zv = standardise(x, n, d, val, true, xs), tv = standardise(y, n, e, val, true, ys);
        int depth = o.depth();
        int[] width = new int[depth + 2];
        width[0] = d;
        for (int l = 1; l <= depth; l++) width[l] = o.hidden();
        width[depth + 1] = e;
        Trained t = Libtorch.exclusive(() -> {
            Libtorch.setThreads(o.threads());
            return train(zt, tt, zv, tv, width, o, listener);
        });
        float[] xMean = new float[d], xScale = new float[d], yMean = new float[e], yScale = new float[e];
        for (int j = 0; j < d; j++) {
            xMean[j] = (float) xs[0][j];
            xScale[j] = xs[1][j] > 0 ? (float) (1 / xs[1][j]) : 0f;
        }
        for (int k = 0; k < e; k++) {
            yMean[k] = (float) ys[0][k];
            yScale[k] = (float) ys[1][k];
        }
        ObjectNode info = JsonMapper.shared().createObjectNode();
        info.set("options", o.toJson());
        info.put("trainRows", tt.length / e);
        info.put("validationRows", tv.length / e);
        info.put("epochsRun", t.epochs);
        info.put("bestEpoch", t.bestEpoch);
        info.put("bestValidationMse", t.bestVal);
        info.put("libtorch", "org.bytedeco:pytorch " + torchVersion());
        ArrayNode curve = info.putArray("curve");
        for (int i = 0; i < t.epochs; i++) curve.addObject().put("epoch", i + 1).put("trainMse", t.train[i]).put("validationMse", t.valid[i]);
        return new DenseNet("mlp", width, xMean, xScale, t.w, t.b, yMean, yScale, info);
    }

    private static String torchVersion() {
        Package p = torch.class.getPackage();
        return p == null || p.getImplementationVersion() == null ? "2.10.0-1.5.13" : p.getImplementationVersion();
    }

    private record Trained(float[][] w, float[][] b, int epochs, int bestEpoch, double bestVal, double[] train, double[] valid) {}

    private static Trained train(float[] zt, float[] tt, float[] zv, float[] tv, int[] width, Regressors.Options o,
                                 Regressors.Listener listener) {
        int layers = width.length - 1, d = width[0], e = width[layers];
        int nt = zt.length / d, nv = zv.length / d;
        float[][] bestW = new float[layers][], bestB = new float[layers][];
        double[] trainCurve = new double[o.epochs()], valCurve = new double[o.epochs()];
        double best = Double.POSITIVE_INFINITY;
        int bestEpoch = 0, epoch = 0;
        try (PointerScope scope = new PointerScope()) {
            torch.manual_seed(o.seed());
            Tensor xT = tensor(zt, nt, d), yT = tensor(tt, nt, e), xV = tensor(zv, nv, d), yV = tensor(tv, nv, e);
            LinearImpl[] lin = new LinearImpl[layers];
            TensorVector params = new TensorVector();
            for (int l = 0; l < layers; l++) {
                lin[l] = new LinearImpl(width[l], width[l + 1]);
                params.push_back(lin[l].weight());
                params.push_back(lin[l].bias());
            }
            AdamWOptions ao = new AdamWOptions(o.lr());
            ao.weight_decay().put(o.weightDecay());
            AdamW opt = new AdamW(params, ao);
            SplittableRandom rnd = new SplittableRandom(o.seed() * 0x9E3779B97F4A7C15L + 1);
            long[] perm = new long[nt];
            for (int i = 0; i < nt; i++) perm[i] = i;
            LongPointer permP = new LongPointer(nt);
            int since = 0;
            for (; epoch < o.epochs() && since < o.patience(); epoch++) {
                for (int i = nt - 1; i > 0; i--) {
                    int j = rnd.nextInt(i + 1);
                    long t = perm[i];
                    perm[i] = perm[j];
                    perm[j] = t;
                }
                permP.put(perm);
                double sum = 0;
                try (PointerScope es = new PointerScope()) {
                    Tensor p = torch.from_blob(permP, new long[]{nt}, new TensorOptions(torch.ScalarType.Long));
                    for (int s = 0; s < nt; s += o.batch()) {
                        int len = Math.min(o.batch(), nt - s);
                        Libtorch.checkExiting();
                        try (PointerScope bs = new PointerScope()) {
                            Tensor idx = p.narrow(0, s, len);
                            opt.zero_grad();
                            Tensor loss = torch.mse_loss(forward(lin, xT.index_select(0, idx)), yT.index_select(0, idx));
                            loss.backward();
                            opt.step();
                            sum += loss.item_double() * len;
                        }
                    }
                }
                trainCurve[epoch] = sum / nt;
                double v = evaluate(lin, xV, yV, nv);
                valCurve[epoch] = v;
                if (!Double.isFinite(v))
                    throw new SpectroException("mlp: the validation loss became " + v + " at epoch " + (epoch + 1) + "; lower --lr (now " + o.lr() + ")");
                if (v < best) {
                    best = v;
                    bestEpoch = epoch + 1;
                    since = 0;
                    for (int l = 0; l < layers; l++) {
                        bestW[l] = floats(lin[l].weight());
                        bestB[l] = floats(lin[l].bias());
                    }
                } else since++;
                listener.progress(epoch + 1, o.epochs(), String.format(java.util.Locale.ROOT,
                        "epoch %d: train mse %.4f, validation mse %.4f (best %.4f at epoch %d)", epoch + 1, trainCurve[epoch], v, best, bestEpoch));
            }
        }
        return new Trained(bestW, bestB, epoch, bestEpoch, best, java.util.Arrays.copyOf(trainCurve, epoch), java.util.Arrays.copyOf(valCurve, epoch));
    }

    private static Tensor forward(LinearImpl[] lin, Tensor x) {
        Tensor h = x;
        for (int l = 0; l < lin.length; l++) {
            h = lin[l].forward(h);
            if (l < lin.length - 1) h = torch.relu(h);
        }
        return h;
    }

    /** Mean squared error over all rows and outputs, in chunks (no autograd). */
    private static double evaluate(LinearImpl[] lin, Tensor x, Tensor y, int n) {
        double sum = 0;
        try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            for (int r = 0; r < n; r += EVAL_CHUNK) {
                int len = Math.min(EVAL_CHUNK, n - r);
                Libtorch.checkExiting();
                try (PointerScope c = new PointerScope()) {
                    sum += torch.mse_loss(forward(lin, x.narrow(0, r, len)), y.narrow(0, r, len)).item_double() * len;
                }
            }
        }
        return sum / n;
    }

    /** A [rows, cols] float tensor over a native copy of {@code a} (both owned by the caller's scope). */
    private static Tensor tensor(float[] a, int rows, int cols) {
        return torch.from_blob(new FloatPointer(a), new long[]{rows, cols}, new TensorOptions(torch.ScalarType.Float));
    }

    private static float[] floats(Tensor t) {
        try (PointerScope s = new PointerScope()) {
            Tensor c = t.detach().contiguous();
            float[] out = new float[(int) c.numel()];
            c.data_ptr_float().get(out);
            return out;
        }
    }
}
