package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.sampling.SamplerOptions;
import io.spectro.sampling.TinyFixture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static io.spectro.sampling.TinyFixture.TINY;
import static org.junit.jupiter.api.Assertions.*;

/** --target-reliability: rounds continue the chains, the outcome is recorded, and a kill -9 resumes to the same bytes. */
class TargetReliabilityTest {
    static MemorySegment params;
    static ChiRun.Inputs in;
    /** 2 chains, rounds of 2, 4, 8 draws with RMSProp (its state V is carried between rounds too). */
    static final SamplerOptions SO = new SamplerOptions(2, 2, 2, 1, 2, 1e-3f, 30f, 300f, true, 0.99f, 0.1f, 1f, 5);
    /** Unreachable: every component goes to the cap. */
    static final ChiRun.Target NEVER = new ChiRun.Target(0.999999, 8);

    @BeforeAll
    static void setup() {
        ChiRunTest.setup();
        params = ChiRunTest.params;
        in = ChiRunTest.in;
    }

    @AfterEach
    void unhook() {
        TargetedSums.afterRound = d -> {};
    }

    static ChiRun.Options opts(SamplerOptions so, ChiRun.Target t) {
        return new ChiRun.Options(so, "layer", true, 1 << 20, 1, "cpu", 4096, false, false).withTarget(t);
    }

    /** S at every draw of every chain, from a component's state json. */
    static List<Double> drawLoss(Path runDir, int c) throws Exception {
        JsonNode n = new ObjectMapper().readTree(runDir.resolve(String.format("state/%04d.json", c)).toFile()).get("drawLoss");
        List<Double> out = new ArrayList<>();
        for (JsonNode chain : n) for (JsonNode v : chain) out.add(v.asDouble());
        return out;
    }

    @Test
    void roundsContinueTheChainsOfALongerFixedRun(@TempDir Path dir) throws Exception {
        ChiRun.Result fixed = ChiRun.run(TINY, params, in, dir.resolve("fixed"), opts(SO.withDraws(8), null));
        ChiRun.Result target = ChiRun.run(TINY, params, in, dir.resolve("target"), opts(SO, NEVER));
        int h = fixed.components().size();
        for (int c = 0; c < h; c++) {
            assertEquals(drawLoss(dir.resolve("fixed"), c), drawLoss(dir.resolve("target"), c), "component " + c); // the same draws, bit for bit
            Health hl = target.health().get(c);
            assertEquals(8, hl.draws());
            assertEquals(Boolean.FALSE, hl.targetReached());
            assertTrue(hl.reasons().stream().anyMatch(r -> r.contains("reliability target 1.00 not reached at the cap (8 draws per chain)")), hl.reasons().toString());
            assertNull(fixed.health().get(c).targetReached());
            assertEquals(8, fixed.health().get(c).draws());
        }
        // the same sums up to the summation order of the rounds (chi itself differs: the full run keeps --draws 2)
        for (int c = 0; c < h; c++) {
            ComponentSums f = ComponentSums.read(dir.resolve(String.format("fixed/state/%04d.bin", c)), in.probeTokens(), null);
            ComponentSums t = ComponentSums.read(dir.resolve(String.format("target/state/%04d.bin", c)), in.probeTokens(), null);
            assertEquals(f.draws(), t.draws());
            assertEquals(f.sumPhiS(), t.sumPhiS(), 1e-9 * Math.abs(f.sumPhiS()));
            assertEquals(f.sumS(), t.sumS(), 1e-9 * Math.abs(f.sumS()));
            for (int i = 0; i < in.probeTokens(); i++) {
                assertEquals(f.sumPhiL()[i], t.sumPhiL()[i], 1e-9 * Math.max(1, Math.abs(f.sumPhiL()[i])), "component " + c + " token " + i);
                assertEquals(f.sumL()[i], t.sumL()[i], 1e-9 * Math.max(1, Math.abs(f.sumL()[i])), "component " + c + " token " + i);
            }
        }
        try (Stream<Path> s = Files.list(dir.resolve("target/state"))) {
            assertTrue(s.noneMatch(p -> p.toString().endsWith(".round.bin")), "round files are removed once a component is final");
        }
        // a reachable target stops early: a component that stopped below the cap reached it
        ChiRun.Result easy = ChiRun.run(TINY, params, in, dir.resolve("easy"), opts(SO, new ChiRun.Target(1e-9, 8)));
        for (int c = 0; c < h; c++) {
            Health e = easy.health().get(c);
            assertEquals(e.reliability() >= 1e-9, e.targetReached());
            if (e.draws() < 8) assertTrue(e.targetReached());
        }
        assertTrue(easy.health().stream().anyMatch(e -> e.draws() < 8), "some component reaches a tiny target before the cap");
        assertTrue(Health.table(target.health()).contains(" target"));
    }

