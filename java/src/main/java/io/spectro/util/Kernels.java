package io.spectro.util;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Distance kernels with a Vector API implementation and a scalar fallback. The Vector API is used
 * when the {@code jdk.incubator.vector} module is present and {@code -Dspectro.vector=false} is not
 * set.
 */
public final class Kernels {
    private static final boolean VECTOR = detect();

    private Kernels() {}

    private static boolean detect() {
        if ("false".equalsIgnoreCase(System.getProperty("spectro.vector"))) return false;
        try {
            return VectorKernels.lanes() >= 4;
        } catch (Throwable t) {
            return false;
        }
    }

    /** Whether the Vector API kernels are in use. */
    public static boolean vectorized() { return VECTOR; }

    public static float dot(float[] a, int ao, float[] b, int bo, int d) {
        return VECTOR ? VectorKernels.dot(a, ao, b, bo, d) : scalarDot(a, ao, b, bo, d);
    }

    /** Squared Euclidean distance. */
    public static float sqdist(float[] a, int ao, float[] b, int bo, int d) {
        return VECTOR ? VectorKernels.sqdist(a, ao, b, bo, d) : scalarSqdist(a, ao, b, bo, d);
    }

    // ---- the same kernels over float32 rows in memory segments (mapped files, off-heap scratch), byte offsets ----
    // Same operations in the same order as the array versions, so both give bit-identical results.

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public static float dot(MemorySegment a, long ao, MemorySegment b, long bo, int d) {
        return VECTOR ? VectorKernels.dot(a, ao, b, bo, d) : scalarDot(a, ao, b, bo, d);
    }

    /** Dot products of one row of {@code a} with four rows of {@code b} (byte offsets); results to out[oo..oo+3]. */
    public static void dot4(MemorySegment a, long ao, MemorySegment b, long b0, long b1, long b2, long b3, int d,
                            float[] out, int oo) {
        if (VECTOR) {
            VectorKernels.dot4(a, ao, b, b0, b1, b2, b3, d, out, oo);
        } else {
            out[oo] = scalarDot(a, ao, b, b0, d);
            out[oo + 1] = scalarDot(a, ao, b, b1, d);
            out[oo + 2] = scalarDot(a, ao, b, b2, d);
            out[oo + 3] = scalarDot(a, ao, b, b3, d);
        }
    }

    public static float sqdist(MemorySegment a, long ao, MemorySegment b, long bo, int d) {
        return VECTOR ? VectorKernels.sqdist(a, ao, b, bo, d) : scalarSqdist(a, ao, b, bo, d);
    }

    /**
     * A dense layer over a block of rows: {@code out[r*m + j] = b[j] + Σ_i in[r*d + i] · wt[i*m + j]} for
     * r < rows, j < m ({@code wt} is the transposed weight, d × m). Every output is one chain of fused
     * multiply-adds in the order of i starting from the bias, in both implementations, so the Vector API
     * and the scalar fallback give the same bits (no lane reductions).
     */
    public static void affine(float[] in, int rows, int d, float[] wt, int m, float[] b, float[] out) {
        if (VECTOR) VectorKernels.affine(in, rows, d, wt, m, b, out);
        else scalarAffine(in, 0, rows, d, wt, m, 0, m, b, out);
    }

    /** {@link #affine} for rows [r0, r1) and columns [j0, j1). */
    static void scalarAffine(float[] in, int r0, int r1, int d, float[] wt, int m, int j0, int j1, float[] b, float[] out) {
        for (int r = r0; r < r1; r++) {
            int ro = r * d;
            for (int j = j0; j < j1; j++) {
                float s = b[j];
                for (int i = 0; i < d; i++) s = Math.fma(in[ro + i], wt[i * m + j], s);
                out[r * m + j] = s;
            }
        }
    }

    /** Squared distance of an array row and a segment row (byte offset bo); the same bits as the other forms. */
    public static float sqdist(float[] a, int ao, MemorySegment b, long bo, int d) {
        if (VECTOR) return VectorKernels.sqdist(a, ao, b, bo, d);
        float s0 = 0, s1 = 0;
        int i = 0;
        for (; i + 1 < d; i += 2) {
            float x = a[ao + i] - f(b, bo, i), y = a[ao + i + 1] - f(b, bo, i + 1);
            s0 += x * x;
            s1 += y * y;
        }
        for (; i < d; i++) {
            float x = a[ao + i] - f(b, bo, i);
            s0 += x * x;
        }
        return s0 + s1;
    }

