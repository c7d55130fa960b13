package io.spectro.structure;

import io.spectro.SpectroException;
import io.spectro.cluster.PprClustering;
import io.spectro.graph.Graph;
import io.spectro.graph.Knn;
import io.spectro.graph.KnnGraph;
import io.spectro.io.Npy;
import io.spectro.map.ClusterMap;
import io.spectro.util.Vectors;
import io.spectro.whiten.Whitening;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The stages from χ vectors to the explorer, with their files:
 * <pre>
 * RUN/chi.npy, RUN/components.json, RUN/tokens.csv, RUN/contexts.jsonl   (estimator output)
 * RUN/whiten/transform.json, whitened.npy, source.json                  (whiten)
 * RUN/clusters/labels.npy, clusters.json, centroids.npy                 (cluster)
 * RUN/clusters/map.json                                                 (map)
 * RUN/report/index.html                                                 (report)
 * </pre>
 */
public final class Pipeline {
    private Pipeline() {}

    public static PrintStream log = System.err;

    public record Source(String chi, String runDir) {}

    public record ClustersFile(String format, String input, String chi, int rows, int dims, Map<String, Object> knn,
                               PprClustering.Options options, PprClustering.Stats stats, Map<String, Double> seconds,
                               List<String> components, List<Cards.Card> clusters) {}

    public record MapPoint(String id, float x, float y, int neighborhood, int region) {}

    public record Region(int id, String label, List<String> tokens, int clusters, int size, float x, float y) {}

    public record MapFile(String format, String layout, int neighborhoods, List<MapPoint> points, List<Region> regions) {}

    private static void info(String s) {
        if (log != null) log.println("spectro: " + s);
    }

    private static double since(long t0) {
        return Math.round((System.nanoTime() - t0) / 1e7) / 100.0;
    }

