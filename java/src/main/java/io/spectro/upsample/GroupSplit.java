package io.spectro.upsample;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Splits rows by group (the sequence a token belongs to) so that no group has rows on both sides of a
 * split: the held-out quality and every internal validation of the regressors are measured on contexts
 * the model never saw. Deterministic for a seed; the groups' order in the input does not matter.
 */
public final class GroupSplit {
    private GroupSplit() {}

    /** The distinct group ids of rows [0, n), sorted. */
    static int[] distinct(int[] group, int n) {
        check(group, n);
        int[] g = Arrays.copyOf(group, n);
        Arrays.sort(g);
        int m = 0;
        for (int i = 0; i < n; i++) if (i == 0 || g[i] != g[i - 1]) g[m++] = g[i];
        return Arrays.copyOf(g, m);
    }

    private static void check(int[] group, int n) {
        if (group == null) throw new IllegalArgumentException("group ids are required (the sequence of every row)");
        if (n < 0 || n > group.length) throw new IllegalArgumentException("n " + n + " outside [0, " + group.length + "]");
    }

    /** The distinct groups in an order shuffled by {@code seed} (Fisher-Yates over the sorted ids). */
    private static int[] shuffled(int[] distinct, long seed) {
        int[] g = distinct.clone();
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = g.length - 1; i > 0; i--) {
            int j = r.nextInt(i + 1), t = g[i];
            g[i] = g[j];
            g[j] = t;
        }
        return g;
    }

    /**
     * The fold (0..k-1) of every row: groups are shuffled by {@code seed}, then assigned largest first
     * to the fold with the fewest rows so far, so folds have near-equal row counts. Needs at least
     * {@code k} distinct groups.
     */
    public static int[] folds(int[] group, int n, int k, long seed) {
        if (k < 2) throw new IllegalArgumentException("folds must be >= 2, got " + k);
        int[] ids = distinct(group, n);
        if (ids.length < k)
            throw new IllegalArgumentException(k + " folds need at least " + k + " distinct sequences, the rows have " + ids.length);
        int[] count = new int[ids.length];
        for (int i = 0; i < n; i++) count[Arrays.binarySearch(ids, group[i])]++;
        int[] order = shuffled(ids, seed);
        Integer[] byCount = new Integer[order.length];
        for (int i = 0; i < order.length; i++) byCount[i] = i;
        Arrays.sort(byCount, (a, b) -> Integer.compare(count[Arrays.binarySearch(ids, order[b])], count[Arrays.binarySearch(ids, order[a])]));
        long[] rows = new long[k];
        int[] foldOfGroup = new int[ids.length];
        for (Integer pos : byCount) {
            int best = 0;
            for (int f = 1; f < k; f++) if (rows[f] < rows[best]) best = f;
            int gi = Arrays.binarySearch(ids, order[pos]);
            foldOfGroup[gi] = best;
            rows[best] += count[gi];
        }
        int[] fold = new int[n];
        for (int i = 0; i < n; i++) fold[i] = foldOfGroup[Arrays.binarySearch(ids, group[i])];
        return fold;
    }

    /**
     * Whether each row is held out: groups in an order shuffled by {@code seed} are held out until at
     * least {@code fraction} of the rows are, keeping at least one group on each side.
     */
    public static boolean[] holdout(int[] group, int n, double fraction, long seed) {
        if (!(fraction > 0 && fraction < 1)) throw new IllegalArgumentException("held-out fraction must be in (0, 1), got " + fraction);
        int[] ids = distinct(group, n);
        if (ids.length < 2)
            throw new IllegalArgumentException("a held-out split needs at least 2 distinct sequences, the rows have " + ids.length);
        int[] count = new int[ids.length];
        for (int i = 0; i < n; i++) count[Arrays.binarySearch(ids, group[i])]++;
        int[] order = shuffled(ids, seed);
        boolean[] outGroup = new boolean[ids.length];
        long held = 0;
        for (int t = 0; t < order.length - 1 && held < fraction * n; t++) {
            int gi = Arrays.binarySearch(ids, order[t]);
            outGroup[gi] = true;
            held += count[gi];
        }
        boolean[] out = new boolean[n];
        for (int i = 0; i < n; i++) out[i] = outGroup[Arrays.binarySearch(ids, group[i])];
        return out;
    }
}
