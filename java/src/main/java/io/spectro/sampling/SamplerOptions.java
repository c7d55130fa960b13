package io.spectro.sampling;

import io.spectro.nativeabi.SgldParams;

/**
 * Hyperparameters of restricted SGLD (method.md section 2). Validated on construction: the chain-shape
 * bounds here, the per-step bounds in {@link SgldParams#check} (the same numbers the native
 * {@code sp_sgld_update} checks). Change one field with the {@code withX} methods.
 *
 * @param chains       independent chains per component (pooled by the estimator)
 * @param draws        draws per chain
 * @param stepsBetween SGLD steps between two draws
 * @param burnin       steps before the first draw period starts
 * @param batch        SGLD minibatch size (sequences)
 * @param lr           step size epsilon
 * @param nbeta        n * beta; 0 gives the Gaussian baseline N(w*, 1/gamma) on the component
 * @param gamma        localization strength
 * @param rmsprop      RMSProp-SGLD (preconditioned) instead of plain SGLD
 * @param alpha        RMSProp decay
 * @param rmsEps       RMSProp additive constant in G = 1/(sqrt(V) + rmsEps)
 * @param noiseScale   1 for SGLD; 0 makes the sampler noise-free (gradient descent, for tests)
 * @param seed         keys the Philox noise and the minibatch partition
 */
public record SamplerOptions(int chains, int draws, int stepsBetween, int burnin, int batch, float lr,
                             float nbeta, float gamma, boolean rmsprop, float alpha, float rmsEps,
                             float noiseScale, long seed) {
    public SamplerOptions {
        req(chains >= 1 && chains <= 4096, "chains must be in 1..4096, got " + chains);
        req(draws >= 1, "draws must be >= 1, got " + draws);
        req(stepsBetween >= 1, "steps-between must be >= 1, got " + stepsBetween);
        req(burnin >= 0, "burn-in must be >= 0, got " + burnin);
        req(batch >= 1, "batch must be >= 1, got " + batch);
        SgldParams.check(lr, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale);
        req(nbeta > 0 || gamma > 0, "nbeta 0 (the baseline) needs gamma > 0: its distribution N(w*, 1/gamma) is improper at gamma 0");
    }

    private static void req(boolean ok, String msg) {
        if (!ok) throw new IllegalArgumentException(msg);
    }

    /** Total SGLD steps of one chain. */
    public long stepsPerChain() {
        return burnin + (long) draws * stepsBetween;
    }

    /** True when step s (0-based, after its update) is followed by a draw. */
    public boolean isDrawStep(long s) {
        return s >= burnin && (s - burnin + 1) % stepsBetween == 0;
    }

    /** The published Pythia-1.4B settings (method.md section 2). */
    public static SamplerOptions pythia14b(long seed) {
        return new SamplerOptions(4, 100, 160, 0, 16, 1e-5f, 10f, 300f, true, 0.99f, 0.1f, 1f, seed);
    }

    /**
     * Defaults for small models (the CLI's defaults): the small-model settings of method.md section 6
     * (4 chains x 50 draws, 2 steps apart, batch 8, eps 1e-3, nbeta 30, gamma 300, plain SGLD),
     * with a short burn-in.
     */
    public static SamplerOptions small(long seed) {
        return new SamplerOptions(4, 50, 2, 10, 8, 1e-3f, 30f, 300f, false, 0.99f, 0.1f, 1f, seed);
    }

    /**
     * The nβ = 0 baseline of these settings with its own noise and minibatch stream: the same settings
     * keyed by {@link #baselineSeed} instead of the run's seed, so "SGLD vs baseline" compares two
     * independent samplers rather than two that share every noise draw and minibatch.
     */
    public SamplerOptions baseline() {
        return withNbeta(0f).withSeed(baselineSeed(seed));
    }

    /** The baseline's seed: SplitMix64's finaliser of the run seed with a fixed salt (distinct from the seed itself). */
    public static long baselineSeed(long seed) {
        long z = seed + 0x9E3779B97F4A7C15L * 0xBA5EL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    // ---- the same settings with one field changed (validated like the constructor) ----

    public SamplerOptions withChains(int v) {
        return new SamplerOptions(v, draws, stepsBetween, burnin, batch, lr, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale, seed);
    }

    public SamplerOptions withDraws(int v) {
        return new SamplerOptions(chains, v, stepsBetween, burnin, batch, lr, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale, seed);
    }

    public SamplerOptions withStepsBetween(int v) {
        return new SamplerOptions(chains, draws, v, burnin, batch, lr, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale, seed);
    }

    public SamplerOptions withBurnin(int v) {
        return new SamplerOptions(chains, draws, stepsBetween, v, batch, lr, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale, seed);
    }

    public SamplerOptions withBatch(int v) {
        return new SamplerOptions(chains, draws, stepsBetween, burnin, v, lr, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale, seed);
    }

    public SamplerOptions withLr(float v) {
        return new SamplerOptions(chains, draws, stepsBetween, burnin, batch, v, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale, seed);
    }

    public SamplerOptions withNbeta(float v) {
        return new SamplerOptions(chains, draws, stepsBetween, burnin, batch, lr, v, gamma, rmsprop, alpha, rmsEps, noiseScale, seed);
    }

    public SamplerOptions withGamma(float v) {
        return new SamplerOptions(chains, draws, stepsBetween, burnin, batch, lr, nbeta, v, rmsprop, alpha, rmsEps, noiseScale, seed);
    }

    public SamplerOptions withRmsprop(boolean v) {
        return new SamplerOptions(chains, draws, stepsBetween, burnin, batch, lr, nbeta, gamma, v, alpha, rmsEps, noiseScale, seed);
    }

    public SamplerOptions withAlpha(float v) {
        return new SamplerOptions(chains, draws, stepsBetween, burnin, batch, lr, nbeta, gamma, rmsprop, v, rmsEps, noiseScale, seed);
    }

    public SamplerOptions withRmsEps(float v) {
        return new SamplerOptions(chains, draws, stepsBetween, burnin, batch, lr, nbeta, gamma, rmsprop, alpha, v, noiseScale, seed);
    }

    public SamplerOptions withNoiseScale(float v) {
        return new SamplerOptions(chains, draws, stepsBetween, burnin, batch, lr, nbeta, gamma, rmsprop, alpha, rmsEps, v, seed);
    }

    public SamplerOptions withSeed(long v) {
        return new SamplerOptions(chains, draws, stepsBetween, burnin, batch, lr, nbeta, gamma, rmsprop, alpha, rmsEps, noiseScale, v);
    }
}
