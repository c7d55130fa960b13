package io.spectro.cluster;

import io.spectro.graph.Graph;

import java.util.Arrays;

/**
 * Personalized PageRank on an undirected graph with the random walk P = D^-1 A and teleport
 * probability α: ppr = α e_s + (1-α) ppr P. {@link #push} is the Andersen-Chung-Lang local push
 * (non-lazy form); {@link #dense} is power iteration, the reference for tests.
 */
public final class Ppr {
    private Ppr() {}

    /** Reusable dense workspace for one push at a time (arrays of graph size, reset sparsely). */
    public static final class Workspace {
        final double[] p, r;
        final boolean[] queued;
        int[] touched;
        int nTouched;
        int[] queue;
        /** {@link #solve}: local index + 1 of a node in the active set, 0 outside. */
        final int[] local;
        int[] set = new int[256];
        double[] y = new double[256], res = new double[256], dir = new double[256], q = new double[256],
                isd = new double[256];

        public Workspace(int n) {
            p = new double[n];
            r = new double[n];
            queued = new boolean[n];
            local = new int[n];
            touched = new int[1024];
            queue = new int[1024];
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
        int[] off = g.offsets(), adj = g.adj();
        double[] p = ws.p, r = ws.r;
        boolean[] queued = ws.queued;
        int[] q = ws.queue;
        int head = 0, tail = 0, qn = q.length; // circular queue; size <= touched nodes
        ws.nTouched = 0;
        ws.touch(seed);
        r[seed] = 1;
        if (off[seed + 1] - off[seed] == 0) {
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
            int lo = off[u], hi = off[u + 1], deg = hi - lo;
            double ru = r[u];
            if (ru < tol * deg) continue;
            p[u] += alpha * ru;
            r[u] = 0;
            double share = (1 - alpha) * ru / deg;
            for (int e = lo; e < hi; e++) {
                int v = adj[e];
                double rv = r[v];
                if (rv == 0 && p[v] == 0) ws.touch(v);
                rv += share;
                r[v] = rv;
                if (!queued[v] && rv >= tol * (off[v + 1] - off[v])) {
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
        int[] off = g.offsets(), adj = g.adj();
        if (off[seed + 1] - off[seed] == 0) {
            ws.nTouched = 0;
            ws.touch(seed);
            ws.p[seed] = 1;
            Result res = collect(ws, 0, false, 0);
            ws.reset();
            return res;
        }
        int[] local = ws.local;
        int m = 0;
        ws.growSet(1);
        ws.set[m] = seed;
        ws.y[m] = 0;
        ws.isd[m] = 1 / Math.sqrt(off[seed + 1] - off[seed]);
        local[seed] = ++m;
        double b = alpha * ws.isd[0]; // right-hand side, nonzero only at the seed (local index 0)
        double keep = 1 - alpha, bound = alpha * tol;
        long work = 0;
        boolean capped = false;
        double boundaryMass;
        while (true) {
            int[] set = ws.set;
            double[] y = ws.y, r = ws.res, d = ws.dir, q = ws.q, isd = ws.isd;
            // r = b - M y, d = r
            long vol = multiply(off, adj, local, set, isd, y, q, m, keep);
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
                multiply(off, adj, local, set, isd, d, q, m, keep);
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
            // mass arriving outside S: (1-α) Σ_{u in S, u~v} p(u)/deg(u) = (1-α) Σ y(u)/sqrt(deg(u))
            ws.nTouched = 0;
            for (int i = 0; i < m; i++) {
                int u = set[i];
                double share = keep * y[i] * isd[i];
                for (int e = off[u]; e < off[u + 1]; e++) {
                    int v = adj[e];
                    if (local[v] != 0) continue;
                    if (ws.r[v] == 0) ws.touch(v);
                    ws.r[v] += share;
                }
            }
            work += vol;
            boundaryMass = 0;
            int before = m;
            for (int t = 0; t < ws.nTouched; t++) {
                int v = ws.touched[t];
                double rv = ws.r[v];
                ws.r[v] = 0;
                boundaryMass += Math.abs(rv);
                if (capped || rv < bound * (off[v + 1] - off[v])) continue;
                ws.growSet(m + 1);
                ws.set[m] = v;
                ws.y[m] = 0;
                ws.isd[m] = 1 / Math.sqrt(off[v + 1] - off[v]);
                local[v] = ++m;
            }
            ws.nTouched = 0;
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
            local[ws.set[i]] = 0;
            if (ws.y[i] > 0) {
                nodes[kept] = ws.set[i];
                vals[kept++] = ws.y[i] / ws.isd[i];
            }
        }
        return new Result(nodes, vals, work, capped, residual);
    }

    /** q = M x on the active set, M = I - keep · D^-1/2 A D^-1/2 restricted to it; returns the edges visited. */
    private static long multiply(int[] off, int[] adj, int[] local, int[] set, double[] isd, double[] x, double[] q,
                                 int m, double keep) {
        long vol = 0;
        for (int i = 0; i < m; i++) {
            int u = set[i];
            double s = 0;
            for (int e = off[u]; e < off[u + 1]; e++) {
                int j = local[adj[e]];
                if (j != 0) s += x[j - 1] * isd[j - 1];
            }
            vol += off[u + 1] - off[u];
            q[i] = x[i] - keep * isd[i] * s;
        }
        return vol;
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
        int[] off = g.offsets(), adj = g.adj();
        double[] p = new double[n], next = new double[n];
        p[seed] = 1;
        for (int it = 0; it < iterations; it++) {
            Arrays.fill(next, 0);
            next[seed] += alpha;
            for (int u = 0; u < n; u++) {
                int deg = off[u + 1] - off[u];
                if (p[u] == 0) continue;
                if (deg == 0) {
                    next[u] += (1 - alpha) * p[u];
                    continue;
                }
                double s = (1 - alpha) * p[u] / deg;
                for (int e = off[u]; e < off[u + 1]; e++) next[adj[e]] += s;
            }
            double[] t = p;
            p = next;
            next = t;
        }
        return p;
    }
}
