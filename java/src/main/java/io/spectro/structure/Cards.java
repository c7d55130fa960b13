package io.spectro.structure;

import io.spectro.cluster.PprClustering;
import io.spectro.util.Rows;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Cluster cards: id (C0001...), size, every y token with its count, the tokens of highest lift over the
 * base rate, random example contexts with y marked, the mean standardised χ profile with its
 * strongest components, the subset mix (rows per corpus subset, when the run knows them), and how many
 * members are predicted by an auxiliary model (a run with predicted.npy; each example says whether it is).
 */
public final class Cards {
    /** Example contexts per card. */
    public static final int EXAMPLES = 6;
    /** Context tokens shown before y. */
    public static final int BEFORE = 24;
    /** Context tokens shown after y. */
    public static final int AFTER = 4;
    /** Tokens listed by lift (with count >= 2). */
    public static final int LIFT = 15;
    /** Strongest components listed. */
    public static final int STRONGEST = 10;

    private Cards() {}

    public record TokenCount(String t, int n) {}

    public record TokenLift(String t, int n, double lift) {}

    /** @param predicted the row's χ was predicted by an auxiliary model (RUN/predicted.npy), not estimated */
    public record Example(int row, int seq, int pos, String y, List<String> before, List<String> after, boolean predicted) {}

    public record Strength(String c, double v) {}

    /** @param predicted how many of the members are predicted rows (RUN/predicted.npy; 0 in an all-ground-truth run) */
    public record Card(String id, int size, int seed, double conductance, long pushWork, boolean capped, double residual,
                       List<TokenCount> tokens, List<TokenLift> lift, List<Example> examples, float[] profile,
                       List<Strength> strongest, int[] members, List<TokenCount> subsets, int predicted) {}

    public static String id(int index) {
        return String.format("C%04d", index + 1);
    }

    /**
     * @param z the standardised χ (column z-scores) of all rows, for the profiles; may be null
     */
    public static List<Card> build(List<PprClustering.Cluster> clusters, TokenTable tokens, Rows z,
                                   List<String> components, long seed) {
        int n = tokens.rows();
        Map<String, Integer> base = new HashMap<>();
        if (tokens.hasTokens()) for (int r = 0; r < n; r++) base.merge(tokens.token(r), 1, Integer::sum);
        List<Card> out = new ArrayList<>();
        float[][] profiles = profiles(clusters, z);
        for (int c = 0; c < clusters.size(); c++) {
            PprClustering.Cluster cl = clusters.get(c);
            int[] mem = cl.members();
            Map<String, Integer> counts = new HashMap<>();
            if (tokens.hasTokens()) for (int r : mem) counts.merge(tokens.token(r), 1, Integer::sum);
            List<TokenCount> tc = new ArrayList<>();
            counts.forEach((t, k) -> tc.add(new TokenCount(t, k)));
            tc.sort(Comparator.comparingInt(TokenCount::n).reversed().thenComparing(TokenCount::t));
            List<TokenLift> lift = new ArrayList<>();
            for (TokenCount t : tc) {
                if (t.n() < 2) continue;
                double l = (t.n() / (double) mem.length) / (base.get(t.t()) / (double) n);
                lift.add(new TokenLift(t.t(), t.n(), Math.round(l * 1000) / 1000.0));
            }
            lift.sort(Comparator.comparingDouble(TokenLift::lift).reversed().thenComparing(TokenLift::t));
            if (lift.size() > LIFT) lift = new ArrayList<>(lift.subList(0, LIFT));
            out.add(new Card(id(c), mem.length, cl.seed(), cl.conductance(), cl.pushWork(), cl.capped(), cl.residual(), tc, lift,
                    examples(mem, tokens, new SplittableRandom(seed * 31 + c)), profiles[c],
                    strongest(profiles[c], components), mem, subsetMix(mem, tokens), tokens.predicted().countPredicted(mem)));
        }
        return out;
    }

    /** How many of the cluster's rows come from each subset, largest first; empty when subsets are unknown. */
    static List<TokenCount> subsetMix(int[] mem, TokenTable tokens) {
        if (!tokens.hasSubsets()) return List.of();
        Map<String, Integer> m = new HashMap<>();
        for (int r : mem) {
            String s = tokens.subset(r);
            m.merge(s == null ? "?" : s, 1, Integer::sum);
        }
        List<TokenCount> out = new ArrayList<>();
        m.forEach((k, v) -> out.add(new TokenCount(k, v)));
        out.sort(Comparator.comparingInt(TokenCount::n).reversed().thenComparing(TokenCount::t));
        return out;
    }

