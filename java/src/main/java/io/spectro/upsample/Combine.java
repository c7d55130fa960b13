package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.Version;
import io.spectro.chi.PredictedRows;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.io.Npy;
import io.spectro.io.TokenArrow;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;

/**
 * {@code spectro upsample combine}: concatenates runs of one model and one component list (ground-truth
 * runs, predicted runs, earlier combined runs) into one run directory, rows in the order the parts are
 * given: {@code chi.npy}, {@code chi_se.npy} (when every part has it), {@code tokens.arrow} and
 * {@code tokens.csv}, {@code contexts.jsonl} (sequence numbers shifted so they stay distinct),
 * {@code predicted.npy} (a part without one counts as ground truth), {@code components.json},
 * {@code diagnostics.json} (per component the worst health any part records, so health gating still applies
 * by column) and {@code manifest.json} with the provenance of every part (its directory, rows, predicted
 * rows, the SHA-256 of its chi.npy and its manifest). The parts share one model and one component list, except
 * that an all-predicted part may hold an ordered subset of the columns (an AUX predicts only the columns its
 * ground-truth run's whitening used): its rows hold NaN in the others, which health gating leaves out.
 *
 * <p>Streamed: chi.npy is copied 4 MiB at a time and tokens.arrow one record batch at a time, so the heap
 * does not grow with the runs (but holds one of the parts' Arrow record batches, and one byte per row for the
 * flags). Atomic: everything is written into a temporary sibling directory that is renamed to the output
 * only when complete; the output must not exist yet (or be empty).
 */
public final class Combine {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHUNK = 1 << 22;

    private Combine() {}

    /** What was written. */
    /** @param filled columns some (all-predicted) part lacks: NaN in its rows (health gating leaves them out) */
    public record Result(Path out, long rows, int columns, long predicted, List<Long> partRows, boolean withSe, boolean withTokens,
                         List<String> filled) {}

    private static List<String> missing(List<String> comps, int[] map) {
        boolean[] has = new boolean[comps.size()];
        for (int c : map) has[c] = true;
        List<String> out = new ArrayList<>();
        for (int c = 0; c < has.length; c++) if (!has[c]) out.add(comps.get(c));
        return out;
    }

    /** One checked input run. */
    private record Part(Path dir, long rows, int cols, Npy.Info chi, ObjectNode manifest, PredictedRows flags, boolean se,
                        boolean tokens, boolean contexts) {}

