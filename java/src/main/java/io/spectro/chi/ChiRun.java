package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.Version;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.Observables;
import io.spectro.sampling.RestrictedSampler;
import io.spectro.sampling.SamplerOptions;
import io.spectro.util.Progress;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import java.util.function.Supplier;

/**
 * One susceptibility run (method.md section 3): an unrestricted "full" run, then one restricted run
 * per component, each adding its streaming sums to the run directory as soon as it finishes.
 *
 * <p>Run directory: {@code manifest.json} (model hash, data hash, every hyperparameter, seed,
 * versions), {@code state/full.bin}, {@code state/NNNN.bin} + {@code .json} per finished component.
 * Starting the same command again skips finished components; since every chain is a deterministic
 * function of (seed, component, chain, step), the result is bit-identical to an uninterrupted run.
 */
public final class ChiRun {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Test hook: called with the number of finished components after each one (simulates a kill by throwing). */
    static IntConsumer afterComponent = k -> {};

    /**
     * @param bf16   the CUDA backend's bf16 mode (bf16 GEMM operands and attention, fp32 accumulation and
     *               state; docs/cuda.md); false: fp32 everywhere (the only mode of the CPU backend)
     * @param device CUDA device index (ignored by the CPU backend)
     * @param shard  which of the sweep's runs this process computes ({@link Shard#ALL}: every one)
     */
    public record Options(SamplerOptions sampler, String components, boolean fastPath, long cacheBudgetBytes,
                          int threads, String backend, int maxBatchTokens, boolean progress, boolean bf16,
                          int device, Shard shard) {
        public Options {
            if (sampler == null) throw new IllegalArgumentException("sampler options missing");
            if (cacheBudgetBytes < 0 && cacheBudgetBytes != Observables.AUTO_BUDGET)
                throw new IllegalArgumentException("cache budget must be >= 0 bytes or Observables.AUTO_BUDGET");
            if (threads < 0) throw new IllegalArgumentException("threads must be >= 0");
            if (maxBatchTokens < 2) throw new IllegalArgumentException("max batch tokens must be >= 2");
            if (device < 0) throw new IllegalArgumentException("device must be >= 0, got " + device);
            if (shard == null) throw new IllegalArgumentException("shard missing");
        }

        /** The same sweep on another device and shard (how a scheduler places one process or task). */
        public Options on(int device, Shard shard) {
            return new Options(sampler, components, fastPath, cacheBudgetBytes, threads, backend, maxBatchTokens, progress, bf16, device, shard);
        }

        /** Device 0, every run. */
        public Options(SamplerOptions sampler, String components, boolean fastPath, long cacheBudgetBytes, int threads,
                       String backend, int maxBatchTokens, boolean progress, boolean bf16) {
            this(sampler, components, fastPath, cacheBudgetBytes, threads, backend, maxBatchTokens, progress, bf16, 0, Shard.ALL);
        }
    }

    /**
     * Shard {@code index} of {@code count} computes the runs r (-1 = the full run, then the components
     * 0, 1, ...) with (r + 1) mod count == index, so the full run belongs to shard 0. Shards share one run
     * directory (state files are written atomically and never by two shards); every shard skips what
     * another has finished, and the unsharded command writes the outputs once all runs are there.
     */
    public record Shard(int index, int count) {
        public static final Shard ALL = new Shard(0, 1);

        public Shard {
            if (count < 1 || index < 0 || index >= count)
                throw new IllegalArgumentException("shard " + index + "/" + count + ": need 0 <= index < count");
        }

        /** "K/M", e.g. "0/4". */
        public static Shard parse(String s) {
            String[] p = s.split("/", -1);
            try {
                if (p.length == 2) return new Shard(Integer.parseInt(p[0].strip()), Integer.parseInt(p[1].strip()));
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IllegalArgumentException("shard '" + s + "': expected K/M with 0 <= K < M, e.g. 0/4");
        }

        /** The shard that owns run {@code run} alone (-1: the full run) of a sweep of {@code components} components. */
        public static Shard single(int run, int components) {
            return new Shard(run + 1, components + 1);
        }

        public boolean owns(int run) {
            return (run + 1) % count == index;
        }
    }

