package io.spectro.cluster;

import java.util.HashMap;
import java.util.Map;

/** Agreement between two labelings. */
public final class Metrics {
    private Metrics() {}

    /**
     * Adjusted Rand index (Hubert and Arabie). A negative label (-1: the row is in no cluster) is a class of
     * its own for every such row (a singleton), so unclustered rows count as missed pairs, not as one
     * large cluster of unrelated rows (which at 1M rows and 1% unclustered outweighs 10,000 correct
     * clusters of 100: ARI 0.72 instead of 0.98 for the same labels).
     */
    public static double adjustedRand(int[] a, int[] b) {
        return adjustedRand(a, b, true);
    }

    /** With {@code unlabelledAsSingletons} false, every distinct label, -1 included, is one class. */
    public static double adjustedRand(int[] a, int[] b, boolean unlabelledAsSingletons) {
        if (a.length != b.length) throw new IllegalArgumentException("labelings differ in length");
        int n = a.length;
        int[] x = dense(a, unlabelledAsSingletons), y = dense(b, unlabelledAsSingletons);
        Map<Long, Integer> cells = new HashMap<>();
        Map<Integer, Integer> ra = new HashMap<>(), rb = new HashMap<>();
        for (int i = 0; i < n; i++) {
            cells.merge(((long) x[i] << 32) | y[i], 1, Integer::sum);
            ra.merge(x[i], 1, Integer::sum);
            rb.merge(y[i], 1, Integer::sum);
        }
        double index = 0, sa = 0, sb = 0;
        for (int c : cells.values()) index += c2(c);
        for (int c : ra.values()) sa += c2(c);
        for (int c : rb.values()) sb += c2(c);
        double expected = sa * sb / c2(n), max = 0.5 * (sa + sb);
        if (max == expected) return 1.0;
        return (index - expected) / (max - expected);
    }

    /** Labels renumbered 0, 1, ... (below n); a negative label becomes a fresh number per row when asked. */
    private static int[] dense(int[] labels, boolean negativeAsSingletons) {
        Map<Integer, Integer> ids = new HashMap<>();
        int[] out = new int[labels.length];
        int next = 0;
        for (int i = 0; i < labels.length; i++) {
            if (negativeAsSingletons && labels[i] < 0) out[i] = next++;
            else {
                Integer id = ids.get(labels[i]);
                if (id == null) ids.put(labels[i], id = next++);
                out[i] = id;
            }
        }
        return out;
    }

    private static double c2(long x) { return x * (x - 1) / 2.0; }
}
