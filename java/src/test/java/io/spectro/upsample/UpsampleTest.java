package io.spectro.upsample;

import io.spectro.chi.ChiRun;
import io.spectro.cli.Main;
import io.spectro.components.Decomposition;
import io.spectro.io.Npy;
import io.spectro.model.Checkpoint;
import io.spectro.sampling.TinyFixture;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * upsample fit and apply end to end on a random tiny checkpoint and a synthetic run whose χ is an exact
 * (affine) function of two of its features: held-out R² ≈ 1; the split keeps sequences whole; apply's
 * refusals (quality below the thresholds, another model, corrupt files) leave nothing that looks valid;
 * a run killed with SIGKILL in a child JVM and resumed gives the same bytes as an uninterrupted one.
 */
class UpsampleTest {
    static final int SEQ = 24, T = 16;
    @TempDir static Path dir;
    static Path model, run, aux;

    record Out(int code, String err) {}

    static Out cli(String... args) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(new ByteArrayOutputStream()));
            System.setErr(new PrintStream(e));
            return new Out(Main.run(args), e.toString());
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @BeforeAll
    static void synthetic() throws Exception {
        TinyFixture.assumeNative();
        model = dir.resolve("m");
        assertEquals(0, cli("init", "--preset", "tiny", "--seed", "1", "--out", model.toString()).code());
        run = dir.resolve("run");
        Files.createDirectories(run);
        try (Checkpoint ck = Checkpoint.open(model)) {
            int[] probe = TinyFixture.tokens(SEQ, T, ck.config().vocabSize(), 7);
            Npy.write(run.resolve("probe.npy"), probe, SEQ, T);
            var comps = Decomposition.resolve(ck.config(), "default");
            FeatureSpec spec = FeatureSpec.parse("loss,resp:1", FeatureSpec.DEFAULT_H, 1);
            float[] x;
            int d;
            try (Features f = Features.open(ck, comps, spec, Features.Options.cpu())) {
                x = f.computeAll(probe, SEQ, T, null);
                d = f.dim();
            }
            int n = SEQ * (T - 1), H = comps.size();
            SplittableRandom r = new SplittableRandom(3);
            double[] a = new double[H], b = new double[H], c = new double[H];
            for (int j = 0; j < H; j++) {
                a[j] = r.nextGaussian();
                b[j] = r.nextGaussian();
                c[j] = r.nextGaussian();
            }
            // an affine function of the loss and the embed's resp d2, of the features' standardised deviations: the
            // tiny random model's losses are ~6.1 +- 0.003, so a·loss + c stored as float32 would carry rounding noise
            // of ~1e-4 of its spread, whose directions the whitening keeps or not depending on summation order
            double m0 = 0, m1 = 0;
            for (int i = 0; i < n; i++) {
                m0 += x[i * d];
                m1 += x[i * d + 1];
            }
            m0 /= n;
            m1 /= n;
            double s0 = 0, s1 = 0;
            for (int i = 0; i < n; i++) {
                s0 += (x[i * d] - m0) * (x[i * d] - m0);
                s1 += (x[i * d + 1] - m1) * (x[i * d + 1] - m1);
            }
            s0 = Math.sqrt(s0 / n);
            s1 = Math.sqrt(s1 / n);
            float[] chi = new float[n * H];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < H; j++)
                    chi[i * H + j] = (float) (a[j] * (x[i * d] - m0) / s0 + b[j] * (x[i * d + 1] - m1) / s1 + c[j]);
            Npy.write(run.resolve("chi.npy"), chi, n, H);
            JsonMapper json = JsonMapper.shared();
            Files.writeString(run.resolve("components.json"), json.writeValueAsString(comps.stream().map(co -> co.name()).toList()));
            ObjectNode m = json.createObjectNode();
            m.put("modelSha256", ChiRun.sha256(ck));
            m.set("config", json.valueToTree(ck.config()));
            m.put("components", "default");
            m.put("probeShape", SEQ + "x" + T);
            m.put("dataSha256", "synthetic");
            Files.writeString(run.resolve("manifest.json"), json.writeValueAsString(m));
        }
        aux = dir.resolve("aux");
        Out o = cli("upsample", "fit", "--run", run.toString(), "--model", model.toString(), "--out", aux.toString(),
                "--features", "loss,resp:1", "--regressor", "ridge", "--holdout", "0.25", "--backend", "cpu", "--quiet");
        assertEquals(0, o.code(), o.err());
    }

    @Test
    void exactFunctionOfTheFeaturesIsPredictedHeldOut() throws Exception {
        JsonNode q = JsonMapper.shared().readTree(aux.resolve("quality.json").toFile());
        // the directions beyond χ's rank 2 are float noise (R² per direction near 0 there); in χ units it is exact
        assertTrue(q.get("model").get("meanR2").asDouble() > 0.99, q.toString());
        assertTrue(q.get("model").get("meanCosine").asDouble() > 0.99, q.toString());
        assertEquals(SEQ * (T - 1), q.get("trainRows").asInt() + q.get("heldoutRows").asInt());
        JsonNode a = JsonMapper.shared().readTree(aux.resolve("aux.json").toFile());
        assertEquals(Aux.FORMAT, a.get("format").asString());
        assertTrue(a.get("files").has(Aux.TRANSFORM) && a.get("files").has("quality.json") && a.get("files").has("quality_r2.png"));
        Aux.Opened o = Aux.open(aux); // every hash checks out
        int components = Decomposition.resolve(JsonMapper.shared().treeToValue(a.get("config"), io.spectro.model.ModelConfig.class), "default").size();
        assertEquals(1 + 2 * components, a.get("features").get("dim").asInt(), "loss + (d2, d1) per component");
        assertEquals(components, o.transform().inputDim());
    }

    @Test
    void theSplitNeverPutsOneSequenceOnBothSides() {
        int perSeq = T - 1, n = SEQ * perSeq;
        int[] group = new int[n];
        for (int i = 0; i < n; i++) group[i] = i / perSeq; // GroundTruth.groups()
        for (long seed = 0; seed < 20; seed++)
            for (double f : new double[]{0.05, 0.1, 0.25, 0.5}) {
                boolean[] held = GroupSplit.holdout(group, n, f, seed);
                int heldRows = 0;
                for (int s = 0; s < SEQ; s++) {
                    boolean side = held[s * perSeq];
                    for (int t = 1; t < perSeq; t++) assertEquals(side, held[s * perSeq + t], "sequence " + s + " split, seed " + seed);
                    if (side) heldRows += perSeq;
                }
                assertTrue(heldRows > 0 && heldRows < n);
            }
    }

    private String[] apply(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("upsample", "apply", "--aux", aux.toString(), "--model", model.toString(),
                "--tokens", run.resolve("probe.npy").toString(), "--count", "150", "--out", out.toString(), "--chunk-sequences", "2",
                "--backend", "cpu", "--quiet"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    @Test
    void refusalsNameTheProblemAndLeaveNoRun() throws Exception {
        Out o = cli(apply(dir.resolve("r1"), "--min-r2", "1.01"));
        assertEquals(2, o.code());
        assertTrue(o.err().contains("mean R²") && o.err().contains("--min-r2"), o.err());
        o = cli(apply(dir.resolve("r2"), "--min-ari", "1.01"));
        assertEquals(2, o.code());
        assertTrue(o.err().contains("ARI") && o.err().contains("--min-ari"), o.err());
        Path other = dir.resolve("m2");
        assertEquals(0, cli("init", "--preset", "tiny", "--seed", "2", "--out", other.toString()).code());
        List<String> a = new ArrayList<>(List.of(apply(dir.resolve("r3"))));
        a.set(a.indexOf("--model") + 1, other.toString());
        o = cli(a.toArray(String[]::new));
        assertEquals(2, o.code());
        assertTrue(o.err().contains("another model"), o.err());
        // a corrupt file: one byte of the regressor's weights flipped
        Path bad = dir.resolve("aux-bad");
        copy(aux, bad);
        Path w;
        try (var s = Files.list(bad.resolve(Aux.MODEL))) {
            w = s.filter(p -> p.toString().endsWith(".npy")).findFirst().orElseThrow();
        }
        byte[] bytes = Files.readAllBytes(w);
        bytes[bytes.length - 1] ^= 1;
        Files.write(w, bytes);
        a = new ArrayList<>(List.of(apply(dir.resolve("r4"))));
        a.set(a.indexOf("--aux") + 1, bad.toString());
        o = cli(a.toArray(String[]::new));
        assertEquals(2, o.code());
        assertTrue(o.err().contains(w.getFileName().toString()) && o.err().contains("corrupt"), o.err());
        Files.delete(bad.resolve("aux.json")); // an unfinished fit is no AUX
        o = cli(a.toArray(String[]::new));
        assertEquals(2, o.code());
        assertTrue(o.err().contains("no aux.json"), o.err());
        for (String r : new String[]{"r1", "r2", "r3", "r4"}) assertFalse(Files.exists(dir.resolve(r).resolve("chi.npy")), r);
    }

    private static void copy(Path from, Path to) throws Exception {
        try (var s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q);
            }
        }
    }

    @Test
    void killedApplyResumesToTheSameBytes() throws Exception {
        Path whole = dir.resolve("whole"), killed = dir.resolve("killed");
        Out o = cli(apply(whole));
        assertEquals(0, o.code(), o.err());
        Npy.Floats chi = Npy.readFloats(whole.resolve("chi.npy"));
        assertEquals(150, chi.dim(0)); // 10 sequences of 15 predictions
        assertEquals(150 + 1, Files.readAllLines(whole.resolve("tokens.csv")).size());
        byte[] flags = Files.readAllBytes(whole.resolve("predicted.npy"));
        assertEquals(0, (flags.length - 150) % 64, "a padded header and one flag byte per row");
        for (int i = flags.length - 150; i < flags.length; i++) assertEquals(1, flags[i]);
        assertFalse(Files.exists(whole.resolve("state")), "chunk files are removed once the run is assembled");
        JsonNode m = JsonMapper.shared().readTree(whole.resolve("manifest.json").toFile());
        assertEquals(Aux.open(aux).sha256(), m.get("predicted").get("auxSha256").asString());

        Process p = child(dir.resolve("child.log"), List.of("-Dspectro.test.chunkPauseMs=400"), apply(killed));
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (p.isAlive() && System.nanoTime() < deadline && !Files.exists(Apply.chunkFile(killed, 1))) Thread.sleep(20);
        assertTrue(p.isAlive(), "the child finished before it could be killed: " + Files.readString(dir.resolve("child.log")));
        p.destroyForcibly(); // SIGKILL
        p.waitFor();
        assertFalse(Files.exists(killed.resolve("chi.npy")), "killed before the end");
        assertTrue(Files.exists(Apply.chunkFile(killed, 0)));
        o = cli(apply(killed));
        assertEquals(0, o.code(), o.err());
        for (String f : new String[]{"chi.npy", "predicted.npy", "tokens.csv", "tokens.arrow", "contexts.jsonl", "components.json", "manifest.json"})
            assertArrayEquals(Files.readAllBytes(whole.resolve(f)), Files.readAllBytes(killed.resolve(f)), f);
        // two shards into one directory, then the unsharded command assembles: the same bytes again
        Path sharded = dir.resolve("sharded");
        assertEquals(0, cli(apply(sharded, "--shard", "1/2")).code());
        assertFalse(Files.exists(sharded.resolve("chi.npy")), "a shard assembles nothing while chunks are missing");
        assertTrue(Files.exists(Apply.chunkFile(sharded, 1)) && !Files.exists(Apply.chunkFile(sharded, 0)));
        assertEquals(0, cli(apply(sharded, "--shard", "0/2")).code());
        for (String f : new String[]{"chi.npy", "predicted.npy", "tokens.arrow"})
            assertArrayEquals(Files.readAllBytes(whole.resolve(f)), Files.readAllBytes(sharded.resolve(f)), f);
        // the whitening stage reads the predicted run like a ground-truth one
        assertEquals(0, cli("whiten", "--in", killed.resolve("chi.npy").toString(), "--out", killed.resolve("whiten").toString()).code());
    }

    /** {@code spectro ARGS} in a child JVM (this class path and spectro.* properties), output to {@code log}. */
    static Process child(Path log, List<String> jvm, String... args) throws java.io.IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"));
        cmd.addAll(jvm);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path")));
        for (String k : System.getProperties().stringPropertyNames())
            if (k.startsWith("spectro.") && !k.startsWith("spectro.test.")) cmd.add("-D" + k + "=" + System.getProperty(k));
        cmd.add(Main.class.getName());
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).directory(log.getParent().toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /**
     * SIGTERM during {@code upsample fit --regressor mlp} (a wide, deep net so that one epoch takes a while):
     * exit status 143 with "interrupted", no hs_err file in the child's working directory, no aux.json.
     * (TorchMlpExitTest is the sharper check of the crash itself: 4 libtorch threads.)
     */
    @Test
    void sigtermDuringMlpFitLeavesNoAuxAndNoCrash() throws Exception {
        try {
            io.spectro.torch.Libtorch.load();
        } catch (io.spectro.SpectroException e) {
            org.junit.jupiter.api.Assumptions.abort(e.getMessage());
        }
        Path work = Files.createDirectories(dir.resolve("sigterm")), out = work.resolve("aux"), log = work.resolve("child.log");
        Process p = child(log, List.of(), "upsample", "fit", "--run", run.toString(), "--model", model.toString(),
                "--out", out.toString(), "--features", "loss,resp:1", "--regressor", "mlp", "--hidden", "2048", "--depth", "6",
                "--epochs", "100000", "--holdout", "0.25", "--backend", "cpu");
        try {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (p.isAlive() && System.nanoTime() < deadline && !Files.readString(log).contains("upsample fit: mlp")) Thread.sleep(50);
            assertTrue(p.isAlive(), "the child ended before training: " + Files.readString(log));
            Thread.sleep(1000);
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(40, java.util.concurrent.TimeUnit.SECONDS), "no exit after SIGTERM");
        } finally {
            p.destroyForcibly();
        }
        String text = Files.readString(log);
        try (var files = Files.list(work)) {
            assertEquals(List.of(), files.map(f -> f.getFileName().toString()).filter(f -> f.startsWith("hs_err")).toList(), text);
        }
        assertEquals(143, p.exitValue(), text);
        assertTrue(text.contains("interrupted"), text);
        assertFalse(Files.exists(out.resolve("aux.json")), "an interrupted fit leaves no aux.json");
    }
}
