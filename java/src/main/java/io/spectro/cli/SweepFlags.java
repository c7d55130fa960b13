package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.sampling.Observables;
import picocli.CommandLine.Option;

/** How {@code spectro chi} lays a sweep out (components, fast path, batching): the mixin chi and cost share. */
final class SweepFlags {
    @Option(names = "--components", defaultValue = "default", description = "default | layer | qkv | spec file") String components;
    @Option(names = "--no-fast-path", description = "disable the restriction-aware fast path (full forward/backward every step)") boolean noFast;
    @Option(names = "--cache-mb", defaultValue = "auto", description = "memory budget of the fast path's activation caches in MiB, or auto: 80%% of the free device memory (cuda), half of the available host memory (cpu) (default ${DEFAULT-VALUE})") String cacheMb;
    @Option(names = "--max-batch-tokens", defaultValue = "8192", description = "largest B*T of one native batch (default ${DEFAULT-VALUE})") int maxBatchTokens;

    boolean autoCache() {
        return cacheMb.equals("auto");
    }

    /** --cache-mb in bytes, or {@link Observables#AUTO_BUDGET}. */
    long cacheBudgetBytes() {
        if (autoCache()) return Observables.AUTO_BUDGET;
        try {
            long mb = Long.parseLong(cacheMb);
            if (mb >= 0 && mb < (1L << 43)) return mb << 20;
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new SpectroException("--cache-mb: expected auto or a number of MiB >= 0, got '" + cacheMb + "'");
    }
}
