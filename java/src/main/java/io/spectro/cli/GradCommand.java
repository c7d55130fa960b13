package io.spectro.cli;

import io.spectro.io.Npy;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import io.spectro.model.SafeTensors;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code spectro grad}: the gradient of the mean loss for every parameter, as an F32 safetensors file. */
@Command(name = "grad", mixinStandardHelpOptions = true,
        description = {"Gradient of the mean per-token loss over all B*(T-1) predictions with respect to every parameter,",
                "written as F32 safetensors under the Hugging Face names (gpt_neox.embed_in.weight, ..., embed_out.weight)."})
public final class GradCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "checkpoint folder")
    Path model;

    @Option(names = "--tokens", required = true, paramLabel = "X.npy", description = "int32 token ids [B, T] (.npy)")
    Path tokens;

    @Option(names = "--out", required = true, paramLabel = "G.safetensors", description = "output gradient file")
    Path out;

    @Mixin
    BackendFlags backend;

    @Option(names = "--max-batch-tokens", defaultValue = "16384", description = "largest B*T per native call; rows are processed in chunks and their gradients combined (default ${DEFAULT-VALUE})")
    int maxBatchTokens;

    @Spec
    CommandSpec spec;

    /** Floats read from the backend per sp_grads_read when chunks are combined. */
    private static final int PIECE = 1 << 22;

    @Override
    public Integer call() {
        backend.check();
        ModelConfig c = Checkpoint.inspect(model).config(); // validate every input before loading anything big
        Npy.Ints x = Inputs.tokens(tokens, c);
        Backend b = backend.load();
        try (Checkpoint ck = Checkpoint.open(model); Arena arena = Arena.ofShared()) {
            ParamLayout layout = ck.layout();
            int B = x.dim(0), T = x.dim(1);
            int rows = Inputs.rowsPerChunk(B, T, maxBatchTokens);
            long n = layout.total();
            MemorySegment grad = arena.allocate(4 * n, 64);
            double meanLoss = 0;
            try (NativeModel m = backend.create(b, c, rows * T)) {
                m.load(ck);
                if (rows == B) {
                    try (NativeBatch nb = m.batch(x.data(), B, T)) {
                        meanLoss = m.forwardBackward(nb, 0, null, null);
                    }
                    m.readGrads(0, grad);
                } else {
                    // mean over all rows = sum over chunks of (rows in chunk / B) * chunk mean gradient
                    float[] piece = new float[PIECE];
                    for (int r0 = 0; r0 < B; r0 += rows) {
                        int r = Math.min(rows, B - r0);
                        try (NativeBatch nb = m.batch(Arrays.copyOfRange(x.data(), r0 * T, (r0 + r) * T), r, T)) {
                            meanLoss += m.forwardBackward(nb, 0, null, null) * r / B;
                        }
                        float w = (float) r / B;
                        for (long off = 0; off < n; off += PIECE) {
                            int len = (int) Math.min(PIECE, n - off);
                            MemorySegment dst = MemorySegment.ofArray(piece).asSlice(0, 4L * len);
                            m.readGrads(off, dst);
                            for (int i = 0; i < len; i++) {
                                long at = off + i;
                                grad.setAtIndex(ValueLayout.JAVA_FLOAT, at, grad.getAtIndex(ValueLayout.JAVA_FLOAT, at) + w * piece[i]);
                            }
                        }
                    }
                }
            }
            List<SafeTensors.Out> outs = new ArrayList<>();
            for (ParamLayout.Tensor t : layout.tensors())
                outs.add(new SafeTensors.Out(t.name(), t.shape(), grad.asSlice(4 * t.offset(), 4 * t.numel())));
            SafeTensors.write(out, outs, "f32");
            spec.commandLine().getOut().printf("mean loss %.6f over %d x %d predictions; gradient of %,d parameters (%s backend) -> %s%n",
                    meanLoss, B, T - 1, n, b.name(), out);
            spec.commandLine().getOut().flush();
        }
        return 0;
    }
}
