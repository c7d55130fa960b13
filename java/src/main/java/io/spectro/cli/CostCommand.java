package io.spectro.cli;


import io.spectro.SpectroException;
import io.spectro.cost.CostModel;
import io.spectro.cost.PredictedCost;
import io.spectro.model.ModelConfig;
import io.spectro.model.RandomInit;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.SamplerOptions;
import io.spectro.upsample.FeatureSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/** {@code spectro cost}: the FLOPs and device time of a {@code spectro chi} sweep, before running it. */
@Command(name = "cost", mixinStandardHelpOptions = true,
        description = {"Count the FLOPs of a chi sweep (the work 'spectro chi' does with the same",
                "options) and turn them into device time: a lower bound at 100%% of the peak",
                "and an estimate at --mfu. The published Pythia-1.4B run, for example:",
                "  spectro cost --preset pythia-1.4b --settings pythia-1.4b --seq 512 \\",
                "    --probe-tokens 4250000",
                "With --features SPEC it also counts a predicted vector (spectro upsample apply) next",
                "to a ground-truth one and prints their ratio.",
                "Counting convention and what is left out: docs/benchmarks.md, Cost model."})
public final class CostCommand implements Callable<Integer> {
    @Mixin
    ModelSource source;
    @Mixin SamplerFlags sampler;
    @Option(names = "--seq", defaultValue = "512", description = "sequence length of probe, sampling and minibatch sequences (default ${DEFAULT-VALUE})") int seq;
    @Option(names = "--probe-tokens", required = true, description = "chi vectors wanted (probe tokens; rounded up to whole sequences)") long probeTokens;
    @Option(names = "--sampling-tokens", defaultValue = "8192", description = "tokens of the sampling set (observable S, SGLD data; default ${DEFAULT-VALUE})") long samplingTokens;
    @Mixin SweepFlags sweep;
    @Option(names = "--peak-tflops", defaultValue = "989", description = "device peak in TFLOP/s (default ${DEFAULT-VALUE}: H100/H200 SXM dense bf16)") double peakTflops;
    @Option(names = "--mfu", defaultValue = "0.35", description = "model-FLOP utilisation to assume (default ${DEFAULT-VALUE}: about what the CUDA backend sustains at 1.4B on an H100, docs/benchmarks.md)") double mfu;
    @Option(names = "--per-run", description = "one line per run (component) instead of one per kind") boolean perRun;
    @Option(names = "--calibrate", description = "measure forward and forward+backward FLOP/s on this machine (random weights of the "
            + "model's shape, the sweep's batch shapes; --backend, --precision, --threads, --device say where) and predict "
            + "the sweep's time from them") boolean calibrate;
    @Mixin BackendFlags backend;
    @Option(names = "--features", description = "also count a predicted vector (spectro upsample apply) whose features are this "
            + "spec, e.g. loss,act,resp:4 (docs/upsampling.md), next to a ground-truth one") String features;
    @Option(names = "--regressor", defaultValue = "ridge", description = "with --features: ridge, or mlp:W1,W2,... (hidden widths) "
            + "(default ${DEFAULT-VALUE})") String regressor;
    @Option(names = "--whitened-dims", defaultValue = "100", description = "with --features: the regressor's outputs, the "
            + "whitened dimension (default ${DEFAULT-VALUE}, whiten's cap)") int whitenedDims;
    @Option(names = "--shards", defaultValue = "1", description = "devices working on the sweep (spectro chi --shard K/M): the wall time is the largest shard's (default ${DEFAULT-VALUE})") int shards;
    @Spec CommandSpec spec;

