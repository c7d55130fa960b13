package io.spectro.cluster;

import io.spectro.graph.Graph;
import io.spectro.util.NodeMap;

import java.util.Arrays;

/**
 * Personalized PageRank on an undirected graph with the random walk P = D^-1 A and teleport
 * probability α: ppr = α e_s + (1-α) ppr P. {@link #push} is the Andersen-Chung-Lang local push
 * (non-lazy form); {@link #dense} is power iteration, the reference for tests.
 */
public final class Ppr {
    private Ppr() {}

    /**
     * Reusable workspace for one PPR at a time. {@link #solve} keeps only state sized by the set it explores
     * (hash maps and arrays that grow with it), whatever the graph's size; {@link #push}, the reference,
     * uses dense arrays of graph size, made on its first call.
     */
    public static final class Workspace {
        private final int n;
        double[] p, r;
        boolean[] queued;
        int[] touched = new int[1024];
        int nTouched;
        int[] queue = new int[1024];
        /** {@link #solve}: local index + 1 of a node in the active set. */
        final NodeMap local = new NodeMap();
        /** {@link #solve}: slot + 1 of a node outside the active set that receives mass. */
        final NodeMap boundary = new NodeMap();
        /** Set membership for the caller's sweep (see PprClustering). */
        final NodeMap marks = new NodeMap();
        int[] set = new int[256];
        double[] y = new double[256], res = new double[256], dir = new double[256], q = new double[256],
                isd = new double[256];
        /** The active set's edges inside it, as local indices, node by node (rebuilt when the set grows). */
        int[] lofs = new int[257], ladj = new int[1024];
        int[] bnode = new int[256];
        double[] bval = new double[256];

        /** @param n the graph's node count (sizes the push's dense arrays only) */
        public Workspace(int n) { this.n = n; }

        private void dense() {
            if (p != null) return;
            p = new double[n];
            r = new double[n];
            queued = new boolean[n];
        }

        void growSet(int m) {
            if (m <= set.length) return;
            int c = Math.max(m, set.length * 2);
            set = Arrays.copyOf(set, c);
            y = Arrays.copyOf(y, c);
            res = Arrays.copyOf(res, c);
            dir = Arrays.copyOf(dir, c);
            q = Arrays.copyOf(q, c);
            isd = Arrays.copyOf(isd, c);
        }

        void touch(int v) {
            if (nTouched == touched.length) touched = Arrays.copyOf(touched, touched.length * 2);
            touched[nTouched++] = v;
        }

        void reset() {
            for (int i = 0; i < nTouched; i++) {
                int v = touched[i];
                p[v] = 0;
                r[v] = 0;
                queued[v] = false;
            }
            nTouched = 0;
        }
    }

    /** A sparse PPR approximation: nodes with p > 0 and their values, plus the work it took. */
    public record Result(int[] nodes, double[] values, long work, boolean capped, double residual) {}

    /**
     * Push until every residual r(u) < tol·deg(u), or until {@code maxWork} edge updates were done
     * (then {@code capped}: p is still a lower bound of the true PPR, with larger residual).
     */
    public static Result push(Graph g, int seed, double alpha, double tol, long maxWork, Workspace ws) {
        ws.dense();
        double[] p = ws.p, r = ws.r;
        boolean[] queued = ws.queued;
        int[] q = ws.queue;
        int head = 0, tail = 0, qn = q.length; // circular queue; size <= touched nodes
        ws.nTouched = 0;
        ws.touch(seed);
        r[seed] = 1;
        if (g.degree(seed) == 0) {
            p[seed] = 1;
            r[seed] = 0;
            Result res = collect(ws, 0, false, 0);
            ws.reset();
            return res;
        }
        q[tail++] = seed;
        int size = 1;
        queued[seed] = true;
        long work = 0;
        boolean capped = false;
        while (size > 0) {
            if (work >= maxWork) {
                capped = true;
                break;
            }
            int u = q[head];
            head = head + 1 == qn ? 0 : head + 1;
            size--;
            queued[u] = false;
            long lo = g.start(u), hi = g.end(u);
            int deg = (int) (hi - lo);
            double ru = r[u];
            if (ru < tol * deg) continue;
            p[u] += alpha * ru;
            r[u] = 0;
            double share = (1 - alpha) * ru / deg;
            for (long e = lo; e < hi; e++) {
                int v = g.adj(e);
                double rv = r[v];
                if (rv == 0 && p[v] == 0) ws.touch(v);
                rv += share;
                r[v] = rv;
                if (!queued[v] && rv >= tol * g.degree(v)) {
                    if (size == qn) { // grow the circular queue
                        int[] nq = new int[qn * 2];
                        for (int i = 0; i < size; i++) nq[i] = q[(head + i) % qn];
                        q = nq;
                        head = 0;
                        tail = size;
                        qn = q.length;
                        ws.queue = q;
                    }
                    q[tail] = v;
                    tail = tail + 1 == qn ? 0 : tail + 1;
                    size++;
                    queued[v] = true;
                }
            }
            work += deg;
        }
        double residual = 0;
        for (int i = 0; i < ws.nTouched; i++) residual += r[ws.touched[i]];
        Result res = collect(ws, work, capped, residual);
        ws.reset();
        return res;
    }

