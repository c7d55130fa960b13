package io.spectro.data;

import io.spectro.SpectroException;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.io.Npy;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Builds the probe and sampling sets: fixed-length windows of {@code seq} tokens drawn from tokenised documents.
 * <p>Windows: a document of L >= seq tokens is cut into k = floor(L / seq) non-overlapping slots starting at
 * o + j*seq (j = 0..k-1), where the offset o in [0, L - k*seq] is drawn per document from the seed. Within a
 * subset every slot is equally likely (so tokens are sampled about uniformly); slots are drawn without
 * replacement. Two windows overlap when they are in the same document and share a token position; since
 * slots never overlap, no window of the probe set shares a token with a window of the sampling set (nor
 * with another window of its own set).
 * <p>Quotas: each set's size is split equally over the subsets (sorted by name; the remainder goes to the
 * first ones); a subset with too few slots gives all it has and the rest is shared among the others. The
 * probe set is allotted first, the sampling set from the slots left.
 * <p>The result depends only on the seed, the options and the documents (source order, subsets, lengths,
 * tokens); rows are shuffled so that subsets are mixed.
 */
public final class SetBuilder {
    /** Build options; validated on construction. */
    public record Options(int seq, int probe, int sampling, long seed) {
        public Options {
            if (seq < 2) throw new SpectroException("--seq must be >= 2, got " + seq);
            if (probe < 0) throw new SpectroException("--probe must be >= 0, got " + probe);
            if (sampling < 0) throw new SpectroException("--sampling must be >= 0, got " + sampling);
            if (probe + sampling == 0) throw new SpectroException("--probe and --sampling are both 0: nothing to build");
            if ((long) Math.max(probe, sampling) * seq > Integer.MAX_VALUE - 8)
                throw new SpectroException("--probe/--sampling x --seq exceeds 2^31 tokens");
        }
    }

    /** One window: source file, document index in it, subset and first token. */
    public record Window(String subset, String source, int doc, long start) {}

    /** A built set: tokens [rows, seq] row-major and the window of each row. */
    public record TokenSet(int[] tokens, int seq, List<Window> windows) {
        public int rows() {
            return windows.size();
        }
    }

    public record Result(TokenSet probe, TokenSet sampling, Map<String, int[]> perSubset) {}

    private record Doc(int source, int doc, long slots, long offset) {}

    private SetBuilder() {}

