package io.spectro.spark;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.spectro.spark.Fixture.concat;
import static io.spectro.spark.Fixture.quiet;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A Spark standalone cluster started by the test itself (a Master and two Workers, each a JVM from the
 * module's class path, one core each): the sweep gives the single-process bytes; killing one worker and its
 * executor by pid mid-run still gives them (Spark reruns the lost task on the other worker); a worker whose
 * executors cannot see the run directory (a private mount namespace hides it) makes the job refuse with a
 * clear message.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class StandaloneClusterTest {
    private static final List<Process> procs = new ArrayList<>();
    private static Path home, logs;
    private static String master, classPath, jvmFlags;
    private static Process workerA, workerB;

    @BeforeAll
    static void startCluster() throws Exception {
        home = Files.createTempDirectory("spectro-spark-home");
        Files.createDirectories(home.resolve("jars")); // an empty Spark distribution: executors take Spark from extraClassPath
        logs = home.resolve("logs");
        Files.createDirectories(logs);
        classPath = Path.of("target/classes").toAbsolutePath() + ":" + Files.readString(Path.of("target/classpath.txt")).strip();
        jvmFlags = "--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xss8m --add-opens=java.base/java.nio=ALL-UNNAMED"
                + " --sun-misc-unsafe-memory-access=allow -Dspectro.native.dir=" + System.getProperty("spectro.native.dir");
        int port = freePort();
        master = "spark://127.0.0.1:" + port;
        start("master", List.of(), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", "" + port,
                "--webui-port", "" + freePort());
        awaitLog("master", "I have been elected leader");
        workerA = startWorker("workerA", List.of());
        workerB = startWorker("workerB", List.of());
        awaitLog("workerA", "Successfully registered with master");
        awaitLog("workerB", "Successfully registered with master");
    }

    @AfterAll
    static void stopCluster() {
        for (Process p : procs) kill(p);
        Fixture.delete(home);
    }

    @Test
    @Order(1)
    void twoWorkersGiveTheSingleProcessBytesAlsoWhenOneIsKilledMidRun() throws Exception {
        Fixture fx = Fixture.get();
        // one job on both workers; worker B and its executor are killed (a lost machine) once two runs are
        // finished: B is in the middle of one, which Spark reruns on worker A
        Path killed = fx.dir.resolve("standalone");
        CompletableFuture<Fixture.Out> job = CompletableFuture.supplyAsync(() -> quiet(() -> SparkChi.run(concat(fx.chiArgs(killed), conf()))));
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(4);
        while ((finishedRuns(killed) < 2 || !runningTaskOn("workerB")) && !job.isDone() && System.nanoTime() < deadline) Thread.sleep(100);
        assertFalse(job.isDone(), "the job ended before the kill");
        List<ProcessHandle> executors = workerB.descendants().toList();
        assertFalse(executors.isEmpty(), "worker B runs an executor");
        int before = finishedRuns(killed);
        kill(workerB);
        Fixture.Out k = job.get(5, TimeUnit.MINUTES);
        assertEquals(0, k.code(), k.text());
        assertTrue(before < 13, "killed mid-run (" + before + " of 13 runs finished)");
        assertTrue(k.text().contains("executor 0 on") && k.text().contains("executor 1 on"), "both workers ran tasks: " + k.text());
        assertTrue(k.text().contains("failed") && k.text().contains("worker lost"), "the lost task is reported and rerun: " + k.text());
        assertArrayEquals(fx.reference, Files.readAllBytes(killed.resolve("chi.npy")));
    }

    @Test
    @Order(2) // kills the two workers
    void aRunDirectoryTheExecutorsCannotSeeIsRefused() throws Exception {
        Fixture fx = Fixture.get();
        // a worker in its own mount namespace with an empty tmpfs over the fixture's directory: its
        // executors see no model, no tokens and no run directory (a driver-local --out on a real cluster)
        boolean canHide = new ProcessBuilder("unshare", "-m", "sh", "-c", "mount -t tmpfs none " + home + " && true")
                .redirectErrorStream(true).start().waitFor() == 0;
        org.junit.jupiter.api.Assumptions.assumeTrue(canHide, "needs unshare -m and mount (root) to hide a directory from one worker");
        Process hidden = startWorker("workerHidden", List.of("unshare", "-m", "sh", "-c",
                "mount -t tmpfs none " + fx.dir + " && exec \"$0\" \"$@\""));
        awaitLog("workerHidden", "Successfully registered with master");
        // only the hidden worker is left
        kill(workerA);
        kill(workerB);
        Path out = fx.dir.resolve("invisible");
        Fixture.Out r = quiet(() -> SparkChi.run(concat(fx.chiArgs(out), conf())));
        assertEquals(2, r.code(), r.text());
        assertTrue(r.text().contains("is not visible from executor") && r.text().contains("file system every executor mounts"), r.text());
        try (Stream<Path> s = Files.list(out)) {
            // nothing written: the manifest appears only once a task has validated the model (issue 12)
            assertEquals(List.of(), s.map(p -> p.getFileName().toString()).toList(), "nothing written");
        }
        kill(hidden);
    }

    private static String[] conf() {
        return new String[]{"--conf", "spark.master=" + master, "--conf", "spark.driver.host=127.0.0.1",
                "--conf", "spark.executor.memory=512m", "--conf", "spark.executor.cores=1",
                "--conf", "spark.executor.extraJavaOptions=" + jvmFlags, "--conf", "spark.executor.extraClassPath=" + classPath};
    }

    /** Whether the worker's executor is running a task now (its log has more "Running task" than "Finished task" lines). */
    private static boolean runningTaskOn(String worker) throws IOException {
        try (Stream<Path> s = Files.walk(home.resolve(worker + "-work"))) {
            for (Path log : s.filter(p -> p.getFileName().toString().equals("stderr")).toList()) {
                List<String> lines = Files.readAllLines(log);
                long running = lines.stream().filter(l -> l.contains("Running task")).count();
                long finished = lines.stream().filter(l -> l.contains("Finished task")).count();
                if (running > finished) return true;
            }
        } catch (java.io.UncheckedIOException e) {
            return false; // a file came or went during the walk
        }
        return false;
    }

    private static int finishedRuns(Path out) throws IOException {
        Path state = out.resolve("state");
        if (!Files.isDirectory(state)) return 0;
        try (Stream<Path> s = Files.list(state)) {
            return (int) s.filter(p -> p.toString().endsWith(".bin")).count();
        }
    }

    private static Process startWorker(String name, List<String> prefix) throws IOException {
        Path work = Files.createDirectories(home.resolve(name + "-work"));
        return start(name, prefix, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                "--work-dir", work.toString(), "--webui-port", "" + freePort(), master);
    }

    private static Process start(String name, List<String> prefix, String main, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m", "-cp", classPath, main));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(logs.resolve(name + ".log").toFile());
        pb.environment().put("SPARK_HOME", home.toString());
        pb.environment().put("SPARK_SCALA_VERSION", "2.13");
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        procs.add(p);
        return p;
    }

    private static void awaitLog(String name, String line) throws Exception {
        Path log = logs.resolve(name + ".log");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (System.nanoTime() < deadline) {
            if (Files.exists(log) && Files.readString(log).contains(line)) return;
            Thread.sleep(200);
        }
        fail(name + " did not log '" + line + "' within 2 minutes:\n" + (Files.exists(log) ? Files.readString(log) : "(no log)"));
    }

    /** SIGKILL a process and then its descendants (a worker's executors), each by pid. */
    private static void kill(Process p) {
        List<ProcessHandle> kids = p.descendants().toList();
        p.destroyForcibly();
        for (ProcessHandle h : kids) h.destroyForcibly();
        try {
            p.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