    /**
     * The same PPR to the same accuracy as {@link #push}, by conjugate gradients on a growing active set S.
     * The push stops when every undistributed mass r(u) < tol·deg(u); in terms of the PPR equation
     * L p = α e_s with L = I - (1-α) A D^-1, its residual is α e_s - L p = α r, so the same guarantee is
     * |α e_s - L p|(u) < α·tol·deg(u) at every node, now of either sign. Here: solve the equation restricted
     * to S (symmetric form (I - (1-α) D^-1/2 A D^-1/2) y = α D^-1/2 e_s, p = D^1/2 y) until every residual in
     * S is below half that bound, then add every node outside S whose residual (1-α) Σ p(u)/deg(u) reaches
     * it, and repeat until none does. CG needs about √(1/α) matrix products where the push needs about 1/α
     * passes over the set, plus a few for each eigenvalue that stands apart (a closed cluster has one), so
     * a push of 2·10^7 edge updates takes ~10^5 here. Stops after {@code maxWork} edge visits (then
     * {@code capped}, and p is the PPR of the walk killed on leaving S). {@code residual} is Σ|r(u)| over S
     * and its boundary, in the push's units (undistributed mass).
     */
    public static Result solve(Graph g, int seed, double alpha, double tol, long maxWork, Workspace ws) {
        if (g.degree(seed) == 0) return new Result(new int[]{seed}, new double[]{1}, 0, false, 0);
        NodeMap local = ws.local;
        local.clear();
        int m = 0;
        ws.growSet(1);
        ws.set[m] = seed;
        ws.y[m] = 0;
        ws.isd[m] = 1 / Math.sqrt(g.degree(seed));
        local.put(seed, ++m);
        double b = alpha * ws.isd[0]; // right-hand side, nonzero only at the seed (local index 0)
        double keep = 1 - alpha, bound = alpha * tol;
        long work = 0;
        boolean capped = false;
        double boundaryMass;
        while (true) {
            int[] set = ws.set;
            double[] y = ws.y, r = ws.res, d = ws.dir, q = ws.q, isd = ws.isd;
            long vol = localEdges(g, ws, m);
            // r = b - M y, d = r
            multiply(ws.lofs, ws.ladj, isd, y, q, m, keep);
            work += vol;
            double rr = 0;
            for (int i = 0; i < m; i++) {
                r[i] = (i == 0 ? b : 0) - q[i];
                d[i] = r[i];
                rr += r[i] * r[i];
            }
            while (!converged(r, isd, m, 0.5 * bound)) {
                if (work >= maxWork) {
                    capped = true;
                    break;
                }
                multiply(ws.lofs, ws.ladj, isd, d, q, m, keep);
                work += vol;
                double dq = 0;
                for (int i = 0; i < m; i++) dq += d[i] * q[i];
                double a = rr / dq, rr2 = 0;
                for (int i = 0; i < m; i++) {
                    y[i] += a * d[i];
                    r[i] -= a * q[i];
                    rr2 += r[i] * r[i];
                }
                double beta = rr2 / rr;
                rr = rr2;
                for (int i = 0; i < m; i++) d[i] = r[i] + beta * d[i];
            }
            // mass arriving outside S: (1-α) Σ_{u in S, u~v} p(u)/deg(u) = (1-α) Σ y(u)/sqrt(deg(u)),
            // summed per node in first-arrival order
            NodeMap out = ws.boundary;
            out.clear();
            int nb = 0;
            for (int i = 0; i < m; i++) {
                int u = set[i];
                double share = keep * y[i] * isd[i];
                for (long e = g.start(u), end = g.end(u); e < end; e++) {
                    int v = g.adj(e);
                    if (local.get(v) != 0) continue;
                    int slot = out.get(v);
                    if (slot == 0) {
                        if (nb == ws.bnode.length) {
                            ws.bnode = Arrays.copyOf(ws.bnode, 2 * nb);
                            ws.bval = Arrays.copyOf(ws.bval, 2 * nb);
                        }
                        ws.bnode[nb] = v;
                        ws.bval[nb] = 0;
                        out.put(v, slot = ++nb);
                    }
                    ws.bval[slot - 1] += share;
                }
            }
            work += vol;
            boundaryMass = 0;
            int before = m;
            for (int t = 0; t < nb; t++) {
                int v = ws.bnode[t];
                double rv = ws.bval[t];
                boundaryMass += Math.abs(rv);
                if (capped || rv < bound * g.degree(v)) continue;
                ws.growSet(m + 1);
                ws.set[m] = v;
                ws.y[m] = 0;
                ws.isd[m] = 1 / Math.sqrt(g.degree(v));
                local.put(v, ++m);
            }
            if (m == before || capped) break;
        }
        double residual = boundaryMass;
        for (int i = 0; i < m; i++) residual += Math.abs(ws.res[i]) / ws.isd[i];
        residual /= alpha;
        int kept = 0;
        for (int i = 0; i < m; i++) if (ws.y[i] > 0) kept++;
        int[] nodes = new int[kept];
        double[] vals = new double[kept];
        kept = 0;
        for (int i = 0; i < m; i++) {
            if (ws.y[i] > 0) {
                nodes[kept] = ws.set[i];
                vals[kept++] = ws.y[i] / ws.isd[i];
            }
        }
        local.clear();
        return new Result(nodes, vals, work, capped, residual);
    }