    public static Result fit(List<TokenSource> sources, Options o) {
        // eligible documents grouped by subset
        TreeMap<String, List<Doc>> bySubset = new TreeMap<>();
        for (int s = 0; s < sources.size(); s++) {
            TokenSource src = sources.get(s);
            for (int d = 0; d < src.documentCount(); d++) {
                long len = src.length(d);
                if (len < o.seq()) continue;
                long k = len / o.seq();
                long spare = len - k * o.seq();
                long off = spare == 0 ? 0 : Math.floorMod(mix(o.seed(), src.name().hashCode(), d), spare + 1);
                bySubset.computeIfAbsent(src.subset(d), x -> new ArrayList<>()).add(new Doc(s, d, k, off));
            }
        }
        if (bySubset.isEmpty())
            throw new SpectroException("no document has at least --seq " + o.seq() + " tokens");
        List<String> names = new ArrayList<>(bySubset.keySet());
        long[] cap = new long[names.size()];
        for (int i = 0; i < cap.length; i++) for (Doc d : bySubset.get(names.get(i))) cap[i] += d.slots;
        long total = Arrays.stream(cap).sum();
        if (total < (long) o.probe() + o.sampling())
            throw new SpectroException("the corpora hold " + total + " non-overlapping windows of " + o.seq()
                    + " tokens, fewer than --probe " + o.probe() + " + --sampling " + o.sampling());
        long[] p = quotas(o.probe(), cap);
        long[] left = cap.clone();
        for (int i = 0; i < left.length; i++) left[i] -= p[i];
        long[] m = quotas(o.sampling(), left);

        List<Window> probe = new ArrayList<>(), sampling = new ArrayList<>();
        Map<String, int[]> per = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            List<Doc> docs = bySubset.get(names.get(i));
            long[] cum = new long[docs.size() + 1];
            for (int d = 0; d < docs.size(); d++) cum[d + 1] = cum[d] + docs.get(d).slots;
            SplittableRandom rnd = new SplittableRandom(mix(o.seed(), names.get(i).hashCode(), 0x5eed));
            long[] slots = distinct(rnd, (int) (p[i] + m[i]), cum[docs.size()]);
            for (int k = 0; k < slots.length; k++) {
                int d = Arrays.binarySearch(cum, slots[k]);
                d = d >= 0 ? d : -d - 2;
                while (cum[d + 1] <= slots[k]) d++;   // skip documents with equal cumulative counts
                Doc doc = docs.get(d);
                long start = doc.offset + (slots[k] - cum[d]) * o.seq();
                Window w = new Window(names.get(i), sources.get(doc.source).name(), doc.doc, start);
                (k < p[i] ? probe : sampling).add(w);
            }
            per.put(names.get(i), new int[]{(int) p[i], (int) m[i]});
        }
        SplittableRandom shuffle = new SplittableRandom(mix(o.seed(), 0x51, 0x52));
        shuffle(probe, shuffle);
        shuffle(sampling, shuffle);
        return new Result(gather(probe, sources, o.seq()), gather(sampling, sources, o.seq()), per);
    }

    /** Splits {@code n} equally over subsets of capacity {@code cap}, spilling what one cannot take. */
    static long[] quotas(long n, long[] cap) {
        long[] q = new long[cap.length];
        long remaining = n;
        while (remaining > 0) {
            List<Integer> open = new ArrayList<>();
            for (int i = 0; i < cap.length; i++) if (q[i] < cap[i]) open.add(i);
            if (open.isEmpty()) throw new IllegalStateException("not enough capacity for " + n);
            long base = remaining / open.size(), extra = remaining % open.size();
            for (int j = 0; j < open.size(); j++) {
                int i = open.get(j);
                long want = base + (j < extra ? 1 : 0);
                long take = Math.min(want, cap[i] - q[i]);
                q[i] += take;
                remaining -= take;
            }
        }
        return q;
    }

    /** {@code k} distinct values of [0, n) in random order (Floyd's algorithm, then a shuffle). */
    static long[] distinct(SplittableRandom rnd, int k, long n) {
        Set<Long> chosen = new HashSet<>(k * 2);
        for (long j = n - k; j < n; j++) {
            long t = rnd.nextLong(j + 1);
            chosen.add(chosen.contains(t) ? j : t);
        }
        long[] out = chosen.stream().mapToLong(Long::longValue).sorted().toArray();
        for (int i = out.length - 1; i > 0; i--) {
            int r = rnd.nextInt(i + 1);
            long t = out[i];
            out[i] = out[r];
            out[r] = t;
        }
        return out;
    }

    private static <T> void shuffle(List<T> l, SplittableRandom rnd) {
        for (int i = l.size() - 1; i > 0; i--) {
            int r = rnd.nextInt(i + 1);
            T t = l.get(i);
            l.set(i, l.get(r));
            l.set(r, t);
        }
    }

    private static TokenSet gather(List<Window> ws, List<TokenSource> sources, int seq) {
        Map<String, TokenSource> byName = new LinkedHashMap<>();
        for (TokenSource s : sources) byName.put(s.name(), s);
        int[] out = new int[ws.size() * seq];
        for (int r = 0; r < ws.size(); r++) {
            Window w = ws.get(r);
            int[] t = byName.get(w.source()).tokens(w.doc(), w.start(), seq);
            for (int j = 0; j < seq; j++)
                if (t[j] < 0) // e.g. a signed Megatron dtype holding padding
                    throw new SpectroException(w.source() + ": document " + w.doc() + " holds token id " + t[j] + " at position "
                            + (w.start() + j) + ": token ids must be >= 0 (padding? cut it out before building)");
            System.arraycopy(t, 0, out, r * seq, seq);
        }
        return new TokenSet(out, seq, List.copyOf(ws));
    }

    public static long mix(long seed, long a, long b) {
        long z = seed * 0x9E3779B97F4A7C15L + a;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L + b;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * Writes {@code probe.npy}, {@code sampling.npy} (int32 [rows, seq]), their manifests
     * {@code probe.jsonl}, {@code sampling.jsonl} (one line per row: row, subset, source, doc, start)
     * and {@code build.json} (options and per-subset counts).
     */
    public static void write(Result r, Options o, List<String> corpora, Path dir) {
        try (Atomic.Group g = new Atomic.Group()) { // every file appears together, build.json last
            for (var e : Map.of("probe", r.probe(), "sampling", r.sampling()).entrySet()) {
                TokenSet s = e.getValue();
                Npy.write(g.temp(dir.resolve(e.getKey() + ".npy")), s.tokens(), s.rows(), s.seq());
                ObjectMapper mapper = new ObjectMapper();
                try (BufferedWriter w = Files.newBufferedWriter(g.temp(dir.resolve(e.getKey() + ".jsonl")))) {
                    for (int i = 0; i < s.rows(); i++) {
                        Window win = s.windows().get(i);
                        ObjectNode n = mapper.createObjectNode();
                        n.put("row", i);
                        n.put("subset", win.subset());
                        n.put("source", win.source());
                        n.put("doc", win.doc());
                        n.put("start", win.start());
                        w.write(mapper.writeValueAsString(n));
                        w.write('\n');
                    }
                }
            }
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode b = mapper.createObjectNode();
            b.put("seq", o.seq());
            b.put("probe", r.probe().rows());
            b.put("sampling", r.sampling().rows());
            b.put("seed", o.seed());
            var arr = b.putArray("corpora");
            corpora.forEach(arr::add);
            ObjectNode subsets = b.putObject("subsets");
            r.perSubset().forEach((k, v) -> subsets.putObject(k).put("probe", v[0]).put("sampling", v[1]));
            b.put("disjointness", "windows are non-overlapping slots of their documents; no token position of any document is in both sets");
            g.writeString(dir.resolve("build.json"), mapper.writerWithDefaultPrettyPrinter().writeValueAsString(b) + "\n");
            g.commit();
        } catch (IOException e) {
            throw new SpectroException(dir + ": cannot write (" + IoErrors.describe(e) + ")", e);
        }
    }

    /**
     * The subset of each row of a set that {@link #write} wrote ({@code X.npy} with its manifest
     * {@code X.jsonl} beside it), in row order; null when there is no manifest.
     */
    public static List<String> subsetsOf(Path setNpy) {
        String name = setNpy.getFileName().toString();
        if (!name.endsWith(".npy")) return null;
        Path manifest = setNpy.resolveSibling(name.substring(0, name.length() - 4) + ".jsonl");
        if (!Files.isRegularFile(manifest)) return null;
        List<String> out = new java.util.ArrayList<>();
        tools.jackson.databind.ObjectMapper json = new tools.jackson.databind.ObjectMapper();
        try {
            int no = 0;
            for (String line : Files.readAllLines(manifest)) {
                no++;
                if (line.isBlank()) continue;
                tools.jackson.databind.JsonNode n = json.readTree(line);
                if (n.path("row").asInt(-1) != out.size() || !n.path("subset").isString())
                    throw new SpectroException(manifest + ": line " + no + " should be row " + out.size() + " with a subset");
                out.add(n.get("subset").asString());
            }
        } catch (java.io.IOException e) {
            throw new SpectroException(manifest + ": cannot read (" + e.getMessage() + ")");
        } catch (tools.jackson.core.JacksonException e) {
            throw new SpectroException(manifest + ": not JSON lines (" + e.getOriginalMessage() + ")");
        }
        return out;
    }
}
