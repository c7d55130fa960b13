package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.io.Npy;
import io.spectro.io.TokenArrow;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Writes what {@code spectro chi} promises in a run directory:
 * <ul>
 *   <li>{@code chi.npy} float32 [N, H]: row b*(T-1)+t is the token at position t+1 of probe sequence b;</li>
 *   <li>{@code components.json}: component names in column order;</li>
 *   <li>{@code tokens.csv} and {@code tokens.arrow} (Arrow IPC file): row, seq, pos, token_id, token;</li>
 *   <li>{@code contexts.jsonl}: one line per probe sequence {"seq": b, "tokens": [display texts]};</li>
 *   <li>{@code probe.npy} int32 [B, T]: the probe sequences (the features of {@code spectro upsample fit});</li>
 *   <li>{@code chi_se.npy} float32 [N, H]: the standard error of every entry (from the spread of the chains);</li>
 *   <li>{@code diagnostics.json} (sampler diagnostics, and {@code health}: ok|warn|fail with reasons, the
 *       split-half reliability and the draws per chain of each component; a function of the state files
 *       alone), {@code timing.json} (seconds and components computed by the process that wrote the outputs)
 *       and {@code plots/*.png} (loss traces per chain).</li>
 * </ul>
 * Runs written by {@code spectro upsample apply} or {@code combine} also carry {@code predicted.npy} (which rows an
 * auxiliary model predicted): {@link PredictedRows}.
 */
public final class RunOutputs {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RunOutputs() {}

    /** Display text of the tokens of one probe sequence (e.g. {@code Tokenizer::displayTokens}, decoded in context). */
    public interface SequenceText extends java.util.function.Function<int[], String[]> {}

    /** Token by token, for display functions that need no context (e.g. "#id" without a tokenizer). */
    public static SequenceText perToken(IntFunction<String> text) {
        return ids -> {
            String[] out = new String[ids.length];
            for (int i = 0; i < ids.length; i++) out[i] = text.apply(ids[i]);
            return out;
        };
    }

    /**
     * Every output is written to a temporary first and renamed only when all are complete, chi.npy
     * last: a failure (a full disk) leaves none of them, and chi.npy's presence means all are there.
     *
     * @param tokenText display text of the tokens of a sequence (the model's tokenizer, or "#id" without one)
     */
    public static void write(Path dir, ChiRun.Result r, ChiRun.Inputs in, SequenceText tokenText, boolean plots) {
        try (Atomic.Group g = new Atomic.Group()) {
            g.writeString(dir.resolve("components.json"), JSON.writeValueAsString(r.components()));
            writeTokens(g, dir, in, tokenText);
            writeDiagnostics(g, dir, r);
            if (plots) writePlots(g, dir);
            Npy.write(g.temp(dir.resolve("chi_se.npy")), r.uncertainty().chiSe(), r.rows(), r.components().size());
            // the probe sequences themselves (int32 [B, T]): what upsample fit recomputes features on
            Npy.write(g.temp(dir.resolve("probe.npy")), in.probe(), in.nProbe(), in.probeT());
            Npy.write(g.temp(dir.resolve("chi.npy")), r.chi(), r.rows(), r.components().size());
            g.commit();
        } catch (IOException e) {
            throw new SpectroException(dir + ": cannot write outputs (" + IoErrors.describe(e) + ")", e);
        }
    }

    /**
     * The common head of a chain-free estimator's description file: its name, how it works, the run's provenance
     * ({@code run}: {@link ChiRun#provenance}, the manifest's keys), γ, s and L0.
     */
    public static ObjectNode description(String estimator, String how, ObjectNode provenance, io.spectro.sampling.SamplerOptions so,
                                         double loss0) {
        ObjectNode root = JSON.createObjectNode();
        root.put("estimator", estimator);
        root.put("method", how);
        root.set("run", provenance);
        root.put("gamma", so.gamma());
        root.put("noiseScale", so.noiseScale());
        root.put("loss0", loss0);
        return root;
    }

    /**
     * The file that holds RUN's provenance (model and data hashes, config, components, probe shape):
     * {@code manifest.json} for SGLD, upsampled and combined runs, else the chain-free estimator's description
     * ({@code linear_response.json}, {@code gaussian_pairs.json}) whose {@code run} block has the same keys;
     * null when RUN has neither.
     */
    public static Path provenanceFile(Path run) {
        for (String f : new String[]{"manifest.json", LinearResponse.DESCRIPTION, GaussianPairs.DESCRIPTION})
            if (Files.isRegularFile(run.resolve(f))) return run.resolve(f);
        return null;
    }

    /**
     * RUN's provenance ({@link #provenanceFile}): the manifest, or the description's {@code run} block. Refused,
     * naming the file, when there is none, it is not JSON, or a chain-free description has no {@code run} block
     * (written before it existed).
     */
    public static ObjectNode provenance(Path run) {
        Path f = provenanceFile(run);
        if (f == null)
            throw new SpectroException(run + ": no manifest.json, " + LinearResponse.DESCRIPTION + " or " + GaussianPairs.DESCRIPTION
                    + " (not a spectro chi run directory)");
        JsonNode n;
        try {
            n = JSON.readTree(f.toFile());
        } catch (tools.jackson.core.JacksonException e) {
            if (e.getCause() instanceof IOException io) throw new SpectroException(f + ": cannot read (" + IoErrors.describe(io) + ")", e);
            throw new SpectroException(f + ": not JSON (" + e.getOriginalMessage() + ")", e);
        }
        boolean manifest = f.getFileName().toString().equals("manifest.json");
        if (!manifest && n != null) n = n.get("run");
        if (!(n instanceof ObjectNode o))
            throw new SpectroException(f + (manifest ? ": not a JSON object"
                    : ": has no \"run\" block (written before chain-free runs recorded their model and data hashes); re-run spectro chi"));
        return o;
    }

    /**
     * The outputs of an estimator without chains ({@code --estimator linear | gaussian}): the same files as
     * {@link #write} (chi_se.npy all NaN, every component {@code ok} with {@code reason}) plus {@code descriptionFile}
     * holding {@code descriptionJson} (how the columns were obtained). whiten, report and the explorer read it like
     * any run. A directory holding an SGLD run ({@code manifest.json}) is refused.
     */
    public static void writeWithoutChains(Path dir, List<String> names, List<float[]> columns, ChiRun.Inputs in, SequenceText text,
                                          double loss0, double seconds, String reason, String descriptionFile, String descriptionJson) {
        if (Files.exists(dir.resolve("manifest.json")))
            throw new SpectroException(dir + ": holds an SGLD run (manifest.json); give this estimator its own --out");
        int n = in.probeTokens(), h = names.size();
        float[] chi = new float[n * h], se = new float[n * h];
        java.util.Arrays.fill(se, Float.NaN);
        for (int c = 0; c < h; c++) {
            float[] col = columns.get(c);
            for (int t = 0; t < n; t++) chi[t * h + c] = col[t];
        }
        double[] rel = new double[h];
        java.util.Arrays.fill(rel, Double.NaN);
        List<Health> health = new java.util.ArrayList<>(); // no chains: nothing to gate on (the estimators refuse non-finite values)
        for (String name : names) health.add(new Health(name, Health.Level.ok, List.of(reason), Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0, null));
        write(dir, new ChiRun.Result(chi, n, names, List.of(), loss0, seconds, h, 0, new ChiRun.Uncertainty(se, rel), health), in, text, false);
        Atomic.writeString(dir.resolve(descriptionFile), descriptionJson);
    }

    /**
     * Writes {@code dir/subsets.json} (the subset of each of the first {@code rows} probe sequences) when
     * the probe set has a manifest ({@link io.spectro.data.SetBuilder#subsetsOf}); the explorer's cards
     * then show their subset mix.
     */
    public static void writeSubsets(Path dir, Path probeNpy, int rows) {
        List<String> subs = io.spectro.data.SetBuilder.subsetsOf(probeNpy);
        if (subs == null) return;
        if (subs.size() < rows) throw new SpectroException(probeNpy + ": its manifest lists " + subs.size() + " rows, the set has " + rows);
        Atomic.writeString(dir.resolve("subsets.json"), JSON.writeValueAsString(subs.subList(0, rows)));
    }

    private static void writeTokens(Atomic.Group g, Path dir, ChiRun.Inputs in, SequenceText seqText) throws IOException {
        int T = in.probeT(), rows = in.probeTokens();
        String[][] shown = new String[in.nProbe()][];
        for (int b = 0; b < in.nProbe(); b++) {
            shown[b] = seqText.apply(java.util.Arrays.copyOfRange(in.probe(), b * T, (b + 1) * T));
            if (shown[b].length != T) throw new IllegalStateException("display text of " + shown[b].length + " tokens for a sequence of " + T);
        }
        try (BufferedWriter csv = Files.newBufferedWriter(g.temp(dir.resolve("tokens.csv")));
             BufferedWriter ctx = Files.newBufferedWriter(g.temp(dir.resolve("contexts.jsonl")))) {
            csv.write("row,seq,pos,token_id,token\n");
            for (int b = 0; b < in.nProbe(); b++) {
                ArrayNode toks = JSON.createArrayNode();
                for (int t = 0; t < T; t++) toks.add(shown[b][t]);
                ObjectNode line = JSON.createObjectNode();
                line.put("seq", b);
                line.set("tokens", toks);
                ctx.write(JSON.writeValueAsString(line));
                ctx.write('\n');
                for (int t = 0; t < T - 1; t++) {
                    int id = in.probe()[b * T + t + 1];
                    csv.write((b * (T - 1) + t) + "," + b + "," + (t + 1) + "," + id + "," + csvQuote(shown[b][t + 1]) + "\n");
                }
            }
        }
        int[] row = new int[rows], seq = new int[rows], pos = new int[rows], id = new int[rows];
        String[] tok = new String[rows];
        for (int b = 0, r = 0; b < in.nProbe(); b++) {
            for (int t = 0; t < T - 1; t++, r++) {
                row[r] = r; seq[r] = b; pos[r] = t + 1; id[r] = in.probe()[b * T + t + 1];
                tok[r] = shown[b][t + 1];
            }
        }
        try (TokenArrow.Writer w = new TokenArrow.Writer(g.temp(dir.resolve("tokens.arrow")))) {
            w.write(new TokenArrow.Batch(rows, row, seq, pos, id, tok));
            w.finish();
        }
    }

    public static String csvQuote(String s) {
        return "\"" + s.replace("\"", "\"\"") + "\"";
    }

    private static void writeDiagnostics(Atomic.Group g, Path dir, ChiRun.Result r) {
        ObjectNode root = JSON.createObjectNode();
        root.put("loss0", r.loss0());
        root.set("components", JSON.valueToTree(r.diagnostics()));
        root.set("health", JSON.valueToTree(r.health()));
        g.writeString(dir.resolve("diagnostics.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        // what this process did, apart, so that diagnostics.json is a function of the state files alone
        // (a resumed run writes the same bytes as an uninterrupted one)
        ObjectNode timing = JSON.createObjectNode();
        timing.put("seconds", r.seconds());
        timing.put("componentsComputed", r.componentsComputed());
        g.writeString(dir.resolve("timing.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(timing));
    }

    /** One PNG per component and for the full run: mean-pooled minibatch loss per chain, L0 as a line. */
    private static void writePlots(Atomic.Group g, Path dir) throws IOException {
        Path plots = dir.resolve("plots");
        Path state = dir.resolve("state");
        try (var files = Files.list(state)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                JsonNode n = JSON.readTree(f.toFile());
                if (!n.has("stepLoss")) continue;
                XYSeriesCollection ds = new XYSeriesCollection();
                JsonNode chains = n.get("stepLoss");
                for (int c = 0; c < chains.size(); c++) {
                    XYSeries s = new XYSeries("chain " + c);
                    for (int i = 0; i < chains.get(c).size(); i++) s.add(i, ChiRun.number(chains.get(c).get(i)));
                    ds.addSeries(s);
                }
                String name = n.get("component").asString();
                JFreeChart chart = ChartFactory.createXYLineChart("SGLD loss trace: " + name + " (" + n.get("status").asString() + ")",
                        "step (pooled)", "minibatch loss", ds, PlotOrientation.VERTICAL, true, false, false);
                chart.getXYPlot().addRangeMarker(new ValueMarker(ChiRun.number(n.get("loss0"))));
                ChartUtils.saveChartAsPNG(g.temp(plots.resolve(name + ".png")).toFile(), chart, 640, 360);
            }
        }
    }
}
