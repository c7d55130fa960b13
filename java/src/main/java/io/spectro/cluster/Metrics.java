package io.spectro.cluster;

import java.util.HashMap;
import java.util.Map;

/** Agreement between two labelings. */
public final class Metrics {
    private Metrics() {}

    /** Adjusted Rand index (Hubert and Arabie); every distinct label, -1 included, is one class. */
    public static double adjustedRand(int[] a, int[] b) {
        if (a.length != b.length) throw new IllegalArgumentException("labelings differ in length");
        int n = a.length;
        Map<Long, Integer> cells = new HashMap<>();
        Map<Integer, Integer> ra = new HashMap<>(), rb = new HashMap<>();
        for (int i = 0; i < n; i++) {
            cells.merge(((long) a[i] << 32) ^ (b[i] & 0xffffffffL), 1, Integer::sum);
            ra.merge(a[i], 1, Integer::sum);
            rb.merge(b[i], 1, Integer::sum);
        }
        double index = 0, sa = 0, sb = 0;
        for (int c : cells.values()) index += c2(c);
        for (int c : ra.values()) sa += c2(c);
        for (int c : rb.values()) sb += c2(c);
        double expected = sa * sb / c2(n), max = 0.5 * (sa + sb);
        if (max == expected) return 1.0;
        return (index - expected) / (max - expected);
    }

    private static double c2(long x) { return x * (x - 1) / 2.0; }
}
