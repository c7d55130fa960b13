package io.spectro.spark;

import io.spectro.cli.Main;
import io.spectro.io.Npy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A tiny random checkpoint (2 layers, 4 heads: 12 components + the full run), probe and sampling tokens,
 * and the single-process {@code spectro chi} result every Spark run must reproduce byte for byte. Made
 * once per test JVM.
 */
final class Fixture {
    final Path dir, model, probe, sampling;
    final byte[] reference, referenceSe;
    private static Fixture instance;

    static synchronized Fixture get() {
        if (instance == null) instance = new Fixture();
        return instance;
    }

    private Fixture() {
        try {
            dir = Files.createTempDirectory("spectro-spark-test");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(dir)));
            model = dir.resolve("m");
            probe = dir.resolve("p.npy");
            sampling = dir.resolve("s.npy");
            assertEquals(0, quiet(() -> Main.run("init", "--preset", "tiny", "--seed", "1", "--out", model.toString())).code());
            Npy.write(probe, tokens(3, 16, 1), 3, 16);
            Npy.write(sampling, tokens(8, 16, 2), 8, 16);
            Path ref = dir.resolve("ref");
            List<String> a = new ArrayList<>(List.of("chi"));
            a.addAll(Arrays.asList(chiArgs(ref)));
            assertEquals(0, quiet(() -> Main.run(a.toArray(String[]::new))).code());
            reference = Files.readAllBytes(ref.resolve("chi.npy"));
            referenceSe = Files.readAllBytes(ref.resolve("chi_se.npy"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The spectro chi options of every run here (one CPU thread per run: two tasks share this host's two cores). */
    String[] chiArgs(Path out) {
        return new String[]{"--model", model.toString(), "--probe", probe.toString(), "--sampling", sampling.toString(),
                "--out", out.toString(), "--chains", "2", "--draws", "3", "--burnin", "1", "--batch", "2",
                "--backend", "cpu", "--threads", "1", "--quiet", "--no-plots"};
    }

    static int[] tokens(int rows, int t, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] a = new int[rows * t];
        for (int i = 0; i < a.length; i++) a[i] = r.nextInt(512);
        return a;
    }

    record Out(int code, String text) {}

    /** Runs {@code f} with System.out and System.err captured (Spark's log lines included). */
    static synchronized Out quiet(java.util.function.IntSupplier f) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream p = new PrintStream(buf, true);
        try {
            System.setOut(p);
            System.setErr(p);
            int rc = f.getAsInt();
            return new Out(rc, buf.toString());
        } finally {
            System.setOut(out);
            System.setErr(err);
            out.print(buf); // kept in the surefire report
        }
    }

    static String[] concat(String[] a, String... b) {
        String[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    static void delete(Path p) {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException ignored) {
            // best effort
        }
    }
}
