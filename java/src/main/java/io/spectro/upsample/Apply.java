package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.Version;
import io.spectro.chi.ChiRun;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.data.Corpora;
import io.spectro.data.CorpusOptions;
import io.spectro.data.SetBuilder;
import io.spectro.data.TokenSource;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.io.Npy;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.tokenizer.Tokenizer;
import io.spectro.util.Progress;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * {@code spectro upsample apply}: predicts χ for {@code count} tokens drawn from corpora (uniform by subset,
 * as {@code spectro data build}) or taken from a token set, and writes a run directory of the usual layout.
 *
 * <p>Work is cut into chunks of a fixed number of sequences; each finished chunk's χ rows are written
 * atomically to {@code RUN2/state/chunk-NNNNNN.npy}, so a killed run restarts at the first missing chunk and,
 * every chunk being a deterministic function of its sequences, ends with the same bytes as an uninterrupted run.
 * {@code --shard K/M} computes the chunks c with c mod M = K; the same command without --shard computes what is
 * missing and assembles the outputs (chi.npy last). chi.npy holds χ in the run's units (the whitened
 * prediction mapped back through the AUX's transform: un-whitened, then un-z-scored), so {@code whiten} and the
 * later stages read it as they read a ground-truth run's.
 */
public final class Apply {
    private static final JsonMapper JSON = JsonMapper.shared();
    public static final double DEFAULT_MIN_R2 = 0.5, DEFAULT_MIN_ARI = 0.0;

    /**
     * @param tokens         corpus files/directories (SUBSET=PATH allowed), or one int32 .npy set [rows, T] with the run's T
     * @param count          predicted vectors wanted (rounded up to whole sequences of T−1 predictions)
     * @param chunkSequences sequences per chunk (fixes the output bytes: a resumed run must use the same value)
     */
    public record Options(Path aux, Path model, List<String> tokens, long count, Path out, ChiRun.Shard shard, double minR2,
                          double minAri, long seed, int chunkSequences, Features.Options backend, CorpusOptions corpus, boolean progress) {
        public Options {
            if (aux == null || model == null || out == null) throw new SpectroException("upsample apply needs --aux, --model and --out");
            if (tokens == null || tokens.isEmpty()) throw new SpectroException("upsample apply needs --tokens (corpora or a token set)");
            if (count < 1) throw new SpectroException("--count must be >= 1, got " + count);
            if (chunkSequences < 1) throw new SpectroException("--chunk-sequences must be >= 1, got " + chunkSequences);
            if (!Double.isFinite(minR2) || !Double.isFinite(minAri)) throw new SpectroException("--min-r2 and --min-ari must be finite numbers");
            if (shard == null || backend == null || corpus == null) throw new SpectroException("shard, backend or corpus options missing");
        }
    }

    /** What a call did: chunks computed now and in all, whether the outputs were written, seconds spent on features and prediction. */
    public record Result(int chunksComputed, int chunks, boolean complete, long rows, double featureSeconds, double predictSeconds) {}

    private Apply() {}

    public static Result run(Options o) {
        Aux.Opened a = Aux.open(o.aux());
        gate(a, o);
        try (Checkpoint ck = Checkpoint.open(o.model())) {
            ModelConfig cfg = JSON.treeToValue(a.json().get("config"), ModelConfig.class);
            if (!ck.config().equals(cfg)) throw new SpectroException(o.aux() + ": belongs to a model of another configuration than " + o.model());
            String sha = ChiRun.sha256(ck);
            if (!sha.equals(a.modelSha256()))
                throw new SpectroException(o.aux() + ": belongs to another model (modelSha256 " + abbrev(a.modelSha256()) + "...; "
                        + o.model() + " has " + abbrev(sha) + "...)");
            Tokenizer tok = ck.tokenizerJson() == null ? null : Tokenizer.load(ck.tokenizerJson());
            int T = a.T();
            int nSeq = (int) Math.min(Integer.MAX_VALUE, (o.count() + T - 2) / (T - 1));
            Sequences seqs = sequences(o, tok, T, nSeq);
            long rows = (long) nSeq * (T - 1);
            List<String> columns = a.columns();
            if ((long) rows * columns.size() > Long.MAX_VALUE / 8) throw new SpectroException("--count too large");
            ObjectNode manifest = manifest(o, a, sha, cfg, seqs, nSeq, T, columns);
            checkManifest(o.out(), manifest);
            if (Files.isRegularFile(o.out().resolve("chi.npy"))) {
                System.err.println("upsample apply: " + o.out() + " is complete (chi.npy present); nothing to do");
                return new Result(0, chunks(nSeq, o.chunkSequences()), true, rows, 0, 0);
            }
            Atomic.createDirectories(o.out().resolve("state"));
            Path mf = o.out().resolve("manifest.json");
            if (!Files.exists(mf)) Atomic.writeString(mf, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(manifest));
            List<Component> comps = Decomposition.resolve(cfg, a.json().get("components").asString());
            Computed c = compute(o, a, ck, comps, seqs.tokens(), nSeq, T);
            boolean done = false;
            if (o.shard().count() == 1 || allChunks(o.out(), nSeq, o.chunkSequences())) {
                PredictedRun.assemble(o.out(), seqs, nSeq, T, columns, o.chunkSequences(), tok);
                done = true;
            }
            return new Result(c.chunks, chunks(nSeq, o.chunkSequences()), done, rows, c.featureSeconds, c.predictSeconds);
        }
    }

