package io.spectro.data;

import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.SpectroException;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a Megatron {@code MMapIndexedDataset} pair ({@code PREFIX.bin}, {@code PREFIX.idx}) as
 * GPT-NeoX's MMapIndexedDatasetBuilder does: one sequence per {@link #add} call, and
 * {@link #endDocument} appends the running sequence count to doc_idx. {@link #addDocument} does both.
 */
public final class MegatronWriter implements AutoCloseable {
    private final Path binPath, idxPath;
    private final Dtype dtype;
    private final OutputStream bin;
    private int[] sizes = new int[1024];
    private int count;
    private long[] docIdx = new long[1024];
    private int docs = 1;   // doc_idx starts with 0
    private boolean closed;
    /** .bin and .idx are written to temporaries and appear together when closed (.idx last). */
    private final Atomic.Group files = new Atomic.Group();

    public MegatronWriter(Path prefix, Dtype dtype) {
        if (dtype.isFloat()) throw new SpectroException("Megatron writer: dtype " + dtype + " holds no token ids");
        this.binPath = Path.of(prefix + ".bin");
        this.idxPath = Path.of(prefix + ".idx");
        this.dtype = dtype;
        try {
            bin = new BufferedOutputStream(Files.newOutputStream(files.temp(binPath)), 1 << 16);
        } catch (IOException e) {
            throw new SpectroException(binPath + ": cannot write (" + IoErrors.describe(e) + ")", e);
        }
    }

    /** Appends one sequence. */
    public void add(int[] tokens) {
        ByteBuffer b = ByteBuffer.allocate(tokens.length * dtype.size).order(ByteOrder.LITTLE_ENDIAN);
        for (int t : tokens) {
            switch (dtype) {
                case U8 -> b.put((byte) check(t, 0, 255));
                case I8 -> b.put((byte) check(t, -128, 127));
                case I16 -> b.putShort((short) check(t, Short.MIN_VALUE, Short.MAX_VALUE));
                case U16 -> b.putShort((short) check(t, 0, 65535));
                case I32 -> b.putInt(t);
                case I64 -> b.putLong(t);
                default -> throw new IllegalStateException();
            }
        }
        try {
            bin.write(b.array());
        } catch (IOException e) {
            throw new SpectroException(binPath + ": cannot write (" + IoErrors.describe(e) + ")", e);
        }
        if (count == sizes.length) sizes = java.util.Arrays.copyOf(sizes, count * 2);
        sizes[count++] = tokens.length;
    }

    private int check(int t, int lo, int hi) {
        if (t < lo || t > hi) throw new SpectroException(binPath + ": token " + t + " does not fit dtype " + dtype);
        return t;
    }

    public void endDocument() {
        if (docs == docIdx.length) docIdx = java.util.Arrays.copyOf(docIdx, docs * 2);
        docIdx[docs++] = count;
    }

    public void addDocument(int[] tokens) {
        add(tokens);
        endDocument();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            bin.close();
            ByteBuffer h = ByteBuffer.allocate(MegatronDataset.HEADER + 12 * count + 8 * docs).order(ByteOrder.LITTLE_ENDIAN);
            h.put(MegatronDataset.MAGIC).putLong(1).put((byte) dtype.code).putLong(count).putLong(docs);
            for (int i = 0; i < count; i++) h.putInt(sizes[i]);
            long address = 0;
            for (int i = 0; i < count; i++) {
                h.putLong(address);
                address += (long) sizes[i] * dtype.size;
            }
            for (int i = 0; i < docs; i++) h.putLong(docIdx[i]);
            files.write(idxPath, out -> out.write(h.array()));
            files.commit();
        } catch (IOException e) {
            throw new SpectroException(idxPath + ": cannot write (" + IoErrors.describe(e) + ")", e);
        }
    }
}
