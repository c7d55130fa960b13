package io.spectro.structure;

import io.spectro.io.IoErrors;
import io.spectro.io.TokenArrow;
import io.spectro.SpectroException;
import io.spectro.chi.PredictedRows;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The per-row token table of a run: {@code tokens.csv} (header {@code row,seq,pos,token_id,token},
 * RFC 4180 quoting) and {@code contexts.jsonl} (one {@code {"seq": b, "tokens": [...]}} per line).
 * Both are optional: {@link #read} returns a table without text when the CSV is absent, and one
 * without contexts when the JSONL is absent.
 */
public final class TokenTable {
    private final int rows;
    private final int[] seq, pos, tokenId;
    private final String[] token;
    private final Map<Integer, String[]> contexts;
    private String[] subsets;   // subset of each probe sequence, or null
    private PredictedRows predicted; // which rows an auxiliary model predicted (all ground truth when unknown)

    private TokenTable(int rows, int[] seq, int[] pos, int[] tokenId, String[] token, Map<Integer, String[]> contexts) {
        this.rows = rows;
        this.seq = seq;
        this.pos = pos;
        this.tokenId = tokenId;
        this.token = token;
        this.contexts = contexts;
        this.predicted = PredictedRows.none(rows);
    }

    /** Which rows are predicted (RUN/predicted.npy; all ground truth for a run without it). */
    public PredictedRows predicted() { return predicted; }

    /** Whether row r was predicted by an auxiliary model rather than estimated (ground truth). */
    public boolean isPredicted(int r) { return predicted.isPredicted(r); }

    /** A table that knows nothing but the row count (cards then show row numbers only). */
    public static TokenTable empty(int rows) {
        return new TokenTable(rows, null, null, null, null, Map.of());
    }

    public int rows() { return rows; }

    public boolean hasTokens() { return token != null; }

    public boolean hasContexts() { return !contexts.isEmpty(); }

    /** The display text of row r's token y, or "#id" / "row r" when unknown. */
    public String token(int r) {
        if (token == null) return "row " + r;
        return token[r];
    }

    public int tokenId(int r) { return tokenId == null ? -1 : tokenId[r]; }

    public int seq(int r) { return seq == null ? -1 : seq[r]; }

    public int pos(int r) { return pos == null ? -1 : pos[r]; }

    /** Whether the subset (corpus part) of each row's sequence is known ({@code subsets.json}). */
    public boolean hasSubsets() { return subsets != null && seq != null; }

    /** The subset of row r's sequence, or null when unknown. */
    public String subset(int r) {
        if (!hasSubsets() || seq[r] < 0 || seq[r] >= subsets.length) return null;
        return subsets[seq[r]];
    }

    /** The display tokens of row r's sequence, or null. */
    public String[] context(int r) {
        if (seq == null) return null;
        return contexts.get(seq[r]);
    }

    /**
     * Reads dir/tokens.csv (or, without it, dir/tokens.arrow), dir/contexts.jsonl and dir/predicted.npy when
     * present; checks the table covers exactly {@code rows} rows.
     */
    public static TokenTable read(Path dir, int rows) {
        TokenTable t = readTokens(dir, rows);
        t.predicted = PredictedRows.read(dir, rows);
        return t;
    }

    private static TokenTable readTokens(Path dir, int rows) {
        Path csv = dir.resolve("tokens.csv");
        if (!Files.isRegularFile(csv)) {
            if (!Files.isRegularFile(dir.resolve("tokens.arrow"))) return empty(rows);
            TokenTable t = readArrow(dir.resolve("tokens.arrow"), rows, readContexts(dir.resolve("contexts.jsonl")));
            t.subsets = readSubsets(dir.resolve("subsets.json"));
            return t;
        }
        int[] seq = new int[rows], pos = new int[rows], id = new int[rows];
        String[] tok = new String[rows];
        boolean[] seen = new boolean[rows];
        List<String[]> records = Csv.parse(csv);
        if (records.isEmpty()) throw new SpectroException(csv + ": empty file, expected header row,seq,pos,token_id,token");
        String[] h = records.get(0);
        if (h.length < 5 || !h[0].strip().equals("row") || !h[1].strip().equals("seq") || !h[2].strip().equals("pos")
                || !h[3].strip().equals("token_id") || !h[4].strip().equals("token"))
            throw new SpectroException(csv + ": header must be row,seq,pos,token_id,token, got " + String.join(",", h));
        for (int line = 1; line < records.size(); line++) {
            String[] f = records.get(line);
            if (f.length == 1 && f[0].isEmpty()) continue;
            if (f.length != 5)
                throw new SpectroException(csv + ": record " + line + " has " + f.length + " fields, expected 5");
            int r;
            try {
                r = Integer.parseInt(f[0].strip());
                if (r < 0 || r >= rows)
                    throw new SpectroException(csv + ": record " + line + " names row " + r + ", but the run has " + rows + " rows");
                seq[r] = Integer.parseInt(f[1].strip());
                pos[r] = Integer.parseInt(f[2].strip());
                id[r] = Integer.parseInt(f[3].strip());
            } catch (NumberFormatException e) {
                throw new SpectroException(csv + ": record " + line + ": row, seq, pos and token_id must be integers (" + e.getMessage() + ")");
            }
            if (seen[r]) throw new SpectroException(csv + ": row " + r + " appears twice (record " + line + ")");
            seen[r] = true;
            tok[r] = f[4];
        }
        for (int r = 0; r < rows; r++)
            if (!seen[r]) throw new SpectroException(csv + ": row " + r + " is missing (the run has " + rows + " rows)");
        TokenTable t = new TokenTable(rows, seq, pos, id, tok, readContexts(dir.resolve("contexts.jsonl")));
        t.subsets = readSubsets(dir.resolve("subsets.json"));
        return t;
    }

    /** The token table of a run that has tokens.arrow (checked to cover rows 0 .. rows-1 exactly once). */
    static TokenTable readArrow(Path file, int rows, Map<Integer, String[]> contexts) {
        int[] seq = new int[rows], pos = new int[rows], id = new int[rows];
        String[] tok = new String[rows];
        boolean[] seen = new boolean[rows];
        TokenArrow.forEach(file, b -> {
            for (int i = 0; i < b.n(); i++) {
                int r = b.row()[i];
                if (r < 0 || r >= rows) throw new SpectroException(file + ": names row " + r + ", but the run has " + rows + " rows");
                if (seen[r]) throw new SpectroException(file + ": row " + r + " appears twice");
                seen[r] = true;
                seq[r] = b.seq()[i];
                pos[r] = b.pos()[i];
                id[r] = b.tokenId()[i];
                tok[r] = b.token()[i];
            }
        });
        for (int r = 0; r < rows; r++)
            if (!seen[r]) throw new SpectroException(file + ": row " + r + " is missing (the run has " + rows + " rows)");
        return new TokenTable(rows, seq, pos, id, tok, contexts);
    }

    /** {@code subsets.json}: a JSON array with the subset name of each probe sequence; null when absent. */
    static String[] readSubsets(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try {
            JsonNode n = JsonMapper.shared().readTree(file.toFile());
            if (n == null || !n.isArray()) throw new SpectroException(file + ": expected a JSON array of subset names");
            String[] out = new String[n.size()];
            for (int i = 0; i < out.length; i++) {
                if (!n.get(i).isString()) throw new SpectroException(file + ": entry " + i + " is not a string");
                out[i] = n.get(i).asString();
            }
            return out;
        } catch (JacksonException e) {
            throw new SpectroException(file + ": not JSON (" + e.getOriginalMessage() + ")");
        }
    }

    static Map<Integer, String[]> readContexts(Path file) {
        Map<Integer, String[]> out = new HashMap<>();
        if (!Files.isRegularFile(file)) return out;
        JsonMapper json = JsonMapper.shared();
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int no = 0;
            while ((line = in.readLine()) != null) {
                no++;
                if (line.isBlank()) continue;
                JsonNode node;
                try {
                    node = json.readTree(line);
                } catch (JacksonException e) {
                    throw new SpectroException(file + ": line " + no + " is not JSON (" + e.getOriginalMessage() + ")");
                }
                JsonNode s = node.get("seq"), t = node.get("tokens");
                if (s == null || !s.isIntegralNumber() || t == null || !t.isArray())
                    throw new SpectroException(file + ": line " + no + " needs {\"seq\": int, \"tokens\": [strings]}");
                String[] toks = new String[t.size()];
                for (int i = 0; i < toks.length; i++) toks[i] = t.get(i).asString();
                out.put(s.asInt(), toks);
            }
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read (" + IoErrors.describe(e) + ")", e);
        }
        return out;
    }

    /** A small RFC 4180 reader (quoted fields may hold commas, quotes and newlines). */
    static final class Csv {
        private Csv() {}

        static List<String[]> parse(Path file) {
            String text;
            try {
                text = Files.readString(file, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new SpectroException(file + ": cannot read (" + IoErrors.describe(e) + ")", e);
            }
            List<String[]> out = new ArrayList<>();
            List<String> rec = new ArrayList<>();
            StringBuilder f = new StringBuilder();
            int i = 0, n = text.length();
            boolean quoted = false, any = false;
            while (i < n) {
                char c = text.charAt(i);
                if (quoted) {
                    if (c == '"') {
                        if (i + 1 < n && text.charAt(i + 1) == '"') {
                            f.append('"');
                            i += 2;
                            continue;
                        }
                        quoted = false;
                    } else f.append(c);
                    i++;
                    continue;
                }
                if (c == '"' && f.isEmpty()) {
                    quoted = true;
                    any = true;
                } else if (c == ',') {
                    rec.add(f.toString());
                    f.setLength(0);
                    any = true;
                } else if (c == '\n' || c == '\r') {
                    if (c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n') i++;
                    rec.add(f.toString());
                    f.setLength(0);
                    out.add(rec.toArray(String[]::new));
                    rec.clear();
                    any = false;
                } else {
                    f.append(c);
                    any = true;
                }
                i++;
            }
            if (quoted) throw new SpectroException(file + ": unterminated quoted field at the end of the file");
            if (any || !f.isEmpty() || !rec.isEmpty()) {
                rec.add(f.toString());
                out.add(rec.toArray(String[]::new));
            }
            return out;
        }

        static String quote(String s) {
            if (s.indexOf(',') < 0 && s.indexOf('"') < 0 && s.indexOf('\n') < 0 && s.indexOf('\r') < 0 && !s.isEmpty()
                    && !s.startsWith(" ") && !s.endsWith(" "))
                return s;
            return "\"" + s.replace("\"", "\"\"") + "\"";
        }
    }
}
