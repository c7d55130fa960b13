package io.spectro.graph;

/**
 * The k nearest neighbours of every row (self excluded), nearest first: row i's neighbours are
 * {@code neighbors[i*k .. i*k+k)} with squared Euclidean distances in {@code distances}.
 */
public record KnnGraph(int n, int k, int[] neighbors, float[] distances) {
    public KnnGraph {
        if ((long) n * k != neighbors.length || neighbors.length != distances.length)
            throw new IllegalArgumentException("kNN arrays do not match n=" + n + " k=" + k);
    }

    public int neighbor(int i, int j) { return neighbors[i * k + j]; }

    /** Fraction of the true neighbours of the {@code sample} rows that this graph holds. */
    public double recallAgainst(int[] sample, KnnGraph exactOfSample) {
        long hit = 0;
        for (int s = 0; s < sample.length; s++) {
            int i = sample[s];
            for (int a = 0; a < k; a++) {
                int want = exactOfSample.neighbors[s * k + a];
                for (int b = 0; b < k; b++) {
                    if (neighbors[i * k + b] == want) {
                        hit++;
                        break;
                    }
                }
            }
        }
        return hit / (double) ((long) sample.length * k);
    }
}