    /**
     * Squared distances of row a to four rows of b, out[oo + t] = sqdist(a, ao, b, bt, d): the same bits as four
     * {@link #sqdist(float[], int, float[], int, int)} calls (the four loads interleaved).
     */
    public static void sqdist4(float[] a, int ao, float[] b, int b0, int b1, int b2, int b3, int d, float[] out, int oo) {
        if (VECTOR) {
            VectorKernels.sqdist4(a, ao, b, b0, b1, b2, b3, d, out, oo);
        } else {
            out[oo] = scalarSqdist(a, ao, b, b0, d);
            out[oo + 1] = scalarSqdist(a, ao, b, b1, d);
            out[oo + 2] = scalarSqdist(a, ao, b, b2, d);
            out[oo + 3] = scalarSqdist(a, ao, b, b3, d);
        }
    }

    /** {@link #sqdist4(float[], int, float[], int, int, int, int, int, float[], int)} with b in a segment (byte offsets); the same bits. */
    public static void sqdist4(float[] a, int ao, MemorySegment b, long b0, long b1, long b2, long b3, int d, float[] out, int oo) {
        if (VECTOR) {
            VectorKernels.sqdist4(a, ao, b, b0, b1, b2, b3, d, out, oo);
        } else {
            out[oo] = sqdist(a, ao, b, b0, d);
            out[oo + 1] = sqdist(a, ao, b, b1, d);
            out[oo + 2] = sqdist(a, ao, b, b2, d);
            out[oo + 3] = sqdist(a, ao, b, b3, d);
        }
    }

    static float scalarDot(MemorySegment a, long ao, MemorySegment b, long bo, int d) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < d; i += 4) {
            s0 += f(a, ao, i) * f(b, bo, i);
            s1 += f(a, ao, i + 1) * f(b, bo, i + 1);
            s2 += f(a, ao, i + 2) * f(b, bo, i + 2);
            s3 += f(a, ao, i + 3) * f(b, bo, i + 3);
        }
        for (; i < d; i++) s0 += f(a, ao, i) * f(b, bo, i);
        return (s0 + s1) + (s2 + s3);
    }

    static float scalarSqdist(MemorySegment a, long ao, MemorySegment b, long bo, int d) {
        float s0 = 0, s1 = 0;
        int i = 0;
        for (; i + 1 < d; i += 2) {
            float x = f(a, ao, i) - f(b, bo, i), y = f(a, ao, i + 1) - f(b, bo, i + 1);
            s0 += x * x;
            s1 += y * y;
        }
        for (; i < d; i++) {
            float x = f(a, ao, i) - f(b, bo, i);
            s0 += x * x;
        }
        return s0 + s1;
    }

    private static float f(MemorySegment s, long base, int i) {
        return s.get(F32, base + 4L * i);
    }

    public static float scalarDot(float[] a, int ao, float[] b, int bo, int d) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < d; i += 4) {
            s0 += a[ao + i] * b[bo + i];
            s1 += a[ao + i + 1] * b[bo + i + 1];
            s2 += a[ao + i + 2] * b[bo + i + 2];
            s3 += a[ao + i + 3] * b[bo + i + 3];
        }
        for (; i < d; i++) s0 += a[ao + i] * b[bo + i];
        return (s0 + s1) + (s2 + s3);
    }

    public static float scalarSqdist(float[] a, int ao, float[] b, int bo, int d) {
        float s0 = 0, s1 = 0;
        int i = 0;
        for (; i + 1 < d; i += 2) {
            float x = a[ao + i] - b[bo + i], y = a[ao + i + 1] - b[bo + i + 1];
            s0 += x * x;
            s1 += y * y;
        }
        for (; i < d; i++) {
            float x = a[ao + i] - b[bo + i];
            s0 += x * x;
        }
        return s0 + s1;
    }
}
