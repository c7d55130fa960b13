package io.spectro.cli;

import io.spectro.structure.Pipeline;
import io.spectro.whiten.Whitening;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "whiten", mixinStandardHelpOptions = true,
        description = {"z-score every component, optionally centre rows, PCA-whiten; writes DIR/transform.json "
                + "(applicable to other vectors), DIR/whitened.npy and DIR/source.json."})
public final class WhitenCommand implements Callable<Integer> {
    @Option(names = "--in", required = true, description = "chi.npy, float32 [N, H]")
    Path in;
    @Option(names = "--out", required = true, description = "output directory")
    Path out;
    @Option(names = "--components", defaultValue = "0",
            description = "directions to keep; 0 = automatic (Gavish-Donoho threshold, see docs/clustering.md)")
    int components;
    @Option(names = "--max-components", defaultValue = "100", description = "cap of the automatic choice (default ${DEFAULT-VALUE})")
    int maxComponents;
    @Option(names = "--center-rows", description = "subtract each row's mean after z-scoring")
    boolean centerRows;
    @Option(names = "--threads", defaultValue = "0", description = "worker threads, 0 = all processors")
    int threads;
    @Option(names = "--drop-nan-columns", description = "leave out columns holding NaN or infinite values (components that "
            + "stopped; recorded in source.json) instead of refusing the input")
    boolean dropNanColumns;

    @Option(names = "--unhealthy", defaultValue = "drop",
            description = "components whose health (RUN/diagnostics.json) is fail: drop (leave their columns out), keep, "
                    + "or stop (refuse); default ${DEFAULT-VALUE}, see docs/method.md")
    String unhealthy;

    @Override
    public Integer call() {
        Whitening w = Pipeline.whiten(in, out, new Whitening.Options(components, maxComponents, centerRows, threads),
                io.spectro.chi.Health.Policy.parse(unhealthy), dropNanColumns);
        System.out.printf("%s: %d -> %d directions, %.1f%% of the standardised variance%n", out.resolve("whitened.npy"),
                w.inputDim(), w.kept(), 100 * w.explainedVariance());
        return 0;
    }
}
