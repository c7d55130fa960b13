package io.spectro.calibrate;

import io.spectro.SpectroException;
import io.spectro.util.Progress;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.ModelConfig;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.ComponentVector;
import io.spectro.sampling.Draw;
import io.spectro.sampling.DrawObserver;
import io.spectro.sampling.Observables;
import io.spectro.sampling.RestrictedSampler;
import io.spectro.sampling.SamplerOptions;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code spectro calibrate}'s chains on the native backend: the restricted sampler of {@code spectro chi}
 * (same update, noise keys and minibatch pool) on a few components, at every grid setting, with the
 * sampling set as observable and SGLD data. The probe set is one sampling row (its losses are not used).
 */
public final class CalibrationRun {
    private CalibrationRun() {}

    /** The top Hessian eigenvalue ({@link Hessian}): minibatches per gradient, Lanczos steps. */
    static final int HESSIAN_BATCHES = 4, HESSIAN_STEPS = 20;

    /** Chain settings besides the grid: chains, draws, steps between, burn-in, batch, sampler, seed. */
    public record Base(int chains, int draws, int stepsBetween, int burnin, int batch, boolean rmsprop, long seed) {
        SamplerOptions at(Calibration.Setting s) {
            return new SamplerOptions(chains, draws, stepsBetween, burnin, batch, s.lr(), s.nbeta(), s.gamma(), rmsprop, 0.99f, 0.1f, 1f, seed);
        }

        /** The largest preconditioner value G: 1 for SGLD, 1 / rmsEps for RMSProp (V = 0). */
        double gMax() {
            return rmsprop ? 1 / 0.1 : 1;
        }
    }

    /**
     * The default representative components: a head at the bottom, middle and top layer, the middle
     * layer's MLP, embed, unembed, and the full run.
     */
    public static List<String> defaultComponents(ModelConfig cfg) {
        int top = cfg.nLayers() - 1, mid = cfg.nLayers() / 2;
        List<String> out = new ArrayList<>(List.of("l0h0"));
        if (mid != 0 && mid != top) out.add("l" + mid + "h0");
        if (top != 0) out.add("l" + top + "h0");
        out.addAll(List.of("l" + mid + "mlp", "embed", "unembed", "full"));
        return out;
    }

    /** Resolves names against the default decomposition (and "full"); an unknown name is a clear error. */
    public static List<Component> resolve(ModelConfig cfg, List<String> names) {
        List<Component> all = Decomposition.resolve(cfg, "default");
        List<Component> out = new ArrayList<>();
        for (String n : names) {
            if (n.equals("full")) { out.add(Decomposition.full(cfg)); continue; }
            out.add(all.stream().filter(c -> c.name().equals(n)).findFirst().orElseThrow(() -> new SpectroException(
                    "--components: no component '" + n + "' in this model (" + all.get(0).name() + " … " + all.get(all.size() - 1).name() + ", full)")));
        }
        return out;
    }

    /**
     * The whole calibration of a checkpoint on the CPU or CUDA model {@code m} (created for its config, not
     * loaded yet): the sweep, the recommendation, and the files in {@code out} ({@link CalibrationFiles}).
     */
    public static Calibration.Recommendation calibrate(io.spectro.model.Checkpoint ck, NativeModel m, int[] sampling, int rows, int T,
                                                       List<Component> comps, Calibration.Grid grid, Base base, boolean progress,
                                                       java.nio.file.Path out, String modelLabel) {
        long t0 = System.nanoTime();
        m.load(ck);
        List<Calibration.Row> result = sweep(m, ck.config(), sampling, rows, T, comps, grid, base, Observables.AUTO_BUDGET, progress);
        Calibration.Recommendation rec = Calibration.recommend(result);
        CalibrationFiles.write(out, io.spectro.chi.ChiRun.sha256(ck), modelLabel, base, grid, result, rec, (System.nanoTime() - t0) / 1e9);
        return rec;
    }