    private static String abbrev(String s) {
        return s.substring(0, Math.min(12, s.length()));
    }

    /** Refuses an AUX whose held-out quality is below the thresholds, naming the metric. */
    static void gate(Aux.Opened a, Options o) {
        JsonNode h = a.heldout();
        double r2 = h.get("meanR2").asDouble(Double.NaN), ari = h.get("ari").asDouble(Double.NaN);
        if (!(r2 >= o.minR2()))
            throw new SpectroException(String.format("%s: held-out mean R² %.3f is below --min-r2 %.3f (see %s); refit with other features "
                    + "or lower --min-r2", o.aux(), r2, o.minR2(), o.aux().resolve("quality.md")));
        if (!(ari >= o.minAri()))
            throw new SpectroException(String.format("%s: held-out cluster ARI %.3f is below --min-ari %.3f (see %s)", o.aux(), ari, o.minAri(),
                    o.aux().resolve("quality.md")));
    }

    /** The token sequences [nSeq, T] and, when drawn from corpora, the subset of each. */
    record Sequences(int[] tokens, List<String> subsets, String sha256) {}

    static Sequences sequences(Options o, Tokenizer tok, int T, int nSeq) {
        if ((long) nSeq * T > Integer.MAX_VALUE - 8)
            throw new SpectroException("--count " + o.count() + " needs " + nSeq + " sequences of " + T + " tokens: more than one array holds; "
                    + "split the work into several runs");
        int[] tokens;
        List<String> subsets = null;
        if (o.tokens().size() == 1 && o.tokens().getFirst().endsWith(".npy") && isSet(Path.of(o.tokens().getFirst()), T)) {
            Path f = Path.of(o.tokens().getFirst());
            Npy.Ints s = Npy.readInts(f);
            if (s.dim(0) < nSeq)
                throw new SpectroException(f + ": holds " + s.dim(0) + " sequences, --count " + o.count() + " needs " + nSeq + " of " + T + " tokens");
            tokens = java.util.Arrays.copyOf(s.data(), nSeq * T);
            for (int v : tokens) if (v < 0) throw new SpectroException(f + ": holds token id " + v + " (ids must be >= 0)");
        } else {
            List<TokenSource> src = Corpora.openAll(o.tokens(), tok, o.corpus());
            try {
                SetBuilder.Result r = SetBuilder.fit(src, new SetBuilder.Options(T, nSeq, 0, o.seed()));
                tokens = r.probe().tokens();
                subsets = r.probe().windows().stream().map(SetBuilder.Window::subset).toList();
            } finally {
                src.forEach(TokenSource::close);
            }
        }
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < tokens.length; ) {
            b.clear();
            while (b.remaining() >= 4 && i < tokens.length) b.putInt(tokens[i++]);
            b.flip();
            md.update(b);
        }
        return new Sequences(tokens, subsets, HexFormat.of().formatHex(md.digest()));
    }

    private static boolean isSet(Path f, int T) {
        if (!Files.isRegularFile(f)) return false;
        Npy.Info i = Npy.info(f);
        return i.shape().length == 2 && i.shape()[1] == T && i.descr().equals("<i4");
    }

    static int chunks(int nSeq, int chunkSeq) {
        return (nSeq + chunkSeq - 1) / chunkSeq;
    }

    static Path chunkFile(Path out, int c) {
        return out.resolve("state").resolve(String.format("chunk-%06d.npy", c));
    }

    private static boolean allChunks(Path out, int nSeq, int chunkSeq) {
        for (int c = 0; c < chunks(nSeq, chunkSeq); c++) if (!Files.isRegularFile(chunkFile(out, c))) return false;
        return true;
    }

    private record Computed(int chunks, double featureSeconds, double predictSeconds) {}

    /** Test hook for a child JVM that a test kills mid-run: milliseconds to pause after each chunk written. */
    private static final long PAUSE_MS = Long.getLong("spectro.test.chunkPauseMs", 0);

    private static Computed compute(Options o, Aux.Opened a, Checkpoint ck, List<Component> comps, int[] tokens, int nSeq, int T) {
        int nChunks = chunks(nSeq, o.chunkSequences()), h = a.transform().inputDim(), k = a.transform().kept();
        long pending = 0;
        for (int c = 0; c < nChunks; c++)
            if (o.shard().owns(c - 1) && !Files.isRegularFile(chunkFile(o.out(), c)))
                pending += Math.min(nSeq, (c + 1) * o.chunkSequences()) - c * o.chunkSequences();
        if (pending == 0) return new Computed(0, 0, 0);
        Progress p = new Progress("upsample apply", pending, System.err, o.progress());
        int done = 0;
        long tf = 0, tp = 0;
        try (Regressor r = a.regressor(); Features f = Features.open(ck, comps, a.features(), o.backend())) {
            if (r.inputDim() != f.dim() || r.outputDim() != k)
                throw new SpectroException(o.aux() + ": its model maps " + r.inputDim() + " -> " + r.outputDim() + " values, the features give "
                        + f.dim() + " and the transform keeps " + k + " (corrupt AUX)");
            for (int c = 0; c < nChunks; c++) {
                if (!o.shard().owns(c - 1) || Files.isRegularFile(chunkFile(o.out(), c))) continue;
                int s0 = c * o.chunkSequences(), s1 = Math.min(nSeq, s0 + o.chunkSequences()), n = (s1 - s0) * (T - 1);
                long t0 = System.nanoTime();
                float[] x = f.computeAll(java.util.Arrays.copyOfRange(tokens, s0 * T, s1 * T), s1 - s0, T, null);
                long t1 = System.nanoTime();
                float[] y = new float[n * k];
                r.predict(x, n, y);
                float[] chi = Quality.unwhiten(a.transform(), y, n);
                Quality.unstandardize(a.transform(), chi, n);
                tp += System.nanoTime() - t1;
                tf += t1 - t0;
                Npy.write(chunkFile(o.out(), c), chi, n, h);
                done++;
                p.advance(s1 - s0);
                if (PAUSE_MS > 0) {
                    try {
                        Thread.sleep(PAUSE_MS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        }
        p.finish();
        return new Computed(done, tf / 1e9, tp / 1e9);
    }

    private static ObjectNode manifest(Options o, Aux.Opened a, String modelSha, ModelConfig cfg, Sequences s, int nSeq, int T, List<String> columns) {
        ObjectNode m = JSON.createObjectNode();
        m.put("spectro", Version.VERSION);
        m.put("abi", Version.ABI_VERSION);
        m.set("config", JSON.valueToTree(cfg));
        m.put("modelSha256", modelSha);
        m.put("dataSha256", s.sha256());
        m.set("components", a.json().get("components"));
        m.put("componentCount", columns.size());
        m.put("probeShape", nSeq + "x" + T);
        ObjectNode p = m.putObject("predicted");
        p.put("aux", o.aux().toAbsolutePath().toString());
        p.put("auxSha256", a.sha256());
        p.put("count", (long) nSeq * (T - 1));
        p.put("units", "chi (the whitened prediction mapped back through the AUX's transform)");
        p.put("chunkSequences", o.chunkSequences());
        p.set("tokens", JSON.valueToTree(o.tokens()));
        p.put("seed", o.seed());
        p.set("heldout", a.heldout());
        return m;
    }

    /** Refuses an output directory holding another run (the identity fields differ). */
    private static void checkManifest(Path out, ObjectNode m) {
        if (Files.exists(out) && !Files.isDirectory(out)) throw new SpectroException(out + ": --out exists and is not a directory");
        Path f = out.resolve("manifest.json");
        if (!Files.exists(f)) {
            if (Files.isRegularFile(out.resolve("chi.npy")))
                throw new SpectroException(out + ": holds a chi.npy but no manifest.json; use another --out");
            return;
        }
        JsonNode old;
        try {
            old = JSON.readTree(f.toFile());
        } catch (JacksonException e) {
            throw new SpectroException(f + ": not a spectro run manifest (" + e.getOriginalMessage() + "); use another --out or delete the directory");
        }
        for (String k : new String[]{"modelSha256", "dataSha256", "componentCount", "probeShape"})
            if (old == null || !same(m.get(k), old.get(k)))
                throw new SpectroException(f + ": this directory holds a different run (" + k + " differs); use another --out or delete it");
        JsonNode op = old.get("predicted");
        for (String k : new String[]{"auxSha256", "count", "chunkSequences"})
            if (op == null || !same(m.get("predicted").get(k), op.get(k)))
                throw new SpectroException(f + ": this directory holds a different predicted run (predicted." + k + " differs); use another --out or delete it");
    }

    /** Scalars compared by their text (a long written is an int read back). */
    private static boolean same(JsonNode a, JsonNode b) {
        return a != null && b != null && a.isValueNode() && b.isValueNode() && a.asString().equals(b.asString());
    }

    static void deleteState(Path out) {
        Path st = out.resolve("state");
        if (!Files.isDirectory(st)) return;
        try (var s = Files.list(st)) {
            for (Path p : s.toList()) Files.deleteIfExists(p);
            Files.deleteIfExists(st);
        } catch (IOException e) {
            throw new SpectroException(st + ": cannot clean up (" + IoErrors.describe(e) + ")", e);
        }
    }
}
