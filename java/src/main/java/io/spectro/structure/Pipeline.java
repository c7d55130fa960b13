package io.spectro.structure;

import io.spectro.SpectroException;
import io.spectro.chi.Health;
import io.spectro.chi.PredictedRows;
import io.spectro.cluster.PprClustering;
import io.spectro.graph.Graph;
import io.spectro.graph.Knn;
import io.spectro.graph.KnnGraph;
import io.spectro.io.Atomic;
import io.spectro.io.Npy;
import io.spectro.map.ClusterMap;
import io.spectro.util.MappedVectors;
import io.spectro.util.Progress;
import io.spectro.util.Rows;
import io.spectro.util.SelectedRows;
import io.spectro.util.Scratch;
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

    /**
     * @param droppedColumns chi.npy's columns left out as non-finite (--drop-nan-columns); null or empty: none
     * @param fitRows        rows the transform was fit on: the ground-truth rows (all rows of a run without
     *                       predicted.npy; 0 in files written before the field existed)
     * @param predictedRows  rows predicted by an auxiliary model: transformed, not fit on
     * @param transformFrom  where the transform came from when it was not fit here (an all-predicted run: its
     *                       AUX's transform), else null
     */
    public record Source(String chi, String runDir, List<Integer> droppedColumns, int fitRows, int predictedRows,
                         String transformFrom) {
        public Source(String chi, String runDir, List<Integer> droppedColumns) {
            this(chi, runDir, droppedColumns, 0, 0, null);
        }
    }

    /** chi.npy's columns that are used, and the indices of those left out. */
    public record ChiColumns(Vectors chi, List<Integer> dropped) {
        /** The names of the columns used (components.json without the dropped ones). */
        public List<String> names(Path runDir) {
            List<String> all = new ArrayList<>(components(runDir, chi.cols() + dropped.size()));
            for (int i = dropped.size() - 1; i >= 0; i--) all.remove((int) dropped.get(i));
            return all;
        }
    }

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
        Atomic.writeString(file, JsonMapper.shared().writeValueAsString(value));
    }

    /**
     * Reads chi.npy. A column holding NaN or infinite values (a component that stopped: its
     * diagnostics say why) is refused, naming it, unless {@code dropNan}: then every such column is
     * left out (or exactly the columns {@code drop} lists, when not null).
     */
    public static ChiColumns readChi(Path chiFile, boolean dropNan, List<Integer> drop) {
        return readChi(chiFile, dropNan, drop, List.of());
    }

    /**
     * chi.npy without {@code drop} (when given) or else without {@code unhealthy} (columns health gating
     * leaves out) and, with {@code dropNan}, the other columns holding NaN/inf (refused without it).
     */
    public static ChiColumns readChi(Path chiFile, boolean dropNan, List<Integer> drop, List<Integer> unhealthy) {
        Npy.Floats f = Npy.readFloats(chiFile);
        if (f.shape().length != 2)
            throw new SpectroException(chiFile + ": expected a 2-D array [rows, components], got shape " + java.util.Arrays.toString(f.shape()));
        int rows = f.dim(0), cols = f.dim(1);
        float[] x = f.data();
        if (rows == 0 || cols == 0) throw new SpectroException(chiFile + ": empty array of shape " + rows + "x" + cols);
        List<Integer> bad = new ArrayList<>(), badRows = new ArrayList<>();
        if (drop != null) bad.addAll(drop);
        else {
            boolean[] nonFinite = new boolean[cols];
            java.util.Set<Integer> gated = new java.util.HashSet<>(unhealthy);
            for (int i = 0; i < x.length; i++)
                if (!Float.isFinite(x[i]) && !gated.contains(i % cols)) {
                    nonFinite[i % cols] = true;
                    if (badRows.size() < 20 && (badRows.isEmpty() || badRows.getLast() != i / cols)) badRows.add(i / cols);
                }
            for (int c = 0; c < cols; c++) if (nonFinite[c]) bad.add(c);
        }
        if (bad.isEmpty() && unhealthy.isEmpty()) return new ChiColumns(new Vectors(x, rows, cols), List.of());
        if (drop == null && !bad.isEmpty() && !dropNan) {
            List<String> names = components(chiFile.getParent(), cols);
            throw new SpectroException(chiFile + ": column(s) " + bad.stream().map(c -> c + " (" + names.get(c) + ")").toList()
                    + " hold NaN or infinite values, rows " + badRows + (badRows.size() == 20 ? " and maybe more" : "")
                    + " (0-based; a component that stopped: see diagnostics.json); pass --drop-nan-columns to leave those columns out");
        }
        if (drop == null) {
            bad.addAll(unhealthy);
            bad = new ArrayList<>(new java.util.TreeSet<>(bad));
        }
        if (bad.size() >= cols) throw new SpectroException(chiFile + ": every column is left out (NaN/inf or failing health); nothing is left to whiten");
        int kept = cols - bad.size();
        boolean[] out = new boolean[cols];
        for (int c : bad) {
            if (c < 0 || c >= cols) throw new SpectroException(chiFile + ": has " + cols + " columns, the whitening dropped column " + c);
            out[c] = true;
        }
        float[] y = new float[rows * kept];
        for (int r = 0, o = 0; r < rows; r++) for (int c = 0; c < cols; c++) if (!out[c]) y[o++] = x[r * cols + c];
        Vectors v = new Vectors(y, rows, kept);
        v.requireFinite(chiFile + " (without the dropped columns " + bad + ")");
        info("left out " + bad.size() + " column(s) of " + chiFile + " (failing health or holding NaN/inf): " + bad);
        return new ChiColumns(v, List.copyOf(bad));
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

    /**
     * Whitens chiFile into outDir. A chi.npy larger than {@code -Dspectro.mapBytes} is memory-mapped and
     * streamed (statistics and covariance in passes over the mapped rows, the projection written straight
     * into a mapped whitened.npy); smaller ones are read onto the heap. Both give the same bytes. The stage is
     * atomic: transform.json (written last) marks it finished; every file goes to a .tmp and is renamed.
     */
    public static Whitening whiten(Path chiFile, Path outDir, Whitening.Options o) {
        return whiten(chiFile, outDir, o, Health.Policy.drop, false);
    }

    /** @param dropNan leave out chi.npy's columns holding NaN or infinite values (recorded in source.json) */
    public static Whitening whiten(Path chiFile, Path outDir, Whitening.Options o, boolean dropNan) {
        return whiten(chiFile, outDir, o, Health.Policy.drop, dropNan);
    }

    /** z-score + PCA whitening of the chi columns that pass health gating under {@code policy}. */
    public static Whitening whiten(Path chiFile, Path outDir, Whitening.Options o, Health.Policy policy) {
        return whiten(chiFile, outDir, o, policy, false);
    }

    /**
     * z-score + PCA whitening of chi.npy without the columns whose health (RUN/diagnostics.json) is fail
     * under {@code policy} and, with {@code dropNan}, without columns holding NaN or infinite values;
     * source.json records the columns left out.
     */
    public static Whitening whiten(Path chiFile, Path outDir, Whitening.Options o, Health.Policy policy, boolean dropNan) {
        long t0 = System.nanoTime();
        deleteIfExists(outDir.resolve("transform.json"));
        int threads = o.threads() == 0 ? io.spectro.util.Parallel.defaultThreads() : o.threads();
        Npy.Info info = Npy.info(chiFile);
        if (info.shape().length != 2)
            throw new SpectroException(chiFile + ": expected a 2-D array [rows, components], got shape " + java.util.Arrays.toString(info.shape()));
        int h = (int) Math.min(Integer.MAX_VALUE, info.shape()[1]);
        Path run = chiFile.toAbsolutePath().getParent();
        int[] healthy = h == 0 ? new int[0] : Health.columns(run, components(run, h), policy, Pipeline::info);
        List<Integer> unhealthy = new ArrayList<>();
        for (int c = 0, j = 0; c < h; c++) {
            if (j < healthy.length && healthy[j] == c) j++;
            else unhealthy.add(c);
        }
        Whitening w;
        int rows, cols, fitRows;
        Path from = null;
        List<Integer> dropped = List.of();
        boolean mapped = unhealthy.isEmpty() && MappedVectors.useMapping(chiFile);
        try (MappedVectors m = mapped ? MappedVectors.open(chiFile) : null) {
            // columns left out by health gating, or NaN/inf values (named or dropped), go through readChi (the heap)
            if (mapped && !allFinite(m)) mapped = false;
            Rows chi;
            if (mapped) chi = m;
            else {
                ChiColumns cc = readChi(chiFile, dropNan, null, unhealthy);
                chi = cc.chi();
                dropped = cc.dropped();
            }
            rows = chi.rows();
            cols = chi.cols();
            // method.md section 4: fit on the ground-truth rows, apply the same transform to the predicted ones
            PredictedRows predicted = PredictedRows.read(run, rows);
            fitRows = predicted.groundTruthCount();
            Rows fitOn = predicted.predictedCount() == 0 ? chi : new SelectedRows(chi, predicted.groundTruthRanges());
            Progress p = progress("whiten " + rows + " x " + cols + (fitOn == chi ? "" : " (fit on " + fitRows + " ground-truth rows)"),
                    4L * fitRows + rows);
            if (fitRows == 0) {
                from = auxTransformOf(run);
                w = Whitening.load(from);
                if (w.inputDim() != cols)
                    throw new SpectroException(from + ": the transform takes " + w.inputDim() + " columns, " + chiFile
                            + " has " + cols + " after health gating " + dropped + "; whiten the combined run instead");
            } else {
                try {
                    w = Whitening.fit(fitOn, o, p);
                } catch (SpectroException e) {
                    throw new SpectroException(chiFile + ": " + e.getMessage()
                            + (fitOn == chi ? "" : " (fit on the " + fitRows + " ground-truth rows of " + rows + ")"), e);
                }
            }
            w.applyTo(chi, outDir.resolve("whitened.npy"), threads, p);
            if (p != null) p.finish();
        }
        write(outDir.resolve("source.json"), new Source(chiFile.toAbsolutePath().toString(),
                chiFile.toAbsolutePath().getParent().toString(), dropped, fitRows, rows - fitRows,
                from == null ? null : from.toString()));
        w.save(outDir.resolve("transform.json")); // last: the stage's marker (Atomic: temporary + rename)
        info(String.format("whitened %d x %d -> %d directions (%.1f%% of variance; %s) in %.2f s (%s)%s", rows, cols,
                w.kept(), 100 * w.explainedVariance(), w.rule(), since(t0), mapped ? "mapped, streamed" : "on the heap",
                from != null ? "; every row is predicted: the transform is the AUX's, " + from
                        : fitRows < rows ? "; fit on the " + fitRows + " ground-truth rows, applied to all " + rows : ""));
        return w;
    }

    /**
     * The whitening transform of an all-predicted run: its AUX's copy of the ground-truth run's transform
     * ({@code manifest.json} "predicted".aux, then AUX/transform/transform.json). Refused, saying what to
     * do, when the run does not name one that exists.
     */
    static Path auxTransformOf(Path run) {
        Path manifest = run.resolve("manifest.json");
        String aux = null;
        if (Files.isRegularFile(manifest)) {
            tools.jackson.databind.JsonNode m;
            try {
                m = JsonMapper.shared().readTree(manifest.toFile());
            } catch (JacksonException e) {
                throw new SpectroException(manifest + ": cannot parse (" + e.getOriginalMessage() + ")", e);
            }
            tools.jackson.databind.JsonNode a = m == null ? null : m.path("predicted").path("aux");
            if (a != null && a.isString()) aux = a.asString();
        }
        Path t = aux == null ? null : run.resolve(aux).resolve("transform").resolve("transform.json");
        if (t == null || !Files.isRegularFile(t))
            throw new SpectroException(run.resolve(PredictedRows.FILE) + ": every row is predicted, and whitening is fit on "
                    + "ground-truth rows only (method.md section 4); "
                    + (aux == null ? manifest + " names no AUX (\"predicted\": {\"aux\": ...})" : t + " does not exist")
                    + ": combine the run with its ground-truth run (spectro upsample combine) and whiten that");
        return t;
    }

    /** One pass over the mapped rows: false when any value is NaN or infinite. */
    private static boolean allFinite(Rows x) {
        int n = x.rows(), br = x.blockRows();
        float[] buf = new float[br * x.cols()];
        for (int r0 = 0; r0 < n; r0 += br) {
            int r1 = Math.min(n, r0 + br);
            x.copy(r0, r1, buf);
            for (int i = 0, e = (r1 - r0) * x.cols(); i < e; i++) if (!Float.isFinite(buf[i])) return false;
        }
        return true;
    }

    static Progress progress(String what, long total) {
        return log == null ? null : new Progress(what, total, log, true);
    }

    static void deleteIfExists(Path f) {
        try {
            Files.deleteIfExists(f);
        } catch (java.io.IOException e) {
            throw new SpectroException(f + ": cannot delete (" + e.getMessage() + ")", e);
        }
    }

    // ---- cluster ----

    /** clusters/knn.json: what the cached graph clusters/knn.npy (int32 [N, k], nearest first) was built from. */
    public record KnnCache(String whitened, long whitenedBytes, long whitenedModified, int rows, Knn.Options options,
                           Map<String, Object> info, double seconds) {}

    /**
     * Clusters {@code input} (a whitened.npy next to transform.json and source.json, or a raw chi.npy,
     * which is then whitened with the defaults first) and writes labels.npy, clusters.json and
     * centroids.npy into outDir.
     *
     * <p>Resumable: the kNN graph is cached in outDir (knn.npy, then knn.json as its marker) and reused
     * when knn.json names the same whitened file (size, time) and options; clusters.json, written last
     * by rename, marks the stage finished. Off the heap, long-indexed: the whitened vectors (mapped), the kNN
     * lists and NN-descent working set and the symmetrised graph (files mapped from outDir and deleted at
     * once, {@link Scratch}). On the heap: ~14 bytes per row of clustering state (seed order, flags, labels),
     * the clusters' members, and per PPR worker state sized by the set it explores; centroids and χ profiles
     * are read from the mapped files.
     */
    public static ClustersFile cluster(Path input, Path outDir, Knn.Options ko, PprClustering.Options po, Path tokensDir) {
        return cluster(input, outDir, ko, po, tokensDir, false);
    }

    /** @param dropNan when {@code input} is a raw chi.npy: whiten it without its non-finite columns */
    public static ClustersFile cluster(Path input, Path outDir, Knn.Options ko, PprClustering.Options po, Path tokensDir,
                                       boolean dropNan) {
        Map<String, Double> secs = new LinkedHashMap<>();
        long t0 = System.nanoTime();
        Path dir = input.toAbsolutePath().getParent();
        Path chiFile, whiteFile;
        Whitening transform;
        List<Integer> dropped = List.of();
        deleteIfExists(outDir.resolve("clusters.json"));
        deleteIfExists(outDir.resolve("map.json"));
        if (Files.isRegularFile(dir.resolve("transform.json")) && !input.getFileName().toString().equals("chi.npy")) {
            transform = Whitening.load(dir.resolve("transform.json"));
            whiteFile = input.toAbsolutePath();
            Source src = Files.isRegularFile(dir.resolve("source.json")) ? read(dir.resolve("source.json"), Source.class) : null;
            chiFile = src == null ? null : Path.of(src.chi());
            if (src != null && src.droppedColumns() != null) dropped = src.droppedColumns();
            if (chiFile != null && !Files.isRegularFile(chiFile)) chiFile = null;
        } else {
            chiFile = input.toAbsolutePath();
            Path wdir = outDir.resolve("whiten");
            if (Files.isRegularFile(wdir.resolve("transform.json")) && Files.isRegularFile(wdir.resolve("whitened.npy"))
                    && Files.isRegularFile(wdir.resolve("source.json"))
                    && chiFile.toString().equals(read(wdir.resolve("source.json"), Source.class).chi())) {
                transform = Whitening.load(wdir.resolve("transform.json"));
                info("whiten: finished before, reusing " + wdir);
            } else transform = whiten(chiFile, wdir, Whitening.Options.defaults(), dropNan);
            whiteFile = wdir.resolve("whitened.npy");
            Source src = read(wdir.resolve("source.json"), Source.class);
            if (src.droppedColumns() != null) dropped = src.droppedColumns();
        }
        secs.put("load_or_whiten", since(t0));
        try (MappedVectors white = MappedVectors.open(whiteFile); Scratch scratch = scratch(outDir)) {
            int n = white.rows();
            if (n <= ko.k())
                throw new SpectroException(input + ": too few vectors for k: " + n + " rows, k = " + ko.k() + " needs at least k+1 rows");
            if (transform.kept() != white.cols())
                throw new SpectroException(whiteFile + ": has " + white.cols() + " columns, transform.json keeps " + transform.kept());
            Path runDir = tokensDir != null ? tokensDir : chiFile != null ? chiFile.getParent() : dir;
            Map<String, Object> knnInfo = new LinkedHashMap<>();
            KnnGraph neighbors = knnGraph(white, outDir, ko, knnInfo, secs, scratch);
            long t3 = System.nanoTime();
            Graph g = Graph.symmetrize(neighbors, scratch);
            neighbors = null;
            Progress pc = progress("cluster (coverage)", n);
            PprClustering.Result res = PprClustering.fit(g, po, pc);
            if (pc != null) pc.finish();
            g = null;
            secs.put("cluster", since(t3));
            info(res.clusters().size() + " clusters, " + res.stats() + " in " + secs.get("cluster") + " s");
            long t4 = System.nanoTime();
            List<String> comps = null;
            Rows z = null;
            MappedVectors chi = null;
            try {
                if (chiFile != null) {
                    Rows x;
                    if (dropped.isEmpty()) {
                        chi = MappedVectors.open(chiFile);
                        x = chi;
                        comps = components(chiFile.getParent(), chi.cols());
                    } else { // columns left out: read onto the heap without them
                        ChiColumns cc = readChi(chiFile, true, dropped);
                        x = cc.chi();
                        comps = cc.names(chiFile.getParent());
                    }
                    if (x.rows() != n)
                        throw new SpectroException(chiFile + ": has " + x.rows() + " rows, the whitened vectors " + n);
                    // column z-scores of the fitting set, no row centring (the cards' profiles)
                    z = new Whitening(transform.mean(), transform.std(), false, new double[x.cols()], null, 0, null, null)
                            .standardized(x);
                }
                TokenTable tokens = TokenTable.read(runDir, n);
                List<Cards.Card> cards = Cards.build(res.clusters(), tokens, z, comps, po.seed());
                float[] cen = centroids(res.clusters(), white);
                secs.put("cards", since(t4));
                secs.put("total", since(t0));
                int m = res.clusters().size(), d = white.cols();
                ClustersFile cf = new ClustersFile("spectro-clusters/1", input.toAbsolutePath().toString(),
                        chiFile == null ? null : chiFile.toString(), n, d, knnInfo, po, res.stats(), secs, comps, cards);
                Npy.write(outDir.resolve("labels.npy"), res.labels(), n);
                Npy.write(outDir.resolve("centroids.npy"), cen, m, d);
                write(outDir.resolve("clusters.json"), cf); // last: the stage's marker
                info("wrote " + outDir.resolve("clusters.json") + " (" + m + " clusters, " + secs + ")");
                return cf;
            } finally {
                if (chi != null) chi.close();
            }
        }
    }

    /**
     * Where the kNN lists and the graph live: native memory (default), or with {@code -Dspectro.scratch=file}
     * files mapped from outDir (unlinked at once) that the kernel can page out when RAM is short. Neither is
     * on the Java heap; the results are the same bits.
     */
    static Scratch scratch(Path outDir) {
        return "file".equals(System.getProperty("spectro.scratch")) ? Scratch.in(outDir) : Scratch.offHeap();
    }

    /** Cluster centroids in the whitened space (what the map lays out), read row by row from the mapped file. */
    static float[] centroids(List<PprClustering.Cluster> clusters, Rows white) {
        int m = clusters.size(), d = white.cols();
        float[] cen = new float[m * d], row = new float[d];
        for (int c = 0; c < m; c++) {
            int[] mem = clusters.get(c).members();
            double[] s = new double[d];
            for (int r : mem) {
                white.copy(r, r + 1, row);
                for (int j = 0; j < d; j++) s[j] += row[j];
            }
            for (int j = 0; j < d; j++) cen[c * d + j] = (float) (s[j] / mem.length);
        }
        return cen;
    }

    private static Knn.Options anyThreads(Knn.Options o) { // the graph does not depend on the thread count
        return new Knn.Options(o.k(), o.method(), o.exactLimit(), o.trees(), o.leafSize(), o.iterations(), 0, o.seed());
    }

    /**
     * The kNN lists (int32 [N, k], nearest first): outDir/knn.npy mapped when knn.json says it was built from
     * this whitened file with these options, otherwise built from the mapped vectors (lists and working set
     * in {@code scratch}, off the heap) and cached there (knn.npy by rename, then knn.json).
     */
    static KnnGraph knnGraph(MappedVectors white, Path outDir, Knn.Options ko, Map<String, Object> knnInfo,
                             Map<String, Double> secs, Scratch scratch) {
        Path whiteFile = white.file(), npy = outDir.resolve("knn.npy"), meta = outDir.resolve("knn.json");
        int n = white.rows();
        long bytes, modified;
        try {
            bytes = Files.size(whiteFile);
            modified = Files.getLastModifiedTime(whiteFile).toMillis();
        } catch (java.io.IOException e) {
            throw new SpectroException(whiteFile + ": cannot read (" + e.getMessage() + ")", e);
        }
        if (Files.isRegularFile(meta) && Files.isRegularFile(npy)) {
            KnnCache c = read(meta, KnnCache.class);
            if (c != null && c.rows() == n && c.whitenedBytes() == bytes && c.whitenedModified() == modified
                    && anyThreads(ko).equals(c.options() == null ? null : anyThreads(c.options())) && whiteFile.toString().equals(c.whitened())) {
                KnnGraph g = null;
                try {
                    g = new KnnGraph(n, ko.k(), MappedVectors.mapInts(npy, n, ko.k(), scratch.arena()), null);
                } catch (SpectroException e) { // a damaged cache is rebuilt, not fatal
                    info("kNN graph cache unusable (" + e.getMessage() + "); rebuilding it");
                }
                if (g != null) {
                    knnInfo.putAll(c.info());
                    knnInfo.put("reused", npy.toString()); // seconds.knn is then the original build's
                    secs.put("knn", c.seconds());
                    info("kNN graph: finished before, reusing " + npy);
                    return g;
                }
            }
        }
        deleteIfExists(meta);
        long t1 = System.nanoTime();
        white.requireFinite(whiteFile.toString());
        boolean exact = ko.method() == Knn.Method.EXACT || (ko.method() == Knn.Method.AUTO && n <= ko.exactLimit());
        Progress pk = exact ? null : progress("kNN (RP trees + NN-descent rounds)", (long) (ko.trees() + ko.iterations()) * n);
        KnnGraph knn = Knn.fit(white, ko, pk, scratch);
        if (pk != null) pk.finish();
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
        try (Npy.Writer w = Npy.Writer.create(npy, "<i4", n, ko.k())) {
            long total = 4L * n * ko.k(), chunk = 1L << 26;
            for (long at = 0; at < total; at += chunk)
                w.put(at / 4, knn.segment().asSlice(at, Math.min(chunk, total - at)).asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN));
            w.commit();
        }
        write(meta, new KnnCache(whiteFile.toString(), bytes, modified, n, ko, knnInfo, secs.get("knn")));
        return knn;
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
        return ensureStages(run, redo, wo, ko, po, mo, Health.Policy.drop, false);
    }

    /**
     * As above; {@code unhealthy} decides what whitening does with the columns that fail the health
     * checks, {@code dropNan} whether columns holding NaN/inf are left out instead of refused.
     */
    public static Path ensureStages(Path run, boolean redo, Whitening.Options wo, Knn.Options ko, PprClustering.Options po,
                                    ClusterMap.Options mo, Health.Policy unhealthy, boolean dropNan) {
        if (!Files.isDirectory(run)) throw new SpectroException(run + ": run directory does not exist");
        Path chi = run.resolve("chi.npy");
        if (!Files.isRegularFile(chi)) throw new SpectroException(run + ": no chi.npy in the run directory");
        Path wdir = run.resolve("whiten"), cdir = run.resolve("clusters");
        if (redo) {
            deleteIfExists(cdir.resolve("knn.json"));
            deleteIfExists(wdir.resolve("transform.json"));
        }
        if (redo || !Files.isRegularFile(wdir.resolve("whitened.npy")) || !Files.isRegularFile(wdir.resolve("transform.json")))
            whiten(chi, wdir, wo, unhealthy, dropNan);
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
