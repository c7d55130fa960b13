package io.spectro.util;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

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

    static void dot4(float[] a, int ao, float[] b, int b0, int b1, int b2, int b3, int d, float[] out, int oo) {
        int l = S.length(), up = S.loopBound(d), i = 0;
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S), c2 = FloatVector.zero(S), c3 = FloatVector.zero(S);
        for (; i < up; i += l) {
            FloatVector x = FloatVector.fromArray(S, a, ao + i);
            c0 = x.fma(FloatVector.fromArray(S, b, b0 + i), c0);
            c1 = x.fma(FloatVector.fromArray(S, b, b1 + i), c1);
            c2 = x.fma(FloatVector.fromArray(S, b, b2 + i), c2);
            c3 = x.fma(FloatVector.fromArray(S, b, b3 + i), c3);
        }
        float s0 = sum(c0), s1 = sum(c1);
        float s2 = sum(c2), s3 = sum(c3);
        for (; i < d; i++) {
            float x = a[ao + i];
            s0 += x * b[b0 + i];
            s1 += x * b[b1 + i];
            s2 += x * b[b2 + i];
            s3 += x * b[b3 + i];
        }
        out[oo] = s0;
        out[oo + 1] = s1;
        out[oo + 2] = s2;
        out[oo + 3] = s3;
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
}
