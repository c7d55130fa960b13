package io.spectro.spark;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static io.spectro.spark.Fixture.concat;
import static io.spectro.spark.Fixture.quiet;
import static org.junit.jupiter.api.Assertions.*;

/** spectro-spark in local mode (one JVM, Spark's local scheduler) against the single-process spectro chi. */
class SparkChiLocalTest {
    private final Fixture fx = Fixture.get();

    @Test
    void localTwoSlotsGivesTheSingleProcessBytesAndAResubmissionComputesNothing() throws Exception {
        Path out = fx.dir.resolve("local2");
        Fixture.Out r = quiet(() -> SparkChi.run(concat(fx.chiArgs(out), "--conf", "spark.master=local[2]")));
        assertEquals(0, r.code(), r.text());
        assertArrayEquals(fx.reference, Files.readAllBytes(out.resolve("chi.npy")));
        // the driver reads the per-chain sums too: the standard errors and each component's health
        assertArrayEquals(fx.referenceSe, Files.readAllBytes(out.resolve("chi_se.npy")));
        tools.jackson.databind.ObjectMapper json = new tools.jackson.databind.ObjectMapper();
        tools.jackson.databind.JsonNode health = json.readTree(out.resolve("diagnostics.json").toFile()).get("health");
        assertEquals(12, health.size(), health.toString());
        assertEquals(json.readTree(fx.dir.resolve("ref/diagnostics.json").toFile()).get("health"), health);
        assertTrue(r.text().contains("13 to compute"), r.text());
        assertTrue(r.text().contains("done   l1mlp"), "per-component progress on the driver: " + r.text());
        assertFalse(Files.list(out).anyMatch(p -> p.getFileName().toString().startsWith(".spark-visible")), "the marker is removed");
        // submitting the same job again finds every run finished: no Spark job at all, the same bytes
        Map<String, Long> before = stateTimes(out);
        Fixture.Out again = quiet(() -> SparkChi.run(concat(fx.chiArgs(out), "--conf", "spark.master=local[2]")));
        assertEquals(0, again.code(), again.text());
        assertTrue(again.text().contains("0 to compute, 13 finished before"), again.text());
        assertEquals(before, stateTimes(out), "no state file rewritten");
        assertArrayEquals(fx.reference, Files.readAllBytes(out.resolve("chi.npy")));
    }

    @Test
    void aTaskFailingOnceIsRetriedAndADuplicateAfterItsStateIsHarmless() throws Exception {
        Path out = fx.dir.resolve("faults");
        // local[2,2]: two slots, a task may fail once (Spark's local mode does not retry by default).
        // Run 3 dies before computing (the retry computes it); run 5 dies after writing its state (the retry
        // is a duplicate that finds the state and computes nothing)
        Fixture.Out r = quiet(() -> SparkChi.run(concat(fx.chiArgs(out), "--conf", "spark.master=local[2,2]",
                "--test-fail-once", "3:before,5:after")));
        assertEquals(0, r.code(), r.text());
        assertTrue(r.text().contains("failed l0h2"), r.text());
        assertTrue(r.text().contains("failed l0mlp"), r.text());
        assertTrue(r.text().contains("(attempt 2)"), r.text());
        assertArrayEquals(fx.reference, Files.readAllBytes(out.resolve("chi.npy")));
        try (Stream<Path> s = Files.list(out.resolve("state"))) {
            assertTrue(s.noneMatch(p -> p.toString().endsWith(".tmp")), "no temp file left");
        }
    }

    @Test
    void badInputGivesAClearMessageAndCorruptsNothing() throws Exception {
        Path out = fx.dir.resolve("bad"); // a finished sweep: a copy of the single-process run
        try (Stream<Path> s = Files.walk(fx.dir.resolve("ref"))) {
            for (Path p : s.toList()) Files.copy(p, out.resolve(fx.dir.resolve("ref").relativize(p).toString()));
        }
        Map<String, Long> before = stateTimes(out);
        byte[] chi = Files.readAllBytes(out.resolve("chi.npy"));

        // a manifest of a different sweep (another seed): refused by the driver before any task
        Fixture.Out other = quiet(() -> SparkChi.run(concat(fx.chiArgs(out), "--seed", "7", "--conf", "spark.master=local[2]")));
        assertEquals(2, other.code(), other.text());
        assertTrue(other.text().contains("holds a different run") && other.text().contains("sampler differs"), other.text());
        assertEquals(before, stateTimes(out));
        assertArrayEquals(chi, Files.readAllBytes(out.resolve("chi.npy")));

        // GPUs requested without a discovery script, or with one that does not exist: refused before anything is written
        Path fresh = fx.dir.resolve("gpu");
        String[] gpu = concat(java.util.Arrays.stream(fx.chiArgs(fresh)).map(a -> a.equals("cpu") ? "cuda" : a).toArray(String[]::new), "--conf", "spark.master=spark://127.0.0.1:1",
                "--conf", "spark.task.resource.gpu.amount=1", "--conf", "spark.executor.resource.gpu.amount=1");
        Fixture.Out noScript = quiet(() -> SparkChi.run(gpu));
        assertEquals(2, noScript.code(), noScript.text());
        assertTrue(noScript.text().contains("spark.executor.resource.gpu.discoveryScript is not set"), noScript.text());
        Fixture.Out missing = quiet(() -> SparkChi.run(concat(gpu, "--conf", "spark.executor.resource.gpu.discoveryScript=/nonexistent/gpus.sh")));
        assertEquals(2, missing.code(), missing.text());
        assertTrue(missing.text().contains("/nonexistent/gpus.sh: no such file"), missing.text());
        Fixture.Out local = quiet(() -> SparkChi.run(concat(java.util.Arrays.stream(fx.chiArgs(fresh)).map(a -> a.equals("cpu") ? "cuda" : a)
                .toArray(String[]::new), "--conf", "spark.master=local[2]", "--conf", "spark.task.resource.gpu.amount=1")));
        assertEquals(2, local.code(), local.text());
        assertTrue(local.text().contains("local mode does not schedule GPUs"), local.text());
        Fixture.Out cpu = quiet(() -> SparkChi.run(concat(fx.chiArgs(fresh), "--conf", "spark.task.resource.gpu.amount=1")));
        assertEquals(2, cpu.code(), cpu.text());
        assertTrue(cpu.text().contains("--backend cpu with spark.task.resource.gpu.amount=1"), cpu.text());
        assertFalse(Files.exists(fresh), "nothing written for a refused job");
        // a test-only option with a malformed value
        assertEquals(2, quiet(() -> SparkChi.run(concat(fx.chiArgs(fresh), "--test-fail-once", "x"))).code());
    }

    /** Modification times of the state files: equal maps mean nothing was rewritten. */
    static Map<String, Long> stateTimes(Path out) throws Exception {
        Map<String, Long> m = new TreeMap<>();
        try (Stream<Path> s = Files.list(out.resolve("state"))) {
            for (Path p : s.toList()) m.put(p.getFileName().toString(), Files.getLastModifiedTime(p).toMillis());
        }
        m.put("manifest.json", Files.getLastModifiedTime(out.resolve("manifest.json")).toMillis());
        return m;
    }
}
