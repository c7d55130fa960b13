package io.spectro.nativeabi;

import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.model.RandomInit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * NativeModel.load(Checkpoint): the tensor-by-tensor load from the mapped file equals loading the
 * float32 copy bit for bit, and it holds one copy of the weights, not two or three.
 */
class CheckpointLoadTest {
    @TempDir
    Path tmp;

    @Test
    void tensorByTensorLoadEqualsFloat32Load() {
        Backend b = NativeAbiTest.cpu();
        ModelConfig c = ModelConfig.preset("tiny");
        try (Arena a = Arena.ofShared()) {
            MemorySegment w = RandomInit.init(c, 5, a);
            int T = 16;
            int[] tok = new SplittableRandom(2).ints(2L * T, 0, c.vocabSize()).toArray();
            for (String dt : List.of("f32", "bf16", "f16")) {
                Path dir = tmp.resolve(dt);
                Checkpoint.write(dir, c, w, dt);
                try (Checkpoint ck = Checkpoint.open(dir);
                     NativeModel direct = NativeModel.create(b, c, 1, 2 * T, false);
                     NativeModel viaCopy = NativeModel.create(b, c, 1, 2 * T, false)) {
                    direct.load(ck);
                    viaCopy.load(ck.params());
                    int n = (int) c.paramCount();
                    assertArrayEquals(viaCopy.readParams(0, n), direct.readParams(0, n), dt + ": weights");
                    float[] l1 = new float[2 * (T - 1)], l2 = new float[2 * (T - 1)];
                    direct.forward(direct.batch(tok, 2, T), l1);
                    viaCopy.forward(viaCopy.batch(tok, 2, T), l2);
                    assertArrayEquals(l2, l1, dt + ": losses");
                }
            }
        }
    }

    /**
     * Peak resident memory (VmHWM, reset through /proc/self/clear_refs) added by loading a 128 MiB
     * (fp32) bf16 checkpoint into a CPU model: one copy of the weights, where the old path (a Java
     * float32 copy, then w and the anchor w*) held three. Measured in a fresh child JVM (small serial
     * heap) so that no other test's garbage collection moves the numbers. (Bit-identity of the weights
     * is the test above.)
     */
    @Test
    void loadingHoldsOneCopyOfTheWeights() throws Exception {
        NativeAbiTest.cpu();
        Assumptions.assumeTrue(Files.isWritable(Path.of("/proc/self/clear_refs")), "needs Linux /proc/self/clear_refs");
        Path dir = tmp.resolve("mid");
        try (Arena a = Arena.ofShared()) {
            Checkpoint.write(dir, MID, RandomInit.init(MID, 1, a), "bf16");
        }
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx64m", "-XX:+UseSerialGC", "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path")));
        for (String k : System.getProperties().stringPropertyNames())
            if (k.startsWith("spectro.")) cmd.add("-D" + k + "=" + System.getProperty(k));
        cmd.addAll(List.of(LoadProbe.class.getName(), dir.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        assertEquals(0, p.waitFor(), out);
        String last = out.lines().reduce((x, y) -> y).orElse("");
        long peak = Long.parseLong(last.replaceAll(".*peak=(\\d+).*", "$1"));
        long modelBytes = 4 * MID.paramCount();
        System.out.printf("load: %.0f MiB model, +%.0f MiB peak resident (child JVM)%n", modelBytes / 1048576.0, peak / 1048576.0);
        assertTrue(peak > 0.7 * modelBytes && peak < 1.4 * modelBytes,
                "loading a " + modelBytes / 1048576 + " MiB model added " + peak / 1048576 + " MiB at peak (one copy expected): " + out);
    }

    static final ModelConfig MID = new ModelConfig(8192, 512, 8, 8, 2048, 16, 64, 10000f, 1e-5f);

    /** The child of {@link #loadingHoldsOneCopyOfTheWeights}: opens, resets VmHWM, loads, prints "peak=BYTES". */
    public static final class LoadProbe {
        public static void main(String[] args) throws Exception {
            Backend b = Backend.load("cpu");
            try (Checkpoint ck = Checkpoint.open(Path.of(args[0])); NativeModel m = NativeModel.create(b, ck.config(), 1, 16, false)) {
                Files.writeString(Path.of("/proc/self/clear_refs"), "5");
                long before = statusKb("VmRSS:");
                m.load(ck);
                long peak = (statusKb("VmHWM:") - before) * 1024;
                int[] tok = new SplittableRandom(3).ints(16, 0, ck.config().vocabSize()).toArray();
                if (!Double.isFinite(m.forward(m.batch(tok, 1, 16), null))) throw new IllegalStateException("loss not finite");
                System.out.println("peak=" + peak);
            }
        }
    }

    static long statusKb(String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status")))
            if (line.startsWith(key)) return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]);
        throw new IllegalStateException("no " + key + " in /proc/self/status");
    }
}
