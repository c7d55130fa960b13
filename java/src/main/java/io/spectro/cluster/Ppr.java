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

        public Workspace(int n) {
            p = new double[n];
            r = new double[n];
            queued = new boolean[n];
            touched = new int[1024];
            queue = new int[1024];
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
