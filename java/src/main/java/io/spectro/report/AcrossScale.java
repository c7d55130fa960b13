package io.spectro.report;

import io.spectro.structure.Cards;
import io.spectro.structure.Pipeline;
import io.spectro.structure.TokenTable;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What changes for a token between two clusterings (two models, or two settings) of the same probe set:
 * how its clustered occurrences spread over clusters, which tokens keep it company, how much its
 * distribution over clusters overlaps with another followed token's, and, when both runs cover the same
 * rows with the same tokens, whether pairs of its occurrences that share a cluster in one run share one in
 * the other. Pure computation on clusters.json (and the runs' token tables); {@link Compare} renders it.
 */
public final class AcrossScale {
    /** Companion tokens listed per side. */
    public static final int COMPANIONS = 5;
    /** A companion must occur at least this often in the clusters holding the token. */
    static final int MIN_COMPANION = 3;

    private AcrossScale() {}

    /**
     * One token in one run.
     * @param clustered  its occurrences inside some cluster
     * @param clusters   how many clusters hold it
     * @param topId      the cluster holding most of it (null when none)
     * @param topShare   that cluster's share of its clustered occurrences
     * @param companions tokens most over-represented (lift) in the clusters holding it, weighted by where it is
     * @param shares     its clustered occurrences per cluster index, as shares summing to 1
     */
    public record Side(int clustered, int clusters, String topId, double topShare, List<String> companions,
                       Map<Integer, Double> shares) {}

    /**
     * @param pairs          pairs of its occurrences that share a cluster in A or in B (row-aligned runs only; -1 otherwise)
     * @param pairsAgreement of those pairs, the fraction that share a cluster in both runs (NaN when pairs is 0 or -1)
     */
    public record Shift(String token, Side a, Side b, long pairs, double pairsAgreement) {}

    /** Whether a token's display text matches: equal, or equal after trimming spaces and lower-casing. */
    static boolean matches(String display, String token) {
        return display.equals(token) || display.strip().equalsIgnoreCase(token.strip());
    }

    public static Side side(Pipeline.ClustersFile cf, String token) {
        List<Cards.Card> cs = cf.clusters();
        Map<Integer, Integer> count = new HashMap<>();
        Map<String, Integer> base = new HashMap<>();
        long clusteredRows = 0;
        for (int i = 0; i < cs.size(); i++) {
            clusteredRows += cs.get(i).size();
            for (Cards.TokenCount t : cs.get(i).tokens()) {
                base.merge(t.t(), t.n(), Integer::sum);
                if (matches(t.t(), token)) count.merge(i, t.n(), Integer::sum);
            }
        }
        int total = count.values().stream().mapToInt(Integer::intValue).sum();
        if (total == 0) return new Side(0, 0, null, 0, List.of(), Map.of());
        Map<Integer, Double> shares = new HashMap<>();
        count.forEach((i, n) -> shares.put(i, n / (double) total));
        int top = count.entrySet().stream().max(Map.Entry.<Integer, Integer>comparingByValue()
                .thenComparing(Map.Entry.comparingByKey(Comparator.reverseOrder()))).orElseThrow().getKey();
        // companions: expected share of token u among the members of the clusters holding the token, weighted
        // by where the token is, over u's share of all clustered rows
        Map<String, Double> expected = new HashMap<>();
        Map<String, Integer> seen = new HashMap<>();
        for (var e : shares.entrySet()) {
            Cards.Card c = cs.get(e.getKey());
            for (Cards.TokenCount t : c.tokens()) {
                if (matches(t.t(), token)) continue;
                expected.merge(t.t(), e.getValue() * t.n() / c.size(), Double::sum);
                seen.merge(t.t(), t.n(), Integer::sum);
            }
        }
        final long rows = clusteredRows;
        List<String> comp = expected.entrySet().stream()
                .filter(e -> seen.get(e.getKey()) >= MIN_COMPANION)
                .sorted(Comparator.<Map.Entry<String, Double>>comparingDouble(e -> -e.getValue() / (base.get(e.getKey()) / (double) rows))
                        .thenComparing(Map.Entry::getKey))
                .limit(COMPANIONS).map(Map.Entry::getKey).toList();
        return new Side(total, count.size(), cs.get(top).id(), count.get(top) / (double) total, comp, shares);
    }

    /** Overlap of two tokens' distributions over the clusters of one run: Σ_c min(share_p(c), share_q(c)), in [0, 1]. */
    public static double overlap(Side p, Side q) {
        double s = 0;
        for (var e : p.shares().entrySet()) s += Math.min(e.getValue(), q.shares().getOrDefault(e.getKey(), 0.0));
        return s;
    }

    /**
     * The token in both runs. {@code ta}/{@code tb} (may be null) are the runs' token tables: when both cover
     * the same rows with the same tokens, pairs of the token's occurrences are followed row by row.
     */
    public static Shift shift(String token, Pipeline.ClustersFile a, TokenTable ta, Pipeline.ClustersFile b, TokenTable tb) {
        Side sa = side(a, token), sb = side(b, token);
        if (!aligned(a, ta, b, tb)) return new Shift(token, sa, sb, -1, Double.NaN);
        int[] la = labels(a), lb = labels(b);
        List<Integer> occ = new ArrayList<>();
        for (int r = 0; r < ta.rows(); r++) if (matches(ta.token(r), token)) occ.add(r);
        long either = 0, both = 0;
        for (int i = 0; i < occ.size(); i++)
            for (int j = i + 1; j < occ.size(); j++) {
                int r = occ.get(i), s = occ.get(j);
                boolean inA = la[r] >= 0 && la[r] == la[s], inB = lb[r] >= 0 && lb[r] == lb[s];
                if (inA || inB) either++;
                if (inA && inB) both++;
            }
        return new Shift(token, sa, sb, either, either == 0 ? Double.NaN : both / (double) either);
    }

    /** Both runs label the same rows, which hold the same tokens. */
    static boolean aligned(Pipeline.ClustersFile a, TokenTable ta, Pipeline.ClustersFile b, TokenTable tb) {
        if (ta == null || tb == null || !ta.hasTokens() || !tb.hasTokens()) return false;
        if (a.rows() != b.rows() || ta.rows() != a.rows() || tb.rows() != b.rows()) return false;
        for (int r = 0; r < ta.rows(); r++) if (!ta.token(r).equals(tb.token(r))) return false;
        return true;
    }

    /** Each row's cluster index (the first cluster listing it), -1 for unclustered rows. */
    static int[] labels(Pipeline.ClustersFile cf) {
        int[] l = new int[cf.rows()];
        Arrays.fill(l, -1);
        for (int i = 0; i < cf.clusters().size(); i++)
            for (int r : cf.clusters().get(i).members()) if (r >= 0 && r < l.length && l[r] < 0) l[r] = i;
        return l;
    }

    /** One sentence for a side: "12 of its occurrences clustered, in 3 clusters (58% in C0007, with ' he', ' his')". */
    static String describe(Side s) {
        if (s.clustered() == 0) return "in no cluster";
        StringBuilder b = new StringBuilder();
        b.append(s.clustered()).append(s.clustered() == 1 ? " occurrence" : " occurrences").append(" clustered, in ")
                .append(s.clusters()).append(s.clusters() == 1 ? " cluster" : " clusters")
                .append(String.format(" (%.0f%% in %s", 100 * s.topShare(), s.topId()));
        if (!s.companions().isEmpty())
            b.append("; with ").append(String.join(", ", s.companions().stream().map(t -> "\u2039" + Html.showToken(t) + "\u203a").toList()));
        return b.append(')').toString();
    }
}
