package io.spectro.calibrate;

import io.spectro.chi.Diagnostics;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The statistics and the recommendation of {@code spectro calibrate} (docs/method.md, "Calibration"),
 * independent of what produced the chains: a {@link Sampler} returns the sampling-observable loss S of
 * every draw of every chain of one component at one setting, and the mean force ratio.
 * <p>Per setting and component: λ̂ mean and std across chains (λ̂_c = nβ (mean_c S − L0)); the plateau
 * criterion std/mean of λ̂ over the last half of the draws; R-hat; drift; the fraction of draws with
 * S &lt; L0; the contraction ratio r = (E_nβ[S] − L0) / (E_{nβ=0}[S] − L0) against the same (ε, γ) at nβ = 0;
 * the discretisation ε γ G / 2 (G the largest preconditioner value: 1 for SGLD, 1/rmsEps for RMSProp);
 * the force ratio |nβ ∇L| / |γ (w − w*)| after burn-in; with the component's top Hessian eigenvalue λ_max
 * ({@link Hessian}), the linear stability number a = ε G (nβ λ_max + γ) / 2 of the update
 * w ← w − ε/2 G (nβ ∇L + γ (w − w*)) + noise along the top eigenvector: that direction contracts by |1 − a| per
 * step, so a ≥ {@value #STABILITY_FAIL} diverges (plain gradient descent on the sampled potential with step
 * ε G / 2), and the chain's variance along it is inflated by 1 / (1 − a/2) (an OU process discretised with
 * Euler–Maruyama), more than 11% past a = {@value #STABILITY_WARN}.
 */
public final class Calibration {
    private Calibration() {}

    public static final double SHIFT_MAX = 0.1, PLATEAU_MAX = 0.15, RHAT_MAX = 1.1, DRIFT_MAX = 3, BELOW_MAX = 0.05, DISC_MAX = 0.05,
            STABILITY_FAIL = 2, STABILITY_WARN = 0.2;
    /**
     * Mean contraction ratio above which the recommendation is flagged prior-dominated: the loss moved the sampled
     * loss by less than a tenth of what the prior alone does, so the component posteriors are nearly N(w*, 1/γ) and
     * χ comes out close to the nβ = 0 baseline's (measured on the mini-Pile small model, docs/demo.md).
     */
    public static final double PRIOR_DOMINATED = 0.9;

    /**
     * One failed check of a row. Hard checks (non-finite λ̂, λ̂ ≤ 0, linear instability a ≥ 2) make the
     * numbers meaningless and rule a setting out; soft checks weigh {@code weight} × (1 + how far past the
     * threshold, relative, capped at 2): mixing (R-hat, drift) and the ε-plateau shift 2, the λ̂ spread across
     * chains, draws below L0 and discretisation 1 ({@link #recommend}).
     */
    public record Problem(String text, boolean hard, double weight, double excess) {
        double penalty() {
            return hard ? 0 : weight * (1 + Math.min(2, Math.max(0, Double.isFinite(excess) ? excess : 2)));
        }
    }

    /** One grid point. */
    public record Setting(float lr, float nbeta, float gamma) {
        public String label() {
            return String.format(Locale.ROOT, "lr %.3g, nbeta %.3g, gamma %.3g", lr, nbeta, gamma);
        }
    }

    /** The chains of one component at one setting: S[chain][draw], and the mean force ratio (NaN when not measured). */
    public record Chains(double[][] s, double forceRatio) {}

    /** Runs the chains of component {@code component} at {@code s}. */
    public interface Sampler {
        Chains run(Setting s, int component);
    }

    /** The grids; every value is checked, and nβ = 0 is added for the contraction ratio. */
    public record Grid(List<Float> lr, List<Float> nbeta, List<Float> gamma) {
        public Grid {
            req(lr != null && !lr.isEmpty(), "--lr-grid is empty");
            req(nbeta != null && !nbeta.isEmpty(), "--nbeta-grid is empty");
            req(gamma != null && !gamma.isEmpty(), "--gamma-grid is empty");
            for (float v : lr) req(v > 0 && Float.isFinite(v), "--lr-grid: every value must be > 0, got " + v);
            for (float v : nbeta) req(v >= 0 && Float.isFinite(v), "--nbeta-grid: every value must be >= 0, got " + v);
            for (float v : gamma) req(v >= 0 && Float.isFinite(v), "--gamma-grid: every value must be >= 0, got " + v);
            req(nbeta.stream().anyMatch(v -> v > 0), "--nbeta-grid: needs at least one value > 0 (nbeta 0 is the baseline, always run)");
            req(lr.stream().distinct().count() == lr.size() && nbeta.stream().distinct().count() == nbeta.size()
                    && gamma.stream().distinct().count() == gamma.size(), "a grid lists a value twice");
            lr = List.copyOf(lr);
            nbeta = List.copyOf(nbeta);
            gamma = List.copyOf(gamma);
        }

        /** Every setting: for each gamma and lr, nβ = 0 first, then the grid's nβ > 0. */
        public List<Setting> settings() {
            List<Setting> out = new ArrayList<>();
            for (float g : gamma)
                for (float e : lr) {
                    out.add(new Setting(e, 0f, g));
                    for (float nb : nbeta) if (nb > 0) out.add(new Setting(e, nb, g));
                }
            return out;
        }

        /** "1e-4,3e-4" -> values; a clear message naming the option on anything else. */
        public static List<Float> parse(String option, String s) {
            List<Float> out = new ArrayList<>();
            for (String p : s.split(",", -1)) {
                if (p.isBlank()) throw new IllegalArgumentException(option + ": empty value in '" + s + "'");
                try {
                    out.add(Float.parseFloat(p.strip()));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(option + ": '" + p.strip() + "' is not a number");
                }
            }
            return out;
        }

        private static void req(boolean ok, String msg) {
            if (!ok) throw new IllegalArgumentException(msg);
        }
    }

    /** The statistics of one component at one setting. */
    public record Row(Setting setting, String component, double llcMean, double llcStd, double plateau, double rhat,
                      double drift, double fractionBelowL0, double contraction, double discretisation, double forceRatio,
                      double epsilonShift, double hessianTop, double stability) {
        Row withEpsilonShift(double v) {
            return new Row(setting, component, llcMean, llcStd, plateau, rhat, drift, fractionBelowL0, contraction, discretisation, forceRatio, v,
                    hessianTop, stability);
        }

        /** The mixing checks alone (a row that fails them is no reference for the ε plateau). */
        boolean mixes() {
            return Double.isFinite(llcMean) && !(rhat > RHAT_MAX) && !(Math.abs(drift) > DRIFT_MAX);
        }

        /** Every check this row fails, as one-line reasons (empty: healthy). */
        public List<String> problems() {
            return checks().stream().map(Problem::text).toList();
        }

        /** Every check this row fails, hard or soft with its weight ({@link Problem}). */
        public List<Problem> checks() {
            List<Problem> p = new ArrayList<>();
            if (!Double.isFinite(llcMean)) p.add(new Problem(component + ": non-finite λ̂", true, 0, 0));
            else if (setting.nbeta() > 0 && llcMean <= 0) p.add(new Problem(component + String.format(Locale.ROOT, ": λ̂ %.3g <= 0", llcMean), true, 0, 0));
            if (stability >= STABILITY_FAIL)
                p.add(new Problem(component + String.format(Locale.ROOT, ": unstable, ε G (nβ λ_max + γ)/2 = %.3g >= %.0f", stability, STABILITY_FAIL), true, 0, 0));
            else if (stability > STABILITY_WARN)
                p.add(new Problem(component + String.format(Locale.ROOT, ": ε G (nβ λ_max + γ)/2 = %.3g > %.1f (variance along the top eigenvector inflated %.0f%%)",
                        stability, STABILITY_WARN, 100 * (1 / (1 - stability / 2) - 1)), false, 1, stability / STABILITY_WARN - 1));
            if (setting.nbeta() > 0 && !(plateau <= PLATEAU_MAX))
                p.add(new Problem(component + String.format(Locale.ROOT, ": std/mean %.2f > %.2f", plateau, PLATEAU_MAX), false, 1, plateau / PLATEAU_MAX - 1));
            if (rhat > RHAT_MAX) p.add(new Problem(component + String.format(Locale.ROOT, ": R-hat %.2f > %.1f", rhat, RHAT_MAX), false, 2, (rhat - 1) / (RHAT_MAX - 1) - 1));
            if (Math.abs(drift) > DRIFT_MAX)
                p.add(new Problem(component + String.format(Locale.ROOT, ": drift %.1f SE", drift), false, 2, Math.abs(drift) / DRIFT_MAX - 1));
            if (fractionBelowL0 > BELOW_MAX)
                p.add(new Problem(component + String.format(Locale.ROOT, ": %.0f%% of draws below L0", 100 * fractionBelowL0), false, 1, fractionBelowL0 / BELOW_MAX - 1));
            if (discretisation > DISC_MAX && !Double.isFinite(stability)) // the stability number covers the γ term too when measured
                p.add(new Problem(String.format(Locale.ROOT, "ε γ G / 2 = %.3g > %.2f", discretisation, DISC_MAX), false, 1, discretisation / DISC_MAX - 1));
            if (Math.abs(epsilonShift) > SHIFT_MAX)
                p.add(new Problem(component + String.format(Locale.ROOT, ": λ̂ moves %+.0f%% from the next smaller ε (off the ε plateau: discretisation bias)",
                        100 * epsilonShift), false, 2, Math.abs(epsilonShift) / SHIFT_MAX - 1));
            return p;
        }
    }

    /** What was recommended and why (one line per criterion). */
    public record Recommendation(Setting setting, List<String> reasons) {}

    /** Statistics of one component's chains; {@code baselineExcess} = E_{nβ=0}[S] − L0 at the same (ε, γ). */
    public static Row row(Setting st, String component, Chains ch, double loss0, double baselineExcess, double gMax, double hessianTop) {
        double[][] s = ch.s();
        int m = s.length, n = s[0].length, h = n / 2;
        double[] llc = new double[m], llcLate = new double[m];
        double mean = 0;
        long below = 0;
        for (int c = 0; c < m; c++) {
            double a = 0, b = 0;
            for (int i = 0; i < n; i++) {
                a += s[c][i];
                if (i >= n - h) b += s[c][i];
                if (s[c][i] < loss0) below++;
            }
            llc[c] = st.nbeta() * (a / n - loss0);
            llcLate[c] = st.nbeta() * (b / Math.max(1, h) - loss0);
            mean += a / n;
        }
        mean /= m;
        double llcMean = avg(llc), lateMean = avg(llcLate);
        double contraction = st.nbeta() == 0 ? 1 : (mean - loss0) / baselineExcess;
        return new Row(st, component, llcMean, sd(llc), m < 2 ? Double.NaN : sd(llcLate) / Math.abs(lateMean), Diagnostics.rhat(s),
                Diagnostics.drift(s), below / (double) (m * n), contraction, st.lr() * st.gamma() * gMax / 2, ch.forceRatio(), Double.NaN,
                hessianTop, st.lr() * gMax * (st.nbeta() * hessianTop + st.gamma()) / 2);
    }

    /** Runs every setting on every component (nβ = 0 first for each (ε, γ), for the contraction ratio). */
    public static List<Row> sweep(Grid grid, List<String> components, Sampler sampler, double loss0, double gMax, Runnable onRun) {
        return sweep(grid, components, sampler, loss0, gMax, null, onRun);
    }

    /** @param hessianTop each component's top Hessian eigenvalue (null or NaN entries: not measured) */
    public static List<Row> sweep(Grid grid, List<String> components, Sampler sampler, double loss0, double gMax, double[] hessianTop,
                                  Runnable onRun) {
        List<Row> rows = new ArrayList<>();
        Map<String, Double> baseline = new LinkedHashMap<>();
        for (Setting st : grid.settings())
            for (int c = 0; c < components.size(); c++) {
                Chains ch = sampler.run(st, c);
                String key = st.lr() + "/" + st.gamma() + "/" + c;
                if (st.nbeta() == 0) {
                    double m = 0;
                    int k = 0;
                    for (double[] x : ch.s()) for (double v : x) { m += v; k++; }
                    baseline.put(key, m / k - loss0);
                }
                rows.add(row(st, components.get(c), ch, loss0, baseline.get(key), gMax, hessianTop == null ? Double.NaN : hessianTop[c]));
                if (onRun != null) onRun.run();
            }
        return epsilonPlateau(rows);
    }

    /**
     * devinterp's ε plateau: λ̂ should not depend on ε where the sampler is accurate. Each row with nβ > 0 is
     * compared with the same (nβ, γ, component) at the next smaller ε of the grid, when that one mixes; a
     * relative change beyond {@value #SHIFT_MAX} that is also beyond 2 combined standard errors (chains) is
     * recorded as the row's epsilonShift (else 0; NaN when there is nothing to compare with).
     */
    static List<Row> epsilonPlateau(List<Row> rows) {
        List<Row> out = new ArrayList<>();
        for (Row r : rows) {
            Row prev = null;
            for (Row q : rows)
                if (q.setting().nbeta() == r.setting().nbeta() && q.setting().gamma() == r.setting().gamma()
                        && q.component().equals(r.component()) && q.setting().lr() < r.setting().lr()
                        && (prev == null || q.setting().lr() > prev.setting().lr())) prev = q;
            double shift = Double.NaN;
            if (r.setting().nbeta() > 0 && prev != null && prev.mixes() && prev.llcMean() > 0) {
                double rel = (r.llcMean() - prev.llcMean()) / prev.llcMean();
                double se = Math.hypot(r.llcStd(), prev.llcStd()) / Math.sqrt(2); // std across chains / sqrt(2): a rough pooled SE scale
                shift = Double.isFinite(rel) && Math.abs(r.llcMean() - prev.llcMean()) > 2 * se ? rel : Double.isFinite(rel) ? 0 : rel;
            }
            out.add(r.withEpsilonShift(shift));
        }
        return out;
    }

    /**
     * The recommended setting, weighing the checks instead of counting them ({@link Problem}): settings with a
     * hard failure on any component (non-finite or non-positive λ̂, linear instability) are ruled out while
     * any setting has none (else the fewest hard failures win); among the rest the smallest score wins, score
     * = the sum over components of the soft problems' penalties (weight × (1 + relative excess, capped at 2))
     * + the mean contraction ratio r (in [0, 1] when the loss shapes the posterior; r ≈ 1: the prior
     * dominates), ties to the larger ε (faster mixing).
     */
    public static Recommendation recommend(List<Row> rows) {
        Map<Setting, List<Row>> by = new LinkedHashMap<>();
        for (Row r : rows) if (r.setting().nbeta() > 0) by.computeIfAbsent(r.setting(), k -> new ArrayList<>()).add(r);
        if (by.isEmpty()) throw new IllegalArgumentException("no setting with nbeta > 0");
        Comparator<Map.Entry<Setting, List<Row>>> order = Comparator
                .<Map.Entry<Setting, List<Row>>>comparingLong(e -> hard(e.getValue()))
                .thenComparingDouble(e -> score(e.getValue()))
                .thenComparing(e -> -e.getKey().lr());
        Map.Entry<Setting, List<Row>> best = by.entrySet().stream().min(order).orElseThrow();
        List<Row> rs = best.getValue();
        List<String> probs = problems(rs);
        List<String> why = new ArrayList<>();
        double minLlc = rs.stream().mapToDouble(Row::llcMean).min().orElse(Double.NaN);
        double maxPlateau = rs.stream().mapToDouble(Row::plateau).max().orElse(Double.NaN);
        double maxRhat = rs.stream().mapToDouble(Row::rhat).max().orElse(Double.NaN);
        double maxDrift = rs.stream().mapToDouble(r -> Math.abs(r.drift())).max().orElse(Double.NaN);
        double maxBelow = rs.stream().mapToDouble(Row::fractionBelowL0).max().orElse(Double.NaN);
        double minForce = rs.stream().mapToDouble(Row::forceRatio).min().orElse(Double.NaN);
        why.add(String.format(Locale.ROOT, "λ̂: every component positive (smallest %.3g)%s", minLlc, minLlc > 0 ? "" : " — NOT MET"));
        why.add(String.format(Locale.ROOT, "plateau: std/mean of λ̂ across chains at most %.2f (criterion <= %.2f)%s", maxPlateau, PLATEAU_MAX,
                maxPlateau <= PLATEAU_MAX ? "" : " — NOT MET"));
        why.add(String.format(Locale.ROOT, "mixing: R-hat at most %.3f (<= %.1f), |drift| at most %.1f SE (<= %.0f)%s", maxRhat, RHAT_MAX, maxDrift,
                DRIFT_MAX, maxRhat <= RHAT_MAX && maxDrift <= DRIFT_MAX ? "" : " — NOT MET"));
        why.add(String.format(Locale.ROOT, "localisation: at most %.1f%% of draws below L0 (<= %.0f%%)%s", 100 * maxBelow, 100 * BELOW_MAX,
                maxBelow <= BELOW_MAX ? "" : " — NOT MET"));
        why.add(String.format(Locale.ROOT, "discretisation: ε γ G / 2 = %.3g (<= %.2f; covered by the stability number below where λ_max is measured)%s",
                rs.get(0).discretisation(), DISC_MAX, rs.get(0).discretisation() <= DISC_MAX ? "" : " — NOT MET"));
        double r = meanContraction(rs);
        why.add(String.format(Locale.ROOT, "landscape vs prior: mean contraction ratio r = %.3f (part of the score; r ~ 1: the prior dominates); force ratio |nβ∇L|/|γ(w−w*)| at least %.3g%s",
                r, minForce, r > PRIOR_DOMINATED ? String.format(Locale.ROOT, " — PRIOR-DOMINATED (r > %.1f: the posteriors are close to N(w*, 1/γ) and χ will be close "
                        + "to the nβ = 0 baseline's; a grid with smaller γ or larger nβ, where nβ λ_max reaches γ, would let the loss shape them)", PRIOR_DOMINATED) : ""));
        double maxStab = rs.stream().mapToDouble(Row::stability).max().orElse(Double.NaN);
        double maxTop = rs.stream().mapToDouble(Row::hessianTop).max().orElse(Double.NaN);
        why.add(Double.isNaN(maxStab) ? "stability: top Hessian eigenvalue not measured"
                : String.format(Locale.ROOT, "stability: largest Hessian eigenvalue λ_max %.3g; ε G (nβ λ_max + γ)/2 at most %.3g (unstable >= %.0f, biased > %.1f)%s",
                maxTop, maxStab, STABILITY_FAIL, STABILITY_WARN, maxStab >= STABILITY_FAIL ? " — UNSTABLE" : maxStab > STABILITY_WARN ? " — NOT MET" : ""));
        why.add(String.format(Locale.ROOT, "rule: no hard failure (%d here), then the smallest weighted score (%.3f here: soft penalties + mean r)",
                hard(rs), score(rs)));
        if (!probs.isEmpty()) why.add("no setting passed every check; this one weighs least: " + String.join("; ", probs));
        return new Recommendation(best.getKey(), why);
    }

    /** Hard failures of a setting's rows. */
    static long hard(List<Row> rows) {
        return rows.stream().flatMap(r -> r.checks().stream()).filter(Problem::hard).count();
    }

    /** Soft penalties of a setting's rows + their mean contraction ratio. */
    static double score(List<Row> rows) {
        double p = rows.stream().flatMap(r -> r.checks().stream()).mapToDouble(Problem::penalty).sum();
        double r = meanContraction(rows);
        return p + (Double.isFinite(r) ? r : 1);
    }

    static List<String> problems(List<Row> rows) {
        List<String> p = new ArrayList<>();
        for (Row r : rows) for (String s : r.problems()) if (!p.contains(s)) p.add(s);
        return p;
    }

    static double meanContraction(List<Row> rows) {
        return rows.stream().mapToDouble(Row::contraction).filter(Double::isFinite).average().orElse(Double.POSITIVE_INFINITY);
    }

    /** The markdown table of every row. */
    public static String markdown(List<Row> rows, Recommendation rec) {
        StringBuilder sb = new StringBuilder("| ε | nβ | γ | component | λ̂ mean | λ̂ std | std/mean | R-hat | drift (SE) | S < L0 | r | ε γ G/2 | λ_max | ε G (nβ λ_max + γ)/2 | force ratio | problems |\n"
                + "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Row r : rows)
            sb.append(String.format(Locale.ROOT, "| %.3g | %.3g | %.3g | %s | %.4g | %.3g | %.3f | %.3f | %.2f | %.3f | %.3f | %.3g | %.3g | %.3g | %.3g | %s |%n",
                    r.setting().lr(), r.setting().nbeta(), r.setting().gamma(), r.component(), r.llcMean(), r.llcStd(), r.plateau(), r.rhat(),
                    r.drift(), r.fractionBelowL0(), r.contraction(), r.discretisation(), r.hessianTop(), r.stability(), r.forceRatio(),
                    String.join("; ", r.checks().stream().map(q -> (q.hard() ? "HARD " : "") + q.text()).toList())));
        sb.append("\n**Recommended: ").append(rec.setting().label()).append("**\n\n");
        for (String w : rec.reasons()) sb.append("- ").append(w).append('\n');
        return sb.toString();
    }

    private static double avg(double[] x) {
        double s = 0;
        for (double v : x) s += v;
        return s / x.length;
    }

    private static double sd(double[] x) {
        if (x.length < 2) return Double.NaN;
        double m = avg(x), s = 0;
        for (double v : x) s += (v - m) * (v - m);
        return Math.sqrt(s / (x.length - 1));
    }
}
