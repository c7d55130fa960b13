package io.spectro.io;

import io.spectro.SpectroException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** .npy files of any size, streamed and written atomically (issue 12); large files are sparse, so cheap. */
class NpyTest {
    @Test
    void roundTripsAndWritesNothingPartial(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("a.npy");
        Npy.write(f, new float[]{1, -2.5f, 3, 4, 5, 6}, 2, 3);
        Npy.Floats a = Npy.readFloats(f);
        assertArrayEquals(new long[]{2, 3}, a.shape());
        assertArrayEquals(new float[]{1, -2.5f, 3, 4, 5, 6}, a.data());
        assertArrayEquals(new float[]{3, 4}, Npy.readFloats(f, 2, 2));
        // the atomic write keeps the usual permissions (a temp file would be owner-only)
        Path plain = Files.createFile(dir.resolve("plain"));
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(f));
        Files.delete(plain);
        Npy.write(f, new int[]{7, 8, 9}, 3);
        assertArrayEquals(new int[]{7, 8, 9}, Npy.readInts(f).data());
        assertEquals(0, Npy.readInts(write(dir, "e.npy", "<i4", "(0,)", 0)).data().length);
        // a shape that does not hold the data: refused, and the old file is still there, no temporary left
        assertThrows(IllegalArgumentException.class, () -> Npy.write(f, new int[]{1, 2}, 3));
        assertArrayEquals(new int[]{7, 8, 9}, Npy.readInts(f).data());
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(2, s.count());
        }
    }

    @Test
    void arraysOver2GiBAreWrittenAndReadInPieces(@TempDir Path dir) throws Exception {
        long n = 600_000_000L; // 2.4 GB of float32: more than one byte[] can hold
        Path f = dir.resolve("big.npy");
        try (Npy.Writer w = Npy.Writer.create(f, "<f4", n / 400, 400)) {
            w.put(n - 3, new float[]{1.5f, 2.5f, 3.5f}, 0, 3);
            w.put(7, new float[]{9f}, 0, 1);
            w.commit();
        }
        Npy.Info info = Npy.info(f);
        assertEquals(n, info.count());
        assertEquals(info.dataOffset() + 4 * n, Files.size(f));
        assertArrayEquals(new float[]{0f, 1.5f, 2.5f, 3.5f}, Npy.readFloats(f, n - 4, 4));
        assertArrayEquals(new float[]{0f, 9f, 0f}, Npy.readFloats(f, 6, 3));
        // more elements than a Java array holds: a message, not a NegativeArraySizeException or OOM trace
        Path huge = write(dir, "huge.npy", "<f4", "(2147483648,)", 4L << 31);
        SpectroException e = assertThrows(SpectroException.class, () -> Npy.readFloats(huge));
        assertTrue(e.getMessage().contains("larger than one in-memory array can hold"), e.getMessage());
        assertArrayEquals(new float[]{0f}, Npy.readFloats(huge, (1L << 31) - 1, 1));
        // more than the heap has room for: says how much it needs and what to set
        long count = Npy.MAX_ARRAY;
        Assumptions.assumeTrue(Runtime.getRuntime().maxMemory() < 4 * count - (1L << 30), "heap large enough to hold the array");
        Path large = write(dir, "large.npy", "<i4", "(" + count + ",)", 4 * count);
        e = assertThrows(SpectroException.class, () -> Npy.readInts(large));
        assertTrue(e.getMessage().contains("GiB of memory") && e.getMessage().contains("-Xmx"), e.getMessage());
    }

    @Test
    void impossibleShapesAndTruncationAreMessages(@TempDir Path dir) throws Exception {
        Path f = write(dir, "x.npy", "<f4", "(4294967296, 4294967296)", 16);
        SpectroException e = assertThrows(SpectroException.class, () -> Npy.readFloats(f));
        assertTrue(e.getMessage().contains("more elements than any file can hold"), e.getMessage());
        Path g = write(dir, "t.npy", "<f4", "(10,)", 12);
        e = assertThrows(SpectroException.class, () -> Npy.readFloats(g));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    /** A .npy header for {@code shape}, then a (sparse) data section of {@code dataBytes}. */
    private static Path write(Path dir, String name, String descr, String shape, long dataBytes) throws Exception {
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
        String header = dict + " ".repeat((64 - (10 + dict.length() + 1) % 64) % 64) + "\n";
        Path f = dir.resolve(name);
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.write(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (byte) header.length(), (byte) (header.length() >> 8)});
            raf.write(header.getBytes(StandardCharsets.ISO_8859_1));
            raf.setLength(raf.getFilePointer() + dataBytes);
        }
        return f;
    }
}