    /** Probe and sampling token sets, int32 row-major [rows, T]. */
    public record Inputs(int[] probe, int nProbe, int probeT, int[] sampling, int nSampling, int samplingT) {
        public int probeTokens() {
            return nProbe * (probeT - 1);
        }
    }

    /**
     * @param missingRuns runs (the full run counts) that neither this process computed nor found finished
     *                    (other shards' work); while it is > 0, chi holds NaN in their columns (every column
     *                    when the full run is missing) and the run's outputs must not be written
     */
    public record Result(float[] chi, int rows, List<String> components, List<Diagnostics> diagnostics,
                         double loss0, double seconds, int componentsComputed, int missingRuns) {}

    private ChiRun() {}

    /**
     * What {@link #compute} did.
     *
     * @param components  the sweep's component names, in column order
     * @param computed    components computed now (the full run not counted)
     * @param missingRuns runs (the full run counts) still unfinished in the run directory afterwards
     * @param loss0       the sampling loss at the checkpoint's weights
     */
    public record Computed(List<String> components, int computed, int missingRuns, double loss0, double seconds) {}

    /** A run on float32 parameters in canonical order (paramCount floats). */
    public static Result run(ModelConfig cfg, MemorySegment params, Inputs in, Path runDir, Options o) {
        return run(cfg, () -> sha256(params), m -> m.load(params), in, runDir, o);
    }

    /**
     * A run on a checkpoint's weights, loaded tensor by tensor from the mapped file (NativeModel.load(Checkpoint)):
     * no float32 copy of the model on the Java side. Same results and manifest as {@code run(ck.config(), ck.params(), ...)}.
     */
    public static Result run(Checkpoint ck, Inputs in, Path runDir, Options o) {
        return run(ck.config(), () -> sha256(ck), m -> m.load(ck), in, runDir, o);
    }

    /** Computes the shard's unfinished runs, then assembles every column from the run directory ({@link #assemble}). */
    private static Result run(ModelConfig cfg, Supplier<String> modelSha256, Consumer<NativeModel> load, Inputs in,
                              Path runDir, Options o) {
        Computed c = compute(cfg, modelSha256, load, in, runDir, o);
        Result r = assemble(runDir, c.components(), in.probeTokens());
        return new Result(r.chi(), r.rows(), r.components(), r.diagnostics(), c.loss0(), c.seconds(), c.computed(), r.missingRuns());
    }

    /**
     * Computes the runs of {@code o.shard()} that are not finished in {@code runDir}, each writing its state
     * files atomically; assembles nothing, so a process computing one run (a shard, a Spark task) never reads
     * the other runs' state. The weights are loaded tensor by tensor from the checkpoint.
     */
    public static Computed compute(Checkpoint ck, Inputs in, Path runDir, Options o) {
        return compute(ck.config(), () -> sha256(ck), m -> m.load(ck), in, runDir, o);
    }

    private static Computed compute(ModelConfig cfg, Supplier<String> modelSha256, Consumer<NativeModel> load, Inputs in,
                                    Path runDir, Options o) {
        long t0 = System.nanoTime();
        List<Component> comps = prepare(cfg, modelSha256.get(), in, runDir, o);
        Path stateDir = runDir.resolve("state");

        Backend backend = Backend.load(o.backend());
        SamplerOptions so = o.sampler();
        int computed = 0;
        double loss0;
        try (NativeModel model = NativeModel.create(backend, cfg, o.threads(), o.device(), o.maxBatchTokens(), o.bf16());
             Observables obs = new Observables(model, cfg, in.probe(), in.nProbe(), in.probeT(), in.sampling(),
                     in.nSampling(), in.samplingT(), so.batch(), so.seed(), o.maxBatchTokens(), o.cacheBudgetBytes())) {
            load.accept(model);
            if (o.progress() && o.fastPath()) {
                long need = obs.cacheBytesNeeded(), budget = obs.cacheBudgetBytes();
                System.err.printf("chi: fast-path caches need %.1f MiB, budget %.1f MiB%s%s%n", need / 1048576.0, budget / 1048576.0,
                        o.cacheBudgetBytes() == Observables.AUTO_BUDGET ? " (auto, from the backend's free memory)" : "",
                        need > budget ? ": some batches run uncached (slower, same results); raise --cache-mb" : "");
            }
            loss0 = obs.samplingLoss();
            if (!Double.isFinite(loss0)) throw new SpectroException("the loss at the checkpoint's weights is " + loss0 + ": the model is broken");
            long pending = 0;
            for (int c = -1; c < comps.size(); c++) if (o.shard().owns(c) && !Files.exists(statePath(stateDir, c))) pending++;
            Progress progress = new Progress("chi", pending * so.chains() * so.stepsPerChain(), System.err, o.progress());

            // run -1, the unrestricted full run, gives Delta_full; every run writes its state file, assemble reads them all
            for (int c = -1; c < comps.size(); c++) {
                if (!o.shard().owns(c) || Files.exists(statePath(stateDir, c))) continue;
                Component comp = c < 0 ? Decomposition.full(cfg) : comps.get(c);
                boolean ok = sums(model, obs, comp, c, so, loss0, c >= 0 && o.fastPath(), stateDir, progress);
                if (c < 0 && !ok) throw new SpectroException("the unrestricted full run produced NaN/inf: see " + stateDir.resolve("full.json"));
                if (c >= 0) {
                    computed++;
                    afterComponent.accept(c + 1);
                }
            }
            progress.finish();
        }
        int missing = 0;
        for (int c = -1; c < comps.size(); c++) if (!Files.exists(statePath(stateDir, c))) missing++;
        return new Computed(comps.stream().map(Component::name).toList(), computed, missing, loss0, (System.nanoTime() - t0) / 1e9);
    }

