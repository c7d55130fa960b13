package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.io.Npy;
import io.spectro.tokenizer.Tokenizer;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads a probe or sampling set: an int32 .npy [B, T] as it is, or a text (.txt) / jsonl (.jsonl,
 * field "text") file tokenised with the model's tokenizer, each document cut into consecutive
 * sequences of T tokens (a document's remainder shorter than T is dropped).
 */
public final class TokenSets {
    private TokenSets() {}

    public record Set(int[] tokens, int rows, int T) {}

    public static Set load(Path file, Tokenizer tok, int T, int maxRows) {
        if (!Files.isRegularFile(file)) throw new SpectroException(file + ": no such file");
        String name = file.getFileName().toString();
        Set s;
        if (name.endsWith(".npy")) {
            Npy.Ints a = Npy.readInts(file);
            if (a.shape().length != 2) throw new SpectroException(file + ": expected int32 [B, T], got rank " + a.shape().length);
            if (a.dim(0) < 1 || a.dim(1) < 2) throw new SpectroException(file + ": needs at least one sequence of at least 2 tokens, shape is [" + a.dim(0) + ", " + a.dim(1) + "]");
            s = new Set(a.data(), a.dim(0), a.dim(1));
        } else {
            if (tok == null) throw new SpectroException(file + ": a text input needs the model's tokenizer.json, which the model directory lacks");
            if (T < 2) throw new SpectroException("--seq must be >= 2, got " + T);
            List<String> docs = documents(file, name.endsWith(".jsonl"));
            List<int[]> rows = new ArrayList<>();
            for (String d : docs) {
                int[] ids = tok.encode(d);
                for (int i = 0; i + T <= ids.length; i += T) rows.add(java.util.Arrays.copyOfRange(ids, i, i + T));
            }
            if (rows.isEmpty()) throw new SpectroException(file + ": no document has " + T + " tokens (lower --seq?)");
            int[] flat = new int[rows.size() * T];
            for (int r = 0; r < rows.size(); r++) System.arraycopy(rows.get(r), 0, flat, r * T, T);
            s = new Set(flat, rows.size(), T);
        }
        if (maxRows > 0 && s.rows() > maxRows) s = new Set(java.util.Arrays.copyOf(s.tokens(), maxRows * s.T()), maxRows, s.T());
        return s;
    }

    private static List<String> documents(Path file, boolean jsonl) {
        try {
            if (!jsonl) return List.of(Files.readString(file));
            ObjectMapper om = new ObjectMapper();
            List<String> out = new ArrayList<>();
            List<String> lines = Files.readAllLines(file);
            for (int i = 0; i < lines.size(); i++) {
                if (lines.get(i).isBlank()) continue;
                JsonNode n;
                try {
                    n = om.readTree(lines.get(i));
                } catch (RuntimeException e) {
                    throw new SpectroException(file + ":" + (i + 1) + ": not valid JSON");
                }
                if (n.get("text") == null || !n.get("text").isString()) throw new SpectroException(file + ":" + (i + 1) + ": no string field \"text\"");
                out.add(n.get("text").asString());
            }
            return out;
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }
}
