package io.spectro.cli;

import io.spectro.data.Dtype;
import io.spectro.data.MegatronWriter;
import io.spectro.io.Npy;
import io.spectro.tokenizer.BpeTrainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class DataCommandTest {
    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true));
            System.setErr(new PrintStream(err, true));
            int code = Main.run(args);
            return new Run(code, out.toString(), err.toString());
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static Path setup(Path dir) throws Exception {
        List<String> texts = new ArrayList<>();
        StringBuilder jsonl = new StringBuilder();
        SplittableRandom r = new SplittableRandom(2);
        String[] words = {"alpha", "beta", "gamma", "delta", "the", "of", "and", "spectro", "token"};
        for (int i = 0; i < 60; i++) {
            StringBuilder t = new StringBuilder();
            for (int k = 0; k < 150; k++) t.append(words[r.nextInt(words.length)]).append(' ');
            texts.add(t.toString());
            jsonl.append("{\"text\":\"").append(t).append("\",\"meta\":{\"pile_set_name\":\"").append(i % 2 == 0 ? "A" : "B").append("\"}}\n");
        }
        BpeTrainer.fit(texts, new BpeTrainer.Options(300)).save(dir.resolve("tok.json"));
        Files.writeString(dir.resolve("c.jsonl"), jsonl);
        try (MegatronWriter w = new MegatronWriter(dir.resolve("meg"), Dtype.U16)) {
            for (int d = 0; d < 10; d++) w.addDocument(r.ints(200, 0, 300).toArray());
        }
        return dir.resolve("tok.json");
    }

    @Test
    void buildAndInspect(@TempDir Path dir) throws Exception {
        Path tok = setup(dir);
        Path out = dir.resolve("sets");
        Run b = run("data", "build", "--corpus", dir.resolve("c.jsonl").toString(), "M=" + dir.resolve("meg.idx"),
                "--tokenizer", tok.toString(), "--seq", "64", "--probe", "30", "--sampling", "20", "--seed", "9", "--out", out.toString());
        assertEquals(0, b.code(), b.err());
        assertTrue(b.out().contains("probe.npy [30, 64]"), b.out());
        assertArrayEquals(new long[]{30, 64}, Npy.readInts(out.resolve("probe.npy")).shape());
        assertArrayEquals(new long[]{20, 64}, Npy.readInts(out.resolve("sampling.npy")).shape());
        List<String> manifest = Files.readAllLines(out.resolve("probe.jsonl"));
        assertEquals(30, manifest.size());
        assertEquals(10, manifest.stream().filter(l -> l.contains("\"subset\":\"A\"")).count());
        assertEquals(10, manifest.stream().filter(l -> l.contains("\"subset\":\"M\"")).count());

        Run i = run("data", "inspect", dir.resolve("c.jsonl").toString(), "--tokenizer", tok.toString(), "--top", "5");
        assertEquals(0, i.code(), i.err());
        assertTrue(i.out().contains("A ") && i.out().contains("B ") && i.out().contains("total"), i.out());
        assertTrue(i.out().contains("top 5 tokens"), i.out());
        assertTrue(i.out().matches("(?s).*\"( ?)(alpha|beta|gamma|delta|the|of|and|spectro|token) ?\".*"), i.out());
        Run m = run("data", "inspect", dir.resolve("meg").toString());
        assertEquals(0, m.code(), m.err());
        assertTrue(m.out().contains("2000"), m.out());
    }

    @Test
    void badInputExitsWithTwo(@TempDir Path dir) throws Exception {
        Path tok = setup(dir);
        String out = dir.resolve("o").toString();
        Files.writeString(dir.resolve("bad.jsonl"), "{\"text\":\"fine\"}\n{oops}\n");
        Run r = run("data", "build", "--corpus", dir.resolve("bad.jsonl").toString(), "--tokenizer", tok.toString(),
                "--seq", "4", "--probe", "1", "--sampling", "1", "--out", out);
        assertEquals(2, r.code());
        assertTrue(r.err().contains("bad.jsonl: line 2 (byte offset 16)"), r.err());
        assertEquals(2, run("data", "build", "--corpus", dir.resolve("missing.jsonl").toString(), "--seq", "4",
                "--probe", "1", "--sampling", "1", "--out", out).code());
        assertEquals(2, run("data", "build", "--corpus", dir.resolve("c.jsonl").toString(), "--seq", "4",
                "--probe", "1", "--sampling", "1", "--out", out).code());   // no tokenizer
        assertEquals(2, run("data", "build", "--corpus", dir.resolve("c.jsonl").toString(), "--tokenizer", tok.toString(),
                "--seq", "1", "--probe", "1", "--sampling", "1", "--out", out).code());
        assertEquals(2, run("data", "build", "--corpus", dir.resolve("c.jsonl").toString(), "--tokenizer", tok.toString(),
                "--seq", "64", "--probe", "100000", "--sampling", "1", "--out", out).code());
        assertEquals(2, run("data", "build", "--corpus", dir.resolve("c.jsonl").toString()).code());   // missing options
        Files.writeString(dir.resolve("broken.json"), "{\"model\":");
        Run t = run("data", "inspect", dir.resolve("c.jsonl").toString(), "--tokenizer", dir.resolve("broken.json").toString());
        assertEquals(2, t.code());
        assertTrue(t.err().contains("broken.json"), t.err());
        Files.write(dir.resolve("meg.idx"), new byte[]{'M', 'M', 'I'});
        Run m = run("data", "inspect", dir.resolve("meg.idx").toString());
        assertEquals(2, m.code());
        assertTrue(m.err().contains("meg.idx: at byte offset 3"), m.err());
        assertEquals(2, run("data", "inspect", dir.resolve("c.jsonl").toString(), "--tokenizer", tok.toString(), "--text-split", "para").code());
    }
}
