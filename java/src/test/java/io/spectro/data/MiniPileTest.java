package io.spectro.data;

import io.spectro.SpectroException;
import io.spectro.cli.Main;
import io.spectro.tokenizer.BpeTrainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

/** The mini-Pile's parsers on small fixtures in each source's format, and its train/held-out split. */
class MiniPileTest {
    static final String BIBLE = """

            Genesis 1

              1 In the beginning God created the heaven and the earth.
              2 And the earth was without form, and void; and darkness was upon the face of
            the deep. And the Spirit of God moved upon the face of the waters.

            1 Samuel 3

              1 And the child Samuel ministered unto the LORD before Eli.
            """;

    @Test
    void bibleChaptersWithVersesUnwrapped() {
        List<String> docs = MiniPile.bible(BIBLE);
        assertEquals(2, docs.size());
        assertEquals("Genesis 1\n\n1 In the beginning God created the heaven and the earth.\n"
                + "2 And the earth was without form, and void; and darkness was upon the face of the deep. "
                + "And the Spirit of God moved upon the face of the waters.", docs.get(0));
        assertTrue(docs.get(1).startsWith("1 Samuel 3\n\n1 And the child"));
        assertThrows(SpectroException.class, () -> MiniPile.bible("  1 a verse before any chapter\n"));
    }

    static String b64(long v) {
        String a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        if (v == 0) return "A";
        StringBuilder s = new StringBuilder();
        for (; v > 0; v /= 64) s.insert(0, a.charAt((int) (v % 64)));
        return s.toString();
    }

    @Test
    void dictdEntriesOnceInFileOrderWithoutTheHeader() {
        String header = "00-database-short\n   A test dictionary\n\n";
        String e1 = "Apple \\Ap\"ple\\, n.\n   A fruit.\n   [1913 Webster]\n\n";
        String e2 = "Banana \\Ba*na\"na\\, n.\n   Another fruit.\n\n";
        String e3 = "Cherry\n   A third.\n\n";
        byte[] dict = (header + e1 + e2 + e3).getBytes(StandardCharsets.UTF_8);
        int h = header.length(), o2 = h + e1.length(), o3 = o2 + e2.length();
        String index = "00-database-short\t" + b64(0) + "\t" + b64(h) + "\n"
                + "apple\t" + b64(h) + "\t" + b64(e1.length()) + "\n"
                + "apples\t" + b64(h) + "\t" + b64(e1.length()) + "\n"      // a second headword, same entry
                + "banana\t" + b64(o2) + "\t" + b64(e2.length()) + "\n"
                + "cherry\t" + b64(o3) + "\t" + b64(e3.length()) + "\n";
        List<String> docs = MiniPile.dictd(dict, index, 2);
        assertEquals(List.of("Apple \\Ap\"ple\\, n.\nA fruit.\n[1913 Webster]\n\nBanana \\Ba*na\"na\\, n.\nAnother fruit.",
                "Cherry\nA third."), docs);
        assertEquals(64 * 64 + 2 * 64 + 3, MiniPile.b64("BCD"));
        assertThrows(SpectroException.class, () -> MiniPile.dictd(dict, "apple\tA\tzzzz\n", 2));
        assertThrows(SpectroException.class, () -> MiniPile.dictd(dict, "apple\tA\n", 2));
    }

    @Test
    void fortunesGroupedBetweenPercentLines() {
        String f = "First fortune.\n%\nSecond\n\t-- Someone\n%\nThird.\n%\n";
        assertEquals(List.of("First fortune.\n\nSecond\n\t-- Someone", "Third."), MiniPile.fortunes(f, 2));
        assertEquals(3, MiniPile.fortunes(f, 1).size());
    }

    @Test
    void brownTagsRemovedAndPunctuationAttached() {
        String tagged = "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, and/cc it/pps did/dod n't/* (/( really/rb )/) ./.\n\n"
                + "\tIt's/pps+bez over/rp ./.\n";
        assertEquals("The jury said \"no evidence\", and it didn't (really).\nIt's over.", MiniPile.brown(tagged));
    }

