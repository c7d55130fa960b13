package io.spectro.demo;

import java.util.SplittableRandom;

/**
 * Synthetic sequences in which an induction circuit can form (method.md section 6): tokens follow a
 * fixed high-entropy Markov chain over {@code [lo, hi)} (each token has 64 equally likely successors,
 * taken with probability 0.9, else a uniform token: about 4.5 nats per token, so that only copying
 * can predict a repeated span well), and a fraction of the sequences repeats a random span of 10-20
 * tokens later in the sequence. Every token of a repeated copy after its first token is an
 * "induction token": it completes [A][B] ... [A] -> [B]. The chain is the same for every seed
 * (it is the synthetic "language"); the seed draws the sequences.
 */
public final class Synthetic {
    /** @param tokens [rows, T]; @param induction [rows, T]: true where token t completes an induction pattern */
    public record Sequences(int[] tokens, boolean[] induction, int rows, int T) {}

    static final int SUCCESSORS = 64;

    private Synthetic() {}

    public static Sequences generate(int rows, int T, int lo, int hi, double repeatFraction, long seed) {
        if (T < 48) throw new IllegalArgumentException("synthetic sequences need T >= 48, got " + T);
        if (hi - lo < 16) throw new IllegalArgumentException("token range too small");
        SplittableRandom rng = new SplittableRandom(seed);
        int k = hi - lo;
        SplittableRandom chainRng = new SplittableRandom(0x9E3779B97F4A7C15L);
        int[][] next = new int[k][SUCCESSORS];
        for (int a = 0; a < k; a++) for (int j = 0; j < SUCCESSORS; j++) next[a][j] = chainRng.nextInt(k);
        int[] out = new int[rows * T];
        boolean[] ind = new boolean[rows * T];
        for (int r = 0; r < rows; r++) {
            int cur = rng.nextInt(k);
            for (int t = 0; t < T; t++) {
                out[r * T + t] = lo + cur;
                cur = rng.nextDouble() < 0.9 ? next[cur][rng.nextInt(SUCCESSORS)] : rng.nextInt(k);
            }
            if (rng.nextDouble() < repeatFraction) {
                int len = 10 + rng.nextInt(11);
                int src = rng.nextInt(T / 2 - len);
                int dst = src + len + rng.nextInt(T - 2 * len - src);
                for (int i = 0; i < len; i++) {
                    out[r * T + dst + i] = out[r * T + src + i];
                    if (i > 0) ind[r * T + dst + i] = true;
                }
            }
        }
        return new Sequences(out, ind, rows, T);
    }

    /**
     * Periodic sequences: a random prefix of 0-16 uniform tokens, then a random segment of 8-24 tokens
     * repeated until the sequence ends. Every token after the first copy of the segment (except the
     * first one after it) completes [A][B] ... [A] -> [B], about 60% of all tokens, and the period
     * differs from row to row, so only a content-based match finds the continuation. This is the data
     * on which the demo model forms its induction circuit within a few thousand steps (docs/demo.md):
     * with repeats covering only 15-30% of the tokens (see {@link #generate}; also random tokens with one
     * repeated span at a random offset) it does not.
     */
    public static Sequences periodic(int rows, int T, int lo, int hi, long seed) {
        if (T < 48) throw new IllegalArgumentException("periodic sequences need T >= 48, got " + T);
        if (hi - lo < 16) throw new IllegalArgumentException("token range too small");
        SplittableRandom rng = new SplittableRandom(seed);
        int[] out = new int[rows * T];
        boolean[] ind = new boolean[rows * T];
        for (int r = 0; r < rows; r++) {
            int prefix = rng.nextInt(17), period = 8 + rng.nextInt(17), o = r * T;
            for (int t = 0; t < prefix + period; t++) out[o + t] = lo + rng.nextInt(hi - lo);
            for (int t = prefix + period; t < T; t++) {
                out[o + t] = out[o + t - period];
                ind[o + t] = t > prefix + period;
            }
        }
        return new Sequences(out, ind, rows, T);
    }
}
