package io.spectro.train;

/**
 * Hyperparameters of {@link Trainer}: AdamW with linear warm-up and cosine decay to
 * {@code minLrFraction * lr}, global-norm gradient clipping. Validated on construction.
 */
public record TrainOptions(int steps, int batch, float lr, int warmup, float minLrFraction, float weightDecay,
                           float beta1, float beta2, float adamEps, float clip, long seed, int threads) {
    public TrainOptions {
        req(steps >= 1, "steps must be >= 1, got " + steps);
        req(batch >= 1, "batch must be >= 1, got " + batch);
        req(lr > 0, "lr must be > 0, got " + lr);
        req(warmup >= 0, "warmup must be >= 0, got " + warmup);
        req(minLrFraction >= 0 && minLrFraction <= 1, "min-lr fraction must be in [0, 1], got " + minLrFraction);
        req(weightDecay >= 0, "weight decay must be >= 0, got " + weightDecay);
        req(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "betas must be in [0, 1)");
        req(adamEps > 0, "adam eps must be > 0");
        req(clip >= 0, "clip must be >= 0 (0 = off), got " + clip);
        req(threads >= 0, "threads must be >= 0");
    }

    private static void req(boolean ok, String msg) {
        if (!ok) throw new IllegalArgumentException(msg);
    }

    /** method.md section 6: AdamW lr 3e-3, 100 warm-up steps, cosine, clip 1.0, batch 32. */
    public static TrainOptions induction(int steps, long seed) {
        return new TrainOptions(steps, 32, 3e-3f, 100, 0.1f, 0.01f, 0.9f, 0.95f, 1e-8f, 1.0f, seed, 0);
    }

    /** Learning rate at step s (0-based). */
    public double lrAt(int s) {
        if (s < warmup) return lr * (s + 1.0) / warmup;
        double p = (double) (s - warmup) / Math.max(1, steps - warmup);
        double cos = 0.5 * (1 + Math.cos(Math.PI * Math.min(1, p)));
        return lr * (minLrFraction + (1 - minLrFraction) * cos);
    }
}
