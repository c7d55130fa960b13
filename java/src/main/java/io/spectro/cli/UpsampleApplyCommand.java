package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.chi.ChiRun;
import io.spectro.data.CorpusOptions;
import io.spectro.upsample.Apply;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code spectro upsample apply}: predicted χ for many more tokens (docs/upsampling.md). */
@Command(name = "apply", mixinStandardHelpOptions = true,
        description = {"Predict chi for --count tokens drawn from corpora (uniform by subset, as spectro data build) or taken from a token set",
                "(int32 .npy [rows, T] with the run's T), writing a run directory of the usual layout with predicted.npy.",
                "Resumable: killing it and running the same command again gives the same bytes. Refuses (exit 2) an AUX below",
                "--min-r2 / --min-ari, of another model, or with a corrupt file."})
public final class UpsampleApplyCommand implements Callable<Integer> {
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
    @Mixin FeatureFlags common;

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
