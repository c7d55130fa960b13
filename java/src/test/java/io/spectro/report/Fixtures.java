package io.spectro.report;

import io.spectro.cluster.PprClustering;
import io.spectro.graph.Knn;
import io.spectro.map.ClusterMap;
import io.spectro.structure.Pipeline;
import io.spectro.structure.SyntheticRun;
import io.spectro.whiten.Whitening;

import java.nio.file.Path;

/** Small synthetic runs pushed through the pipeline with test-sized options. */
public final class Fixtures {
    private Fixtures() {}

    public static PprClustering.Options fastCluster() {
        return PprClustering.Options.defaults().withMaxPushWork(3_000_000L).withK(15).withMinSize(10);
    }

    public static Knn.Options fastKnn() { return Knn.Options.defaults().withK(15); }

    /** Writes a run (rows x 30 components, clusters) and its report; returns the index.html path. */
    public static Path run(Path dir, int rows, int clusters, boolean hostile, long seed) {
        SyntheticRun.write(dir, SyntheticRun.Spec.of(rows, 30, clusters, seed).withHostile(hostile));
        Pipeline.log = null;
        return Report.write(dir, true, Whitening.Options.defaults(), fastKnn(), fastCluster(), ClusterMap.Options.defaults());
    }
}
