package io.spectro.data;

import io.airlift.compress.zstd.ZstdOutputStream;
import io.spectro.SpectroException;
import io.spectro.io.Npy;
import io.spectro.tokenizer.BpeTrainer;
import io.spectro.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TextReadersTest {
    static final CorpusOptions DEFAULTS = CorpusOptions.defaults();

    static List<TextReaders.RawDoc> text(Path f, CorpusOptions o) {
        List<TextReaders.RawDoc> out = new ArrayList<>();
        TextReaders.readText(f, "s", o, out::add);
        return out;
    }

    static List<TextReaders.RawDoc> jsonl(Path f, CorpusOptions o) {
        List<TextReaders.RawDoc> out = new ArrayList<>();
        TextReaders.readJsonl(f, "default", o, out::add);
        return out;
    }

    @Test
    void plainTextWholeFileOrBlankLineBlocks(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("a.txt");
        Files.writeString(f, "first para\nline two\n\n\n  \nsecond ü\r\n\r\nthird\n");
        assertEquals(List.of("first para\nline two\n\n\n  \nsecond ü\r\n\r\nthird\n"), text(f, DEFAULTS).stream().map(TextReaders.RawDoc::text).toList());
        CorpusOptions blank = new CorpusOptions("text", "x", CorpusOptions.TextSplit.BLANK_LINES, 0);
        assertEquals(List.of("first para\nline two", "second ü", "third"), text(f, blank).stream().map(TextReaders.RawDoc::text).toList());
        CorpusOptions two = new CorpusOptions("text", "x", CorpusOptions.TextSplit.BLANK_LINES, 2);
        assertEquals(2, text(f, two).size());
    }

    static String jsonlContent() {
        return "{\"text\":\"hello world\",\"meta\":{\"pile_set_name\":\"Pile-CC\"}}\n"
                + "\n"
                + "{\"text\":\"日本語 ü \\n newline\",\"meta\":{\"pile_set_name\":\"Wikipedia (en)\"}}\n"
                + "{\"text\":\"no meta\"}";   // no trailing newline
    }

    @Test
    void jsonlWithSubsetsAndCustomFields(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("c.jsonl");
        Files.writeString(f, jsonlContent());
        List<TextReaders.RawDoc> d = jsonl(f, DEFAULTS);
        assertEquals(3, d.size());
        assertEquals(new TextReaders.RawDoc("Pile-CC", "hello world", 0), d.get(0));
        assertEquals(new TextReaders.RawDoc("Wikipedia (en)", "日本語 ü \n newline", 1), d.get(1));
        assertEquals(new TextReaders.RawDoc("default", "no meta", 2), d.get(2));

        Path g = dir.resolve("g.jsonl");
        Files.writeString(g, "{\"body\":{\"t\":\"x\"},\"src\":\"A\"}\n{\"body\":{\"t\":\"y\"},\"src\":\"B\"}\n");
        List<TextReaders.RawDoc> e = jsonl(g, new CorpusOptions("body.t", "src", CorpusOptions.TextSplit.FILE, 0));
        assertEquals(List.of(new TextReaders.RawDoc("A", "x", 0), new TextReaders.RawDoc("B", "y", 1)), e);
    }

    @Test
    void zstdJsonlRoundTrips(@TempDir Path dir) throws Exception {
        StringBuilder big = new StringBuilder(jsonlContent()).append('\n');
        for (int i = 0; i < 3000; i++) big.append("{\"text\":\"document number ").append(i).append("\",\"meta\":{\"pile_set_name\":\"S").append(i % 3).append("\"}}\n");
        Path plain = dir.resolve("big.jsonl"), zst = dir.resolve("big.jsonl.zst");
        Files.writeString(plain, big);
        try (OutputStream out = new ZstdOutputStream(Files.newOutputStream(zst))) {
            out.write(big.toString().getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(Files.size(zst) < Files.size(plain));
        assertEquals(jsonl(plain, DEFAULTS), jsonl(zst, DEFAULTS));
        assertEquals(3003, jsonl(zst, DEFAULTS).size());

        // truncated compressed stream -> file + compressed offset
        byte[] bytes = Files.readAllBytes(zst);
        Path cut = dir.resolve("cut.jsonl.zst");
        Files.write(cut, Arrays.copyOf(bytes, bytes.length / 2));
        SpectroException e = assertThrows(SpectroException.class, () -> jsonl(cut, DEFAULTS));
        assertTrue(e.getMessage().contains("cut.jsonl.zst") && e.getMessage().contains("byte offset"), e.getMessage());
        // garbage that is not zstd at all
        Path junk = dir.resolve("junk.jsonl.zst");
        Files.write(junk, "this is not zstd".getBytes(StandardCharsets.UTF_8));
        e = assertThrows(SpectroException.class, () -> jsonl(junk, DEFAULTS));
        assertTrue(e.getMessage().contains("junk.jsonl.zst") && e.getMessage().contains("byte offset"), e.getMessage());
    }

    @Test
    void malformedJsonlNamesLineAndOffset(@TempDir Path dir) throws Exception {
        String good = "{\"text\":\"ok\"}\n";   // 14 bytes
        Path f = dir.resolve("bad.jsonl");
        Files.writeString(f, good + good + "{\"text\": \"unterminated\n");
        SpectroException e = assertThrows(SpectroException.class, () -> jsonl(f, DEFAULTS));
        assertTrue(e.getMessage().contains("bad.jsonl: line 3 (byte offset 28)"), e.getMessage());
        Files.writeString(f, good + "[1,2]\n");
        e = assertThrows(SpectroException.class, () -> jsonl(f, DEFAULTS));
        assertTrue(e.getMessage().contains("line 2 (byte offset 14): not a JSON object"), e.getMessage());
        Files.writeString(f, good + "{\"txt\":\"x\"}\n");
        e = assertThrows(SpectroException.class, () -> jsonl(f, DEFAULTS));
        assertTrue(e.getMessage().contains("line 2 (byte offset 14): no string field \"text\""), e.getMessage());
        Files.write(f, new byte[]{'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xff, '"', '}', '\n'});
        e = assertThrows(SpectroException.class, () -> jsonl(f, DEFAULTS));
        assertTrue(e.getMessage().contains("line 1 (byte offset 0): invalid UTF-8"), e.getMessage());
    }

    @Test
    void corporaOpenEveryKind(@TempDir Path dir) throws Exception {
        Tokenizer tok = BpeTrainerTestCorpus.tokenizer();
        Files.writeString(dir.resolve("t.txt"), "the cat sat on the mat");
        Files.writeString(dir.resolve("j.jsonl"), jsonlContent());
        Npy.write(dir.resolve("rows.npy"), new int[]{1, 2, 3, 4, 5, 6}, 2, 3);
        Npy.write(dir.resolve("flat.npy"), new int[]{9, 8, 7}, 3);
        try (MegatronWriter w = new MegatronWriter(dir.resolve("meg"), Dtype.U16)) {
            w.addDocument(new int[]{5, 6, 7});
        }
        List<Corpora.Entry> entries = Corpora.resolve(List.of(dir.toString()));
        assertEquals(List.of("flat", "j", "meg", "rows", "t"), entries.stream().map(Corpora.Entry::subset).toList());
        List<TokenSource> src = Corpora.openAll(List.of("named=" + dir.resolve("t.txt"), dir.toString()), tok, DEFAULTS);
        try {
            assertEquals("named", src.get(0).subset(0));
            assertArrayEquals(tok.encode("the cat sat on the mat"), src.get(0).tokens(0, 0, (int) src.get(0).length(0)));
            assertArrayEquals(new int[]{9, 8, 7}, src.get(1).tokens(0, 0, 3));
            assertEquals("Wikipedia (en)", src.get(2).subset(1));
            assertArrayEquals(tok.encode("hello world"), src.get(2).tokens(0, 0, (int) src.get(2).length(0)));
            assertArrayEquals(new int[]{5, 6, 7}, src.get(3).tokens(0, 0, 3));
            assertEquals(2, src.get(4).documentCount());
            assertArrayEquals(new int[]{4, 5, 6}, src.get(4).tokens(1, 0, 3));
        } finally {
            src.forEach(TokenSource::close);
        }
        SpectroException e = assertThrows(SpectroException.class, () -> Corpora.openAll(List.of(dir.resolve("t.txt").toString()), null, DEFAULTS));
        assertTrue(e.getMessage().contains("t.txt") && e.getMessage().contains("--tokenizer"));
        e = assertThrows(SpectroException.class, () -> Corpora.resolve(List.of(dir.resolve("nope.jsonl").toString())));
        assertTrue(e.getMessage().contains("nope.jsonl"));
        Files.writeString(dir.resolve("x.csv"), "a,b");
        e = assertThrows(SpectroException.class, () -> Corpora.resolve(List.of(dir.resolve("x.csv").toString())));
        assertTrue(e.getMessage().contains("x.csv") && e.getMessage().contains("unsupported"));
    }

    /** A small trained tokenizer, so data tests do not need the shared GPT-NeoX file. */
    static final class BpeTrainerTestCorpus {
        static Tokenizer tokenizer() {
            List<String> texts = new ArrayList<>();
            for (int i = 0; i < 50; i++) texts.add("the cat sat on the mat hello world document number " + i);
            return BpeTrainer.fit(texts, new BpeTrainer.Options(300));
        }
    }
}
