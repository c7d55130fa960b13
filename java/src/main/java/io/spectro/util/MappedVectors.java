package io.spectro.util;

import io.spectro.SpectroException;
import io.spectro.io.Npy;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * A 2-D little-endian float32 .npy file memory-mapped read-only: the rows stay in the page cache, not on
 * the heap, whatever N is (rows are addressed with long offsets). {@link #create} maps a new file for
 * writing, filled block by block and renamed into place when complete (no partial file under the final name).
 *
 * <p>Whether a stage maps its input or reads it onto the heap: {@link #useMapping(Path)}, files larger than
 * {@code -Dspectro.mapBytes} (default 256 MiB; 0 maps everything, as the tests do).
 */
public final class MappedVectors implements Rows, AutoCloseable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final Path file;
    private final Arena arena;
    private final MemorySegment seg;
    private final long offset;
    private final int rows, cols;
    private final Path target; // where a written file goes when complete (null: read-only)

    private MappedVectors(Path file, Arena arena, MemorySegment seg, long offset, int rows, int cols, Path target) {
        this.file = file;
        this.arena = arena;
        this.seg = seg;
        this.offset = offset;
        this.rows = rows;
        this.cols = cols;
        this.target = target;
    }

    /** True when {@code file} is larger than {@code -Dspectro.mapBytes} (default 256 MiB). */
    public static boolean useMapping(Path file) {
        long limit = Long.getLong("spectro.mapBytes", 256L << 20);
        try {
            return Files.size(file) > limit;
        } catch (IOException e) {
            return false;
        }
    }

    /** Maps a 2-D '<f4' .npy file read-only, checking its header and that the file holds all its data ({@link Npy#info}). */
    public static MappedVectors open(Path file) {
        if (!Files.isRegularFile(file)) throw new SpectroException(file + ": no such file");
        Npy.Info info = Npy.info(file);
        long[] shape = info.shape();
        if (!info.descr().equals("<f4"))
            throw new SpectroException(file + ": dtype " + info.descr() + " cannot be mapped (expected <f4, float32)");
        if (shape.length != 2)
            throw new SpectroException(file + ": expected a 2-D array [rows, components], got shape " + Arrays.toString(shape));
        if (shape[0] == 0 || shape[1] == 0) throw new SpectroException(file + ": empty array of shape " + shape[0] + "x" + shape[1]);
        if (shape[0] > Integer.MAX_VALUE || shape[1] > Integer.MAX_VALUE)
            throw new SpectroException(file + ": shape " + Arrays.toString(shape) + " has more rows than int can count");
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return new MappedVectors(file, arena, seg, info.dataOffset(), (int) shape[0], (int) shape[1], null);
        } catch (IOException e) {
            arena.close();
            throw new SpectroException(file + ": cannot map (" + e.getMessage() + ")", e);
        }
    }

    /**
     * A new rows x cols float32 .npy mapped for writing at {@code file + ".tmp"}; {@link #commit} renames it
     * to {@code file}; closing without commit deletes it.
     */
    public static MappedVectors create(Path file, int rows, int cols) {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        byte[] head = headerBytes(rows, cols);
        long size = head.length + (long) rows * cols * 4;
        Arena arena = Arena.ofShared();
        try {
            if (file.getParent() != null) Files.createDirectories(file.getParent());
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                MemorySegment seg = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
                MemorySegment.copy(head, 0, seg, ValueLayout.JAVA_BYTE, 0, head.length);
                return new MappedVectors(tmp, arena, seg, head.length, rows, cols, file);
            }
        } catch (IOException e) {
            arena.close();
            throw new SpectroException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    @Override public int rows() { return rows; }

    @Override public int cols() { return cols; }

    public Path file() { return file; }

    /** The rows as one float32 segment (little-endian, row-major, byte offset 0 = row 0), long-indexed. */
    public MemorySegment data() { return seg.asSlice(offset, 4L * rows * cols); }

    /**
     * Maps a 2-D '<i4' .npy file of shape [rows, cols] read-only into {@code arena} and returns its data
     * (as {@link #data}); a SpectroException names the file when its type or shape differ or it is short.
     */
    public static MemorySegment mapInts(Path file, long rows, int cols, Arena arena) {
        if (!Files.isRegularFile(file)) throw new SpectroException(file + ": no such file");
        Npy.Info info = Npy.info(file);
        if (!info.descr().equals("<i4") || info.shape().length != 2 || info.shape()[0] != rows || info.shape()[1] != cols)
            throw new SpectroException(file + ": expected int32 [" + rows + ", " + cols + "], got " + info.descr() + " "
                    + Arrays.toString(info.shape()));
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena).asSlice(info.dataOffset(), 4L * rows * cols);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot map (" + e.getMessage() + ")", e);
        }
    }

    @Override
    public void copy(int r0, int r1, float[] dst) {
        MemorySegment.copy(seg, F32, offset + (long) r0 * cols * 4, dst, 0, (r1 - r0) * cols);
    }

    /** Writes rows [r0, r0 + count) from src (a file made by {@link #create}). */
    public void put(int r0, int count, float[] src) {
        MemorySegment.copy(src, 0, seg, F32, offset + (long) r0 * cols * 4, count * cols);
    }

    /** Flushes a file made by {@link #create} and renames it into place. */
    public void commit() {
        if (target == null) throw new IllegalStateException(file + " is read-only");
        seg.force();
        arena.close();
        try {
            Files.move(file, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new SpectroException(target + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
            if (target != null) {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException ignored) {
                    // a leftover .tmp is never taken for a finished file
                }
            }
        }
    }

    private static byte[] headerBytes(long rows, long cols) {
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows + "," + cols + "), }"; // as Npy.write
        int total = 10 + dict.length() + 1;
        String h = dict + " ".repeat((64 - total % 64) % 64) + "\n";
        byte[] out = new byte[10 + h.length()];
        System.arraycopy(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}, 0, out, 0, 8);
        out[8] = (byte) (h.length() & 0xff);
        out[9] = (byte) (h.length() >> 8);
        System.arraycopy(h.getBytes(StandardCharsets.ISO_8859_1), 0, out, 10, h.length());
        return out;
    }
}
