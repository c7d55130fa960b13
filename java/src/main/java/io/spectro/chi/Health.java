package io.spectro.chi;

import io.spectro.SpectroException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Health of one component's chains (docs/method.md, "Health gating"): {@code ok}, {@code warn} or
 * {@code fail} with the reasons, from the sampler diagnostics and the χ column itself.
 * <ul>
 *   <li>fail: the chains stopped on NaN/inf or the column holds a non-finite value; λ̂ &lt; 0 (the
 *       chains found losses below L(w*): ε too large, or w* not a minimum in this component's
 *       directions; at nβ = 0 the same test on E[S] − L0); R-hat &gt; {@value #RHAT_FAIL}; |drift| &gt;
 *       {@value #DRIFT_FAIL} standard errors;</li>
 *   <li>warn: R-hat &gt; {@value #RHAT_WARN}; |drift| &gt; {@value #DRIFT_WARN}; split-half reliability
 *       &lt; {@value #RELIABILITY_WARN}.</li>
 * </ul>
 * Why two R-hat tiers: with 4 chains of 50 draws whose S has an integrated autocorrelation time of ~5,
 * R-hat of a stationary sampler exceeds 1.1 in about 5% of components (its between-chain variance has 3
 * degrees of freedom), so over 410 components 1.1 alone would fail ~20 healthy ones.
 *
 * @param reliability split-half reliability of the column (Spearman-Brown corrected; NaN with one chain)
 * @param draws       draws per chain the column was estimated from
 * @param targetReached with --target-reliability: whether the reliability reached the target before the
 *                    --max-draws cap (not reaching it is a warning); null without a target
 */
public record Health(String component, Level level, List<String> reasons, double llc, double rhat, double drift,
                     double reliability, int draws, Boolean targetReached) {
    public enum Level { ok, warn, fail }

    public static final double RHAT_WARN = 1.1, RHAT_FAIL = 1.3, DRIFT_WARN = 3, DRIFT_FAIL = 6, RELIABILITY_WARN = 0.5;

    /** What whiten and cluster do with {@code fail} columns ({@code warn} columns are always kept). */
    public enum Policy {
        /** use every column (a non-finite column still makes whitening refuse the run) */
        keep,
        /** leave the failing columns out, say so, and record which were used (the default) */
        drop,
        /** refuse the run (exit 2) when any column fails */
        stop;

        public static Policy parse(String s) {
            try {
                return valueOf(s.strip().toLowerCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new SpectroException("--unhealthy: expected keep, drop or stop, got '" + s + "'");
            }
        }
    }

    /**
     * @param columnFinite whether every value of the component's χ column is finite
     * @param nbeta        the run's nβ (0: the baseline, whose λ̂ is 0 by definition; E[S] − L0 is tested instead)
     */
    public static Health of(Diagnostics d, double reliability, boolean columnFinite, double nbeta) {
        return of(d, reliability, columnFinite, nbeta, Double.NaN);
    }

    /** @param target the run's --target-reliability (NaN: none) */
    public static Health of(Diagnostics d, double reliability, boolean columnFinite, double nbeta, double target) {
        List<String> fail = new ArrayList<>(), warn = new ArrayList<>();
        if (!d.status().equals("ok")) fail.add(d.status());
        else {
            if (!columnFinite) fail.add("non-finite chi values");
            double excess = d.meanS() - d.loss0();
            if (!Double.isFinite(excess)) fail.add("non-finite sampling loss");
            else if (excess < 0)
                fail.add(nbeta > 0 ? String.format(Locale.ROOT, "negative LLC %.3g (chains found loss below L0)", d.llc())
                        : String.format(Locale.ROOT, "E[S] - L0 = %.3g < 0 (chains found loss below L0)", excess));
            if (d.rhat() > RHAT_FAIL) fail.add(String.format(Locale.ROOT, "R-hat %.2f > %.1f", d.rhat(), RHAT_FAIL));
            else if (d.rhat() > RHAT_WARN) warn.add(String.format(Locale.ROOT, "R-hat %.2f > %.1f", d.rhat(), RHAT_WARN));
            double a = Math.abs(d.drift());
            if (a > DRIFT_FAIL) fail.add(String.format(Locale.ROOT, "drift %.1f SE (first vs second half)", d.drift()));
            else if (a > DRIFT_WARN) warn.add(String.format(Locale.ROOT, "drift %.1f SE (first vs second half)", d.drift()));
            if (reliability < RELIABILITY_WARN)
                warn.add(String.format(Locale.ROOT, "split-half reliability %.2f < %.1f", reliability, RELIABILITY_WARN));
            if (!Double.isNaN(target) && !(reliability >= target))
                warn.add(String.format(Locale.ROOT, "reliability target %.2f not reached at the cap (%d draws per chain)", target, d.draws()));
        }
        Level lv = !fail.isEmpty() ? Level.fail : !warn.isEmpty() ? Level.warn : Level.ok;
        List<String> reasons = new ArrayList<>(fail);
        reasons.addAll(warn);
        Boolean reached = Double.isNaN(target) ? null : d.status().equals("ok") && reliability >= target;
        return new Health(d.component(), lv, List.copyOf(reasons), d.llc(), d.rhat(), d.drift(), reliability, d.draws(), reached);
    }

    /** The end-of-run table: one line per component. */
    public static String table(List<Health> hs) {
        boolean target = hs.stream().anyMatch(h -> h.targetReached() != null);
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-12s %-6s %9s %7s %7s %11s %6s%s  %s%n",
                "component", "health", "LLC", "R-hat", "drift", "reliability", "draws", target ? " target" : "", "reasons"));
        for (Health h : hs)
            sb.append(String.format(Locale.ROOT, "%-12s %-6s %9.3f %7.3f %7.2f %11.3f %6d%s  %s%n", h.component(), h.level(), h.llc(),
                    h.rhat(), h.drift(), h.reliability(), h.draws(),
                    !target ? "" : String.format(Locale.ROOT, " %6s", h.targetReached() == null ? "-" : h.targetReached() ? "yes" : "no"),
                    String.join("; ", h.reasons())));
        long warn = hs.stream().filter(h -> h.level() == Level.warn).count(), fail = hs.stream().filter(h -> h.level() == Level.fail).count();
        sb.append(String.format(Locale.ROOT, "%d ok, %d warn, %d fail%n", hs.size() - warn - fail, warn, fail));
        return sb.toString();
    }

    /** The health levels recorded in RUN/diagnostics.json ({@code health} array), or null when there are none. */
    public static List<Level> read(Path runDir, int columns) {
        Path f = runDir.resolve("diagnostics.json");
        JsonNode h = healthArray(f);
        if (h == null) return null;
        if (h.size() != columns) throw new SpectroException(f + ": health lists " + h.size() + " components, chi has " + columns + " columns");
        List<Level> out = new ArrayList<>();
        for (JsonNode n : h) {
            try {
                out.add(Level.valueOf(n.path("level").asString("")));
            } catch (IllegalArgumentException e) {
                throw new SpectroException(f + ": health level '" + n.path("level").asString("") + "' is not ok, warn or fail");
            }
        }
        return out;
    }

    /** The {@code health} array of a diagnostics.json; null when the file or the array is absent (runs before health gating). */
    private static JsonNode healthArray(Path f) {
        if (!Files.isRegularFile(f)) return null;
        JsonNode h;
        try {
            h = new ObjectMapper().readTree(f.toFile()).get("health");
        } catch (RuntimeException e) {
            throw new SpectroException(f + ": cannot parse (" + e.getMessage() + ")", e);
        }
        return h == null || !h.isArray() ? null : h;
    }

    /**
     * The explorer's health badge: "health: 10 ok, 1 warn, 1 fail (l0h3)" from RUN/diagnostics.json, "no chains:
     * gaussian pairs" (or linear response) for a chain-free run, or null for a run without health records.
     */
    public static String badge(Path runDir) {
        // a chain-free estimator has no chains to check: say so instead of "N ok", which would read as checked chains
        if (java.nio.file.Files.isRegularFile(runDir.resolve(GaussianPairs.DESCRIPTION))) return "no chains: gaussian pairs";
        if (java.nio.file.Files.isRegularFile(runDir.resolve(LinearResponse.DESCRIPTION))) return "no chains: linear response";
        JsonNode h = healthArray(runDir.resolve("diagnostics.json"));
        if (h == null) return null;
        int ok = 0, warn = 0;
        List<String> fail = new ArrayList<>();
        for (JsonNode n : h) {
            switch (n.path("level").asString("")) {
                case "ok" -> ok++;
                case "warn" -> warn++;
                default -> fail.add(n.path("component").asString("?"));
            }
        }
        return "health: " + ok + " ok, " + warn + " warn, " + fail.size() + " fail" + (fail.isEmpty() ? "" : " (" + String.join(", ", fail) + ")");
    }

    /**
     * The columns whiten and cluster use under {@code policy}: every column without health records;
     * otherwise all ({@code keep}), those not failing ({@code drop}), or a SpectroException naming the
     * failing components ({@code stop}).
     *
     * @param names component names in column order (for messages)
     */
    public static int[] columns(Path runDir, List<String> names, Policy policy, java.util.function.Consumer<String> log) {
        List<Level> lv = runDir == null ? null : read(runDir, names.size());
        List<Integer> keep = new ArrayList<>();
        List<String> failing = new ArrayList<>();
        for (int c = 0; c < names.size(); c++) {
            boolean bad = lv != null && lv.get(c) == Level.fail;
            if (bad) failing.add(names.get(c));
            if (!bad || policy == Policy.keep) keep.add(c);
        }
        if (!failing.isEmpty()) {
            if (policy == Policy.stop)
                throw new SpectroException(runDir.resolve("diagnostics.json") + ": component(s) " + String.join(", ", failing)
                        + " failed the health checks (--unhealthy stop); see the table there, or use --unhealthy drop|keep");
            if (keep.isEmpty())
                throw new SpectroException(runDir.resolve("diagnostics.json") + ": every component failed the health checks; nothing left to whiten (--unhealthy keep uses them anyway)");
            log.accept((policy == Policy.drop ? "leaving out" : "keeping (--unhealthy keep)") + " " + failing.size()
                    + " component(s) that failed the health checks: " + String.join(", ", failing));
        }
        return keep.stream().mapToInt(Integer::intValue).toArray();
    }
}
