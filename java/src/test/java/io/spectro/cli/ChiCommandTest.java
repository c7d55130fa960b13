package io.spectro.cli;

import io.spectro.io.Npy;
import io.spectro.sampling.TinyFixture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** spectro chi end to end through Main.run on a random tiny checkpoint, then report on its run. */
class ChiCommandTest {
    private static int run(String... args) {
        PrintStream out = System.out, err = System.err;
        try {
            System.setOut(new PrintStream(new ByteArrayOutputStream()));
            System.setErr(new PrintStream(new ByteArrayOutputStream()));
            return Main.run(args);
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    /** A random tiny checkpoint (dir/m) and its probe (dir/p.npy, 3 x 16) and sampling (dir/s.npy, 8 x 16) sets. */
    private static Path tinyInputs(Path dir) {
        TinyFixture.assumeNative();
        Path model = dir.resolve("m");
        assertEquals(0, run("init", "--preset", "tiny", "--seed", "1", "--out", model.toString()));
        Npy.write(dir.resolve("p.npy"), TinyFixture.tokens(3, 16, 512, 1), 3, 16);
        Npy.write(dir.resolve("s.npy"), TinyFixture.tokens(8, 16, 512, 2), 8, 16);
        return model;
    }

    @Test
    void chiWritesEveryPromisedOutputAndReportReadsThem(@TempDir Path dir) throws Exception {
        Path model = tinyInputs(dir);
        Path out = dir.resolve("run");
        String[] args = {"chi", "--model", model.toString(), "--probe", dir.resolve("p.npy").toString(),
                "--sampling", dir.resolve("s.npy").toString(), "--out", out.toString(), "--chains", "2", "--draws", "3",
                "--burnin", "1", "--batch", "2", "--backend", "cpu", "--quiet"};
        assertEquals(0, run(args));
        Npy.Floats chi = Npy.readFloats(out.resolve("chi.npy"));
        assertArrayEquals(new long[]{3 * 15, 12}, chi.shape());
        assertTrue(Files.readString(out.resolve("components.json")).startsWith("[\"embed\",\"l0h0\""));
        assertEquals(3 * 15 + 1, Files.readAllLines(out.resolve("tokens.csv")).size());
        assertTrue(Files.size(out.resolve("tokens.arrow")) > 0);
        assertArrayEquals(Npy.readInts(dir.resolve("p.npy")).data(), Npy.readInts(out.resolve("probe.npy")).data()); // for upsample fit
        assertTrue(Files.readString(out.resolve("diagnostics.json")).contains("\"rhat\""));
        assertTrue(Files.exists(out.resolve("plots/l1h2.png")) && Files.exists(out.resolve("plots/full.png")));
        // the same command again resumes everything and gives the same file
        byte[] first = Files.readAllBytes(out.resolve("chi.npy"));
        assertEquals(0, run(args));
        assertArrayEquals(first, Files.readAllBytes(out.resolve("chi.npy")));
        // a run directory written before the manifest had "precision" resumes as fp32
        Path manifest = out.resolve("manifest.json");
        String withPrecision = Files.readString(manifest);
        assertTrue(withPrecision.contains("\"precision\" : \"fp32\""), withPrecision);
        Files.writeString(manifest, withPrecision.replaceAll(",\\s*\"precision\" : \"fp32\"", ""));
        assertFalse(Files.readString(manifest).contains("precision"));
        assertEquals(0, run(args));
        assertArrayEquals(first, Files.readAllBytes(out.resolve("chi.npy")));
        // bf16 is the CUDA backend's mode: refused on the CPU backend with a clear message (exit 2)
        assertEquals(2, run(with(args, dir.resolve("run-bf16"), "--precision", "bf16")));
        // two shards (e.g. two GPUs) into one directory write no outputs; the unsharded command assembles them
        Path sharded = dir.resolve("run-sharded");
        for (String k : new String[]{"1/2", "0/2"}) {
            assertEquals(0, run(with(args, sharded, "--shard", k)));
            assertFalse(Files.exists(sharded.resolve("chi.npy")));
        }
        assertEquals(0, run(with(args, sharded)));
        assertArrayEquals(first, Files.readAllBytes(sharded.resolve("chi.npy")));
        assertEquals(2, run(with(args, dir.resolve("run-badshard"), "--shard", "2/2")));
        // the cache budget changes only speed: nothing cached (--cache-mb 0) gives the same bytes as auto
        assertEquals(0, run(with(args, dir.resolve("run-nocache"), "--cache-mb", "0")));
        assertArrayEquals(first, Files.readAllBytes(dir.resolve("run-nocache").resolve("chi.npy")));
        // --target-reliability: bad values are refused (exit 2) before anything is written; a valid one runs and
        // prints the draws and target columns
        for (String[] bad : new String[][]{{"--target-reliability", "1.5"}, {"--max-draws", "8"},
                {"--target-reliability", "0.9", "--max-draws", "2"}, {"--target-reliability", "0.9", "--chains", "1"}}) {
            assertEquals(2, run(with(args, dir.resolve("run-badtarget"), bad)), String.join(" ", bad));
            assertFalse(Files.exists(dir.resolve("run-badtarget")), String.join(" ", bad));
        }
        assertEquals(0, run(with(args, dir.resolve("run-target"), "--target-reliability", "0.5", "--max-draws", "6")));
        String diag = Files.readString(dir.resolve("run-target/diagnostics.json"));
        assertTrue(diag.contains("\"targetReached\"") && diag.contains("\"draws\""), diag);
        assertTrue(Files.readString(dir.resolve("run-target/manifest.json")).contains("\"targetReliability\" : 0.5"));
        // bad input: exit code 2
        Npy.write(dir.resolve("bad.npy"), new int[]{1, 2, 3}, 3);
        args[4] = dir.resolve("bad.npy").toString();
        args[8] = dir.resolve("run2").toString();
        assertEquals(2, run(args));
    }

    @Test
    void linearEstimatorWritesARunThatReportReads(@TempDir Path dir) throws Exception {
        Path model = tinyInputs(dir);
        Path out = dir.resolve("lin");
        String[] args = {"chi", "--model", model.toString(), "--probe", dir.resolve("p.npy").toString(),
                "--sampling", dir.resolve("s.npy").toString(), "--out", out.toString(), "--estimator", "linear",
                "--batch", "2", "--backend", "cpu", "--quiet"};
        assertEquals(0, run(args));
        Npy.Floats chi = Npy.readFloats(out.resolve("chi.npy"));
        assertArrayEquals(new long[]{3 * 15, 12}, chi.shape());
        for (float v : chi.data()) assertTrue(Float.isFinite(v));
        String lr = Files.readString(out.resolve("linear_response.json"));
        assertTrue(lr.contains("\"estimator\" : \"linear-response\"") && lr.contains("\"cgSteps\""), lr);
        assertTrue(Files.readString(out.resolve("diagnostics.json")).contains("linear response: no chains"));
        assertFalse(Files.exists(out.resolve("manifest.json"))); // not an SGLD run: nothing to resume
        // deterministic: the same command gives the same bytes
        byte[] first = Files.readAllBytes(out.resolve("chi.npy"));
        assertEquals(0, run(args));
        assertArrayEquals(first, Files.readAllBytes(out.resolve("chi.npy")));
        assertEquals(0, run("report", "--run", out.toString(), "--k=10", "--min-size=5"));
        assertTrue(Files.exists(out.resolve("report/index.html")));
        // the explorer says the run had no chains (not "12 ok", which would read as checked chains)
        assertTrue(Files.readString(out.resolve("report/index.html")).contains("no chains: linear response"));
        // options that need chains, an unknown estimator, and an SGLD run's directory are refused (exit 2)
        assertEquals(2, run(with(args, dir.resolve("lin-shard"), "--shard", "0/2")));
        assertEquals(2, run(with(args, dir.resolve("lin-target"), "--target-reliability", "0.5")));
        String[] other = args.clone();
        other[10] = "exact";
        assertEquals(2, run(with(other, dir.resolve("lin-bad"))));
        assertFalse(Files.exists(dir.resolve("lin-bad")));
        Path sgld = dir.resolve("sgld");
        assertEquals(0, run("chi", "--model", model.toString(), "--probe", dir.resolve("p.npy").toString(), "--sampling",
                dir.resolve("s.npy").toString(), "--out", sgld.toString(), "--chains", "1", "--draws", "2", "--burnin", "1",
                "--batch", "2", "--backend", "cpu", "--quiet", "--no-plots"));
        byte[] sgldChi = Files.readAllBytes(sgld.resolve("chi.npy"));
        assertEquals(2, run(with(args, sgld)));
        assertArrayEquals(sgldChi, Files.readAllBytes(sgld.resolve("chi.npy")));
        // --estimator gaussian: the same run layout, deterministic for a seed; --pairs 0 is refused
        String[] base = args.clone();
        base[10] = "gaussian";
        String[] gauss = with(base, dir.resolve("gauss"), "--pairs", "2");
        assertEquals(0, run(gauss));
        assertArrayEquals(new long[]{3 * 15, 12}, Npy.readFloats(dir.resolve("gauss/chi.npy")).shape());
        assertTrue(Files.readString(dir.resolve("gauss/gaussian_pairs.json")).contains("\"drawsPerComponent\" : 4"));
        assertEquals("no chains: gaussian pairs", io.spectro.chi.Health.badge(dir.resolve("gauss")));
        byte[] g1 = Files.readAllBytes(dir.resolve("gauss/chi.npy"));
        assertEquals(0, run(gauss));
        assertArrayEquals(g1, Files.readAllBytes(dir.resolve("gauss/chi.npy")));
        assertEquals(2, run(with(base, dir.resolve("gauss0"), "--pairs", "0")));
        assertFalse(Files.exists(dir.resolve("gauss0")));
        // a chain-free run records the SGLD manifest's provenance keys, so upsample fit trains on it
        var json = tools.jackson.databind.json.JsonMapper.shared();
        var sgldManifest = json.readTree(sgld.resolve("manifest.json").toFile());
        var block = json.readTree(dir.resolve("gauss/gaussian_pairs.json").toFile()).get("run");
        for (String k : new String[]{"modelSha256", "dataSha256", "config", "components", "componentCount", "probeShape", "samplingShape"})
            assertEquals(sgldManifest.get(k), block.get(k), k);
        assertEquals(block, json.readTree(out.resolve("linear_response.json").toFile()).get("run"));
        assertEquals(0, run("upsample", "fit", "--run", dir.resolve("gauss").toString(), "--model", model.toString(), "--out",
                dir.resolve("aux").toString(), "--regressor", "ridge", "--holdout", "0.2", "--backend", "cpu", "--quiet"));
        assertTrue(Files.readString(dir.resolve("aux/aux.json")).contains(block.get("modelSha256").asString()));
        // a description written before the block existed is refused (exit 2), naming the file; no AUX is left
        var old = (tools.jackson.databind.node.ObjectNode) json.readTree(dir.resolve("gauss/gaussian_pairs.json").toFile());
        old.remove("run");
        Files.writeString(dir.resolve("gauss/gaussian_pairs.json"), old.toPrettyString());
        assertEquals(2, run("upsample", "fit", "--run", dir.resolve("gauss").toString(), "--model", model.toString(), "--out",
                dir.resolve("aux-old").toString(), "--regressor", "ridge", "--holdout", "0.2", "--backend", "cpu", "--quiet"));
        assertFalse(Files.exists(dir.resolve("aux-old/aux.json")));
    }

    /** args with --out (at index 8) replaced and extra options appended. */
    private static String[] with(String[] args, Path out, String... extra) {
        String[] a = java.util.Arrays.copyOf(args, args.length + extra.length);
        a[8] = out.toString();
        System.arraycopy(extra, 0, a, args.length, extra.length);
        return a;
    }
}
