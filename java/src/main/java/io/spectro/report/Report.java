package io.spectro.report;

import io.spectro.cluster.PprClustering;
import io.spectro.graph.Knn;
import io.spectro.map.ClusterMap;
import io.spectro.structure.Pipeline;
import io.spectro.whiten.Whitening;

import java.nio.file.Path;

/** {@code RUN/report/index.html}: the explorer of a run, after whatever structure stage is missing. */
public final class Report {
    private Report() {}

    /** Runs whatever stage is missing for RUN and writes RUN/report/index.html; returns its path. */
    public static Path write(Path run, boolean redo, Whitening.Options wo, Knn.Options ko, PprClustering.Options po,
                             ClusterMap.Options mo) {
        return write(run, redo, wo, ko, po, mo, io.spectro.chi.Health.Policy.drop, false);
    }

    /**
     * As above; {@code unhealthy} decides what whitening does with the components whose health is fail,
     * {@code dropNan} whether columns holding NaN/inf are left out instead of refused.
     */
    public static Path write(Path run, boolean redo, Whitening.Options wo, Knn.Options ko, PprClustering.Options po,
                             ClusterMap.Options mo, io.spectro.chi.Health.Policy unhealthy, boolean dropNan) {
        Path cdir = Pipeline.ensureStages(run, redo, wo, ko, po, mo, unhealthy, dropNan);
        long t0 = System.nanoTime();
        Path html = run.resolve("report").resolve("index.html");
        String badge = io.spectro.chi.Health.badge(run);
        Pipeline.ClustersFile cf = Pipeline.readClusters(cdir);
        Explorer.write(html, cf, Pipeline.readMap(cdir), run.toAbsolutePath().getFileName().toString()
                + (badge == null ? "" : " \u2014 " + badge));
        SubsetPurity sp = SubsetPurity.of(cf);
        if (sp != null) {
            io.spectro.io.Atomic.writeString(html.resolveSibling("subsets.json"), tools.jackson.databind.json.JsonMapper.shared().writeValueAsString(sp));
            if (Pipeline.log != null) {
                Pipeline.log.println("spectro: " + sp.line());
                for (String l : sp.splitLines()) Pipeline.log.println("spectro:   " + l);
            }
        }
        if (Pipeline.log != null)
            Pipeline.log.println("spectro: explorer written in " + Math.round((System.nanoTime() - t0) / 1e7) / 100.0 + " s");
        return html;
    }
}
