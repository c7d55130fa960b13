package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.io.Npy;
import io.spectro.io.TokenArrow;
import io.spectro.tokenizer.Tokenizer;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes a predicted run's files from its finished chunks, streamed chunk by chunk (the heap holds one chunk):
 * {@code components.json}, {@code contexts.jsonl}, {@code tokens.csv}, {@code tokens.arrow} (one record batch per
 * chunk), {@code subsets.json} (when drawn from corpora), {@code predicted.npy} (uint8, 1 per row) and
 * {@code chi.npy} last; every file through a temporary and a rename, then the chunk files are removed.
 */
final class PredictedRun {
    private static final JsonMapper JSON = JsonMapper.shared();

    private PredictedRun() {}

    static void assemble(Path out, Apply.Sequences seqs, int nSeq, int T, List<String> columns, int chunkSeq, Tokenizer tok) {
        int h = columns.size();
        long rows = (long) nSeq * (T - 1);
        int[] tokens = seqs.tokens();
        try (Atomic.Group g = new Atomic.Group();
             Npy.Writer chi = Npy.Writer.create(out.resolve("chi.npy"), "<f4", rows, h);
             Npy.Writer flag = Npy.Writer.create(out.resolve("predicted.npy"), "|u1", rows)) {
            g.writeString(out.resolve("components.json"), JSON.writeValueAsString(columns));
            if (seqs.subsets() != null) g.writeString(out.resolve("subsets.json"), JSON.writeValueAsString(seqs.subsets()));
            try (BufferedWriter csv = Files.newBufferedWriter(g.temp(out.resolve("tokens.csv")));
                 BufferedWriter ctx = Files.newBufferedWriter(g.temp(out.resolve("contexts.jsonl")));
                 TokenArrow.Writer arrow = new TokenArrow.Writer(g.temp(out.resolve("tokens.arrow")))) {
                csv.write("row,seq,pos,token_id,token\n");
                byte[] ones = new byte[chunkSeq * (T - 1)];
                java.util.Arrays.fill(ones, (byte) 1);
                for (int c = 0, s0 = 0; s0 < nSeq; c++, s0 += chunkSeq) {
                    int s1 = Math.min(nSeq, s0 + chunkSeq), n = (s1 - s0) * (T - 1);
                    Path cf = Apply.chunkFile(out, c);
                    Npy.Floats f = Npy.readFloats(cf);
                    if (f.shape().length != 2 || f.dim(0) != n || f.dim(1) != h)
                        throw new SpectroException(cf + ": shape " + java.util.Arrays.toString(f.shape()) + ", expected " + n + "x" + h
                                + "; delete it to recompute the chunk");
                    long r0 = (long) s0 * (T - 1);
                    chi.put(r0 * h, f.data(), 0, f.data().length);
                    flag.put(r0, ByteBuffer.wrap(ones, 0, n));
                    int[] row = new int[n], seq = new int[n], pos = new int[n], id = new int[n];
                    String[] text = new String[n];
                    int i = 0;
                    for (int b = s0; b < s1; b++) {
                        int[] ids = java.util.Arrays.copyOfRange(tokens, b * T, (b + 1) * T);
                        String[] shown = tok == null ? hashIds(ids) : tok.displayTokens(ids);
                        ArrayNode ta = JSON.createArrayNode();
                        for (String s : shown) ta.add(s);
                        ObjectNode line = JSON.createObjectNode();
                        line.put("seq", b);
                        line.set("tokens", ta);
                        ctx.write(JSON.writeValueAsString(line));
                        ctx.write('\n');
                        for (int t = 0; t < T - 1; t++, i++) {
                            long r = (long) b * (T - 1) + t;
                            csv.write(r + "," + b + "," + (t + 1) + "," + ids[t + 1] + "," + io.spectro.chi.RunOutputs.csvQuote(shown[t + 1]) + "\n");
                            row[i] = (int) r;
                            seq[i] = b;
                            pos[i] = t + 1;
                            id[i] = ids[t + 1];
                            text[i] = shown[t + 1];
                        }
                    }
                    arrow.write(new TokenArrow.Batch(n, row, seq, pos, id, text));
                }
                arrow.finish();
            }
            g.commit();
            flag.commit();
            chi.commit(); // last: its presence marks the run complete
        } catch (IOException e) {
            throw new SpectroException(out + ": cannot write the predicted run (" + IoErrors.describe(e) + ")", e);
        }
        Apply.deleteState(out);
    }

    private static String[] hashIds(int[] ids) {
        String[] s = new String[ids.length];
        for (int i = 0; i < ids.length; i++) s[i] = "#" + ids[i];
        return s;
    }
}
