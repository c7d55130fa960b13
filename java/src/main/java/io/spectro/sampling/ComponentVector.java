package io.spectro.sampling;

import io.spectro.components.Component;
import io.spectro.model.Block;
import io.spectro.nativeabi.NativeModel;

/**
 * A component's parameters (or gradients) as one flat float vector: its blocks in order, each row after
 * row. Used to keep a chain's weights between rounds, for the force ratio and for Hessian-vector products.
 */
public final class ComponentVector {
    private ComponentVector() {}

    /** Reads n floats at an offset of the flat parameter (or gradient) buffer. */
    public interface Reader {
        float[] read(long offset, int n);
    }

    /** The component's values from {@code r} (e.g. {@code model::readParams}, {@code model::readGrads}). */
    public static float[] gather(Component comp, Reader r) {
        long numel = comp.numel();
        if (numel > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("component " + comp.name() + " of " + numel + " floats: too large for one vector");
        float[] out = new float[(int) numel];
        int at = 0;
        for (Block b : comp.blocks())
            for (long row = 0; row < b.rows(); row++) {
                float[] v = r.read(b.offset() + row * b.stride(), (int) b.cols());
                System.arraycopy(v, 0, out, at, v.length);
                at += v.length;
            }
        return out;
    }

    /** Writes the component's weights in the layout of {@link #gather}. */
    public static void scatter(NativeModel model, Component comp, float[] w) {
        int at = 0;
        for (Block b : comp.blocks())
            for (long row = 0; row < b.rows(); row++) {
                model.writeParams(b.offset() + row * b.stride(), java.util.Arrays.copyOfRange(w, at, at + (int) b.cols()));
                at += (int) b.cols();
            }
    }
}
