package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.io.Npy;
import io.spectro.util.Kernels;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The prediction side of every regressor, in plain Java: standardise the input, a stack of dense
 * layers with ReLU between them, then map back to output units:
 * <pre>
 *   z = (x - xMean) * xScale;   h_{l+1} = relu(W_l h_l + b_l) (no relu after the last);   y = h_L * yScale + yMean
 * </pre>
 * Ridge is the one-layer case; the MLP trained in libtorch is the deeper one, so predicting (and
 * loading) needs no native library and holds no native memory. Dot products go through
 * {@link Kernels#affine} (blocks of 64 rows; every output one chain of fused multiply-adds from the
 * bias in input order, so the Vector API and the scalar fallback give the same bits).
 *
 * <p>Saved as {@value #META} (format, kind, widths, kind-specific facts) and one float32 .npy per
 * tensor; {@link #load} checks every shape against the metadata and refuses non-finite values.
 */
final class DenseNet implements Regressor {
    static final String META = "regressor.json";
    static final String FORMAT = "spectro-regressor/1";
    private static final JsonMapper JSON = JsonMapper.shared();

    private final String kind;
    private final int[] width; // width[0] = input dim, width[L] = output dim
    private final float[] xMean, xScale, yMean, yScale;
    private final float[][] w, b; // w[l]: width[l+1] rows of width[l] (torch.nn.Linear's layout, as saved)
    private final float[][] wt;   // w[l] transposed: width[l] rows of width[l+1] (what the layer kernel reads)
    private final ObjectNode info;

    DenseNet(String kind, int[] width, float[] xMean, float[] xScale, float[][] w, float[][] b, float[] yMean, float[] yScale,
             ObjectNode info) {
        int layers = width.length - 1;
        if (layers < 1 || w.length != layers || b.length != layers) throw new IllegalArgumentException("layer count mismatch");
        for (int v : width) if (v < 1) throw new IllegalArgumentException("non-positive width in " + Arrays.toString(width));
        for (int l = 0; l < layers; l++)
            if (w[l].length != (long) width[l] * width[l + 1] || b[l].length != width[l + 1])
                throw new IllegalArgumentException("layer " + l + " shape mismatch");
        if (xMean.length != width[0] || xScale.length != width[0] || yMean.length != width[layers] || yScale.length != width[layers])
            throw new IllegalArgumentException("standardisation shape mismatch");
        this.kind = kind;
        this.width = width.clone();
        this.xMean = xMean;
        this.xScale = xScale;
        this.w = w;
        this.b = b;
        this.wt = new float[layers][];
        for (int l = 0; l < layers; l++) {
            int in = width[l], out = width[l + 1];
            wt[l] = new float[in * out];
            for (int j = 0; j < out; j++) for (int i = 0; i < in; i++) wt[l][i * out + j] = w[l][j * in + i];
        }
        this.yMean = yMean;
        this.yScale = yScale;
        this.info = info == null ? JSON.createObjectNode() : info;
    }

    @Override
    public String kind() { return kind; }

    @Override
    public int inputDim() { return width[0]; }

    @Override
    public int outputDim() { return width[width.length - 1]; }

    /** Kind-specific facts saved with the model (ridge: the chosen λ and its CV scores; mlp: options and training curve). */
    ObjectNode info() { return info; }

    int layers() { return width.length - 1; }

    /** Rows per block of {@link #predict}: whole tiles for the layer kernel, buffers in L1/L2. */
    private static final int BLOCK = 64;

    @Override
    public void predict(float[] x, int n, float[] y) {
        int dIn = inputDim(), dOut = outputDim(), wide = 0;
        if (n < 0 || (long) n * dIn > x.length || (long) n * dOut > y.length)
            throw new IllegalArgumentException(n + " rows need " + (long) n * dIn + " inputs and " + (long) n * dOut + " outputs, got "
                    + x.length + " and " + y.length);
        for (int v : width) wide = Math.max(wide, v);
        float[] a = new float[BLOCK * wide], c = new float[BLOCK * wide];
        for (int r0 = 0; r0 < n; r0 += BLOCK) {
            int rows = Math.min(BLOCK, n - r0);
            for (int r = 0; r < rows; r++) {
                int xo = (r0 + r) * dIn, zo = r * dIn;
                for (int j = 0; j < dIn; j++) a[zo + j] = (x[xo + j] - xMean[j]) * xScale[j];
            }
            for (int l = 0; l < layers(); l++) {
                Kernels.affine(a, rows, width[l], wt[l], width[l + 1], b[l], c);
                if (l < layers() - 1) for (int i = 0, len = rows * width[l + 1]; i < len; i++) if (c[i] < 0) c[i] = 0;
                float[] t = a;
                a = c;
                c = t;
            }
            for (int r = 0; r < rows; r++) {
                int yo = (r0 + r) * dOut, ho = r * dOut;
                for (int k = 0; k < dOut; k++) y[yo + k] = a[ho + k] * yScale[k] + yMean[k];
            }
        }
    }

    // ---- files ---------------------------------------------------------------------------------

    private List<String> tensorNames() {
        List<String> names = new ArrayList<>(List.of("x_mean.npy", "x_scale.npy"));
        for (int l = 0; l < layers(); l++) {
            names.add("layer" + l + ".weight.npy");
            names.add("layer" + l + ".bias.npy");
        }
        names.addAll(List.of("y_mean.npy", "y_scale.npy"));
        return names;
    }

    private List<float[]> tensors() {
        List<float[]> t = new ArrayList<>(List.of(xMean, xScale));
        for (int l = 0; l < layers(); l++) {
            t.add(w[l]);
            t.add(b[l]);
        }
        t.addAll(List.of(yMean, yScale));
        return t;
    }

    private static long[][] shapes(int[] width) {
        int layers = width.length - 1;
        long[][] s = new long[2 * layers + 4][];
        s[0] = s[1] = new long[]{width[0]};
        for (int l = 0; l < layers; l++) {
            s[2 + 2 * l] = new long[]{width[l + 1], width[l]};
            s[3 + 2 * l] = new long[]{width[l + 1]};
        }
        s[2 * layers + 2] = s[2 * layers + 3] = new long[]{width[layers]};
        return s;
    }

    @Override
    public List<String> save(Path dir) {
        Atomic.createDirectories(dir);
        List<String> names = tensorNames();
        List<float[]> data = tensors();
        long[][] shapes = shapes(width);
        for (int t = 0; t < names.size(); t++) Npy.write(dir.resolve(names.get(t)), data.get(t), shapes[t]);
        ObjectNode meta = JSON.createObjectNode();
        meta.put("format", FORMAT);
        meta.put("kind", kind);
        meta.put("inputDim", inputDim());
        meta.put("outputDim", outputDim());
        ArrayNode wa = meta.putArray("widths");
        for (int v : width) wa.add(v);
        meta.put("activation", "relu");
        meta.set("info", info);
        Atomic.writeString(dir.resolve(META), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(meta) + "\n");
        names.add(META);
        return names;
    }

    /** Reads {@value #META} of {@code dir}: a JSON object with the right format, or a SpectroException naming the file. */
    static JsonNode readMeta(Path dir) {
        Path f = dir.resolve(META);
        JsonNode n;
        try {
            n = JSON.readTree(Files.readAllBytes(f));
        } catch (NoSuchFileException e) {
            throw new SpectroException(f + ": missing (not a saved regressor directory)", e);
        } catch (IOException e) {
            throw new SpectroException(f + ": cannot read (" + IoErrors.describe(e) + ")", e);
        } catch (JacksonException e) {
            throw new SpectroException(f + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
        }
        if (n == null || !n.isObject()) throw new SpectroException(f + ": expected a JSON object");
        if (!FORMAT.equals(n.path("format").asString("")))
            throw new SpectroException(f + ": format is " + n.get("format") + ", expected \"" + FORMAT + "\"");
        if (!n.path("kind").isString()) throw new SpectroException(f + ": missing string field \"kind\"");
        return n;
    }

    /** Reads a model saved by {@link #save}. */
    static DenseNet load(Path dir) {
        JsonNode meta = readMeta(dir);
        Path f = dir.resolve(META);
        JsonNode wn = meta.get("widths");
        if (wn == null || !wn.isArray() || wn.size() < 2 || wn.size() > 64)
            throw new SpectroException(f + ": \"widths\" must be an array of 2 to 64 layer widths");
        int[] width = new int[wn.size()];
        for (int i = 0; i < width.length; i++) {
            JsonNode v = wn.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 1)
                throw new SpectroException(f + ": widths[" + i + "] must be a positive integer, found " + v);
            width[i] = v.intValue();
        }
        if (meta.path("inputDim").asInt(-1) != width[0] || meta.path("outputDim").asInt(-1) != width[width.length - 1])
            throw new SpectroException(f + ": inputDim/outputDim do not match widths " + Arrays.toString(width));
        if (!"relu".equals(meta.path("activation").asString("")))
            throw new SpectroException(f + ": activation " + meta.get("activation") + " is not supported (expected \"relu\")");
        int layers = width.length - 1;
        long[][] shapes = shapes(width);
        float[][] t = new float[shapes.length][];
        String[] names = new String[shapes.length];
        names[0] = "x_mean.npy";
        names[1] = "x_scale.npy";
        for (int l = 0; l < layers; l++) {
            names[2 + 2 * l] = "layer" + l + ".weight.npy";
            names[3 + 2 * l] = "layer" + l + ".bias.npy";
        }
        names[2 * layers + 2] = "y_mean.npy";
        names[2 * layers + 3] = "y_scale.npy";
        for (int i = 0; i < shapes.length; i++) t[i] = readTensor(dir.resolve(names[i]), shapes[i]);
        float[][] w = new float[layers][], b = new float[layers][];
        for (int l = 0; l < layers; l++) {
            w[l] = t[2 + 2 * l];
            b[l] = t[3 + 2 * l];
        }
        ObjectNode info = meta.get("info") instanceof ObjectNode o ? o : JSON.createObjectNode();
        return new DenseNet(meta.get("kind").asString(), width, t[0], t[1], w, b, t[2 * layers + 2], t[2 * layers + 3], info);
    }

    private static float[] readTensor(Path file, long[] shape) {
        if (!Files.isRegularFile(file)) throw new SpectroException(file + ": missing (the regressor's files are incomplete)");
        Npy.Floats a = Npy.readFloats(file);
        if (!Arrays.equals(a.shape(), shape))
            throw new SpectroException(file + ": shape " + Arrays.toString(a.shape()) + ", expected " + Arrays.toString(shape)
                    + " from " + META);
        float[] d = a.data();
        for (int i = 0; i < d.length; i++)
            if (!Float.isFinite(d[i])) throw new SpectroException(file + ": non-finite value " + d[i] + " at flat index " + i);
        return d;
    }
}
