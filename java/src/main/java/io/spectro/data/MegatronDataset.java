package io.spectro.data;

import io.spectro.io.IoErrors;
import io.spectro.SpectroException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A Megatron / GPT-NeoX {@code MMapIndexedDataset} (the format of Pythia's tokenised Pile): a {@code .bin}
 * of raw little-endian token ids and an {@code .idx} with
 * <pre>
 *   magic "MMIDIDX\0\0" (9 bytes) | version u64 = 1 | dtype code u8 | sequence count u64 | doc_idx length u64
 *   | sizes int32[count] | pointers int64[count] (byte offsets into .bin) | doc_idx int64[doc_idx length]
 * </pre>
 * doc_idx starts at 0 and gets the running sequence count after each document. When it is such a
 * partition of the sequences (0 = d0 <= d1 <= ... = count) a document is the sequences d_i..d_{i+1}-1;
 * otherwise (e.g. files concatenated without updating doc_idx) every sequence is one document.
 * Both files are memory-mapped; every pointer and size is checked against the file lengths on open.
 */
public final class MegatronDataset implements TokenSource {
    static final byte[] MAGIC = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};
    static final int HEADER = 9 + 8 + 1 + 8 + 8;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String prefix;
    private final Path idxPath, binPath;
    private final String subset;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment idx, bin;
    private final Dtype dtype;
    private final int count;
    private final long docIdxLen;
    private final long sizesOff, pointersOff, docIdxOff;
    private final boolean byDocIdx;

    private MegatronDataset(Path prefixPath, String subset) {
        this.prefix = prefixPath.toString();
        this.idxPath = Path.of(prefix + ".idx");
        this.binPath = Path.of(prefix + ".bin");
        this.subset = subset;
        try {
            idx = map(idxPath);
            bin = map(binPath);
            long len = idx.byteSize();
            if (len < HEADER) throw bad(idxPath, len, "truncated header: file is " + len + " bytes, the header needs " + HEADER);
            for (int i = 0; i < MAGIC.length; i++)
                if (idx.get(ValueLayout.JAVA_BYTE, i) != MAGIC[i])
                    throw bad(idxPath, i, "not a Megatron MMIDIDX index (magic bytes differ)");
            long version = idx.get(I64, 9);
            if (version != 1) throw bad(idxPath, 9, "index version " + version + " is not supported (expected 1)");
            int code = idx.get(ValueLayout.JAVA_BYTE, 17) & 0xff;
            Dtype d = Dtype.ofCode(code);
            if (d == null) throw bad(idxPath, 17, "unknown dtype code " + code);
            if (d.isFloat()) throw bad(idxPath, 17, "dtype " + d + " holds no token ids");
            dtype = d;
            long c = idx.get(I64, 18);
            docIdxLen = idx.get(I64, 26);
            if (c < 0 || c > Integer.MAX_VALUE - 1) throw bad(idxPath, 18, "sequence count " + c + " is out of range");
            if (docIdxLen < 0 || docIdxLen > Integer.MAX_VALUE) throw bad(idxPath, 26, "doc_idx length " + docIdxLen + " is out of range");
            count = (int) c;
            sizesOff = HEADER;
            pointersOff = sizesOff + 4L * count;
            docIdxOff = pointersOff + 8L * count;
            long end = docIdxOff + 8L * docIdxLen;
            if (len < pointersOff) throw bad(idxPath, len, "truncated: sizes int32[" + count + "] needs bytes up to " + pointersOff);
            if (len < docIdxOff) throw bad(idxPath, len, "truncated: pointers int64[" + count + "] needs bytes up to " + docIdxOff);
            if (len < end) throw bad(idxPath, len, "truncated: doc_idx int64[" + docIdxLen + "] needs bytes up to " + end);
            if (len > end) throw bad(idxPath, end, (len - end) + " unexpected bytes after doc_idx");
            long binLen = bin.byteSize();
            for (int i = 0; i < count; i++) {
                int size = idx.get(I32, sizesOff + 4L * i);
                long ptr = idx.get(I64, pointersOff + 8L * i);
                if (size < 0) throw bad(idxPath, sizesOff + 4L * i, "sizes[" + i + "] = " + size + " is negative");
                if (ptr < 0 || ptr % dtype.size != 0)
                    throw bad(idxPath, pointersOff + 8L * i, "pointers[" + i + "] = " + ptr + " is not a valid byte offset");
                long stop = ptr + (long) size * dtype.size;
                if (stop > binLen)
                    throw bad(binPath, binLen, "truncated: sequence " + i + " needs bytes [" + ptr + ", " + stop
                            + ") but the file ends at byte offset " + binLen);
            }
            boolean partition = docIdxLen >= 1 && docIdx(0) == 0 && docIdx(docIdxLen - 1) == count;
            long prev = 0;
            for (long i = 0; i < docIdxLen; i++) {
                long v = docIdx(i);
                if (v < 0 || v > count) throw bad(idxPath, docIdxOff + 8 * i, "doc_idx[" + i + "] = " + v + " is outside [0, " + count + "]");
                if (v < prev) partition = false;
                prev = v;
            }
            byDocIdx = partition;
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Opens {@code PREFIX.idx} + {@code PREFIX.bin}; {@code path} may be the prefix or either file. */
    public static MegatronDataset open(Path path, String subset) {
        String s = path.toString();
        if (s.endsWith(".idx") || s.endsWith(".bin")) s = s.substring(0, s.length() - 4);
        Path prefix = Path.of(s);
        return new MegatronDataset(prefix, subset != null ? subset : prefix.getFileName().toString());
    }

    private MemorySegment map(Path p) {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0) return MemorySegment.NULL.reinterpret(0);
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new SpectroException(p + ": file not found (a Megatron dataset needs both .idx and .bin)");
        } catch (IOException e) {
            throw new SpectroException(p + ": cannot read (" + IoErrors.describe(e) + ")", e);
        }
    }

    private static SpectroException bad(Path file, long offset, String what) {
        return new SpectroException(file + ": at byte offset " + offset + ": " + what);
    }

    private long docIdx(long i) {
        return idx.get(I64, docIdxOff + 8 * i);
    }

    public Dtype dtype() {
        return dtype;
    }

    /** Number of sequences in the .idx (equal to documentCount() for Pythia's Pile). */
    public int sequenceCount() {
        return count;
    }

    /** Whether documents follow doc_idx (true) or are single sequences (false). */
    public boolean documentsFromDocIdx() {
        return byDocIdx;
    }

    public int sequenceSize(int seq) {
        return idx.get(I32, sizesOff + 4L * seq);
    }

    private long pointer(int seq) {
        return idx.get(I64, pointersOff + 8L * seq);
    }

    private int firstSeq(int doc) {
        return byDocIdx ? (int) docIdx(doc) : doc;
    }

    private int endSeq(int doc) {
        return byDocIdx ? (int) docIdx(doc + 1) : doc + 1;
    }

    @Override
    public String name() {
        return prefix;
    }

    @Override
    public int documentCount() {
        return byDocIdx ? (int) docIdxLen - 1 : count;
    }

    @Override
    public String subset(int doc) {
        return subset;
    }

    @Override
    public long length(int doc) {
        long n = 0;
        for (int s = firstSeq(doc), e = endSeq(doc); s < e; s++) n += sequenceSize(s);
        return n;
    }

    @Override
    public int[] tokens(int doc, long start, int len) {
        int[] out = new int[len];
        int filled = 0;
        long skip = start;
        for (int s = firstSeq(doc), e = endSeq(doc); s < e && filled < len; s++) {
            int size = sequenceSize(s);
            if (skip >= size) {
                skip -= size;
                continue;
            }
            long base = pointer(s);
            int take = (int) Math.min(size - skip, len - filled);
            for (int k = 0; k < take; k++) out[filled + k] = read(base + (skip + k) * dtype.size, doc);
            filled += take;
            skip = 0;
        }
        if (filled < len || start < 0)
            throw new IndexOutOfBoundsException("tokens [" + start + ", " + (start + len) + ") of document " + doc + " of " + prefix);
        return out;
    }

    private int read(long off, int doc) {
        return switch (dtype) {
            case U8 -> bin.get(ValueLayout.JAVA_BYTE, off) & 0xff;
            case I8 -> bin.get(ValueLayout.JAVA_BYTE, off);
            case I16 -> bin.get(I16, off);
            case U16 -> bin.get(I16, off) & 0xffff;
            case I32 -> bin.get(I32, off);
            case I64 -> {
                long v = bin.get(I64, off);
                if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE)
                    throw bad(binPath, off, "int64 token " + v + " of document " + doc + " does not fit int32");
                yield (int) v;
            }
            default -> throw new IllegalStateException(dtype.toString());
        };
    }

    /** All tokens of one sequence (as stored, ignoring doc_idx). */
    public int[] sequence(int seq) {
        int size = sequenceSize(seq);
        int[] out = new int[size];
        long base = pointer(seq);
        for (int k = 0; k < size; k++) out[k] = read(base + (long) k * dtype.size, seq);
        return out;
    }

    @Override
    public void close() {
        arena.close();
    }

    static boolean exists(Path prefix) {
        return Files.isRegularFile(Path.of(prefix + ".idx")) && Files.isRegularFile(Path.of(prefix + ".bin"));
    }
}
