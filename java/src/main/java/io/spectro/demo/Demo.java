package io.spectro.demo;

import io.spectro.SpectroException;
import io.spectro.calibrate.Calibration;
import io.spectro.calibrate.CalibrationFiles;
import io.spectro.calibrate.CalibrationRun;
import io.spectro.chi.ChiRun;
import io.spectro.chi.RunOutputs;
import io.spectro.data.TokenSets;
import io.spectro.io.Npy;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.sampling.SamplerOptions;
import io.spectro.tokenizer.BpeTrainer;
import io.spectro.tokenizer.Tokenizer;
import io.spectro.train.TrainOptions;
import io.spectro.train.Trainer;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;

/**
 * The embedded demo: corpus -> tokenizer -> small model -> susceptibilities (and the nbeta = 0
 * baseline) -> whitening, clustering, map -> explorer, plus the induction check of Baker et al. 2025.
 * Each stage writes into the work directory and is skipped when its output is already there.
 *
 * <p>Corpus: text found on any Debian/Ubuntu system ({@link SystemText}) mixed with synthetic
 * Markov-chain sequences that repeat a span and periodic sequences ({@link Synthetic}); the periodic
 * ones are what makes the induction circuit form (docs/demo.md). The model is the project's shipped
 * one (trained by {@code spectro demo --train}) when it is on the classpath and {@code --train} is not
 * given; otherwise one is trained here.
 */
public final class Demo {
    /** Where the shipped model lives on the classpath. */
    static final String SHIPPED = "/io/spectro/demo/model/";

    /**
     * @param calibrate the calibration stage (null: none, the sampler settings are used as given): its
     *                  recommended ε, nβ, γ and sampler replace the sampler's
     */
    public record Options(Path work, boolean train, int trainSteps, int probeText, int probeSynthetic, int samplingRows,
                          SamplerOptions sampler, int threads, long textChars, Path repo, PrintStream log, Calibrate calibrate) {
        /** Without the calibration stage. */
        public Options(Path work, boolean train, int trainSteps, int probeText, int probeSynthetic, int samplingRows,
                       SamplerOptions sampler, int threads, long textChars, Path repo, PrintStream log) {
            this(work, train, trainSteps, probeText, probeSynthetic, samplingRows, sampler, threads, textChars, repo, log, null);
        }

        public Options {
            if (probeText < 0 || probeSynthetic < 1 || samplingRows < 2) throw new IllegalArgumentException("probe/sampling sizes too small");
            if (sampler != null && samplingRows < sampler.batch())
                throw new IllegalArgumentException("--sampling " + samplingRows + " is smaller than the SGLD minibatch of " + sampler.batch()
                        + " sequences: every minibatch would repeat sequences");
            if (trainSteps < 1) throw new IllegalArgumentException("train steps must be >= 1");
        }
    }

    /** The demo's calibration: the grid, the chains, the components ({@code spectro calibrate}'s, reduced to keep the demo short). */
    public record Calibrate(Calibration.Grid grid, CalibrationRun.Base base, List<String> components) {
        /**
         * What {@code spectro demo} runs: the default grid of {@code spectro calibrate} (ε 3e-4, 1e-3, 3e-3; nβ 30,
         * 100, 300 and 0; γ 300; 4 chains x 20 draws) on three components instead of its seven (a head of each
         * layer and the last MLP; no embed, unembed or full run, the most expensive), docs/demo.md.
         */
        public static Calibrate demo(long seed) {
            return new Calibrate(new Calibration.Grid(List.of(3e-4f, 1e-3f, 3e-3f), List.of(30f, 100f, 300f), List.of(300f)),
                    new CalibrationRun.Base(4, 20, 2, 20, 8, false, seed), List.of("l0h0", "l1h0", "l1mlp"));
        }
    }

    public static final int T = 64;
    static final int TRAIN_SYNTHETIC_ROWS = 54_000;

    private Demo() {}

