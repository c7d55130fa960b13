package io.spectro.data;

import io.spectro.SpectroException;
import io.spectro.data.CorpusOptions;
import io.spectro.data.TextReaders;
import io.spectro.io.Npy;
import io.spectro.tokenizer.Tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads a probe or sampling set: an int32 .npy [B, T] as it is, or a text / jsonl / jsonl.zst file
 * (read by {@link TextReaders} with the default {@link CorpusOptions}) tokenised with the model's
 * tokenizer, each document cut into consecutive
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
            int[] flat = rows(documents(file), tok, T, Integer.MAX_VALUE);
            if (flat.length == 0) throw new SpectroException(file + ": no document has " + T + " tokens (lower --seq?)");
            s = new Set(flat, flat.length / T, T);
        }
        if (maxRows > 0 && s.rows() > maxRows) s = new Set(java.util.Arrays.copyOf(s.tokens(), maxRows * s.T()), maxRows, s.T());
        return s;
    }

    /**
     * Every document tokenised and cut into consecutive rows of T tokens (a document's remainder
     * dropped), at most {@code maxRows} rows; row-major [rows, T].
     */
    public static int[] rows(Iterable<String> docs, Tokenizer tok, int T, int maxRows) {
        List<int[]> rows = new ArrayList<>();
        for (String d : docs) {
            if (rows.size() >= maxRows) break;
            int[] ids = tok.encode(d);
            for (int i = 0; i + T <= ids.length && rows.size() < maxRows; i += T) rows.add(java.util.Arrays.copyOfRange(ids, i, i + T));
        }
        int[] flat = new int[rows.size() * T];
        for (int r = 0; r < rows.size(); r++) System.arraycopy(rows.get(r), 0, flat, r * T, T);
        return flat;
    }

    private static List<String> documents(Path file) {
        List<String> out = new ArrayList<>();
        String name = file.getFileName().toString();
        CorpusOptions o = CorpusOptions.defaults();
        if (name.endsWith(".jsonl") || name.endsWith(".jsonl.zst")) TextReaders.readJsonl(file, "", o, d -> out.add(d.text()));
        else TextReaders.readText(file, "", o, d -> out.add(d.text()));
        return out;
    }
}
