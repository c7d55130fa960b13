package io.spectro.model;

import io.spectro.SpectroException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The canonical order, names, shapes and float offsets of the tensors in the flat parameter
 * buffer, exactly as native/include/spectro.h documents them (HF GPT-NeoX names).
 */
public final class ParamLayout {
    /** Tensors per transformer layer. */
    public static final int PER_LAYER = 12;
    /** Offsets of the tensors of one layer relative to {@link #layerBase(int)}. */
    public static final int LN1_W = 0, LN1_B = 1, LN2_W = 2, LN2_B = 3, QKV_W = 4, QKV_B = 5,
            DENSE_W = 6, DENSE_B = 7, FC_IN_W = 8, FC_IN_B = 9, FC_OUT_W = 10, FC_OUT_B = 11;
    private static final String[] LAYER_NAMES = {
            "input_layernorm.weight", "input_layernorm.bias",
            "post_attention_layernorm.weight", "post_attention_layernorm.bias",
            "attention.query_key_value.weight", "attention.query_key_value.bias",
            "attention.dense.weight", "attention.dense.bias",
            "mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias",
            "mlp.dense_4h_to_h.weight", "mlp.dense_4h_to_h.bias"};

    /** One tensor: canonical index, HF name, shape ([rows, cols] or [n]), float offset, element count. */
    public record Tensor(int index, String name, long[] shape, long offset, long numel) {
        public Tensor {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public String shapeString() {
            return Arrays.toString(shape);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Tensor t && t.index == index && t.name.equals(name) && Arrays.equals(t.shape, shape)
                    && t.offset == offset && t.numel == numel;
        }

        @Override
        public int hashCode() {
            return name.hashCode() * 31 + Long.hashCode(offset);
        }

        @Override
        public String toString() {
            return name + Arrays.toString(shape) + "@" + offset;
        }
    }

    private final ModelConfig config;
    private final List<Tensor> tensors;
    private final Map<String, Tensor> byName;
    private final long total;

    private ParamLayout(ModelConfig c) {
        this.config = c;
        long d = c.dModel(), f = c.dFf(), v = c.vocabSize();
        List<Tensor> list = new ArrayList<>(4 + PER_LAYER * c.nLayers());
        long[] off = {0};
        java.util.function.BiConsumer<String, long[]> add = (name, shape) -> {
            long n = 1;
            for (long s : shape) n *= s;
            list.add(new Tensor(list.size(), name, shape, off[0], n));
            off[0] += n;
        };
        add.accept("gpt_neox.embed_in.weight", new long[]{v, d});
        for (int l = 0; l < c.nLayers(); l++) {
            String p = "gpt_neox.layers." + l + ".";
            long[][] shapes = {{d}, {d}, {d}, {d}, {3 * d, d}, {3 * d}, {d, d}, {d}, {f, d}, {f}, {d, f}, {d}};
            for (int k = 0; k < PER_LAYER; k++) add.accept(p + LAYER_NAMES[k], shapes[k]);
        }
        add.accept("gpt_neox.final_layer_norm.weight", new long[]{d});
        add.accept("gpt_neox.final_layer_norm.bias", new long[]{d});
        add.accept("embed_out.weight", new long[]{v, d});
        this.tensors = Collections.unmodifiableList(list);
        Map<String, Tensor> m = new HashMap<>();
        for (Tensor t : list) m.put(t.name(), t);
        this.byName = m;
        this.total = off[0];
        if (total != c.paramCount()) throw new IllegalStateException("layout total " + total + " != paramCount " + c.paramCount());
    }

    public static ParamLayout of(ModelConfig c) {
        return new ParamLayout(c);
    }

    public ModelConfig config() {
        return config;
    }

    public int tensorCount() {
        return tensors.size();
    }

    public Tensor tensor(int i) {
        return tensors.get(i);
    }

    /** The tensor with this HF name; SpectroException when there is none. */
    public Tensor tensor(String hfName) {
        Tensor t = byName.get(hfName);
        if (t == null) throw new SpectroException("no tensor named '" + hfName + "' in a model with " + config.nLayers() + " layers");
        return t;
    }

    /** The tensor with this HF name, or null. */
    public Tensor find(String hfName) {
        return byName.get(hfName);
    }

    public List<Tensor> tensors() {
        return tensors;
    }

    /** Total float count (== config().paramCount()). */
    public long total() {
        return total;
    }

    /** Canonical index of the first tensor of layer l (1 + 12 l). */
    public int layerBase(int l) {
        if (l < 0 || l >= config.nLayers()) throw new IndexOutOfBoundsException("layer " + l);
        return 1 + PER_LAYER * l;
    }

    /** The tensor {@code layerBase(l) + which}, e.g. {@code layer(3, QKV_W)}. */
    public Tensor layer(int l, int which) {
        return tensors.get(layerBase(l) + which);
    }

    public Tensor embedIn() {
        return tensors.getFirst();
    }

    public Tensor finalLnWeight() {
        return tensors.get(1 + PER_LAYER * config.nLayers());
    }

    public Tensor finalLnBias() {
        return tensors.get(2 + PER_LAYER * config.nLayers());
    }

    public Tensor embedOut() {
        return tensors.getLast();
    }

    /** The float offsets of all tensors, in canonical order (what sp_param_offsets returns). */
    public long[] offsets() {
        return tensors.stream().mapToLong(Tensor::offset).toArray();
    }
}
