package io.spectro.data;

import io.spectro.io.IoErrors;
import io.airlift.compress.zstd.ZstdInputStream;
import io.spectro.SpectroException;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/** Readers of text corpora: plain text, jsonl and zstd-compressed jsonl. */
public final class TextReaders {
    /** A document before tokenisation; {@code index} counts documents within the file from 0. */
    public record RawDoc(String subset, String text, long index) {}

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Pattern BLANK_LINES = Pattern.compile("\\r?\\n(?:[ \\t]*\\r?\\n)+");

    private TextReaders() {}

    /** Plain UTF-8 text (invalid bytes become U+FFFD): the whole file, or blocks between blank lines. */
    public static void readText(Path file, String subset, CorpusOptions o, Consumer<RawDoc> sink) {
        String text;
        try {
            text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new SpectroException(file + ": file not found");
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read (" + IoErrors.describe(e) + ")", e);
        }
        if (text.startsWith("\ufeff")) text = text.substring(1);
        long n = 0;
        if (o.textSplit() == CorpusOptions.TextSplit.FILE) {
            if (!text.isEmpty()) sink.accept(new RawDoc(subset, text, n));
            return;
        }
        for (String block : BLANK_LINES.split(text)) {
            String doc = block.strip().isEmpty() ? "" : stripNewlines(block);
            if (doc.isEmpty()) continue;
            sink.accept(new RawDoc(subset, doc, n++));
            if (o.maxDocs() > 0 && n >= o.maxDocs()) return;
        }
    }

    private static String stripNewlines(String s) {
        int a = 0, b = s.length();
        while (a < b && (s.charAt(a) == '\n' || s.charAt(a) == '\r')) a++;
        while (b > a && (s.charAt(b - 1) == '\n' || s.charAt(b - 1) == '\r')) b--;
        return s.substring(a, b);
    }

    /** Counts the bytes read from the underlying (compressed) file. */
    private static final class Counting extends FilterInputStream {
        long count;

        Counting(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) count++;
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) count += n;
            return n;
        }
    }

    /**
     * JSON lines, optionally zstd-compressed ({@code .zst}): one JSON object per line with a string text
     * field; blank lines are skipped. Errors name the file, the line and its byte offset (in the
     * decompressed stream; for a damaged .zst, the compressed offset reached).
     */
    public static void readJsonl(Path file, String defaultSubset, CorpusOptions o, Consumer<RawDoc> sink) {
        boolean zst = file.getFileName().toString().endsWith(".zst");
        LineParser parser = new LineParser(file, defaultSubset, o, sink);
        Counting raw = null;
        try (InputStream fin = Files.newInputStream(file)) {
            raw = new Counting(new BufferedInputStream(fin, 1 << 16));
            InputStream in = zst ? new ZstdInputStream(raw) : raw;
            ByteArrayOutputStream line = new ByteArrayOutputStream(4096);
            byte[] buf = new byte[1 << 16];
            int r;
            while ((r = in.read(buf)) >= 0) {
                int from = 0;
                for (int i = 0; i < r; i++) {
                    if (buf[i] != '\n') continue;
                    line.write(buf, from, i - from);
                    from = i + 1;
                    if (!parser.line(line.toByteArray(), 1)) return;
                    line.reset();
                }
                line.write(buf, from, r - from);
            }
            if (line.size() > 0) parser.line(line.toByteArray(), 0);
        } catch (NoSuchFileException e) {
            throw new SpectroException(file + ": file not found");
        } catch (SpectroException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            long at = raw == null ? 0 : raw.count;
            throw new SpectroException(file + ": " + (zst ? "damaged or truncated zstd stream" : "read error")
                    + " near compressed byte offset " + at + " (after line " + parser.lineNo + ", decompressed byte offset "
                    + parser.offset + "): " + e.getMessage(), e);
        }
    }

    /** Parses one jsonl line at a time, tracking line numbers and decompressed byte offsets. */
    private static final class LineParser {
        final Path file;
        final String defaultSubset;
        final CorpusOptions o;
        final Consumer<RawDoc> sink;
        final String[] textPath, subsetPath;
        final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        long lineNo, offset, n;

        LineParser(Path file, String defaultSubset, CorpusOptions o, Consumer<RawDoc> sink) {
            this.file = file;
            this.defaultSubset = defaultSubset;
            this.o = o;
            this.sink = sink;
            textPath = o.textField().split("\\.");
            subsetPath = o.subsetField().split("\\.");
        }

        /** Handles one line (without its newline); returns false once maxDocs documents were read. */
        boolean line(byte[] bytes, int newline) {
            lineNo++;
            long start = offset;
            offset += bytes.length + newline;
            String s;
            try {
                s = decoder.decode(ByteBuffer.wrap(bytes)).toString();
            } catch (CharacterCodingException e) {
                throw bad(file, lineNo, start, "invalid UTF-8");
            }
            if (s.isBlank()) return true;
            JsonNode node;
            try {
                node = MAPPER.readTree(s);
            } catch (JacksonException e) {
                throw bad(file, lineNo, start, "not valid JSON (" + e.getOriginalMessage() + ")");
            }
            if (node == null || !node.isObject()) throw bad(file, lineNo, start, "not a JSON object");
            JsonNode t = at(node, textPath);
            if (t == null || !t.isString()) throw bad(file, lineNo, start, "no string field \"" + o.textField() + "\"");
            JsonNode sub = at(node, subsetPath);
            String subset = sub != null && sub.isString() ? sub.stringValue() : defaultSubset;
            sink.accept(new RawDoc(subset, t.stringValue(), n++));
            return o.maxDocs() == 0 || n < o.maxDocs();
        }
    }

    private static JsonNode at(JsonNode node, String[] path) {
        JsonNode n = node;
        for (String p : path) {
            if (n == null || !n.isObject()) return null;
            n = n.get(p);
        }
        return n;
    }

    private static SpectroException bad(Path file, long line, long offset, String what) {
        return new SpectroException(file + ": line " + line + " (byte offset " + offset + "): " + what);
    }
}
