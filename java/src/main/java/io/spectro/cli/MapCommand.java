package io.spectro.cli;

import io.spectro.map.ClusterMap;
import io.spectro.structure.Pipeline;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "map", mixinStandardHelpOptions = true,
        description = {"UMAP of the cluster centroids to 2-D, neighborhoods and regions (Ward on the layout), region "
                + "labels from characteristic tokens; writes DIR/map.json."})
public final class MapCommand implements Callable<Integer> {
    @Option(names = "--clusters", required = true, description = "directory written by spectro cluster")
    Path clusters;
    @Option(names = "--n-neighbors", defaultValue = "45", description = "UMAP neighbours (default ${DEFAULT-VALUE}; fewer when there are few clusters)")
    int nNeighbors;
    @Option(names = "--neighborhood-size", defaultValue = "5", description = "clusters per neighborhood on average")
    int neighborhoodSize;
    @Option(names = "--region-size", defaultValue = "0", description = "clusters per region on average; 0 = sqrt(clusters) regions")
    int regionSize;
    @Option(names = "--seed", defaultValue = "1", description = "UMAP seed")
    long seed;

    @Override
    public Integer call() {
        ClusterMap.Options d = ClusterMap.Options.defaults();
        Pipeline.MapFile mf = Pipeline.map(clusters, new ClusterMap.Options(nNeighbors, d.minDist(), neighborhoodSize,
                regionSize, d.maxRegions(), seed));
        System.out.println(clusters.resolve("map.json") + ": " + mf.points().size() + " clusters, " + mf.neighborhoods()
                + " neighborhoods, " + mf.regions().size() + " regions (" + mf.layout() + ")");
        return 0;
    }
}
