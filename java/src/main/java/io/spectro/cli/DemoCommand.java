package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.demo.Demo;
import io.spectro.sampling.SamplerOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code spectro demo}: the whole pipeline on the embedded default. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Run the whole pipeline on the embedded default: corpus from this system's text + synthetic",
                "repeated-span sequences, tokenizer, small model (the shipped one unless --train), susceptibilities",
                "and their nbeta = 0 baseline, whitening, clustering, map, explorer, and the induction-head check.",
                "Every stage is cached in --out; a second run is quick. Runs refuse changed sampler settings",
                "(--nbeta, --gamma, --lr, ...) in an existing --out: give a new --out to compare settings."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--out", defaultValue = "spectro-demo", description = "work directory (default ${DEFAULT-VALUE})") Path out;
    @Option(names = "--train", description = "train the tokenizer and model here instead of using the shipped model") boolean train;
    @Option(names = "--train-steps", defaultValue = "6000", description = "training steps with --train (default ${DEFAULT-VALUE})") int trainSteps;
    @Option(names = "--probe-synthetic", defaultValue = "32", description = "synthetic probe sequences (default ${DEFAULT-VALUE})") int probeSyn;
    @Option(names = "--probe-text", defaultValue = "16", description = "text probe sequences (default ${DEFAULT-VALUE})") int probeText;
    @Option(names = "--sampling", defaultValue = "32", description = "sampling-set sequences (default ${DEFAULT-VALUE})") int sampling;
    @Mixin SamplerFlags sampler;
    @Option(names = "--threads", defaultValue = "0") int threads;
    @Option(names = "--text-chars", defaultValue = "3000000", description = "how much system text to read for the corpus") long textChars;

    @Override
    public Integer call() {
        String repo = System.getProperty("spectro.repo");
        SamplerOptions so = sampler.options(false);
        Demo.Options o;
        try { // options records validate themselves: a bad value is a message (exit 2), not a stack trace
            o = new Demo.Options(out, train, trainSteps, probeText, probeSyn, sampling, so, threads, textChars,
                    repo == null ? null : Path.of(repo), System.err);
        } catch (IllegalArgumentException e) {
            throw new SpectroException("bad option: " + e.getMessage());
        }
        Demo.run(o);
        return 0;
    }
}
