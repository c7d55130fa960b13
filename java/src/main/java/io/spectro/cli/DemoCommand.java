package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.demo.Demo;
import io.spectro.demo.PileDemo;
import io.spectro.sampling.SamplerOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code spectro demo}: the whole pipeline on the embedded default with the induction check;
 * {@code spectro demo pile}: the pipeline on the two mini-Pile models (real text; docs/demo.md).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Run the whole pipeline on the embedded default: corpus from this system's text + synthetic",
                "repeated-span sequences, tokenizer, small model (the shipped one unless --train), a calibration of the",
                "sampler (spectro calibrate on a reduced grid; its recommended settings are used), susceptibilities",
                "and their nbeta = 0 baseline, whitening, clustering, map, explorer, and the induction-head check.",
                "Every stage is cached in --out; a second run is quick. Runs refuse changed sampler settings",
                "(--nbeta, --gamma, --lr, ...) in an existing --out: give a new --out to compare settings.",
                "'spectro demo pile' runs the pipeline on the two models trained on real text (the mini-Pile)."},
        subcommands = {DemoCommand.PileCmd.class})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--out", defaultValue = "spectro-demo", description = "work directory (default ${DEFAULT-VALUE})") Path out;
    @Option(names = "--train", description = "train the tokenizer and model here instead of using the shipped model") boolean train;
    @Option(names = "--train-steps", defaultValue = "6000", description = "training steps with --train (default ${DEFAULT-VALUE})") int trainSteps;
    @Option(names = "--probe-synthetic", defaultValue = "32", description = "synthetic probe sequences (default ${DEFAULT-VALUE})") int probeSyn;
    @Option(names = "--probe-text", defaultValue = "16", description = "text probe sequences (default ${DEFAULT-VALUE})") int probeText;
    @Option(names = "--sampling", defaultValue = "32", description = "sampling-set sequences (default ${DEFAULT-VALUE})") int sampling;
    @Mixin SamplerFlags sampler;
    @Option(names = "--threads", defaultValue = "0") int threads;
    @Option(names = "--no-calibrate", description = "skip the calibration stage and use the sampler settings as given "
            + "(it is skipped too when --settings, --lr, --nbeta, --gamma or --sampler is given)") boolean noCalibrate;
    @Option(names = "--text-chars", defaultValue = "3000000", description = "how much system text to read for the corpus") long textChars;

    @Override
    public Integer call() {
        String repo = System.getProperty("spectro.repo");
        SamplerOptions so = sampler.options(false);
        Demo.Options o;
        try { // options records validate themselves: a bad value is a message (exit 2), not a stack trace
            o = new Demo.Options(out, train, trainSteps, probeText, probeSyn, sampling, so, threads, textChars,
                    repo == null ? null : Path.of(repo), System.err,
                    noCalibrate || sampler.choosesSetting() ? null : Demo.Calibrate.demo(sampler.seed));
        } catch (IllegalArgumentException e) {
            throw new SpectroException("bad option: " + e.getMessage());
        }
        Demo.run(o);
        return 0;
    }

    @Command(name = "pile", mixinStandardHelpOptions = true,
            description = {"Run the pipeline on the two language models the project trained on the mini-Pile (real text from",
                    "Debian and npm packages; docs/data.md): susceptibilities of held-out probe tokens with every head, MLP,",
                    "embed and unembed as components, whitening, clustering, map, explorer, and a tokens-across-scale page",
                    "(compare.html) for pronouns between the small and the larger model. --quick: the small model on fewer tokens.",
                    "chi by default from Gaussian pairs (exact nbeta = 0 draws; at these models' calibrated settings the same",
                    "chi as the chains, with far less noise: docs/demo.md); --estimator sgld runs the chains.",
                    "Every stage is cached in --out."})
    static final class PileCmd implements Callable<Integer> {
        @Option(names = "--out", defaultValue = "spectro-demo-pile", description = "work directory (default ${DEFAULT-VALUE})") Path out;
        @Option(names = "--quick", description = "the small model only, on " + PileDemo.QUICK_ROWS + " probe windows (and fewer draws with sgld)") boolean quick;
        @Option(names = "--models", split = ",", description = "which models (default small,large; with --quick small)") List<String> models;
        @Option(names = "--probe-rows", defaultValue = "0", description = "probe windows to use (0 = all shipped, or " + PileDemo.QUICK_ROWS + " with --quick)") int probeRows;
        @Option(names = "--draws", description = "sgld: draws per chain (default 20, --quick 8)") Integer draws;
        @Option(names = "--chains", description = "sgld: chains (default 2)") Integer chains;
        @Option(names = "--burnin", description = "sgld: burn-in steps per chain (default 20, --quick 10)") Integer burnin;
        @Option(names = "--seed", defaultValue = "0") long seed;
        @Option(names = "--threads", defaultValue = "0") int threads;
        @Option(names = "--estimator", defaultValue = "gaussian", description = "gaussian (exact nbeta = 0 draws in antithetic pairs: at the "
                + "calibrated settings the same chi as the chains, far less noise), sgld (the chains) or linear (docs/method.md; "
                + "default ${DEFAULT-VALUE})") String estimator;
        @Option(names = "--pairs", defaultValue = "8", description = "gaussian: pairs per component (default ${DEFAULT-VALUE})") int pairs;
        @Option(names = "--sampling-rows", description = "sampling windows to use (default: " + PileDemo.CHAIN_FREE_SAMPLING_ROWS
                + " for gaussian and linear, all 64 shipped for sgld, whose minibatches come from them)") Integer samplingRows;
        @Option(names = "--no-calibration", description = "ignore the calibration shipped beside each model (its ε, nβ, γ) and "
                + "use the small-model defaults (ε 1e-3, nβ 30, γ 300)") boolean noCalibration;

        @Override
        public Integer call() {
            SamplerOptions so = quick ? PileDemo.quickSettings(seed) : PileDemo.settings(seed);
            try {
                if (chains != null) so = so.withChains(chains);
                if (draws != null) so = so.withDraws(draws);
                if (burnin != null) so = so.withBurnin(burnin);
                List<String> ms = models != null ? models : quick ? List.of("small") : PileDemo.MODELS;
                int rows = probeRows != 0 ? probeRows : quick ? PileDemo.QUICK_ROWS : 0;
                boolean sgld = estimator.equals("sgld");
                if (!sgld && (chains != null || draws != null || burnin != null))
                    throw new SpectroException("--estimator " + estimator + " runs no chains: --chains, --draws and --burnin do not apply");
                int sRows = samplingRows != null ? samplingRows : sgld ? 0 : PileDemo.CHAIN_FREE_SAMPLING_ROWS;
                PileDemo.run(new PileDemo.Options(out, rows, ms, so, threads, System.err, noCalibration, estimator, pairs, sRows));
            } catch (IllegalArgumentException e) {
                throw new SpectroException(e.getMessage());
            }
            return 0;
        }
    }
}