    @Test
    void prepareSplitsEveryKthDocumentAndBuildSamplesSubsetsEqually(@TempDir Path dir) throws Exception {
        Map<String, List<String>> docs = new LinkedHashMap<>();
        String[] words = {"alpha", "beta", "gamma", "delta", "the", "of", "and"};
        for (String s : List.of("big", "small")) {
            List<String> l = new ArrayList<>();
            int n = s.equals("big") ? 40 : 10;
            for (int d = 0; d < n; d++) {
                StringBuilder t = new StringBuilder(s);
                for (int k = 0; k < 120; k++) t.append(' ').append(words[(d * 7 + k * 3) % words.length]);
                l.add(t.toString());
            }
            docs.put(s, l);
        }
        MiniPile.Summary sum = MiniPile.prepare(docs, 5, dir);
        assertArrayEquals(new long[]{32, 8}, java.util.Arrays.copyOf(sum.perSubset().get("big"), 2));
        assertArrayEquals(new long[]{8, 2}, java.util.Arrays.copyOf(sum.perSubset().get("small"), 2));
        List<String> held = Files.readAllLines(dir.resolve("heldout/small.jsonl"));
        assertEquals(2, held.size());
        assertTrue(held.get(0).contains("\"pile_set_name\":\"small\""));
        assertFalse(Files.exists(dir.resolve("train/big.jsonl.tmp")));
        assertTrue(Files.readString(dir.resolve("minipile.json")).contains("\"heldout_every\" : 5"));

        // the tokenizer trained on equal shares, then data build samples the two subsets equally
        Path tok = dir.resolve("tok.json");
        BpeTrainer.fit(docs.get("big"), new BpeTrainer.Options(300)).save(tok);
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(out, true));
            code = Main.run(new String[]{"data", "build", "--corpus", dir.resolve("train").toString(), "--tokenizer", tok.toString(),
                    "--seq", "16", "--probe", "20", "--sampling", "10", "--out", dir.resolve("sets").toString()});
        } finally {
            System.setOut(old);
        }
        assertEquals(0, code, out.toString());
        List<String> subs = SetBuilder.subsetsOf(dir.resolve("sets/probe.npy"));
        assertEquals(20, subs.size());
        assertEquals(10, subs.stream().filter("big"::equals).count());
        assertEquals(10, subs.stream().filter("small"::equals).count());
    }

    @Test
    void readFindsEverySourceUnderTheFetchLayout(@TempDir Path src) throws Exception {
        Files.writeString(src.resolve("bible.txt"), BIBLE);
        Files.createDirectories(src.resolve("brown"));
        Files.writeString(src.resolve("brown/ca01"), "\tThe/at end/nn ./.\n");
        Files.writeString(src.resolve("brown/README"), "not a corpus file");
        Files.createDirectories(src.resolve("gcide"));
        byte[] dict = "Apple\n   A fruit.\n".getBytes(StandardCharsets.UTF_8);
        try (GZIPOutputStream gz = new GZIPOutputStream(Files.newOutputStream(src.resolve("gcide/gcide.dict.dz")))) {
            gz.write(dict);
        }
        Files.writeString(src.resolve("gcide/gcide.index"), "apple\tA\t" + b64(dict.length) + "\n");
        Files.createDirectories(src.resolve("fortunes"));
        Files.writeString(src.resolve("fortunes/computers"), "A fortune.\n%\n");
        Files.writeString(src.resolve("fortunes/computers.dat"), "binary index");
        Files.createDirectories(src.resolve("pydocs/library"));
        Files.writeString(src.resolve("pydocs/library/os.rst.txt"), ":mod:`os`\n=========\n");
        Map<String, List<String>> docs = MiniPile.read(MiniPile.Sources.under(src));
        assertEquals(MiniPile.SUBSETS, List.copyOf(docs.keySet()));
        assertEquals(List.of("The end."), docs.get("brown"));
        assertEquals(List.of("Apple\nA fruit."), docs.get("dictionary"));
        assertEquals(List.of("A fortune."), docs.get("fortunes"));
        assertEquals(1, docs.get("pydocs").size());
        Files.delete(src.resolve("fortunes/computers"));
        SpectroException e = assertThrows(SpectroException.class, () -> MiniPile.read(MiniPile.Sources.under(src)));
        assertTrue(e.getMessage().contains("fortunes"), e.getMessage());
    }
}
