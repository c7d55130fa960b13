package io.spectro.nativeabi;

/**
 * One SGLD step's settings (spectro.h {@code sp_sgld_params}); see method.md section 2.
 * {@code stream} is the unsigned 32-bit noise stream ((component << 12) | chain), {@code step}
 * the chain's global step counter.
 */
public record SgldParams(float lr, float nbeta, float gamma, boolean rmsprop, float alpha, float rmsEps,
                         float noiseScale, int stream, long seed, long step) {
    public SgldParams {
        if (!(lr > 0) || !Float.isFinite(lr)) throw new IllegalArgumentException("lr must be positive and finite: " + lr);
        if (!(nbeta >= 0) || !Float.isFinite(nbeta)) throw new IllegalArgumentException("nbeta must be >= 0: " + nbeta);
        if (!(gamma >= 0) || !Float.isFinite(gamma)) throw new IllegalArgumentException("gamma must be >= 0: " + gamma);
        if (rmsprop && !(alpha >= 0 && alpha < 1)) throw new IllegalArgumentException("alpha must be in [0, 1): " + alpha);
        if (rmsprop && !(rmsEps > 0)) throw new IllegalArgumentException("rmsEps must be positive: " + rmsEps);
        if (!(noiseScale >= 0) || !Float.isFinite(noiseScale)) throw new IllegalArgumentException("noiseScale must be >= 0: " + noiseScale);
    }

    /** The same settings at another step. */
    public SgldParams atStep(long s) {
        return new SgldParams(lr, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale, stream, seed, s);
    }
}
