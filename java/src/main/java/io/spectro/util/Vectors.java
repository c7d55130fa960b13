package io.spectro.util;

import io.spectro.SpectroException;
import io.spectro.io.Npy;

import java.nio.file.Path;

/**
 * A dense row-major float matrix: {@code rows} vectors of {@code cols} values each. The data array
 * is shared, not copied.
 */
public record Vectors(float[] data, int rows, int cols) implements Rows {
    public Vectors {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("negative shape " + rows + "x" + cols);
        if ((long) rows * cols != data.length)
            throw new IllegalArgumentException("data of length " + data.length + " is not " + rows + "x" + cols);
    }

    public static Vectors zeros(int rows, int cols) {
        return new Vectors(new float[Math.multiplyExact(rows, cols)], rows, cols);
    }

    public float get(int r, int c) { return data[r * cols + c]; }

    public int offset(int r) { return r * cols; }

    public float[] row(int r) {
        float[] out = new float[cols];
        System.arraycopy(data, r * cols, out, 0, cols);
        return out;
    }

    /**
     * Reads a 2-D float32 .npy file and checks it: two dimensions, at least one row and column, no
     * NaN or infinite values (the message lists the offending rows).
     */
    public static Vectors read(Path file) {
        Npy.Floats f = Npy.readFloats(file);
        if (f.shape().length != 2)
            throw new SpectroException(file + ": expected a 2-D array [rows, components], got shape "
                    + java.util.Arrays.toString(f.shape()));
        Vectors v = new Vectors(f.data(), f.dim(0), f.dim(1));
        v.requireFinite(file.toString());
        if (v.rows == 0 || v.cols == 0)
            throw new SpectroException(file + ": empty array of shape " + v.rows + "x" + v.cols);
        return v;
    }

    @Override
    public void copy(int r0, int r1, float[] dst) {
        System.arraycopy(data, r0 * cols, dst, 0, (r1 - r0) * cols);
    }
}
