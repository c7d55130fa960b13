package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.chi.Health;
import io.spectro.io.Npy;
import io.spectro.structure.Pipeline;
import io.spectro.whiten.DirectionReliability;
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
    @Option(names = "--max-components", defaultValue = "100", description = "cap of the automatic choice when the spectrum has signal directions above the noise floor (default ${DEFAULT-VALUE}); a flat spectrum keeps every direction (--components N forces fewer)")
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

    @Option(names = "--min-reliability", defaultValue = "0",
            description = "keep the leading directions whose split-half reliability (from RUN/state/*.chains.bin) is at "
                    + "least R (0.5 = signal-to-noise ratio 1); 0 = off. The reliability of every direction is written to "
                    + "DIR/reliability.json whenever the run has per-chain sums of >= 2 chains (docs/clustering.md)")
    double minReliability;

    @Override
    public Integer call() {
        if (!(minReliability >= 0 && minReliability < 1))
            throw new SpectroException("--min-reliability must be in [0, 1), got " + minReliability);
        if (minReliability > 0 && components > 0)
            throw new SpectroException("give --components or --min-reliability, not both");
        Health.Policy policy = Health.Policy.parse(unhealthy);
        Whitening.Options wo = new Whitening.Options(components, maxComponents, centerRows, threads);
        DirectionReliability.Result rel = reliability(policy);
        if (minReliability > 0) {
            if (rel == null)
                throw new SpectroException(in + ": --min-reliability needs the run's per-chain sums (state/*.chains.bin of a run "
                        + "with >= 2 chains, every column finite); this run has none");
            int k = Math.max(1, Math.min(maxComponents, rel.leadingAtLeast(minReliability)));
            System.out.printf("keeping the %d leading direction(s) with split-half reliability >= %.2f%n", k, minReliability);
            wo = wo.withComponents(k);
        }
        Whitening w = Pipeline.whiten(in, out, wo, policy, dropNanColumns);
        if (rel != null) {
            rel.save(out.resolve("reliability.json"));
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < Math.min(8, rel.reliability().length); i++)
                sb.append(i == 0 ? "" : ", ").append(String.format("%.2f", rel.reliability()[i]));
            System.out.printf("split-half reliability of the directions (%d chains): %s%s; %d of %d with signal/noise > 1 (%s)%n",
                    rel.chains(), sb, rel.reliability().length > 8 ? ", ..." : "", rel.aboveOne(), rel.reliability().length,
                    out.resolve("reliability.json"));
        }
        System.out.printf("%s: %d -> %d directions, %.1f%% of the standardised variance%n", out.resolve("whitened.npy"),
                w.inputDim(), w.kept(), 100 * w.explainedVariance());
        return 0;
    }

    /** Per-chain sums read without --min-reliability at most (a published-scale run holds ~56 GB of them). */
    static final long AUTO_BYTES = 1L << 30;

    /**
     * Per-direction reliability over the columns the whitening uses; null without per-chain sums, when they
     * exceed {@link #AUTO_BYTES} and --min-reliability is not given, or when the halves cannot be whitened.
     */
    private DirectionReliability.Result reliability(Health.Policy policy) {
        Path run = in.toAbsolutePath().getParent();
        long[] shape = Npy.info(in).shape();
        if (shape.length != 2) return null; // Pipeline.whiten says what is wrong with the input
        int[] cols = Health.columns(run, Pipeline.components(run, (int) shape[1]), policy, s -> {});
        long bytes = 0;
        for (int c : cols) bytes += sizeOf(run.resolve("state").resolve(String.format("%04d.chains.bin", c)));
        if (bytes > AUTO_BYTES && minReliability == 0) {
            System.out.printf("direction reliability not measured: %.1f GB of per-chain sums to read (give --min-reliability to "
                    + "measure it)%n", bytes / 1e9);
            return null;
        }
        DirectionReliability.Halves hv = DirectionReliability.halves(run, cols);
        if (hv == null) return null;
        try {
            return DirectionReliability.of(hv, centerRows, threads);
        } catch (SpectroException e) { // e.g. a half with no variance: no reliability, the whitening itself goes on
            System.out.println("direction reliability not measured: " + e.getMessage());
            return null;
        }
    }

    private static long sizeOf(Path f) {
        try {
            return java.nio.file.Files.isRegularFile(f) ? java.nio.file.Files.size(f) : 0;
        } catch (java.io.IOException e) {
            return 0;
        }
    }
}
