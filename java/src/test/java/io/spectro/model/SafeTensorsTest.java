package io.spectro.model;

import io.spectro.SpectroException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir
    Path tmp;

    /** A raw safetensors file: 8-byte LE header length, header text, data bytes. */
    static Path raw(Path file, String header, byte[] data) throws Exception {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
        o.write(h);
        o.write(data);
        Files.write(file, o.toByteArray());
        return file;
    }

    static SpectroException fails(Path file, String part) {
        SpectroException e = assertThrows(SpectroException.class, () -> {
            try (SafeTensors s = SafeTensors.open(file)) {
                for (String n : s.entries().keySet()) s.readFloats(n);
            }
        });
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
        return e;
    }

    @Test
    void roundTripF32F16Bf16() throws Exception {
        float[] a = {0f, 1f, -2.5f, 3.14159265f, 1e-3f, -65504f, 1e-8f, Float.NaN};
        float[] b = new float[6 * 7];
        for (int i = 0; i < b.length; i++) b[i] = (float) Math.sin(i) * 10;
        for (String dt : List.of("f32", "f16", "bf16")) {
            Path f = tmp.resolve("t-" + dt + ".safetensors");
            SafeTensors.write(f, List.of(new SafeTensors.Out("a", new long[]{8}, MemorySegment.ofArray(a)),
                    new SafeTensors.Out("m.b", new long[]{6, 7}, MemorySegment.ofArray(b))), dt);
            long hlen = ByteBuffer.wrap(Files.readAllBytes(f), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, hlen % 8, "header padded to 8 bytes");
            try (SafeTensors s = SafeTensors.open(f)) {
                assertEquals("pt", s.metadata().get("format"));
                assertEquals(SafeTensors.dtypeName(dt), s.entry("a").dtype());
                assertArrayEquals(new long[]{6, 7}, s.entry("m.b").shape());
                float[] ra = s.readFloats("a"), rb = s.readFloats("m.b");
                for (int i = 0; i < a.length; i++) assertEquals(expected(a[i], dt), ra[i], dt + " a[" + i + "]");
                for (int i = 0; i < b.length; i++) assertEquals(expected(b[i], dt), rb[i], dt + " b[" + i + "]");
                if (!dt.equals("f32")) assertEquals(b[3], rb[3], Math.abs(b[3]) * (dt.equals("f16") ? 1e-3 : 8e-3));
            }
        }
    }

    private static float expected(float x, String dt) {
        return switch (dt) {
            case "f32" -> x;
            case "f16" -> Float.float16ToFloat(Float.floatToFloat16(x));
            default -> Float.intBitsToFloat((SafeTensors.floatToBf16(x) & 0xffff) << 16);
        };
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals((short) 0x3f80, SafeTensors.floatToBf16(1f));
        assertEquals((short) 0x3f80, SafeTensors.floatToBf16(Float.intBitsToFloat(0x3f808000))); // tie -> even
        assertEquals((short) 0x3f82, SafeTensors.floatToBf16(Float.intBitsToFloat(0x3f818000))); // tie -> even (up)
        assertEquals((short) 0x3f81, SafeTensors.floatToBf16(Float.intBitsToFloat(0x3f808001)));
        assertTrue(Float.isNaN(Float.intBitsToFloat((SafeTensors.floatToBf16(Float.NaN) & 0xffff) << 16)));
    }

    @Test
    void truncatedData() throws Exception {
        Path f = raw(tmp.resolve("trunc.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[12]);
        SpectroException e = fails(f, "truncated");
        assertTrue(e.getMessage().contains("'x'"), e.getMessage());
    }

    @Test
    void headerLengthBeyondFile() throws Exception {
        Path f = tmp.resolve("hl.safetensors");
        Files.write(f, ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        fails(f, "header length 1000");
        Path g = tmp.resolve("short.safetensors");
        Files.write(g, new byte[5]);
        fails(g, "too short");
    }

    @Test
    void garbledJson() throws Exception {
        fails(raw(tmp.resolve("g.safetensors"), "{\"x\":{\"dtype\":\"F32\",", new byte[0]), "not valid JSON");
        fails(raw(tmp.resolve("g2.safetensors"), "[1,2]", new byte[0]), "not a JSON object");
        fails(raw(tmp.resolve("g3.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4]), "data_offsets");
    }

    @Test
    void lyingOffsets() throws Exception {
        Path f = raw(tmp.resolve("lie.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", new byte[16]);
        fails(f, "needs 16");
        Path g = raw(tmp.resolve("overlap.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[16]);
        fails(g, "overlap");
        Path h = raw(tmp.resolve("backwards.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", new byte[16]);
        fails(h, "increasing");
    }

    @Test
    void unsupportedDtypes() throws Exception {
        fails(raw(tmp.resolve("u.safetensors"), "{\"x\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", new byte[2]),
                "unknown dtype 'Q4'");
        Path f = raw(tmp.resolve("f64.safetensors"), "{\"x\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", new byte[16]);
        try (SafeTensors s = SafeTensors.open(f)) { // a valid file: the dtype matters only when read
            assertEquals("F64", s.entry("x").dtype());
        }
        SpectroException e = fails(f, "F64");
        assertTrue(e.getMessage().contains("'x'"), e.getMessage());
    }

    @Test
    void badDtypeForWriting() {
        assertThrows(SpectroException.class, () -> SafeTensors.write(tmp.resolve("x.safetensors"), List.of(), "int8"));
    }
}
