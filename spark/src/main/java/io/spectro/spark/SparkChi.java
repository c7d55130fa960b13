package io.spectro.spark;

import io.spectro.SpectroException;
import io.spectro.chi.ChiRun;
import io.spectro.cli.ChiCommand;
import io.spectro.cli.Main;
import io.spectro.cost.CostModel;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;

/**
 * {@code spectro-spark chi}: a chi sweep as one Spark job (docs/spark.md). The driver validates the options
 * and writes the manifest ({@link ChiRun#prepare}), makes the full run and every unfinished component one
 * task ({@link RunTask}: one GPU each when the job schedules GPUs), reports progress, and once every run's
 * state file is in the shared run directory assembles the outputs ({@link ChiRun#assemble}), byte-identical
 * to a single-process {@code spectro chi}.
 */
@Command(name = "spectro-spark",
        description = {"Run `spectro chi` as a Spark job: every run of the sweep (the full run, each component) is one task.",
                "Takes every `spectro chi` option; --out must be a directory every executor sees at the same path.",
                "GPUs: spark.executor.resource.gpu.amount, spark.task.resource.gpu.amount=1 and a discovery script",
                "(scripts/spark-gpu-discovery); without them tasks use --backend/--device (e.g. --backend cpu)."})
public final class SparkChi implements Callable<Integer> {
    @Mixin ChiCommand chi;
    @Option(names = "--conf", description = "KEY=VALUE: a Spark setting on top of spark-submit's (repeatable)") List<String> conf = new ArrayList<>();
    @Option(names = "--test-fail-once", hidden = true, description = "test only: RUN:before|after[,...] makes that run's first attempt fail before or after computing it") String failOnce;
    @Spec CommandSpec spec;

    private final String[] args;

    private SparkChi(String[] args) {
        this.args = args.clone();
    }

    public static void main(String[] args) {
        int rc = run(args);
        if (rc != 0) System.exit(rc); // spark-submit's JVM exits with the job's status
    }

    /** Runs the job and returns the exit code: 0 ok, 1 internal error, 2 bad input (nothing corrupted). */
    public static int run(String... args) {
        return Main.execute(new SparkChi(args), args);
    }

    @Override
    public Integer call() {
        Path out = chi.out().toAbsolutePath().normalize(); // executors resolve relative paths against their own working directories
        SparkConf sc = new SparkConf().setAppName("spectro chi " + out.getFileName());
        for (String kv : conf) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new SpectroException("--conf '" + kv + "': expected KEY=VALUE");
            sc.set(kv.substring(0, eq), kv.substring(eq + 1));
        }
        if (!sc.contains("spark.master")) sc.setMaster("local[2]");
        if (failOnce != null && !failOnce.matches("-?\\d+:(before|after)(,-?\\d+:(before|after))*"))
            throw new SpectroException("--test-fail-once '" + failOnce + "': expected RUN:before or RUN:after, comma-separated");

        List<String> components;
        double[] weight;
        ChiCommand.Setup su;
        ChiRun.Sweep sweep;
        chi.checkOptions(); // bad options before any file is opened
        try (Checkpoint ck = Checkpoint.open(chi.model())) {
            su = chi.setup(ck);
            if (su.options().target() != null) // the components' rounds need the full run's chains, which a parallel job does not have yet
                throw new SpectroException("--target-reliability is not supported by spectro-spark (every component's rounds need the "
                        + "full run first); run spectro chi --target-reliability, or --shard 0/M first and then the other shards");
            GpuConf.check(sc, su.options());
            sweep = ChiRun.prepare(ck, su.inputs(), out, su.options());
            components = sweep.names();
            weight = weights(ck.config(), su, components.size());
        }
        List<String> names = new ArrayList<>();
        names.add("full");
        names.addAll(components);
        List<Integer> pending = new ArrayList<>();
        for (int r = -1; r < components.size(); r++) if (!ChiRun.finished(out, r)) pending.add(r);
        // longest first (spectro cost's FLOPs): Spark hands partitions out in index order, so this is LPT list scheduling
        pending.sort(java.util.Comparator.comparingDouble((Integer r) -> -weight[r + 1]).thenComparingInt(r -> r));
        System.err.printf("spectro-spark: %d runs (full + %d components), %d to compute, %d finished before; run directory %s%n",
                components.size() + 1, components.size(), pending.size(), components.size() + 1 - pending.size(), out);

        long t0 = System.nanoTime();
        List<RunTask.Report> reports = pending.isEmpty() ? List.of() : runTasks(sc, out, pending, names, weight, components.size());
        double wall = (System.nanoTime() - t0) / 1e9;

