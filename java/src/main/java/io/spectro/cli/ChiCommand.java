package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.chi.ChiRun;
import io.spectro.chi.ChainFreeRun;
import io.spectro.chi.RunOutputs;
import io.spectro.data.TokenSets;
import io.spectro.model.Checkpoint;
import io.spectro.sampling.SamplerOptions;
import io.spectro.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code spectro chi}: susceptibility vectors for every probe token. */
@Command(name = "chi", mixinStandardHelpOptions = true,
        description = {"Estimate susceptibility vectors chi (one column per component) for every probe token.",
                "Defaults are the small-model settings (4 chains x 50 draws, 2 steps apart, batch 8, lr 1e-3,",
                "nbeta 30, gamma 300, plain SGLD); --settings pythia-1.4b gives the published 1.4B settings.",
                "Killing the process and running the same command again resumes bit-identically."})
public final class ChiCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "checkpoint directory (HF layout)") Path model;
    @Option(names = "--probe", required = true, description = "probe tokens: int32 .npy [B, T], or a .txt/.jsonl file") Path probe;
    @Option(names = "--sampling", required = true, description = "sampling-observable tokens (also the SGLD data): .npy, .txt or .jsonl") Path sampling;
    @Option(names = "--out", required = true, description = "run directory") Path out;
    @Option(names = "--seq", defaultValue = "64", description = "sequence length when tokenising text (default ${DEFAULT-VALUE})") int seq;
    @Option(names = "--max-sequences", defaultValue = "0", description = "use at most this many sequences of each set (0 = all)") int maxSeqs;
    @Mixin SamplerFlags sampler;
    @Option(names = "--baseline", description = "nbeta = 0: sample the Gaussian N(w*, 1/gamma) on each component (the control run)") boolean baseline;
    @Mixin SweepFlags sweep;
    @Mixin BackendFlags backend;
    @Option(names = "--shard", description = "K/M: compute only the runs of shard K of M (one process per GPU, same --out); "
            + "afterwards the same command without --shard writes the outputs") String shard;
    @Option(names = "--target-reliability", description = "per component: more draws (--draws, then doubling, continuing the same chains) "
            + "until the split-half reliability reaches this value in (0, 1) or --max-draws; resumable like any run") Double targetReliability;
    @Option(names = "--max-draws", description = "with --target-reliability: at most this many draws per chain (default 8 x --draws)") Integer maxDraws;
    @Option(names = "--estimator", defaultValue = "sgld", description = "sgld (the chains, method.md section 3); linear: the "
            + "covariance term's expectation in the Gaussian limit of the posterior, no chains (docs/method.md, Linear response); "
            + "gaussian: the same estimator on exact draws of the nbeta = 0 posterior in antithetic pairs (docs/method.md, Gaussian pairs)") String estimator;
    @Option(names = "--pairs", defaultValue = "32", description = "with --estimator gaussian: antithetic pairs per component (default ${DEFAULT-VALUE})") int pairs;
    @Option(names = "--cg-steps", defaultValue = "20", description = "with --estimator linear: conjugate-gradient steps at most "
            + "for (gamma + nbeta H) v = grad S (0: v = grad S / gamma; default ${DEFAULT-VALUE})") int cgSteps;
    @Option(names = "--no-plots") boolean noPlots;
    @Option(names = "--quiet", description = "no progress bar") boolean quiet;

    /** What a chi command line resolves to before anything is computed: the tokenizer (or null), the token sets, the options. */
    public record Setup(Tokenizer tokenizer, ChiRun.Inputs inputs, ChiRun.Options options) {}

    /** The checkpoint directory (--model). */
    public Path model() {
        return model;
    }

    /** The run directory (--out). */
    public Path out() {
        return out;
    }

    /** Validates the options and loads the token sets (tokenising text with the checkpoint's tokenizer). */
    /** The checks that need no file: bad options are refused before the checkpoint is opened. */
    public SamplerOptions checkOptions() {
        if (!List.of("sgld", "linear", "gaussian").contains(estimator))
            throw new SpectroException("--estimator must be sgld, linear or gaussian, got '" + estimator + "'");
        boolean chainFree = !estimator.equals("sgld");
        if (chainFree && (shard != null || targetReliability != null))
            throw new SpectroException("--estimator " + estimator + " runs no chains: --shard and --target-reliability do not apply");
        if (chainFree && backend.bf16())
            throw new SpectroException("--estimator " + estimator + " needs --precision fp32: it differences losses that bf16 rounding would swamp");
        if (pairs < 1) throw new SpectroException("--pairs must be >= 1, got " + pairs);
        if (cgSteps < 0) throw new SpectroException("--cg-steps must be >= 0, got " + cgSteps);
        if (maxSeqs < 0) throw new SpectroException("--max-sequences must be >= 0 (0 = all), got " + maxSeqs);
        if (seq < 2) throw new SpectroException("--seq must be >= 2, got " + seq);
        SamplerOptions so = sampler.options(baseline);
        target(so);
        return so;
    }

    /** --target-reliability and --max-draws (null: fixed draws); refused with a message when inconsistent. */
    ChiRun.Target target(SamplerOptions so) {
        if (targetReliability == null) {
            if (maxDraws != null) throw new SpectroException("--max-draws needs --target-reliability");
            return null;
        }
        try {
            return new ChiRun.Target(targetReliability, maxDraws != null ? maxDraws : (int) Math.min(Integer.MAX_VALUE, 8L * so.draws()));
        } catch (IllegalArgumentException e) {
            throw new SpectroException(e.getMessage());
        }
    }

    public Setup setup(Checkpoint ck) {
        SamplerOptions so = checkOptions();
        if (baseline && !quiet)
            System.err.println("chi: baseline (nbeta 0), sampler seed " + so.seed() + (so.seed() == sampler.seed ? " (the run's own, --baseline-noise shared)"
                    : " (its own noise and minibatch stream, derived from --seed " + sampler.seed + ")"));
        backend.check();
        sampler.checkCalibratedModel(ck);
        Tokenizer tok = ck.tokenizerJson() == null ? null : Tokenizer.load(ck.tokenizerJson());
        TokenSets.Set p = TokenSets.load(probe, tok, seq, maxSeqs);
        TokenSets.Set s = TokenSets.load(sampling, tok, seq, maxSeqs);
        ChiRun.Inputs in = new ChiRun.Inputs(p.tokens(), p.rows(), p.T(), s.tokens(), s.rows(), s.T());
        try {
            return new Setup(tok, in, new ChiRun.Options(so, sweep.components, !sweep.noFast, sweep.cacheBudgetBytes(), backend.threads,
                    backend.backend, sweep.maxBatchTokens, !quiet, backend.bf16(), backend.device,
                    shard == null ? ChiRun.Shard.ALL : ChiRun.Shard.parse(shard), target(so)));
        } catch (IllegalArgumentException e) {
            throw new SpectroException(e.getMessage());
        }
    }

    @Override
    public Integer call() {
        checkOptions();
        try (Checkpoint ck = Checkpoint.open(model)) {
            Setup su = setup(ck);
            ChiRun.Options o = su.options();
            if (!estimator.equals("sgld")) return chainFree(ck, su);
            if (o.shard().count() > 1) { // a shard computes its runs and assembles nothing
                ChiRun.Computed c = ChiRun.compute(ck, su.inputs(), out, o);
                System.out.printf("chi: shard %d/%d computed %d component(s) in %.1f s; %d run(s) of other shards %s%n",
                        o.shard().index(), o.shard().count(), c.computed(), c.seconds(), c.missingRuns(),
                        c.missingRuns() > 0 ? "not finished yet" : "finished too");
                System.out.println("chi: when every shard has finished, run the same command without --shard to write the outputs in " + out);
                return 0;
            }
            writeOutputs(ChiRun.run(ck, su.inputs(), out, o), su);
            return 0;
        }
    }

    /** --estimator linear | gaussian: every column without chains ({@link ChainFreeRun}), then the same outputs as a run. */
    private int chainFree(Checkpoint ck, Setup su) {
        ChiRun.Options o = su.options();
        Tokenizer tok = su.tokenizer();
        RunOutputs.SequenceText text = tok == null ? RunOutputs.perToken(id -> "#" + id) : tok::displayTokens;
        ChainFreeRun.Options eo = new ChainFreeRun.Options(estimator, pairs, cgSteps);
        double seconds = ChainFreeRun.run(ck, su.inputs(), o.components(), o.sampler(), eo, o.backend(), o.threads(), o.device(),
                o.maxBatchTokens(), out, text, System.err, !quiet);
        RunOutputs.writeSubsets(out, probe, su.inputs().nProbe());
        System.out.printf("chi: %s, %d tokens in %.1f s%n", eo.describe(), su.inputs().probeTokens(), seconds);
        System.out.println("chi: wrote " + out.resolve("chi.npy") + " (see " + eo.descriptionFile() + ")");
        return 0;
    }

    /** Writes the run directory's outputs for a finished sweep {@code r} and prints the summary. */
    public void writeOutputs(ChiRun.Result r, Setup su) {
        if (r.missingRuns() > 0)
            throw new SpectroException(out + ": " + r.missingRuns() + " run(s) not finished; no outputs written");
        Tokenizer tok = su.tokenizer();
        RunOutputs.SequenceText text = tok == null ? RunOutputs.perToken(id -> "#" + id) : tok::displayTokens;
        RunOutputs.write(out, r, su.inputs(), text, !noPlots);
        RunOutputs.writeSubsets(out, probe, su.inputs().nProbe());
        long failed = r.diagnostics().stream().filter(d -> !d.status().equals("ok")).count();
        System.out.print(io.spectro.chi.Health.table(r.health()));
        System.out.printf("chi: %d tokens x %d components in %.1f s (%d computed now, %d resumed), %.2f vectors/s%n",
                r.rows(), r.components().size(), r.seconds(), r.componentsComputed(),
                r.components().size() - r.componentsComputed(), r.rows() / r.seconds());
        if (failed > 0) System.out.println("chi: " + failed + " component(s) stopped on NaN/inf: see " + out.resolve("diagnostics.json"));
        if (r.health().stream().anyMatch(h -> h.level() == io.spectro.chi.Health.Level.fail))
            System.out.println("chi: whiten/report leave components that fail out by default (--unhealthy drop; keep | stop)");
        System.out.println("chi: wrote " + out.resolve("chi.npy") + " and its standard errors chi_se.npy");
    }
}