    static List<Example> examples(int[] mem, TokenTable tokens, SplittableRandom rnd) {
        int[] pick = mem.clone();
        int k = Math.min(EXAMPLES, pick.length);
        for (int i = 0; i < k; i++) {
            int j = i + rnd.nextInt(pick.length - i), t = pick[i];
            pick[i] = pick[j];
            pick[j] = t;
        }
        int[] chosen = Arrays.copyOf(pick, k);
        Arrays.sort(chosen);
        List<Example> ex = new ArrayList<>();
        for (int r : chosen) {
            String[] ctx = tokens.context(r);
            int pos = tokens.pos(r);
            List<String> before = List.of(), after = List.of();
            if (ctx != null && pos >= 0 && pos < ctx.length) {
                before = List.of(Arrays.copyOfRange(ctx, Math.max(0, pos - BEFORE), pos));
                after = List.of(Arrays.copyOfRange(ctx, pos + 1, Math.min(ctx.length, pos + 1 + AFTER)));
            }
            ex.add(new Example(r, tokens.seq(r), pos, tokens.token(r), before, after, tokens.isPredicted(r)));
        }
        return ex;
    }

    /**
     * The mean standardised χ of every cluster's members (rounded to 1e-4), in one pass over the rows in order.
     * Reading each member's row where it lies instead (as until the fifth session, and twice per card) is a random
     * read per member: at 10M x 410 the mapped chi.npy (16.4 GB) does not fit in the page cache beside the graph,
     * and the cards stage ran at ~136 page faults/s (projected: a day). Memberships may overlap: a row adds to
     * every cluster that holds it. Heap: 4 (N + members) bytes for the row-to-cluster index, 8 H per cluster.
     */
    static float[][] profiles(List<PprClustering.Cluster> clusters, Rows z) {
        int nc = clusters.size();
        float[][] out = new float[nc][];
        if (z == null) {
            Arrays.fill(out, new float[0]);
            return out;
        }
        int n = z.rows(), h = z.cols();
        int[] start = new int[n + 1];
        for (PprClustering.Cluster cl : clusters) for (int r : cl.members()) start[r + 1]++;
        for (int r = 0; r < n; r++) start[r + 1] += start[r];
        int[] at = Arrays.copyOf(start, n), which = new int[start[n]];
        for (int c = 0; c < nc; c++) for (int r : clusters.get(c).members()) which[at[r]++] = c;
        at = null;
        double[] sum = new double[Math.multiplyExact(nc, h)];
        int br = Math.max(1, Math.min(n, (1 << 20) / h));
        float[] buf = new float[br * h];
        for (int r0 = 0; r0 < n; r0 += br) {
            int r1 = Math.min(n, r0 + br);
            if (start[r1] == start[r0]) continue; // no member in this block
            z.copy(r0, r1, buf);
            for (int r = r0; r < r1; r++)
                for (int m = start[r]; m < start[r + 1]; m++) {
                    int o = which[m] * h, b = (r - r0) * h;
                    for (int c = 0; c < h; c++) sum[o + c] += buf[b + c];
                }
        }
        for (int k = 0; k < nc; k++) {
            int size = clusters.get(k).members().length;
            float[] p = new float[h];
            for (int c = 0; c < h; c++) p[c] = (float) (Math.round(sum[k * h + c] / size * 1e4) / 1e4);
            out[k] = p;
        }
        return out;
    }

    static List<Strength> strongest(float[] profile, List<String> components) {
        Integer[] idx = new Integer[profile.length];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Arrays.sort(idx, (a, b) -> {
            int c = Float.compare(Math.abs(profile[b]), Math.abs(profile[a]));
            return c != 0 ? c : Integer.compare(a, b);
        });
        List<Strength> out = new ArrayList<>();
        for (int i = 0; i < Math.min(STRONGEST, idx.length); i++) {
            String name = components != null && idx[i] < components.size() ? components.get(idx[i]) : "c" + idx[i];
            out.add(new Strength(name, profile[idx[i]]));
        }
        return out;
    }
}
