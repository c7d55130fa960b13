package io.spectro.calibrate;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Calibration on an analytically known posterior: L(w) = 1/2 |w - w*|^2 on d = 10 parameters (Hessian I), whose
 * local learning coefficient is d/2. At nβ 1000, γ 1 the tempered posterior has precision nβ + γ per
 * coordinate, so E[nβ (L - L0)] = nβ d / (2 (nβ + γ)) = 4.995. The chains use the same update rule as
 * sp_sgld_update (plain SGLD, exact gradient), written out here as the test's oracle.
 */
class CalibrationTest {
    static final int D = 10, CHAINS = 4, DRAWS = 400, BETWEEN = 5, BURNIN = 1000;

    static Calibration.Chains quadratic(Calibration.Setting s, long seed) {
        double[][] out = new double[CHAINS][DRAWS];
        double force = 0;
        int forceN = 0;
        for (int c = 0; c < CHAINS; c++) {
            SplittableRandom rng = new SplittableRandom(seed * 1000 + c);
            double[] w = new double[D];
            int draw = 0;
            for (int step = 0; step < BURNIN + DRAWS * BETWEEN; step++) {
                double gn = 0, ln = 0;
                for (int i = 0; i < D; i++) {
                    double g = w[i]; // gradient of 1/2 w^2
                    gn += (s.nbeta() * g) * (s.nbeta() * g);
                    ln += (s.gamma() * w[i]) * (s.gamma() * w[i]);
                    w[i] += -s.lr() / 2 * (s.nbeta() * g + s.gamma() * w[i]) + Math.sqrt(s.lr()) * gaussian(rng);
                }
                if (step >= BURNIN && (step - BURNIN + 1) % BETWEEN == 0) {
                    double loss = 0;
                    for (double v : w) loss += v * v / 2;
                    out[c][draw++] = loss;
                    if (ln > 0) { force += Math.sqrt(gn / ln); forceN++; }
                }
            }
        }
        return new Calibration.Chains(out, forceN == 0 ? Double.NaN : force / forceN);
    }

    static double gaussian(SplittableRandom r) { // Box-Muller
        return Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
    }

    @Test
    void quadraticLossRecoversHalfTheDimensionAndFlagsTheTooLargeStep() {
        Calibration.Grid grid = new Calibration.Grid(List.of(1e-5f, 1e-4f, 1e-3f, 2.5e-3f), List.of(1000f), List.of(1f));
        List<Calibration.Row> rows = Calibration.sweep(grid, List.of("w"), (s, c) -> quadratic(s, 7), 0.0, 1.0, null);
        assertEquals(8, rows.size()); // 4 lr x (nbeta 0 + 1000)
        Calibration.Recommendation rec = Calibration.recommend(rows);
        Calibration.Row best = rows.stream().filter(r -> r.setting().equals(rec.setting())).findFirst().orElseThrow();
        double se = best.llcStd() / Math.sqrt(CHAINS);
        assertEquals(1e-4f, rec.setting().lr(), rec.toString());
        assertTrue(best.problems().isEmpty(), best.problems().toString());
        assertEquals(D / 2.0, best.llcMean(), 2 * se, "λ̂ " + best.llcMean() + " ± " + se); // within 2 standard errors of d/2
        Calibration.Row tooLarge = rows.stream().filter(r -> r.setting().lr() == 2.5e-3f && r.setting().nbeta() > 0).findFirst().orElseThrow();
        assertFalse(tooLarge.problems().isEmpty(), "ε 2.5e-3 (ε (nβ + γ) / 2 > 1: the chain diverges) must be flagged");
        Calibration.Row biased = rows.stream().filter(r -> r.setting().lr() == 1e-3f && r.setting().nbeta() > 0).findFirst().orElseThrow();
        assertTrue(biased.problems().stream().anyMatch(p -> p.contains("off the ε plateau")),
                "ε 1e-3 (ε (nβ + γ) / 2 = 0.5) inflates λ̂ by ~1/(1 - 0.25): " + biased);
        assertTrue(best.forceRatio() > 500, "the loss force dominates the localisation at nβ 1000, γ 1: " + best.forceRatio());
        assertTrue(best.contraction() < 0.01, "r = γ / (nβ + γ) ~ 0.001, got " + best.contraction());
        assertTrue(Calibration.markdown(rows, rec).contains("**Recommended: lr 0.000100, nbeta 1.00e+03, gamma 1.00**"),
                Calibration.markdown(rows, rec));
    }

