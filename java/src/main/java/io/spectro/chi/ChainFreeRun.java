package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.Observables;
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

        boolean linear() {
            return estimator.equals("linear");
        }

        /** What the columns are, for logs: "linear response" or "N gaussian pairs per component". */
        public String describe() {
            return linear() ? "linear response" : pairs + " gaussian pairs per component";
        }

        /** The file beside chi.npy that says how the columns were obtained. */
        public String descriptionFile() {
            return linear() ? LinearResponse.DESCRIPTION : GaussianPairs.DESCRIPTION;
        }
    }

    /**
     * Why the chain-free run in {@code run} is not what {@code eo} would compute on {@code in} (other probe or sampling
     * tokens, another estimator or number of pairs), or null when it is: a cache that is reused must be this run.
     */
    public static String differs(java.nio.file.Path run, ChiRun.Inputs in, Options eo) {
        java.nio.file.Path f = run.resolve(eo.descriptionFile());
        if (!java.nio.file.Files.isRegularFile(f)) return "no " + eo.descriptionFile() + " (another estimator's run)";
        tools.jackson.databind.JsonNode d;
        try {
            d = tools.jackson.databind.json.JsonMapper.shared().readTree(f.toFile());
        } catch (tools.jackson.core.JacksonException e) {
            return f + ": not JSON (" + e.getOriginalMessage() + ")";
        }
        String data = ChiRun.dataSha256(in);
        if (!data.equals(d.path("run").path("dataSha256").asString("")))
            return f + ": computed on other probe or sampling tokens (dataSha256)";
        if (!eo.linear() && d.path("pairs").asInt(-1) != eo.pairs())
            return f + ": " + d.path("pairs").asInt(-1) + " pairs per component, not " + eo.pairs();
        return null;
    }

    /** Computes and writes RUN; returns the seconds spent computing. Progress (one line per component) on {@code log}. */
    public static double run(Checkpoint ck, ChiRun.Inputs in, String components, SamplerOptions so, Options eo, String backend,
                             int threads, int device, int maxBatchTokens, Path out, RunOutputs.SequenceText text, PrintStream log,
                             boolean progress) {
        if (so.noiseScale() == 0) throw new SpectroException(eo.estimator() + ": noise scale 0 has no posterior spread (chi would be 0)");
        List<Component> comps;
        try {
            comps = Decomposition.resolve(ck.config(), components);
        } catch (IllegalArgumentException e) {
            throw new SpectroException(e.getMessage());
        }
        if (!eo.linear() && so.nbeta() != 0 && progress)
            log.println("chi: gaussian pairs sample the nbeta = 0 posterior N(w*, 1/gamma); nbeta " + so.nbeta() + " is not used");
        long t0 = System.nanoTime();
        Progress bar = new Progress("chi (" + (eo.linear() ? "linear response" : "gaussian pairs") + ")", comps.size(), log, progress);
        ModelConfig cfg = ck.config();
        // fp32 on any backend: both estimators difference losses that bf16 GEMM operands would round away
        try (NativeModel model = NativeModel.create(Backend.load(backend), cfg, threads, device, maxBatchTokens, false);
             Observables obs = new Observables(model, cfg, in.probe(), in.nProbe(), in.probeT(), in.sampling(),
                     in.nSampling(), in.samplingT(), Math.min(so.batch(), in.nSampling()), so.seed(), maxBatchTokens, 256L << 20)) {
            model.load(ck);
            var provenance = ChiRun.provenance(cfg, ChiRun.sha256(ck), in, components, comps.size());
            double loss0 = obs.samplingLoss();
            if (!Double.isFinite(loss0)) throw new SpectroException("the loss at the checkpoint's weights is " + loss0 + ": the model is broken");
            if (eo.linear()) {
                LinearResponse.Options lo = new LinearResponse.Options(eo.cgSteps(), 1e-3);
                List<LinearResponse.Column> cols = LinearResponse.columns(model, obs, comps, so, lo, k -> bar.advance(1));
                bar.finish();
                double seconds = (System.nanoTime() - t0) / 1e9;
                LinearResponse.write(out, cols, in, text, so, lo, loss0, seconds, provenance);
                for (LinearResponse.Column c : cols)
                    if (c.curvature() <= 0 && progress) log.println("chi: " + c.component() + ": gamma + nbeta H has non-positive curvature "
                            + c.curvature() + ": the Gaussian approximation does not hold there (CG stopped)");
                return seconds;
            }
            GaussianPairs.Result r = GaussianPairs.columns(model, obs, comps, so, eo.pairs(), loss0, k -> bar.advance(1));
            bar.finish();
            double seconds = (System.nanoTime() - t0) / 1e9;
            GaussianPairs.write(out, r, in, text, so, eo.pairs(), seconds, provenance);
            return seconds;
        }
    }
}