    /**
     * Checks the token ids against the model, resolves the components and writes the run directory's
     * manifest (or checks that the one there describes this run); computes nothing.
     *
     * @return the components, in column order
     */
    public static List<Component> prepare(Checkpoint ck, Inputs in, Path runDir, Options o) {
        return prepare(ck.config(), sha256(ck), in, runDir, o);
    }

    private static List<Component> prepare(ModelConfig cfg, String modelSha256, Inputs in, Path runDir, Options o) {
        List<Component> comps = Decomposition.resolve(cfg, o.components());
        for (int v : in.probe()) checkToken(v, cfg, "probe");
        for (int v : in.sampling()) checkToken(v, cfg, "sampling");
        checkOrWriteManifest(runDir, manifest(cfg, modelSha256, in, o, comps));
        return comps;
    }

    /**
     * The sweep's result from the run directory's state files alone (no model, no device): one column per
     * finished component, NaN columns for the runs not finished yet (every column while the full run is
     * missing, counted in {@link Result#missingRuns()}); loss0 comes from the full run's diagnostics
     * (NaN while it is missing); seconds and componentsComputed are 0.
     *
     * @param components the names {@link #prepare} resolved, in column order
     * @param probeTokens {@link Inputs#probeTokens()}
     */
    public static Result assemble(Path runDir, List<String> components, int probeTokens) {
        Path stateDir = runDir.resolve("state");
        int n = probeTokens, h = components.size(), missing = 0;
        double[] delta = null;
        double loss0 = Double.NaN;
        if (Files.exists(statePath(stateDir, -1))) {
            Diagnostics fd = readDiag(diagPath(statePath(stateDir, -1)));
            if (!fd.status().equals("ok")) throw new SpectroException("the unrestricted full run produced NaN/inf: see " + stateDir.resolve("full.json"));
            delta = ChiEstimator.deltaFull(ComponentSums.read(statePath(stateDir, -1), n));
            loss0 = fd.loss0();
        } else {
            missing++;
        }
        List<Diagnostics> diags = new ArrayList<>();
        float[] chi = new float[n * h];
        for (int c = 0; c < h; c++) {
            Path state = statePath(stateDir, c);
            ComponentSums s = null;
            if (Files.exists(state)) {
                Diagnostics d = readDiag(diagPath(state));
                diags.add(d);
                if (d.status().equals("ok")) s = ComponentSums.read(state, n);
            } else {
                missing++; // not finished yet (another shard's or task's): a NaN column
            }
            double[] col = s == null || delta == null ? null : ChiEstimator.chi(s, delta);
            for (int t = 0; t < n; t++) chi[t * h + c] = col == null ? Float.NaN : (float) col[t];
        }
        return new Result(chi, n, List.copyOf(components), diags, loss0, 0, 0, missing);
    }

