package io.spectro.cli;

import io.spectro.io.Npy;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.model.SafeTensors;
import io.spectro.nativeabi.Backend;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** info / init / loss / grad / bench through Main.run, with captured stdout and stderr. */
class CoreCommandsTest {
    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {}

    static synchronized Result run(String... args) {
        PrintStream o = System.out, e = System.err;
        ByteArrayOutputStream bo = new ByteArrayOutputStream(), be = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(bo, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(be, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Result(code, bo.toString(StandardCharsets.UTF_8), be.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(o);
            System.setErr(e);
        }
    }

    private Path tiny() {
        Path dir = tmp.resolve("tiny");
        Result r = run("init", "--preset", "tiny", "--seed", "4", "--out", dir.toString());
        assertEquals(0, r.code(), r.err());
        return dir;
    }

    static boolean cpuPresent() {
        return Backend.findLibrary("cpu").isPresent();
    }

    @Test
    void initWritesALoadableCheckpoint() throws Exception {
        Path tok = tmp.resolve("tok.json");
        Files.writeString(tok, "{\"model\":{}}");
        Path dir = tmp.resolve("m");
        Result r = run("init", "--preset", "tiny", "--dtype", "bf16", "--tokenizer", tok.toString(), "--out", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("165,632"), r.out());
        try (Checkpoint ck = Checkpoint.open(dir)) {
            assertEquals(ModelConfig.preset("tiny"), ck.config());
            assertEquals(dir.resolve("tokenizer.json"), ck.tokenizerJson());
        }
        assertTrue(Files.readString(dir.resolve("config.json")).contains("\"bfloat16\""));
        Result again = run("init", "--preset", "tiny", "--out", dir.toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("--force"), again.err());
        assertEquals(0, run("init", "--preset", "tiny", "--force", "--out", dir.toString()).code());
        // same seed -> identical bytes
        Path d2 = tmp.resolve("m2");
        assertEquals(0, run("init", "--preset", "tiny", "--out", d2.toString()).code());
        assertArrayEquals(Files.readAllBytes(dir.resolve("model.safetensors")), Files.readAllBytes(d2.resolve("model.safetensors")));
    }

    @Test
    void initBadInput() {
        Result r = run("init", "--preset", "pythia-3m", "--out", tmp.resolve("x").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("pythia-3m"), r.err());
        r = run("init", "--preset", "tiny", "--dtype", "int8", "--out", tmp.resolve("x").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--dtype"), r.err());
        r = run("init", "--preset", "tiny");
        assertEquals(2, r.code(), "missing --out is a usage error");
        assertTrue(r.err().contains("--out"), r.err());
    }

    @Test
    void infoOnCheckpointAndPreset() {
        Path dir = tiny();
        Result r = run("info", "--model", dir.toString(), "--tensors");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("165,632"), r.out());
        assertTrue(r.out().contains("components   12"), r.out());
        assertTrue(r.out().contains("l1h0 .. l1h3"), r.out());
        assertTrue(r.out().contains("gpt_neox.layers.1.mlp.dense_4h_to_h.weight"), r.out());
        assertTrue(r.out().contains("{F32=28}"), r.out());
        r = run("info", "--preset", "pythia-1.4b");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("1,414,647,808"), r.out());
        assertTrue(r.out().contains("components   410"), r.out());
        r = run("info", "--model", tmp.resolve("nope").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("nope"), r.err());
    }

    @Test
    void lossAndGradRejectBadTokens() {
        Path dir = tiny();
        Path oov = tmp.resolve("oov.npy");
        Npy.write(oov, new int[]{1, 2, 3, 512}, 2, 2);
        Path rank1 = tmp.resolve("rank1.npy");
        Npy.write(rank1, new int[]{1, 2, 3}, 3);
        Path empty = tmp.resolve("empty.npy");
        Npy.write(empty, new int[0], 0, 5);
        Path longer = tmp.resolve("long.npy");
        Npy.write(longer, new int[65], 1, 65);
        Path floats = tmp.resolve("floats.npy");
        Npy.write(floats, new float[]{1, 2, 3, 4}, 2, 2);
        for (String cmd : new String[]{"loss", "grad"}) {
            String out = tmp.resolve(cmd.equals("loss") ? "l.npy" : "g.safetensors").toString();
            check(run(cmd, "--model", dir.toString(), "--tokens", oov.toString(), "--out", out, "--backend", "cpu"), "oov.npy", "512");
            check(run(cmd, "--model", dir.toString(), "--tokens", rank1.toString(), "--out", out), "rank1.npy", "rank 1");
            check(run(cmd, "--model", dir.toString(), "--tokens", empty.toString(), "--out", out), "empty.npy", "empty");
            check(run(cmd, "--model", dir.toString(), "--tokens", longer.toString(), "--out", out), "long.npy", "64");
            check(run(cmd, "--model", dir.toString(), "--tokens", floats.toString(), "--out", out), "floats.npy", "<f4");
            check(run(cmd, "--model", dir.toString(), "--tokens", tmp.resolve("absent.npy").toString(), "--out", out), "absent.npy");
            check(run(cmd, "--model", tmp.resolve("absent").toString(), "--tokens", oov.toString(), "--out", out), "absent");
        }
        Path ok = tmp.resolve("ok.npy");
        Npy.write(ok, new int[]{1, 2, 3, 4}, 2, 2);
        check(run("loss", "--model", dir.toString(), "--tokens", ok.toString(), "--out", tmp.resolve("l.npy").toString(),
                "--backend", "tpu"), "--backend", "tpu");
    }

    private static void check(Result r, String... parts) {
        assertEquals(2, r.code(), r.out() + r.err());
        for (String p : parts) assertTrue(r.err().contains(p), r.err());
    }

    @Test
    void lossGradBenchOnCpu() throws Exception {
        Assumptions.assumeTrue(cpuPresent(), "libspectro_cpu.so not built");
        Path dir = tiny();
        int B = 5, T = 16;
        int[] t = new int[B * T];
        for (int i = 0; i < t.length; i++) t[i] = (i * 37 + 11) % 512;
        Path x = tmp.resolve("x.npy");
        Npy.write(x, t, B, T);
        Path l1 = tmp.resolve("l1.npy"), l2 = tmp.resolve("l2.npy");
        Result r = run("loss", "--model", dir.toString(), "--tokens", x.toString(), "--out", l1.toString(), "--backend", "cpu");
        assertEquals(0, r.code(), r.err());
        // chunked: 2 rows per native batch gives the same losses
        r = run("loss", "--model", dir.toString(), "--tokens", x.toString(), "--out", l2.toString(), "--backend", "cpu",
                "--max-batch-tokens", "32");
        assertEquals(0, r.code(), r.err());
        Npy.Floats a = Npy.readFloats(l1), b = Npy.readFloats(l2);
        assertArrayEquals(new long[]{B, T - 1}, a.shape());
        for (int i = 0; i < a.data().length; i++) {
            assertTrue(Float.isFinite(a.data()[i]));
            assertEquals(Math.log(512), a.data()[i], 0.5);
            assertEquals(a.data()[i], b.data()[i], 1e-5);
        }
        Path g1 = tmp.resolve("g1.safetensors"), g2 = tmp.resolve("g2.safetensors");
        assertEquals(0, run("grad", "--model", dir.toString(), "--tokens", x.toString(), "--out", g1.toString(), "--backend", "cpu").code());
        assertEquals(0, run("grad", "--model", dir.toString(), "--tokens", x.toString(), "--out", g2.toString(), "--backend", "cpu",
                "--max-batch-tokens", "32").code());
        try (SafeTensors s1 = SafeTensors.open(g1); SafeTensors s2 = SafeTensors.open(g2)) {
            assertEquals(28, s1.entries().size());
            float[] e1 = s1.readFloats("embed_out.weight"), e2 = s2.readFloats("embed_out.weight");
            double norm = 0;
            for (int i = 0; i < e1.length; i++) {
                norm += e1[i] * e1[i];
                assertEquals(e1[i], e2[i], 1e-6 + 1e-3 * Math.abs(e1[i]));
            }
            assertTrue(norm > 0);
        }
        r = run("bench", "--preset", "tiny", "--batch", "2", "--seq", "16", "--iters", "2", "--warmup", "1", "--backend", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().lines().anyMatch(s -> s.startsWith("{\"bench\":")), r.out());
    }

    @Test
    void costCountsASweepAndRefusesBadInput() {
        Result r = run("cost", "--preset", "pythia-1.4b", "--settings", "pythia-1.4b", "--seq", "512",
                "--probe-tokens", "4250000", "--cache-mb", "100000");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("410 components (default) + the full run"), r.out());
        assertTrue(r.out().contains("| heads | 384 |"), r.out());
        assertTrue(r.out().contains("cached 100% of probe"), r.out());
        assertTrue(r.out().contains("| seconds per chi vector | 0.4098 |"), r.out());
        r = run("cost", "--preset", "pythia-1.4b", "--settings", "pythia-1.4b", "--probe-tokens", "4250000", "--shards", "8");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("| wall time on 8 devices (--shard K/8; the largest shard), hours |"), r.out());
        // from a checkpoint's config, every run listed; the default budget leaves most of a big probe set uncached
        Path dir = tiny();
        r = run("cost", "--model", dir.toString(), "--probe-tokens", "100000", "--seq", "64", "--per-run", "--cache-mb", "1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("| l1h3 (layer 1) | 1 |"), r.out());
        assertTrue(r.out().contains("cached 0% of probe, 0% of sampling, 50% of minibatch"), r.out());
        for (String[] bad : new String[][]{{"--mfu", "0"}, {"--mfu", "1.5"}, {"--seq", "1"}, {"--seq", "4096"},
                {"--probe-tokens", "0"}, {"--batch", "1000"}, {"--settings", "huge"}, {"--cache-mb", "lots"}, {"--cache-mb", "-1"}, {"--shards", "0"}}) {
            String[] args = bad[0].equals("--probe-tokens") ? new String[]{"cost", "--preset", "pythia-160m", bad[0], bad[1]}
                    : new String[]{"cost", "--preset", "pythia-160m", "--probe-tokens", "1000", bad[0], bad[1]};
            r = run(args);
            assertEquals(2, r.code(), String.join(" ", bad) + ": " + r.err());
            assertTrue(r.err().startsWith("spectro cost: "), r.err());
        }
        if (cpuPresent()) { // --calibrate: measured rates and the predicted time on this machine
            r = run("cost", "--model", dir.toString(), "--probe-tokens", "300", "--seq", "16", "--batch", "2", "--calibrate",
                    "--backend", "cpu", "--threads", "1");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("measured     backend cpu, fp32, random weights: forward+backward "), r.out());
            assertTrue(r.out().matches("(?s).*predicted    on this machine: [0-9.]+ (s|min|h) for the sweep, [0-9.]+ s per chi vector.*"), r.out());
            assertEquals(2, run("cost", "--preset", "tiny", "--probe-tokens", "300", "--calibrate", "--backend", "cpu",
                    "--precision", "bf16").code());
        }
        r = run("cost", "--probe-tokens", "1000");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("exactly one of --model DIR and --preset NAME"), r.err());
        r = run("cost", "--model", tmp.resolve("missing").toString(), "--probe-tokens", "1000");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("missing"), r.err());
    }
}
