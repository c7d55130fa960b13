package io.spectro.demo;

import io.spectro.SpectroException;
import io.spectro.calibrate.CalibrationFiles;
import io.spectro.chi.ChainFreeRun;
import io.spectro.chi.ChiRun;
import io.spectro.chi.RunOutputs;
import io.spectro.io.Npy;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.report.Compare;
import io.spectro.structure.Pipeline;
import io.spectro.structure.TokenTable;
import io.spectro.sampling.SamplerOptions;
import io.spectro.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The demo on real text: two models the project trained on the mini-Pile (docs/data.md), shipped with
 * their probe and sampling sets (held-out mini-Pile windows, equal numbers per subset); for each model
 * χ of every probe token with every head, MLP, embed and unembed as components, then whitening,
 * clustering, map and explorer; and a tokens-across-scale page for pronouns between the two models.
 * Every stage writes into the work directory and is skipped when its output is there.
 * {@code quick}: the small model only, on the first {@link #QUICK_ROWS} probe windows.
 */
public final class PileDemo {
    /** Where the shipped models and sets live on the classpath. */
    static final String SHIPPED = "/io/spectro/demo/pile/";
    static final String[] MODEL_FILES = {"config.json", "model.safetensors", "tokenizer.json", "loss_curve.png",
            "TRAINED_WITH.txt", "heldout_loss.json", "calibration.json", "calibration.md"};
    static final String[] DATA_FILES = {"probe.npy", "probe.jsonl", "sampling.npy"};
    /** The models, smallest first. */
    public static final List<String> MODELS = List.of("small", "large");
    /** Probe windows in a quick run. */
    public static final int QUICK_ROWS = 10;
    /**
     * Sampling windows of a chain-free run (of the 64 shipped): the sampling loss S only sets each column's scale φ̄_C,
     * which z-scoring removes; 16 instead of 64 windows changed the small model's z-scored columns by r 0.9999 and
     * took a third of the time (docs/demo.md).
     */
    public static final int CHAIN_FREE_SAMPLING_ROWS = 16;
    /** The tokens the across-scale page follows. */
    public static final List<String> PRONOUNS = List.of(" she", " her", " he", " his", " him", " they");

    /**
     * @param probeRows probe windows to use (0 = all shipped)
     * @param models    which of {@link #MODELS} to run
     */
    /** @param fixedSettings use {@code sampler} as given, not the calibration shipped beside a model */
    /**
     * @param estimator    sgld (the chains), linear or gaussian ({@link ChainFreeRun}); {@code pairs} for gaussian
     * @param samplingRows sampling windows to use (0 = all shipped)
     */
    public record Options(Path work, int probeRows, List<String> models, SamplerOptions sampler, int threads, PrintStream log,
                          boolean fixedSettings, String estimator, int pairs, int samplingRows) {
        public Options(Path work, int probeRows, List<String> models, SamplerOptions sampler, int threads, PrintStream log) {
            this(work, probeRows, models, sampler, threads, log, false);
        }

        public Options(Path work, int probeRows, List<String> models, SamplerOptions sampler, int threads, PrintStream log,
                       boolean fixedSettings) {
            this(work, probeRows, models, sampler, threads, log, fixedSettings, "sgld", 32, 0);
        }

        public Options {
            if (probeRows < 0) throw new IllegalArgumentException("probe rows must be >= 0");
            if (samplingRows < 0) throw new IllegalArgumentException("sampling rows must be >= 0");
            if (models.isEmpty()) throw new IllegalArgumentException("no model to run");
            for (String m : models) if (!MODELS.contains(m)) throw new IllegalArgumentException("unknown demo model '" + m + "'; known: " + MODELS);
            if (!estimator.equals("sgld")) new ChainFreeRun.Options(estimator, pairs, 20); // validates
        }
    }

    /**
     * The settings of the demo's χ runs (stated in docs/demo.md): 2 chains × 20 draws, a draw every 2
     * steps after 20 burn-in steps, SGLD batch 8 windows, ε 1e-3, nβ 30, γ 300 (the small-model
     * defaults of {@link SamplerOptions#small} with fewer chains and draws, so that both models fit the
     * demo's time on 2 cores).
     */
    public static SamplerOptions settings(long seed) {
        return SamplerOptions.small(seed).withChains(2).withDraws(20).withBurnin(20);
    }

    /** The settings of a quick run: 2 chains × 8 draws, 10 burn-in steps. */
    public static SamplerOptions quickSettings(long seed) {
        return settings(seed).withDraws(8).withBurnin(10);
    }

    private PileDemo() {}

    /** Runs the demo; returns the explorer page of the last model run. */
    public static Path run(Options o) {
        long t0 = System.nanoTime();
        Path work = o.work(), data = work.resolve("data");
        try {
            copyShipped(SHIPPED + "data/", DATA_FILES, data);
            Npy.Ints probe = Npy.readInts(data.resolve("probe.npy")), samp = Npy.readInts(data.resolve("sampling.npy"));
            int rows = o.probeRows() == 0 ? probe.dim(0) : Math.min(o.probeRows(), probe.dim(0));
            int T = probe.dim(1);
            int[] p = Arrays.copyOf(probe.data(), rows * T);
            int sRows = o.samplingRows() == 0 ? samp.dim(0) : Math.min(o.samplingRows(), samp.dim(0));
            ChiRun.Inputs in = new ChiRun.Inputs(p, rows, T, Arrays.copyOf(samp.data(), sRows * samp.dim(1)), sRows, samp.dim(1));
            o.log().printf("demo: %d probe windows of %d tokens (%d chi vectors per model), %d sampling windows%n",
                    rows, T, in.probeTokens(), sRows);
            List<Path> runs = new ArrayList<>();
            Path html = null;
            for (String name : o.models()) {
                Path model = work.resolve("models").resolve(name);
                copyShipped(SHIPPED + name + "/", MODEL_FILES, model);
                Path run = work.resolve("run-" + name);
                chi(o, model, in, run, data.resolve("probe.npy"));
                html = io.spectro.report.Report.write(run, false, io.spectro.whiten.Whitening.Options.defaults(), io.spectro.graph.Knn.Options.defaults(),
                        io.spectro.cluster.PprClustering.Options.defaults(), io.spectro.map.ClusterMap.Options.defaults());
                o.log().println("demo: explorer (" + name + ")  " + html.toAbsolutePath());
                runs.add(run);
            }
            if (runs.size() == 2) {
                Path cmp = work.resolve("compare.html");
                Pipeline.ClustersFile ca = Pipeline.readClusters(runs.get(0).resolve("clusters")),
                        cb = Pipeline.readClusters(runs.get(1).resolve("clusters"));
                Compare.write(cmp, o.models().get(0), ca, TokenTable.read(runs.get(0), ca.rows()),
                        o.models().get(1), cb, TokenTable.read(runs.get(1), cb.rows()), PRONOUNS);
                o.log().println("demo: tokens across scale  " + cmp.toAbsolutePath());
            }
            o.log().printf("demo: finished in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            return html;
        } catch (IOException e) {
            throw new SpectroException(work + ": " + e.getMessage(), e);
        }
    }

    /** The file that says which estimator wrote a run directory. */
    static String marker(Options o) {
        return o.estimator().equals("sgld") ? "manifest.json" : chainFree(o).descriptionFile();
    }

    static ChainFreeRun.Options chainFree(Options o) {
        return new ChainFreeRun.Options(o.estimator(), o.pairs(), 20);
    }

    private static void chi(Options o, Path model, ChiRun.Inputs in, Path run, Path probeNpy) {
        if (Files.exists(run.resolve("chi.npy"))) {
            if (!Files.exists(run.resolve(marker(o))))
                throw new SpectroException(run + ": holds chi of another estimator than --estimator " + o.estimator()
                        + " (no " + marker(o) + "); remove it or give another --out");
            String why = o.estimator().equals("sgld") ? null : ChainFreeRun.differs(run, in, chainFree(o));
            if (why != null) throw new SpectroException(run + ": holds another chi run than this one (" + why + "); remove it or give another --out");
            o.log().println("demo: chi cached in " + run);
            return;
        }
        o.log().println("demo: susceptibilities of " + model.getFileName() + " -> " + run);
        ModelConfig cfg;
        Tokenizer tok;
        ChiRun.Result r;
        try (Checkpoint ck = Checkpoint.open(model)) {
            cfg = ck.config();
            tok = Tokenizer.load(ck.tokenizerJson());
            SamplerOptions so = calibrated(o, model, ck);
            if (!o.estimator().equals("sgld")) {
                ChainFreeRun.Options eo = chainFree(o);
                double s = ChainFreeRun.run(ck, in, "default", so, eo, "cpu", o.threads(), 0, 8192, run, tok::displayTokens, o.log(), true);
                RunOutputs.writeSubsets(run, probeNpy, in.nProbe());
                o.log().printf("demo: %d chi vectors (%s) in %.1f s%n", in.probeTokens(), eo.describe(), s);
                return;
            }
            r = ChiRun.run(cfg, ck.params(), in, run, new ChiRun.Options(so, "default", true, 256L << 20, o.threads(),
                    "cpu", 8192, true, false));
        }
        RunOutputs.write(run, r, in, tok::displayTokens, false);
        RunOutputs.writeSubsets(run, probeNpy, in.nProbe());
        o.log().printf("demo: %d chi vectors x %d components in %.1f s%n", r.rows(), r.components().size(), r.seconds());
    }

    /**
     * The sampler settings of a model's χ run: the demo's chains, draws and burn-in with ε, nβ, γ and the
     * sampler from the calibration shipped beside the model ({@code calibration.json}, written offline by
     * {@code spectro calibrate}; docs/demo.md gives the command), when there is one and the options do not set
     * them; refused when it was made for other weights.
     */
    static SamplerOptions calibrated(Options o, Path model, Checkpoint ck) {
        if (!o.fixedSettings()) {
            Path json = model.resolve("calibration.json");
            if (Files.isRegularFile(json)) {
                CalibrationFiles.Recommended rec = CalibrationFiles.read(json);
                if (!rec.modelSha256().equals(ChiRun.sha256(ck)))
                    throw new SpectroException(json + ": calibrated for other weights than " + model.resolve("model.safetensors"));
                SamplerOptions so = rec.applyTo(o.sampler());
                o.log().println("demo: sampler settings from the shipped calibration (" + json + "): " + label(o, so));
                return so;
            }
            // a model without its own calibration takes the one of the other demo models that has one (stated): from
            // its copy beside this model when that model was run, else from the jar, so `--models large` alone runs
            // at the same settings as `--models small,large`
            for (String other : MODELS) {
                if (other.equals(model.getFileName().toString())) continue;
                Path oj = model.resolveSibling(other).resolve("calibration.json");
                CalibrationFiles.Recommended rec = Files.isRegularFile(oj) ? CalibrationFiles.read(oj) : shippedCalibration(other);
                if (rec == null) continue;
                SamplerOptions so = rec.applyTo(o.sampler());
                o.log().println("demo: " + model.getFileName() + " has no calibration of its own; sampler settings from the " + other
                        + " model's (" + (Files.isRegularFile(oj) ? oj : "shipped in the jar") + "): " + label(o, so));
                return so;
            }
        }
        o.log().println("demo: sampler settings as given (no calibration used): " + label(o, o.sampler()));
        return o.sampler();
    }

    /** The settings a run uses, for the log: the chains' for sgld; γ and the noise scale for a chain-free estimator. */
    static String label(Options o, SamplerOptions so) {
        if (o.estimator().equals("sgld")) return Demo.label(so);
        return "gamma " + so.gamma() + ", noise scale " + so.noiseScale() + ", " + chainFree(o).describe() + " (no chains)";
    }

    /** The calibration shipped in the jar for demo model {@code name}, or null when it has none. */
    static CalibrationFiles.Recommended shippedCalibration(String name) {
        String res = SHIPPED + name + "/calibration.json";
        try (InputStream in = PileDemo.class.getResourceAsStream(res)) {
            return in == null ? null : CalibrationFiles.read("the jar's " + res, in);
        } catch (IOException e) {
            throw new SpectroException("the jar's " + res + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    /** Shipped beside a model only when it was calibrated itself (the larger model takes the small one's). */
    static final java.util.Set<String> OPTIONAL = java.util.Set.of("calibration.json", "calibration.md");

    /**
     * Copies shipped files unless dir already holds the first of them: into a fresh temporary folder, then
     * renamed, so an interrupted copy never leaves a folder that looks complete. A file missing from the jar
     * is an error naming it (unless it is {@link #OPTIONAL}), never a silently incomplete folder.
     */
    static void copyShipped(String prefix, String[] files, Path dir) throws IOException {
        if (Files.exists(dir.resolve(files[0]))) return;
        if (Files.exists(dir)) throw new SpectroException(dir + ": exists but holds no " + files[0] + "; remove it or give another --out");
        Path tmp = dir.resolveSibling(dir.getFileName() + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        for (String f : files) {
            try (InputStream in = PileDemo.class.getResourceAsStream(prefix + f)) {
                if (in == null) {
                    if (OPTIONAL.contains(f)) continue;
                    deleteTree(tmp);
                    throw new SpectroException("the demo's files are missing from the jar (" + prefix + f
                            + "); rebuild it with ./scripts/build (was it being rebuilt by another command?)");
                }
                Files.copy(in, tmp.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path q : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }
}
