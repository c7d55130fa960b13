package io.spectro.io;

import io.spectro.SpectroException;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * A run's {@code tokens.arrow} (Arrow IPC file; int32 row, seq, pos, token_id and utf8 token, the columns of
 * tokens.csv), read record batch by record batch ({@link #forEach}; structure.TokenTable reads a run's table from
 * it when tokens.csv is absent) and written one batch at a time ({@link Writer}); heap: one batch.
 */
public final class TokenArrow {
    private TokenArrow() {}

    /** One record batch: {@code n} rows of the five columns. */
    public record Batch(int n, int[] row, int[] seq, int[] pos, int[] tokenId, String[] token) {}

    @FunctionalInterface
    public interface BatchSink {
        void accept(Batch b) throws IOException;
    }

    /** Streams {@code file}'s record batches to {@code sink}; refuses a file without the five columns. */
    public static void forEach(Path file, BatchSink sink) {
        try (BufferAllocator alloc = new RootAllocator();
             FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
             ArrowFileReader r = new ArrowFileReader(ch, alloc)) {
            VectorSchemaRoot root = r.getVectorSchemaRoot();
            IntVector[] ints = new IntVector[4];
            String[] names = {"row", "seq", "pos", "token_id"};
            for (int i = 0; i < 4; i++) {
                if (!(root.getVector(names[i]) instanceof IntVector v))
                    throw new SpectroException(file + ": no int32 column '" + names[i] + "' (expected row, seq, pos, token_id, token)");
                ints[i] = v;
            }
            if (!(root.getVector("token") instanceof VarCharVector tok))
                throw new SpectroException(file + ": no utf8 column 'token' (expected row, seq, pos, token_id, token)");
            while (r.loadNextBatch()) {
                int n = root.getRowCount();
                int[][] c = new int[4][n];
                String[] t = new String[n];
                for (int i = 0; i < n; i++) {
                    for (int k = 0; k < 4; k++) c[k][i] = ints[k].get(i);
                    t[i] = tok.isNull(i) ? "" : new String(tok.get(i), StandardCharsets.UTF_8);
                }
                sink.accept(new Batch(n, c[0], c[1], c[2], c[3], t));
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof SpectroException s) throw s;
            throw new SpectroException(file + ": not a readable tokens.arrow (" + (e instanceof IOException io ? IoErrors.describe(io) : e.getMessage()) + ")", e);
        }
    }

    /** Writes a tokens.arrow batch by batch into {@code out} (the caller's temporary). */
    public static final class Writer implements AutoCloseable {
        private final BufferAllocator alloc = new RootAllocator();
        private final IntVector row, seq, pos, id;
        private final VarCharVector tok;
        private final VectorSchemaRoot root;
        private final OutputStream os;
        private final ArrowFileWriter w;

        public Writer(Path out) throws IOException {
            row = new IntVector("row", alloc);
            seq = new IntVector("seq", alloc);
            pos = new IntVector("pos", alloc);
            id = new IntVector("token_id", alloc);
            tok = new VarCharVector("token", alloc);
            root = VectorSchemaRoot.of(row, seq, pos, id, tok);
            os = Files.newOutputStream(out);
            w = new ArrowFileWriter(root, null, Channels.newChannel(os));
            w.start();
        }

        public void write(Batch b) throws IOException {
            for (var v : List.of(row, seq, pos, id)) v.allocateNew(b.n());
            tok.allocateNew(b.n());
            for (int i = 0; i < b.n(); i++) {
                row.set(i, b.row()[i]);
                seq.set(i, b.seq()[i]);
                pos.set(i, b.pos()[i]);
                id.set(i, b.tokenId()[i]);
                tok.setSafe(i, b.token()[i].getBytes(StandardCharsets.UTF_8));
            }
            root.setRowCount(b.n());
            w.writeBatch();
        }

        /** Ends the file (its footer); without it the file is not a valid Arrow file. */
        public void finish() throws IOException {
            w.end();
        }

        @Override
        public void close() throws IOException {
            try (alloc; os; root) {
                w.close();
            }
        }
    }
}
