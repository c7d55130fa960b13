package io.spectro.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The GPT-2 byte-level pieces shared by the Hugging Face ByteLevel pre-tokenizer and decoder: the
 * reversible byte-to-unicode map and the GPT-2 split regex.
 */
final class ByteLevel {
    /** GPT-2 split pattern; {@code \s} is the Unicode White_Space property (as in Oniguruma). */
    static final Pattern SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    /** byte value -> the char that stands for it. */
    static final char[] BYTE_TO_CHAR = new char[256];
    /** char -> byte value, -1 where the char stands for no byte. */
    static final int[] CHAR_TO_BYTE = new int[512];

    static {
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) direct[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) direct[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) direct[b] = true;
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            char c = direct[b] ? (char) b : (char) (256 + n++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {}

    /** UTF-8 bytes of {@code s} (a lone surrogate becomes U+FFFD), each mapped to its stand-in char. */
    static String encodeBytes(String s) {
        byte[] bytes = utf8(s);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) out[i] = BYTE_TO_CHAR[bytes[i] & 0xff];
        return new String(out);
    }

    /** UTF-8 bytes; unlike String.getBytes, a lone surrogate becomes U+FFFD (EF BF BD), not '?'. */
    static byte[] utf8(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (Character.isSurrogate(s.charAt(i))) {
                StringBuilder b = new StringBuilder(s.length());
                for (int k = 0; k < s.length(); k++) {
                    char c = s.charAt(k);
                    if (Character.isHighSurrogate(c) && k + 1 < s.length() && Character.isLowSurrogate(s.charAt(k + 1))) {
                        b.append(c).append(s.charAt(++k));
                    } else b.append(Character.isSurrogate(c) ? '\ufffd' : c);
                }
                return b.toString().getBytes(StandardCharsets.UTF_8);
            }
        }
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Splits text the way the GPT-2 regex does (matches and any unmatched gaps, in order). */
    static List<String> split(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = SPLIT.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) out.add(text.substring(last, m.start()));
            if (m.end() > m.start()) out.add(text.substring(m.start(), m.end()));
            last = m.end();
        }
        if (last < text.length()) out.add(text.substring(last));
        return out;
    }

    /**
     * Appends the bytes of one token string as the ByteLevel decoder does: every char through the
     * map, or, when some char stands for no byte (e.g. an added token of plain spaces), the token's
     * own UTF-8 bytes.
     */
    static void decodeToken(String token, ByteArrayOutputStream out) {
        int n = token.length();
        byte[] mapped = new byte[n];
        for (int i = 0; i < n; i++) {
            char c = token.charAt(i);
            int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
            if (b < 0) {
                out.writeBytes(token.getBytes(StandardCharsets.UTF_8));
                return;
            }
            mapped[i] = (byte) b;
        }
        out.write(mapped, 0, n);
    }
}
