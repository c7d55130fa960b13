package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.cluster.Metrics;
import io.spectro.io.Npy;
import io.spectro.map.ClusterMap;
import io.spectro.report.Report;
import io.spectro.structure.SyntheticRun;
import io.spectro.whiten.Whitening;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "report", mixinStandardHelpOptions = true,
        description = {"whiten + cluster + map when not done yet, then the explorer RUN/report/index.html "
                + "(self-contained, opens from disk); prints its path."})
public final class ReportCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, description = "run directory holding chi.npy (components.json, tokens.csv, contexts.jsonl)")
    Path run;
    @Option(names = "--redo", description = "recompute every stage even when its files exist")
    boolean redo;
    @Option(names = "--components", defaultValue = "0", description = "whitening directions; 0 = automatic")
    int components;
    @Option(names = "--center-rows", description = "centre rows before whitening")
    boolean centerRows;
    @Option(names = "--synthetic", description = "ROWSxCOLS[:CLUSTERS[:LO-HI[:SEPARATION[:SUBSPACE]]]]: first write a synthetic run into RUN (benchmarks, demos)")
    String synthetic;
    @Option(names = "--hostile", description = "with --synthetic: HTML-hostile token texts in one cluster")
    boolean hostile;
    @Mixin
    StructureOptions opts;

    @Option(names = "--unhealthy", defaultValue = "drop",
            description = "components whose health (RUN/diagnostics.json) is fail: drop (leave their columns out), keep, "
                    + "or stop (refuse); default ${DEFAULT-VALUE}, see docs/method.md")
    String unhealthy;

    @Override
    public Integer call() {
        if (synthetic != null) {
            if (Files.exists(run.resolve("chi.npy")) && !redo)
                throw new SpectroException(run + ": already holds chi.npy; pass --redo to overwrite it with a synthetic run");
            long t0 = System.nanoTime();
            SyntheticRun.write(run, SyntheticRun.Spec.parse(synthetic, opts.seed).withHostile(hostile));
            System.err.printf("spectro: synthetic run %s written in %.1f s%n", synthetic, (System.nanoTime() - t0) / 1e9);
        }
        long t0 = System.nanoTime();
        Whitening.Options wo = Whitening.Options.defaults().withComponents(components).withCenterRows(centerRows);
        Path html = Report.write(run, redo || synthetic != null, wo, opts.knnOptions(), opts.clusterOptions(),
                ClusterMap.Options.defaults(), io.spectro.chi.Health.Policy.parse(unhealthy), opts.dropNanColumns);
        System.err.printf("spectro: report pipeline took %.1f s%n", (System.nanoTime() - t0) / 1e9);
        if (Files.isRegularFile(run.resolve("truth.npy"))) {
            int[] truth = Npy.readInts(run.resolve("truth.npy")).data();
            int[] labels = Npy.readInts(run.resolve("clusters").resolve("labels.npy")).data();
            if (truth.length == labels.length)
                System.err.printf("spectro: adjusted Rand index against truth.npy: %.4f (unclustered rows as singletons; "
                        + "as one class: %.4f)%n", Metrics.adjustedRand(truth, labels), Metrics.adjustedRand(truth, labels, false));
        }
        System.out.println(html.toAbsolutePath());
        return 0;
    }
}
