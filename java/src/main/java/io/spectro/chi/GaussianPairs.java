package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.Block;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.ComponentVector;
import io.spectro.sampling.Observables;
import io.spectro.sampling.SamplerOptions;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * The estimator of method.md section 3 ({@link ChiEstimator}, the same sums and formula, the same full run for
 * Δ_full) on exact draws of the nβ = 0 posterior — N(w*, s²/γ) on the component's parameters, s the noise scale —
 * taken in antithetic pairs w* ± δ (docs/method.md, "Gaussian pairs"). This is the baseline's estimator with
 * independent draws instead of a chain: no burn-in, no autocorrelation, and for the symmetric Gaussian the pair
 * cancels the first-order noise g_t·δ in every token's loss exactly, which is what makes a token's mean loss
 * under the posterior (the mean-shift term) need hundreds of SGLD draws. Where the prior dominates the posterior
 * (the calibrated settings of the demo models: nβ H changes the first-order response by ~3 %, docs/demo.md) it is
 * what the SGLD run estimates, up to that difference; it does not see the landscape (nβ is not used).
 * Cost per pair: two forward passes over the probe and sampling sets, no gradients.
 */
public final class GaussianPairs {
    private GaussianPairs() {}

    /** The columns, and per component (then the full run, last) the mean φ of its draws. */
    public record Result(List<String> names, List<float[]> columns, double loss0, double[] phiBar) {}

    /** The description file of a Gaussian-pairs run. */
    public static final String DESCRIPTION = "gaussian_pairs.json";

    /**
     * The full run (for Δ_full), then the columns of {@code comps}, in order, on a model at w* with its token sets
     * ({@link ChainFreeRun} opens both); {@code loss0} is S at w*.
     */
    static Result columns(NativeModel model, Observables obs, List<Component> comps, SamplerOptions so, int pairs, double loss0,
                          IntConsumer done) {
        ComponentSums full = sums(model, obs, Decomposition.full(model.config()), -1, so, pairs, loss0, false);
        double[] deltaFull = ChiEstimator.deltaFull(full);
        List<String> names = new ArrayList<>();
        List<float[]> cols = new ArrayList<>();
        double[] phiBar = new double[comps.size() + 1];
        phiBar[comps.size()] = full.sumPhi() / full.draws();
        for (int c = 0; c < comps.size(); c++) {
            Component comp = comps.get(c);
            ComponentSums cs = sums(model, obs, comp, c, so, pairs, loss0, true);
            double[] chi = ChiEstimator.chi(cs, deltaFull);
            float[] col = new float[chi.length];
            for (int t = 0; t < chi.length; t++) {
                col[t] = (float) chi[t];
                if (!Float.isFinite(col[t])) throw new SpectroException("gaussian pairs: component " + comp.name() + ", token row " + t + ": " + col[t]);
            }
            names.add(comp.name());
            cols.add(col);
            phiBar[c] = cs.sumPhi() / cs.draws();
            if (done != null) done.accept(c + 1);
        }
        return new Result(names, cols, loss0, phiBar);
    }

    /**
     * The estimator's sums over {@code pairs} antithetic pairs on one component (index −1: the full run); δ of pair k
     * is drawn from a generator keyed by (seed, component, k), so the result depends on nothing else.
     */
    static ComponentSums sums(NativeModel model, Observables obs, Component comp, int index, SamplerOptions so, int pairs,
                              double loss0, boolean fast) {
        Block[] blocks = comp.blockArray();
        obs.cacheAt(fast ? comp.lowestLayer() : -1);
        model.resetParams(blocks);
        obs.drainProbe(); // accumulators empty
        double sd = so.noiseScale() / Math.sqrt(so.gamma());
        long k = 0;
        double sumPhi = 0, sumPhiS = 0, sumS = 0;
        try {
            float[] w0 = ComponentVector.gather(comp, model::readParams);
            float[] w = new float[w0.length];
            double[] d = new double[w0.length];
            for (int p = 0; p < pairs; p++) {
                SplittableRandom rng = new SplittableRandom(key(so.seed(), index, p));
                for (int i = 0; i < d.length; i++) d[i] = sd * rng.nextGaussian();
                for (int sign = 1; sign >= -1; sign -= 2) {
                    for (int i = 0; i < w.length; i++) w[i] = (float) (w0[i] + sign * d[i]);
                    ComponentVector.scatter(model, comp, w);
                    double s = obs.samplingLoss();
                    if (!Double.isFinite(s)) throw new SpectroException("gaussian pairs: component " + comp.name() + ", pair " + p + ": sampling loss " + s);
                    double phi = s - loss0;
                    obs.accumulateProbe(phi, null);
                    k++;
                    sumPhi += phi;
                    sumPhiS += phi * s;
                    sumS += s;
                }
            }
        } finally {
            model.resetParams(blocks);
        }
        double[][] pr = obs.drainProbe();
        return new ComponentSums(k, sumPhi, sumPhiS, sumS, pr[0], pr[1]);
    }

    /** SplitMix-style mix of (seed, component, pair) into one generator seed. */
    static long key(long seed, int component, int pair) {
        long z = seed * 0x9E3779B97F4A7C15L + (component + 1L) * 0xBF58476D1CE4E5B9L + pair * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Writes the run directory ({@link RunOutputs#writeWithoutChains}) with {@code gaussian_pairs.json}. */
    public static void write(java.nio.file.Path dir, Result r, ChiRun.Inputs in, RunOutputs.SequenceText text, SamplerOptions so,
                             int pairs, double seconds, tools.jackson.databind.node.ObjectNode provenance) {
        tools.jackson.databind.node.ObjectNode root = RunOutputs.description("gaussian-pairs",
                "N(w*, s^2/gamma) on each component (nbeta 0), antithetic pairs w* +- delta (docs/method.md, Gaussian pairs)", provenance,
                so, r.loss0());
        root.put("pairs", pairs);
        root.put("drawsPerComponent", 2 * pairs);
        root.put("seed", so.seed());
        tools.jackson.databind.node.ArrayNode arr = root.putArray("components");
        for (int c = 0; c < r.names().size(); c++) arr.addObject().put("name", r.names().get(c)).put("phiBar", r.phiBar()[c]);
        root.put("fullPhiBar", r.phiBar()[r.names().size()]);
        RunOutputs.writeWithoutChains(dir, r.names(), r.columns(), in, text, r.loss0(), seconds, "gaussian pairs: no chains",
                DESCRIPTION, root.toPrettyString());
    }
}