    /** A constructed row: every statistic healthy unless overridden. */
    static Calibration.Row row(float lr, String comp, double llc, double plateau, double rhat, double below, double contraction, double stability) {
        return new Calibration.Row(new Calibration.Setting(lr, 30f, 300f), comp, llc, 0.05 * llc, plateau, rhat, 0.5, below, contraction,
                0.01, 3, 0, 1.0, stability);
    }

    /**
     * The rule weighs the checks: a hard failure rules a setting out however good the rest; two light soft
     * problems (spread, below L0, just past their thresholds) weigh less than one heavy one (R-hat far past
     * 1.1), where counting passes would pick the latter; with no problems the smaller contraction wins.
     */
    @Test
    void theRecommendationWeighsHardAndSoftCriteria() {
        List<Calibration.Row> rows = List.of(
                row(1e-2f, "a", -0.5, 0.1, 1.0, 0, 0.1, 0.1), row(1e-2f, "b", 5, 0.1, 1.0, 0, 0.1, 0.1),   // negative λ̂: hard
                row(5e-3f, "a", 5, 0.1, 1.0, 0, 0.2, 2.5), row(5e-3f, "b", 5, 0.1, 1.0, 0, 0.2, 0.1),     // unstable: hard
                row(1e-3f, "a", 5, 0.16, 1.0, 0.06, 0.5, 0.1), row(1e-3f, "b", 5, 0.1, 1.0, 0, 0.5, 0.1), // two light soft problems
                row(3e-4f, "a", 5, 0.1, 1.6, 0, 0.5, 0.1), row(3e-4f, "b", 5, 0.1, 1.0, 0, 0.5, 0.1));   // one heavy soft problem
        Calibration.Recommendation rec = Calibration.recommend(rows);
        assertEquals(1e-3f, rec.setting().lr(), rec.toString());
        assertTrue(Calibration.hard(rows.subList(0, 2)) == 1 && Calibration.hard(rows.subList(2, 4)) == 1);
        assertEquals(2, Calibration.problems(rows.subList(4, 6)).size());
        assertEquals(1, Calibration.problems(rows.subList(6, 8)).size()); // counting passes would pick 3e-4
        assertTrue(Calibration.score(rows.subList(4, 6)) < Calibration.score(rows.subList(6, 8)));
        assertTrue(rows.get(2).checks().get(0).text().contains("unstable"), rows.get(2).checks().toString());
        // without problems, the smaller mean contraction ratio wins; with only hard failures, the fewest
        List<Calibration.Row> clean = List.of(row(1e-3f, "a", 5, 0.1, 1.0, 0, 0.6, 0.1), row(3e-4f, "a", 5, 0.1, 1.0, 0, 0.3, 0.1));
        assertEquals(3e-4f, Calibration.recommend(clean).setting().lr());
        List<Calibration.Row> allHard = List.of(row(1e-3f, "a", -1, 0.1, 1.0, 0, 0.1, 3), row(3e-4f, "a", -1, 0.1, 1.0, 0, 0.9, 0.1));
        assertEquals(3e-4f, Calibration.recommend(allHard).setting().lr());
        assertTrue(Calibration.markdown(rows, rec).contains("HARD a: λ̂ -0.500 <= 0"));
        // a recommendation whose posteriors are the prior's (r > 0.9) says so; one the loss shapes does not
        List<Calibration.Row> prior = List.of(row(1e-3f, "a", 5, 0.1, 1.0, 0, 0.95, 0.1), row(1e-3f, "b", 5, 0.1, 1.0, 0, 0.93, 0.1));
        assertTrue(String.join("\n", Calibration.recommend(prior).reasons()).contains("PRIOR-DOMINATED"), Calibration.recommend(prior).toString());
        assertFalse(String.join("\n", rec.reasons()).contains("PRIOR-DOMINATED"), rec.toString());
    }

    @Test
    void badGridsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Calibration.Grid(List.of(), List.of(1f), List.of(1f)));
        assertThrows(IllegalArgumentException.class, () -> new Calibration.Grid(List.of(1e-3f), List.of(0f), List.of(1f)));
        assertThrows(IllegalArgumentException.class, () -> new Calibration.Grid(List.of(-1e-3f), List.of(1f), List.of(1f)));
        assertThrows(IllegalArgumentException.class, () -> new Calibration.Grid(List.of(1e-3f, 1e-3f), List.of(1f), List.of(1f)));
        assertThrows(IllegalArgumentException.class, () -> Calibration.Grid.parse("--lr-grid", "1e-3,,2"));
        assertThrows(IllegalArgumentException.class, () -> Calibration.Grid.parse("--lr-grid", "x"));
        assertEquals(List.of(1e-3f, 2f), Calibration.Grid.parse("--lr-grid", "1e-3, 2"));
    }
}
