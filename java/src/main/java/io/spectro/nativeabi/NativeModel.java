package io.spectro.nativeabi;

import io.spectro.model.Block;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import static io.spectro.nativeabi.SpectroAbi.rethrow;

/**
 * An sp_model: weights w, the anchor w* (w as {@link #load} left it; the backend copies it only when
 * sampling or a parameter write first needs it), the gradient buffer and the
 * activation memory for batches of up to {@code maxBatchTokens} tokens. Not thread-safe: use one
 * model from one thread at a time. Closing the model first closes the batches, buffers and
 * accumulators made from it; close is idempotent.
 */
public final class NativeModel implements AutoCloseable {
    private final Backend backend;
    private final SpectroAbi abi;
    private final ModelConfig config;
    private final long paramCount;
    private final int maxBatchTokens;
    private int featureCount = -1;
    private final Set<AutoCloseable> children = new LinkedHashSet<>();
    private MemorySegment handle;

    private NativeModel(Backend backend, ModelConfig config, MemorySegment handle, int maxBatchTokens) {
        this.backend = backend;
        this.abi = backend.abi();
        this.config = config;
        this.handle = handle;
        this.paramCount = config.paramCount();
        this.maxBatchTokens = maxBatchTokens;
    }

    /** sp_model_create on device 0 (CUDA) with {@code threads} CPU threads (0 = library default: the CPUs this process may use). */
    public static NativeModel create(Backend b, ModelConfig c, int threads, int maxBatchTokens, boolean bf16) {
        return create(b, c, threads, 0, maxBatchTokens, bf16);
    }

