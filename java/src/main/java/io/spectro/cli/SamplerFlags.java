package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.sampling.SamplerOptions;
import picocli.CommandLine.Option;

/**
 * The SGLD options {@code spectro chi} and {@code spectro cost} share (a picocli mixin): a base
 * setting ({@code small} or {@code pythia-1.4b}) and per-field overrides.
 */
final class SamplerFlags {
    @Option(names = "--settings", defaultValue = "small", description = "base settings: small | pythia-1.4b (default ${DEFAULT-VALUE})") String settings;
    @Option(names = "--chains") Integer chains;
    @Option(names = "--draws") Integer draws;
    @Option(names = "--steps-between") Integer stepsBetween;
    @Option(names = "--burnin") Integer burnin;
    @Option(names = "--batch") Integer batch;
    @Option(names = "--lr") Float lr;
    @Option(names = "--nbeta") Float nbeta;
    @Option(names = "--gamma") Float gamma;
    @Option(names = "--sampler", description = "sgld | rmsprop") String sampler;
    @Option(names = "--seed", defaultValue = "0") long seed;

    /** The base settings with the overrides applied; {@code baseline} forces nbeta = 0. */
    SamplerOptions options(boolean baseline) {
        SamplerOptions base = switch (settings) {
            case "small" -> SamplerOptions.small(seed);
            case "pythia-1.4b" -> SamplerOptions.pythia14b(seed);
            default -> throw new SpectroException("--settings: unknown '" + settings + "' (small, pythia-1.4b)");
        };
        try {
            return new SamplerOptions(or(chains, base.chains()), or(draws, base.draws()), or(stepsBetween, base.stepsBetween()),
                    or(burnin, base.burnin()), or(batch, base.batch()), or(lr, base.lr()),
                    baseline ? 0f : or(nbeta, base.nbeta()), or(gamma, base.gamma()),
                    sampler == null ? base.rmsprop() : parseSampler(sampler), base.alpha(), base.rmsEps(), 1f, seed);
        } catch (IllegalArgumentException e) {
            throw new SpectroException("bad sampler option: " + e.getMessage());
        }
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
