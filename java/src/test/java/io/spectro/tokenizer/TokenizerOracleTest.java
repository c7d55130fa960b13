package io.spectro.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Exactness of Tokenizer against the Hugging Face tokenizers library (through DJL) on the real file. */
class TokenizerOracleTest {
    static Tokenizer ours;
    static HuggingFaceTokenizer hf;

    @BeforeAll
    static void load() throws Exception {
        var file = TestFiles.neoxTokenizer();
        assumeTrue(file.isPresent(), "gpt-neox-20b-tokenizer.json not found beside the repository");
        ours = Tokenizer.load(file.get());
        hf = HuggingFaceTokenizer.newInstance(file.get(), Map.of("addSpecialTokens", "false", "truncation", "false"));
    }

    @AfterAll
    static void close() {
        if (hf != null) hf.close();
    }

    static int[] hfEncode(String s) {
        return Arrays.stream(hf.encode(s, false, false).getIds()).mapToInt(x -> (int) x).toArray();
    }

    static void check(String s) {
        int[] expect = hfEncode(s);
        int[] got = ours.encode(s);
        if (!Arrays.equals(expect, got))
            fail("encode(" + escape(s) + ")\n  hf:   " + Arrays.toString(expect) + "\n  ours: " + Arrays.toString(got));
        long[] ids = Arrays.stream(got).asLongStream().toArray();
        assertEquals(hf.decode(ids, false), ours.decode(got), () -> "decode of " + escape(s));
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.codePoints().limit(300).forEach(c -> {
            if (c >= 0x20 && c < 0x7f) b.appendCodePoint(c);
            else b.append(String.format("\\u{%x}", c));
        });
        return b.append('"').toString();
    }

    static final String[] CASES = {
            "", " ", "  ", "   ", "a", "Hello, world!", " Hello", "Hello  world", "Hello   world",
            "x" + " ".repeat(25) + "y", " ".repeat(24), " ".repeat(49), "\n", "\n\n", "\n\n\n  \n", "\t", "\t\tx\t",
            "line1\nline2\r\nline3\r", "trailing spaces   ", "   leading", "a \n b", "a  \n  b",
            "I'm sure it's what we'll do, they'd say 'twas I've you're", "DON'T SHOUT IT'S", "'s 't 're",
            "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", " <|endoftext|> ", "<|endoftext|", "<|unk|>x",
            "text<|endoftext|>  more", "日本語のテキストです。", "中文测试，标点符号！", "한국어 텍스트", "emoji 😀🎉👍🏽 family 👨‍👩‍👧",
            "e\u0301 combining: cafe\u0301 n\u0303 A\u030a", "already composed: café Å", "\u1e9b\u0323",
            "Ω ohm \u2126 angstrom \u212b", "ﬁ ligature ① ²", "numbers 12345 3.14159 1,000,000 ١٢٣ ٤٥", "x²+y³",
            "nbsp\u00a0here", "nel\u0085here", "ls\u2028ps\u2029", "ideographic\u3000space", "fs\u001cgs\u001d", "zw\u200bsp\u200d",
            "tab\tsep\tvalues\n1\t2\t3", "def f(x):\n    return x  # comment\n\tpass\n", "    indented code",
            "http://example.com/path?q=1&r=2#frag", "mixed123abc456", "$$$ %%% ^^^", "!!!???...", "--- *** ___",
            "Ünïcödé Ørsted ß straße", "Здравствуй, мир", "Γειά σου Κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
            "🏳️‍🌈 flags 🇩🇪🇫🇷", "\ud83d\ude00\ud83d\ude00", "a\u0000b", "\u007f\u0080\u009f", "\ufeffbom", "\ufffd replacement",
            "  <|endoftext|>  ", "<|endoftext|>\n\n", "The quick brown fox jumps over the lazy dog. " .repeat(3),
    };

    @Test
    void fixedCasesMatchHf() {
        for (String s : CASES) check(s);
    }

