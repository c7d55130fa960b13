package io.spectro.util;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/** Vector API bodies of {@link Kernels}; loaded only when the incubator module is present. */
final class VectorKernels {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private VectorKernels() {}

    static int lanes() { return S.length(); }

    /**
     * The lanes' sum in lane order. {@code reduceLanes(ADD)} leaves the order open, and interpreted and
     * JIT-compiled code sum in different orders: the same input then gave results differing in the last
     * bit within one process (whitening, kNN lists), so nothing built on these kernels was reproducible.
     */
    private static float sum(FloatVector v) {
        float s = v.lane(0);
        for (int i = 1; i < v.length(); i++) s += v.lane(i);
        return s;
    }

    static float dot(float[] a, int ao, float[] b, int bo, int d) {
        int l = S.length(), up = S.loopBound(d), i = 0;
        FloatVector acc0 = FloatVector.zero(S), acc1 = FloatVector.zero(S);
        for (; i + l < up; i += 2 * l) {
            acc0 = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc0);
            acc1 = FloatVector.fromArray(S, a, ao + i + l).fma(FloatVector.fromArray(S, b, bo + i + l), acc1);
        }
        for (; i < up; i += l) acc0 = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc0);
        float s = sum(acc0.add(acc1));
        for (; i < d; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    static float sqdist(float[] a, int ao, float[] b, int bo, int d) {
        int l = S.length(), up = S.loopBound(d), i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; i < up; i += l) {
            FloatVector x = FloatVector.fromArray(S, a, ao + i).sub(FloatVector.fromArray(S, b, bo + i));
            acc = x.fma(x, acc);
        }
        float s = sum(acc);
        for (; i < d; i++) {
            float x = a[ao + i] - b[bo + i];
            s += x * x;
        }
        return s;
    }

    /**
     * Squared distances of row a to four rows of b (array offsets): each the bits of
     * {@link #sqdist(float[], int, float[], int, int)}, the four chains interleaved so their random loads overlap.
     */
    static void sqdist4(float[] a, int ao, float[] b, int b0, int b1, int b2, int b3, int d, float[] out, int oo) {
        int l = S.length(), up = S.loopBound(d), i = 0;
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S), c2 = FloatVector.zero(S), c3 = FloatVector.zero(S);
        for (; i < up; i += l) {
            FloatVector x = FloatVector.fromArray(S, a, ao + i);
            FloatVector y0 = x.sub(FloatVector.fromArray(S, b, b0 + i)), y1 = x.sub(FloatVector.fromArray(S, b, b1 + i));
            FloatVector y2 = x.sub(FloatVector.fromArray(S, b, b2 + i)), y3 = x.sub(FloatVector.fromArray(S, b, b3 + i));
            c0 = y0.fma(y0, c0);
            c1 = y1.fma(y1, c1);
            c2 = y2.fma(y2, c2);
            c3 = y3.fma(y3, c3);
        }
        float s0 = sum(c0), s1 = sum(c1), s2 = sum(c2), s3 = sum(c3);
        for (; i < d; i++) {
            float x = a[ao + i], y0 = x - b[b0 + i], y1 = x - b[b1 + i], y2 = x - b[b2 + i], y3 = x - b[b3 + i];
            s0 += y0 * y0;
            s1 += y1 * y1;
            s2 += y2 * y2;
            s3 += y3 * y3;
        }
        out[oo] = s0;
        out[oo + 1] = s1;
        out[oo + 2] = s2;
        out[oo + 3] = s3;
    }

    /** Kernels.affine: tiles of 4 rows × 2 vectors of outputs, 8 accumulators, FMAs in the order of i. */
    static void affine(float[] in, int rows, int d, float[] wt, int m, float[] b, float[] out) {
        int l = S.length(), cols = m - m % (2 * l), r4 = rows - rows % 4;
        for (int r = 0; r < r4; r += 4) {
            int x0 = r * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d;
            for (int j = 0; j < cols; j += 2 * l) {
                FloatVector bl = FloatVector.fromArray(S, b, j), bh = FloatVector.fromArray(S, b, j + l);
                FloatVector a0 = bl, a1 = bh, a2 = bl, a3 = bh, a4 = bl, a5 = bh, a6 = bl, a7 = bh;
                for (int i = 0, wo = j; i < d; i++, wo += m) {
                    FloatVector wl = FloatVector.fromArray(S, wt, wo), wh = FloatVector.fromArray(S, wt, wo + l);
                    FloatVector x = FloatVector.broadcast(S, in[x0 + i]);
                    a0 = x.fma(wl, a0);
                    a1 = x.fma(wh, a1);
                    x = FloatVector.broadcast(S, in[x1 + i]);
                    a2 = x.fma(wl, a2);
                    a3 = x.fma(wh, a3);
                    x = FloatVector.broadcast(S, in[x2 + i]);
                    a4 = x.fma(wl, a4);
                    a5 = x.fma(wh, a5);
                    x = FloatVector.broadcast(S, in[x3 + i]);
                    a6 = x.fma(wl, a6);
                    a7 = x.fma(wh, a7);
                }
                int o = r * m + j;
                a0.intoArray(out, o);
                a1.intoArray(out, o + l);
                a2.intoArray(out, o + m);
                a3.intoArray(out, o + m + l);
                a4.intoArray(out, o + 2 * m);
                a5.intoArray(out, o + 2 * m + l);
                a6.intoArray(out, o + 3 * m);
                a7.intoArray(out, o + 3 * m + l);
            }
            if (cols < m) Kernels.scalarAffine(in, r, r + 4, d, wt, m, cols, m, b, out);
        }
        if (r4 < rows) Kernels.scalarAffine(in, r4, rows, d, wt, m, 0, m, b, out);
    }

    // ---- memory-segment versions (byte offsets); the same lane operations in the same order as above ----

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private static FloatVector load(MemorySegment s, long o) {
        return FloatVector.fromMemorySegment(S, s, o, LE);
    }

    private static float at(MemorySegment s, long o, int i) {
        return s.get(Kernels.F32, o + 4L * i);
    }

    static float dot(MemorySegment a, long ao, MemorySegment b, long bo, int d) {
        int l = S.length(), up = S.loopBound(d), i = 0;
        FloatVector acc0 = FloatVector.zero(S), acc1 = FloatVector.zero(S);
        for (; i + l < up; i += 2 * l) {
            acc0 = load(a, ao + 4L * i).fma(load(b, bo + 4L * i), acc0);
            acc1 = load(a, ao + 4L * (i + l)).fma(load(b, bo + 4L * (i + l)), acc1);
        }
        for (; i < up; i += l) acc0 = load(a, ao + 4L * i).fma(load(b, bo + 4L * i), acc0);
        float s = sum(acc0.add(acc1));
        for (; i < d; i++) s += at(a, ao, i) * at(b, bo, i);
        return s;
    }

    static void dot4(MemorySegment a, long ao, MemorySegment b, long b0, long b1, long b2, long b3, int d, float[] out,
                     int oo) {
        int l = S.length(), up = S.loopBound(d), i = 0;
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S), c2 = FloatVector.zero(S), c3 = FloatVector.zero(S);
        for (; i < up; i += l) {
            long o = 4L * i;
            FloatVector x = load(a, ao + o);
            c0 = x.fma(load(b, b0 + o), c0);
            c1 = x.fma(load(b, b1 + o), c1);
            c2 = x.fma(load(b, b2 + o), c2);
            c3 = x.fma(load(b, b3 + o), c3);
        }
        float s0 = sum(c0), s1 = sum(c1);
        float s2 = sum(c2), s3 = sum(c3);
        for (; i < d; i++) {
            float x = at(a, ao, i);
            s0 += x * at(b, b0, i);
            s1 += x * at(b, b1, i);
            s2 += x * at(b, b2, i);
            s3 += x * at(b, b3, i);
        }
        out[oo] = s0;
        out[oo + 1] = s1;
        out[oo + 2] = s2;
        out[oo + 3] = s3;
    }

    static float sqdist(MemorySegment a, long ao, MemorySegment b, long bo, int d) {
        int l = S.length(), up = S.loopBound(d), i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; i < up; i += l) {
            FloatVector x = load(a, ao + 4L * i).sub(load(b, bo + 4L * i));
            acc = x.fma(x, acc);
        }
        float s = sum(acc);
        for (; i < d; i++) {
            float x = at(a, ao, i) - at(b, bo, i);
            s += x * x;
        }
        return s;
    }

    /** {@link #sqdist(float[], int, float[], int, int)} with b in a segment (byte offset bo): half the checked loads. */
    static float sqdist(float[] a, int ao, MemorySegment b, long bo, int d) {
        int l = S.length(), up = S.loopBound(d), i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; i < up; i += l) {
            FloatVector x = FloatVector.fromArray(S, a, ao + i).sub(load(b, bo + 4L * i));
            acc = x.fma(x, acc);
        }
        float s = sum(acc);
        for (; i < d; i++) {
            float x = a[ao + i] - at(b, bo, i);
            s += x * x;
        }
        return s;
    }

    /** {@link #sqdist4(float[], int, float[], int, int, int, int, int, float[], int)} with b in a segment (byte offsets). */
    static void sqdist4(float[] a, int ao, MemorySegment b, long b0, long b1, long b2, long b3, int d, float[] out, int oo) {
        int l = S.length(), up = S.loopBound(d), i = 0;
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S), c2 = FloatVector.zero(S), c3 = FloatVector.zero(S);
        for (; i < up; i += l) {
            long o = 4L * i;
            FloatVector x = FloatVector.fromArray(S, a, ao + i);
            FloatVector y0 = x.sub(load(b, b0 + o)), y1 = x.sub(load(b, b1 + o));
            FloatVector y2 = x.sub(load(b, b2 + o)), y3 = x.sub(load(b, b3 + o));
            c0 = y0.fma(y0, c0);
            c1 = y1.fma(y1, c1);
            c2 = y2.fma(y2, c2);
            c3 = y3.fma(y3, c3);
        }
        float s0 = sum(c0), s1 = sum(c1), s2 = sum(c2), s3 = sum(c3);
        for (; i < d; i++) {
            float x = a[ao + i], y0 = x - at(b, b0, i), y1 = x - at(b, b1, i), y2 = x - at(b, b2, i), y3 = x - at(b, b3, i);
            s0 += y0 * y0;
            s1 += y1 * y1;
            s2 += y2 * y2;
            s3 += y3 * y3;
        }
        out[oo] = s0;
        out[oo + 1] = s1;
        out[oo + 2] = s2;
        out[oo + 3] = s3;
    }
}