    /** As {@link #create(Backend, ModelConfig, int, int, boolean)} with an explicit CUDA device ordinal. */
    public static NativeModel create(Backend b, ModelConfig c, int threads, int device, int maxBatchTokens, boolean bf16) {
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0: " + threads);
        if (maxBatchTokens < 2) throw new IllegalArgumentException("maxBatchTokens must be >= 2: " + maxBatchTokens);
        SpectroAbi abi = b.abi();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cfg = a.allocate(SpectroAbi.SP_CONFIG);
            SpectroAbi.putConfig(cfg, c);
            MemorySegment opt = a.allocate(SpectroAbi.SP_OPTIONS);
            opt.set(ValueLayout.JAVA_INT, SpectroAbi.offset(SpectroAbi.SP_OPTIONS, "n_threads"), threads);
            opt.set(ValueLayout.JAVA_INT, SpectroAbi.offset(SpectroAbi.SP_OPTIONS, "device"), device);
            opt.set(ValueLayout.JAVA_INT, SpectroAbi.offset(SpectroAbi.SP_OPTIONS, "precision"),
                    bf16 ? SpectroAbi.SP_PRECISION_BF16 : SpectroAbi.SP_PRECISION_FP32);
            opt.set(ValueLayout.JAVA_INT, SpectroAbi.offset(SpectroAbi.SP_OPTIONS, "max_batch"), maxBatchTokens);
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            int s;
            try {
                s = (int) abi.modelCreate.invokeExact(cfg, opt, out);
            } catch (Throwable t) {
                throw rethrow(t);
            }
            abi.check(s, "sp_model_create");
            return new NativeModel(b, c, out.get(ValueLayout.ADDRESS, 0), maxBatchTokens);
        }
    }

    public Backend backend() {
        return backend;
    }

    public ModelConfig config() {
        return config;
    }

    public long paramCount() {
        return paramCount;
    }

    public int maxBatchTokens() {
        return maxBatchTokens;
    }

    MemorySegment handle() {
        if (handle == null) throw new IllegalStateException("NativeModel is closed");
        return handle;
    }

    SpectroAbi abi() {
        return abi;
    }

    void adopt(AutoCloseable child) {
        children.add(child);
    }

    void release(AutoCloseable child) {
        children.remove(child);
    }

    /** sp_model_load: copies the flat float32 parameters (paramCount floats) into w and the anchor w*. */
    public void load(MemorySegment params) {
        if (params.byteSize() != 4 * paramCount)
            throw new IllegalArgumentException("params hold " + params.byteSize() / 4 + " floats, the model needs " + paramCount);
        MemorySegment h = handle();
        if (params.isNative()) {
            call(() -> (int) abi.modelLoad.invokeExact(h, params, paramCount), "sp_model_load");
        } else {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment tmp = a.allocate(params.byteSize(), 64);
                tmp.copyFrom(params);
                call(() -> (int) abi.modelLoad.invokeExact(h, tmp, paramCount), "sp_model_load");
            }
        }
    }

    /**
     * Loads a checkpoint's weights tensor by tensor with sp_model_load_tensor: each tensor goes from the
     * memory-mapped file (F32, F16 or BF16) straight into the backend's parameters, converted natively,
     * so no float32 copy of the model is made on the Java side. The result equals
     * {@code load(ck.params())} bit for bit.
     */
    public void load(Checkpoint ck) {
        if (!ck.config().equals(config))
            throw new IllegalArgumentException("checkpoint " + ck.root() + " has another config than this model");
        MemorySegment h = handle();
        ck.forEachTensor(src -> {
            int dtype = SpectroAbi.dtype(src.dtype());
            long offset = src.tensor().offset(), n = src.tensor().numel();
            MemorySegment data = src.data();
            call(() -> (int) abi.modelLoadTensor.invokeExact(h, offset, n, dtype, data), "sp_model_load_tensor");
        });
    }

    /** Loads parameters from a Java array (models below 2^31 parameters). */
    public void load(float[] params) {
        load(MemorySegment.ofArray(params));
    }

    private void checkRange(long offset, long n) {
        if (offset < 0 || n < 0 || offset + n > paramCount)
            throw new IndexOutOfBoundsException("range [" + offset + ", " + (offset + n) + ") outside the " + paramCount + " parameters");
    }

    /** sp_params_read: n floats of w from offset. */
    public float[] readParams(long offset, int n) {
        checkRange(offset, n);
        float[] out = new float[n];
        MemorySegment h = handle();
        call(() -> (int) abi.paramsRead.invokeExact(h, offset, (long) n, MemorySegment.ofArray(out)), "sp_params_read");
        return out;
    }

    /** sp_params_read into {@code dst} (dst.byteSize()/4 floats; heap or native memory). */
    public void readParams(long offset, MemorySegment dst) {
        long n = dst.byteSize() / 4;
        checkRange(offset, n);
        MemorySegment h = handle();
        call(() -> (int) abi.paramsRead.invokeExact(h, offset, n, dst), "sp_params_read");
    }

    /** sp_params_write: overwrites w[offset .. offset + v.length) (the anchor is unchanged). */
    public void writeParams(long offset, float[] v) {
        checkRange(offset, v.length);
        MemorySegment h = handle();
        call(() -> (int) abi.paramsWrite.invokeExact(h, offset, (long) v.length, MemorySegment.ofArray(v)), "sp_params_write");
    }

    /** sp_params_reset: w[blocks] <- w*[blocks]. */
    public void resetParams(Block... blocks) {
        if (blocks.length == 0) return;
        MemorySegment h = handle();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment bs = blocks(a, blocks);
            call(() -> (int) abi.paramsReset.invokeExact(h, bs, blocks.length), "sp_params_reset");
        }
    }

    /** sp_grads_read: n floats of the gradient buffer from offset. */
    public float[] readGrads(long offset, int n) {
        checkRange(offset, n);
        float[] out = new float[n];
        MemorySegment h = handle();
        call(() -> (int) abi.gradsRead.invokeExact(h, offset, (long) n, MemorySegment.ofArray(out)), "sp_grads_read");
        return out;
    }

    /** sp_grads_read into {@code dst} (dst.byteSize()/4 floats; heap or native memory). */
    public void readGrads(long offset, MemorySegment dst) {
        long n = dst.byteSize() / 4;
        checkRange(offset, n);
        MemorySegment h = handle();
        call(() -> (int) abi.gradsRead.invokeExact(h, offset, n, dst), "sp_grads_read");
    }

    /** sp_batch_create: uploads tokens [B, T] (row-major, tokens.length == B*T). */
    public NativeBatch batch(int[] tokens, int B, int T) {
        if (B <= 0 || T <= 0 || (long) B * T != tokens.length)
            throw new IllegalArgumentException("batch: " + tokens.length + " tokens do not form [" + B + ", " + T + "]");
        MemorySegment h = handle();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            call(() -> (int) abi.batchCreate.invokeExact(h, MemorySegment.ofArray(tokens), B, T, out), "sp_batch_create");
            NativeBatch b = new NativeBatch(this, out.get(ValueLayout.ADDRESS, 0), B, T);
            adopt(b);
            return b;
        }
    }

    private void checkBatch(NativeBatch b, float[] lossesOut) {
        if (b.model() != this) throw new IllegalArgumentException("the batch belongs to another model");
        if (lossesOut != null && lossesOut.length < (long) b.B() * (b.T() - 1))
            throw new IllegalArgumentException("lossesOut holds " + lossesOut.length + " floats, need " + (long) b.B() * (b.T() - 1));
    }

    /**
     * sp_memory_available: bytes the backend could still allocate now (CPU: the kernel's MemAvailable;
     * CUDA: free memory of the model's device).
     */
    public long memoryAvailable() {
        MemorySegment h = handle();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.JAVA_LONG);
            call(() -> (int) abi.memoryAvailable.invokeExact(h, out), "sp_memory_available");
            return out.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    /** sp_forward: per-token losses into {@code lossesOut} (nullable, B*(T-1)); returns the mean loss. */
    public double forward(NativeBatch b, float[] lossesOut) {
        checkBatch(b, lossesOut);
        MemorySegment h = handle(), bh = b.handle();
        int n = b.B() * (b.T() - 1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment losses = lossesOut == null ? MemorySegment.NULL : a.allocate(4L * n, 4);
            MemorySegment mean = a.allocate(ValueLayout.JAVA_DOUBLE);
            call(() -> (int) abi.forward.invokeExact(h, bh, losses, mean), "sp_forward");
            if (lossesOut != null) MemorySegment.copy(losses, ValueLayout.JAVA_FLOAT, 0, lossesOut, 0, n);
            return mean.get(ValueLayout.JAVA_DOUBLE, 0);
        }
    }

    /** sp_feature_count of this model's config: floats per prediction of {@link #features}. */
    public int featureCount() {
        if (featureCount < 0) featureCount = Math.toIntExact(backend.featureCount(config));
        return featureCount;
    }

    /**
     * sp_forward_features: one forward pass (always from the embedding; the batch's cache is not
     * used) that returns B*(T-1) rows of {@link #featureCount()} floats, row i = b*(T-1) + t, in
     * spectro.h's column order ({@link Backend#featureNames} names them): next-token entropy,
     * residual norm per layer, per-head attention-output norm, MLP output norm per layer, per-head
     * attention entropy. The batch keeps the losses as after {@link #forward}.
     */
    public float[] features(NativeBatch b) {
        long n = (long) b.B() * (b.T() - 1) * featureCount();
        if (n > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("the batch's features (" + n + " floats) do not fit a Java array: use a smaller batch");
        float[] out = new float[(int) n];
        features(b, out, null);
        return out;
    }

    /** As {@link #features(NativeBatch)} into {@code featOut} (B*(T-1)*F floats), the losses into {@code lossesOut} (nullable). */
    public void features(NativeBatch b, float[] featOut, float[] lossesOut) {
        checkBatch(b, lossesOut);
        long nf = (long) b.B() * (b.T() - 1) * featureCount();
        if (featOut == null || featOut.length < nf)
            throw new IllegalArgumentException("featOut holds " + (featOut == null ? 0 : featOut.length) + " floats, need " + nf);
        MemorySegment h = handle(), bh = b.handle();
        int n = b.B() * (b.T() - 1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment feat = a.allocate(4L * nf, 4);
            MemorySegment losses = lossesOut == null ? MemorySegment.NULL : a.allocate(4L * n, 4);
            call(() -> (int) abi.forwardFeatures.invokeExact(h, bh, feat, nf, losses), "sp_forward_features");
            MemorySegment.copy(feat, ValueLayout.JAVA_FLOAT, 0, featOut, 0, (int) nf);
            if (lossesOut != null) MemorySegment.copy(losses, ValueLayout.JAVA_FLOAT, 0, lossesOut, 0, n);
        }
    }

    /**
     * sp_forward_backward: forward, then the gradient of the mean loss into the gradient buffer,
     * for layers >= stopLayer and (when blocks is not null) only the tensors the blocks touch.
     * Returns the mean loss.
     */
    public double forwardBackward(NativeBatch b, int stopLayer, Block[] blocks, float[] lossesOut) {
        checkBatch(b, lossesOut);
        if (stopLayer < 0 || stopLayer > config.nLayers())
            throw new IllegalArgumentException("stopLayer " + stopLayer + " outside [0, " + config.nLayers() + "]");
        MemorySegment h = handle(), bh = b.handle();
        int n = b.B() * (b.T() - 1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment req = a.allocate(SpectroAbi.SP_GRAD_REQUEST);
            req.set(ValueLayout.JAVA_INT, SpectroAbi.offset(SpectroAbi.SP_GRAD_REQUEST, "stop_layer"), stopLayer);
            boolean some = blocks != null && blocks.length > 0;
            req.set(ValueLayout.ADDRESS, SpectroAbi.offset(SpectroAbi.SP_GRAD_REQUEST, "blocks"),
                    some ? blocks(a, blocks) : MemorySegment.NULL);
            req.set(ValueLayout.JAVA_INT, SpectroAbi.offset(SpectroAbi.SP_GRAD_REQUEST, "n_blocks"), some ? blocks.length : 0);
            MemorySegment losses = lossesOut == null ? MemorySegment.NULL : a.allocate(4L * n, 4);
            MemorySegment mean = a.allocate(ValueLayout.JAVA_DOUBLE);
            call(() -> (int) abi.forwardBackward.invokeExact(h, bh, req, losses, mean), "sp_forward_backward");
            if (lossesOut != null) MemorySegment.copy(losses, ValueLayout.JAVA_FLOAT, 0, lossesOut, 0, n);
            return mean.get(ValueLayout.JAVA_DOUBLE, 0);
        }
    }

    /** sp_sgld_update over the elements of {@code blocks}; {@code rms} holds their RMSProp state (nullable when not rmsprop). */
    public void sgldUpdate(Block[] blocks, NativeBuffer rms, SgldParams p) {
        if (blocks == null || blocks.length == 0) throw new IllegalArgumentException("sgldUpdate needs at least one block");
        if (p.rmsprop() && rms == null) throw new IllegalArgumentException("RMSProp-SGLD needs an rms buffer");
        MemorySegment h = handle();
        MemorySegment rh = rms == null ? MemorySegment.NULL : rms.handle();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment bs = blocks(a, blocks);
            MemorySegment ps = a.allocate(SpectroAbi.SP_SGLD_PARAMS);
            SpectroAbi.putSgld(ps, p);
            call(() -> (int) abi.sgldUpdate.invokeExact(h, bs, blocks.length, rh, ps), "sp_sgld_update");
        }
    }

    /** sp_buffer_create: a zero-filled float buffer of n elements in backend memory. */
    public NativeBuffer buffer(long n) {
        if (n <= 0) throw new IllegalArgumentException("buffer size must be positive: " + n);
        MemorySegment h = handle();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            call(() -> (int) abi.bufferCreate.invokeExact(h, n, out), "sp_buffer_create");
            NativeBuffer buf = new NativeBuffer(this, out.get(ValueLayout.ADDRESS, 0), n);
            adopt(buf);
            return buf;
        }
    }

    /** sp_accum_create: streaming loss sums for n probe tokens. */
    public NativeAccum accum(long n) {
        if (n <= 0 || n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("accumulator size out of range: " + n);
        MemorySegment h = handle();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            call(() -> (int) abi.accumCreate.invokeExact(h, n, out), "sp_accum_create");
            NativeAccum acc = new NativeAccum(this, out.get(ValueLayout.ADDRESS, 0), (int) n);
            adopt(acc);
            return acc;
        }
    }

    static MemorySegment blocks(Arena a, Block[] blocks) {
        MemorySegment s = a.allocate(SpectroAbi.SP_BLOCK, blocks.length);
        SpectroAbi.putBlocks(s, blocks);
        return s;
    }

    @FunctionalInterface
    interface Call {
        int run() throws Throwable;
    }

    /** Runs one downcall and turns a non-OK status into a {@link NativeException}. */
    void call(Call c, String function) {
        int s;
        try {
            s = c.run();
        } catch (Throwable t) {
            throw rethrow(t);
        }
        abi.check(s, function);
    }

    @Override
    public void close() {
        if (handle == null) return;
        List<AutoCloseable> kids = new ArrayList<>(children);
        RuntimeException first = null;
        for (AutoCloseable k : kids) {
            try {
                k.close();
            } catch (Exception e) {
                if (first == null) first = e instanceof RuntimeException r ? r : new IllegalStateException(e);
            }
        }
        children.clear();
        MemorySegment h = handle;
        handle = null;
        call(() -> (int) abi.modelDestroy.invokeExact(h), "sp_model_destroy");
        if (first != null) throw first;
    }
}
