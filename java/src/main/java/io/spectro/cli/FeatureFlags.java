package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.chi.ChiRun;
import io.spectro.data.CorpusOptions;
import io.spectro.upsample.Apply;
import io.spectro.upsample.FeatureSpec;
import io.spectro.upsample.Features;
import io.spectro.upsample.Fit;
import io.spectro.upsample.Quality;
import io.spectro.upsample.Regressors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

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

