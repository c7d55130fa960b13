package io.spectro.tokenizer;

import io.spectro.SpectroException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Malformed tokenizer.json files are rejected with the file name and the problem. */
class TokenizerFileTest {
    static final String GOOD_TAIL = "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false},\"decoder\":{\"type\":\"ByteLevel\"}";

    static void rejects(Path dir, String name, String json, String expectedPart) throws Exception {
        Path f = dir.resolve(name);
        Files.writeString(f, json);
        SpectroException e = assertThrows(SpectroException.class, () -> Tokenizer.load(f));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(expectedPart), () -> "expected '" + expectedPart + "' in: " + e.getMessage());
    }

    @Test
    void malformedFilesAreRejected(@TempDir Path dir) throws Exception {
        rejects(dir, "empty.json", "", "empty");
        rejects(dir, "trunc.json", "{\"model\": {\"vocab\": {\"a\": 0", "not valid JSON");
        rejects(dir, "array.json", "[1,2]", "not a JSON object");
        rejects(dir, "nomodel.json", "{" + GOOD_TAIL + "}", "no \"model\"");
        rejects(dir, "wordpiece.json", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}," + GOOD_TAIL + "}", "WordPiece");
        rejects(dir, "badid.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[]}," + GOOD_TAIL + "}", "\"a\"");
        rejects(dir, "nomerges.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}," + GOOD_TAIL + "}", "merges");
        rejects(dir, "badmerge.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}," + GOOD_TAIL + "}", "merge 0");
        rejects(dir, "mergefmt.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"ab\"]}," + GOOD_TAIL + "}", "merges[0]");
        rejects(dir, "pretok.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}", "pre_tokenizer");
        rejects(dir, "norm.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"BertNormalizer\"}," + GOOD_TAIL + "}", "BertNormalizer");
        rejects(dir, "added.json", "{\"added_tokens\":[{\"content\":\"x\"}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}," + GOOD_TAIL + "}", "added_tokens[0]");
        SpectroException e = assertThrows(SpectroException.class, () -> Tokenizer.load(dir.resolve("missing.json")));
        assertTrue(e.getMessage().contains("missing.json") && e.getMessage().contains("not found"));
    }

    @Test
    void minimalFileWithMergeListsAndPrefixSpace(@TempDir Path dir) throws Exception {
        // merges in the newer [["a","b"]] form; add_prefix_space true
        StringBuilder vocab = new StringBuilder();
        for (int b = 0; b < 256; b++) {
            String c = String.valueOf(ByteLevel.BYTE_TO_CHAR[b]);
            if (c.equals("\"") || c.equals("\\")) c = "\\" + c;
            vocab.append('"').append(c).append("\":").append(b).append(',');
        }
        vocab.append("\"Ġa\":256,\"Ġab\":257");
        String json = "{\"model\":{\"type\":\"BPE\",\"vocab\":{" + vocab + "},\"merges\":[[\"Ġ\",\"a\"],[\"Ġa\",\"b\"]]},"
                + "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true},\"decoder\":{\"type\":\"ByteLevel\"}}";
        Path f = dir.resolve("t.json");
        Files.writeString(f, json);
        Tokenizer t = Tokenizer.load(f);
        assertArrayEquals(new int[]{257, 257}, t.encode("ab ab"));
        assertEquals(" ab ab", t.decode(t.encode("ab ab")));
    }
}
