package io.spectro.util;

import io.spectro.SpectroException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Working memory outside the Java heap, long-indexed, for arrays sized by N (kNN lists, the graph):
 * {@link #offHeap()} allocates native memory (freed when unreachable); {@link #in(Path)} maps files
 * created in a directory and deleted at once (the mapping keeps them alive, so nothing is left behind,
 * even after a kill), so the kernel can write the pages out under memory pressure: the data need not fit
 * in RAM, let alone in the heap. Segments are zero-filled. {@link #close} unmaps every file segment.
 */
public final class Scratch implements AutoCloseable {
    private final Path dir;
    private final Arena arena;
    private int files;

    private Scratch(Path dir, Arena arena) {
        this.dir = dir;
        this.arena = arena;
    }

    /** Native memory from an automatic arena (tests, small inputs). */
    public static Scratch offHeap() { return new Scratch(null, Arena.ofAuto()); }

    /** File-backed memory: files mapped from {@code dir} (created when missing). */
    public static Scratch in(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new SpectroException(dir + ": cannot create (" + e.getMessage() + ")", e);
        }
        return new Scratch(dir, Arena.ofShared());
    }

    /** A zero-filled segment of {@code bytes} bytes (at least 1). */
    public MemorySegment allocate(long bytes) {
        long size = Math.max(1, bytes);
        if (dir == null) return arena.allocate(size, 8);
        Path f = dir.resolve(".scratch-" + ProcessHandle.current().pid() + "-" + (files++));
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.allocate(1), size - 1); // sparse file of the full size: reads as zeros
            return ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
        } catch (IOException e) {
            throw new SpectroException(f + ": cannot create scratch file of " + size + " bytes (" + e.getMessage() + ")", e);
        } finally {
            try {
                Files.deleteIfExists(f);
            } catch (IOException ignored) {
                // a .scratch file is never taken for a result
            }
        }
    }

    /** The arena of this scratch's segments: other mappings made in it live (and are unmapped) with them. */
    public Arena arena() { return arena; }

    @Override
    public void close() {
        if (dir != null && arena.scope().isAlive()) arena.close();
    }
}
