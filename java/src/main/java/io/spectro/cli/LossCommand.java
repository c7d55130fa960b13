package io.spectro.cli;

import io.spectro.io.IoErrors;
import io.spectro.SpectroException;
import io.spectro.io.Npy;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;

/** {@code spectro loss}: per-token losses of a checkpoint on token sequences. */
@Command(name = "loss", mixinStandardHelpOptions = true,
        description = {"Per-token next-token losses (nats) of a model: int32 tokens [B, T] -> float32 losses [B, T-1],",
                "L[b, t] = -log p(tokens[b, t+1] | tokens[b, <=t]). Prints the mean loss."})
public final class LossCommand implements Callable<Integer> {
    static final class Input {
        @Option(names = "--tokens", paramLabel = "X.npy", description = "int32 token ids [B, T] (.npy)")
        Path tokens;
        @Option(names = "--text", paramLabel = "FILE", description = "a UTF-8 text file, tokenized and cut into rows of --seq tokens")
        Path text;
    }

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "checkpoint folder")
    Path model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--out", required = true, paramLabel = "L.npy", description = "output float32 losses [B, T-1] (.npy)")
    Path out;

    @Option(names = "--seq", defaultValue = "512", description = "with --text: tokens per row (default ${DEFAULT-VALUE}, at most max_seq)")
    int seq;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "with --text: tokenizer.json (default: the checkpoint's)")
    Path tokenizer;

    @Mixin
    BackendFlags backend;

    @Option(names = "--max-batch-tokens", defaultValue = "16384", description = "largest B*T per native call; rows are processed in chunks (default ${DEFAULT-VALUE})")
    int maxBatchTokens;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        backend.check();
        Checkpoint.Info info = Checkpoint.inspect(model); // validate every input before loading anything big
        ModelConfig c = info.config();
        Npy.Ints x = input.tokens != null ? Inputs.tokens(input.tokens, c) : textTokens(info, c);
        Backend b = backend.load();
        try (Checkpoint ck = Checkpoint.open(model)) {
            int B = x.dim(0), T = x.dim(1);
            int rows = Inputs.rowsPerChunk(B, T, maxBatchTokens);
            float[] losses = new float[B * (T - 1)];
            double sum = 0;
            try (NativeModel m = backend.create(b, c, rows * T)) {
                m.load(ck);
                for (int r0 = 0; r0 < B; r0 += rows) {
                    int r = Math.min(rows, B - r0);
                    float[] part = new float[r * (T - 1)];
                    try (NativeBatch nb = m.batch(Arrays.copyOfRange(x.data(), r0 * T, (r0 + r) * T), r, T)) {
                        sum += m.forward(nb, part) * part.length;
                    }
                    System.arraycopy(part, 0, losses, r0 * (T - 1), part.length);
                }
            }
            Npy.write(out, losses, B, T - 1);
            spec.commandLine().getOut().printf("mean loss %.6f nats over %d x %d predictions (%s backend) -> %s%n",
                    sum / losses.length, B, T - 1, b.name(), out);
            spec.commandLine().getOut().flush();
        }
        return 0;
    }

    private Npy.Ints textTokens(Checkpoint.Info ck, ModelConfig c) {
        Path tok = tokenizer != null ? tokenizer : ck.tokenizerJson();
        if (tok == null) throw new SpectroException("--text needs a tokenizer: " + ck.root() + " has no tokenizer.json; give --tokenizer FILE");
        if (!Files.isRegularFile(tok)) throw new SpectroException("--tokenizer " + tok + ": no such file");
        if (seq < 2 || seq > c.maxSeq()) throw new SpectroException("--seq " + seq + " must be in [2, max_seq " + c.maxSeq() + "]");
        String text;
        try {
            text = Files.readString(input.text, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SpectroException("--text " + input.text + ": cannot read as UTF-8 (" + IoErrors.describe(e) + ")", e);
        }
        int[] ids = encodeText(tok, text);
        if (ids.length < 2) throw new SpectroException("--text " + input.text + ": only " + ids.length + " token(s); need at least 2");
        int T = Math.min(seq, ids.length);
        int B = ids.length / T;
        if (B * T < ids.length)
            spec.commandLine().getErr().printf("note: %d trailing token(s) of %s do not fill a row of %d and are skipped%n",
                    ids.length - B * T, input.text, T);
        return Inputs.checkTokens(input.text.toString(), new Npy.Ints(Arrays.copyOf(ids, B * T), new long[]{B, T}), c);
    }

    static int[] encodeText(Path tokenizerJson, String text) {
        return io.spectro.tokenizer.Tokenizer.load(tokenizerJson).encode(text);
    }
}