    /** Checks every part (refusing, naming the file, before anything is written), then writes {@code out}. */
    public static Result combine(List<Path> runs, Path out) {
        if (runs.size() < 2) throw new SpectroException("combine needs at least two runs (--run A --run B ...), got " + runs.size());
        List<Part> parts = new ArrayList<>();
        for (Path r : runs) parts.add(check(r));
        Part first = parts.getFirst();
        // the columns: the longest component list; an all-predicted part may hold an ordered subset of it (an AUX
        // predicts only the columns its ground-truth run's whitening used: health gating left the others out)
        Part widest = parts.stream().max(java.util.Comparator.comparingInt(Part::cols)).orElseThrow();
        List<String> comps = components(widest);
        String model = first.manifest().path("modelSha256").asString("");
        List<int[]> colOf = new ArrayList<>();
        for (Part p : parts) {
            String m = p.manifest().path("modelSha256").asString("");
            if (!m.equals(model))
                throw new SpectroException(io.spectro.chi.RunOutputs.provenanceFile(p.dir()) + ": modelSha256 " + m + " differs from "
                        + io.spectro.chi.RunOutputs.provenanceFile(first.dir()) + "'s " + model + ": runs of different models cannot be combined");
            List<String> names = components(p);
            int[] map = new int[names.size()];
            for (int j = 0, from = 0; j < names.size(); j++) {
                int at = comps.subList(from, comps.size()).indexOf(names.get(j));
                if (at < 0)
                    throw new SpectroException(p.dir().resolve("components.json") + ": lists other components than "
                            + widest.dir().resolve("components.json") + " (" + names.size() + " vs " + comps.size() + ", '" + names.get(j)
                            + "' is not among them in that order): runs of different components cannot be combined");
                map[j] = from + at;
                from = map[j] + 1;
            }
            if (names.size() < comps.size() && p.flags().groundTruthCount() > 0)
                throw new SpectroException(p.dir().resolve("components.json") + ": lists " + names.size() + " of the " + comps.size()
                        + " components of " + widest.dir().resolve("components.json") + "; only an all-predicted run may lack columns "
                        + "(those its AUX's whitening left out), and this one has ground-truth rows");
            colOf.add(map);
        }
        if (parts.stream().anyMatch(Part::tokens) && !parts.stream().allMatch(Part::tokens))
            throw new SpectroException(parts.stream().filter(p -> !p.tokens()).findFirst().orElseThrow().dir().resolve("tokens.arrow")
                    + ": missing, while other parts have tokens: every part needs tokens.arrow, or none");
        long total = parts.stream().mapToLong(Part::rows).sum();
        if (total > Integer.MAX_VALUE) throw new SpectroException("combined run of " + total + " rows: more than int can count");
        Path target = out.toAbsolutePath().normalize();
        checkOut(target);
        Path tmp = target.resolveSibling("." + target.getFileName() + ".combine-" + ProcessHandle.current().pid() + ".tmp");
        try {
            deleteTree(tmp);
            Files.createDirectories(tmp);
            boolean se = parts.stream().allMatch(Part::se), tokens = first.tokens();
            List<String> chiSha = concatenate(parts, colOf, comps.size(), tmp.resolve("chi.npy"), Part::chi, p -> p.dir().resolve("chi.npy"), true);
            if (se) concatenate(parts, colOf, comps.size(), tmp.resolve("chi_se.npy"), p -> Npy.info(p.dir().resolve("chi_se.npy")),
                    p -> p.dir().resolve("chi_se.npy"), false);
            if (tokens || parts.stream().anyMatch(Part::contexts)) writeTokens(parts, tmp, tokens);
            byte[] flags = new byte[(int) total];
            long predicted = 0;
            for (int i = 0, o = 0; i < parts.size(); o += (int) parts.get(i).rows(), i++) {
                PredictedRows f = parts.get(i).flags();
                for (int r = 0; r < f.rows(); r++) flags[o + r] = (byte) (f.isPredicted(r) ? 1 : 0);
                predicted += f.predictedCount();
            }
            PredictedRows.write(tmp, flags);
            Files.writeString(tmp.resolve("components.json"), JSON.writeValueAsString(comps));
            writeDiagnostics(parts, comps, colOf, tmp.resolve("diagnostics.json"));
            Files.writeString(tmp.resolve("manifest.json"), JSON.writerWithDefaultPrettyPrinter()
                    .writeValueAsString(manifest(parts, chiSha, total, predicted, comps, colOf)));
            if (Files.isDirectory(target)) Files.delete(target); // checked empty
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            List<String> filled = new ArrayList<>();
            for (int i = 0; i < parts.size(); i++) filled.addAll(missing(comps, colOf.get(i)));
            return new Result(target, total, comps.size(), predicted, parts.stream().map(Part::rows).toList(), se, tokens,
                    filled.stream().distinct().toList());
        } catch (IOException e) {
            throw new SpectroException(target + ": cannot write the combined run (" + IoErrors.describe(e) + ")", e);
        } finally {
            try {
                deleteTree(tmp);
            } catch (IOException ignored) {
                // a leftover temporary directory is named as one and never taken for a run
            }
        }
    }

