package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.components.Component;
import io.spectro.model.Block;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;

import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Computes the feature rows of {@link FeatureSpec} for batches of token sequences on a native model
 * holding the checkpoint's weights w*. Row i of a batch [B, T] is the prediction at position t + 1 of
 * sequence b, i = b·(T−1) + t (the row order of a run's chi.npy). Deterministic: the same sequences in the
 * same batches give the same bits (directions are drawn from the spec's seed, component index and direction
 * index; the forwards are deterministic).
 *
 * <p>Response features use the restriction-aware fast path: the residual stream at a component's lowest
 * layer is cached once per layer, and the loss at w* that the differences subtract is taken through the same
 * cached path, so the second difference compares like with like.
 */
public final class Features implements AutoCloseable {
    private final NativeModel model;
    private final ModelConfig cfg;
    private final FeatureSpec spec;
    private final List<Component> comps;
    private final List<String> names;
    private final int actDim;
    private final float[][][] directions; // [component][direction] -> the component's elements in block order (null: drawn when needed)

    /** Directions are kept in memory up to this many floats in all; larger components draw them again per batch. */
    static final long DIRECTION_CACHE_FLOATS = 64L << 20;

    private Features(NativeModel model, FeatureSpec spec, List<Component> comps) {
        this.model = model;
        this.cfg = model.config();
        this.spec = spec;
        this.comps = List.copyOf(comps);
        boolean act = spec.has(FeatureSpec.Kind.ACT);
        this.names = spec.names(act ? model.backend().featureNames(cfg) : List.of(), comps.stream().map(Component::name).toList());
        this.actDim = act ? model.featureCount() : 0;
        int k = spec.respK();
        directions = new float[comps.size()][k][];
        long total = 0;
        for (Component c : comps) total += c.numel() * k;
        if (total <= DIRECTION_CACHE_FLOATS)
            for (int c = 0; c < comps.size(); c++) for (int j = 0; j < k; j++) directions[c][j] = direction(c, j, null);
    }

    /**
     * A feature computer on a new native model loaded with the checkpoint's weights.
     *
     * @param comps the run's components, in column order (their blocks define the response directions)
     */
    public static Features open(Checkpoint ck, List<Component> comps, FeatureSpec spec, Options o) {
        NativeModel m = NativeModel.create(Backend.load(o.backend()), ck.config(), o.threads(), o.device(), o.maxBatchTokens(), o.bf16());
        try {
            m.load(ck);
            return new Features(m, spec, comps);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** Backend options of the forwards. */
    public record Options(String backend, int threads, int device, boolean bf16, int maxBatchTokens) {
        public Options {
            if (backend == null || backend.isBlank()) throw new SpectroException("backend missing (cpu, cuda or auto)");
            if (threads < 0) throw new SpectroException("--threads must be >= 0, got " + threads);
            if (device < 0) throw new SpectroException("--device must be >= 0, got " + device);
            if (maxBatchTokens < 2) throw new SpectroException("--max-batch-tokens must be >= 2, got " + maxBatchTokens);
        }

        public static Options cpu() {
            return new Options("cpu", 0, 0, false, 8192);
        }
    }

    public int dim() {
        return names.size();
    }

    public List<String> names() {
        return names;
    }

    public FeatureSpec spec() {
        return spec;
    }

    /** Sequences of length T per native batch. */
    public int sequencesPerBatch(int T) {
        return Math.max(1, model.maxBatchTokens() / T);
    }

    /**
     * Features of {@code B} sequences of {@code T} tokens (row-major), B·T within the model's batch size:
     * returns B·(T−1) rows of {@link #dim()} floats.
     */
    public float[] compute(int[] tokens, int B, int T) {
        int n = B * (T - 1), dim = dim();
        float[] out = new float[n * dim];
        float[] l0 = new float[n];
        try (NativeBatch b = model.batch(tokens, B, T)) {
            float[] act = null;
            if (spec.has(FeatureSpec.Kind.ACT)) {
                act = new float[n * actDim];
                actFeatures(b, act, l0);
            } else {
                model.forward(b, l0);
            }
            int col = 0;
            for (FeatureSpec.Group g : spec.groups()) {
                switch (g.kind()) {
                    case LOSS -> {
                        for (int i = 0; i < n; i++) out[i * dim + col] = l0[i];
                        col++;
                    }
                    case ACT -> {
                        for (int i = 0; i < n; i++) System.arraycopy(act, i * actDim, out, i * dim + col, actDim);
                        col += actDim;
                    }
                    case RESP -> {
                        response(b, g.k(), out, col, dim, n);
                        col += comps.size() * 2 * g.k();
                    }
                }
            }
            if (col != dim) throw new IllegalStateException("feature columns " + col + " != " + dim);
        }
        for (int i = 0; i < out.length; i++)
            if (!Float.isFinite(out[i]))
                throw new SpectroException("features: " + names.get(i % dim) + " is not finite for row " + i / dim
                        + " of a batch (a loss overflowed at w* +- h v? lower the response step h)");
        return out;
    }

    private void actFeatures(NativeBatch b, float[] act, float[] losses) {
        model.features(b, act, losses);
    }

    /** Second and first differences along K directions per component, written from column {@code col0}. */
    private void response(NativeBatch b, int k, float[] out, int col0, int dim, int n) {
        float[] base = new float[n], plus = new float[n], minus = new float[n];
        Integer[] order = new Integer[comps.size()];
        for (int c = 0; c < order.length; c++) order[c] = c;
        java.util.Arrays.sort(order, Comparator.comparingInt(c -> comps.get(c).lowestLayer()));
        int cached = Integer.MIN_VALUE;
        double h = spec.h();
        for (int c : order) {
            Component comp = comps.get(c);
            int layer = comp.lowestLayer() > 0 ? comp.lowestLayer() : -1; // cacheAt(<= 0) drops the cache
            if (layer != cached) {
                b.cacheAt(layer);
                model.forward(b, base); // the loss at w* through the same path as the perturbed ones
                cached = layer;
            }
            Block[] blocks = comp.blockArray();
            float[] w = readBlocks(blocks);
            for (int j = 0; j < k; j++) {
                float[] v = directions[c][j] != null ? directions[c][j] : direction(c, j, w);
                writeBlocks(blocks, w, v, h);
                model.forward(b, plus);
                writeBlocks(blocks, w, v, -h);
                model.forward(b, minus);
                model.resetParams(blocks);
                int c2 = col0 + (c * k + j) * 2;
                for (int i = 0; i < n; i++) {
                    out[i * dim + c2] = (float) (((double) plus[i] + minus[i] - 2.0 * base[i]) / (h * h));
                    out[i * dim + c2 + 1] = (float) (((double) plus[i] - minus[i]) / (2 * h));
                }
            }
        }
        b.cacheAt(-1);
    }

    /** The component's weights at w*, block rows concatenated. */
    private float[] readBlocks(Block[] blocks) {
        long total = 0;
        for (Block bl : blocks) total += bl.numel();
        if (total > Integer.MAX_VALUE - 8) throw new SpectroException("a component of " + total + " parameters is too large for response features");
        float[] w = new float[(int) total];
        int o = 0;
        for (Block bl : blocks)
            for (long r = 0; r < bl.rows(); r++) {
                float[] row = model.readParams(bl.offset() + r * bl.stride(), (int) bl.cols());
                System.arraycopy(row, 0, w, o, row.length);
                o += row.length;
            }
        return w;
    }

    private void writeBlocks(Block[] blocks, float[] w, float[] v, double s) {
        int o = 0;
        for (Block bl : blocks)
            for (long r = 0; r < bl.rows(); r++) {
                float[] row = new float[(int) bl.cols()];
                for (int i = 0; i < row.length; i++) row[i] = (float) (w[o + i] + s * v[o + i]);
                model.writeParams(bl.offset() + r * bl.stride(), row);
                o += row.length;
            }
    }

    /**
     * Direction j of component c: standard Gaussian entries drawn from (seed, c, j), each block's part scaled
     * to the norm of the block's weights at w* ({@code w}, or read from the model when null).
     */
    private float[] direction(int c, int j, float[] w) {
        Block[] blocks = comps.get(c).blockArray();
        if (w == null) w = readBlocks(blocks);
        float[] v = new float[w.length];
        SplittableRandom rnd = new SplittableRandom(io.spectro.data.SetBuilder.mix(spec.seed(), c, j));
        int o = 0;
        for (Block bl : blocks) {
            int len = (int) bl.numel();
            double gn = 0, wn = 0;
            for (int i = 0; i < len; i++) {
                double g = rnd.nextGaussian();
                v[o + i] = (float) g;
                gn += g * g;
                wn += (double) w[o + i] * w[o + i];
            }
            double s = gn > 0 ? Math.sqrt(wn / gn) : 0;
            for (int i = 0; i < len; i++) v[o + i] = (float) (v[o + i] * s);
            o += len;
        }
        return v;
    }

    /** Features of every sequence of {@code tokens} [rows, T], in batches; {@code progress} advances by sequences. */
    public float[] computeAll(int[] tokens, int rows, int T, io.spectro.util.Progress progress) {
        long total = (long) rows * (T - 1) * dim();
        if (total > Integer.MAX_VALUE - 8)
            throw new SpectroException(rows + " sequences x " + (T - 1) + " tokens x " + dim() + " features do not fit one array; use fewer features");
        float[] out = new float[(int) total];
        int per = sequencesPerBatch(T), rowDim = (T - 1) * dim();
        for (int s0 = 0; s0 < rows; s0 += per) {
            int s1 = Math.min(rows, s0 + per);
            float[] f = compute(java.util.Arrays.copyOfRange(tokens, s0 * T, s1 * T), s1 - s0, T);
            System.arraycopy(f, 0, out, s0 * rowDim, f.length);
            if (progress != null) progress.advance(s1 - s0);
        }
        return out;
    }

    @Override
    public void close() {
        model.close();
    }
}
