package io.spectro.report;

import io.spectro.structure.Cards;
import io.spectro.structure.Pipeline;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Are the clusters just the corpus subsets? For a run whose rows know their subset (subsets.json): each
 * cluster's purity (share of its largest subset), the mean over clusters and weighted by size, the chance
 * level (the largest subset's share of all clustered rows: what a cluster drawn at random would score),
 * the clusters that cut across subsets (no subset holds half of the rows) and, per subset, how many
 * clusters it is split into (clusters where it is the largest subset, and clusters holding ≥ 5% of it).
 */
public record SubsetPurity(int clusters, double mean, double weighted, double chance, List<String> across,
                           Map<String, Split> subsets) {
    /** A cluster cuts across subsets when its purity is below this. */
    public static final double ACROSS = 0.5;
    /** A cluster holds a real part of a subset when it has at least this share of the subset's clustered rows. */
    public static final double PART = 0.05;

    /**
     * @param rows     the subset's clustered rows
     * @param majority clusters in which it is the largest subset
     * @param parts    clusters holding ≥ {@link #PART} of its clustered rows
     */
    public record Split(int rows, int majority, int parts) {}

    /** Null when no card knows the subsets of its rows. */
    public static SubsetPurity of(Pipeline.ClustersFile cf) {
        List<Cards.Card> cs = cf.clusters();
        if (cs.isEmpty() || cs.stream().allMatch(c -> c.subsets() == null || c.subsets().isEmpty())) return null;
        Map<String, Integer> total = new TreeMap<>(), majority = new HashMap<>();
        double sum = 0, wsum = 0;
        long rows = 0;
        List<String> across = new ArrayList<>();
        for (Cards.Card c : cs) {
            int n = c.subsets().stream().mapToInt(Cards.TokenCount::n).sum();
            if (n == 0) continue;
            Cards.TokenCount top = c.subsets().get(0); // largest first
            double p = top.n() / (double) n;
            sum += p;
            wsum += top.n();
            rows += n;
            if (p < ACROSS) across.add(c.id());
            majority.merge(top.t(), 1, Integer::sum);
            for (Cards.TokenCount t : c.subsets()) total.merge(t.t(), t.n(), Integer::sum);
        }
        Map<String, Split> split = new TreeMap<>();
        for (var e : total.entrySet()) {
            int parts = 0;
            for (Cards.Card c : cs)
                for (Cards.TokenCount t : c.subsets())
                    if (t.t().equals(e.getKey()) && t.n() >= PART * e.getValue()) parts++;
            split.put(e.getKey(), new Split(e.getValue(), majority.getOrDefault(e.getKey(), 0), parts));
        }
        int largest = total.values().stream().mapToInt(Integer::intValue).max().orElse(0);
        return new SubsetPurity(cs.size(), round(sum / cs.size()), round(wsum / rows), round(largest / (double) rows), across, split);
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    /** One line: "subset purity 0.43 mean, 0.51 by size (chance 0.21); 7 of 31 clusters cut across subsets". */
    public String line() {
        return String.format("subset purity %.2f mean, %.2f by size (chance %.2f); %d of %d clusters cut across subsets",
                mean, weighted, chance, across.size(), clusters);
    }

    /** Per subset: "bible: 1,012 rows, largest in 6 clusters, ≥5% of it in 4". */
    public List<String> splitLines() {
        List<String> out = new ArrayList<>();
        subsets.forEach((k, v) -> out.add(String.format("%s: %,d clustered rows, the largest subset in %d clusters, %d clusters hold >= %.0f%% of it",
                k, v.rows(), v.majority(), v.parts(), 100 * PART)));
        return out;
    }
}
