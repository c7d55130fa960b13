package io.spectro.spark;

import io.spectro.SpectroException;
import io.spectro.chi.ChiRun;
import org.apache.spark.SparkConf;

import java.nio.file.Files;
import java.nio.file.Path;

/** The driver's check of a job's GPU settings, before any Spark process starts (docs/spark.md). */
final class GpuConf {
    private GpuConf() {}

    /**
     * With spark.task.resource.gpu.amount set, each task is one run on one GPU: the amount must be 1, the
     * backend cuda (or auto), the master not local (Spark's local mode does not schedule GPUs), and the
     * executors' discovery script must exist (checked here, on the driver; it must be at the same path on
     * every executor). Without it nothing is checked: tasks use
     * --backend/--device (the CPU-only fallback is --backend cpu).
     */
    static void check(SparkConf conf, ChiRun.Options o) {
        String amount = conf.get("spark.task.resource.gpu.amount", null);
        if (amount == null) return;
        double a;
        try {
            a = Double.parseDouble(amount);
        } catch (NumberFormatException e) {
            throw new SpectroException("spark.task.resource.gpu.amount=" + amount + ": not a number (use 1)");
        }
        if (a == 0) return;
        if (a != 1)
            throw new SpectroException("spark.task.resource.gpu.amount=" + amount + ": a task is one run on one GPU, use 1");
        if (o.backend().equals("cpu"))
            throw new SpectroException("--backend cpu with spark.task.resource.gpu.amount=1: drop the GPU settings for a CPU-only run, or use --backend cuda");
        if (conf.get("spark.master", "").startsWith("local"))
            throw new SpectroException("spark.task.resource.gpu.amount=1 with master " + conf.get("spark.master")
                    + ": local mode does not schedule GPUs; start a standalone master and worker on this machine"
                    + " (docs/spark.md) or use --backend cpu");
        String key = "spark.executor.resource.gpu.discoveryScript";
        if (conf.get("spark.executor.resource.gpu.amount", null) == null)
            throw new SpectroException("spark.task.resource.gpu.amount=1 needs spark.executor.resource.gpu.amount (GPUs per executor) and "
                    + key + " (scripts/spark-gpu-discovery)");
        String script = conf.get(key, null);
        if (script == null)
            throw new SpectroException("GPUs requested but " + key + " is not set: set it to scripts/spark-gpu-discovery (or your cluster's script)");
        Path p = Path.of(script);
        if (!Files.isRegularFile(p))
            throw new SpectroException(key + "=" + script + ": no such file (it must exist at this path on every executor machine)");
        if (!Files.isExecutable(p))
            throw new SpectroException(key + "=" + script + ": not executable (chmod +x it)");
    }
}
