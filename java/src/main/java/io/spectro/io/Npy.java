package io.spectro.io;

import io.spectro.SpectroException;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy .npy files (format 1.0/2.0/3.0), little-endian int32, int64 (read, narrowed with a range
 * check), float32 and float64 (read as float32), C order. Arrays are returned flat with their shape.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {}

    /** An int32 array and its shape. */
    public record Ints(int[] data, long[] shape) {
        public int dim(int i) { return (int) shape[i]; }
    }

    /** A float32 array and its shape. */
    public record Floats(float[] data, long[] shape) {
        public int dim(int i) { return (int) shape[i]; }
    }

    private record Header(String descr, long[] shape, int dataOffset) {
        long count() {
            long n = 1;
            for (long s : shape) n = Math.multiplyExact(n, s);
            return n;
        }
    }

    private static Header header(Path file, ByteBuffer buf) {
        if (buf.remaining() < 10) throw bad(file, "file is " + buf.remaining() + " bytes, too short for a .npy header");
        byte[] magic = new byte[6];
        buf.get(magic);
        if (!Arrays.equals(magic, MAGIC)) throw bad(file, "not a .npy file (magic bytes missing)");
        int major = buf.get() & 0xff;
        buf.get();
        long hlen;
        if (major == 1) hlen = buf.getShort() & 0xffff;
        else if (major == 2 || major == 3) hlen = buf.getInt() & 0xffffffffL;
        else throw bad(file, "unsupported .npy format version " + major);
        if (hlen > buf.remaining()) throw bad(file, "header length " + hlen + " runs past the end of the file");
        byte[] h = new byte[(int) hlen];
        buf.get(h);
        String text = new String(h, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
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
        return new Header(d.group(1), shape, buf.position());
    }

    private static ByteBuffer readAll(Path file) {
        try {
            return ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    private static SpectroException bad(Path file, String what) {
        return new SpectroException(file + ": " + what);
    }

    private static void checkSize(Path file, Header h, ByteBuffer buf, int itemSize) {
        long need = h.count() * itemSize;
        if (buf.remaining() < need)
            throw bad(file, "truncated: shape " + Arrays.toString(h.shape) + " needs " + need + " data bytes, file has "
                    + buf.remaining() + " after the header at offset " + h.dataOffset);
        if (h.count() > Integer.MAX_VALUE - 8) throw bad(file, "array of " + h.count() + " elements is too large");
    }

    /** Reads an integer array ('<i4', or '<i8'/'<u2'/'<u4' narrowed to int with a range check). */
    public static Ints readInts(Path file) {
        ByteBuffer buf = readAll(file);
        Header h = header(file, buf);
        int n;
        int[] out;
        switch (h.descr) {
            case "<i4" -> {
                checkSize(file, h, buf, 4);
                n = (int) h.count();
                out = new int[n];
                buf.asIntBuffer().get(out);
            }
            case "<i8" -> {
                checkSize(file, h, buf, 8);
                n = (int) h.count();
                out = new int[n];
                for (int i = 0; i < n; i++) {
                    long v = buf.getLong((int) (h.dataOffset + 8L * i));
                    if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE)
                        throw bad(file, "int64 value " + v + " at flat index " + i + " does not fit int32");
                    out[i] = (int) v;
                }
            }
            case "<u2", "|u2" -> {
                checkSize(file, h, buf, 2);
                n = (int) h.count();
                out = new int[n];
                for (int i = 0; i < n; i++) out[i] = buf.getShort(h.dataOffset + 2 * i) & 0xffff;
            }
            case "<u4" -> {
                checkSize(file, h, buf, 4);
                n = (int) h.count();
                out = new int[n];
                for (int i = 0; i < n; i++) {
                    long v = buf.getInt((int) (h.dataOffset + 4L * i)) & 0xffffffffL;
                    if (v > Integer.MAX_VALUE) throw bad(file, "uint32 value " + v + " at flat index " + i + " does not fit int32");
                    out[i] = (int) v;
                }
            }
            default -> throw bad(file, "dtype " + h.descr + " is not an integer type (expected <i4)");
        }
        return new Ints(out, h.shape);
    }

    /** Reads a float array ('<f4', or '<f8' rounded to float). */
    public static Floats readFloats(Path file) {
        ByteBuffer buf = readAll(file);
        Header h = header(file, buf);
        float[] out;
        switch (h.descr) {
            case "<f4" -> {
                checkSize(file, h, buf, 4);
                out = new float[(int) h.count()];
                buf.asFloatBuffer().get(out);
            }
            case "<f8" -> {
                checkSize(file, h, buf, 8);
                out = new float[(int) h.count()];
                for (int i = 0; i < out.length; i++) out[i] = (float) buf.getDouble((int) (h.dataOffset + 8L * i));
            }
            default -> throw bad(file, "dtype " + h.descr + " is not a float type (expected <f4)");
        }
        return new Floats(out, h.shape);
    }

    public static void write(Path file, int[] data, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(data);
        write(file, "<i4", shape, data.length, b.array());
    }

    public static void write(Path file, float[] data, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(data);
        write(file, "<f4", shape, data.length, b.array());
    }

    private static void write(Path file, String descr, long[] shape, int count, byte[] body) {
        long n = 1;
        for (long s : shape) n *= s;
        if (n != count) throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " does not hold " + count + " elements");
        StringBuilder sh = new StringBuilder();
        for (int i = 0; i < shape.length; i++) sh.append(shape[i]).append(shape.length == 1 || i < shape.length - 1 ? "," : "");
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + sh.toString().replaceAll(",$", shape.length == 1 ? "," : "") + "), }";
        int total = 10 + dict.length() + 1;
        int pad = (64 - total % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        try {
            if (file.getParent() != null) Files.createDirectories(file.getParent());
            try (OutputStream out = Files.newOutputStream(file)) {
                out.write(MAGIC);
                out.write(new byte[]{1, 0, (byte) (header.length() & 0xff), (byte) (header.length() >> 8)});
                out.write(header.getBytes(StandardCharsets.ISO_8859_1));
                out.write(body);
            }
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }
}
