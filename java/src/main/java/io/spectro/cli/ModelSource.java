package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** A model shape from a checkpoint folder or a preset name: the picocli mixin of info, bench and cost (exactly one of the two). */
final class ModelSource {
    @Option(names = "--model", paramLabel = "DIR", description = "checkpoint folder (config.json + model.safetensors, sharded, or an HF cache folder)")
    Path model;
    @Option(names = "--preset", paramLabel = "NAME", description = "a preset shape instead: pythia-14m ... pythia-2.8b, tiny")
    String preset;

    /** The configuration (a checkpoint's is read and validated without loading the weights). */
    ModelConfig config() {
        check();
        return model != null ? Checkpoint.inspect(model).config() : ModelConfig.preset(preset);
    }

    /** Exactly one of --model and --preset was given, else a usage error (exit 2). */
    void check() {
        if ((model == null) == (preset == null))
            throw new SpectroException("give exactly one of --model DIR and --preset NAME");
    }

    String label() {
        return model != null ? model.toString() : preset;
    }
}
