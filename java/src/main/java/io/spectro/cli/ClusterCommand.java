package io.spectro.cli;

import io.spectro.cluster.Metrics;
import io.spectro.io.Npy;
import io.spectro.structure.Pipeline;
import io.spectro.structure.SyntheticRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "cluster", mixinStandardHelpOptions = true,
        description = {"Conductance (personalized PageRank) clustering on the symmetrised kNN graph. Input: a whitened.npy "
                + "written by spectro whiten, or a raw chi.npy (whitened first with the defaults). Writes DIR/labels.npy "
                + "(int32 primary cluster per row, -1 = none), DIR/clusters.json (members and cards) and DIR/centroids.npy."})
public final class ClusterCommand implements Callable<Integer> {
    @Option(names = "--in", description = "chi.npy or whitened.npy")
    Path in;
    @Option(names = "--out", required = true, description = "output directory")
    Path out;
    @Option(names = "--tokens", description = "directory with tokens.csv / contexts.jsonl (default: the chi.npy directory)")
    Path tokens;
    @Option(names = "--synthetic", description = "ROWSxCOLS[:CLUSTERS[:LO-HI[:SEPARATION[:SUBSPACE]]]]: write a synthetic run into DIR/synthetic-run and cluster it (benchmarks; docs/benchmarks.md)")
    String synthetic;
    @Mixin
    StructureOptions opts;

    @Override
    public Integer call() {
        Path input = in;
        if (synthetic != null) {
            Path run = out.resolve("synthetic-run");
            long t0 = System.nanoTime();
            SyntheticRun.write(run, SyntheticRun.Spec.parse(synthetic, opts.seed));
            System.err.printf("spectro: synthetic run %s written in %.1f s%n", synthetic, (System.nanoTime() - t0) / 1e9);
            input = run.resolve("chi.npy");
        }
        if (input == null) throw new io.spectro.SpectroException("option --in (or --synthetic) is required");
        Pipeline.ClustersFile cf = Pipeline.cluster(input, out, opts.knnOptions(), opts.clusterOptions(), tokens, opts.dropNanColumns);
        System.out.println(out.resolve("clusters.json") + ": " + cf.clusters().size() + " clusters, coverage "
                + String.format("%.3f", cf.stats().coverage()) + ", sweep "
                + (cf.stats().sweepWindow() == 0 ? "global minimum" : "local minimum, window " + cf.stats().sweepWindow())
                + (opts.clusterOptions().sweepWindow() == io.spectro.cluster.PprClustering.Options.AUTO ? " (auto)" : "")
                + ", seconds " + cf.seconds());
        if (synthetic != null) {
            int[] truth = Npy.readInts(out.resolve("synthetic-run").resolve("truth.npy")).data();
            int[] labels = Npy.readInts(out.resolve("labels.npy")).data();
            System.out.printf("adjusted Rand index against the planted clusters: %.4f (unclustered rows as singletons; "
                    + "as one class: %.4f)%n", Metrics.adjustedRand(truth, labels), Metrics.adjustedRand(truth, labels, false));
        }
        return 0;
    }
}