    private static Part check(Path dir) {
        if (!Files.isDirectory(dir)) throw new SpectroException(dir + ": run directory does not exist");
        Path chi = dir.resolve("chi.npy");
        if (!Files.isRegularFile(chi)) throw new SpectroException(dir + ": no chi.npy in the run directory");
        Npy.Info info = Npy.info(chi);
        if (!info.descr().equals("<f4") || info.shape().length != 2)
            throw new SpectroException(chi + ": expected float32 '<f4' [rows, components], got " + info.descr() + " "
                    + java.util.Arrays.toString(info.shape()));
        Path mf = io.spectro.chi.RunOutputs.provenanceFile(dir);
        if (mf == null)
            throw new SpectroException(dir.resolve("manifest.json") + ": missing; combine checks every part's model hash (modelSha256) there");
        JsonNode m = io.spectro.chi.RunOutputs.provenance(dir);
        if (!(m instanceof ObjectNode om) || !m.path("modelSha256").isString())
            throw new SpectroException(mf + ": no modelSha256 (the hash of the model the run belongs to)");
        if (!Files.isRegularFile(dir.resolve("components.json")))
            throw new SpectroException(dir.resolve("components.json") + ": missing; combine checks every part's component list");
        long rows = info.shape()[0];
        if (rows > Integer.MAX_VALUE) throw new SpectroException(chi + ": " + rows + " rows, more than int can count");
        boolean se = Files.isRegularFile(dir.resolve("chi_se.npy"));
        if (se) {
            Npy.Info s = Npy.info(dir.resolve("chi_se.npy"));
            if (!s.descr().equals("<f4") || !java.util.Arrays.equals(s.shape(), info.shape()))
                throw new SpectroException(dir.resolve("chi_se.npy") + ": " + s.descr() + " " + java.util.Arrays.toString(s.shape())
                        + ", expected '<f4' of chi.npy's shape " + java.util.Arrays.toString(info.shape()));
        }
        return new Part(dir, rows, (int) info.shape()[1], info, om, PredictedRows.read(dir, (int) rows), se,
                Files.isRegularFile(dir.resolve("tokens.arrow")), Files.isRegularFile(dir.resolve("contexts.jsonl")));
    }

    private static List<String> components(Part p) {
        Path f = p.dir().resolve("components.json");
        try {
            String[] names = JSON.readValue(f.toFile(), String[].class);
            if (names == null || names.length != p.cols())
                throw new SpectroException(f + ": lists " + (names == null ? 0 : names.length) + " components, chi.npy has " + p.cols() + " columns");
            return List.of(names);
        } catch (JacksonException e) {
            throw new SpectroException(f + ": not a JSON list of component names (" + e.getOriginalMessage() + ")", e);
        }
    }

    private static void checkOut(Path out) {
        if (Files.exists(out)) {
            boolean empty;
            try (var s = Files.list(out)) {
                empty = s.findAny().isEmpty();
            } catch (IOException e) {
                throw new SpectroException(out + ": --out exists and is not an empty directory");
            }
            if (!empty) throw new SpectroException(out + ": --out exists and is not empty; choose another or delete it");
        }
        Atomic.createDirectories(out.getParent());
    }

    /**
     * Copies every part's float32 data into one [total, H] file, 4 MiB at a time (a part holding a subset of the
     * columns is spread into them, NaN elsewhere); returns each part's file SHA-256 when asked.
     */
    private static List<String> concatenate(List<Part> parts, List<int[]> colOf, int h, Path file,
                                            java.util.function.Function<Part, Npy.Info> info,
                                            java.util.function.Function<Part, Path> src, boolean hash) throws IOException {
        long total = parts.stream().mapToLong(Part::rows).sum();
        List<String> sha = new ArrayList<>();
        ByteBuffer b = ByteBuffer.allocate(CHUNK);
        try (Npy.Writer w = Npy.Writer.create(file, "<f4", total, h)) {
            long at = 0;
            for (int i = 0; i < parts.size(); i++) {
                Part p = parts.get(i);
                Npy.Info in = info.apply(p);
                int[] map = colOf.get(i);
                boolean same = map.length == h;
                MessageDigest md = hash ? sha256() : null;
                try (FileChannel ch = FileChannel.open(src.apply(p), StandardOpenOption.READ)) {
                    long end = in.dataOffset() + p.rows() * map.length * 4L;
                    for (long pos = 0, size = ch.size(); pos < size && (md != null || (same && pos < end)); ) {
                        b.clear().limit((int) Math.min(CHUNK, (md != null ? size : end) - pos));
                        int n = ch.read(b, pos);
                        if (n < 0) throw new IOException(src.apply(p) + ": ended early at byte " + pos);
                        b.flip();
                        if (md != null) md.update(b.duplicate());
                        long dataStart = Math.max(pos, in.dataOffset()), dataEnd = Math.min(pos + n, end);
                        if (same && dataEnd > dataStart) {
                            ByteBuffer data = b.duplicate();
                            data.position((int) (dataStart - pos)).limit((int) (dataEnd - pos));
                            w.put(at + (dataStart - in.dataOffset()) / 4, data);
                        }
                        pos += n;
                    }
                }
                if (!same) { // spread the part's columns into the full width, row blocks of about 4 MiB
                    int pw = map.length, block = Math.max(1, CHUNK / 4 / h);
                    float[] full = new float[block * h];
                    for (long r0 = 0; r0 < p.rows(); r0 += block) {
                        int len = (int) Math.min(block, p.rows() - r0);
                        float[] part = Npy.readFloats(src.apply(p), r0 * pw, len * pw);
                        java.util.Arrays.fill(full, Float.NaN);
                        for (int r = 0; r < len; r++) for (int j = 0; j < pw; j++) full[r * h + map[j]] = part[r * pw + j];
                        w.put(at + r0 * h, full, 0, len * h);
                    }
                }
                if (md != null) sha.add(HexFormat.of().formatHex(md.digest()));
                at += p.rows() * h;
            }
            w.commit();
        }
        return sha;
    }