    public static Path run(Options o) {
        long t0 = System.nanoTime();
        Path work = o.work();
        Path data = work.resolve("data"), model = work.resolve("model");
        try {
            Files.createDirectories(data);
            // 1. model and tokenizer
            if (!Files.exists(model.resolve("model.safetensors"))) {
                if (!o.train() && copyShipped(model)) o.log().println("demo: using the shipped model (" + model + ")");
                else trainModel(o, data, model);
            } else o.log().println("demo: model cached in " + model);
            ModelConfig cfg;
            Tokenizer tok;
            try (Checkpoint ck = Checkpoint.open(model)) {
                cfg = ck.config();
                tok = Tokenizer.load(ck.tokenizerJson());
            }
            // 2. probe and sampling sets (disjoint from each other by construction: different seeds/documents)
            Path probeFile = data.resolve("probe.npy"), samplingFile = data.resolve("sampling.npy"), labels = data.resolve("probe_induction.npy");
            if (!Files.exists(labels)) makeSets(o, tok, cfg, probeFile, samplingFile, labels);
            Npy.Ints probe = Npy.readInts(probeFile), samp = Npy.readInts(samplingFile);
            boolean[] induction = toPredictionRows(Npy.readInts(labels));
            ChiRun.Inputs in = new ChiRun.Inputs(probe.data(), probe.dim(0), probe.dim(1), samp.data(), samp.dim(0), samp.dim(1));
            // the model at w*: per-token losses and the ablations (which components the mechanism uses), one forward each
            float[] intact = new float[in.probeTokens()];
            List<Induction.Ablation> abl = ablation(cfg, model, in, induction, intact);
            String check = lossCheck(intact, induction, o.probeSynthetic() * (in.probeT() - 1));
            o.log().println("demo: " + check);
            // 3. calibration (cached): its recommendation sets the sampler's ε, nβ, γ
            SamplerOptions so = o.sampler();
            String calibration = "";
            if (o.calibrate() != null) {
                CalibrationFiles.Recommended r = calibrate(o, model, in);
                so = r.applyTo(so);
                calibration = calibrationText(o.calibrate(), work.resolve("calibration/calibration.json"), so);
                o.log().println("demo: sampler settings from the calibration: " + label(so));
            }
            // 4. susceptibilities: the real run and the nbeta = 0 control
            ChiRun.Result sgld = chi(o, cfg, model, tok, in, work.resolve("run"), so);
            ChiRun.Result base = chi(o, cfg, model, tok, in, work.resolve("baseline"), so.baseline()); // its own noise stream
            // 5. structure: whiten, cluster, map, explorer
            Path html = io.spectro.report.Report.write(work.resolve("run"), false,
                    io.spectro.whiten.Whitening.Options.defaults(), io.spectro.graph.Knn.Options.defaults(),
                    io.spectro.cluster.PprClustering.Options.defaults(), io.spectro.map.ClusterMap.Options.defaults());
            // 6. the induction result: the ablations beside the chi separation
            List<Induction.Row> sepS = Induction.separation(sgld.chi(), sgld.rows(), sgld.components(), induction);
            List<Induction.Row> sepB = Induction.separation(base.chi(), base.rows(), base.components(), induction);
            String table = Induction.table(sepS, sepB, abl);
            double[] corr = Induction.columnCorrelation(sgld.chi(), base.chi(), sgld.rows(), sgld.components().size());
            String md = "# Induction heads in the demo model's susceptibilities\n\n"
                    + "Model check (per-token loss at the trained weights): " + check + ".\n\n"
                    + calibration
                    + "Sampler settings of the runs below: " + label(so) + ".\n\n"
                    + "Ablation: zeroing a component's output projection raises the loss on induction tokens from "
                    + String.format("%.2f", abl.get(0).inductionLoss()) + " nats to the value in the second column; components that "
                    + "raise it by more than 1 nat (the induction mechanism): " + String.join(", ", Induction.circuit(abl, 1.0)) + ".\n\n"
                    + "ROC AUC of each component's chi for separating the " + count(induction) + " induction tokens (completing "
                    + "[A][B] ... [A] -> [B] in a repeated span) from the other " + (induction.length - count(induction))
                    + " probe tokens: 0.5 = no separation, 1 = perfect; the sign says which side induction tokens are on. "
                    + "'Uniform mode removed': columns z-scored, then each row centred. The last column is what the loss "
                    + "landscape adds (nβ > 0 minus the Gaussian baseline) to the signed AUC with the uniform mode removed; heads by "
                    + "that, largest first: " + String.join(", ", Induction.headsByLandscape(sepS, sepB))
                    + " (seed-to-seed spread about 0.01).\n\n" + table
                    + "\nCorrelation of SGLD and baseline chi, column by column: min " + String.format("%.3f", Arrays.stream(corr).min().orElse(0))
                    + ", max " + String.format("%.3f", Arrays.stream(corr).max().orElse(0)) + ".\n";
            io.spectro.io.Atomic.writeString(work.resolve("induction.md"), md);
            o.log().println();
            o.log().println(md);
            o.log().printf("demo: finished in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            o.log().println("demo: explorer   " + html.toAbsolutePath());
            o.log().println("demo: induction  " + work.resolve("induction.md").toAbsolutePath());
            return html;
        } catch (IOException e) {
            throw new SpectroException(work + ": " + e.getMessage(), e);
        }
    }

    static String label(SamplerOptions so) {
        return String.format(java.util.Locale.ROOT, "%s, ε %.3g, nβ %.3g, γ %.3g, %d chains x %d draws (%d steps apart, burn-in %d), batch %d, seed %d",
                so.rmsprop() ? "RMSProp-SGLD" : "SGLD", so.lr(), so.nbeta(), so.gamma(), so.chains(), so.draws(), so.stepsBetween(), so.burnin(),
                so.batch(), so.seed());
    }

    /** Runs the calibration into work/calibration unless it is there; returns its recommendation. */
    private static CalibrationFiles.Recommended calibrate(Options o, Path model, ChiRun.Inputs in) {
        Path dir = o.work().resolve("calibration"), json = dir.resolve("calibration.json");
        try (Checkpoint ck = Checkpoint.open(model)) {
            if (!Files.exists(json)) {
                Calibrate c = o.calibrate();
                o.log().printf("demo: calibrating (%d settings x %d components) -> %s%n", c.grid().settings().size(), c.components().size(), dir);
                long t0 = System.nanoTime();
                try (io.spectro.nativeabi.NativeModel m = io.spectro.nativeabi.NativeModel.create(
                        io.spectro.nativeabi.Backend.load("cpu"), ck.config(), o.threads(), 8192, false)) {
                    CalibrationRun.calibrate(ck, m, in.sampling(), in.nSampling(), in.samplingT(),
                            CalibrationRun.resolve(ck.config(), c.components()), c.grid(), c.base(), true, dir, "the demo model");
                }
                o.log().printf("demo: calibration in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            } else o.log().println("demo: calibration cached in " + dir);
            CalibrationFiles.Recommended r = CalibrationFiles.read(json);
            if (!r.modelSha256().equals(ChiRun.sha256(ck)))
                throw new SpectroException(json + ": calibrated for another model; delete " + dir + " to calibrate this one");
            return r;
        }
    }

    /** What the calibration found, for induction.md: the grid, the recommendation and its reasons. */
    private static String calibrationText(Calibrate c, Path json, SamplerOptions so) {
        tools.jackson.databind.JsonNode n = new tools.jackson.databind.ObjectMapper().readTree(json.toFile());
        StringBuilder sb = new StringBuilder("Calibration (`spectro calibrate`'s rule on a reduced grid, cached in calibration/: ")
                .append(c.grid().settings().size()).append(" settings (ε ").append(values(c.grid().lr())).append("; nβ ").append(values(c.grid().nbeta()))
                .append(" and 0; γ ").append(values(c.grid().gamma())).append(") x components ").append(String.join(", ", c.components()))
                .append(String.format(java.util.Locale.ROOT, ", %.0f s): recommended ε %.3g, nβ %.3g, γ %.3g.%n", n.path("seconds").asDouble(),
                        so.lr(), so.nbeta(), so.gamma()));
        for (tools.jackson.databind.JsonNode r : n.path("recommended").path("reasons")) sb.append("- ").append(r.asString()).append('\n');
        return sb.append('\n').toString();
    }

    private static String values(List<Float> v) {
        return String.join(", ", v.stream().map(x -> String.format(java.util.Locale.ROOT, "%.3g", x)).toList());
    }

    /** Mean loss at w* ({@code l}, per probe token) on induction tokens, other synthetic tokens (the first
     * {@code synTokens}) and text tokens. */
    static String lossCheck(float[] l, boolean[] induction, int synTokens) {
        double[] sum = new double[3];
        int[] n = new int[3];
        for (int i = 0; i < l.length; i++) {
            int g = induction[i] ? 0 : i < synTokens ? 1 : 2;
            sum[g] += l[i];
            n[g]++;
        }
        return String.format("%.2f nats on induction tokens, %.2f on other synthetic tokens, %.2f on text tokens",
                sum[0] / Math.max(1, n[0]), sum[1] / Math.max(1, n[1]), sum[2] / Math.max(1, n[2]));
    }

    private static int count(boolean[] b) {
        int n = 0;
        for (boolean v : b) if (v) n++;
        return n;
    }

    /** Induction labels [rows, T] (per position) to one label per chi row (position t+1 predicted from <= t). */
    static boolean[] toPredictionRows(Npy.Ints lab) {
        int rows = lab.dim(0), t = lab.dim(1);
        boolean[] out = new boolean[rows * (t - 1)];
        for (int b = 0; b < rows; b++) for (int p = 1; p < t; p++) out[b * (t - 1) + p - 1] = lab.data()[b * t + p] != 0;
        return out;
    }

    private static boolean copyShipped(Path model) throws IOException {
        if (Demo.class.getResource(SHIPPED + "model.safetensors") == null) return false;
        PileDemo.copyShipped(SHIPPED, new String[]{"config.json", "model.safetensors", "tokenizer.json", "loss_curve.png",
                "TRAINED_WITH.txt"}, model);
        return true;
    }

    /** Trains the BPE tokenizer (vocab 512) and the "tiny" GPT-NeoX on text + synthetic sequences. */
    static void trainModel(Options o, Path data, Path model) throws IOException {
        ModelConfig cfg = ModelConfig.preset("tiny");
        List<SystemText.Doc> docs = SystemText.collect(o.textChars(), o.repo());
        if (docs.isEmpty()) throw new SpectroException("demo: found no text on this system to build a corpus from");
        o.log().printf("demo: corpus of %d documents (%d chars) from this system%n", docs.size(), docs.stream().mapToLong(d -> d.text().length()).sum());
        Tokenizer tok = BpeTrainer.fit(docs.stream().map(SystemText.Doc::text).toList(), new BpeTrainer.Options(cfg.vocabSize()));
        Files.createDirectories(data);
        tok.save(data.resolve("tokenizer.json"));
        // about 90% synthetic sequences, every one with a repeated span (the signal an induction head needs)
        int[] text = textRows(docs, tok, TRAIN_SYNTHETIC_ROWS / 9);
        int textRows = text.length / T;
        // a third Markov sequences with a repeated 10-20-token span (the probe set's kind), two thirds periodic
        // sequences: with ~60% induction tokens they make the circuit form (Synthetic.periodic, docs/demo.md)
        Synthetic.Sequences syn = Synthetic.generate(TRAIN_SYNTHETIC_ROWS / 3, T, 1, cfg.vocabSize(), 1.0, 1);
        Synthetic.Sequences per = Synthetic.periodic(TRAIN_SYNTHETIC_ROWS - syn.rows(), T, 1, cfg.vocabSize(), 2);
        int rows = textRows + syn.rows() + per.rows();
        int[] all = Arrays.copyOf(text, rows * T);
        System.arraycopy(syn.tokens(), 0, all, text.length, syn.tokens().length);
        System.arraycopy(per.tokens(), 0, all, text.length + syn.tokens().length, per.tokens().length);
        o.log().printf("demo: training on %d text + %d repeated-span + %d periodic sequences of %d tokens%n", textRows, syn.rows(), per.rows(), T);
        TrainOptions to = TrainOptions.induction(o.trainSteps(), 1);
        to = new TrainOptions(to.steps(), to.batch(), to.lr(), Math.min(to.warmup(), o.trainSteps() / 5), to.minLrFraction(),
                to.weightDecay(), to.beta1(), to.beta2(), to.adamEps(), to.clip(), to.seed(), o.threads());
        Trainer.trainNew(cfg, all, rows, T, to, tok, model, true);
        io.spectro.io.Atomic.writeString(model.resolve("TRAINED_WITH.txt"), "spectro demo --train --train-steps " + o.trainSteps() + "\n");
    }

    /** The documents' texts tokenised into rows of T tokens, at most maxRows rows. */
    static int[] textRows(List<SystemText.Doc> docs, Tokenizer tok, int maxRows) {
        return TokenSets.rows(docs.stream().map(SystemText.Doc::text).toList(), tok, T, maxRows);
    }

    /**
     * Probe: {@code probeSynthetic} synthetic sequences (every one with a repeated span) followed by
     * {@code probeText} text sequences; sampling: other synthetic (90% repeating) and text sequences.
     * Synthetic sets use different seeds; text rows are split between probe (even rows) and sampling (odd).
     */
    static void makeSets(Options o, Tokenizer tok, ModelConfig cfg, Path probeFile, Path samplingFile, Path labels) {
        List<SystemText.Doc> docs = SystemText.collect(Math.min(o.textChars(), 400_000), o.repo());
        int[] text = textRows(docs, tok, 2 * (o.probeText() + o.samplingRows()));
        int textRows = text.length / T;
        Synthetic.Sequences ps = Synthetic.generate(o.probeSynthetic(), T, 1, cfg.vocabSize(), 1.0, 101);
        int pText = Math.min(o.probeText(), textRows / 2);
        int nProbe = ps.rows() + pText;
        int[] probe = Arrays.copyOf(ps.tokens(), nProbe * T);
        int[] lab = new int[nProbe * T];
        for (int i = 0; i < ps.induction().length; i++) lab[i] = ps.induction()[i] ? 1 : 0;
        for (int r = 0; r < pText; r++) System.arraycopy(text, (2 * r) * T, probe, (ps.rows() + r) * T, T);
        int sText = Math.min(o.samplingRows() / 2, textRows / 2);
        Synthetic.Sequences ss = Synthetic.generate(o.samplingRows() - sText, T, 1, cfg.vocabSize(), 0.9, 202);
        int[] samp = Arrays.copyOf(ss.tokens(), o.samplingRows() * T);
        for (int r = 0; r < sText; r++) System.arraycopy(text, (2 * r + 1) * T, samp, (ss.rows() + r) * T, T);
        Npy.write(probeFile, probe, nProbe, T);
        Npy.write(samplingFile, samp, o.samplingRows(), T);
        Npy.write(labels, lab, nProbe, T);
    }

    private static ChiRun.Result chi(Options o, ModelConfig cfg, Path model, Tokenizer tok, ChiRun.Inputs in, Path run, SamplerOptions so) {
        o.log().println("demo: susceptibilities " + (so.nbeta() == 0 ? "(baseline, nbeta = 0) " : "") + "-> " + run);
        ChiRun.Result r;
        try (Checkpoint ck = Checkpoint.open(model)) {
            r = ChiRun.run(ck, in, run, new ChiRun.Options(so, "default", true, 256L << 20, o.threads(), "cpu", 8192, true, false));
        }
        if (!Files.exists(run.resolve("chi.npy"))) RunOutputs.write(run, r, in, tok::displayTokens, true);
        o.log().printf("demo: %d chi vectors x %d components in %.1f s%n", r.rows(), r.components().size(), r.seconds());
        return r;
    }

    private static List<Induction.Ablation> ablation(ModelConfig cfg, Path model, ChiRun.Inputs in, boolean[] induction, float[] intact) {
        try (Checkpoint ck = Checkpoint.open(model);
             io.spectro.nativeabi.NativeModel m = io.spectro.nativeabi.NativeModel.create(
                     io.spectro.nativeabi.Backend.load("cpu"), cfg, 0, in.probe().length, false)) {
            m.load(ck);
            return Induction.ablation(m, cfg, in.probe(), in.nProbe(), in.probeT(), induction, intact);
        }
    }
}
