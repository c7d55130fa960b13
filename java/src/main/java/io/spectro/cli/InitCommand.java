package io.spectro.cli;

import io.spectro.io.IoErrors;
import io.spectro.SpectroException;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.model.RandomInit;
import io.spectro.model.SafeTensors;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code spectro init}: writes a randomly initialised checkpoint (config.json + model.safetensors). */
@Command(name = "init", mixinStandardHelpOptions = true,
        description = {"Write a randomly initialised GPT-NeoX checkpoint (config.json + model.safetensors) that Hugging Face",
                "transformers can load: weights ~ N(0, 0.02^2), LayerNorm weights 1, biases 0; deterministic for a seed."})
public final class InitCommand implements Callable<Integer> {
    static final class Shape {
        @Option(names = "--preset", paramLabel = "NAME", description = "pythia-14m, pythia-31m, pythia-70m, pythia-160m, pythia-410m, pythia-1b, pythia-1.4b, pythia-2.8b or tiny")
        String preset;
        @Option(names = "--config", paramLabel = "FILE", description = "a GPT-NeoX config.json")
        Path config;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Shape shape;

    @Option(names = "--seed", defaultValue = "0", description = "random seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--dtype", defaultValue = "f32", description = "f32, bf16 or f16 (default ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output folder")
    Path out;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "a tokenizer.json to copy into the folder")
    Path tokenizer;

    @Option(names = "--force", description = "overwrite an existing model.safetensors in --out")
    boolean force;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        ModelConfig c = shape.preset != null ? ModelConfig.preset(shape.preset) : ModelConfig.fromHfJson(shape.config);
        String dt;
        try {
            dt = SafeTensors.dtypeName(dtype);
        } catch (SpectroException e) {
            throw new SpectroException("--dtype: " + e.getMessage());
        }
        if (tokenizer != null && !Files.isRegularFile(tokenizer)) throw new SpectroException("--tokenizer " + tokenizer + ": no such file");
        if (Files.exists(out) && !Files.isDirectory(out)) throw new SpectroException("--out " + out + ": exists and is not a folder");
        if (!force && Files.exists(out.resolve("model.safetensors")))
            throw new SpectroException("--out " + out + ": already holds model.safetensors (use --force to overwrite)");
        try (Arena arena = Arena.ofShared()) {
            MemorySegment params = RandomInit.init(c, seed, arena);
            Checkpoint.write(out, c, params, dt);
        }
        if (tokenizer != null) {
            try {
                byte[] bytes = Files.readAllBytes(tokenizer);
                io.spectro.io.Atomic.writeBytes(out.resolve("tokenizer.json"), bytes);
            } catch (IOException e) {
                throw new SpectroException("--tokenizer " + tokenizer + ": cannot copy into " + out + " (" + IoErrors.describe(e) + ")", e);
            }
        }
        spec.commandLine().getOut().printf("wrote %s: %,d parameters, %s, seed %d%s%n", out, c.paramCount(), dt, seed,
                tokenizer != null ? ", tokenizer.json" : "");
        spec.commandLine().getOut().flush();
        return 0;
    }
}
