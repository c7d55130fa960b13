package io.spectro.util;

import io.spectro.SpectroException;

import java.util.ArrayList;
import java.util.List;

/**
 * Row-major float vectors read a block of rows at a time: on the heap ({@link Vectors}) or mapped from a
 * .npy file ({@link MappedVectors}). Code written against this reads the same values in the same order
 * either way, so its results are bit-identical whichever holds the data.
 */
public interface Rows {
    int rows();

    int cols();

    /** Copies rows [r0, r1) into dst[0 .. (r1-r0)*cols). */
    void copy(int r0, int r1, float[] dst);

    /** Rows per block for a streamed pass: about 1 MiB of floats. */
    default int blockRows() {
        return Math.max(1, Math.min(rows(), (1 << 18) / Math.max(1, cols())));
    }

    /** Throws a SpectroException naming {@code what} and the first rows holding NaN or infinite values. */
    default void requireFinite(String what) {
        int n = rows(), h = cols(), br = blockRows();
        float[] buf = new float[br * h];
        List<Integer> bad = new ArrayList<>();
        int count = 0;
        for (int r0 = 0; r0 < n; r0 += br) {
            int r1 = Math.min(n, r0 + br);
            copy(r0, r1, buf);
            for (int r = r0; r < r1; r++) {
                int o = (r - r0) * h;
                for (int c = 0; c < h; c++) {
                    if (!Float.isFinite(buf[o + c])) {
                        if (bad.size() < 20) bad.add(r);
                        count++;
                        break;
                    }
                }
            }
        }
        if (count > 0)
            throw new SpectroException(what + ": " + count + " row(s) hold NaN or infinite values, rows " + bad
                    + (count > bad.size() ? " and " + (count - bad.size()) + " more" : "")
                    + " (0-based); drop or repair them first");
    }
}
