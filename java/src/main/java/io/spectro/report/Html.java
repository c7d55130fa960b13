package io.spectro.report;

import io.spectro.io.Atomic;
import tools.jackson.databind.json.JsonMapper;

import java.nio.file.Path;

/** Escaping helpers for the generated pages. */
public final class Html {
    private Html() {}

    /** Text for HTML element content or a quoted attribute value. */
    public static String text(String s) {
        if (s == null) return "";
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    /**
     * JSON safe to embed in {@code <script type="application/json">}: '<', '>', '&', the line
     * separators U+2028/U+2029 and the invisible or reordering characters of {@link #hidden} are
     * written as \\u escapes (they only occur inside JSON strings).
     */
    public static String embeddedJson(Object value) {
        String j = JsonMapper.shared().writeValueAsString(value);
        StringBuilder b = new StringBuilder(j.length() + 64);
        for (int i = 0; i < j.length(); i++) {
            char c = j.charAt(i);
            switch (c) {
                case '<' -> b.append("\\u003c");
                case '>' -> b.append("\\u003e");
                case '&' -> b.append("\\u0026");
                case '\u2028' -> b.append("\\u2028");
                case '\u2029' -> b.append("\\u2029");
                default -> {
                    if (hidden(c)) b.append(String.format("\\u%04x", (int) c)); // no raw bidi/zero-width character in the page source
                    else b.append(c);
                }
            }
        }
        return b.toString();
    }

    /**
     * A token as shown in lists: control characters escaped, and characters that are invisible or
     * reorder the text around them (bidi controls such as U+202E, zero-width ones such as U+200B and
     * U+FEFF) shown as {@code \\uXXXX}, the same set the explorer's script escapes.
     */
    public static String showToken(String t) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            if (c == '\n') b.append("\\n");
            else if (c == '\t') b.append("\\t");
            else if (c < 0x20) b.append(String.format("\\x%02x", (int) c));
            else if (hidden(c)) b.append(String.format("\\u%04X", (int) c));
            else b.append(c);
        }
        return b.toString();
    }

    /** Invisible or reordering: DEL and C1 controls, soft hyphen, bidi controls and marks, zero-width characters. */
    static boolean hidden(char c) {
        return (c >= 0x7f && c <= 0x9f) || c == 0xad || c == 0x61c || c == 0x180e || (c >= 0x200b && c <= 0x200f)
                || (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x2069)
                || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb);
    }

    static void writeFile(Path file, String content) {
        Atomic.writeString(file, content);
    }
}
