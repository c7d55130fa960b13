import io.spectro.graph.Knn;
import io.spectro.graph.KnnGraph;
import io.spectro.structure.SyntheticRun;
import io.spectro.util.MappedVectors;
import io.spectro.io.Npy;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.zip.CRC32;

/**
 * The approximate kNN build alone, for before/after comparisons of {@code Knn} (docs/benchmarks.md, "kNN at 410
 * columns"). Run with the jar under test on the class path (source-file mode, no build step):
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp JAR bench/knn/KnnBench.java gen DIR ROWSxCOLS:CLUSTERS:LO-HI:SEP
 *   java --add-modules jdk.incubator.vector -cp JAR bench/knn/KnnBench.java knn WHITENED.npy [TRUTH.npy|-] [TREES ROUNDS]
 * </pre>
 * {@code gen} writes a synthetic run (SyntheticRun, seed 1: chi.npy, truth.npy, ...) to whiten with {@code spectro
 * whiten}; {@code knn} maps the whitened rows, builds the default approximate graph (k 45, 8 trees, ≤ 6 rounds) and
 * prints wall and process CPU seconds of the build, recall on 500 rows (seed 7, as the cluster stage; env NOREC
 * skips it), {@code Knn.lastStats()}, a CRC32 of the lists (equal CRC = the same graph) and, with truth.npy, the
 * share of list entries outside the row's planted cluster. Uses only API that the earlier jars had too.
 */
public class KnnBench {
    static long cpu() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }
    public static void main(String[] a) throws Exception {
        if (a[0].equals("gen")) { SyntheticRun.write(Path.of(a[1]), SyntheticRun.Spec.parse(a[2], 1)); return; }
        MappedVectors v = MappedVectors.open(Path.of(a[1]));
        Knn.Options o = Knn.Options.defaults().withMethod(Knn.Method.APPROXIMATE);
        if (a.length > 4) o = new Knn.Options(o.k(), o.method(), o.exactLimit(), Integer.parseInt(a[3]), 0, Integer.parseInt(a[4]), 0, o.seed());
        long c0 = cpu(), t0 = System.nanoTime();
        KnnGraph g = Knn.fit(v, o);
        long c1 = cpu(), t1 = System.nanoTime();
        double rec = System.getenv("NOREC") != null ? -1 : Knn.recall(v, g, 500, 7, 2);
        CRC32 crc = new CRC32();
        crc.update(g.segment().asByteBuffer());
        double outside = Double.NaN;
        if (a.length > 2 && !a[2].equals("-")) {
            int[] truth = Npy.readInts(Path.of(a[2])).data();
            long out = 0, tot = 0;
            java.lang.foreign.MemorySegment s = g.segment();
            for (int i = 0; i < g.n(); i++) for (int j = 0; j < g.k(); j++) {
                int nb = s.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, (long) i * g.k() + j);
                if (truth[nb] != truth[i]) out++;
                tot++;
            }
            outside = out / (double) tot;
        }
        System.out.printf("rows %d d %d wall %.1f s cpu %.1f s recall %.4f stats %s crc %08x outside %.4f load %s%n",
                v.rows(), v.cols(), (t1 - t0) / 1e9, (c1 - c0) / 1e9, rec, Knn.lastStats(), crc.getValue(), outside,
                new String(java.nio.file.Files.readAllBytes(Path.of("/proc/loadavg"))).trim());
    }
}
