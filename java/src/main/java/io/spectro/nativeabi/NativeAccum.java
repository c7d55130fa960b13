package io.spectro.nativeabi;

import java.lang.foreign.MemorySegment;

/**
 * An sp_accum: double-precision streaming sums over draws for n probe tokens,
 * sum_l[t] += l[t] and sum_phil[t] += phi * l[t], with l the losses of the last forward on a batch.
 * Close is idempotent.
 */
public final class NativeAccum implements AutoCloseable {
    private final NativeModel model;
    private final int size;
    private MemorySegment handle;

    NativeAccum(NativeModel model, MemorySegment handle, int size) {
        this.model = model;
        this.handle = handle;
        this.size = size;
    }

    public int size() {
        return size;
    }

    private MemorySegment handle() {
        if (handle == null) throw new IllegalStateException("NativeAccum is closed");
        return handle;
    }

    /** sp_accum_add: adds the per-token losses of the last forward on {@code b} (B*(T-1) == size), weighted by phi. */
    public void add(NativeModel m, NativeBatch b, double phi) {
        if (m != model || b.model() != model) throw new IllegalArgumentException("accumulator, model and batch must belong together");
        if ((long) b.B() * (b.T() - 1) != size)
            throw new IllegalArgumentException("batch has " + (long) b.B() * (b.T() - 1) + " losses, accumulator holds " + size);
        MemorySegment h = handle(), mh = m.handle(), bh = b.handle();
        model.call(() -> (int) model.abi().accumAdd.invokeExact(h, mh, bh, phi), "sp_accum_add");
    }

    /** sp_accum_read: {sum_l, sum_phil}. */
    public double[][] read() {
        double[] l = new double[size], pl = new double[size];
        MemorySegment h = handle();
        model.call(() -> (int) model.abi().accumRead.invokeExact(h, MemorySegment.ofArray(l), MemorySegment.ofArray(pl)), "sp_accum_read");
        return new double[][]{l, pl};
    }

    /** sp_accum_reset: zeroes both sums. */
    public void reset() {
        MemorySegment h = handle();
        model.call(() -> (int) model.abi().accumReset.invokeExact(h), "sp_accum_reset");
    }

    @Override
    public void close() {
        if (handle == null) return;
        MemorySegment h = handle;
        handle = null;
        model.release(this);
        model.call(() -> (int) model.abi().accumDestroy.invokeExact(h), "sp_accum_destroy");
    }
}
