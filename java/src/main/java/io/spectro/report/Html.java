package io.spectro.report;

import io.spectro.SpectroException;
import tools.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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
     * JSON safe to embed in {@code <script type="application/json">}: '<', '>', '&' and the line
     * separators U+2028/U+2029 are written as \\u escapes (they only occur inside JSON strings).
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
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    /** A token as shown in lists: spaces made visible at the ends, control characters escaped. */
    public static String showToken(String t) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            if (c == '\n') b.append("\\n");
            else if (c == '\t') b.append("\\t");
            else if (c < 0x20) b.append(String.format("\\x%02x", (int) c));
            else b.append(c);
        }
        return b.toString();
    }

    static void writeFile(Path file, String content) {
        try {
            if (file.getParent() != null) Files.createDirectories(file.getParent());
            Files.writeString(file, content, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }
}
