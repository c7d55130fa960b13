package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.chi.ChiRun;
import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.io.Npy;
import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.structure.Pipeline;
import io.spectro.structure.TokenTable;
import io.spectro.util.Vectors;
import io.spectro.whiten.Whitening;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A ground-truth run as the upsampling stage reads it: the probe sequences (RUN/probe.npy or a given
 * probe file, checked against the run's token table), the components (from the manifest's decomposition),
 * χ of the columns the whitening kept, the whitening transform and the whitened vectors (RUN/whiten/, made
 * with the default options when missing, as {@code spectro report} does).
 *
 * @param columns  chi.npy's columns the transform uses (the others were left out by health gating / NaN)
 * @param chi      χ of those columns [rows, columns.length]
 * @param whitened the run's whitened vectors [rows, kept]
 */
public record GroundTruth(Path run, JsonNode manifest, String modelSha256, ModelConfig config, List<Component> components,
                          int[] probe, int nSeq, int T, int[] columns, List<String> columnNames, Vectors chi,
                          Whitening transform, Vectors whitened, Path transformFile) {

    public int rows() {
        return nSeq * (T - 1);
    }

    /** The sequence of every row (row b·(T−1)+t belongs to sequence b). */
    public int[] groups() {
        int[] g = new int[rows()];
        for (int i = 0; i < g.length; i++) g[i] = i / (T - 1);
        return g;
    }

    /** RUN's provenance ({@link io.spectro.chi.RunOutputs#provenance}: an SGLD manifest or a chain-free run's block), checked. */
    static JsonNode manifest(Path run) {
        JsonNode m = io.spectro.chi.RunOutputs.provenance(run);
        for (String k : new String[]{"modelSha256", "config", "components", "probeShape"})
            if (!m.has(k))
                throw new SpectroException(io.spectro.chi.RunOutputs.provenanceFile(run) + ": lacks \"" + k + "\" (not a spectro chi run manifest)");
        return m;
    }

    /**
     * Reads RUN (whitening it first when RUN/whiten/ is missing). {@code probeFile} may be null: then
     * RUN/probe.npy. {@code ck}, when given, must be the checkpoint RUN was computed on (its hash is checked).
     */
    public static GroundTruth read(Path run, Path probeFile, Checkpoint ck) {
        if (!Files.isDirectory(run)) throw new SpectroException(run + ": run directory does not exist");
        JsonNode m = manifest(run);
        String sha = m.get("modelSha256").asString();
        ModelConfig cfg = JsonMapper.shared().treeToValue(m.get("config"), ModelConfig.class);
        if (ck != null) {
            if (!ck.config().equals(cfg))
                throw new SpectroException(ck.root() + ": has another model configuration than the run " + run + " was computed on");
            String have = ChiRun.sha256(ck);
            if (!have.equals(sha))
                throw new SpectroException(ck.root() + ": its weights (sha256 " + have.substring(0, 12) + "...) are not the ones " + run
                        + " was computed on (modelSha256 " + sha.substring(0, Math.min(12, sha.length())) + "...)");
        }
        List<Component> comps;
        try {
            comps = Decomposition.resolve(cfg, m.get("components").asString());
        } catch (RuntimeException e) {
            throw new SpectroException(io.spectro.chi.RunOutputs.provenanceFile(run) + ": components \"" + m.get("components").asString() + "\": " + e.getMessage(), e);
        }
        String[] shape = m.get("probeShape").asString().split("x");
        int nSeq = Integer.parseInt(shape[0]), T = Integer.parseInt(shape[1]);
        Path pf = probeFile != null ? probeFile : run.resolve("probe.npy");
        if (!Files.isRegularFile(pf))
            throw new SpectroException(probeFile != null ? pf + ": no such file"
                    : run + ": holds no probe.npy (runs written before it was saved); pass the probe set with --probe");
        Npy.Ints p = Npy.readInts(pf);
        if (p.shape().length != 2 || p.dim(0) < nSeq || p.dim(1) != T)
            throw new SpectroException(pf + ": shape " + java.util.Arrays.toString(p.shape()) + ", the run's probe set is " + nSeq + "x" + T);
        int[] probe = java.util.Arrays.copyOf(p.data(), nSeq * T);
        Path chiFile = run.resolve("chi.npy");
        if (!Files.isRegularFile(chiFile)) throw new SpectroException(run + ": no chi.npy (the chi run has not finished)");
        int rows = nSeq * (T - 1);
        if (io.spectro.chi.PredictedRows.read(run, rows).predictedCount() > 0)
            throw new SpectroException(run + ": holds predicted rows (predicted.npy); the auxiliary model trains on ground truth only");
        TokenTable tt = TokenTable.read(run, rows);
        if (tt.hasTokens())
            for (int r = 0; r < rows; r++) {
                int b = r / (T - 1), t = r % (T - 1);
                if (tt.tokenId(r) != probe[b * T + t + 1])
                    throw new SpectroException(pf + ": is not the run's probe set: row " + r + " (sequence " + b + ", position " + (t + 1)
                            + ") holds token " + probe[b * T + t + 1] + ", " + run.resolve("tokens.csv") + " says " + tt.tokenId(r));
            }
        Path wdir = run.resolve("whiten"), tf = wdir.resolve("transform.json");
        if (!Files.isRegularFile(tf) || !Files.isRegularFile(wdir.resolve("whitened.npy")))
            Pipeline.whiten(chiFile, wdir, Whitening.Options.defaults());
        Whitening w = Whitening.load(tf);
        Vectors white = Vectors.read(wdir.resolve("whitened.npy"));
        List<Integer> dropped = List.of();
        Path src = wdir.resolve("source.json");
        if (Files.isRegularFile(src)) {
            try { // only the columns left out (files written before later fields existed lack them)
                JsonNode d = JsonMapper.shared().readTree(src.toFile()).path("droppedColumns");
                if (d.isArray()) {
                    List<Integer> l = new ArrayList<>();
                    for (JsonNode c : d) l.add(c.asInt());
                    dropped = l;
                }
            } catch (JacksonException e) {
                throw new SpectroException(src + ": not JSON (" + e.getOriginalMessage() + ")");
            }
        }
        Npy.Floats f = Npy.readFloats(chiFile);
        if (f.shape().length != 2 || f.dim(0) != rows || f.dim(1) != comps.size())
            throw new SpectroException(chiFile + ": shape " + java.util.Arrays.toString(f.shape()) + ", the manifest says " + rows + "x" + comps.size());
        List<Integer> cols = new ArrayList<>();
        for (int c = 0; c < comps.size(); c++) if (!dropped.contains(c)) cols.add(c);
        if (cols.size() != w.inputDim())
            throw new SpectroException(tf + ": expects " + w.inputDim() + " columns, chi.npy minus the " + dropped.size()
                    + " left out (source.json) has " + cols.size() + "; re-run spectro whiten --run " + run);
        int h = cols.size();
        float[] x = new float[rows * h];
        for (int r = 0; r < rows; r++) for (int j = 0; j < h; j++) x[r * h + j] = f.data()[r * comps.size() + cols.get(j)];
        if (white.rows() != rows || white.cols() != w.kept())
            throw new SpectroException(wdir.resolve("whitened.npy") + ": " + white.rows() + "x" + white.cols() + ", expected " + rows + "x" + w.kept());
        List<String> names = cols.stream().map(c -> comps.get(c).name()).toList();
        return new GroundTruth(run, m, sha, cfg, comps, probe, nSeq, T, cols.stream().mapToInt(Integer::intValue).toArray(), names,
                new Vectors(x, rows, h), w, white, tf);
    }

    /** χ of another run (a replicate) for the same tokens and columns; refused when it is not the same probe set and components. */
    public Vectors replicateChi(Path other) {
        JsonNode o = manifest(other);
        for (String k : new String[]{"modelSha256", "probeShape", "components", "dataSha256"})
            if (o.has(k) != manifest.has(k) || (o.has(k) && !o.get(k).equals(manifest.get(k))))
                throw new SpectroException(other + ": is not a replicate of " + run + " (" + k + " differs)");
        Npy.Floats f = Npy.readFloats(other.resolve("chi.npy"));
        int rows = rows(), H = components.size(), h = columns.length;
        if (f.shape().length != 2 || f.dim(0) != rows || f.dim(1) != H)
            throw new SpectroException(other.resolve("chi.npy") + ": shape " + java.util.Arrays.toString(f.shape()) + ", expected " + rows + "x" + H);
        float[] x = new float[rows * h];
        for (int r = 0; r < rows; r++) for (int j = 0; j < h; j++) x[r * h + j] = f.data()[r * H + columns[j]];
        Vectors v = new Vectors(x, rows, h);
        v.requireFinite(other.resolve("chi.npy") + " (the run's columns)");
        return v;
    }
}