    @Test
    void badTargetsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new ChiRun.Target(1.0, 10));
        assertThrows(IllegalArgumentException.class, () -> new ChiRun.Target(0, 10));
        assertThrows(IllegalArgumentException.class, () -> new ChiRun.Target(Double.NaN, 10));
        assertThrows(IllegalArgumentException.class, () -> new ChiRun.Target(0.9, 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> opts(SO, new ChiRun.Target(0.9, 1)));
        assertTrue(e.getMessage().contains("--max-draws 1 is below --draws 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> opts(SO.withChains(1), NEVER));
        assertTrue(e.getMessage().contains("at least 2 chains"), e.getMessage());
    }

    /**
     * A child JVM runs the sweep (pausing after each round file so that the kill lands mid-sweep) and is
     * killed with SIGKILL once a round file exists; the run resumed here writes chi.npy, chi_se.npy and
     * diagnostics.json byte for byte as an uninterrupted run. A damaged round file is refused by name.
     */
    @Test
    void killNineMidRoundsResumesToTheSameBytes(@TempDir Path dir) throws Exception {
        Path whole = dir.resolve("whole"), killed = dir.resolve("killed");
        RunOutputs.write(whole, ChiRun.run(TINY, params, in, whole, opts(SO, NEVER)), in, RunOutputs.perToken(id -> "#" + id), false);

        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path")));
        for (String k : System.getProperties().stringPropertyNames())
            if (k.startsWith("spectro.")) cmd.add("-D" + k + "=" + System.getProperty(k));
        cmd.addAll(List.of(Child.class.getName(), killed.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("child.log").toFile()).start();
        Path round = null;
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (round == null && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
            if (Files.isDirectory(killed.resolve("state")))
                try (Stream<Path> s = Files.list(killed.resolve("state"))) {
                    round = s.filter(f -> f.toString().endsWith(".round.bin")).findFirst().orElse(null);
                }
        }
        p.destroyForcibly(); // SIGKILL
        p.waitFor();
        assertNotNull(round, "the child wrote no round file before it ended: " + Files.readString(dir.resolve("child.log")));
        assertFalse(Files.exists(killed.resolve("chi.npy")));

        // a damaged round file is refused, naming it
        byte[] ok = Files.readAllBytes(round);
        byte[] bad = ok.clone();
        bad[bad.length / 2] ^= 1;
        Files.write(round, bad);
        SpectroException e = assertThrows(SpectroException.class, () -> ChiRun.run(TINY, params, in, killed, opts(SO, NEVER)));
        assertTrue(e.getMessage().contains(round.getFileName() + ": checksum mismatch"), e.getMessage());
        Files.write(round, ok);

        int[] rounds = new int[1];
        TargetedSums.afterRound = d -> rounds[0]++;
        ChiRun.Result resumed = ChiRun.run(TINY, params, in, killed, opts(SO, NEVER));
        // rounds of 2 and 4 draws leave a round file in every component a fresh run computes; the killed one went on from its file
        int fresh = 2 * resumed.componentsComputed();
        assertTrue(rounds[0] < fresh, "resumed from the round file, not restarted: " + rounds[0] + " round files for " + resumed.componentsComputed() + " components");
        RunOutputs.write(killed, resumed, in, RunOutputs.perToken(id -> "#" + id), false);
        for (String f : new String[]{"chi.npy", "chi_se.npy", "diagnostics.json"})
            assertArrayEquals(Files.readAllBytes(whole.resolve(f)), Files.readAllBytes(killed.resolve(f)), f);
    }

    /** The killed process of {@link #killNineMidRoundsResumesToTheSameBytes}. */
    public static final class Child {
        public static void main(String[] args) {
            setup();
            TargetedSums.afterRound = d -> {
                try {
                    Thread.sleep(400);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
            Path out = Path.of(args[0]);
            RunOutputs.write(out, ChiRun.run(TINY, params, in, out, opts(SO, NEVER)), in, RunOutputs.perToken(id -> "#" + id), false);
        }
    }
}
