package io.spectro.util;

import java.util.Arrays;

/**
 * A subset of another {@link Rows}' rows, in order, given as half-open ranges {s0, e0, s1, e1, ...}:
 * row i of the view is the i-th selected row of the base. Reads go to the base range by range (a
 * mapped file stays mapped), so a streamed pass over the view costs what a pass over a file holding
 * only those rows would, and reads the same values in the same order (whitening fit on ground-truth
 * rows only: the same bits as fitting a file of those rows alone). Heap: the ranges.
 */
public final class SelectedRows implements Rows {
    private final Rows base;
    private final int[] ranges;
    private final int[] start; // view index of each range's first row; start[k] = rows
    private final int rows;

    public SelectedRows(Rows base, int[] ranges) {
        if (ranges.length % 2 != 0) throw new IllegalArgumentException("ranges must come in pairs, got " + ranges.length + " values");
        this.base = base;
        this.ranges = ranges.clone();
        int k = ranges.length / 2;
        this.start = new int[k + 1];
        long n = 0;
        for (int i = 0, prev = 0; i < k; i++) {
            int s = ranges[2 * i], e = ranges[2 * i + 1];
            if (s < prev || e < s || e > base.rows())
                throw new IllegalArgumentException("range [" + s + ", " + e + ") out of order or outside [0, " + base.rows() + ")");
            start[i] = (int) n;
            n += e - s;
            prev = e;
        }
        start[k] = (int) n;
        this.rows = (int) n;
    }

    @Override public int rows() { return rows; }

    @Override public int cols() { return base.cols(); }

    @Override
    public void copy(int r0, int r1, float[] dst) {
        if (r0 < 0 || r1 > rows || r1 < r0) throw new IndexOutOfBoundsException("rows [" + r0 + ", " + r1 + ") of " + rows);
        int h = base.cols();
        int k = Arrays.binarySearch(start, 0, start.length - 1, r0);
        if (k < 0) k = -k - 2;
        while (k + 1 < start.length - 1 && start[k + 1] == r0) k++; // skip empty ranges
        int done = 0;
        for (int r = r0; r < r1; k++) {
            int off = r - start[k], avail = ranges[2 * k + 1] - ranges[2 * k] - off;
            if (avail <= 0) continue;
            int len = Math.min(avail, r1 - r);
            int b0 = ranges[2 * k] + off;
            if (done == 0 && len == r1 - r0) {
                base.copy(b0, b0 + len, dst);
                return;
            }
            float[] tmp = new float[len * h];
            base.copy(b0, b0 + len, tmp);
            System.arraycopy(tmp, 0, dst, done * h, len * h);
            done += len;
            r += len;
        }
    }
}
