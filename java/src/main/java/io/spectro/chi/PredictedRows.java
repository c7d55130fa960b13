package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.io.Npy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Which rows of a run are predicted by an auxiliary model ({@code spectro upsample apply}) rather than
 * estimated by SGLD (ground truth): {@code RUN/predicted.npy}, uint8 [N] with 1 = predicted, 0 = ground
 * truth, one flag per row of {@code chi.npy}. A run without the file is all ground truth. Combined runs
 * ({@code spectro upsample combine}) carry both kinds. docs/upsampling.md, "Predicted runs".
 *
 * <p>Heap: one byte per row (chi.npy itself holds 4·H bytes per row and is memory-mapped).
 */
public final class PredictedRows {
    /** The file's name in a run directory. */
    public static final String FILE = "predicted.npy";

    private final byte[] flags;
    private final int predicted;
    private final boolean present;

    private PredictedRows(byte[] flags, int predicted, boolean present) {
        this.flags = flags;
        this.predicted = predicted;
        this.present = present;
    }

    /** All ground truth: what a run without predicted.npy has. */
    public static PredictedRows none(int rows) {
        return new PredictedRows(new byte[rows], 0, false);
    }

    /** The flags of {@code runDir}, checked against the row count of its {@code chi.npy}. */
    public static PredictedRows read(Path runDir) {
        Path chi = runDir.resolve("chi.npy");
        if (!Files.isRegularFile(chi)) throw new SpectroException(runDir + ": no chi.npy in the run directory");
        long[] shape = Npy.info(chi).shape();
        if (shape.length != 2) throw new SpectroException(chi + ": expected a 2-D array [rows, components], got shape " + Arrays.toString(shape));
        if (shape[0] > Integer.MAX_VALUE) throw new SpectroException(chi + ": " + shape[0] + " rows are more than int can count");
        return read(runDir, (int) shape[0]);
    }

    /**
     * The flags of {@code runDir} for a chi.npy of {@code rows} rows: all 0 when predicted.npy is absent;
     * refused (naming the file) when it is not a 1-D one-byte array of exactly {@code rows} 0/1 values.
     */
    public static PredictedRows read(Path runDir, int rows) {
        Path f = runDir.resolve(FILE);
        if (!Files.exists(f)) return none(rows);
        if (!Files.isRegularFile(f)) throw new SpectroException(f + ": not a regular file");
        Npy.Info info = Npy.info(f);
        if (info.itemSize() != 1 || info.descr().endsWith("f1"))
            throw new SpectroException(f + ": dtype " + info.descr() + ", expected |u1 (one byte per row: 1 predicted, 0 ground truth)");
        if (info.shape().length != 1)
            throw new SpectroException(f + ": expected a 1-D array of one flag per row, got shape " + Arrays.toString(info.shape()));
        if (info.shape()[0] != rows)
            throw new SpectroException(f + ": has " + info.shape()[0] + " flags, chi.npy has " + rows + " rows (one flag per row expected)");
        byte[] b = Npy.readBytes(f, 0, rows);
        int p = 0;
        for (int r = 0; r < rows; r++) {
            if (b[r] == 1) p++;
            else if (b[r] != 0)
                throw new SpectroException(f + ": row " + r + " holds " + (b[r] & 0xff) + ", expected 0 (ground truth) or 1 (predicted)");
        }
        return new PredictedRows(b, p, true);
    }

    /** Writes {@code flags} (0/1 per row) as dir/predicted.npy through a temporary and a rename. */
    public static void write(Path dir, byte[] flags) {
        try (Npy.Writer w = Npy.Writer.create(dir.resolve(FILE), "|u1", flags.length)) {
            w.put(0, java.nio.ByteBuffer.wrap(flags));
            w.commit();
        }
    }

    /** Whether the run has a predicted.npy (a run without one is all ground truth). */
    public boolean present() { return present; }

    public int rows() { return flags.length; }

    public boolean isPredicted(int row) { return flags[row] == 1; }

    public int predictedCount() { return predicted; }

    public int groundTruthCount() { return flags.length - predicted; }

    /** How many of {@code members} are predicted. */
    public int countPredicted(int[] members) {
        int n = 0;
        for (int r : members) if (flags[r] == 1) n++;
        return n;
    }

    /** The ground-truth rows as half-open ranges {s0, e0, s1, e1, ...} in row order (runs of 0 flags). */
    public int[] groundTruthRanges() {
        int[] out = new int[16];
        int k = 0;
        for (int r = 0; r < flags.length; ) {
            while (r < flags.length && flags[r] == 1) r++;
            if (r == flags.length) break;
            int s = r;
            while (r < flags.length && flags[r] == 0) r++;
            if (k + 2 > out.length) out = Arrays.copyOf(out, out.length * 2);
            out[k++] = s;
            out[k++] = r;
        }
        return Arrays.copyOf(out, k);
    }
}
