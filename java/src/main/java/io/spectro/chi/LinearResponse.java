package io.spectro.chi;

import static io.spectro.util.Dense.dot;
import static io.spectro.util.Dense.norm;
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
import java.util.function.IntConsumer;

/**
 * Linear-response susceptibilities (docs/method.md, "Linear response"): the expectation of the estimator's
 * covariance term, Cov(φ_C, S − ℓ_t), under the Gaussian (Laplace) approximation of the localized posterior
 * restricted to component C, to first order in the weight displacement:
 * <pre>
 *   δ ~ N(μ, Σ),  Σ = s² (γ I + nβ H_C)⁻¹           (s = the sampler's noise scale, H_C = ∇²_C S at w*)
 *   χ_lin^C[t] = ∇_C(S − ℓ_t) · Σ ∇_C S  =  ∇_C(S − ℓ_t) · v_C
 * </pre>
 * No chains: v_C = Σ ∇_C S is solved by conjugate gradients on Hessian-vector products (central differences
 * of gradients over the sampling set, as {@link io.spectro.calibrate.Hessian}); with nβ = 0 it is ∇_C S / γ.
 * The column is then one central difference of every probe token's loss and of S along v_C: two forward
 * passes over the probe and sampling sets. Cost per component: 1 + 2·(CG steps) gradients of the sampling
 * set and 2 forward passes, against chains × steps gradients for the SGLD estimator, and it carries no
 * sampling noise. What it leaves out: the second-order terms of the covariance (½ tr(H_S Σ H_t Σ) and
 * beyond, the response that is not linear in δ) and the estimator's mean-shift term; where the posterior is
 * not Gaussian (the landscape dominates, γ + nβ λ_min ≤ 0) CG stops at the first direction of non-positive
 * curvature and says so.
 */
public final class LinearResponse {
    /** Finite-difference step, relative to the component's weight norm (at least {@link #H_MIN}). */
    static final double H_REL = 3e-3, H_MIN = 1e-4;

    private LinearResponse() {}

    /**
     * @param cgSteps   conjugate-gradient steps at most per component (0: Σ = s²/γ, the prior-dominated limit)
     * @param tolerance stop when |r| ≤ tolerance · |∇_C S|
     */
    public record Options(int cgSteps, double tolerance) {
        public Options {
            if (cgSteps < 0) throw new IllegalArgumentException("CG steps must be >= 0, got " + cgSteps);
            if (!(tolerance > 0 && tolerance < 1)) throw new IllegalArgumentException("CG tolerance must be in (0, 1), got " + tolerance);
        }

        public static Options defaults() {
            return new Options(20, 1e-3);
        }
    }

    /**
     * One component's column and how it was obtained.
     *
     * @param gradNorm    |∇_C S| at w*
     * @param steps       CG steps taken
     * @param residual    final |r| / |∇_C S|
     * @param curvature   the smallest Rayleigh quotient of γ + nβ H_C that CG met (≤ 0: not Gaussian, CG stopped)
     * @param dS          ∇_C S · v_C (the column's constant part: the covariance of φ with S)
     */
    public record Column(String component, float[] chi, double gradNorm, int steps, double residual, double curvature, double dS) {}

    /** The description file of a linear-response run. */
    public static final String DESCRIPTION = "linear_response.json";

    /** The columns of {@code comps}, in order, on a model at w* with its token sets ({@link ChainFreeRun} opens both). */
    static List<Column> columns(NativeModel model, Observables obs, List<Component> comps, SamplerOptions so, Options lo, IntConsumer done) {
        List<Column> out = new ArrayList<>();
        for (int c = 0; c < comps.size(); c++) {
            out.add(column(model, obs, comps.get(c), so, lo));
            if (done != null) done.accept(c + 1);
        }
        return out;
    }