    /** The sweep on {@code model} (parameters loaded), returning every row. */
    public static List<Calibration.Row> sweep(NativeModel model, ModelConfig cfg, int[] sampling, int rows, int T,
                                              List<Component> comps, Calibration.Grid grid, Base base, long cacheBudget, boolean progress) {
        List<Component> decomposition = Decomposition.resolve(cfg, "default");
        int[] probe = new int[T];
        System.arraycopy(sampling, 0, probe, 0, T);
        try (Observables obs = new Observables(model, cfg, probe, 1, T, sampling, rows, T, base.batch(), base.seed(), model.maxBatchTokens(), cacheBudget)) {
            double loss0 = obs.samplingLoss();
            if (!Double.isFinite(loss0)) throw new SpectroException("the loss at the checkpoint's weights is " + loss0 + ": the model is broken");
            long total = (long) grid.settings().size() * comps.size() * base.chains() * base.at(grid.settings().get(0)).stepsPerChain();
            Progress bar = new Progress("calibrate", total, System.err, progress);
            List<String> names = comps.stream().map(Component::name).toList();
            double[] top = new double[comps.size()];
            for (int c = 0; c < comps.size(); c++) {
                Component comp = comps.get(c);
                Hessian.Top t = Hessian.top(model, obs, comp, !comp.name().equals("full"), HESSIAN_BATCHES, HESSIAN_STEPS, base.seed() + c);
                top[c] = t.lambdaMax();
                if (progress)
                    System.err.printf(java.util.Locale.ROOT, "calibrate: %s: Hessian eigenvalues %.4g .. %.4g (%d Lanczos steps, residual %.2g)%n",
                            comp.name(), t.lambdaMin(), t.lambdaMax(), t.iterations(), t.residual());
            }
            obs.drainProbe();
            List<Calibration.Row> out = Calibration.sweep(grid, names, (s, c) -> {
                Component comp = comps.get(c);
                bar.label(comp.name() + " " + s.label());
                int index = comp.name().equals("full") ? -1 : decomposition.indexOf(comp);
                ForceRatio force = new ForceRatio(model, comp, s);
                try {
                    RestrictedSampler.Traces tr = RestrictedSampler.run(model, obs, comp, index, base.at(s), loss0,
                            !comp.name().equals("full"), List.of(force), bar::step);
                    return new Calibration.Chains(tr.drawLoss(), force.result());
                } catch (RestrictedSampler.NonFiniteException e) {
                    double[][] nan = new double[base.chains()][base.draws()];
                    for (double[] r : nan) java.util.Arrays.fill(r, Double.NaN);
                    return new Calibration.Chains(nan, Double.NaN); // reported as "non-finite λ̂"
                } finally {
                    obs.drainProbe();
                }
            }, loss0, base.gMax(), top, null);
            bar.finish();
            return out;
        }
    }

    /**
     * Mean over draws of |nβ ∇L| / |γ (w − w*)| on the component's parameters: the loss force against the
     * localisation force (the gradient is the last minibatch's, the one the update at the draw step used).
     */
    static final class ForceRatio implements DrawObserver<Double> {
        private final NativeModel model;
        private final Component comp;
        private final Calibration.Setting s;
        private final float[] anchor;
        private double sum;
        private int n;

        /** Built before the chains start, while the model holds the anchor w*. */
        ForceRatio(NativeModel model, Component comp, Calibration.Setting s) {
            this.model = model;
            this.comp = comp;
            this.s = s;
            this.anchor = ComponentVector.gather(comp, model::readParams);
        }

        @Override
        public void onDraw(Draw d) {
            if (comp.numel() > (1L << 26)) return; // too large to copy every draw: not measured
            float[] w = ComponentVector.gather(comp, model::readParams), g = ComponentVector.gather(comp, model::readGrads);
            double gg = 0, ll = 0;
            for (int i = 0; i < w.length; i++) {
                double a = s.nbeta() * (double) g[i], b = s.gamma() * ((double) w[i] - anchor[i]);
                gg += a * a;
                ll += b * b;
            }
            if (ll > 0) { sum += Math.sqrt(gg / ll); n++; }
        }

        @Override
        public Double result() {
            return n == 0 ? Double.NaN : sum / n;
        }
    }
}
