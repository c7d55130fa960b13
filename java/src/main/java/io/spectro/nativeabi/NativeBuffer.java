package io.spectro.nativeabi;

import java.lang.foreign.MemorySegment;

/** An sp_buffer: n floats in backend memory (e.g. RMSProp state), zero-filled at creation. Close is idempotent. */
public final class NativeBuffer implements AutoCloseable {
    private final NativeModel model;
    private final long size;
    private MemorySegment handle;

    NativeBuffer(NativeModel model, MemorySegment handle, long size) {
        this.model = model;
        this.handle = handle;
        this.size = size;
    }

    public long size() {
        return size;
    }

    MemorySegment handle() {
        if (handle == null) throw new IllegalStateException("NativeBuffer is closed");
        return handle;
    }

    private void checkRange(long off, long n) {
        if (off < 0 || n < 0 || off + n > size)
            throw new IndexOutOfBoundsException("range [" + off + ", " + (off + n) + ") outside buffer of " + size);
    }

    /** sp_buffer_read. */
    public float[] read(long off, int n) {
        checkRange(off, n);
        float[] out = new float[n];
        MemorySegment h = handle();
        model.call(() -> (int) model.abi().bufferRead.invokeExact(h, off, (long) n, MemorySegment.ofArray(out)), "sp_buffer_read");
        return out;
    }

    /** sp_buffer_write. */
    public void write(long off, float[] v) {
        checkRange(off, v.length);
        MemorySegment h = handle();
        model.call(() -> (int) model.abi().bufferWrite.invokeExact(h, off, (long) v.length, MemorySegment.ofArray(v)), "sp_buffer_write");
    }

    @Override
    public void close() {
        if (handle == null) return;
        MemorySegment h = handle;
        handle = null;
        model.release(this);
        model.call(() -> (int) model.abi().bufferDestroy.invokeExact(h), "sp_buffer_destroy");
    }
}
