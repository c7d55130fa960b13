package io.spectro.structure;

import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.SpectroException;
import io.spectro.io.Npy;
import io.spectro.io.TokenArrow;
import tools.jackson.databind.json.JsonMapper;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a synthetic estimator run (chi.npy, components.json, tokens.csv and tokens.arrow, contexts.jsonl, plus the
 * planted labels as truth.npy): a Gaussian mixture of unequal cluster sizes in H dimensions, every
 * column rescaled by a random factor (so z-scoring matters), each cluster with its own small
 * vocabulary of y tokens (85%) over shared function words (15%).
 */
public final class SyntheticRun {
    /**
     * @param rows vectors
     * @param components columns H
     * @param clusters planted clusters (sizes decay like 1/(1 + 0.35 c), or uniform in [sizeLo, sizeHi])
     * @param separation standard deviation of the cluster centres per column (noise has 1)
     * @param uniformMode standard deviation of a per-row offset shared by all columns (0 = none)
     * @param hostile put HTML-hostile token texts into cluster 0's vocabulary
     * @param seqLen tokens per probe sequence (rows are positions 1..seqLen-1)
     * @param seed random seed
     * @param sizeLo with sizeHi: cluster sizes drawn uniformly in [sizeLo, sizeHi] (then scaled to sum to rows);
     *               0 = the decaying sizes
     * @param sizeHi upper end of the uniform sizes
     * @param subspace 0: every centre coordinate independent (a flat spectrum when clusters are many and equal);
     *                 k &gt; 0: the centres lie in a random k-dimensional subspace of the H columns, with the same
     *                 variance per column (a spiked spectrum of k directions, as real χ have)
     */
    public record Spec(int rows, int components, int clusters, double separation, double uniformMode, boolean hostile,
                       int seqLen, long seed, int sizeLo, int sizeHi, int subspace) {
        public Spec {
            if (rows < 1 || components < 2 || clusters < 1 || clusters > rows || seqLen < 2 || !(separation >= 0)
                    || !(uniformMode >= 0) || sizeLo < 0 || sizeHi < sizeLo || (sizeLo == 0 && sizeHi != 0)
                    || subspace < 0 || subspace > components)
                throw new SpectroException("bad synthetic run spec: " + rows + " rows, " + components + " components, "
                        + clusters + " clusters, separation " + separation + ", seqLen " + seqLen + ", sizes "
                        + sizeLo + "-" + sizeHi + ", subspace " + subspace);
        }

        public static Spec of(int rows, int components, int clusters, long seed) {
            return new Spec(rows, components, clusters, 1.0, 0, false, 16, seed, 0, 0, 0);
        }

        public Spec withHostile(boolean h) { return new Spec(rows, components, clusters, separation, uniformMode, h, seqLen, seed, sizeLo, sizeHi, subspace); }

        public Spec withSeparation(double s) { return new Spec(rows, components, clusters, s, uniformMode, hostile, seqLen, seed, sizeLo, sizeHi, subspace); }

        public Spec withUniformMode(double u) { return new Spec(rows, components, clusters, separation, u, hostile, seqLen, seed, sizeLo, sizeHi, subspace); }

        public Spec withSizes(int lo, int hi) { return new Spec(rows, components, clusters, separation, uniformMode, hostile, seqLen, seed, lo, hi, subspace); }

        public Spec withSubspace(int k) { return new Spec(rows, components, clusters, separation, uniformMode, hostile, seqLen, seed, sizeLo, sizeHi, k); }

        /**
         * Parses "ROWSxCOLS[:CLUSTERS[:LO-HI[:SEPARATION[:SUBSPACE]]]]": e.g. "1000000x32:10000:60-140:4" is 10,000
         * clusters of 60-140 rows whose centres have standard deviation 4 per column; LO-HI "0-0" keeps the decaying
         * sizes; "10000000x410:10000:400-1600:1:64" puts the centres in a random 64-dimensional subspace.
         */
        public static Spec parse(String s, long seed) {
            try {
                String[] a = s.split(":");
                String[] rc = a[0].toLowerCase().split("x");
                int rows = Integer.parseInt(rc[0].replace("_", "")), cols = Integer.parseInt(rc[1]);
                int cl = a.length > 1 ? Integer.parseInt(a[1]) : Math.max(2, Math.min(400, rows / 500));
                Spec spec = of(rows, cols, cl, seed);
                if (a.length > 2) {
                    String[] lh = a[2].split("-");
                    spec = spec.withSizes(Integer.parseInt(lh[0]), Integer.parseInt(lh[1]));
                }
                if (a.length > 3) spec = spec.withSeparation(Double.parseDouble(a[3]));
                if (a.length > 4) spec = spec.withSubspace(Integer.parseInt(a[4]));
                if (a.length > 5) throw new IllegalArgumentException();
                return spec;
            } catch (SpectroException e) {
                throw new SpectroException("option --synthetic " + s + ": " + e.getMessage());
            } catch (RuntimeException e) {
                throw new SpectroException("option --synthetic: expected ROWSxCOLS[:CLUSTERS[:LO-HI[:SEPARATION[:SUBSPACE]]]], got " + s);
            }
        }
    }

