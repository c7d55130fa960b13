package io.spectro.model;

import io.spectro.SpectroException;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}},
 * then the raw little-endian tensor bytes (offsets relative to byte 8 + N).
 *
 * <p>{@link #open} memory-maps the file once and validates the whole header (lengths, JSON, dtypes,
 * offsets against shapes, overlaps, truncation); every error is a {@link SpectroException} naming the
 * file and, where it applies, the tensor and byte offset. Tensors of dtype F32, F16 and BF16 are
 * read as float32; {@link #write} writes F32, F16 or BF16.
 */
public final class SafeTensors implements AutoCloseable {
    /** Largest header the reference implementation accepts (100 MB). */
    static final long MAX_HEADER = 100_000_000L;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32_NATIVE = ValueLayout.JAVA_FLOAT;

    /** Element sizes of every dtype the format defines (only F32/F16/BF16 can be read as floats). */
    private static final Map<String, Integer> DTYPE_SIZE = Map.ofEntries(
            Map.entry("BOOL", 1), Map.entry("U8", 1), Map.entry("I8", 1), Map.entry("F8_E5M2", 1),
            Map.entry("F8_E4M3", 1), Map.entry("I16", 2), Map.entry("U16", 2), Map.entry("F16", 2),
            Map.entry("BF16", 2), Map.entry("I32", 4), Map.entry("U32", 4), Map.entry("F32", 4),
            Map.entry("F64", 8), Map.entry("I64", 8), Map.entry("U64", 8));

    /** One tensor of the header; begin/end are byte offsets relative to the data section. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
        public Entry {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long numel() {
            long n = 1;
            for (long s : shape) n = Math.multiplyExact(n, s);
            return n;
        }

        public String shapeString() {
            return Arrays.toString(shape);
        }
    }

    /** A float32 tensor to write: name, shape, and its data (numel floats, native order). */
    public record Out(String name, long[] shape, MemorySegment data) {
        public Out {
            shape = shape.clone();
            long n = 1;
            for (long s : shape) n *= s;
            if (data.byteSize() != 4 * n)
                throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " needs " + 4 * n
                        + " bytes, data has " + data.byteSize());
        }
    }

    private final Path file;
    private final Arena arena;
    private final MemorySegment map;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, Arena arena, MemorySegment map, long dataStart, Map<String, Entry> entries,
                        Map<String, String> metadata) {
        this.file = file;
        this.arena = arena;
        this.map = map;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    private static SpectroException bad(Path file, String what) {
        return new SpectroException(file + ": " + what);
    }

    /** Maps and validates a .safetensors file. */
    public static SafeTensors open(Path file) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment map;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size < 8) throw bad(file, "file is " + size + " bytes, too short for a safetensors header (8-byte length)");
                map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            } catch (IOException e) {
                throw new SpectroException(file + ": cannot read (" + e + ")", e);
            }
            long size = map.byteSize();
            long n = map.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (n < 0 || n > size - 8)
                throw bad(file, "header length " + Long.toUnsignedString(n) + " (first 8 bytes) runs past the end of the file ("
                        + size + " bytes): truncated or not a safetensors file");
            if (n > MAX_HEADER) throw bad(file, "header length " + n + " exceeds the 100 MB limit of the format");
            byte[] h = map.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
            JsonNode root;
            try {
                root = ModelConfig.JSON.readTree(new String(h, StandardCharsets.UTF_8));
            } catch (JacksonException e) {
                throw bad(file, "header (bytes 8.." + (8 + n) + ") is not valid JSON: " + e.getOriginalMessage());
            }
            if (root == null || !root.isObject()) throw bad(file, "header (bytes 8.." + (8 + n) + ") is not a JSON object");
            long dataSize = size - 8 - n;
            Map<String, Entry> entries = new LinkedHashMap<>();
            Map<String, String> meta = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> p : root.properties()) {
                String name = p.getKey();
                JsonNode v = p.getValue();
                if (name.equals("__metadata__")) {
                    if (v.isObject()) for (Map.Entry<String, JsonNode> m : v.properties()) meta.put(m.getKey(), m.getValue().asString());
                    continue;
                }
                entries.put(name, parseEntry(file, name, v, dataSize, 8 + n));
            }
            List<Entry> sorted = new ArrayList<>(entries.values());
            sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
            for (int i = 1; i < sorted.size(); i++) {
                Entry a = sorted.get(i - 1), b = sorted.get(i);
                if (b.begin() < a.end())
                    throw bad(file, "tensors '" + a.name() + "' [" + a.begin() + ", " + a.end() + ") and '" + b.name() + "' ["
                            + b.begin() + ", " + b.end() + ") overlap (data_offsets relative to byte " + (8 + n) + ")");
            }
            return new SafeTensors(file, arena, map, 8 + n, Collections.unmodifiableMap(entries), Collections.unmodifiableMap(meta));
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Entry parseEntry(Path file, String name, JsonNode v, long dataSize, long dataStart) {
        String where = "tensor '" + name + "'";
        if (!v.isObject()) throw bad(file, where + ": header entry is not an object: " + v);
        JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
        if (dt == null || !dt.isString()) throw bad(file, where + ": missing or non-string \"dtype\"");
        String dtype = dt.stringValue();
        Integer es = DTYPE_SIZE.get(dtype);
        if (es == null) throw bad(file, where + ": unknown dtype '" + dtype + "'");
        if (sh == null || !sh.isArray()) throw bad(file, where + ": missing or non-array \"shape\"");
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode s = sh.get(i);
            if (!s.isIntegralNumber() || !s.canConvertToLong() || s.longValue() < 0)
                throw bad(file, where + ": bad shape " + sh);
            shape[i] = s.longValue();
        }
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()
                || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong())
            throw bad(file, where + ": \"data_offsets\" must be [begin, end], found " + off);
        long b = off.get(0).longValue(), e = off.get(1).longValue();
        if (b < 0 || e < b) throw bad(file, where + ": data_offsets [" + b + ", " + e + "] are not an increasing pair");
        long need;
        try {
            long numel = 1;
            for (long s : shape) numel = Math.multiplyExact(numel, s);
            need = Math.multiplyExact(numel, (long) es);
        } catch (ArithmeticException x) {
            throw bad(file, where + ": shape " + sh + " is too large");
        }
        if (e - b != need)
            throw bad(file, where + ": data_offsets [" + b + ", " + e + "] hold " + (e - b) + " bytes but shape "
                    + Arrays.toString(shape) + " of " + dtype + " needs " + need);
        if (e > dataSize)
            throw bad(file, where + ": data ends at file offset " + (dataStart + e) + " but the file has only "
                    + (dataStart + dataSize) + " bytes (truncated)");
        return new Entry(name, dtype, shape, b, e);
    }

    public Path file() {
        return file;
    }

    /** All tensors, in header order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** The entry with this name, or null. */
    public Entry entry(String name) {
        return entries.get(name);
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /** True for the dtypes {@link #readFloat32} converts. */
    public static boolean isFloatDtype(String dtype) {
        return dtype.equals("F32") || dtype.equals("F16") || dtype.equals("BF16");
    }

    /**
     * Converts tensor {@code name} to float32 into {@code dst} starting at byte {@code dstOffset}
     * (native byte order). Throws when the tensor is absent or its dtype is not F32/F16/BF16.
     */
    public void readFloat32(String name, MemorySegment dst, long dstOffset) {
        Entry e = entries.get(name);
        if (e == null) throw bad(file, "no tensor '" + name + "'");
        readFloat32(name, 0, e.numel(), dst, dstOffset);
    }

    /** As {@link #readFloat32(String, MemorySegment, long)} for the elements [first, first + n) of the tensor only. */
    public void readFloat32(String name, long first, long n, MemorySegment dst, long dstOffset) {
        Entry e = entries.get(name);
        if (e == null) throw bad(file, "no tensor '" + name + "'");
        if (!isFloatDtype(e.dtype()))
            throw bad(file, "tensor '" + name + "' has dtype " + e.dtype() + "; only F32, F16 and BF16 are supported");
        if (first < 0 || n < 0 || first + n > e.numel())
            throw new IndexOutOfBoundsException("elements [" + first + ", " + (first + n) + ") of tensor '" + name + "' with " + e.numel());
        long src = dataStart + e.begin() + first * DTYPE_SIZE.get(e.dtype());
        switch (e.dtype()) {
            case "F32" -> {
                if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) MemorySegment.copy(map, src, dst, dstOffset, 4 * n);
                else for (long i = 0; i < n; i++) dst.setAtIndex(F32_NATIVE, dstOffset / 4 + i, map.get(F32, src + 4 * i));
            }
            case "F16" -> {
                for (long i = 0; i < n; i++)
                    dst.set(F32_NATIVE, dstOffset + 4 * i, Float.float16ToFloat(map.get(I16, src + 2 * i)));
            }
            default -> { // BF16: the high half of a float32
                for (long i = 0; i < n; i++)
                    dst.set(F32_NATIVE, dstOffset + 4 * i, Float.intBitsToFloat((map.get(I16, src + 2 * i) & 0xffff) << 16));
            }
        }
    }

    /**
     * The raw little-endian bytes of tensor {@code name}: a slice of the read-only mapping (no copy),
     * valid until {@link #close}. Throws when the tensor is absent.
     */
    public MemorySegment raw(String name) {
        Entry e = entries.get(name);
        if (e == null) throw bad(file, "no tensor '" + name + "'");
        return map.asSlice(dataStart + e.begin(), e.end() - e.begin());
    }

    /** Tensor {@code name} as a float32 array (at most 2^31 - 1 elements). */
    public float[] readFloats(String name) {
        Entry e = entries.get(name);
        if (e == null) throw bad(file, "no tensor '" + name + "'");
        if (e.numel() > Integer.MAX_VALUE - 8) throw bad(file, "tensor '" + name + "' is too large for a Java array");
        float[] out = new float[(int) e.numel()];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment tmp = a.allocate(4L * out.length, 4);
            readFloat32(name, tmp, 0);
            MemorySegment.copy(tmp, F32_NATIVE, 0, out, 0, out.length);
        }
        return out;
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    /** Normalises "f32"/"F32"/"float32", "bf16"/"bfloat16", "f16"/"float16"/"half" to F32, BF16, F16. */
    public static String dtypeName(String dtype) {
        return switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32", "float32", "float" -> "F32";
            case "bf16", "bfloat16" -> "BF16";
            case "f16", "float16", "half", "fp16" -> "F16";
            default -> throw new SpectroException("dtype '" + dtype + "' is not supported for writing; use f32, bf16 or f16");
        };
    }

    /** Rounds a float to bfloat16 bits (round to nearest even; NaN stays NaN). */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /**
     * Writes tensors (float32 data converted to {@code dtype}: f32, bf16 or f16) to {@code file},
     * with {@code __metadata__ {"format": "pt"}} and the header padded with spaces to a multiple of 8.
     * Writes to a temporary file first and renames it, so a failed write leaves no partial file.
     */
    public static void write(Path file, List<Out> tensors, String dtype) {
        String dt = dtypeName(dtype);
        int es = DTYPE_SIZE.get(dt);
        ObjectNode root = ModelConfig.JSON.createObjectNode();
        root.putObject("__metadata__").put("format", "pt");
        long off = 0;
        for (Out t : tensors) {
            ObjectNode e = root.putObject(t.name());
            e.put("dtype", dt);
            ArrayNode s = e.putArray("shape");
            for (long x : t.shape()) s.add(x);
            long bytes = t.data().byteSize() / 4 * es;
            e.putArray("data_offsets").add(off).add(off + bytes);
            off += bytes;
        }
        byte[] json = ModelConfig.JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] header = Arrays.copyOf(json, padded);
        Arrays.fill(header, json.length, padded, (byte) ' ');
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            if (file.toAbsolutePath().getParent() != null) Files.createDirectories(file.toAbsolutePath().getParent());
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).flip();
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                ByteBuffer buf = ByteBuffer.allocateDirect(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
                for (Out t : tensors) {
                    MemorySegment d = t.data();
                    long n = d.byteSize() / 4;
                    for (long i = 0; i < n; i++) {
                        float f = d.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
                        switch (dt) {
                            case "F32" -> buf.putFloat(f);
                            case "F16" -> buf.putShort(Float.floatToFloat16(f));
                            default -> buf.putShort(floatToBf16(f));
                        }
                        if (buf.remaining() < 4) {
                            buf.flip();
                            writeFully(ch, buf);
                            buf.clear();
                        }
                    }
                }
                buf.flip();
                writeFully(ch, buf);
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the original error matters more
            }
            throw new SpectroException(file + ": cannot write (" + io.spectro.io.IoErrors.describe(e) + ")", e);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