    /** tokens.arrow and tokens.csv batch by batch, contexts.jsonl line by line, rows and sequences renumbered. */
    private static void writeTokens(List<Part> parts, Path dir, boolean tokens) throws IOException {
        try (TokenArrow.Writer arrow = tokens ? new TokenArrow.Writer(dir.resolve("tokens.arrow")) : null;
             BufferedWriter csv = tokens ? Files.newBufferedWriter(dir.resolve("tokens.csv")) : null;
             BufferedWriter ctx = Files.newBufferedWriter(dir.resolve("contexts.jsonl"))) {
            if (csv != null) csv.write("row,seq,pos,token_id,token\n");
            long rowOff = 0, seqOff = 0;
            for (Part p : parts) {
                long[] maxSeq = {-1};
                final long ro = rowOff, so = seqOff;
                if (tokens) {
                    TokenArrow.forEach(p.dir().resolve("tokens.arrow"), b -> {
                        int[] row = new int[b.n()], seq = new int[b.n()];
                        for (int i = 0; i < b.n(); i++) {
                            if (b.row()[i] < 0 || b.row()[i] >= p.rows())
                                throw new SpectroException(p.dir().resolve("tokens.arrow") + ": names row " + b.row()[i]
                                        + ", chi.npy has " + p.rows() + " rows");
                            row[i] = Math.toIntExact(b.row()[i] + ro);
                            seq[i] = Math.toIntExact(b.seq()[i] + so);
                            maxSeq[0] = Math.max(maxSeq[0], b.seq()[i]);
                            csv.write(row[i] + "," + seq[i] + "," + b.pos()[i] + "," + b.tokenId()[i] + ",\""
                                    + b.token()[i].replace("\"", "\"\"") + "\"\n");
                        }
                        arrow.write(new TokenArrow.Batch(b.n(), row, seq, b.pos(), b.tokenId(), b.token()));
                    });
                }
                Path cf = p.dir().resolve("contexts.jsonl");
                if (Files.isRegularFile(cf)) {
                    try (BufferedReader in = Files.newBufferedReader(cf, StandardCharsets.UTF_8)) {
                        String line;
                        int no = 0;
                        while ((line = in.readLine()) != null) {
                            no++;
                            if (line.isBlank()) continue;
                            JsonNode n;
                            try {
                                n = JSON.readTree(line);
                            } catch (JacksonException e) {
                                throw new SpectroException(cf + ": line " + no + " is not JSON (" + e.getOriginalMessage() + ")");
                            }
                            if (!(n instanceof ObjectNode o) || !n.path("seq").isIntegralNumber())
                                throw new SpectroException(cf + ": line " + no + " needs {\"seq\": int, \"tokens\": [strings]}");
                            long s = o.get("seq").asLong();
                            maxSeq[0] = Math.max(maxSeq[0], s);
                            o.put("seq", s + so);
                            ctx.write(JSON.writeValueAsString(o));
                            ctx.write('\n');
                        }
                    }
                }
                rowOff += p.rows();
                seqOff += maxSeq[0] + 1;
            }
            if (arrow != null) arrow.finish();
        }
    }

