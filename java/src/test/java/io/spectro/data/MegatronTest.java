package io.spectro.data;

import io.spectro.SpectroException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class MegatronTest {
    static List<int[]> docs(int n, int max, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(r.ints(r.nextInt(0, max), 0, vocab).toArray());
        return out;
    }

    @Test
    void writerRoundTripsEveryDtype(@TempDir Path dir) {
        for (Dtype d : new Dtype[]{Dtype.U8, Dtype.U16, Dtype.I16, Dtype.I32, Dtype.I64}) {
            int vocab = d == Dtype.U8 ? 256 : d == Dtype.I16 ? 32000 : 50277;
            List<int[]> docs = docs(50, 300, vocab, d.code);
            Path prefix = dir.resolve("set_" + d);
            try (MegatronWriter w = new MegatronWriter(prefix, d)) {
                docs.forEach(w::addDocument);
            }
            try (MegatronDataset ds = MegatronDataset.open(Path.of(prefix + ".idx"), null)) {
                assertEquals(d, ds.dtype());
                assertTrue(ds.documentsFromDocIdx());
                assertEquals(docs.size(), ds.documentCount());
                assertEquals("set_" + d, ds.subset(0));
                for (int i = 0; i < docs.size(); i++) {
                    assertEquals(docs.get(i).length, ds.length(i));
                    assertArrayEquals(docs.get(i), ds.tokens(i, 0, docs.get(i).length));
                    if (docs.get(i).length > 10)
                        assertArrayEquals(Arrays.copyOfRange(docs.get(i), 3, 10), ds.tokens(i, 3, 7));
                }
            }
        }
    }

    @Test
    void multiSequenceDocumentsFollowDocIdx(@TempDir Path dir) {
        Path prefix = dir.resolve("multi");
        try (MegatronWriter w = new MegatronWriter(prefix, Dtype.U16)) {
            w.add(new int[]{1, 2, 3});
            w.add(new int[]{4, 5});
            w.endDocument();
            w.add(new int[]{6});
            w.endDocument();
        }
        try (MegatronDataset ds = MegatronDataset.open(prefix, "s")) {
            assertEquals(3, ds.sequenceCount());
            assertEquals(2, ds.documentCount());
            assertEquals(5, ds.length(0));
            assertArrayEquals(new int[]{2, 3, 4, 5}, ds.tokens(0, 1, 4));
            assertArrayEquals(new int[]{6}, ds.tokens(1, 0, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> ds.tokens(0, 2, 4));
        }
    }

    /** An .idx/.bin pair written byte by byte from the published layout (gpt-neox indexed_dataset.py). */
    static Path handWritten(Path dir) throws Exception {
        int[][] seqs = {{50256, 1, 65535, 0}, {7, 8}, {}, {300, 301, 302}};
        ByteBuffer bin = ByteBuffer.allocate(2 * 9).order(ByteOrder.LITTLE_ENDIAN);
        for (int[] s : seqs) for (int t : s) bin.putShort((short) t);
        ByteBuffer idx = ByteBuffer.allocate(9 + 8 + 1 + 8 + 8 + 4 * 4 + 8 * 4 + 8 * 5).order(ByteOrder.LITTLE_ENDIAN);
        idx.put(new byte[]{'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0});
        idx.putLong(1);                 // version
        idx.put((byte) 8);              // dtype code 8 = uint16
        idx.putLong(4);                 // sequence count
        idx.putLong(5);                 // doc_idx length
        for (int[] s : seqs) idx.putInt(s.length);
        long ptr = 0;
        for (int[] s : seqs) {
            idx.putLong(ptr);
            ptr += 2L * s.length;
        }
        for (long v : new long[]{0, 1, 2, 3, 4}) idx.putLong(v);
        Files.write(dir.resolve("hand.bin"), bin.array());
        Files.write(dir.resolve("hand.idx"), idx.array());
        return dir.resolve("hand");
    }

    @Test
    void readsAHandWrittenPair(@TempDir Path dir) throws Exception {
        Path prefix = handWritten(dir);
        try (MegatronDataset ds = MegatronDataset.open(Path.of(prefix + ".bin"), null)) {
            assertEquals(Dtype.U16, ds.dtype());
            assertEquals(4, ds.documentCount());
            assertArrayEquals(new int[]{50256, 1, 65535, 0}, ds.tokens(0, 0, 4));
            assertArrayEquals(new int[]{7, 8}, ds.tokens(1, 0, 2));
            assertEquals(0, ds.length(2));
            assertArrayEquals(new int[]{300, 301, 302}, ds.sequence(3));
        }
        // our writer produces the same bytes
        Path again = dir.resolve("again");
        try (MegatronWriter w = new MegatronWriter(again, Dtype.U16)) {
            w.addDocument(new int[]{50256, 1, 65535, 0});
            w.addDocument(new int[]{7, 8});
            w.addDocument(new int[]{});
            w.addDocument(new int[]{300, 301, 302});
        }
        assertArrayEquals(Files.readAllBytes(Path.of(prefix + ".idx")), Files.readAllBytes(Path.of(again + ".idx")));
        assertArrayEquals(Files.readAllBytes(Path.of(prefix + ".bin")), Files.readAllBytes(Path.of(again + ".bin")));
    }

    static void rejected(Path prefix, String fileEnd, String... parts) {
        SpectroException e = assertThrows(SpectroException.class, () -> MegatronDataset.open(prefix, null).close());
        assertTrue(e.getMessage().contains(prefix.getFileName() + fileEnd), e.getMessage());
        for (String p : parts) assertTrue(e.getMessage().contains(p), () -> "expected '" + p + "' in: " + e.getMessage());
    }

    @Test
    void truncatedAndMalformedFilesAreRejected(@TempDir Path dir) throws Exception {
        Path prefix = handWritten(dir);
        Path idx = Path.of(prefix + ".idx"), bin = Path.of(prefix + ".bin");
        byte[] goodIdx = Files.readAllBytes(idx), goodBin = Files.readAllBytes(bin);
        // truncated .idx at several points
        for (int cut : new int[]{0, 5, 20, 33, 40, 60, goodIdx.length - 1}) {
            Files.write(idx, Arrays.copyOf(goodIdx, cut));
            rejected(prefix, ".idx", "byte offset", "truncated");
        }
        Files.write(idx, goodIdx);
        // truncated .bin
        Files.write(bin, Arrays.copyOf(goodBin, goodBin.length - 1));
        rejected(prefix, ".bin", "byte offset " + (goodBin.length - 1), "sequence 3");
        Files.write(bin, goodBin);
        // bad magic, version, dtype, negative size, doc_idx out of range, trailing bytes
        byte[] b = goodIdx.clone();
        b[0] = 'X';
        Files.write(idx, b);
        rejected(prefix, ".idx", "byte offset 0", "magic");
        b = goodIdx.clone();
        b[9] = 2;
        Files.write(idx, b);
        rejected(prefix, ".idx", "byte offset 9", "version 2");
        b = goodIdx.clone();
        b[17] = 42;
        Files.write(idx, b);
        rejected(prefix, ".idx", "byte offset 17", "dtype code 42");
        b = goodIdx.clone();
        b[17] = 6;
        Files.write(idx, b);
        rejected(prefix, ".idx", "byte offset 17", "F32");
        b = goodIdx.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(34 + 4, -3);
        Files.write(idx, b);
        rejected(prefix, ".idx", "byte offset 38", "sizes[1] = -3");
        b = goodIdx.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(34 + 16 + 32 + 8, 99);
        Files.write(idx, b);
        rejected(prefix, ".idx", "doc_idx[1] = 99");
        b = Arrays.copyOf(goodIdx, goodIdx.length + 3);
        Files.write(idx, b);
        rejected(prefix, ".idx", "unexpected bytes");
        Files.delete(bin);
        Files.write(idx, goodIdx);
        rejected(prefix, ".bin", "not found");
    }

    @Test
    void docIdxThatIsNoPartitionFallsBackToSequences(@TempDir Path dir) throws Exception {
        Path prefix = handWritten(dir);
        Path idx = Path.of(prefix + ".idx");
        byte[] b = Files.readAllBytes(idx);
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(34 + 16 + 32 + 32, 2);   // last doc_idx 2 != 4
        Files.write(idx, b);
        try (MegatronDataset ds = MegatronDataset.open(prefix, null)) {
            assertFalse(ds.documentsFromDocIdx());
            assertEquals(4, ds.documentCount());
            assertEquals(3, ds.length(3));
        }
    }
}
