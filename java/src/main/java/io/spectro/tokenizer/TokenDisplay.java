package io.spectro.tokenizer;

/**
 * Display text of the tokens of one sequence, decoded in context. Byte-level BPE tokens need not end
 * on character boundaries: a character whose UTF-8 bytes are split over two tokens is shown, whole, in
 * each token that holds some of its bytes (never as U+FFFD when the bytes decode together); a byte that
 * cannot be decoded with its neighbours (an invalid or truncated sequence, e.g. at a window's edge) is
 * shown as {@code \xNN}. A token without bytes (an id that names no token) is shown by {@code missing}
 * and breaks the byte stream.
 */
public final class TokenDisplay {
    private TokenDisplay() {}

    /**
     * @param bytes   each token's bytes, or null for a token that names none
     * @param missing display text for a null entry, by index
     */
    public static String[] display(byte[][] bytes, java.util.function.IntFunction<String> missing) {
        int n = bytes.length;
        String[] out = new String[n];
        StringBuilder[] sb = new StringBuilder[n];
        int i = 0;
        while (i < n) {
            if (bytes[i] == null) { out[i] = missing.apply(i); i++; continue; }
            int j = i;
            int len = 0;
            while (j < n && bytes[j] != null) len += bytes[j++].length;
            // the run [i, j): concatenated bytes and the token owning each byte
            byte[] all = new byte[len];
            int[] owner = new int[len];
            for (int k = i, off = 0; k < j; k++) {
                System.arraycopy(bytes[k], 0, all, off, bytes[k].length);
                java.util.Arrays.fill(owner, off, off + bytes[k].length, k);
                off += bytes[k].length;
                sb[k] = new StringBuilder();
            }
            int p = 0;
            while (p < len) {
                int l = sequenceLength(all, p, len);
                String unit = l > 0 ? new String(all, p, l, java.nio.charset.StandardCharsets.UTF_8)
                        : String.format("\\x%02x", all[p] & 0xff);
                int e = p + Math.max(l, 1);
                for (int k = owner[p]; k <= owner[e - 1]; k++) sb[k].append(unit);
                p = e;
            }
            for (int k = i; k < j; k++) out[k] = sb[k].toString();
            i = j;
        }
        return out;
    }

    /** Length of the valid UTF-8 sequence starting at p (1-4), or 0 when the byte there starts none. */
    static int sequenceLength(byte[] b, int p, int end) {
        int c = b[p] & 0xff;
        int l;
        int min;
        if (c < 0x80) return 1;
        else if (c >= 0xc2 && c <= 0xdf) { l = 2; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { l = 3; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { l = 4; min = 0x10000; }
        else return 0;
        if (p + l > end) return 0;
        int cp = c & (0xff >> (l + 1));
        for (int k = 1; k < l; k++) {
            int x = b[p + k] & 0xff;
            if ((x & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (x & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        return l;
    }
}
