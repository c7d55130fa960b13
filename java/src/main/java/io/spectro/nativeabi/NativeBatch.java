package io.spectro.nativeabi;

import java.lang.foreign.MemorySegment;

/** An sp_batch: token ids [B, T] in backend memory, plus an optional residual cache. Close is idempotent. */
public final class NativeBatch implements AutoCloseable {
    private final NativeModel model;
    private final int B, T;
    private MemorySegment handle;
    private int cachedLayer = -1;

    NativeBatch(NativeModel model, MemorySegment handle, int B, int T) {
        this.model = model;
        this.handle = handle;
        this.B = B;
        this.T = T;
    }

    public int B() {
        return B;
    }

    public int T() {
        return T;
    }

    NativeModel model() {
        return model;
    }

    MemorySegment handle() {
        if (handle == null) throw new IllegalStateException("NativeBatch is closed");
        return handle;
    }

    /**
     * sp_batch_cache_at: caches the residual stream at the input of {@code layer} computed with the
     * current weights; later forwards start there. The caller keeps every weight below that layer
     * unchanged while the cache is used. A negative layer drops the cache.
     */
    public void cacheAt(int layer) {
        MemorySegment mh = model.handle(), bh = handle();
        model.call(() -> (int) model.abi().batchCacheAt.invokeExact(mh, bh, layer), "sp_batch_cache_at");
        cachedLayer = layer < 0 ? -1 : layer;
    }

    /** The layer cached by the last {@link #cacheAt}, or -1. */
    public int cachedLayer() {
        return cachedLayer;
    }

    @Override
    public void close() {
        if (handle == null) return;
        MemorySegment h = handle;
        handle = null;
        model.release(this);
        model.call(() -> (int) model.abi().batchDestroy.invokeExact(h), "sp_batch_destroy");
    }
}