    static void write(Path file, Object value) {
        try {
            if (file.getParent() != null) Files.createDirectories(file.getParent());
            JsonMapper.shared().writeValue(file, value);
        } catch (JacksonException e) {
            throw new SpectroException(file + ": cannot write (" + e.getOriginalMessage() + ")", e);
        } catch (java.io.IOException e) {
            throw new SpectroException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    static <T> T read(Path file, Class<T> type) {
        if (!Files.isRegularFile(file)) throw new SpectroException(file + ": no such file");
        try {
            return JsonMapper.shared().readValue(file, type);
        } catch (JacksonException e) {
            throw new SpectroException(file + ": cannot parse (" + e.getOriginalMessage() + ")", e);
        }
    }

    /** The component names of a run (RUN/components.json), or c0, c1, ... when absent. */
    public static List<String> components(Path runDir, int h) {
        Path f = runDir == null ? null : runDir.resolve("components.json");
        if (f == null || !Files.isRegularFile(f)) {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < h; i++) out.add("c" + i);
            return out;
        }
        String[] names = read(f, String[].class);
        if (names == null || names.length != h)
            throw new SpectroException(f + ": lists " + (names == null ? 0 : names.length) + " components, chi has " + h + " columns");
        return List.of(names);
    }

    // ---- whiten ----

    public static Whitening whiten(Path chiFile, Path outDir, Whitening.Options o) {
        long t0 = System.nanoTime();
        Vectors chi = Vectors.read(chiFile);
        Whitening w = Whitening.fit(chi, o);
        Vectors out = w.apply(chi);
        w.save(outDir.resolve("transform.json"));
        Npy.write(outDir.resolve("whitened.npy"), out.data(), out.rows(), out.cols());
        write(outDir.resolve("source.json"), new Source(chiFile.toAbsolutePath().toString(),
                chiFile.toAbsolutePath().getParent().toString()));
        info(String.format("whitened %d x %d -> %d directions (%.1f%% of variance; %s) in %.2f s", chi.rows(), chi.cols(),
                w.kept(), 100 * w.explainedVariance(), w.rule(), since(t0)));
        return w;
    }

    // ---- cluster ----

    /**
     * Clusters {@code input} (a whitened.npy next to transform.json and source.json, or a raw chi.npy,
     * which is then whitened with the defaults first) and writes labels.npy, clusters.json and
     * centroids.npy into outDir.
     */
    public static ClustersFile cluster(Path input, Path outDir, Knn.Options ko, PprClustering.Options po, Path tokensDir) {
        Map<String, Double> secs = new LinkedHashMap<>();
        long t0 = System.nanoTime();
        Path dir = input.toAbsolutePath().getParent();
        Path chiFile;
        Vectors white;
        Whitening transform;
        if (Files.isRegularFile(dir.resolve("transform.json")) && !input.getFileName().toString().equals("chi.npy")) {
            transform = Whitening.load(dir.resolve("transform.json"));
            white = Vectors.read(input);
            chiFile = Files.isRegularFile(dir.resolve("source.json"))
                    ? Path.of(read(dir.resolve("source.json"), Source.class).chi()) : null;
            if (chiFile != null && !Files.isRegularFile(chiFile)) chiFile = null;
        } else {
            chiFile = input.toAbsolutePath();
            transform = whiten(chiFile, outDir.resolve("whiten"), Whitening.Options.defaults());
            white = Vectors.read(outDir.resolve("whiten").resolve("whitened.npy"));
        }
        secs.put("load_or_whiten", since(t0));
        int n = white.rows();
        if (n <= ko.k())
            throw new SpectroException(input + ": too few vectors for k: " + n + " rows, k = " + ko.k() + " needs at least k+1 rows");
        Path runDir = tokensDir != null ? tokensDir : chiFile != null ? chiFile.getParent() : dir;
        long t1 = System.nanoTime();
        KnnGraph knn = Knn.fit(white, ko);
        boolean exact = ko.method() == Knn.Method.EXACT || (ko.method() == Knn.Method.AUTO && n <= ko.exactLimit());
        Map<String, Object> knnInfo = new LinkedHashMap<>();
        knnInfo.put("k", ko.k());
        knnInfo.put("method", exact ? "exact" : "approximate");
        secs.put("knn", since(t1));
        if (!exact) {
            long t2 = System.nanoTime();
            double rec = Knn.recall(white, knn, 500, 7, ko.threads() == 0 ? io.spectro.util.Parallel.defaultThreads() : ko.threads());
            knnInfo.put("recall_sample_500", Math.round(rec * 10000) / 10000.0);
            knnInfo.put("stats", Knn.lastStats());
            secs.put("knn_recall_check", since(t2));
        }
        info("kNN graph (" + knnInfo + ") in " + secs.get("knn") + " s");
        long t3 = System.nanoTime();
        Graph g = Graph.symmetrize(knn);
        PprClustering.Result res = PprClustering.fit(g, po);
        secs.put("cluster", since(t3));
        info(res.clusters().size() + " clusters, " + res.stats() + " in " + secs.get("cluster") + " s");
        long t4 = System.nanoTime();
        Vectors chi = null, z = null;
        List<String> comps;
        if (chiFile != null) {
            chi = Vectors.read(chiFile);
            if (chi.rows() != n)
                throw new SpectroException(chiFile + ": has " + chi.rows() + " rows, the whitened vectors " + n);
            z = new Whitening(transform.mean(), transform.std(), false, new double[chi.cols()], null, 0, null, null)
                    .standardize(chi, io.spectro.util.Parallel.defaultThreads());
            comps = components(chiFile.getParent(), chi.cols());
        } else comps = null;
        TokenTable tokens = TokenTable.read(runDir, n);
        List<Cards.Card> cards = Cards.build(res.clusters(), tokens, z, comps, po.seed());
        // centroids in the whitened space (what the map lays out)
        int m = res.clusters().size(), d = white.cols();
        float[] cen = new float[m * d];
        for (int c = 0; c < m; c++) {
            int[] mem = res.clusters().get(c).members();
            double[] s = new double[d];
            for (int r : mem) for (int j = 0; j < d; j++) s[j] += white.get(r, j);
            for (int j = 0; j < d; j++) cen[c * d + j] = (float) (s[j] / mem.length);
        }
        secs.put("cards", since(t4));
        secs.put("total", since(t0));
        ClustersFile cf = new ClustersFile("spectro-clusters/1", input.toAbsolutePath().toString(),
                chiFile == null ? null : chiFile.toString(), n, d, knnInfo, po, res.stats(), secs, comps, cards);
        Npy.write(outDir.resolve("labels.npy"), res.labels(), n);
        Npy.write(outDir.resolve("centroids.npy"), cen, m, d);
        write(outDir.resolve("clusters.json"), cf);
        info("wrote " + outDir.resolve("clusters.json") + " (" + m + " clusters, " + secs + ")");
        return cf;
    }

    public static ClustersFile readClusters(Path clustersDir) {
        ClustersFile cf = read(clustersDir.resolve("clusters.json"), ClustersFile.class);
        if (cf == null || !"spectro-clusters/1".equals(cf.format()) || cf.clusters() == null)
            throw new SpectroException(clustersDir.resolve("clusters.json") + ": not a spectro-clusters/1 file");
        return cf;
    }

    // ---- map ----

    public static MapFile map(Path clustersDir, ClusterMap.Options o) {
        long t0 = System.nanoTime();
        ClustersFile cf = readClusters(clustersDir);
        Path cfile = clustersDir.resolve("centroids.npy");
        Vectors cen = Vectors.read(cfile);
        int m = cf.clusters().size();
        if (cen.rows() != m)
            throw new SpectroException(cfile + ": has " + cen.rows() + " rows, clusters.json lists " + m + " clusters");
        int[] sizes = cf.clusters().stream().mapToInt(Cards.Card::size).toArray();
        ClusterMap cm = ClusterMap.fit(cen, sizes, o);
        List<MapPoint> pts = new ArrayList<>();
        for (int i = 0; i < m; i++)
            pts.add(new MapPoint(cf.clusters().get(i).id(), cm.x()[i], cm.y()[i], cm.neighborhood()[i], cm.region()[i]));
        MapFile mf = new MapFile("spectro-map/1", cm.layout(), cm.neighborhoods(), pts, regions(cf, cm));
        write(clustersDir.resolve("map.json"), mf);
        info("map: " + m + " clusters, " + cm.neighborhoods() + " neighborhoods, " + cm.regions() + " regions, "
                + cm.layout() + ", in " + since(t0) + " s");
        return mf;
    }

    /** Regions labelled by their most characteristic tokens: count x ln(lift) over the clusters' tokens. */
    static List<Region> regions(ClustersFile cf, ClusterMap cm) {
        Map<String, Long> all = new HashMap<>();
        long total = 0;
        for (Cards.Card c : cf.clusters())
            for (Cards.TokenCount t : c.tokens()) {
                all.merge(t.t(), (long) t.n(), Long::sum);
                total += t.n();
            }
        List<Region> out = new ArrayList<>();
        for (int r = 0; r < cm.regions(); r++) {
            Map<String, Long> counts = new HashMap<>();
            long size = 0, rt = 0;
            int members = 0;
            double sx = 0, sy = 0;
            for (int i = 0; i < cm.region().length; i++) {
                if (cm.region()[i] != r) continue;
                Cards.Card c = cf.clusters().get(i);
                members++;
                size += c.size();
                sx += cm.x()[i] * c.size();
                sy += cm.y()[i] * c.size();
                for (Cards.TokenCount t : c.tokens()) {
                    counts.merge(t.t(), (long) t.n(), Long::sum);
                    rt += t.n();
                }
            }
            final long regionTotal = rt, grand = total;
            List<Map.Entry<String, Double>> scored = new ArrayList<>();
            for (Map.Entry<String, Long> e : counts.entrySet()) {
                if (e.getValue() < 2) continue;
                double lift = (e.getValue() / (double) regionTotal) / (all.get(e.getKey()) / (double) grand);
                if (lift > 1) scored.add(Map.entry(e.getKey(), e.getValue() * Math.log(lift)));
            }
            scored.sort(Map.Entry.<String, Double>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()));
            List<String> top = scored.stream().limit(3).map(Map.Entry::getKey).toList();
            if (top.isEmpty())
                top = counts.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()
                        .thenComparing(Map.Entry.comparingByKey())).limit(3).map(Map.Entry::getKey).toList();
            String label = top.isEmpty() ? "region " + (r + 1) : String.join(" \u00b7 ", top.stream().map(Pipeline::labelToken).toList());
            out.add(new Region(r, label, top, members, (int) size, (float) (sx / Math.max(1, size)), (float) (sy / Math.max(1, size))));
        }
        out.sort(Comparator.comparingInt(Region::id));
        return out;
    }

    /** A token as a region label shows it: trimmed, or with its whitespace escaped when it is only whitespace. */
    static String labelToken(String t) {
        String s = t.strip();
        return !s.isEmpty() ? s : t.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r").replace(" ", "\u2423");
    }

    public static MapFile readMap(Path clustersDir) {
        MapFile mf = read(clustersDir.resolve("map.json"), MapFile.class);
        if (mf == null || !"spectro-map/1".equals(mf.format()) || mf.points() == null)
            throw new SpectroException(clustersDir.resolve("map.json") + ": not a spectro-map/1 file");
        return mf;
    }

    /**
     * Runs whatever structure stage is missing for RUN (all of them with {@code redo}): whiten, cluster,
     * map; returns the clusters directory.
     */
    public static Path ensureStages(Path run, boolean redo, Whitening.Options wo, Knn.Options ko, PprClustering.Options po,
                                    ClusterMap.Options mo) {
        if (!Files.isDirectory(run)) throw new SpectroException(run + ": run directory does not exist");
        Path chi = run.resolve("chi.npy");
        if (!Files.isRegularFile(chi)) throw new SpectroException(run + ": no chi.npy in the run directory");
        Path wdir = run.resolve("whiten"), cdir = run.resolve("clusters");
        if (redo || !Files.isRegularFile(wdir.resolve("whitened.npy")) || !Files.isRegularFile(wdir.resolve("transform.json")))
            whiten(chi, wdir, wo);
        if (redo || !Files.isRegularFile(cdir.resolve("clusters.json")))
            cluster(wdir.resolve("whitened.npy"), cdir, ko, po, run);
        if (redo || !Files.isRegularFile(cdir.resolve("map.json"))) map(cdir, mo);
        return cdir;
    }

    /** Makes sure RUN has clusters (running whiten and cluster with defaults when missing). */
    public static ClustersFile ensureClusters(Path run) {
        Path cdir = run.resolve("clusters");
        if (!Files.isRegularFile(cdir.resolve("clusters.json"))) {
            if (!Files.isRegularFile(run.resolve("chi.npy")))
                throw new SpectroException(run + ": neither clusters/clusters.json nor chi.npy found");
            Path wdir = run.resolve("whiten");
            if (!Files.isRegularFile(wdir.resolve("whitened.npy"))) whiten(run.resolve("chi.npy"), wdir, Whitening.Options.defaults());
            cluster(wdir.resolve("whitened.npy"), cdir, Knn.Options.defaults(), PprClustering.Options.defaults(), run);
        }
        return readClusters(cdir);
    }
}
