package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.Checkpoint;
import io.spectro.sampling.SamplerOptions;
import io.spectro.util.Progress;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/**
 * The estimators that run no chains ({@code spectro chi --estimator linear | gaussian}, and {@code demo pile} with
 * the same option): compute every column with {@link LinearResponse} or {@link GaussianPairs}, then write the run
 * directory ({@link RunOutputs#writeWithoutChains}). Not resumable: nothing is written until every column exists.
 */
public final class ChainFreeRun {
    private ChainFreeRun() {}

    /** Which estimator and its one setting. */
    public record Options(String estimator, int pairs, int cgSteps) {
        public Options {
            if (!estimator.equals("linear") && !estimator.equals("gaussian"))
                throw new IllegalArgumentException("chain-free estimator must be linear or gaussian, got '" + estimator + "'");
            if (pairs < 1) throw new IllegalArgumentException("--pairs must be >= 1, got " + pairs);
            if (cgSteps < 0) throw new IllegalArgumentException("--cg-steps must be >= 0, got " + cgSteps);
        }
    }

    /** Computes and writes RUN; returns the seconds spent computing. Progress (one line per component) on {@code log}. */
    public static double run(Checkpoint ck, ChiRun.Inputs in, String components, SamplerOptions so, Options eo, String backend,
                             int threads, int device, int maxBatchTokens, Path out, RunOutputs.SequenceText text, PrintStream log,
                             boolean progress) {
        List<Component> comps;
        try {
            comps = Decomposition.resolve(ck.config(), components);
        } catch (IllegalArgumentException e) {
            throw new SpectroException(e.getMessage());
        }
        if (eo.estimator().equals("gaussian") && so.nbeta() != 0 && progress)
            log.println("chi: gaussian pairs sample the nbeta = 0 posterior N(w*, 1/gamma); nbeta " + so.nbeta() + " is not used");
        long t0 = System.nanoTime();
        Progress bar = new Progress("chi (" + (eo.estimator().equals("linear") ? "linear response" : "gaussian pairs") + ")",
                comps.size(), log, progress);
        double seconds;
        if (eo.estimator().equals("linear")) {
            LinearResponse.Options lo = new LinearResponse.Options(eo.cgSteps(), 1e-3);
            LinearResponse.Result r = LinearResponse.run(ck, in, comps, so, lo, backend, threads, device, maxBatchTokens, k -> bar.advance(1));
            bar.finish();
            seconds = (System.nanoTime() - t0) / 1e9;
            LinearResponse.write(out, r.columns(), in, text, so, lo, r.loss0(), seconds);
            for (LinearResponse.Column c : r.columns())
                if (c.curvature() <= 0 && progress) log.println("chi: " + c.component() + ": gamma + nbeta H has non-positive curvature "
                        + c.curvature() + ": the Gaussian approximation does not hold there (CG stopped)");
        } else {
            GaussianPairs.Result r = GaussianPairs.run(ck, in, comps, so, eo.pairs(), backend, threads, device, maxBatchTokens, k -> bar.advance(1));
            bar.finish();
            seconds = (System.nanoTime() - t0) / 1e9;
            GaussianPairs.write(out, r, in, text, so, eo.pairs(), seconds);
        }
        return seconds;
    }
}
