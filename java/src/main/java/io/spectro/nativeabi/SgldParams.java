package io.spectro.nativeabi;

/**
 * One SGLD step's settings (spectro.h {@code sp_sgld_params}); see method.md section 2.
 * {@code stream} is the unsigned 32-bit noise stream ((component << 12) | chain), {@code step}
 * the chain's global step counter.
 */
public record SgldParams(float lr, float nbeta, float gamma, boolean rmsprop, float alpha, float rmsEps,
                         float noiseScale, int stream, long seed, long step) {
    public SgldParams {
        check(lr, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale);
    }

    /**
     * The bounds of one SGLD step's settings, the one place the Java side checks them (SamplerOptions
     * calls this too); the native {@code sp_sgld_update} checks the same bounds again:
     * lr finite and &gt; 0; nbeta, gamma, noiseScale finite and &gt;= 0; alpha in [0, 1) and rmsEps finite
     * and &gt; 0 (checked even for plain SGLD, which does not use them, as natively). The table of these
     * bounds is in docs/architecture.md.
     *
     * @throws IllegalArgumentException naming the first setting out of bounds
     */
    public static void check(float lr, float nbeta, float gamma, boolean rmsprop, float alpha, float rmsEps, float noiseScale) {
        if (!(lr > 0) || !Float.isFinite(lr)) throw new IllegalArgumentException("lr must be a positive number, got " + lr);
        if (!(nbeta >= 0) || !Float.isFinite(nbeta)) throw new IllegalArgumentException("nbeta must be >= 0, got " + nbeta);
        if (!(gamma >= 0) || !Float.isFinite(gamma)) throw new IllegalArgumentException("gamma must be >= 0, got " + gamma);
        if (!(noiseScale >= 0) || !Float.isFinite(noiseScale)) throw new IllegalArgumentException("noise scale must be >= 0, got " + noiseScale);
        if (!(alpha >= 0 && alpha < 1)) throw new IllegalArgumentException("alpha must be in [0, 1), got " + alpha);
        if (!(rmsEps > 0) || !Float.isFinite(rmsEps)) throw new IllegalArgumentException("rms-eps must be > 0, got " + rmsEps);
    }

    /** The same settings at another step. */
    public SgldParams atStep(long s) {
        return new SgldParams(lr, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale, stream, seed, s);
    }
}
