package io.spectro.cli;

import io.spectro.upsample.FeatureSpec;
import io.spectro.upsample.Fit;
import io.spectro.upsample.Quality;
import io.spectro.upsample.Regressors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code spectro upsample fit}: the auxiliary model of a run and its held-out quality (docs/upsampling.md). */
@Command(name = "fit", mixinStandardHelpOptions = true,
        description = {"Compute features for every ground-truth token of RUN, train a regressor from them to RUN's whitened chi on the",
                "sequences not held out, report held-out quality (per-component R2, R2 per whitened direction, mean cosine,",
                "cluster ARI; a ridge baseline beside it; with --replicate the seed-to-seed ceilings) and write AUX."})
public final class UpsampleFitCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, description = "ground-truth run directory (spectro chi --out)") Path run;
    @Option(names = "--model", required = true, description = "the checkpoint RUN was computed on (its hash is checked)") Path model;
    @Option(names = "--probe", description = "RUN's probe set (default RUN/probe.npy; checked against RUN/tokens.csv)") Path probe;
    @Option(names = "--out", required = true, description = "AUX directory to write") Path out;
    @Option(names = "--features", defaultValue = FeatureSpec.DEFAULT, description = "feature groups: loss, act, resp:K (default ${DEFAULT-VALUE})") String features;
    @Option(names = "--resp-step", defaultValue = "" + FeatureSpec.DEFAULT_H, description = "relative step h of resp:K (default ${DEFAULT-VALUE})") double h;
    @Option(names = "--holdout", defaultValue = "0.1", description = "fraction of the sequences held out (default ${DEFAULT-VALUE})") double holdout;
    @Option(names = "--regressor", defaultValue = "mlp", description = "mlp (libtorch) or ridge (default ${DEFAULT-VALUE}); ridge is always fitted as the baseline") String regressor;
    @Option(names = "--replicate", description = "a replicate run (same settings, another seed): ceilings ARI(run, replicate) and R2(run, replicate)") Path replicate;
    @Option(names = "--seed", defaultValue = "1", description = "split, direction and regressor seed (default ${DEFAULT-VALUE})") long seed;
    @Option(names = "--hidden", defaultValue = "256", description = "mlp: units per hidden layer (default ${DEFAULT-VALUE})") int hidden;
    @Option(names = "--depth", defaultValue = "2", description = "mlp: hidden layers (default ${DEFAULT-VALUE})") int depth;
    @Option(names = "--epochs", defaultValue = "300", description = "mlp: most epochs (default ${DEFAULT-VALUE})") int epochs;
    @Mixin FeatureFlags common;

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

