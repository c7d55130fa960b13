package io.spectro.tokenizer;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TokenDisplayTest {
    private static String[] show(int... bytesPerToken) {
        byte[][] b = new byte[bytesPerToken.length][];
        for (int i = 0; i < b.length; i++) b[i] = bytesPerToken[i] < 0 ? null : new byte[]{(byte) bytesPerToken[i]};
        return TokenDisplay.display(b, i -> "<missing>");
    }

    @Test
    void aCharacterSplitOverTwoTokensShowsWholeInBoth() {
        // é = C3 A9, ☃ = E2 98 83, 😀 = F0 9F 98 80
        assertArrayEquals(new String[]{"é", "é"}, show(0xc3, 0xa9));
        assertArrayEquals(new String[]{"a", "☃", "☃", "☃", "b"}, show('a', 0xe2, 0x98, 0x83, 'b'));
        byte[][] two = {{(byte) 0xf0, (byte) 0x9f}, {(byte) 0x98, (byte) 0x80, ' ', 'x'}};
        assertArrayEquals(new String[]{"😀", "😀 x"}, TokenDisplay.display(two, i -> "?"));
    }

    @Test
    void invalidOrTruncatedBytesAreEscapedNeverReplaced() {
        assertArrayEquals(new String[]{"\\xff", "a"}, show(0xff, 'a'));
        // a character cut by the window's end, and a lone continuation byte at its start
        assertArrayEquals(new String[]{"\\xa9", "x", "\\xe2", "\\x98"}, show(0xa9, 'x', 0xe2, 0x98));
        // overlong encoding and a surrogate are invalid
        assertArrayEquals(new String[]{"\\xc0", "\\xaf"}, show(0xc0, 0xaf));
        assertArrayEquals(new String[]{"\\xed", "\\xa0", "\\x80"}, show(0xed, 0xa0, 0x80));
        for (String s : show(0xff, 0xc3, 'a', 0xe2)) assertFalse(s.contains("\uFFFD"), s);
    }

    @Test
    void aTokenWithoutBytesBreaksTheStream() {
        assertArrayEquals(new String[]{"\\xc3", "<missing>", "\\xa9"}, show(0xc3, -1, 0xa9));
    }

    @Test
    void trainedTokenizerDisplaysByteFragmentsInContext() {
        Tokenizer t = BpeTrainer.fit(List.of("the snowman ☃ and the café, the naïve café ☃"), new BpeTrainer.Options(270));
        // byte tokens come after the special token, in byte order: id = 1 + byte
        int[] ids = {1 + 0xe2, 1 + 0x98, 1 + 0x83};
        assertArrayEquals(new byte[]{(byte) 0xe2}, t.tokenBytes(ids[0]));
        assertEquals("\uFFFD", t.token(ids[0]), "alone, a lead byte does not decode");
        assertArrayEquals(new String[]{"☃", "☃", "☃"}, t.displayTokens(ids));
        String text = "naïve café ☃";
        int[] enc = t.encode(text);
        String[] shown = t.displayTokens(enc);
        assertEquals(enc.length, shown.length);
        for (String s : shown) assertFalse(s.contains("\uFFFD") || s.contains("\\x"), "decodes together: " + String.join("|", shown));
        assertTrue(String.join("", shown).contains("☃"));
        assertArrayEquals(new String[]{"<|id:99999|>"}, t.displayTokens(new int[]{99999}));
        assertEquals(text, new String(concat(t, enc), StandardCharsets.UTF_8));
    }

    private static byte[] concat(Tokenizer t, int[] ids) {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        for (int id : ids) b.writeBytes(t.tokenBytes(id));
        return b.toByteArray();
    }
}
