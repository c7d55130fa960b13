package io.spectro.map;

import io.spectro.SpectroException;
import io.spectro.util.Vectors;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import tagbio.umap.Umap;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The cluster map: a 2-D layout of cluster centroids (UMAP with n_neighbors = min(45, M-1); PCA when
 * there are too few clusters for UMAP or it fails), then two levels of grouping by Ward agglomeration
 * (nearest-neighbour chain, weighted by cluster size) on the 2-D layout: neighborhoods of about
 * {@code neighborhoodSize} clusters (never fewer neighborhoods than regions) and round(√M) regions
 * (or about {@code regionSize} clusters each when that is > 0), at most {@code maxRegions}.
 */
public record ClusterMap(float[] x, float[] y, int[] neighborhood, int[] region, int neighborhoods, int regions,
                         String layout) {

    /**
     * @param nNeighbors UMAP neighbours (45 published; lowered to M-1 for few clusters)
     * @param minDist UMAP min_dist
     * @param neighborhoodSize clusters per neighborhood, on average
     * @param regionSize clusters per region, on average; 0 = round(sqrt(M)) regions
     * @param maxRegions cap on regions
     * @param seed UMAP seed
     */
    public record Options(int nNeighbors, float minDist, int neighborhoodSize, int regionSize, int maxRegions, long seed) {
        public Options {
            if (nNeighbors < 2) throw new SpectroException("map option nNeighbors must be >= 2, got " + nNeighbors);
            if (!(minDist >= 0)) throw new SpectroException("map option minDist must be >= 0, got " + minDist);
            if (neighborhoodSize < 1 || regionSize < 0 || maxRegions < 1)
                throw new SpectroException("map options neighborhoodSize, maxRegions must be >= 1 and regionSize >= 0");
        }

        public static Options defaults() { return new Options(45, 0.1f, 5, 0, 30, 1L); }
    }

    public static ClusterMap fit(Vectors centroids, int[] sizes, Options o) {
        int m = centroids.rows();
        if (m == 0) throw new SpectroException("no clusters to map");
        if (sizes.length != m) throw new IllegalArgumentException("sizes do not match centroids");
        float[][] xy = null;
        String layout;
        int nn = Math.min(o.nNeighbors(), m - 1);
        if (m >= 8) {
            try {
                float[][] data = new float[m][];
                for (int i = 0; i < m; i++) data[i] = centroids.row(i);
                Umap u = new Umap();
                u.setNumberComponents(2);
                u.setNumberNearestNeighbours(nn);
                u.setMinDist(o.minDist());
                u.setSeed(o.seed());
                u.setRandom(new Random(o.seed()));
                u.setThreads(1);
                u.setVerbose(false);
                xy = u.fitTransform(data);
                for (float[] p : xy) if (!Float.isFinite(p[0]) || !Float.isFinite(p[1])) xy = null;
            } catch (RuntimeException e) {
                xy = null;
            }
        }
        if (xy != null) layout = "umap (n_neighbors " + nn + ")";
        else {
            xy = pca2(centroids);
            layout = "pca (too few clusters for UMAP or UMAP failed)";
        }
        float[] x = new float[m], y = new float[m];
        for (int i = 0; i < m; i++) {
            x[i] = xy[i][0];
            y[i] = xy[i][1];
        }
        int rg = Math.max(1, Math.min(o.maxRegions(), o.regionSize() > 0 ? Math.round(m / (float) o.regionSize())
                : (int) Math.round(Math.sqrt(m))));
        int nb = Math.min(m, Math.max(rg, Math.round(m / (float) o.neighborhoodSize())));
        List<double[]> merges = ward(x, y, sizes);
        int[] neighborhood = cut(m, merges, nb), region = cut(m, merges, rg);
        return new ClusterMap(x, y, neighborhood, region, count(neighborhood), count(region), layout);
    }

    private static int count(int[] labels) {
        return Arrays.stream(labels).max().orElse(-1) + 1;
    }

    static float[][] pca2(Vectors v) {
        int m = v.rows(), d = v.cols();
        float[][] out = new float[m][2];
        if (m == 1) return out;
        double[] mu = new double[d];
        for (int i = 0; i < m; i++) for (int j = 0; j < d; j++) mu[j] += v.get(i, j) / m;
        double[][] cov = new double[d][d];
        for (int i = 0; i < m; i++)
            for (int a = 0; a < d; a++)
                for (int b = a; b < d; b++) cov[a][b] += (v.get(i, a) - mu[a]) * (v.get(i, b) - mu[b]);
        for (int a = 0; a < d; a++) for (int b = 0; b < a; b++) cov[a][b] = cov[b][a];
        EigenDecomposition e = new EigenDecomposition(new Array2DRowRealMatrix(cov, false));
        double[] ev = e.getRealEigenvalues();
        Integer[] ord = new Integer[d];
        for (int i = 0; i < d; i++) ord[i] = i;
        Arrays.sort(ord, (a, b) -> Double.compare(ev[b], ev[a]));
        for (int c = 0; c < Math.min(2, d); c++) {
            double[] vec = e.getEigenvector(ord[c]).toArray();
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int j = 0; j < d; j++) s += (v.get(i, j) - mu[j]) * vec[j];
                out[i][c] = (float) s;
            }
        }
        return out;
    }

    /** Ward agglomeration by nearest-neighbour chain; merges as {a, b, height, order}. */
    static List<double[]> ward(float[] x, float[] y, int[] sizes) {
        int m = x.length;
        double[] cx = new double[m], cy = new double[m], w = new double[m];
        boolean[] active = new boolean[m];
        for (int i = 0; i < m; i++) {
            cx[i] = x[i];
            cy[i] = y[i];
            w[i] = Math.max(1, sizes[i]);
            active[i] = true;
        }
        List<double[]> merges = new ArrayList<>();
        int[] chain = new int[m];
        int top = 0, left = m;
        while (left > 1) {
            if (top == 0) {
                int s = 0;
                while (!active[s]) s++;
                chain[top++] = s;
            }
            int a = chain[top - 1];
            int prev = top >= 2 ? chain[top - 2] : -1;
            int best = -1;
            double bd = Double.POSITIVE_INFINITY;
            for (int b = 0; b < m; b++) {
                if (b == a || !active[b]) continue;
                double dx = cx[a] - cx[b], dy = cy[a] - cy[b];
                double d = w[a] * w[b] / (w[a] + w[b]) * (dx * dx + dy * dy);
                if (d < bd || (d == bd && b == prev)) {
                    bd = d;
                    best = b;
                }
            }
            if (best == prev) {
                top -= 2;
                int lo = Math.min(a, best), hi = Math.max(a, best);
                double ww = w[lo] + w[hi];
                cx[lo] = (cx[lo] * w[lo] + cx[hi] * w[hi]) / ww;
                cy[lo] = (cy[lo] * w[lo] + cy[hi] * w[hi]) / ww;
                w[lo] = ww;
                active[hi] = false;
                merges.add(new double[]{lo, hi, bd, merges.size()});
                left--;
            } else chain[top++] = best;
        }
        return merges;
    }

    /** Applies the lowest m-groups merges; returns group labels 0.. in order of first appearance. */
    static int[] cut(int m, List<double[]> merges, int groups) {
        List<double[]> sorted = new ArrayList<>(merges);
        sorted.sort((p, q) -> p[2] != q[2] ? Double.compare(p[2], q[2]) : Double.compare(p[3], q[3]));
        int[] parent = new int[m];
        for (int i = 0; i < m; i++) parent[i] = i;
        for (int i = 0; i < m - groups && i < sorted.size(); i++) {
            int a = find(parent, (int) sorted.get(i)[0]), b = find(parent, (int) sorted.get(i)[1]);
            if (a != b) parent[Math.max(a, b)] = Math.min(a, b);
        }
        int[] label = new int[m], id = new int[m];
        Arrays.fill(id, -1);
        int next = 0;
        for (int i = 0; i < m; i++) {
            int r = find(parent, i);
            if (id[r] < 0) id[r] = next++;
            label[i] = id[r];
        }
        return label;
    }

    private static int find(int[] p, int i) {
        while (p[i] != i) {
            p[i] = p[p[i]];
            i = p[i];
        }
        return i;
    }
}