    /** Per component the worst health level any part records (ok < warn < fail), with each part's reasons. */
    private static void writeDiagnostics(List<Part> parts, List<String> comps, List<int[]> colOf, Path file) throws IOException {
        List<String> order = List.of("ok", "warn", "fail");
        ArrayNode health = JSON.createArrayNode();
        boolean any = false;
        List<JsonNode> arrays = new ArrayList<>();
        for (Part p : parts) {
            Path f = p.dir().resolve("diagnostics.json");
            JsonNode h = null;
            if (Files.isRegularFile(f)) {
                try {
                    h = JSON.readTree(f.toFile()).get("health");
                } catch (JacksonException e) {
                    throw new SpectroException(f + ": cannot parse (" + e.getOriginalMessage() + ")", e);
                }
                if (h != null && h.isArray() && h.size() != p.cols())
                    throw new SpectroException(f + ": health lists " + h.size() + " components, its chi.npy has " + p.cols() + " columns");
            }
            arrays.add(h != null && h.isArray() ? h : null);
            any |= h != null && h.isArray();
        }
        if (!any) return;
        for (int c = 0; c < comps.size(); c++) {
            int worst = 0;
            ArrayNode reasons = JSON.createArrayNode();
            for (int i = 0; i < parts.size(); i++) {
                JsonNode h = arrays.get(i);
                int j = indexOf(colOf.get(i), c);
                if (h == null || j < 0) continue;
                String lv = h.get(j).path("level").asString("");
                int k = order.indexOf(lv);
                if (k < 0) throw new SpectroException(parts.get(i).dir().resolve("diagnostics.json") + ": health level '" + lv + "' is not ok, warn or fail");
                worst = Math.max(worst, k);
                for (JsonNode r : h.get(j).path("reasons")) reasons.add("part " + i + ": " + r.asString(""));
            }
            ObjectNode n = JSON.createObjectNode();
            n.put("component", comps.get(c));
            n.put("level", order.get(worst));
            n.set("reasons", reasons);
            health.add(n);
        }
        ObjectNode root = JSON.createObjectNode();
        root.put("combined", "worst health level of each component over the parts that record one");
        root.set("health", health);
        Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
    }

    private static ObjectNode manifest(List<Part> parts, List<String> chiSha, long total, long predicted, List<String> comps,
                                       List<int[]> colOf) {
        ObjectNode first = parts.getFirst().manifest();
        ObjectNode m = JSON.createObjectNode();
        m.put("spectro", Version.VERSION);
        m.put("modelSha256", first.path("modelSha256").asString());
        if (first.has("config")) m.set("config", first.get("config"));
        m.put("rows", total);
        ArrayNode arr = JSON.createArrayNode();
        List<String> auxes = new ArrayList<>();
        List<String> auxShas = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            Part p = parts.get(i);
            ObjectNode n = JSON.createObjectNode();
            n.put("dir", p.dir().toAbsolutePath().normalize().toString());
            n.put("rows", p.rows());
            n.put("predictedRows", p.flags().predictedCount());
            n.put("chiSha256", chiSha.get(i));
            List<String> miss = missing(comps, colOf.get(i));
            if (!miss.isEmpty()) n.set("missingColumns", JSON.valueToTree(miss)); // NaN in this part's rows
            ObjectNode pm = p.manifest().deepCopy();
            JsonNode pred = pm.path("predicted");
            if (pred.path("aux").isString()) { // absolute, so it still resolves from the combined run
                String abs = p.dir().resolve(pred.path("aux").asString()).toAbsolutePath().normalize().toString();
                ((ObjectNode) pred).put("aux", abs);
                auxes.add(abs);
                auxShas.add(pred.path("auxSha256").asString(""));
            }
            n.set("manifest", pm);
            arr.add(n);
        }
        m.set("combined", arr);
        ObjectNode pred = JSON.createObjectNode();
        pred.put("count", predicted);
        if (!auxes.isEmpty() && auxes.stream().distinct().count() == 1) {
            pred.put("aux", auxes.getFirst());
            pred.put("auxSha256", auxShas.getFirst());
        } else if (!auxes.isEmpty()) pred.put("aux", (String) null); // several AUXes: each part's manifest names its own
        m.set("predicted", pred);
        return m;
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) if (a[i] == v) return i;
        return -1;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
