package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.cluster.PprClustering;
import io.spectro.graph.Knn;
import picocli.CommandLine.Option;

/** kNN and clustering options shared by {@code spectro cluster} and {@code spectro report} (a picocli mixin). */
public final class StructureOptions {
    @Option(names = "--k", description = "neighbours of the kNN graph (default ${DEFAULT-VALUE})", defaultValue = "45")
    int k;
    @Option(names = "--alpha", description = "PPR teleport probability (default ${DEFAULT-VALUE})", defaultValue = "0.001")
    double alpha;
    @Option(names = "--tol", description = "PPR push tolerance per unit degree (default ${DEFAULT-VALUE})", defaultValue = "1e-7")
    double tol;
    @Option(names = "--main-body", description = "PPR mass kept by the trim (default ${DEFAULT-VALUE})", defaultValue = "0.99")
    double mainBody;
    @Option(names = "--min-size", description = "smallest cluster (default ${DEFAULT-VALUE})", defaultValue = "20")
    int minSize;
    @Option(names = "--sweep-window", description = "auto, 0 or R >= 1. 0: the sweep cut of globally minimum conductance "
            + "(the published reading); R: the shortest prefix of at least --min-size rows with the lowest conductance of all "
            + "prefixes up to R times its length, which keeps groups joined into one connected component apart; auto: "
            + "1.25; 0 = the published global minimum (docs/clustering.md; default ${DEFAULT-VALUE})", defaultValue = "auto")
    String sweepWindow;
    @Option(names = "--min-gain", description = "stop when the last max(seeds per round, minGain x rows / min size) seeds added less than this fraction of rows (default ${DEFAULT-VALUE})", defaultValue = "0.001")
    double minGain;
    @Option(names = "--seed", description = "random seed (default ${DEFAULT-VALUE})", defaultValue = "1")
    long seed;
    @Option(names = "--max-push-work", description = "edge visits per PPR solve at most, a safeguard (default ${DEFAULT-VALUE})", defaultValue = "50000000")
    long maxPushWork;
    @Option(names = "--seeds-per-round", description = "seeds pushed per round (default ${DEFAULT-VALUE})", defaultValue = "8")
    int seedsPerRound;
    @Option(names = "--knn", description = "kNN method: auto, exact, approximate (default ${DEFAULT-VALUE})", defaultValue = "auto")
    String knn;
    @Option(names = "--exact-limit", description = "auto uses exact kNN up to this many rows (default ${DEFAULT-VALUE})", defaultValue = "60000")
    int exactLimit;
    @Option(names = "--trees", description = "random-projection trees of approximate kNN (default ${DEFAULT-VALUE})", defaultValue = "8")
    int trees;
    @Option(names = "--iterations", description = "NN-descent rounds of approximate kNN (default ${DEFAULT-VALUE})", defaultValue = "6")
    int iterations;
    @Option(names = "--threads", description = "worker threads, 0 = all processors (default ${DEFAULT-VALUE})", defaultValue = "0")
    int threads;
    @Option(names = "--drop-nan-columns", description = "leave out chi.npy's columns holding NaN or infinite values "
            + "(components that stopped; their diagnostics say why) instead of refusing the input")
    boolean dropNanColumns;

    Knn.Options knnOptions() {
        Knn.Method m = switch (knn.toLowerCase()) {
            case "auto" -> Knn.Method.AUTO;
            case "exact" -> Knn.Method.EXACT;
            case "approximate", "approx" -> Knn.Method.APPROXIMATE;
            default -> throw new SpectroException("option --knn: expected auto, exact or approximate, got " + knn);
        };
        return new Knn.Options(k, m, exactLimit, trees, 0, iterations, threads, seed);
    }

    PprClustering.Options clusterOptions() {
        return new PprClustering.Options(k, alpha, tol, mainBody, minSize, minGain, seed, maxPushWork, seedsPerRound,
                PprClustering.Options.defaults().minNovelty(), threads, sweepWindow());
    }

    private double sweepWindow() {
        if (sweepWindow.equalsIgnoreCase("auto")) return PprClustering.Options.AUTO;
        double r;
        try {
            r = Double.parseDouble(sweepWindow);
        } catch (NumberFormatException e) {
            throw new SpectroException("option --sweep-window: expected auto, 0 or a number >= 1, got " + sweepWindow);
        }
        if (!(r == 0 || (r >= 1 && Double.isFinite(r))))
            throw new SpectroException("option --sweep-window: expected auto, 0 or a number >= 1, got " + sweepWindow);
        return r;
    }
}
