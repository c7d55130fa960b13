package io.spectro.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.spectro.SpectroException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class BpeTrainerTest {
    static List<String> corpus() {
        String[] words = {"the", "cat", "sat", "on", "mat", "dog", "ran", "running", "spectro", "token", "tokens",
                "über", "naïve", "日本語", "東京", "😀", "🎉", "don't", "it's", "42", "3.14", "x", "\t", "    ",
                "e\u0301", "hello", "world", "HELLO", "<|endoftext|>"};
        SplittableRandom r = new SplittableRandom(5);
        List<String> docs = new ArrayList<>();
        for (int d = 0; d < 200; d++) {
            StringBuilder b = new StringBuilder();
            int n = r.nextInt(5, 60);
            for (int i = 0; i < n; i++) {
                b.append(words[Math.min(words.length - 1, (int) Math.abs(r.nextGaussian() * 8))]);
                b.append(r.nextInt(10) == 0 ? "\n" : r.nextInt(20) == 0 ? "  " : " ");
            }
            docs.add(b.toString());
        }
        return docs;
    }

    static final String[] PROBES = {"the cat sat on the mat", "running tokens über naïve", "日本語 東京 😀🎉",
            "unseen words: quixotic zephyr ÆØÅ", "don't  stop\n\n  it's 42", "a<|endoftext|>b", "", " ", "e\u0301t\u00e9",
            "tab\there    four spaces", "ǅ ǆ ﬁ"};

    @Test
    void trainedTokenizerLoadsInHfAndAgrees(@TempDir Path dir) throws Exception {
        Tokenizer t = BpeTrainer.fit(corpus(), new BpeTrainer.Options(330));
        assertEquals(330, t.vocabSize());
        assertEquals(0, t.id("<|endoftext|>").orElseThrow());
        Path file = dir.resolve("tokenizer.json");
        t.save(file);
        Tokenizer back = Tokenizer.load(file);
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(file, Map.of())) {
            List<String> texts = new ArrayList<>(List.of(PROBES));
            texts.addAll(corpus().subList(0, 50));
            for (String s : texts) {
                int[] ids = t.encode(s);
                long[] expect = hf.encode(s, false, false).getIds();
                assertArrayEquals(expect, Arrays.stream(ids).asLongStream().toArray(), () -> "encode " + s);
                assertArrayEquals(ids, back.encode(s));
                assertEquals(Normalizer.normalize(s, Normalizer.Form.NFC), t.decode(ids));
                assertEquals(hf.decode(expect, false), t.decode(ids));
            }
        }
        // compression: frequent words became single tokens
        assertEquals(1, t.encode(" the").length);
        assertTrue(t.encode("the cat sat on the mat").length < "the cat sat on the mat".length() / 2);
    }

    @Test
    void trainingIsDeterministicAndRespectsMinFrequency(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.json"), b = dir.resolve("b.json");
        BpeTrainer.fit(corpus(), new BpeTrainer.Options(350)).save(a);
        BpeTrainer.fit(corpus(), new BpeTrainer.Options(350)).save(b);
        assertEquals(Files.readString(a), Files.readString(b));
        // the corpus runs out of pairs seen twice before 5000 entries: training stops there
        int v = BpeTrainer.fit(corpus(), new BpeTrainer.Options(5000)).vocabSize();
        assertTrue(v > 300 && v < 5000, "vocab " + v);
        assertTrue(BpeTrainer.fit(corpus(), new BpeTrainer.Options(5000, 1, List.of("<|endoftext|>"))).vocabSize() > v);
        // a huge minimum frequency stops early: only special + byte tokens
        Tokenizer t = BpeTrainer.fit(corpus(), new BpeTrainer.Options(1000, 1_000_000, List.of("<|endoftext|>", "<|pad|>")));
        assertEquals(258, t.vocabSize());
        assertEquals(1, t.id("<|pad|>").orElseThrow());
        assertEquals(3, t.encode("the").length);
    }

    @Test
    void optionsValidate() {
        assertThrows(SpectroException.class, () -> new BpeTrainer.Options(100));
        assertThrows(SpectroException.class, () -> new BpeTrainer.Options(300, 0, List.of()));
        assertThrows(SpectroException.class, () -> new BpeTrainer.Options(300, 1, List.of("a", "a")));
    }
}