    @Override
    public Integer call() {
        ModelConfig cfg = source.config();
        if (!(peakTflops > 0)) throw new SpectroException("--peak-tflops must be > 0, got " + peakTflops);
        if (!(mfu > 0 && mfu <= 1)) throw new SpectroException("--mfu must be in (0, 1], got " + mfu);
        if (probeTokens < 1) throw new SpectroException("--probe-tokens must be >= 1, got " + probeTokens);
        if (samplingTokens < 1) throw new SpectroException("--sampling-tokens must be >= 1, got " + samplingTokens);
        if (seq < 2) throw new SpectroException("--seq must be >= 2, got " + seq);
        if (shards < 1) throw new SpectroException("--shards must be >= 1, got " + shards);
        if (seq > cfg.maxSeq()) throw new SpectroException("--seq " + seq + " exceeds the model's max_seq " + cfg.maxSeq());
        long budget = sweep.autoCache() ? Long.MAX_VALUE : sweep.cacheBudgetBytes();
        SamplerOptions so = sampler.options(false);
        long probeRows = ceilDiv(probeTokens, seq - 1), samplingRows = ceilDiv(samplingTokens, seq - 1);
        CostModel.Estimate e;
        try {
            e = CostModel.estimate(cfg, new CostModel.Options(so, sweep.components, seq, probeRows, samplingRows, !sweep.noFast,
                    budget, sweep.maxBatchTokens));
        } catch (IllegalArgumentException ex) {
            throw new SpectroException(ex.getMessage());
        }
        PredictedCost.Estimate pe = null;
        if (features != null) {
            try {
                FeatureSpec spec = FeatureSpec.parse(features, FeatureSpec.DEFAULT_H, 0);
                long actColumns = spec.has(FeatureSpec.Kind.ACT) ? Backend.load("cpu").featureCount(cfg) : 0;
                pe = PredictedCost.estimate(cfg, seq, sweep.components,
                        new PredictedCost.Options(spec, actColumns, PredictedCost.Options.parseRegressor(regressor), whitenedDims));
            } catch (IllegalArgumentException ex) {
                throw new SpectroException("--features/--regressor/--whitened-dims: " + ex.getMessage());
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        print(out, cfg, so, e);
        if (pe != null) printPredicted(out, e, pe);
        if (calibrate) calibrated(out, cfg, so, e, pe);
        return 0;
    }

    /** A predicted vector next to a ground-truth one at the same settings: FLOPs, device time, the ratio. */
    private void printPredicted(PrintWriter out, CostModel.Estimate e, PredictedCost.Estimate p) {
        double peak = peakTflops * 1e12, gt = e.flopsPerVector();
        out.println();
        out.printf("predicted    features %s: %d forwards per token (%s), %d features; regressor %s %d -> %s%d, then back to %d chi columns%n",
                features, p.forwards(), String.join(", ", p.groups().stream().map(g -> g.name() + " " + g.forwards()).toList()),
                p.featureDim(), regressor, p.featureDim(),
                java.util.Arrays.stream(p.options().hidden()).mapToObj(h -> h + " -> ").collect(java.util.stream.Collectors.joining()),
                p.options().outputDim(), e.runs().size() - 1);
        out.println();
        out.println("| per chi vector | ground truth (SGLD) | predicted (as upsample apply runs the features) | predicted, every forward from the embedding |");
        out.println("|---|---|---|---|");
        out.printf("| FLOPs | %.3e | %.3e | %.3e |%n", gt, p.flopsPerVector(), p.uncachedFlopsPerVector());
        out.printf("| seconds at 100%% of peak | %.3e | %.3e | %.3e |%n", gt / peak, p.flopsPerVector() / peak, p.uncachedFlopsPerVector() / peak);
        out.printf("| seconds at %.0f%% MFU | %.3e | %.3e | %.3e |%n", 100 * mfu, gt / (peak * mfu), p.flopsPerVector() / (peak * mfu),
                p.uncachedFlopsPerVector() / (peak * mfu));
        out.printf("| ground truth / predicted | 1 | %.1fx | %.1fx |%n", gt / p.flopsPerVector(), gt / p.uncachedFlopsPerVector());
        out.printf("(one-off: the features of the %d ground-truth tokens the auxiliary model is fit on, %.3e FLOPs, %.2f%% of the sweep; "
                + "the fit itself, reading tokens and writing vectors are not counted)%n", e.vectors(),
                p.featureFlopsPerToken() * e.vectors(), 100 * p.featureFlopsPerToken() * e.vectors() / e.totalFlops());
        out.flush();
    }

    /** Median of 5 full forward+backward steps on a minibatch and of 5 forwards on a probe chunk, after one of each. */
    private void calibrated(PrintWriter out, ModelConfig cfg, SamplerOptions so, CostModel.Estimate e, PredictedCost.Estimate pe) {
        backend.check();
        boolean bf16 = backend.bf16();
        Backend b = backend.load();
        int chunkRows = (int) Math.min(Math.max(1, sweep.maxBatchTokens / seq), e.options().probeSequences());
        int maxTokens = Math.max(so.batch(), chunkRows) * seq;
        double tfb, tf;
        try (Arena arena = Arena.ofConfined(); NativeModel m = backend.create(b, cfg, maxTokens)) {
            m.load(RandomInit.init(cfg, 1, arena));
            SplittableRandom rng = new SplittableRandom(1);
            try (NativeBatch mb = m.batch(rng.ints((long) so.batch() * seq, 0, cfg.vocabSize()).toArray(), so.batch(), seq);
                 NativeBatch pb = m.batch(rng.ints((long) chunkRows * seq, 0, cfg.vocabSize()).toArray(), chunkRows, seq)) {
                tfb = median(() -> m.forwardBackward(mb, 0, null, null));
                tf = median(() -> m.forward(pb, null));
            }
        }
        double rfb = CostModel.stepFlopsPerToken(cfg, seq, null, 0, 0) * so.batch() * seq / tfb;
        double rf = CostModel.forwardFlopsPerToken(cfg, seq, 0) * chunkRows * seq / tf;
        double secs = e.sgldFlops() / rfb + (e.observableFlops() + e.setupFlops()) / rf;
        out.println();
        out.printf("measured     backend %s, %s, random weights: forward+backward %.1f GFLOP/s (%d x %d, %.1f ms), "
                        + "forward %.1f GFLOP/s (%d x %d, %.1f ms)%s%n",
                b.name(), bf16 ? "bf16" : "fp32", rfb / 1e9, so.batch(), seq, tfb * 1e3, rf / 1e9, chunkRows, seq, tf * 1e3,
                b.name().equals("cuda") ? String.format("; MFU %.1f%% / %.1f%% of --peak-tflops", 100 * rfb / (peakTflops * 1e12),
                        100 * rf / (peakTflops * 1e12)) : "");
        out.printf("predicted    on this machine: %s for the sweep, %.4f s per chi vector (SGLD steps at the "
                + "forward+backward rate, forwards and cache builds at the forward rate; the SGLD update itself is not counted)%n",
                duration(secs), secs / e.vectors());
        if (pe != null) {
            double ps = pe.flopsPerVector() / rf; // feature forwards at the measured forward rate; the regressor counted at it too
            out.printf("predicted    a predicted vector on this machine: %.3e s (features %s at the forward rate), %.1fx less than "
                    + "a ground-truth vector here%n", ps, features, (secs / e.vectors()) / ps);
        }
        out.flush();
    }

    private void print(PrintWriter out, ModelConfig cfg, SamplerOptions so, CostModel.Estimate e) {
        long[] tot = e.totalTokens(), cached = e.cachedTokens();
        out.printf("model        %s: %.1fM parameters, %d layers x %d heads, d %d, vocab %d%n",
                source.label(), cfg.paramCount() / 1e6, cfg.nLayers(), cfg.nHeads(),
                cfg.dModel(), cfg.vocabSize());
        out.printf("runs         %d components (%s) + the full run%n", e.runs().size() - 1, sweep.components);
        out.printf("sampler      %d chains x (%d burn-in + %d draws x %d steps) = %d steps per run; minibatch %d x %d tokens%n",
                so.chains(), so.burnin(), so.draws(), so.stepsBetween(), so.chains() * so.stepsPerChain(), so.batch(), seq);
        out.printf("probe        %d sequences x %d = %d chi vectors; sampling set %d sequences (%d tokens)%n",
                e.options().probeSequences(), seq, e.vectors(), e.options().samplingSequences(), tot[1]);
        if (e.options().fastPath())
            out.printf("fast path    on; caches need %.2f GiB, budget %s: cached %s of probe, %s of sampling, %s of minibatch tokens%n",
                    e.cacheBytes() / (double) (1L << 30),
                    sweep.autoCache() ? "auto (taken as enough: spectro chi sizes it from the free memory it finds)" : sweep.cacheMb + " MiB",
                    pct(cached[0], tot[0]), pct(cached[1], tot[1]), pct(cached[2], tot[2]));
        else out.println("fast path    off (every step and forward from the embedding, full backward)");

        out.println();
        out.println("| run | count | FLOPs | share | SGLD step GFLOP/token |");
        out.println("|---|---|---|---|---|");
        double total = e.totalFlops();
        if (perRun) {
            for (CostModel.Run r : e.runs())
                out.printf("| %s (layer %d) | 1 | %.3e | %.2f%% | %.3f |%n", r.name(), r.lowestLayer(), r.totalFlops(),
                        100 * r.totalFlops() / total, r.stepFlopsPerToken() / 1e9);
        } else {
            Map<String, double[]> kinds = new LinkedHashMap<>();   // kind -> {count, flops, sum of step flops}
            for (CostModel.Run r : e.runs()) {
                double[] k = kinds.computeIfAbsent(kind(r.name()), x -> new double[3]);
                k[0]++;
                k[1] += r.totalFlops();
                k[2] += r.stepFlopsPerToken();
            }
            kinds.forEach((k, v) -> out.printf("| %s | %d | %.3e | %.2f%% | %.3f (mean) |%n", k, (long) v[0], v[1],
                    100 * v[1] / total, v[2] / v[0] / 1e9));
        }
        out.println();
        out.printf("FLOPs        SGLD steps %.3e (%.1f%%), per-draw forwards %.3e (%.1f%%), caches + L0 %.3e (%.2f%%)%n",
                e.sgldFlops(), 100 * e.sgldFlops() / total, e.observableFlops(), 100 * e.observableFlops() / total,
                e.setupFlops(), 100 * e.setupFlops() / total);
        out.printf("             total %.3e, per chi vector %.3e%n", total, e.flopsPerVector());
        double peak = peakTflops * 1e12;
        out.println();
        out.printf("| device time at %.0f TFLOP/s peak | 100%% of peak (lower bound) | at %.0f%% MFU |%n", peakTflops, 100 * mfu);
        out.println("|---|---|---|");
        double s1 = e.seconds(peak, 1), sm = e.seconds(peak, mfu);
        out.printf("| sweep, device-hours | %.1f | %.1f |%n", s1 / 3600, sm / 3600);
        out.printf("| seconds per chi vector | %.4f | %.4f |%n", s1 / e.vectors(), sm / e.vectors());
        out.printf("| chi vectors per device-hour | %.0f | %.0f |%n", 3600 * e.vectors() / s1, 3600 * e.vectors() / sm);
        out.printf("| vs the published %.1f H200-s per vector | %.1fx | %.1fx |%n", CostModel.PUBLISHED_SECONDS_PER_VECTOR,
                CostModel.PUBLISHED_SECONDS_PER_VECTOR * e.vectors() / s1, CostModel.PUBLISHED_SECONDS_PER_VECTOR * e.vectors() / sm);
        if (shards > 1) {
            double[] f = e.shardFlops(shards);
            double max = 0, sum = 0;
            for (double x : f) { max = Math.max(max, x); sum += x; }
            out.printf("| wall time on %d devices (--shard K/%d; the largest shard), hours | %.1f | %.1f |%n", shards, shards,
                    max / peak / 3600, max / (peak * mfu) / 3600);
            out.printf("| device-hours of all shards (each computes L0 and its own caches) | %.1f | %.1f |%n",
                    sum / peak / 3600, sum / (peak * mfu) / 3600);
            out.printf("(largest shard / mean shard: %.3f)%n", max / (sum / shards));
        }
        out.flush();
    }

    private static double median(Runnable step) {
        step.run();
        double[] t = new double[5];
        for (int i = 0; i < t.length; i++) {
            long t0 = System.nanoTime();
            step.run();
            t[i] = (System.nanoTime() - t0) / 1e9;
        }
        java.util.Arrays.sort(t);
        return t[t.length / 2];
    }

    private static String duration(double s) {
        if (s < 120) return String.format("%.1f s", s);
        if (s < 7200) return String.format("%.1f min", s / 60);
        return String.format("%.1f h", s / 3600);
    }

    private static String kind(String name) {
        if (name.equals("full") || name.equals("embed") || name.equals("unembed")) return name;
        if (name.matches("l\\d+h\\d+")) return "heads";
        if (name.matches("l\\d+mlp")) return "mlps";
        if (name.matches("l\\d+attn")) return "attention layers";
        if (name.matches("l\\d+h\\d+[qkvo]")) return "head parts (q, k, v, o)";
        return "other";
    }

    private static String pct(long a, long b) {
        return String.format("%.0f%%", 100.0 * a / b);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
