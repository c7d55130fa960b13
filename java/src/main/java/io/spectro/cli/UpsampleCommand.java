package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.chi.ChiRun;
import io.spectro.data.CorpusOptions;
import io.spectro.upsample.Apply;
import io.spectro.upsample.FeatureSpec;
import io.spectro.upsample.Features;
import io.spectro.upsample.Fit;
import io.spectro.upsample.Quality;
import io.spectro.upsample.Regressors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code spectro upsample fit|apply}: an auxiliary model that predicts χ for many more tokens (docs/upsampling.md). */
@Command(name = "upsample", mixinStandardHelpOptions = true,
        description = "Predict chi for many more tokens with an auxiliary model trained on a run's ground truth (docs/upsampling.md).",
        subcommands = {UpsampleCommand.FitCmd.class, UpsampleCommand.ApplyCmd.class})
public final class UpsampleCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new SpectroException("upsample: name a subcommand: fit or apply (see --help)");
    }

    /** Options both subcommands share: where the forwards run and how the features are computed. */
    static final class Common {
        @Mixin BackendFlags backend;
        @Option(names = "--max-batch-tokens", defaultValue = "8192", description = "tokens per native batch (default ${DEFAULT-VALUE})") int maxBatchTokens;
        @Option(names = "--quiet", description = "no progress") boolean quiet;

        Features.Options features() {
            backend.check();
            return new Features.Options(backend.backend, backend.threads, backend.device, backend.bf16(), maxBatchTokens);
        }
    }

    @Command(name = "fit", mixinStandardHelpOptions = true,
            description = {"Compute features for every ground-truth token of RUN, train a regressor from them to RUN's whitened chi on the",
                    "sequences not held out, report held-out quality (per-component R2, R2 per whitened direction, mean cosine,",
                    "cluster ARI; a ridge baseline beside it; with --replicate the seed-to-seed ceilings) and write AUX."})
    static final class FitCmd implements Callable<Integer> {
        @Option(names = "--run", required = true, description = "ground-truth run directory (spectro chi --out)") Path run;
        @Option(names = "--model", required = true, description = "the checkpoint RUN was computed on (its hash is checked)") Path model;
        @Option(names = "--probe", description = "RUN's probe set (default RUN/probe.npy; checked against RUN/tokens.csv)") Path probe;
        @Option(names = "--out", required = true, description = "AUX directory to write") Path out;
        @Option(names = "--features", defaultValue = FeatureSpec.DEFAULT, description = "feature groups: loss, act, resp:K (default ${DEFAULT-VALUE})") String features;
        @Option(names = "--resp-step", defaultValue = "" + FeatureSpec.DEFAULT_H, description = "relative step h of resp:K (default ${DEFAULT-VALUE})") double h;
        @Option(names = "--holdout", defaultValue = "0.1", description = "fraction of the sequences held out (default ${DEFAULT-VALUE})") double holdout;
        @Option(names = "--regressor", defaultValue = "ridge", description = "ridge or mlp (default ${DEFAULT-VALUE}); ridge is always fitted as the baseline") String regressor;
        @Option(names = "--replicate", description = "a replicate run (same settings, another seed): ceilings ARI(run, replicate) and R2(run, replicate)") Path replicate;
        @Option(names = "--seed", defaultValue = "1", description = "split, direction and regressor seed (default ${DEFAULT-VALUE})") long seed;
        @Option(names = "--hidden", defaultValue = "256", description = "mlp: units per hidden layer (default ${DEFAULT-VALUE})") int hidden;
        @Option(names = "--depth", defaultValue = "2", description = "mlp: hidden layers (default ${DEFAULT-VALUE})") int depth;
        @Option(names = "--epochs", defaultValue = "300", description = "mlp: most epochs (default ${DEFAULT-VALUE})") int epochs;
        @Mixin Common common;

        @Override
        public Integer call() {
            FeatureSpec spec = FeatureSpec.parse(features, h, seed);
            Regressors.Options d = Regressors.Options.defaults();
            Regressors.Options ro = new Regressors.Options(hidden, depth, epochs, d.lr(), d.weightDecay(), d.batch(), d.patience(), d.validation(),
                    d.folds(), seed, d.threads());
            Fit.Result r = Fit.run(new Fit.Options(run, model, probe, out, spec, holdout, regressor, ro, replicate, seed, common.features(), !common.quiet));
            Quality.Report q = r.quality();
            System.out.printf("upsample fit: %d rows x %d features in %.1f s (%.3g ms per ground-truth token), %s fitted in %.1f s%n",
                    r.rows(), r.featureDim(), r.featureSeconds(), 1e3 * r.featureSeconds() / r.rows(), q.model().kind(), r.fitSeconds());
            System.out.printf("upsample fit: held out %d rows of %d sequences: mean R2 %.3f (ridge %.3f), mean cosine %.3f, ARI %.3f (ridge %.3f)%s%n",
                    q.heldoutRows(), q.heldoutSequences(), q.model().meanR2(), q.ridge().meanR2(), q.model().meanCosine(), q.model().ari(),
                    q.ridge().ari(), q.ceilingAri() == null ? "" : String.format(", ceiling ARI(run, replicate) %.3f", q.ceilingAri()));
            System.out.println("upsample fit: wrote " + out.resolve("aux.json") + " and " + out.resolve("quality.md"));
            return 0;
        }
    }

    @Command(name = "apply", mixinStandardHelpOptions = true,
            description = {"Predict chi for --count tokens drawn from corpora (uniform by subset, as spectro data build) or taken from a token set",
                    "(int32 .npy [rows, T] with the run's T), writing a run directory of the usual layout with predicted.npy.",
                    "Resumable: killing it and running the same command again gives the same bytes. Refuses (exit 2) an AUX below",
                    "--min-r2 / --min-ari, of another model, or with a corrupt file."})
    static final class ApplyCmd implements Callable<Integer> {
        @Option(names = "--aux", required = true, description = "AUX directory (spectro upsample fit --out)") Path aux;
        @Option(names = "--model", required = true, description = "the checkpoint the AUX belongs to (its hash is checked)") Path model;
        @Option(names = "--tokens", required = true, arity = "1..*", description = "corpus files/directories (PATH or SUBSET=PATH), or one token set .npy") List<String> tokens;
        @Option(names = "--count", required = true, description = "predicted vectors wanted (rounded up to whole sequences)") long count;
        @Option(names = "--out", required = true, description = "run directory to write") Path out;
        @Option(names = "--shard", description = "K/M: compute only chunks c with c mod M = K; the same command without --shard assembles") String shard;
        @Option(names = "--min-r2", defaultValue = "" + Apply.DEFAULT_MIN_R2, description = "refuse an AUX whose held-out mean R2 is below this (default ${DEFAULT-VALUE})") double minR2;
        @Option(names = "--min-ari", defaultValue = "" + Apply.DEFAULT_MIN_ARI, description = "refuse an AUX whose held-out cluster ARI is below this (default ${DEFAULT-VALUE})") double minAri;
        @Option(names = "--seed", defaultValue = "1", description = "window draw seed for corpora (default ${DEFAULT-VALUE})") long seed;
        @Option(names = "--chunk-sequences", defaultValue = "64", description = "sequences per resumable chunk (default ${DEFAULT-VALUE})") int chunk;
        @Option(names = "--text-field", defaultValue = "text", description = "jsonl text field (default ${DEFAULT-VALUE})") String textField;
        @Option(names = "--subset-field", defaultValue = "meta.pile_set_name", description = "jsonl subset field (default ${DEFAULT-VALUE})") String subsetField;
        @Mixin Common common;

        @Override
        public Integer call() {
            ChiRun.Shard sh;
            try {
                sh = shard == null ? ChiRun.Shard.ALL : ChiRun.Shard.parse(shard);
            } catch (IllegalArgumentException e) {
                throw new SpectroException("--shard: " + e.getMessage());
            }
            CorpusOptions co = new CorpusOptions(textField, subsetField, CorpusOptions.defaults().textSplit(), 0);
            long t0 = System.nanoTime();
            Apply.Result r = Apply.run(new Apply.Options(aux, model, tokens, count, out, sh, minR2, minAri, seed, chunk, common.features(), co, !common.quiet));
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf("upsample apply: %d of %d chunks computed now (features %.1f s, prediction %.2f s); %s%n", r.chunksComputed(), r.chunks(),
                    r.featureSeconds(), r.predictSeconds(), r.complete() ? "wrote " + r.rows() + " predicted rows to " + out.resolve("chi.npy")
                            : "other shards' chunks are missing: run the same command without --shard when they have finished");
            System.out.printf("upsample apply: %.1f s wall%n", s);
            return 0;
        }
    }
}