    private static final String[] WORDS = ("time year people way day man thing woman life child world school state family "
            + "student group country problem hand part place case week company system program question work government "
            + "number night point home water room mother area money story fact month lot right study book eye job word "
            + "business issue side kind head house service friend father power hour game line end member law car city "
            + "community name president team minute idea kid body information back parent face others level office door "
            + "health person art war history party result change morning reason research girl guy moment air teacher force "
            + "education she her he him they them it its").split(" ");
    private static final String[] COMMON = {" the", " of", ",", ".", " and", " to"};
    private static final String[] HOSTILE = {"<script>alert(1)</script>", "</script><img src=x onerror=alert(2)>", " &amp;",
            "\u202Eevil\u200B\uFEFF", " <b>bold</b>", "\u2028line"};

    private SyntheticRun() {}

    /** The component names for H columns: embed, l{L}h{0..15}, l{L}mlp per layer, ..., unembed. */
    public static List<String> componentNames(int h) {
        List<String> names = new ArrayList<>();
        names.add("embed");
        for (int i = 1; i < h - 1; i++) {
            int l = (i - 1) / 17, j = (i - 1) % 17;
            names.add(j < 16 ? "l" + l + "h" + j : "l" + l + "mlp");
        }
        names.add("unembed");
        return names.subList(0, h);
    }

