package io.spectro.cli;

import io.spectro.upsample.Features;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;


/** Where the feature forwards of {@code spectro upsample fit|apply} run (a picocli mixin). */
final class FeatureFlags {
    @Mixin BackendFlags backend;
    @Option(names = "--max-batch-tokens", defaultValue = "8192", description = "tokens per native batch (default ${DEFAULT-VALUE})") int maxBatchTokens;
    @Option(names = "--quiet", description = "no progress") boolean quiet;

    Features.Options features() {
        backend.check();
        return new Features.Options(backend.backend, backend.threads, backend.device, backend.bf16(), maxBatchTokens);
    }
}

