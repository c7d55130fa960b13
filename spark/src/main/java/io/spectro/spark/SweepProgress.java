package io.spectro.spark;

import io.spectro.util.Progress;
import org.apache.spark.Success$;
import org.apache.spark.TaskEndReason;
import org.apache.spark.TaskFailedReason;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.SparkListenerTaskStart;
import org.apache.spark.scheduler.TaskInfo;

import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The driver's view of a sweep (a Spark listener): one line when a run starts on an executor, finishes or
 * fails (with the reason and whether Spark retries it), and an ETA from {@code spectro cost}'s per-run
 * FLOP counts: remaining FLOPs at the rate the finished runs achieved. Task i of the sweep's one stage
 * (the job's only stage) is {@code runs.get(i)}.
 */
final class SweepProgress extends SparkListener {
    private final List<Integer> runs;
    private final List<String> names;   // index: run + 1
    private final double[] weight;      // index: run + 1; relative cost from CostModel (all 1 when unknown)
    private final PrintStream out;
    private final long start = System.nanoTime();
    private final ConcurrentHashMap<Integer, Boolean> done = new ConcurrentHashMap<>();
    private final AtomicInteger failures = new AtomicInteger();
    private double doneWeight;
    private final List<long[]> timing = new java.util.ArrayList<>(); // per successful task: launch, finish, executor run time (ms)

    SweepProgress(List<Integer> runs, List<String> names, double[] weight, PrintStream out) {
        this.runs = runs;
        this.names = names;
        this.weight = weight;
        this.out = out;
    }

    int failures() {
        return failures.get();
    }

    private String name(TaskInfo t) {
        int run = runs.get(t.index());
        return names.get(run + 1);
    }

    @Override
    public void onTaskStart(SparkListenerTaskStart e) {
        TaskInfo t = e.taskInfo();
        line(String.format("start  %-10s executor %s on %s%s%s", name(t), t.executorId(), t.host(),
                t.attemptNumber() > 0 ? " (attempt " + (t.attemptNumber() + 1) + ")" : "", t.speculative() ? " (speculative)" : ""));
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd e) {
        TaskInfo t = e.taskInfo();
        TaskEndReason r = e.reason();
        double secs = t.duration() / 1000.0;
        if (r == Success$.MODULE$) {
            int run = runs.get(t.index());
            String eta;
            synchronized (this) {
                timing.add(new long[]{t.launchTime(), t.finishTime(), e.taskMetrics() == null ? t.duration() : e.taskMetrics().executorRunTime()});
                if (done.putIfAbsent(run, true) == null) doneWeight += weight[run + 1];
                double total = 0, left = 0;
                for (int i = 0; i < runs.size(); i++) {
                    total += weight[runs.get(i) + 1];
                    if (!done.containsKey(runs.get(i))) left += weight[runs.get(i) + 1];
                }
                double el = (System.nanoTime() - start) / 1e9;
                eta = doneWeight <= 0 ? "?" : Progress.fmt(el * left / doneWeight);
                eta = String.format("%d/%d runs, %.0f%% of the FLOPs, ETA %s", done.size(), runs.size(), 100 * (1 - left / total), eta);
            }
            line(String.format("done   %-10s executor %s, %.1f s; %s", name(t), t.executorId(), secs, eta));
        } else {
            failures.incrementAndGet();
            line(String.format("failed %-10s executor %s on %s after %.1f s (Spark retries it unless attempts run out): %s",
                    name(t), t.executorId(), t.host(), secs, reason(r)));
        }
    }

    /**
     * Spark's scheduling overhead per task, from the listener's own clock: the task's time from launch to
     * the driver's receipt of its result minus the executor's run time (dispatch, deserialisation of the
     * task, result return: the "scheduler delay" of the Spark UI plus those). Null before any task finished.
     */
    synchronized String overhead() {
        if (timing.isEmpty()) return null;
        double[] o = timing.stream().mapToDouble(t -> (t[1] - t[0] - t[2]) / 1000.0).sorted().toArray();
        return String.format("Spark's overhead per task: median %.3f s, mean %.3f s, max %.3f s (%d tasks; the first on a new executor loads classes)"
                        + " outside the executor's run time", o[o.length / 2], java.util.Arrays.stream(o).average().orElse(0), o[o.length - 1], o.length);
    }

    private static String reason(TaskEndReason r) {
        String s = r instanceof TaskFailedReason f ? f.toErrorString() : r.toString();
        return s.lines().findFirst().orElse("");
    }

    private synchronized void line(String s) {
        out.printf("spectro-spark %s %s%n", Progress.fmt((System.nanoTime() - start) / 1e9), s);
        out.flush();
    }
}