    /** The column of one component; the model's weights are back at w* afterwards. */
    public static Column column(NativeModel model, Observables obs, Component comp, SamplerOptions so, Options lo) {
        Block[] blocks = comp.blockArray();
        boolean fast = !comp.name().equals(Decomposition.full(model.config()).name());
        int stop = fast ? comp.lowestLayer() : 0;
        Block[] grad = fast ? blocks : null;
        obs.cacheAt(fast ? comp.lowestLayer() : -1);
        model.resetParams(blocks);
        try {
            float[] w0 = ComponentVector.gather(comp, model::readParams);
            double h = Math.max(H_MIN, H_REL * norm(w0));
            double[] g = obs.samplingGradient(comp, stop, grad);
            double gn = norm(g);
            double s2 = (double) so.noiseScale() * so.noiseScale();
            // CG on A v = g, A = γ I + nβ H (then v ← s² v)
            double[] v = new double[g.length], r = g.clone(), p = g.clone();
            double rr = dot(r, r), minCurv = Double.POSITIVE_INFINITY;
            int steps = 0;
            if (so.nbeta() == 0 || lo.cgSteps() == 0) {
                for (int i = 0; i < v.length; i++) v[i] = g[i] / so.gamma();
                rr = 0;
            } else {
                while (steps < lo.cgSteps() && Math.sqrt(rr) > lo.tolerance() * gn) {
                    double[] ap = hvp(model, obs, comp, stop, grad, w0, p, h);
                    for (int i = 0; i < ap.length; i++) ap[i] = so.gamma() * p[i] + so.nbeta() * ap[i];
                    double pap = dot(p, ap), pp = dot(p, p);
                    minCurv = Math.min(minCurv, pap / pp);
                    if (!(pap > 0)) {
                        if (steps == 0) for (int i = 0; i < v.length; i++) v[i] = g[i] / so.gamma();
                        break;
                    }
                    double a = rr / pap;
                    for (int i = 0; i < v.length; i++) {
                        v[i] += a * p[i];
                        r[i] -= a * ap[i];
                    }
                    double rr2 = dot(r, r);
                    for (int i = 0; i < p.length; i++) p[i] = r[i] + rr2 / rr * p[i];
                    rr = rr2;
                    steps++;
                }
            }
            for (int i = 0; i < v.length; i++) v[i] *= s2;
            double vn = norm(v);
            if (vn == 0) return new Column(comp.name(), new float[obs.probeTokens()], gn, steps, 0, minCurv, 0);
            // directional derivative of S − ℓ_t along v: central difference with step h along v / |v|
            double[] u = v.clone();
            for (int i = 0; i < u.length; i++) u[i] /= vn;
            ComponentVector.scatter(model, comp, shifted(w0, u, h));
            double sp = obs.samplingLoss();
            float[] lp = obs.probeLosses();
            ComponentVector.scatter(model, comp, shifted(w0, u, -h));
            double sm = obs.samplingLoss();
            float[] lm = obs.probeLosses();
            double ds = (sp - sm) / (2 * h) * vn;
            float[] chi = new float[lp.length];
            for (int t = 0; t < chi.length; t++) {
                double dl = ((double) lp[t] - lm[t]) / (2 * h) * vn;
                chi[t] = (float) (ds - dl);
                if (!Float.isFinite(chi[t])) throw new SpectroException("linear response: component " + comp.name() + ", token row " + t + ": " + chi[t]);
            }
            return new Column(comp.name(), chi, gn, steps, gn == 0 ? 0 : Math.sqrt(rr) / gn, minCurv, ds);
        } finally {
            model.resetParams(blocks);
        }
    }

    /**
     * Writes a run directory like {@code spectro chi}'s ({@link RunOutputs#writeWithoutChains}) plus
     * {@code linear_response.json}, which says how the columns were obtained.
     */
    public static void write(java.nio.file.Path dir, List<Column> cols, ChiRun.Inputs in, RunOutputs.SequenceText text,
                             SamplerOptions so, Options lo, double loss0, double seconds, tools.jackson.databind.node.ObjectNode provenance) {
        tools.jackson.databind.node.ObjectNode root = RunOutputs.description("linear-response",
                "chi[t] = grad_C(S - l_t) . v_C,  v_C = s^2 (gamma I + nbeta H_C)^-1 grad_C S  (docs/method.md, Linear response)",
                provenance, so, loss0);
        root.put("nbeta", so.nbeta());
        root.put("cgSteps", lo.cgSteps());
        root.put("cgTolerance", lo.tolerance());
        tools.jackson.databind.node.ArrayNode arr = root.putArray("components");
        List<String> names = new ArrayList<>();
        List<float[]> columns = new ArrayList<>();
        for (Column c : cols) {
            names.add(c.component());
            columns.add(c.chi());
            tools.jackson.databind.node.ObjectNode o = arr.addObject();
            o.put("name", c.component());
            o.put("gradNorm", c.gradNorm());
            o.put("cgSteps", c.steps());
            o.put("cgResidual", c.residual());
            o.put("minCurvature", Double.isInfinite(c.curvature()) ? Double.NaN : c.curvature());
            o.put("dS", c.dS());
        }
        RunOutputs.writeWithoutChains(dir, names, columns, in, text, loss0, seconds, "linear response: no chains",
                DESCRIPTION, root.toPrettyString());
    }

    /** H p ≈ (∇S(w0 + h p̂) − ∇S(w0 − h p̂)) / (2h) · |p|. */
    private static double[] hvp(NativeModel model, Observables obs, Component comp, int stop, Block[] grad, float[] w0, double[] p, double h) {
        double pn = norm(p);
        double[] u = p.clone();
        for (int i = 0; i < u.length; i++) u[i] /= pn;
        ComponentVector.scatter(model, comp, shifted(w0, u, h));
        double[] gp = obs.samplingGradient(comp, stop, grad);
        ComponentVector.scatter(model, comp, shifted(w0, u, -h));
        double[] gm = obs.samplingGradient(comp, stop, grad);
        for (int i = 0; i < gp.length; i++) gp[i] = (gp[i] - gm[i]) / (2 * h) * pn;
        return gp;
    }

    private static float[] shifted(float[] w0, double[] u, double step) {
        float[] w = new float[w0.length];
        for (int i = 0; i < w.length; i++) w[i] = (float) (w0[i] + step * u[i]);
        return w;
    }
}
