package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.calibrate.Calibration;
import io.spectro.calibrate.CalibrationFiles;
import io.spectro.calibrate.CalibrationRun;
import io.spectro.chi.ChiRun;
import io.spectro.data.TokenSets;
import io.spectro.components.Component;
import io.spectro.model.Checkpoint;
import io.spectro.nativeabi.NativeModel;
import io.spectro.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code spectro calibrate}: short chains over a grid of (ε, nβ, γ) on a few components, and a recommendation. */
@Command(name = "calibrate", mixinStandardHelpOptions = true,
        description = {"Short SGLD chains on a few representative components over a grid of step sizes, inverse temperatures and",
                "localisation strengths; per setting and component: LLC mean/std across chains, the plateau criterion std/mean,",
                "R-hat, drift, the fraction of draws below L0, the contraction ratio against nbeta 0, the discretisation and the",
                "force ratio. Writes DIR/calibration.json, calibration.md and llc_vs_lr_*.png, and recommends one setting",
                "(spectro chi --settings DIR/calibration.json uses it). See docs/method.md, \"Calibration\"."})
public final class CalibrateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "checkpoint directory (HF layout)") Path model;
    @Option(names = "--sampling", required = true, description = "sampling tokens (observable and SGLD data): .npy, .txt or .jsonl") Path sampling;
    @Option(names = "--out", required = true, description = "output directory") Path out;
    @Option(names = "--seq", defaultValue = "64", description = "sequence length when tokenising text (default ${DEFAULT-VALUE})") int seq;
    @Option(names = "--max-sequences", defaultValue = "0", description = "use at most this many sampling sequences (0 = all)") int maxSeqs;
    @Option(names = "--components", description = "comma-separated component names (default: a head at the bottom, middle and top layer, "
            + "the middle MLP, embed, unembed, full)") String components;
    @Option(names = "--lr-grid", defaultValue = "3e-4,1e-3,3e-3", description = "step sizes (default ${DEFAULT-VALUE})") String lrGrid;
    @Option(names = "--nbeta-grid", defaultValue = "30,100,300", description = "inverse temperatures > 0; nbeta 0 is always run too (default ${DEFAULT-VALUE})") String nbetaGrid;
    @Option(names = "--gamma-grid", defaultValue = "300", description = "localisation strengths (default ${DEFAULT-VALUE})") String gammaGrid;
    @Option(names = "--sampler", defaultValue = "sgld", description = "sgld | rmsprop (default ${DEFAULT-VALUE})") String sampler;
    @Option(names = "--chains", defaultValue = "4") int chains;
    @Option(names = "--draws", defaultValue = "20") int draws;
    @Option(names = "--steps-between", defaultValue = "2") int stepsBetween;
    @Option(names = "--burnin", defaultValue = "20") int burnin;
    @Option(names = "--batch", defaultValue = "8") int batch;
    @Option(names = "--seed", defaultValue = "0") long seed;
    @Option(names = "--max-batch-tokens", defaultValue = "8192") int maxBatchTokens;
    @Mixin BackendFlags backend;
    @Option(names = "--quiet", description = "no progress bar") boolean quiet;

    @Override
    public Integer call() {
        // every usage error before anything is loaded or written
        backend.check();
        Calibration.Grid grid;
        CalibrationRun.Base base;
        try {
            grid = new Calibration.Grid(Calibration.Grid.parse("--lr-grid", lrGrid), Calibration.Grid.parse("--nbeta-grid", nbetaGrid),
                    Calibration.Grid.parse("--gamma-grid", gammaGrid));
            if (chains < 2) throw new IllegalArgumentException("--chains must be >= 2 (R-hat and the spread across chains need two), got " + chains);
            if (draws < 4) throw new IllegalArgumentException("--draws must be >= 4 (the drift test compares halves), got " + draws);
            boolean rms = switch (sampler) {
                case "sgld" -> false;
                case "rmsprop" -> true;
                default -> throw new IllegalArgumentException("--sampler: unknown '" + sampler + "' (sgld, rmsprop)");
            };
            base = new CalibrationRun.Base(chains, draws, stepsBetween, burnin, batch, rms, seed);
            new io.spectro.sampling.SamplerOptions(chains, draws, stepsBetween, burnin, batch, grid.lr().get(0), 0f, grid.gamma().get(0),
                    rms, 0.99f, 0.1f, 1f, seed);
        } catch (IllegalArgumentException e) {
            throw new SpectroException(e.getMessage());
        }
        long t0 = System.nanoTime();
        try (Checkpoint ck = Checkpoint.open(model)) {
            Tokenizer tok = ck.tokenizerJson() == null ? null : Tokenizer.load(ck.tokenizerJson());
            TokenSets.Set s = TokenSets.load(sampling, tok, seq, maxSeqs);
            for (int v : s.tokens())
                if (v < 0 || v >= ck.config().vocabSize())
                    throw new SpectroException(sampling + ": token id " + v + " is outside the model's vocabulary [0, " + ck.config().vocabSize() + ")");
            List<String> names = components == null ? CalibrationRun.defaultComponents(ck.config())
                    : Arrays.stream(components.split(",")).map(String::strip).filter(x -> !x.isEmpty()).toList();
            if (names.isEmpty()) throw new SpectroException("--components: empty list");
            List<Component> comps = CalibrationRun.resolve(ck.config(), names);
            Calibration.Recommendation rec;
            try (NativeModel m = backend.create(backend.load(), ck.config(), maxBatchTokens)) {
                rec = CalibrationRun.calibrate(ck, m, s.tokens(), s.rows(), s.T(), comps, grid, base, !quiet, out, model.toString());
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            System.out.printf("calibrate: %d settings x %d components in %.1f s%n", grid.settings().size(), comps.size(), secs);
            System.out.println("calibrate: recommended " + rec.setting().label());
            for (String w : rec.reasons()) System.out.println("  - " + w);
            System.out.println("calibrate: wrote " + out.resolve("calibration.json") + ", calibration.md and the plots; use it with "
                    + "spectro chi --settings " + out.resolve("calibration.json"));
            return 0;
        }
    }
}
