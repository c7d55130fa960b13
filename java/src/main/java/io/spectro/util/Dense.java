package io.spectro.util;

/**
 * Sequential dot products and norms of small dense vectors in double, summed in index order (so every caller gets
 * the same bits as a plain loop): the conjugate-gradient and power-iteration loops of {@code chi.LinearResponse},
 * {@code calibrate.Hessian} and {@code whiten.DirectionReliability}. Large row-major blocks go through
 * {@link Kernels} instead.
 */
public final class Dense {
    private Dense() {}

    public static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    public static double dot(float[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    public static double norm(double[] x) {
        return Math.sqrt(dot(x, x));
    }

    public static double norm(float[] x) {
        double s = 0;
        for (float f : x) s += (double) f * f;
        return Math.sqrt(s);
    }
}