    /**
     * The active set's internal edges as local indices, in the graph's edge order (ws.lofs, ws.ladj);
     * returns the set's volume (every edge of its nodes, the work one product over the graph would do).
     */
    private static long localEdges(Graph g, Workspace ws, int m) {
        if (ws.lofs.length < m + 1) ws.lofs = new int[Math.max(m + 1, 2 * ws.lofs.length)];
        int[] lofs = ws.lofs, set = ws.set;
        int[] ladj = ws.ladj;
        long vol = 0;
        int w = 0;
        for (int i = 0; i < m; i++) {
            int u = set[i];
            lofs[i] = w;
            long lo = g.start(u), hi = g.end(u);
            vol += hi - lo;
            for (long e = lo; e < hi; e++) {
                int j = ws.local.get(g.adj(e));
                if (j == 0) continue;
                if (w == ladj.length) ladj = ws.ladj = Arrays.copyOf(ladj, 2 * w);
                ladj[w++] = j - 1;
            }
        }
        lofs[m] = w;
        return vol;
    }

    /** q = M x on the active set, M = I - keep · D^-1/2 A D^-1/2 restricted to it (its edges from {@link #localEdges}). */
    private static void multiply(int[] lofs, int[] ladj, double[] isd, double[] x, double[] q, int m, double keep) {
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int e = lofs[i], end = lofs[i + 1]; e < end; e++) {
                int j = ladj[e];
                s += x[j] * isd[j];
            }
            q[i] = x[i] - keep * isd[i] * s;
        }
    }

    /** Every |r_p(u)| = |r_y(u)|·sqrt(deg u) below limit·deg(u), i.e. |r_y(u)| below limit·sqrt(deg u). */
    private static boolean converged(double[] r, double[] isd, int m, double limit) {
        for (int i = 0; i < m; i++) if (Math.abs(r[i]) * isd[i] >= limit) return false;
        return true;
    }

    private static Result collect(Workspace ws, long work, boolean capped, double residual) {
        int m = 0;
        for (int i = 0; i < ws.nTouched; i++) if (ws.p[ws.touched[i]] > 0) m++;
        int[] nodes = new int[m];
        double[] vals = new double[m];
        m = 0;
        for (int i = 0; i < ws.nTouched; i++) {
            int v = ws.touched[i];
            if (ws.p[v] > 0) {
                nodes[m] = v;
                vals[m++] = ws.p[v];
            }
        }
        return new Result(nodes, vals, work, capped, residual);
    }

    /** Dense PPR by power iteration (iterations x |E|), for checking {@link #push} on small graphs. */
    public static double[] dense(Graph g, int seed, double alpha, int iterations) {
        int n = g.nodes();
        double[] p = new double[n], next = new double[n];
        p[seed] = 1;
        for (int it = 0; it < iterations; it++) {
            Arrays.fill(next, 0);
            next[seed] += alpha;
            for (int u = 0; u < n; u++) {
                int deg = g.degree(u);
                if (p[u] == 0) continue;
                if (deg == 0) {
                    next[u] += (1 - alpha) * p[u];
                    continue;
                }
                double s = (1 - alpha) * p[u] / deg;
                for (long e = g.start(u); e < g.end(u); e++) next[g.adj(e)] += s;
            }
            double[] t = p;
            p = next;
            next = t;
        }
        return p;
    }
}
