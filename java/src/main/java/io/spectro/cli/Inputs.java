package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.io.Npy;
import io.spectro.model.ModelConfig;

import java.nio.file.Files;
import java.nio.file.Path;

/** Input checks shared by the loss/grad/bench commands (package-private). */
final class Inputs {
    private Inputs() {}

    /** Token ids [B, T] from an int .npy file, checked against the model: rank 2, B >= 1, 2 <= T <= max_seq, 0 <= id < V. */
    static Npy.Ints tokens(Path file, ModelConfig c) {
        if (!Files.isRegularFile(file)) throw new SpectroException(file + ": no such file");
        Npy.Ints x = Npy.readInts(file);
        return checkTokens(file.toString(), x, c);
    }

    static Npy.Ints checkTokens(String source, Npy.Ints x, ModelConfig c) {
        if (x.shape().length != 2)
            throw new SpectroException(source + ": token array has rank " + x.shape().length + " (shape "
                    + java.util.Arrays.toString(x.shape()) + "); expected int32 [B, T]");
        long B = x.shape()[0], T = x.shape()[1];
        if (B == 0 || T == 0) throw new SpectroException(source + ": token array is empty (shape [" + B + ", " + T + "])");
        if (T < 2) throw new SpectroException(source + ": sequences of length " + T + " have no next token to predict; need T >= 2");
        if (T > c.maxSeq())
            throw new SpectroException(source + ": sequence length " + T + " exceeds the model's max_position_embeddings " + c.maxSeq());
        int[] d = x.data();
        for (int i = 0; i < d.length; i++)
            if (d[i] < 0 || d[i] >= c.vocabSize())
                throw new SpectroException(source + ": token id " + d[i] + " at [" + i / T + ", " + i % T + "] is outside the vocabulary [0, "
                        + c.vocabSize() + ")");
        return x;
    }

    /** Rows per native batch so that rows * T <= maxBatchTokens (at least 1). */
    static int rowsPerChunk(int B, int T, int maxBatchTokens) {
        if (maxBatchTokens < 2) throw new SpectroException("--max-batch-tokens must be >= 2, got " + maxBatchTokens);
        return Math.max(1, Math.min(B, maxBatchTokens / T));
    }

    static void checkThreads(int threads) {
        if (threads < 0) throw new SpectroException("--threads must be >= 0 (0 = library default), got " + threads);
    }

    static boolean bf16(String precision) {
        return switch (precision) {
            case "fp32", "f32" -> false;
            case "bf16" -> true;
            default -> throw new SpectroException("--precision must be fp32 or bf16, got '" + precision + "'");
        };
    }
}