    /** Writes the run into dir (created) and returns the planted label of every row. */
    public static int[] write(Path dir, Spec spec) {
        int n = spec.rows(), h = spec.components(), c = spec.clusters();
        SplittableRandom rnd = new SplittableRandom(spec.seed());
        double[] w = new double[c];
        double ws = 0;
        for (int i = 0; i < c; i++)
            ws += w[i] = spec.sizeLo() > 0 ? spec.sizeLo() + rnd.nextDouble() * (spec.sizeHi() - spec.sizeLo())
                    : 1.0 / (1 + 0.35 * i);
        int[] labels = new int[n];
        // sizes by largest remainder, then a seeded shuffle of the row order
        int[] size = new int[c];
        int given = 0;
        for (int i = 0; i < c; i++) given += size[i] = Math.max(1, (int) Math.floor(n * w[i] / ws));
        for (int i = 0; given < n; i = (i + 1) % c, given++) size[i]++;
        for (int i = c - 1; given > n; i = (i + c - 1) % c) if (size[i] > 1) {
            size[i]--;
            given--;
        }
        int r0 = 0;
        for (int i = 0; i < c; i++) for (int j = 0; j < size[i]; j++) labels[r0++] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1), t = labels[i];
            labels[i] = labels[j];
            labels[j] = t;
        }
        float[] centre = new float[c * h];
        if (spec.subspace() == 0) {
            for (int i = 0; i < centre.length; i++) centre[i] = (float) (rnd.nextGaussian() * spec.separation());
        } else { // centre = g B: g ~ N(0, 1) in k dims, B a Gaussian k x H basis scaled so each column has variance sep^2
            int k = spec.subspace();
            double[] basis = new double[k * h];
            for (int i = 0; i < basis.length; i++) basis[i] = rnd.nextGaussian() * spec.separation() / Math.sqrt(k);
            double[] g = new double[k];
            for (int i = 0; i < c; i++) {
                for (int m = 0; m < k; m++) g[m] = rnd.nextGaussian();
                for (int j = 0; j < h; j++) {
                    double v = 0;
                    for (int m = 0; m < k; m++) v += g[m] * basis[m * h + j];
                    centre[i * h + j] = (float) v;
                }
            }
        }
        float[] scale = new float[h], shift = new float[h];
        for (int j = 0; j < h; j++) {
            scale[j] = (float) Math.exp(0.5 * rnd.nextGaussian());
            shift[j] = (float) rnd.nextGaussian();
        }
        // chi.npy is streamed in blocks of rows (10M x 410 is 16 GB) into a temporary committed after the other files
        Npy.Writer chiOut = Npy.Writer.create(dir.resolve("chi.npy"), "<f4", n, h);
        try {
            int blockRows = Math.max(1, (1 << 20) / h);
            float[] block = new float[blockRows * h];
            for (int r0b = 0; r0b < n; r0b += blockRows) {
                int len = Math.min(blockRows, n - r0b);
                for (int i = 0; i < len; i++) {
                    int l = labels[r0b + i];
                    double u = spec.uniformMode() > 0 ? rnd.nextGaussian() * spec.uniformMode() : 0;
                    for (int j = 0; j < h; j++)
                        block[i * h + j] = (float) ((centre[l * h + j] + rnd.nextGaussian() + u) * scale[j] + shift[j]);
                }
                chiOut.put((long) r0b * h, block, 0, len * h);
            }
        } catch (RuntimeException e) {
            chiOut.close();
            throw e;
        }
        // vocabularies
        Map<String, Integer> ids = new LinkedHashMap<>();
        for (String s : COMMON) ids.putIfAbsent(s, ids.size());
        String[][] clusterWords = new String[c][];
        for (int i = 0; i < c; i++) {
            String[] cw = new String[5];
            for (int j = 0; j < cw.length; j++) {
                int wi = (i * cw.length + j);
                String base = WORDS[wi % WORDS.length];
                cw[j] = " " + base + (wi >= WORDS.length ? String.valueOf(wi / WORDS.length) : "");
            }
            if (i == 0 && spec.hostile()) System.arraycopy(HOSTILE, 0, cw, 0, Math.min(cw.length, HOSTILE.length));
            for (String s : cw) ids.putIfAbsent(s, ids.size());
            clusterWords[i] = cw;
        }
        String bos = "<|endoftext|>";
        int per = spec.seqLen() - 1;
        int seqs = (n + per - 1) / per;
        String[] yText = new String[n];
        for (int r = 0; r < n; r++) {
            String[] cw = clusterWords[labels[r]];
            yText[r] = rnd.nextDouble() < 0.85 ? cw[rnd.nextInt(cw.length)] : COMMON[rnd.nextInt(COMMON.length)];
        }
        try (Atomic.Group g = new Atomic.Group()) { // the files appear together, chi.npy last
            Npy.write(g.temp(dir.resolve("truth.npy")), labels, n);
            g.writeString(dir.resolve("components.json"), JsonMapper.shared().writeValueAsString(componentNames(h)));
            try (BufferedWriter out = Files.newBufferedWriter(g.temp(dir.resolve("tokens.csv")), StandardCharsets.UTF_8)) {
                out.write("row,seq,pos,token_id,token\n");
                for (int r = 0; r < n; r++) {
                    out.write(r + "," + (r / per) + "," + (r % per + 1) + "," + ids.get(yText[r]) + ","
                            + TokenTable.Csv.quote(yText[r]) + "\n");
                }
            }
            try (TokenArrow.Writer out = new TokenArrow.Writer(g.temp(dir.resolve("tokens.arrow")))) {
                for (int b0 = 0; b0 < n; b0 += 1 << 20) { // record batches of 1 Mi rows: large runs stay off the heap
                    int len = Math.min(n - b0, 1 << 20);
                    int[] rowNo = new int[len], seqNo = new int[len], posNo = new int[len], idNo = new int[len];
                    for (int i = 0; i < len; i++) {
                        int r = b0 + i;
                        rowNo[i] = r;
                        seqNo[i] = r / per;
                        posNo[i] = r % per + 1;
                        idNo[i] = ids.get(yText[r]);
                    }
                    out.write(new TokenArrow.Batch(len, rowNo, seqNo, posNo, idNo, java.util.Arrays.copyOfRange(yText, b0, b0 + len)));
                }
                out.finish();
            }
            try (BufferedWriter out = Files.newBufferedWriter(g.temp(dir.resolve("contexts.jsonl")), StandardCharsets.UTF_8)) {
                JsonMapper json = JsonMapper.shared();
                for (int s = 0; s < seqs; s++) {
                    List<String> toks = new ArrayList<>();
                    toks.add(bos);
                    for (int r = s * per; r < Math.min(n, (s + 1) * per); r++) toks.add(yText[r]);
                    Map<String, Object> line = new LinkedHashMap<>();
                    line.put("seq", s);
                    line.put("tokens", toks);
                    out.write(json.writeValueAsString(line));
                    out.write("\n");
                }
            }
            g.commit();
            chiOut.commit();
        } catch (IOException e) {
            throw new SpectroException(dir + ": cannot write the synthetic run (" + IoErrors.describe(e) + ")", e);
        } finally {
            chiOut.close();
        }
        return labels;
    }
}