    /** Whether run {@code run} (-1: the full run, then the components 0, 1, ...) has its final state in {@code runDir}. */
    public static boolean finished(Path runDir, int run) {
        return Files.exists(statePath(runDir.resolve("state"), run));
    }

    private static Path diagPath(Path state) {
        return state.resolveSibling(state.getFileName().toString().replace(".bin", ".json"));
    }

    /** Computes one run and writes its state (final even when it stopped on NaN/inf: its diagnostics say where); false: it stopped. */
    private static boolean sums(NativeModel model, Observables obs, Component comp, int index, SamplerOptions so,
                             double loss0, boolean fast, Path stateDir, Progress progress) {
        Path state = statePath(stateDir, index);
        progress.label(comp.name());
        Diagnostics d;
        ComponentSums result = null;
        RestrictedSampler.Traces tr = null;
        try {
            obs.drainProbe(); // start from zero
            CountingObserver co = new CountingObserver();
            tr = RestrictedSampler.run(model, obs, comp, index, so, loss0, fast, List.of(co), progress::step);
            double[][] acc = obs.drainProbe();
            for (int t = 0; t < acc[0].length; t++)
                if (!Double.isFinite(acc[0][t]) || !Double.isFinite(acc[1][t]))
                    throw new RestrictedSampler.NonFiniteException("component " + comp.name() + ": probe token " + t + " has a non-finite loss");
            result = new ComponentSums(co.k, co.sumPhi, co.sumPhiS, co.sumS, acc[0], acc[1]);
            d = Diagnostics.of(comp.name(), tr, loss0, so.nbeta());
        } catch (RestrictedSampler.NonFiniteException e) {
            d = Diagnostics.failed(comp.name(), loss0, "stopped: " + e.getMessage());
            System.err.println("\nspectro chi: " + d.status());
        }
        writeDiag(diagPath(state), d, tr);
        if (result != null) result.write(state);
        else writeFailedMarker(state);
        return result != null;
    }

    /** The estimator's Java-side sums: K, sum phi, sum phi*S, sum S. */
    static final class CountingObserver implements io.spectro.sampling.DrawObserver<Void> {
        long k;
        double sumPhi, sumPhiS, sumS;

        @Override
        public void onDraw(io.spectro.sampling.Draw d) {
            k++;
            sumPhi += d.phi();
            sumPhiS += d.phi() * d.samplingLoss();
            sumS += d.samplingLoss();
        }

        @Override
        public Void result() {
            return null;
        }
    }

    static Path statePath(Path stateDir, int index) {
        return stateDir.resolve(index < 0 ? "full.bin" : String.format("%04d.bin", index));
    }

    private static void writeFailedMarker(Path state) {
        // a failed component is final too: resuming must not silently retry it with the same seed
        new ComponentSums(0, Double.NaN, Double.NaN, Double.NaN, new double[0], new double[0]).write(state);
    }

