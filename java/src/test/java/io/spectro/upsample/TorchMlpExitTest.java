package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.torch.Libtorch;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * SIGTERM while the libtorch MLP trains (4 intra-op threads, 300 → 64, in a child JVM): a clean exit with
 * status 143 and the "interrupted" message, no hs_err file, and no model saved. Before the shutdown hook
 * of {@link Libtorch} the JVM died in {@code Tensor.backward} (SIGSEGV) while the C library's exit ran
 * libtorch's destructors.
 */
class TorchMlpExitTest {
    /** The child: loads libtorch, says "training", fits far longer than the test waits, then saves. */
    public static void main(String[] args) throws IOException {
        Path out = Path.of(args[0]);
        Libtorch.load();
        Synth s = Synth.make(8000, 300, 64, 20, 1, 0.05, 42);
        Regressors.Options o = new Regressors.Options(256, 2, 100_000, 3e-3, 1e-4, 128, 100_000, 0.15, 5, 1, 4);
        System.out.println("training");
        System.out.flush();
        try {
            Regressors.fit("mlp", s.x(), s.y(), s.n(), s.dIn(), s.dOut(), s.group(), o).save(out);
        } catch (SpectroException e) {
            System.err.println("spectro: " + e.getMessage());
            System.exit(2);
        }
    }

    @Test
    void sigtermDuringMlpTrainingExitsCleanly(@TempDir Path dir) throws Exception {
        try {
            Libtorch.load();
        } catch (SpectroException e) {
            Assumptions.abort(e.getMessage());
        }
        Path log = dir.resolve("child.log"), model = dir.resolve("model");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), TorchMlpExitTest.class.getName(),
                model.toString()));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (p.isAlive() && System.nanoTime() < deadline && !Files.readString(log).contains("training")) Thread.sleep(50);
            assertTrue(p.isAlive(), "the child ended before training: " + Files.readString(log));
            Thread.sleep(1500); // inside the minibatch loop (forward, backward, AdamW step on 4 threads)
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(40, TimeUnit.SECONDS), "the child did not exit after SIGTERM");
        } finally {
            p.destroyForcibly();
        }
        String text = Files.readString(log);
        try (Stream<Path> files = Files.list(dir)) {
            List<String> errs = files.map(f -> f.getFileName().toString()).filter(f -> f.startsWith("hs_err")).toList();
            assertEquals(List.of(), errs, "the JVM crashed:\n" + text);
        }
        assertEquals(143, p.exitValue(), text);
        assertTrue(text.contains("interrupted"), text);
        assertFalse(Files.exists(model), "nothing saved from an interrupted fit");
    }
}
