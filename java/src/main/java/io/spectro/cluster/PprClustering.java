package io.spectro.cluster;

import io.spectro.SpectroException;
import io.spectro.graph.Graph;
import io.spectro.util.NodeMap;
import io.spectro.util.Parallel;
import io.spectro.util.Progress;

import java.util.ArrayList;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Conductance clustering by personalized PageRank (method.md section 4), on a symmetrised kNN graph:
 * <ol>
 * <li>seeds are taken in a seeded random order among rows not yet covered and not yet tried, in rounds
 * of {@code seedsPerRound} (computed in parallel, accepted in order);</li>
 * <li>PPR from the seed by push (teleport α, tolerance tol, at most {@code maxPushWork} edge updates);</li>
 * <li>nodes sorted by PPR/degree; the prefix (sweep cut) of minimum conductance cut/vol among the
 * prefixes holding at most half the graph's volume; with {@code sweepWindow} R &gt; 0, the shortest prefix of at
 * least {@code minSize} nodes whose conductance is the lowest of all prefixes up to R times its length (a local
 * minimum: groups joined into one connected component are otherwise returned whole, docs/clustering.md);</li>
 * <li>the main body: the highest-PPR part of that set holding {@code mainBody} of its PPR mass;</li>
 * <li>accepted when it has at least {@code minSize} members and at least {@code minNovelty} of them
 * were not covered before (a guard against near-duplicates from seeds on a known cluster's rim);</li>
 * <li>stop when the last {@link #stopWindow} seeds together added less than {@code minGain} of all rows to
 * the coverage (the window grows with N, so the rule means the same at any N).</li>
 * </ol>
 * Memberships may overlap. The primary label of a row is the cluster in which its PPR per degree,
 * relative to that cluster's mean PPR per unit volume, is highest; -1 when no cluster holds it.
 * Deterministic for a seed, whatever the number of threads.
 */
public final class PprClustering {

    /**
     * @param k neighbours of the kNN graph (used by the callers that build it; 45 published)
     * @param alpha PPR teleport probability (0.001 published)
     * @param tol push tolerance per unit degree (1e-7 published)
     * @param mainBody fraction of PPR mass kept by the trim (0.99 published)
     * @param minSize smallest accepted cluster (20 published)
     * @param minGain stop when the last {@link #stopWindow} seeds added less than this fraction of rows (0.001 published)
     * @param seed random seed of the seed order
     * @param maxPushWork edge updates per push at most (practical safeguard, see docs/clustering.md)
     * @param seedsPerRound seeds pushed per round (in parallel)
     * @param minNovelty fraction of an accepted cluster's members that must be new
     * @param threads worker threads (0 = all processors)
     * @param sweepWindow 0: the sweep set is the prefix of globally minimum conductance (the published reading);
     *                    R &gt;= 1: the shortest prefix of at least minSize nodes of lowest conductance among all
     *                    prefixes up to R times its length; {@link #AUTO} (-1): {@link #DEFAULT_WINDOW} (see {@link #sweepWindowFor})
     */
    public record Options(int k, double alpha, double tol, double mainBody, int minSize, double minGain, long seed,
                          long maxPushWork, int seedsPerRound, double minNovelty, int threads, double sweepWindow) {
        public Options(int k, double alpha, double tol, double mainBody, int minSize, double minGain, long seed,
                       long maxPushWork, int seedsPerRound, double minNovelty, int threads) {
            this(k, alpha, tol, mainBody, minSize, minGain, seed, maxPushWork, seedsPerRound, minNovelty, threads, AUTO);
        }

        /** sweepWindow: the default, {@link #DEFAULT_WINDOW} ({@link #sweepWindowFor}). */
        public static final double AUTO = -1;
        /** The local-minimum window AUTO uses (measured from 2,000 to 1M rows, docs/clustering.md "Small inputs"). */
        public static final double DEFAULT_WINDOW = 1.25;

        /** The sweep window used on a graph of n nodes: sweepWindow itself unless it is AUTO. */
        public double sweepWindowFor(int n) {
            return sweepWindow != AUTO ? sweepWindow : DEFAULT_WINDOW;
        }

        public Options {
            if (!(sweepWindow == AUTO || sweepWindow == 0 || (sweepWindow >= 1 && Double.isFinite(sweepWindow))))
                throw new SpectroException("cluster option sweepWindow must be auto (-1), 0 (global minimum) or >= 1, got "
                        + sweepWindow);
            if (k < 1) throw new SpectroException("cluster option k must be >= 1, got " + k);
            if (!(alpha > 0 && alpha < 1)) throw new SpectroException("cluster option alpha must be in (0, 1), got " + alpha);
            if (!(tol > 0 && tol < 1)) throw new SpectroException("cluster option tol must be in (0, 1), got " + tol);
            if (!(mainBody > 0 && mainBody <= 1)) throw new SpectroException("cluster option mainBody must be in (0, 1], got " + mainBody);
            if (minSize < 1) throw new SpectroException("cluster option minSize must be >= 1, got " + minSize);
            if (!(minGain >= 0 && minGain < 1)) throw new SpectroException("cluster option minGain must be in [0, 1), got " + minGain);
            if (maxPushWork < 1) throw new SpectroException("cluster option maxPushWork must be >= 1, got " + maxPushWork);
            if (seedsPerRound < 1) throw new SpectroException("cluster option seedsPerRound must be >= 1, got " + seedsPerRound);
            if (!(minNovelty >= 0 && minNovelty <= 1)) throw new SpectroException("cluster option minNovelty must be in [0, 1], got " + minNovelty);
            if (threads < 0) throw new SpectroException("cluster option threads must be >= 0, got " + threads);
        }

        /** The published hyperparameters plus this implementation's safeguards. */
        public static Options defaults() {
            return new Options(45, 0.001, 1e-7, 0.99, 20, 0.001, 1L, 50_000_000L, 8, 0.5, 0, AUTO);
        }

        public Options withSeed(long s) {
            return new Options(k, alpha, tol, mainBody, minSize, minGain, s, maxPushWork, seedsPerRound, minNovelty, threads, sweepWindow);
        }

        public Options withK(int kk) {
            return new Options(kk, alpha, tol, mainBody, minSize, minGain, seed, maxPushWork, seedsPerRound, minNovelty, threads, sweepWindow);
        }

        public Options withMinSize(int m) {
            return new Options(k, alpha, tol, mainBody, m, minGain, seed, maxPushWork, seedsPerRound, minNovelty, threads, sweepWindow);
        }

        public Options withMaxPushWork(long w) {
            return new Options(k, alpha, tol, mainBody, minSize, minGain, seed, w, seedsPerRound, minNovelty, threads, sweepWindow);
        }

        public Options withSweepWindow(double r) {
            return new Options(k, alpha, tol, mainBody, minSize, minGain, seed, maxPushWork, seedsPerRound, minNovelty, threads, r);
        }

        public Options withThreads(int t) {
            return new Options(k, alpha, tol, mainBody, minSize, minGain, seed, maxPushWork, seedsPerRound, minNovelty, t, sweepWindow);
        }
    }

    /**
     * One cluster: sorted members, each member's primary-label score, and how it was found (the push's edge
     * updates, whether the work cap stopped it, and the PPR mass it left as residual: 0 for an exact PPR,
     * at most tol·vol(G) for a push that finished).
     */
    public record Cluster(int[] members, float[] scores, int seed, double conductance, long pushWork, boolean capped,
                          double residual) {
        public int size() { return members.length; }
    }

    /** Counters of one fit, and the sweep window it used ({@link Options#sweepWindowFor}). */
    public record Stats(int attempts, int rounds, long pushWork, int capped, double coverage, String stopReason,
                        double sweepWindow) {}

    /** The result: clusters in order of discovery, a primary label per row (-1 = none). */
    public record Result(List<Cluster> clusters, int[] labels, Stats stats) {}

    private PprClustering() {}

    private record Candidate(int seed, int[] body, float[] scores, double conductance, long work, boolean capped,
                             double residual) {}

    /** The candidate cluster of one seed as {@link #fit} computes it (diagnostics and tests). */
    public static Cluster probe(Graph g, int seed, Options o) {
        Candidate c = candidate(g, seed, o, new Ppr.Workspace(g.nodes()));
        return new Cluster(c.body, c.scores, seed, c.conductance, c.work, c.capped, c.residual);
    }

    public static Result fit(Graph g, Options o) { return fit(g, o, null); }

    /** As {@link #fit(Graph, Options)}, advancing {@code progress} (may be null; total N) by newly covered rows. */
    public static Result fit(Graph g, Options o, Progress progress) {
        int n = g.nodes();
        if (n == 0) throw new SpectroException("cannot cluster an empty graph");
        int threads = o.threads() == 0 ? Parallel.defaultThreads() : o.threads();
        int[] order = permutation(n, o.seed());
        boolean[] covered = new boolean[n], tried = new boolean[n];
        int nCovered = 0, cursor = 0, attempts = 0, rounds = 0, cappedCount = 0;
        long totalWork = 0;
        List<Cluster> clusters = new ArrayList<>();
        int nw = Math.min(threads, o.seedsPerRound());
        Ppr.Workspace[] spaces = new Ppr.Workspace[nw];
        String stop = "no uncovered rows left";
        int window = stopWindow(n, o);
        double needed = o.minGain() * n;
        int[] recent = new int[window]; // rows added by each of the last `window` seeds, a ring in seed order
        long recentSum = 0;
        while (true) {
            int[] seeds = new int[o.seedsPerRound()];
            int m = 0;
            while (m < seeds.length && cursor < n) {
                int v = order[cursor++];
                if (!covered[v] && !tried[v]) seeds[m++] = v;
            }
            if (m == 0) break;
            rounds++;
            final int[] batch = Arrays.copyOf(seeds, m);
            Candidate[] cands = new Candidate[m];
            final int workers = Math.min(nw, m);
            Parallel.forEach(workers, workers, w -> {
                if (spaces[w] == null) spaces[w] = new Ppr.Workspace(n);
                for (int s = w; s < batch.length; s += workers) cands[s] = candidate(g, batch[s], o, spaces[w]);
            });
            for (Candidate c : cands) {
                int slot = attempts % window;
                recentSum -= recent[slot];
                recent[slot] = 0;
                attempts++;
                tried[c.seed] = true;
                totalWork += c.work;
                if (c.capped) cappedCount++;
                if (c.body.length < o.minSize()) continue;
                int fresh = 0;
                for (int v : c.body) if (!covered[v]) fresh++;
                if (fresh < o.minNovelty() * c.body.length || fresh == 0) continue;
                for (int v : c.body) covered[v] = true;
                nCovered += fresh;
                if (progress != null) progress.advance(fresh);
                recent[slot] = fresh;
                recentSum += fresh;
                clusters.add(new Cluster(c.body, c.scores, c.seed, c.conductance, c.work, c.capped, c.residual));
            }
            if (progress != null) progress.label(clusters.size() + " clusters");
            if (attempts >= window && recentSum < needed) {
                stop = "the last " + window + " seeds added " + recentSum + " rows (< minGain " + o.minGain() + " x "
                        + n + " rows)";
                break;
            }
        }
        int[] labels = new int[n];
        Arrays.fill(labels, -1);
        float[] best = new float[n];
        for (int c = 0; c < clusters.size(); c++) {
            Cluster cl = clusters.get(c);
            for (int i = 0; i < cl.members.length; i++) {
                int v = cl.members[i];
                if (labels[v] < 0 || cl.scores[i] > best[v]) {
                    labels[v] = c;
                    best[v] = cl.scores[i];
                }
            }
        }
        return new Result(clusters, labels,
                new Stats(attempts, rounds, totalWork, cappedCount, nCovered / (double) n, stop, o.sweepWindowFor(n)));
    }

    /** PPR from one seed, sweep cut, main-body trim. Members come back sorted by node index. */
    static Candidate candidate(Graph g, int seed, Options o, Ppr.Workspace ws) {
        Ppr.Result pr = Ppr.solve(g, seed, o.alpha(), o.tol(), o.maxPushWork(), ws);
        int m = pr.nodes().length;
        double[] rank = new double[m];
        Integer[] idx = new Integer[m];
        for (int i = 0; i < m; i++) {
            idx[i] = i;
            rank[i] = pr.values()[i] / Math.max(1, g.degree(pr.nodes()[i]));
        }
        Arrays.sort(idx, (a, b) -> {
            int c = Double.compare(rank[b], rank[a]);
            return c != 0 ? c : Integer.compare(pr.nodes()[a], pr.nodes()[b]);
        });
        // sweep: conductance of each prefix, the prefix's nodes marked in the workspace's map
        NodeMap in = ws.marks;
        in.clear();
        long volG = g.volume(), vol = 0, cut = 0;
        double bestPhi = Double.POSITIVE_INFINITY;
        int bestLen = 0, swept = 0;
        double window = o.sweepWindowFor(g.nodes());
        double[] phis = window > 0 ? new double[m] : null;
        for (int j = 0; j < m; j++) {
            int u = pr.nodes()[idx[j]];
            int inside = 0;
            for (long e = g.start(u), end = g.end(u); e < end; e++) if (in.get(g.adj(e)) != 0) inside++;
            int deg = g.degree(u);
            in.put(u, 1);
            vol += deg;
            cut += deg - 2L * inside;
            // only sets of at most half the graph's volume: beyond that, a set's conductance is its
            // complement's, and the sweep would return "everything but another cluster"
            if (2 * vol > volG) break;
            double phi = vol > 0 ? cut / (double) vol : Double.POSITIVE_INFINITY;
            if (phis != null) phis[swept++] = phi;
            if (phi < bestPhi) {
                bestPhi = phi;
                bestLen = j + 1;
            }
        }
        in.clear();
        if (phis != null) {
            int len = localMinimum(phis, swept, window, o.minSize());
            if (len > 0) {
                bestLen = len;
                bestPhi = phis[len - 1];
            }
        }
        if (bestLen == 0) bestLen = 1;
        // main body: by PPR value, the smallest prefix of the sweep set holding mainBody of its mass
        Integer[] byMass = Arrays.copyOf(idx, bestLen);
        Arrays.sort(byMass, (a, b) -> {
            int c = Double.compare(pr.values()[b], pr.values()[a]);
            return c != 0 ? c : Integer.compare(pr.nodes()[a], pr.nodes()[b]);
        });
        double total = 0;
        for (Integer a : byMass) total += pr.values()[a];
        double acc = 0;
        int keep = 0;
        while (keep < byMass.length && acc < o.mainBody() * total) acc += pr.values()[byMass[keep++]];
        double volBody = 0, massBody = 0;
        for (int j = 0; j < keep; j++) {
            volBody += Math.max(1, g.degree(pr.nodes()[byMass[j]]));
            massBody += pr.values()[byMass[j]];
        }
        double norm = massBody > 0 ? volBody / massBody : 1;
        long[] packed = new long[keep];
        float[] sc = new float[keep];
        for (int j = 0; j < keep; j++) packed[j] = ((long) pr.nodes()[byMass[j]] << 32) | j;
        Arrays.sort(packed);
        int[] body = new int[keep];
        for (int j = 0; j < keep; j++) {
            body[j] = (int) (packed[j] >>> 32);
            int a = byMass[(int) (packed[j] & 0xffffffffL)];
            sc[j] = (float) (rank[a] * norm);
        }
        return new Candidate(seed, body, sc, bestPhi, pr.work(), pr.capped(), pr.residual());
    }

    /**
     * The shortest prefix length L &gt;= minLen whose conductance phi[L-1] is the lowest among the prefixes of
     * length 1 .. min(n, ceil(L·window)); 0 when none is (then the global minimum stands). O(n).
     */
    static int localMinimum(double[] phi, int n, double window, int minLen) {
        double[] prefixMin = new double[n];
        for (int t = 0; t < n; t++) prefixMin[t] = t == 0 ? phi[0] : Math.min(prefixMin[t - 1], phi[t]);
        for (int len = Math.max(1, minLen); len <= n; len++) {
            int hi = (int) Math.min(n, Math.ceil(len * window));
            if (phi[len - 1] <= prefixMin[hi - 1]) return len;
        }
        return 0;
    }

    /**
     * Seeds over which the stop rule sums the coverage gain: enough that minimum-size clusters could add
     * minGain·N rows (⌈minGain·N / minSize⌉), and at least one round. With a fixed window (say one round of
     * 8 seeds) the rule would ask 8 seeds for 0.1% of N, i.e. clusters of N/8000 rows each: 125 rows at
     * 1M, 5,750 at 46M, larger than the clusters sought, and the run would stop after its first round.
     */
    public static int stopWindow(int n, Options o) {
        return (int) Math.max(o.seedsPerRound(), Math.ceil(o.minGain() * n / o.minSize()));
    }

    static int[] permutation(int n, long seed) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
