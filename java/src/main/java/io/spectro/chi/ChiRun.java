package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.Version;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
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
     * @param target --target-reliability: per component, draws until this split-half reliability (null: the
     *               fixed --draws)
     */
    public record Options(SamplerOptions sampler, String components, boolean fastPath, long cacheBudgetBytes,
                          int threads, String backend, int maxBatchTokens, boolean progress, boolean bf16,
                          int device, Shard shard, Target target) {
        public Options {
            if (sampler == null) throw new IllegalArgumentException("sampler options missing");
            if (cacheBudgetBytes < 0 && cacheBudgetBytes != Observables.AUTO_BUDGET)
                throw new IllegalArgumentException("cache budget must be >= 0 bytes or Observables.AUTO_BUDGET");
            if (threads < 0) throw new IllegalArgumentException("threads must be >= 0");
            if (maxBatchTokens < 2) throw new IllegalArgumentException("max batch tokens must be >= 2");
            if (device < 0) throw new IllegalArgumentException("device must be >= 0, got " + device);
            if (shard == null) throw new IllegalArgumentException("shard missing");
            if (target != null && sampler.chains() < 2)
                throw new IllegalArgumentException("--target-reliability needs at least 2 chains (the split-half reliability compares halves of them)");
            if (target != null && target.maxDraws() < sampler.draws())
                throw new IllegalArgumentException("--max-draws " + target.maxDraws() + " is below --draws " + sampler.draws()
                        + " (the first round's draws per chain)");
        }

        /** Fixed draws (no reliability target). */
        public Options(SamplerOptions sampler, String components, boolean fastPath, long cacheBudgetBytes, int threads,
                       String backend, int maxBatchTokens, boolean progress, boolean bf16, int device, Shard shard) {
            this(sampler, components, fastPath, cacheBudgetBytes, threads, backend, maxBatchTokens, progress, bf16, device, shard, null);
        }

        /** The same sweep on another device and shard (how a scheduler places one process or task). */
        public Options on(int device, Shard shard) {
            return new Options(sampler, components, fastPath, cacheBudgetBytes, threads, backend, maxBatchTokens, progress, bf16, device, shard, target);
        }

        /** The same sweep with a reliability target (null: fixed draws). */
        public Options withTarget(Target t) {
            return new Options(sampler, components, fastPath, cacheBudgetBytes, threads, backend, maxBatchTokens, progress, bf16, device, shard, t);
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

    /**
     * {@code --target-reliability R --max-draws N}: each component's chains get --draws draws, then twice
     * as many, and so on (at most N per chain), until the component's split-half reliability reaches R
     * ({@link TargetedSums}). The full run keeps --draws.
     */
    public record Target(double reliability, int maxDraws) {
        public Target {
            if (!(reliability > 0 && reliability < 1))
                throw new IllegalArgumentException("--target-reliability must be in (0, 1), got " + reliability);
            if (maxDraws < 1) throw new IllegalArgumentException("--max-draws must be >= 1, got " + maxDraws);
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
                         double loss0, double seconds, int componentsComputed, int missingRuns, Uncertainty uncertainty,
                         List<Health> health) {
        /** The same result with the time and the count of components computed by the process that produced it. */
        public Result timed(double seconds, int componentsComputed) {
            return new Result(chi, rows, components, diagnostics, loss0, seconds, componentsComputed, missingRuns, uncertainty, health);
        }
    }

    /**
     * Per-token standard errors [rows, H] (NaN where a run has no per-chain sums: one chain, a failed
     * component, or a run directory written before they existed) and split-half reliability per component.
     */
    public record Uncertainty(float[] chiSe, double[] reliability) {}

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
        Sweep sweep = prepare(cfg, modelSha256.get(), in, runDir, o);
        Computed c = compute(sweep, cfg, load, in, runDir, o, false);
        return assemble(runDir, sweep).timed(c.seconds(), c.computed());
    }

    /**
     * What {@link #prepare} resolved: the components in column order and the run's identity in its state
     * files; {@link #assemble} needs nothing else.
     */
    public static final class Sweep {
        private final List<Component> components;
        private final String fullName;
        private final ObjectNode manifest;
        final String runKey;
        final int probeTokens;
        final SamplerOptions sampler;
        final Target target;

        private Sweep(List<Component> components, String fullName, ObjectNode manifest, int probeTokens, SamplerOptions sampler,
                      Target target) {
            this.components = List.copyOf(components);
            this.fullName = fullName;
            this.manifest = manifest;
            this.runKey = runKey(manifest);
            this.probeTokens = probeTokens;
            this.sampler = sampler;
            this.target = target;
        }

        /** The components, in column order. */
        public List<Component> components() {
            return components;
        }

        /** The components' names, in column order. */
        public List<String> names() {
            return components.stream().map(Component::name).toList();
        }
    }

    /**
     * Checks the token ids against the model, resolves the components, checks that the sizes fit and that
     * the run directory holds no other run's manifest; computes and writes nothing (the manifest appears
     * once {@link #compute} has validated the model, so a refused run leaves no run directory).
     */
    public static Sweep prepare(Checkpoint ck, Inputs in, Path runDir, Options o) {
        return prepare(ck.config(), sha256(ck), in, runDir, o);
    }

    private static Sweep prepare(ModelConfig cfg, String modelSha256, Inputs in, Path runDir, Options o) {
        List<Component> comps = Decomposition.resolve(cfg, o.components());
        for (int v : in.probe()) checkToken(v, cfg, "probe");
        for (int v : in.sampling()) checkToken(v, cfg, "sampling");
        checkTraceMemory(o.sampler());
        long cells = (long) in.probeTokens() * comps.size();
        if (cells > Integer.MAX_VALUE - 8)
            throw new SpectroException(String.format("%d probe tokens x %d components = %d chi values: more than one run holds (at most %d); "
                    + "split the probe set into runs of at most %d tokens", in.probeTokens(), comps.size(), cells, Integer.MAX_VALUE - 8,
                    (Integer.MAX_VALUE - 8) / comps.size()));
        ObjectNode manifest = manifest(cfg, modelSha256, in, o, comps);
        checkManifest(runDir, manifest); // a different run is refused before any work
        return new Sweep(comps, Decomposition.full(cfg).name(), manifest, in.probeTokens(), o.sampler(), o.target());
    }

    /**
     * Computes the runs of {@code o.shard()} that are not finished in {@code runDir}, each writing its state
     * files atomically; assembles nothing, so a process computing one run (a shard, a Spark task) never reads
     * the other runs' state. The weights are loaded tensor by tensor from the checkpoint. A second process
     * computing the same shard is refused.
     */
    public static Computed compute(Checkpoint ck, Inputs in, Path runDir, Options o) {
        return compute(ck, in, runDir, o, false);
    }

    /**
     * As {@link #compute(Checkpoint, Inputs, Path, Options)}; with {@code waitForSameShard} a process that
     * finds the same shard being computed (a retried or speculative copy of a Spark task) waits for it
     * instead of being refused, then skips what it finished.
     */
    public static Computed compute(Checkpoint ck, Inputs in, Path runDir, Options o, boolean waitForSameShard) {
        ModelConfig cfg = ck.config();
        return compute(prepare(cfg, sha256(ck), in, runDir, o), cfg, m -> m.load(ck), in, runDir, o, waitForSameShard);
    }

    private static Computed compute(Sweep sweep, ModelConfig cfg, Consumer<NativeModel> load, Inputs in,
                                    Path runDir, Options o, boolean waitForSameShard) {
        long t0 = System.nanoTime();
        List<Component> comps = sweep.components();
        Path stateDir = runDir.resolve("state");
        Backend backend = Backend.load(o.backend());
        SamplerOptions so = o.sampler();
        int computed = 0;
        double loss0;
        try (NativeModel model = NativeModel.create(backend, cfg, o.threads(), o.device(), o.maxBatchTokens(), o.bf16());
             Observables obs = new Observables(model, cfg, in.probe(), in.nProbe(), in.probeT(), in.sampling(),
                     in.nSampling(), in.samplingT(), so.batch(), so.seed(), o.maxBatchTokens(), o.cacheBudgetBytes());
             RunLock lock = RunLock.acquire(runDir, o.shard(), waitForSameShard)) {
            load.accept(model);
            if (o.progress() && o.fastPath()) {
                long need = obs.cacheBytesNeeded(), budget = obs.cacheBudgetBytes();
                System.err.printf("chi: probe-side cache %.1f MiB of %.1f MiB budget%s%s%n", need / 1048576.0, budget / 1048576.0,
                        o.cacheBudgetBytes() == Observables.AUTO_BUDGET ? " (auto, from the backend's free memory)" : "",
                        need > budget ? ": some batches run uncached (slower, same results); raise --cache-mb" : "");
            }
            loss0 = obs.samplingLoss();
            if (!Double.isFinite(loss0)) throw new SpectroException("the loss at the checkpoint's weights is " + loss0 + ": the model is broken");
            writeManifest(runDir, sweep.manifest); // everything is validated: only now does the run directory appear
            long pending = 0;
            for (int c = -1; c < comps.size(); c++) if (o.shard().owns(c) && !Files.exists(statePath(stateDir, c))) pending++;
            long perRun = so.chains() * (o.target() == null ? so.stepsPerChain() : so.withDraws(o.target().maxDraws()).stepsPerChain());
            Progress progress = new Progress(o.target() == null ? "chi" : "chi (at most)", pending * perRun, System.err, o.progress());
            ChainSums fullChains = null;

            // run -1, the unrestricted full run, gives Delta_full; every run writes its state file, assemble reads them all
            for (int c = -1; c < comps.size(); c++) {
                if (!o.shard().owns(c) || Files.exists(statePath(stateDir, c))) continue;
                Component comp = c < 0 ? Decomposition.full(cfg) : comps.get(c);
                boolean ok;
                if (c >= 0 && o.target() != null) {
                    if (fullChains == null) fullChains = fullChains(stateDir, sweep);
                    ok = TargetedSums.run(model, obs, comp, c, so, loss0, o.fastPath(), statePath(stateDir, c), progress,
                            identity(sweep.runKey, c, comp.name()), fullChains, o.target());
                } else {
                    ok = sums(model, obs, comp, c, so, loss0, c >= 0 && o.fastPath(), stateDir, progress, sweep.runKey);
                }
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
        return new Computed(sweep.names(), computed, missing, loss0, (System.nanoTime() - t0) / 1e9);
    }

    /** The full run's per-chain sums, which the reliability of every round needs (--target-reliability). */
    private static ChainSums fullChains(Path stateDir, Sweep sweep) {
        Path full = statePath(stateDir, -1);
        if (!Files.exists(full))
            throw new SpectroException("--target-reliability: the components' rounds need the full run's state (" + full
                    + "), computed by shard 0: run shard 0 first");
        ChainSums cs = ChainSums.read(ChainSums.fileFor(full), sweep.sampler.chains(), sweep.probeTokens, identity(sweep.runKey, -1, sweep.fullName));
        if (cs == null) throw new SpectroException(ChainSums.fileFor(full) + ": missing; delete " + full + " to recompute the full run");
        return cs;
    }

    /** A run's pooled sums and its per-chain sums (null for a run directory written before they existed). */
    record Sums(ComponentSums pooled, ChainSums chains) {}

    /**
     * The sweep's result from the run directory's state files alone (no model, no device), each checked
     * against the run's identity: one column per finished component, NaN columns for the runs not finished
     * yet (every column while the full run is missing, counted in {@link Result#missingRuns()}); standard
     * errors and split-half reliability from the per-chain sums, health per component; loss0 comes from the
     * full run's diagnostics (NaN while it is missing); seconds and componentsComputed are 0.
     */
    public static Result assemble(Path runDir, Sweep sweep) {
        Path stateDir = runDir.resolve("state");
        List<Component> comps = sweep.components();
        int n = sweep.probeTokens, h = comps.size(), missing = 0;
        double[] delta = null;
        ChainSums fullChains = null;
        double loss0 = Double.NaN;
        Sums full = restore(stateDir, -1, sweep.fullName, sweep, null);
        if (full != null) {
            delta = ChiEstimator.deltaFull(full.pooled());
            fullChains = full.chains();
            loss0 = readDiag(diagPath(statePath(stateDir, -1)), sweep.fullName).loss0();
        } else if (Files.exists(statePath(stateDir, -1))) {
            throw new SpectroException("the unrestricted full run produced NaN/inf: see " + stateDir.resolve("full.json"));
        } else {
            missing++;
        }
        List<Diagnostics> diags = new ArrayList<>();
        float[] chi = new float[n * h], se = new float[n * h];
        double[] reliability = new double[h];
        for (int c = 0; c < h; c++) {
            Sums s = null;
            if (Files.exists(statePath(stateDir, c))) s = restore(stateDir, c, comps.get(c).name(), sweep, diags);
            else missing++; // not finished yet (another shard's or task's): a NaN column
            double[] col = s == null || delta == null ? null : ChiEstimator.chi(s.pooled(), delta);
            boolean chains = col != null && s.chains() != null && fullChains != null;
            double[] sec = chains ? ChiUncertainty.standardError(s.chains(), fullChains) : null;
            reliability[c] = chains ? ChiUncertainty.splitHalf(s.chains(), fullChains) : Double.NaN;
            for (int t = 0; t < n; t++) {
                chi[t * h + c] = col == null ? Float.NaN : (float) col[t];
                se[t * h + c] = sec == null ? Float.NaN : (float) sec[t];
            }
        }
        List<String> names = sweep.names();
        List<Health> health = new ArrayList<>();
        for (Diagnostics d : diags) {
            int c = names.indexOf(d.component());
            boolean finite = true;
            for (int t = 0; t < n && finite; t++) finite = Float.isFinite(chi[t * h + c]);
            health.add(Health.of(d, reliability[c], finite, sweep.sampler.nbeta(), sweep.target == null ? Double.NaN : sweep.target.reliability()));
        }
        return new Result(chi, n, names, diags, loss0, 0, 0, missing, new Uncertainty(se, reliability), health);
    }

    /** A finished run's sums read back (null when it is missing or stopped on NaN/inf); its diagnostics go to {@code diags}. */
    private static Sums restore(Path stateDir, int index, String name, Sweep sweep, List<Diagnostics> diags) {
        Path state = statePath(stateDir, index);
        if (!Files.exists(state)) return null;
        Diagnostics d = readDiag(diagPath(state), name);
        if (diags != null) diags.add(d);
        boolean ok = d.status().equals("ok");
        int n = sweep.probeTokens;
        ComponentSums sums = ComponentSums.read(state, ok ? n : 0, identity(sweep.runKey, index, name)); // a failed one holds no tokens
        return ok ? new Sums(sums, ChainSums.read(ChainSums.fileFor(state), sweep.sampler.chains(), n, identity(sweep.runKey, index, name))) : null;
    }

    private static String identity(String runKey, int index, String name) {
        return runKey + "/" + index + "/" + name;
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
                                double loss0, boolean fast, Path stateDir, Progress progress, String runKey) {
        Path state = statePath(stateDir, index);
        String identity = identity(runKey, index, comp.name());
        progress.label(comp.name());
        Diagnostics d;
        Sums result = null;
        RestrictedSampler.Traces tr = null;
        try {
            obs.drainProbe(); // start from zero
            CountingObserver co = new CountingObserver(obs, so.chains(), index < 0);
            tr = RestrictedSampler.run(model, obs, comp, index, so, loss0, fast, List.of(co), progress::step);
            double[][] acc = obs.drainProbe();
            for (int t = 0; t < acc[0].length; t++)
                if (!Double.isFinite(acc[0][t]) || !Double.isFinite(acc[1][t]))
                    throw new RestrictedSampler.NonFiniteException("component " + comp.name() + ": probe token " + t + " has a non-finite loss");
            result = new Sums(new ComponentSums(co.k, co.sumPhi, co.sumPhiS, co.sumS, acc[0], acc[1]), co.chains());
            d = Diagnostics.of(comp.name(), tr, loss0, so.nbeta());
        } catch (RestrictedSampler.NonFiniteException e) {
            d = Diagnostics.failed(comp.name(), loss0, "stopped: " + e.getMessage());
            System.err.println("\nspectro chi: " + d.status());
        }
        finish(state, identity, d, tr, result);
        return result != null;
    }

    /** Writes a run's final state: chains file, diagnostics, then the .bin that marks it finished (a failed marker without sums). */
    static void finish(Path state, String identity, Diagnostics d, RestrictedSampler.Traces tr, Sums result) {
        if (result != null) result.chains().write(ChainSums.fileFor(state), identity); // before the .bin, which marks the run finished
        writeDiag(diagPath(state), d, tr);
        if (result != null) result.pooled().write(state, identity);
        else writeFailedMarker(state, identity);
    }

    /**
     * The estimator's Java-side sums: K, sum phi, sum phi*S, sum S, pooled over chains in draw order (what
     * chi.npy is computed from) and per chain; at the end of each chain the per-token sum the estimator
     * needs (sum phi*l, or sum l for the full run) is read from the native accumulators, and the chain's
     * share is the difference from the previous chain's reading (the pooled sums stay untouched).
     */
    static final class CountingObserver implements io.spectro.sampling.DrawObserver<Void> {
        long k;
        double sumPhi, sumPhiS, sumS;
        private final Observables obs;
        private final boolean full;
        private final long[] kc;
        private final double[] phiC, phiSC, sC;
        private final double[][] tokC;
        private double[] previous;

        CountingObserver(Observables obs, int chains, boolean full) {
            this.obs = obs;
            this.full = full;
            kc = new long[chains];
            phiC = new double[chains];
            phiSC = new double[chains];
            sC = new double[chains];
            tokC = new double[chains][];
            previous = new double[obs.probeTokens()];
        }

        @Override
        public void onDraw(io.spectro.sampling.Draw d) {
            k++;
            sumPhi += d.phi();
            sumPhiS += d.phi() * d.samplingLoss();
            sumS += d.samplingLoss();
            int c = d.chain();
            kc[c]++;
            phiC[c] += d.phi();
            phiSC[c] += d.phi() * d.samplingLoss();
            sC[c] += d.samplingLoss();
        }

        @Override
        public void chainDone(int chain) {
            double[] now = obs.readProbe()[full ? 0 : 1];
            double[] mine = new double[now.length];
            for (int t = 0; t < now.length; t++) mine[t] = now[t] - previous[t];
            tokC[chain] = mine;
            previous = now;
        }

        ChainSums chains() {
            return new ChainSums(kc, phiC, phiSC, sC, tokC);
        }

        @Override
        public Void result() {
            return null;
        }
    }

    static Path statePath(Path stateDir, int index) {
        return stateDir.resolve(index < 0 ? "full.bin" : String.format("%04d.bin", index));
    }

    private static void writeFailedMarker(Path state, String identity) {
        // a failed component is final too: resuming must not silently retry it with the same seed
        new ComponentSums(0, Double.NaN, Double.NaN, Double.NaN, new double[0], new double[0]).write(state, identity);
    }

    private static void writeDiag(Path file, Diagnostics d, RestrictedSampler.Traces tr) {
        ObjectNode node = JSON.valueToTree(d);
        if (tr != null) {
            node.set("drawLoss", JSON.valueToTree(tr.drawLoss()));
            node.set("stepLoss", JSON.valueToTree(downsample(tr.stepLoss(), 400)));
        }
        Atomic.writeString(file, JSON.writeValueAsString(node));
    }

    /** Reads a component's diagnostics (NaN and infinities are written as the strings "NaN", "Infinity"). */
    static Diagnostics readDiag(Path file, String expectedComponent) {
        Diagnostics d;
        try {
            JsonNode n = JSON.readTree(file.toFile());
            d = new Diagnostics(n.get("component").asString(), number(n.get("llc")), number(n.get("rhat")),
                    number(n.get("autocorr1")), number(n.get("meanS")), number(n.get("loss0")), n.get("status").asString(),
                    n.has("drift") ? number(n.get("drift")) : Double.NaN, // absent in runs written before the drift test
                    n.has("draws") ? n.get("draws").asInt() : n.has("drawLoss") ? n.get("drawLoss").get(0).size() : 0);
        } catch (RuntimeException e) {
            throw new SpectroException(file + ": unreadable diagnostics (" + IoErrors.describe(e) + "); delete it and its .bin to recompute", e);
        }
        if (!d.component().equals(expectedComponent))
            throw new SpectroException(file + ": holds the diagnostics of component " + d.component() + ", not " + expectedComponent
                    + "; delete it and its .bin to recompute");
        return d;
    }

    /** A JSON number, or one of the strings Jackson writes for non-finite doubles ("NaN", "Infinity", "-Infinity"). */
    static double number(JsonNode n) {
        if (n == null) throw new IllegalArgumentException("a number is missing");
        if (n.isNumber()) return n.doubleValue();
        if (n.isString()) {
            switch (n.asString()) {
                case "NaN": return Double.NaN;
                case "Infinity", "+Infinity", "INF": return Double.POSITIVE_INFINITY;
                case "-Infinity", "-INF": return Double.NEGATIVE_INFINITY;
                default: break;
            }
        }
        throw new IllegalArgumentException("expected a number, got " + n);
    }

    /**
     * The per-draw traces (S at every draw, kept in memory and written to the state's .json) must fit:
     * refuse before any work, saying how many draws would.
     */
    static void checkTraceMemory(SamplerOptions so) {
        long draws = (long) so.chains() * so.draws();
        long perDraw = 8 + 32; // the double in memory, its JSON text and tree node
        Runtime rt = Runtime.getRuntime();
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        long fit = free / 2 / perDraw;
        if (draws > fit)
            throw new SpectroException(String.format("--chains %d x --draws %d = %d draws per component: their traces need %.1f GiB, "
                    + "this JVM has %.1f GiB free; at most about %d draws per component fit (e.g. --draws %d)",
                    so.chains(), so.draws(), draws, draws * perDraw / 1073741824.0, free / 1073741824.0, fit, Math.max(1, fit / so.chains())));
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
        m.put("dataSha256", dataSha256(in));
        m.set("sampler", JSON.valueToTree(o.sampler()));
        m.put("components", o.components());
        m.put("componentCount", comps.size());
        m.put("probeShape", in.nProbe() + "x" + in.probeT());
        m.put("samplingShape", in.nSampling() + "x" + in.samplingT());
        m.put("maxBatchTokens", o.maxBatchTokens()); // fixes the chunking, hence the summation order
        m.put("precision", o.bf16() ? "bf16" : "fp32");
        if (o.target() != null) { // only then: manifests of fixed-draw runs stay as they were
            m.put("targetReliability", o.target().reliability());
            m.put("maxDraws", o.target().maxDraws());
        }
        return m;
    }

    /** Identifies the run in its state files: the manifest without the version fields. */
    private static String runKey(ObjectNode manifest) {
        ObjectNode m = manifest.deepCopy();
        m.remove("spectro");
        m.remove("abi");
        MessageDigest md = sha();
        md.update(JSON.writeValueAsString(m).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(md.digest()).substring(0, 16);
    }

    /** Refuses a directory that holds another run (or something that is no run's manifest). */
    private static void checkManifest(Path runDir, ObjectNode manifest) {
        Path f = runDir.resolve("manifest.json");
        if (Files.exists(runDir) && !Files.isDirectory(runDir))
            throw new SpectroException(runDir + ": --out exists and is not a directory");
        if (Files.exists(f)) {
            JsonNode old;
            try {
                old = JSON.readTree(f.toFile());
            } catch (tools.jackson.core.JacksonException e) {
                if (e.getCause() instanceof IOException io) throw new SpectroException(f + ": cannot read (" + IoErrors.describe(io) + ")", e);
                throw new SpectroException(f + ": not a spectro run manifest (" + e.getOriginalMessage()
                        + "); use another --out or delete the directory");
            }
            if (!(old instanceof ObjectNode))
                throw new SpectroException(f + ": not a spectro run manifest (not a JSON object); use another --out or delete the directory");
            if (old instanceof ObjectNode on && !on.has("precision")) on.put("precision", "fp32"); // runs before the field
            manifest = (ObjectNode) JSON.readTree(JSON.writeValueAsString(manifest)); // same number types as the file
            Iterator<String> it = manifest.propertyNames().iterator();
            while (it.hasNext()) {
                String k = it.next();
                if (!manifest.get(k).equals(old.get(k)))
                    throw new SpectroException(f + ": this directory holds a different run (" + k + " differs: was "
                            + old.get(k) + ", now " + manifest.get(k) + "); use another --out or delete it");
            }
        }
    }

    private static void writeManifest(Path runDir, ObjectNode manifest) {
        Path f = runDir.resolve("manifest.json");
        if (Files.exists(f)) return; // checked by checkManifest
        // atomically: shards starting together may write it at the same time (the same bytes)
        Atomic.writeString(f, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(manifest));
    }

    private static MessageDigest sha() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** SHA-256 of the fp32 flat parameters (the manifest's modelSha256). */
    public static String sha256(MemorySegment params) {
        MessageDigest md = sha();
        long size = params.byteSize(), chunk = 1 << 24;
        for (long off = 0; off < size; off += chunk)
            md.update(params.asSlice(off, Math.min(chunk, size - off)).asByteBuffer());
        return HexFormat.of().formatHex(md.digest());
    }

    /** {@link #sha256(MemorySegment)} of the checkpoint's float32 parameters, streamed 4 Mi floats at a time. */
    public static String sha256(Checkpoint ck) {
        MessageDigest md = sha();
        try (Arena a = Arena.ofConfined()) {
            ck.forEachFloat32(a.allocate(1 << 24, 64), chunk -> md.update(chunk.asByteBuffer()));
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * What identifies a run's inputs, with the manifest's key names (config, modelSha256, dataSha256, components,
     * componentCount, probeShape, samplingShape): the chain-free estimators write it as their description's
     * {@code run} block, so that what reads a run's provenance ({@code upsample fit}, a replicate check) reads
     * either kind.
     */
    static ObjectNode provenance(ModelConfig cfg, String modelSha256, Inputs in, String components, int componentCount) {
        ObjectNode m = JSON.createObjectNode();
        m.set("config", JSON.valueToTree(cfg));
        m.put("modelSha256", modelSha256);
        m.put("dataSha256", dataSha256(in));
        m.put("components", components);
        m.put("componentCount", componentCount);
        m.put("probeShape", in.nProbe() + "x" + in.probeT());
        m.put("samplingShape", in.nSampling() + "x" + in.samplingT());
        return m;
    }

    /** SHA-256 of the probe and sampling token ids and shapes (the manifest's dataSha256). */
    static String dataSha256(Inputs in) {
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
