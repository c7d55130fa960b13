package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.calibrate.CalibrationFiles;
import java.nio.file.Path;
import io.spectro.sampling.SamplerOptions;
import picocli.CommandLine.Option;

/**
 * The SGLD options {@code spectro chi}, {@code cost} and {@code demo} share (a picocli mixin): a base
 * setting ({@code small} or {@code pythia-1.4b}) and per-field overrides.
 */
final class SamplerFlags {
    @Option(names = "--settings", defaultValue = "small", description = "base settings: small | pythia-1.4b | DIR/calibration.json "
            + "(small with spectro calibrate's recommended lr, nbeta, gamma and sampler; the model must be the calibrated one) "
            + "(default ${DEFAULT-VALUE})") String settings;
    @Option(names = "--chains", description = "chains per component (default from --settings: 4)") Integer chains;
    @Option(names = "--draws", description = "draws per chain (small: 50, pythia-1.4b: 100)") Integer draws;
    @Option(names = "--steps-between", description = "SGLD steps between draws (small: 2, pythia-1.4b: 160)") Integer stepsBetween;
    @Option(names = "--burnin", description = "steps before the first draw period (small: 10, pythia-1.4b: 0)") Integer burnin;
    @Option(names = "--batch", description = "SGLD minibatch, sequences (small: 8, pythia-1.4b: 16)") Integer batch;
    @Option(names = "--lr", description = "SGLD step size epsilon (small: 1e-3, pythia-1.4b: 1e-5)") Float lr;
    @Option(names = "--nbeta", description = "inverse temperature n*beta (small: 30, pythia-1.4b: 10); the baseline uses 0") Float nbeta;
    @Option(names = "--gamma", description = "localisation strength (default from --settings: 300)") Float gamma;
    @Option(names = "--sampler", description = "sgld | rmsprop (small: sgld, pythia-1.4b: rmsprop)") String sampler;
    @Option(names = "--seed", defaultValue = "0", description = "keys the SGLD noise and minibatches (default ${DEFAULT-VALUE})") long seed;
    @Option(names = "--baseline-noise", defaultValue = "independent",
            description = "with --baseline: independent (its own noise and minibatch stream, seed derived from --seed) | shared "
                    + "(the run's own seed, as before; default ${DEFAULT-VALUE})") String baselineNoise;

    /** The base settings with the overrides applied; {@code baseline} forces nbeta = 0. */
    SamplerOptions options(boolean baseline) {
        SamplerOptions base = switch (settings) {
            case "small" -> SamplerOptions.small(seed);
            case "pythia-1.4b" -> SamplerOptions.pythia14b(seed);
            default -> {
                if (!settings.endsWith(".json"))
                    throw new SpectroException("--settings: unknown '" + settings + "' (small, pythia-1.4b, or a calibration.json)");
                CalibrationFiles.Recommended r = calibration();
                yield r.applyTo(SamplerOptions.small(seed));
            }
        };
        boolean shared = switch (baselineNoise) {
            case "independent" -> false;
            case "shared" -> true;
            default -> throw new SpectroException("--baseline-noise: unknown '" + baselineNoise + "' (independent, shared)");
        };
        try {
            SamplerOptions o = base;
            if (chains != null) o = o.withChains(chains);
            if (draws != null) o = o.withDraws(draws);
            if (stepsBetween != null) o = o.withStepsBetween(stepsBetween);
            if (burnin != null) o = o.withBurnin(burnin);
            if (batch != null) o = o.withBatch(batch);
            if (lr != null) o = o.withLr(lr);
            if (nbeta != null) o = o.withNbeta(nbeta);
            if (gamma != null) o = o.withGamma(gamma);
            if (sampler != null) o = o.withRmsprop(parseSampler(sampler));
            return !baseline ? o : shared ? o.withNbeta(0f) : o.baseline();
        } catch (IllegalArgumentException e) {
            throw new SpectroException("bad sampler option: " + e.getMessage());
        }
    }

    /** Whether ε, nβ, γ or the sampler were chosen on the command line (a base setting other than small, or an override). */
    boolean choosesSetting() {
        return !settings.equals("small") || lr != null || nbeta != null || gamma != null || sampler != null;
    }

    /** The calibration.json given as --settings, or null. */
    CalibrationFiles.Recommended calibration() {
        return settings.endsWith(".json") ? CalibrationFiles.read(Path.of(settings)) : null;
    }

    /** A calibration.json made for another model is refused (exit 2) before anything is written. */
    void checkCalibratedModel(io.spectro.model.Checkpoint ck) {
        CalibrationFiles.Recommended r = calibration();
        if (r != null && !r.modelSha256().equals(io.spectro.chi.ChiRun.sha256(ck)))
            throw new SpectroException(settings + ": calibrated for another model (its modelSha256 differs from this checkpoint's); "
                    + "run spectro calibrate on this model");
    }

    private static boolean parseSampler(String s) {
        return switch (s) {
            case "sgld" -> false;
            case "rmsprop" -> true;
            default -> throw new SpectroException("--sampler: unknown '" + s + "' (sgld, rmsprop)");
        };
    }

    private static <T> T or(T v, T d) {
        return v == null ? d : v;
    }
}