        Map<String, List<String>> problems = new LinkedHashMap<>(); // message -> the runs it stopped
        int computed = 0;
        for (RunTask.Report r : reports) {
            switch (r.status()) {
                case COMPUTED -> { if (r.run() >= 0) computed++; }
                case FINISHED_BEFORE -> {}
                case NOT_VISIBLE, ERROR -> problems.computeIfAbsent(r.message(), m -> new ArrayList<>()).add(names.get(r.run() + 1));
            }
        }
        if (!problems.isEmpty()) {
            StringBuilder m = new StringBuilder();
            problems.forEach((msg, runs) -> m.append("\n  ").append(msg).append(" (runs: ").append(String.join(", ", runs)).append(")"));
            throw new SpectroException(problems.values().stream().mapToInt(List::size).sum()
                    + " run(s) not computed; finished runs are kept, fix this and submit the same job again:" + m);
        }
        overhead(reports, wall);
        for (int r = -1; r < components.size(); r++)
            if (!ChiRun.finished(out, r)) throw new SpectroException(out + ": run " + names.get(r + 1) + " has no state file after the job");
        chi.writeOutputs(ChiRun.assemble(out, sweep).timed(wall, computed), su);
        return 0;
    }

    private List<RunTask.Report> runTasks(SparkConf sc, Path out, List<Integer> pending, List<String> names, double[] weight, int components) {
        Path marker = out.resolve(".spark-visible-" + UUID.randomUUID());
        String nonce = UUID.randomUUID().toString();
        try {
            Files.createDirectories(out); // the manifest appears when the first task has validated the model
            Files.writeString(marker, nonce);
        } catch (IOException e) {
            throw new SpectroException(out + ": cannot write (" + e + ")", e);
        }
        SweepProgress progress = new SweepProgress(pending, names, weight, System.err);
        try (JavaSparkContext jsc = new JavaSparkContext(sc)) {
            jsc.setLogLevel(sc.get("spark.log.level", "WARN")); // the sweep's own lines, not Spark's INFO chatter
            jsc.sc().addSparkListener(progress);
            jsc.setJobGroup("spectro-chi", "chi sweep " + out.getFileName() + ": " + pending.size() + " runs", false);
            jsc.setCallSite("spectro chi: " + pending.size() + " runs of " + out.getFileName());
            // one partition per run, longest first: Spark places each on the next free slot (GPU)
            JavaRDD<Integer> runs = jsc.parallelize(pending, pending.size());
            RunTask task = new RunTask(chiArgs(), out, marker, nonce, components, failOnce);
            List<RunTask.Report> reports = runs.map(task).collect();
            String o = progress.overhead();
            if (o != null) System.err.println("spectro-spark: " + o);
            return reports;
        } catch (SpectroException e) {
            throw e;
        } catch (RuntimeException e) {
            // a task that failed spark.task.maxFailures times, a lost cluster: finished runs stay in the run directory
            throw new SpectroException("the Spark job failed (" + firstLine(e) + "); finished runs are kept in " + out
                    + ", submit the same job again to compute the rest", e);
        } finally {
            try {
                Files.deleteIfExists(marker);
            } catch (IOException ignored) {
                // a stale marker is harmless: every job writes its own
            }
        }
    }

    /** The command line the executors parse again: every `spectro chi` option, without the Spark-only ones. */
    private String[] chiArgs() {
        List<String> a = new ArrayList<>(Arrays.asList(args));
        for (int i = 0; i < a.size(); ) {
            String s = a.get(i);
            if (s.equals("--conf") || s.equals("--test-fail-once")) { a.remove(i); a.remove(i); }
            else if (s.startsWith("--conf=") || s.startsWith("--test-fail-once=")) a.remove(i);
            else i++;
        }
        // absolute paths: an executor's working directory is not the driver's
        for (String opt : List.of("--model", "--probe", "--sampling", "--out"))
            for (int i = 0; i + 1 < a.size(); i++)
                if (a.get(i).equals(opt)) a.set(i + 1, Path.of(a.get(i + 1)).toAbsolutePath().normalize().toString());
        return a.toArray(String[]::new);
    }

    /** Relative cost of each run (index run + 1) from spectro cost's FLOP counts, for the ETA; equal weights when it cannot say. */
    private static double[] weights(ModelConfig cfg, ChiCommand.Setup su, int components) {
        double[] w = new double[components + 1];
        Arrays.fill(w, 1);
        try {
            ChiRun.Options o = su.options();
            ChiRun.Inputs in = su.inputs();
            CostModel.Estimate e = CostModel.estimate(cfg, new CostModel.Options(o.sampler(), o.components(), in.probeT(), in.nProbe(),
                    in.nSampling(), o.fastPath(), Math.max(0, o.cacheBudgetBytes()), o.maxBatchTokens()));
            if (e.runs().size() == components + 1)
                for (int i = 0; i < w.length; i++) w[i] = e.runs().get(i).totalFlops();
        } catch (RuntimeException ignored) {
            // equal weights: the ETA is then by run count
        }
        return w;
    }

    /** Scheduling overhead per task: the task's wall time on the executor outside ChiRun.compute, and the driver's side. */
    private static void overhead(List<RunTask.Report> reports, double wall) {
        double inTask = 0, compute = 0;
        int n = 0;
        for (RunTask.Report r : reports)
            if (r.status() == RunTask.Status.COMPUTED) { inTask += r.taskSeconds(); compute += r.seconds(); n++; }
        if (n > 0)
            System.err.printf("spectro-spark: %d task(s) computed in %.1f s wall; per task %.2f s in ChiRun.compute (model load, L0, the run), %.3f s of spectro's setup before it (options, checkpoint, token sets)%n",
                    n, wall, compute / n, (inTask - compute) / n);
    }

    private static String firstLine(Throwable e) {
        String m = String.valueOf(e.getMessage());
        return m.lines().findFirst().orElse(m);
    }
}
