package io.spectro.spark;

import io.spectro.SpectroException;
import io.spectro.chi.ChiRun;
import io.spectro.cli.ChiCommand;
import io.spectro.model.Checkpoint;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.resource.ResourceInformation;
import picocli.CommandLine;

import java.io.IOException;
import java.io.Serializable;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * One Spark task: one run of the sweep (-1 = the full run, then the components), computed by
 * {@link ChiRun#compute} on the device Spark assigned, writing its state files atomically into the shared
 * run directory. A task whose run is already finished (a retried or speculative duplicate, a re-submitted
 * job) computes nothing; errors a retry cannot fix (bad input, an invisible run directory) come back as a
 * report instead of an exception, so Spark does not retry them.
 */
final class RunTask implements Function<Integer, RunTask.Report>, Serializable {
    private static final long serialVersionUID = 1L;

    /** How a task ended. */
    enum Status { COMPUTED, FINISHED_BEFORE, NOT_VISIBLE, ERROR }

    /**
     * @param seconds time inside {@link ChiRun#compute} (model load, L0, the run itself)
     * @param taskSeconds time from the task's start to its report
     */
    record Report(int run, Status status, String message, String executor, String host, String device, int attempt,
                  double seconds, double taskSeconds) implements Serializable {}

    private final String[] chiArgs;
    private final String runDir;
    private final String marker, nonce;
    private final int components;
    private final String failOnce; // test-only fault injection: comma-separated "RUN:before" / "RUN:after"

    RunTask(String[] chiArgs, Path runDir, Path marker, String nonce, int components, String failOnce) {
        this.chiArgs = chiArgs.clone();
        this.runDir = runDir.toString();
        this.marker = marker.toString();
        this.nonce = nonce;
        this.components = components;
        this.failOnce = failOnce;
    }

    @Override
    public Report call(Integer run) {
        long t0 = System.nanoTime();
        TaskContext tc = TaskContext.get();
        int attempt = tc == null ? 0 : tc.attemptNumber();
        String executor = SparkEnv.get() == null ? "?" : SparkEnv.get().executorId(), host = host();
        Path dir = Path.of(runDir);
        String device = "-";
        try {
            if (!visible()) {
                return new Report(run, Status.NOT_VISIBLE, "the run directory " + runDir + " is not visible from executor " + executor
                        + " on " + host + " (its marker " + marker + " is missing or differs): put --out on a file system every executor mounts at the same path",
                        executor, host, device, attempt, 0, seconds(t0));
            }
            if (ChiRun.finished(dir, run))
                return new Report(run, Status.FINISHED_BEFORE, "", executor, host, device, attempt, 0, seconds(t0));
            fault(run, attempt, "before");
            ChiCommand chi = new ChiCommand();
            new CommandLine(chi).parseArgs(withQuiet(chiArgs));
            int dev = gpu(tc);
            device = dev < 0 ? "cpu" : "cuda:" + dev;
            ChiRun.Computed c;
            try (Checkpoint ck = Checkpoint.open(chi.model())) {
                ChiCommand.Setup su = chi.setup(ck);
                ChiRun.Options o = su.options();
                o = o.on(dev >= 0 ? dev : o.device(), ChiRun.Shard.single(run, components));
                c = ChiRun.compute(ck, su.inputs(), dir, o, true); // a duplicate of this task waits for the first copy
            }
            if (c.components().size() != components)
                throw new SpectroException("executor " + executor + " resolves " + c.components().size() + " components, the driver "
                        + components + ": the checkpoint or the component spec differs between machines");
            fault(run, attempt, "after");
            Status st = run >= 0 && c.computed() == 0 ? Status.FINISHED_BEFORE : Status.COMPUTED; // another copy finished it meanwhile
            return new Report(run, st, "", executor, host, device, attempt, c.seconds(), seconds(t0));
        } catch (SpectroException | CommandLine.ParameterException e) {
            return new Report(run, Status.ERROR, e.getMessage(), executor, host, device, attempt, 0, seconds(t0));
        }
    }

    private boolean visible() {
        try {
            return Files.readString(Path.of(marker)).equals(nonce);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The CUDA device of this task: the address of the "gpu" resource Spark assigned to it
     * (spark.task.resource.gpu.amount=1), or -1 when the job schedules no GPUs (the --device option then
     * applies, and --backend cpu ignores it).
     */
    private static int gpu(TaskContext tc) {
        ResourceInformation gpu = tc == null ? null : tc.resourcesJMap().get("gpu");
        if (gpu == null) return -1;
        String[] a = gpu.addresses();
        if (a.length != 1)
            throw new SpectroException("this task holds " + a.length + " GPUs " + Arrays.toString(a) + ": set spark.task.resource.gpu.amount=1");
        try {
            return Integer.parseInt(a[0].strip());
        } catch (NumberFormatException e) {
            throw new SpectroException("GPU address '" + a[0] + "' from the discovery script is not a CUDA device index");
        }
    }

    private void fault(int run, int attempt, String where) {
        if (failOnce != null && attempt == 0 && Arrays.asList(failOnce.split(",")).contains(run + ":" + where))
            throw new IllegalStateException("test fault injection: run " + run + " fails once (" + where + " computing)");
    }

    private static String[] withQuiet(String[] args) {
        if (Arrays.asList(args).contains("--quiet")) return args;
        String[] a = Arrays.copyOf(args, args.length + 1);
        a[args.length] = "--quiet"; // the executor's stderr is no place for a progress bar
        return a;
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "?";
        }
    }

    private static double seconds(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }
}
