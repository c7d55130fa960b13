package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.model.ModelConfig;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeModel;
import picocli.CommandLine.Option;

/**
 * Where native work runs: the picocli mixin of every command that creates a model (loss, grad, bench,
 * chi, cost --calibrate).
 */
final class BackendFlags {
    @Option(names = "--backend", defaultValue = "auto", description = "cpu, cuda or auto (default ${DEFAULT-VALUE})") String backend;
    @Option(names = "--precision", defaultValue = "fp32", description = "fp32 or bf16 (cuda only: bf16 GEMM operands and attention, "
            + "fp32 accumulation; docs/cuda.md) (default ${DEFAULT-VALUE})") String precision;
    @Option(names = "--threads", defaultValue = "0", description = "CPU threads (0 = library default: all cores)") int threads;
    @Option(names = "--device", defaultValue = "0", description = "CUDA device index (default ${DEFAULT-VALUE})") int device;

    /** Usage errors (exit 2) in --threads, --precision or --device, before anything is loaded. */
    void check() {
        Inputs.checkThreads(threads);
        bf16();
        if (device < 0) throw new SpectroException("--device must be >= 0, got " + device);
    }

    boolean bf16() {
        return Inputs.bf16(precision);
    }

    Backend load() {
        return Backend.load(backend);
    }

    /** A model on backend b with these threads, device and precision. */
    NativeModel create(Backend b, ModelConfig c, int maxBatchTokens) {
        return NativeModel.create(b, c, threads, device, maxBatchTokens, bf16());
    }
}