    @Test
    void randomStringsMatchHf() {
        String[] atoms = {" ", " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", "a", "the", "The", " of", "ing", "'s", "'ll", "'",
                "0", "42", "3.5", "日本", "語", "😀", "👍🏽", "e\u0301", "\u0301", "é", "ß", "Ω", "\u00a0", "\u3000", "\u2028", "\u0085",
                "<|endoftext|>", "<|", "|>", ".", ",", "!?", "(", ")", "{", "}", "\"", "-", "_", "#", "ﬁ", "①", "١", "x", "Z",
                "\u001c", "\u200b", "\u0000"}; // no lone surrogates: DJL passes them through JNI differently
        SplittableRandom rnd = new SplittableRandom(12345);
        for (int i = 0; i < 3000; i++) {
            int len = rnd.nextInt(1, 30);
            StringBuilder b = new StringBuilder();
            for (int k = 0; k < len; k++) b.append(atoms[rnd.nextInt(atoms.length)]);
            check(b.toString());
        }
    }

    @Test
    void randomCodePointsMatchHf() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < 1500; i++) {
            StringBuilder b = new StringBuilder();
            int len = rnd.nextInt(1, 20);
            for (int k = 0; k < len; k++) {
                int cp;
                do {
                    int range = rnd.nextInt(4);
                    cp = switch (range) {
                        case 0 -> rnd.nextInt(0x20, 0x250);
                        case 1 -> rnd.nextInt(0x250, 0x3400);
                        case 2 -> rnd.nextInt(0x3400, 0xfffe);
                        default -> rnd.nextInt(0x10000, 0x20000);
                    };
                } while (Character.getType(cp) == Character.UNASSIGNED || Character.getType(cp) == Character.SURROGATE
                        || Character.getType(cp) == Character.PRIVATE_USE);
                b.appendCodePoint(cp);
                if (rnd.nextInt(5) == 0) b.append(rnd.nextBoolean() ? ' ' : '\n');
            }
            check(b.toString());
        }
    }

    @Test
    void longTextMatchesHf() {
        StringBuilder b = new StringBuilder();
        SplittableRandom rnd = new SplittableRandom(99);
        for (int i = 0; i < 4000; i++) {
            b.append(CASES[rnd.nextInt(CASES.length)]);
            b.append(rnd.nextInt(4) == 0 ? "\n\n" : " ");
        }
        check(b.toString());
    }

    @Test
    void decodeOfArbitraryIdsMatchesHf() {
        // single tokens and random sequences, including tokens that are partial UTF-8 characters
        for (int id = 0; id < ours.vocabSize(); id += 7) {
            assertEquals(hf.decode(new long[]{id}, false), ours.decode(new int[]{id}), "token " + id);
        }
        SplittableRandom rnd = new SplittableRandom(3);
        for (int i = 0; i < 2000; i++) {
            int[] ids = rnd.ints(rnd.nextInt(1, 12), 0, ours.vocabSize()).toArray();
            if (rnd.nextBoolean()) for (int k = 0; k < ids.length; k++) ids[k] = 188 + rnd.nextInt(68); // byte tokens
            long[] l = Arrays.stream(ids).asLongStream().toArray();
            assertEquals(hf.decode(l, false), ours.decode(ids), () -> "decode " + Arrays.toString(ids));
        }
    }

    @Test
    void vocabularyAndLookups() {
        assertEquals(50277, ours.vocabSize());
        assertEquals(0, ours.id("<|endoftext|>").orElseThrow());
        assertEquals(ours.encode(" the")[0], ours.id("Ġthe").orElseThrow());
        assertEquals(" the", ours.token(ours.id("Ġthe").orElseThrow()));
        assertTrue(ours.id("not-a-token-xyz").isEmpty());
        assertEquals("<|id:50300|>", ours.token(50300));
        assertEquals("\ufffd", ours.token(ours.id("\u00e6").orElseThrow()).substring(0, 1)); // lone lead byte
        List<String> added = new ArrayList<>();
        for (int id = 50254; id < 50277; id++) added.add(ours.tokenString(id));
        assertTrue(added.stream().allMatch(s -> s.isBlank() && s.length() >= 2));
        assertTrue(ours.isAddedToken(0) && !ours.isAddedToken(100));
    }
}
