package io.spectro.io;

import io.spectro.SpectroException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy .npy files (format 1.0/2.0/3.0), little-endian int32, int64 (read, narrowed with a range
 * check), float32 and float64 (read as float32), C order. Arrays are returned flat with their shape.
 *
 * <p>Files are streamed in chunks, never held as one byte array, so their size is limited only by
 * what the returned Java array can hold (2^31 - 9 elements) and by the heap, which is checked
 * before allocating (the message says how much would be needed). {@link #info} and
 * {@link #readFloats(Path, long, int)} read the header and any slice of a file of any size;
 * {@link Writer} writes one piece by piece.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");
    /** The largest Java array length the JVM allocates. */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;
    private static final int CHUNK = 1 << 22; // bytes per read or write

    private Npy() {}

    /** An int32 array and its shape. */
    public record Ints(int[] data, long[] shape) {
        public int dim(int i) { return (int) shape[i]; }
    }

    /** A float32 array and its shape. */
    public record Floats(float[] data, long[] shape) {
        public int dim(int i) { return (int) shape[i]; }
    }

    /** A file's header: dtype, shape, element count and where the data starts. */
    public record Info(String descr, long[] shape, long count, long dataOffset) {
        public int itemSize() {
            return switch (descr) {
                case "|u1", "<u1", "|b1", "|i1" -> 1;
                case "<u2", "|u2" -> 2;
                case "<i8", "<f8" -> 8;
                default -> 4;
            };
        }
    }

    /** Reads and checks the header (and that the file holds all the data it announces). */
    public static Info info(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return info(file, ch);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read (" + IoErrors.describe(e) + ")", e);
        }
    }

    private static Info info(Path file, FileChannel ch) throws IOException {
        long size = ch.size();
        if (size < 10) throw bad(file, "file is " + size + " bytes, too short for a .npy header");
        ByteBuffer pre = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, pre, 0);
        pre.flip();
        byte[] magic = new byte[6];
        pre.get(magic);
        if (!Arrays.equals(magic, MAGIC)) throw bad(file, "not a .npy file (magic bytes missing)");
        int major = pre.get() & 0xff;
        pre.get();
        long hlen, start;
        if (major == 1) { hlen = pre.getShort() & 0xffff; start = 10; }
        else if (major == 2 || major == 3) {
            if (pre.remaining() < 4) throw bad(file, "file is " + size + " bytes, too short for a .npy header");
            hlen = pre.getInt() & 0xffffffffL;
            start = 12;
        } else throw bad(file, "unsupported .npy format version " + major);
        if (hlen > size - start) throw bad(file, "header length " + hlen + " runs past the end of the file");
        if (hlen > 1 << 20) throw bad(file, "header length " + hlen + " is implausible for a .npy file");
        ByteBuffer h = ByteBuffer.allocate((int) hlen);
        readFully(ch, h, start);
        String text = new String(h.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Matcher d = DESCR.matcher(text), f = FORTRAN.matcher(text), s = SHAPE.matcher(text);
        if (!d.find() || !f.find() || !s.find()) throw bad(file, "malformed .npy header: " + text.strip());
        if (f.group(1).equals("True")) throw bad(file, "Fortran-order arrays are not supported; save with np.ascontiguousarray");
        String[] parts = s.group(1).split(",");
        long[] shape = Arrays.stream(parts).map(String::strip).filter(p -> !p.isEmpty()).mapToLong(p -> {
            try {
                long v = Long.parseLong(p);
                if (v < 0) throw bad(file, "negative dimension in shape (" + s.group(1) + ")");
                return v;
            } catch (NumberFormatException e) {
                throw bad(file, "bad shape (" + s.group(1) + ")");
            }
        }).toArray();
        long count = 1;
        for (long v : shape) {
            if (v != 0 && count > Long.MAX_VALUE / 8 / v) throw bad(file, "shape " + Arrays.toString(shape) + " has more elements than any file can hold");
            count *= v;
        }
        Info info = new Info(d.group(1), shape, count, start + hlen);
        long need = count * info.itemSize(), have = size - info.dataOffset();
        if (have < need)
            throw bad(file, "truncated: shape " + Arrays.toString(shape) + " needs " + need + " data bytes, file has "
                    + have + " after the header at offset " + info.dataOffset());
        return info;
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            int n = ch.read(b, pos);
            if (n < 0) throw new IOException("unexpected end of file at byte " + pos);
            pos += n;
        }
    }

    private static SpectroException bad(Path file, String what) {
        return new SpectroException(file + ": " + what);
    }

    /** Refuses arrays a Java array cannot hold or the heap has no room for, saying what would fit. */
    static void checkFits(Path file, long count, int bytesPerElement) {
        if (count > MAX_ARRAY)
            throw bad(file, "array of " + count + " elements is larger than one in-memory array can hold (at most " + MAX_ARRAY
                    + " elements); split it into smaller files");
        Runtime rt = Runtime.getRuntime();
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        long need = count * bytesPerElement;
        if (need > free)
            throw bad(file, String.format("array of %d elements needs %.2f GiB of memory, %.2f GiB of the %.2f GiB heap are free; "
                    + "give the JVM more (SPECTRO_JAVA_OPTS=-Xmx%dg) or use a smaller file", count, need / GIB, free / GIB,
                    rt.maxMemory() / GIB, (long) Math.ceil((rt.maxMemory() + need - free) / GIB) + 1));
    }

    private static final double GIB = 1024.0 * 1024 * 1024;

    /** Streams {@code count} elements from {@code elem} in chunks, each as a little-endian buffer. */
    private interface ChunkSink {
        void accept(ByteBuffer chunk, long firstElement) throws SpectroException;
    }

    private static void stream(Path file, long elem, long count, ChunkSink sink) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Info info = info(file, ch);
            int item = info.itemSize();
            if (elem < 0 || count < 0 || elem + count > info.count())
                throw new IllegalArgumentException("elements [" + elem + ", " + (elem + count) + ") outside [0, " + info.count() + ")");
            ByteBuffer b = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            for (long done = 0; done < count; ) {
                int n = (int) Math.min(count - done, CHUNK / item);
                b.clear().limit(n * item);
                readFully(ch, b, info.dataOffset() + (elem + done) * item);
                b.flip();
                sink.accept(b, done);
                done += n;
            }
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read (" + IoErrors.describe(e) + ")", e);
        }
    }

    /** Reads an integer array ('<i4', or '<i8'/'<u2'/'<u4' narrowed to int with a range check). */
    public static Ints readInts(Path file) {
        Info h = info(file);
        if (!Arrays.asList("<i4", "<i8", "<u2", "|u2", "<u4").contains(h.descr()))
            throw bad(file, "dtype " + h.descr() + " is not an integer type (expected <i4)");
        checkFits(file, h.count(), 4);
        int[] out = new int[(int) h.count()];
        stream(file, 0, h.count(), (b, first) -> {
            int i = (int) first;
            switch (h.descr()) {
                case "<i4" -> { int n = b.remaining() / 4; b.asIntBuffer().get(out, i, n); }
                case "<i8" -> {
                    for (; b.hasRemaining(); i++) {
                        long v = b.getLong();
                        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE)
                            throw bad(file, "int64 value " + v + " at flat index " + i + " does not fit int32");
                        out[i] = (int) v;
                    }
                }
                case "<u4" -> {
                    for (; b.hasRemaining(); i++) {
                        long v = b.getInt() & 0xffffffffL;
                        if (v > Integer.MAX_VALUE) throw bad(file, "uint32 value " + v + " at flat index " + i + " does not fit int32");
                        out[i] = (int) v;
                    }
                }
                default -> { for (; b.hasRemaining(); i++) out[i] = b.getShort() & 0xffff; }
            }
        });
        return new Ints(out, h.shape());
    }

    /** Reads a float array ('<f4', or '<f8' rounded to float). */
    public static Floats readFloats(Path file) {
        Info h = info(file);
        checkFloat(file, h);
        checkFits(file, h.count(), 4);
        return new Floats(readFloats(file, 0, (int) h.count()), h.shape());
    }

    /** Elements [{@code first}, {@code first + count}) of a float file of any size, as float32. */
    public static float[] readFloats(Path file, long first, int count) {
        Info h = info(file);
        checkFloat(file, h);
        float[] out = new float[count];
        boolean f8 = h.descr().equals("<f8");
        stream(file, first, count, (b, done) -> {
            int i = (int) done;
            if (f8) { for (; b.hasRemaining(); i++) out[i] = (float) b.getDouble(); }
            else b.asFloatBuffer().get(out, i, b.remaining() / 4);
        });
        return out;
    }

    /** Bytes {@code [first, first + count)} of a one-byte array ('|u1', '|b1' or '|i1'), streamed: any file size. */
    public static byte[] readBytes(Path file, long first, int count) {
        Info h = info(file);
        if (h.itemSize() != 1) throw bad(file, "dtype " + h.descr() + " is not a one-byte type (expected |u1)");
        byte[] out = new byte[count];
        stream(file, first, count, (b, done) -> b.get(out, (int) done, b.remaining()));
        return out;
    }

    private static void checkFloat(Path file, Info h) {
        if (!h.descr().equals("<f4") && !h.descr().equals("<f8"))
            throw bad(file, "dtype " + h.descr() + " is not a float type (expected <f4)");
    }

    public static void write(Path file, int[] data, long... shape) {
        try (Writer w = Writer.create(file, "<i4", shape)) {
            checkCount(shape, data.length);
            ByteBuffer b = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            for (int off = 0; off < data.length; ) {
                int n = Math.min(data.length - off, CHUNK / 4);
                b.clear();
                b.asIntBuffer().put(data, off, n);
                b.limit(n * 4);
                w.put(off, b);
                off += n;
            }
            w.commit();
        }
    }

    public static void write(Path file, float[] data, long... shape) {
        try (Writer w = Writer.create(file, "<f4", shape)) {
            checkCount(shape, data.length);
            w.put(0, data, 0, data.length);
            w.commit();
        }
    }

    private static void checkCount(long[] shape, long count) {
        long n = 1;
        for (long s : shape) n = Math.multiplyExact(n, s);
        if (n != count) throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " does not hold " + count + " elements");
    }

    /**
     * Writes an .npy file of any size piece by piece, at any element offset, into a temporary that
     * {@link #commit} renames over the file (nothing is left at the name if it is never committed).
     */
    public static final class Writer implements AutoCloseable {
        private final Path file;
        private final Atomic.Group group = new Atomic.Group();
        private final FileChannel ch;
        private final long dataOffset, count;
        private final int item;

        private Writer(Path file, String descr, long[] shape) {
            this.file = file;
            long n = 1;
            for (long s : shape) {
                if (s < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
                n = Math.multiplyExact(n, s);
            }
            this.count = n;
            this.item = new Info(descr, shape, n, 0).itemSize();
            StringBuilder sh = new StringBuilder();
            for (long s : shape) sh.append(s).append(',');
            if (shape.length > 1) sh.setLength(sh.length() - 1);
            String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + sh + "), }";
            int total = 10 + dict.length() + 1;
            int pad = (64 - total % 64) % 64;
            String header = dict + " ".repeat(pad) + "\n";
            ByteBuffer h = ByteBuffer.allocate(10 + header.length()).order(ByteOrder.LITTLE_ENDIAN);
            h.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length()).put(header.getBytes(StandardCharsets.ISO_8859_1)).flip();
            this.dataOffset = h.limit();
            Path tmp = group.temp(file);
            try {
                ch = FileChannel.open(tmp, StandardOpenOption.WRITE);
                while (h.hasRemaining()) ch.write(h, h.position());
                ch.truncate(dataOffset);
            } catch (IOException e) {
                group.close();
                throw new SpectroException(file + ": cannot write (" + IoErrors.describe(e) + ")", e);
            }
        }

        /** A new file of dtype {@code descr} ('<f4', '<i4' or '|u1') and {@code shape}. */
        public static Writer create(Path file, String descr, long... shape) {
            return new Writer(file, descr, shape);
        }

        /** Writes little-endian element bytes {@code b} (position to limit) starting at element {@code first}. */
        public void put(long first, ByteBuffer b) {
            if (first < 0 || first + b.remaining() / item > count)
                throw new IllegalArgumentException("elements from " + first + " run past the " + count + " of " + file);
            try {
                long pos = dataOffset + first * item;
                while (b.hasRemaining()) pos += ch.write(b, pos);
            } catch (IOException e) {
                throw new SpectroException(file + ": cannot write (" + IoErrors.describe(e) + ")", e);
            }
        }

        /** Writes {@code a[off, off + len)} as float32 elements starting at element {@code first}. */
        public void put(long first, float[] a, int off, int len) {
            ByteBuffer b = ByteBuffer.allocate(Math.min(CHUNK, Math.max(4, len * 4))).order(ByteOrder.LITTLE_ENDIAN);
            for (int done = 0; done < len; ) {
                int n = Math.min(len - done, b.capacity() / 4);
                b.clear();
                b.asFloatBuffer().put(a, off + done, n);
                b.limit(n * 4);
                put(first + done, b);
                done += n;
            }
        }

        /** Sizes the file to the whole array (unwritten elements read as zero) and renames it over the file. */
        public void commit() {
            try {
                if (count > 0 && ch.size() < dataOffset + count * item) {
                    // extend without writing every byte: the last byte makes the file its full length
                    ch.write(ByteBuffer.allocate(1), dataOffset + count * item - 1);
                }
                ch.close();
            } catch (IOException e) {
                throw new SpectroException(file + ": cannot write (" + IoErrors.describe(e) + ")", e);
            }
            group.commit();
        }

        @Override
        public void close() {
            try {
                ch.close();
            } catch (IOException ignored) {
                // the temporary is deleted below
            }
            group.close();
        }
    }
}