    private static void writeDiag(Path file, Diagnostics d, RestrictedSampler.Traces tr) {
        ObjectNode node = JSON.valueToTree(d);
        if (tr != null) {
            node.set("drawLoss", JSON.valueToTree(tr.drawLoss()));
            node.set("stepLoss", JSON.valueToTree(downsample(tr.stepLoss(), 400)));
        }
        try {
            Files.createDirectories(file.getParent());
            Path tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp"); // unique: see ComponentSums.write
            Files.writeString(tmp, JSON.writeValueAsString(node));
            Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    static Diagnostics readDiag(Path file) {
        try {
            JsonNode n = JSON.readTree(file.toFile());
            return new Diagnostics(n.get("component").asString(), number(n.get("llc")), number(n.get("rhat")),
                    number(n.get("autocorr1")), number(n.get("meanS")), number(n.get("loss0")), n.get("status").asString());
        } catch (RuntimeException e) {
            throw new SpectroException(file + ": unreadable diagnostics (" + e.getMessage() + "); delete it and its .bin to recompute", e);
        }
    }

    /** A number field; NaN and infinities are written as the strings "NaN", "Infinity", "-Infinity". */
    private static double number(JsonNode v) {
        return v.isNumber() ? v.asDouble() : Double.parseDouble(v.asString());
    }

    /** Mean-pools each chain's step-loss trace to at most {@code max} points. */
    static float[][] downsample(float[][] x, int max) {
        float[][] out = new float[x.length][];
        for (int c = 0; c < x.length; c++) {
            int n = x[c].length, w = Math.max(1, (n + max - 1) / max);
            out[c] = new float[(n + w - 1) / w];
            for (int i = 0; i < out[c].length; i++) {
                double s = 0;
                int cnt = 0;
                for (int j = i * w; j < Math.min(n, (i + 1) * w); j++) { s += x[c][j]; cnt++; }
                out[c][i] = (float) (s / cnt);
            }
        }
        return out;
    }

    private static void checkToken(int v, ModelConfig cfg, String set) {
        if (v < 0 || v >= cfg.vocabSize())
            throw new SpectroException(set + " set: token id " + v + " is outside the model's vocabulary [0, " + cfg.vocabSize() + ")");
    }

    // ---- manifest ------------------------------------------------------------------------

    private static ObjectNode manifest(ModelConfig cfg, String modelSha256, Inputs in, Options o, List<Component> comps) {
        ObjectNode m = JSON.createObjectNode();
        m.put("spectro", Version.VERSION);
        m.put("abi", Version.ABI_VERSION);
        m.set("config", JSON.valueToTree(cfg));
        m.put("modelSha256", modelSha256);
        m.put("dataSha256", sha256(in));
        m.set("sampler", JSON.valueToTree(o.sampler()));
        m.put("components", o.components());
        m.put("componentCount", comps.size());
        m.put("probeShape", in.nProbe() + "x" + in.probeT());
        m.put("samplingShape", in.nSampling() + "x" + in.samplingT());
        m.put("maxBatchTokens", o.maxBatchTokens()); // fixes the chunking, hence the summation order
        m.put("precision", o.bf16() ? "bf16" : "fp32");
        return m;
    }

    private static void checkOrWriteManifest(Path runDir, ObjectNode manifest) {
        Path f = runDir.resolve("manifest.json");
        try {
            if (Files.exists(f)) {
                JsonNode old = JSON.readTree(f.toFile());
                if (old instanceof ObjectNode on && !on.has("precision")) on.put("precision", "fp32"); // runs before the field
                manifest = (ObjectNode) JSON.readTree(JSON.writeValueAsString(manifest)); // same number types as the file
                Iterator<String> it = manifest.propertyNames().iterator();
                while (it.hasNext()) {
                    String k = it.next();
                    if (!manifest.get(k).equals(old.get(k)))
                        throw new SpectroException(f + ": this directory holds a different run (" + k + " differs: was "
                                + old.get(k) + ", now " + manifest.get(k) + "); use another --out or delete it");
                }
                return;
            }
            Files.createDirectories(runDir);
            // atomically: shards starting together may write it at the same time (the same bytes)
            Path tmp = Files.createTempFile(runDir, "manifest", ".tmp");
            Files.writeString(tmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(manifest));
            Files.move(tmp, f, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new SpectroException(f + ": " + e.getMessage(), e);
        }
    }

    private static MessageDigest sha() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String sha256(MemorySegment params) {
        MessageDigest md = sha();
        long size = params.byteSize(), chunk = 1 << 24;
        for (long off = 0; off < size; off += chunk)
            md.update(params.asSlice(off, Math.min(chunk, size - off)).asByteBuffer());
        return HexFormat.of().formatHex(md.digest());
    }

    /** {@link #sha256(MemorySegment)} of the checkpoint's float32 parameters, streamed 4 Mi floats at a time. */
    static String sha256(Checkpoint ck) {
        MessageDigest md = sha();
        try (Arena a = Arena.ofConfined()) {
            ck.forEachFloat32(a.allocate(1 << 24, 64), chunk -> md.update(chunk.asByteBuffer()));
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static String sha256(Inputs in) {
        MessageDigest md = sha();
        for (int[] a : new int[][]{in.probe(), in.sampling()}) {
            ByteBuffer b = ByteBuffer.allocate(a.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asIntBuffer().put(a);
            md.update(b);
        }
        md.update(ByteBuffer.allocate(16).putInt(in.nProbe()).putInt(in.probeT()).putInt(in.nSampling()).putInt(in.samplingT()).flip());
        return HexFormat.of().formatHex(md.digest());
    }
}
