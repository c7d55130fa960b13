package io.spectro.graph;

import java.util.Arrays;

/**
 * An undirected, unweighted graph in compressed sparse row form: the neighbours of node i are
 * {@code adj[offsets[i] .. offsets[i+1])}, sorted, without self loops or duplicates.
 */
public record Graph(int[] offsets, int[] adj) {
    public int nodes() { return offsets.length - 1; }

    public int degree(int i) { return offsets[i + 1] - offsets[i]; }

    /** Twice the number of edges. */
    public long volume() { return adj.length; }

    /** The symmetrised kNN graph: i ~ j when j is among i's k nearest or i among j's. */
    public static Graph symmetrize(KnnGraph knn) { return symmetrize(knn.n(), knn.k(), knn.neighbors()); }

    /** The symmetrised graph of n kNN lists of k entries each (row i's at nb[i*k ..]; -1 = none). */
    public static Graph symmetrize(int n, int k, int[] nb) {
        int[] count = new int[n + 1];
        for (int i = 0; i < n; i++) {
            for (int a = 0; a < k; a++) {
                int j = nb[i * k + a];
                if (j == i || j < 0) continue;
                count[i + 1]++;
                count[j + 1]++;
            }
        }
        for (int i = 0; i < n; i++) count[i + 1] += count[i];
        int[] raw = new int[count[n]];
        int[] fill = Arrays.copyOf(count, n);
        for (int i = 0; i < n; i++) {
            for (int a = 0; a < k; a++) {
                int j = nb[i * k + a];
                if (j == i || j < 0) continue;
                raw[fill[i]++] = j;
                raw[fill[j]++] = i;
            }
        }
        int[] offsets = new int[n + 1];
        int w = 0;
        for (int i = 0; i < n; i++) {
            int lo = count[i], hi = count[i + 1];
            Arrays.sort(raw, lo, hi);
            offsets[i] = w;
            int prev = -1;
            for (int p = lo; p < hi; p++) {
                if (raw[p] != prev) raw[w++] = raw[p];
                prev = raw[p];
            }
        }
        offsets[n] = w;
        return new Graph(offsets, Arrays.copyOf(raw, w));
    }

    /** Builds a graph from an edge list (for tests); edges are symmetrised and deduplicated. */
    public static Graph fromEdges(int n, int[][] edges) {
        int k = 0;
        int[] deg = new int[n];
        for (int[] e : edges) deg[e[0]]++;
        for (int d : deg) k = Math.max(k, d);
        int[] nb = new int[n * Math.max(k, 1)];
        Arrays.fill(nb, -1);
        int[] fill = new int[n];
        for (int[] e : edges) nb[e[0] * Math.max(k, 1) + fill[e[0]]++] = e[1];
        return symmetrize(new KnnGraph(n, Math.max(k, 1), nb, new float[nb.length]));
    }
}
