package io.spectro.upsample;

import io.spectro.SpectroException;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.whiten.Whitening;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * An AUX directory (docs/upsampling.md): {@code aux.json} (format {@value #FORMAT}) names every other file
 * with its SHA-256 and is written last, so a directory without it is not an AUX; {@link #open} checks every
 * hash and refuses a corrupt or incomplete AUX, naming the file.
 */
public final class Aux {
    public static final String FORMAT = "spectro-aux/1";
    public static final String TRANSFORM = "transform/transform.json", MODEL = "model", RIDGE = "ridge";

    /** An opened, verified AUX. */
    public record Opened(Path dir, JsonNode json, String sha256, Whitening transform, FeatureSpec features) {
        public String modelSha256() {
            return json.get("modelSha256").asString();
        }

        /** Held-out summary of the chosen model: meanR2, meanCosine, ari, ceilingAri (null when absent). */
        public JsonNode heldout() {
            return json.get("quality").get("heldout");
        }

        public int T() {
            return json.get("sequenceLength").asInt();
        }

        public List<String> columns() {
            List<String> out = new java.util.ArrayList<>();
            for (JsonNode n : json.get("target").get("columns")) out.add(n.asString());
            return out;
        }

        /** The chosen regressor (AUX/model). */
        public Regressor regressor() {
            return Regressors.load(dir.resolve(MODEL));
        }
    }

    private Aux() {}

    public static String sha256(Path file) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read (" + IoErrors.describe(e) + ")", e);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** Every regular file under {@code dir} except aux.json and temporaries, as relative '/'-separated names. */
    static List<String> files(Path dir) {
        try (var s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).map(p -> dir.relativize(p).toString().replace('\\', '/'))
                    .filter(n -> !n.equals("aux.json") && !n.endsWith(".tmp") && !n.startsWith(".") && !n.contains("/."))
                    .sorted().toList();
        } catch (IOException e) {
            throw new SpectroException(dir + ": cannot list (" + IoErrors.describe(e) + ")", e);
        }
    }

    /** Hashes every file of {@code dir} into {@code json.files} and writes aux.json (temp + rename), last. */
    static void seal(Path dir, ObjectNode json) {
        ObjectNode files = json.putObject("files");
        for (String f : files(dir)) files.put(f, sha256(dir.resolve(f)));
        Atomic.writeString(dir.resolve("aux.json"), JsonMapper.shared().writerWithDefaultPrettyPrinter().writeValueAsString(json));
    }

    /** Opens AUX, checking format and every file's hash (exit 2 naming the file on a mismatch). */
    public static Opened open(Path dir) {
        Path f = dir.resolve("aux.json");
        if (!Files.isDirectory(dir)) throw new SpectroException(dir + ": no such AUX directory");
        if (!Files.isRegularFile(f)) throw new SpectroException(dir + ": holds no aux.json (not an AUX, or its fit did not finish)");
        JsonNode j;
        try {
            j = JsonMapper.shared().readTree(f.toFile());
        } catch (JacksonException e) {
            throw new SpectroException(f + ": corrupt AUX (not JSON: " + e.getOriginalMessage() + ")");
        }
        if (j == null || !j.has("format") || !FORMAT.equals(j.get("format").asString()))
            throw new SpectroException(f + ": not a " + FORMAT + " file");
        for (String k : new String[]{"modelSha256", "files", "features", "target", "quality", "sequenceLength", "components", "config"})
            if (!j.has(k)) throw new SpectroException(f + ": corrupt AUX (field \"" + k + "\" missing)");
        Map<String, String> listed = new TreeMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = j.get("files").properties().iterator();
        while (it.hasNext()) {
            var e = it.next();
            listed.put(e.getKey(), e.getValue().asString());
        }
        for (String need : new String[]{TRANSFORM, MODEL + "/regressor.json"})
            if (!listed.containsKey(need)) throw new SpectroException(f + ": corrupt AUX (lists no " + need + ")");
        for (var e : listed.entrySet()) {
            Path p = dir.resolve(e.getKey()).normalize();
            if (!p.startsWith(dir.normalize())) throw new SpectroException(f + ": corrupt AUX (file name " + e.getKey() + " leaves the directory)");
            if (!Files.isRegularFile(p)) throw new SpectroException(p + ": missing from the AUX (aux.json lists it)");
            String have = sha256(p);
            if (!have.equals(e.getValue()))
                throw new SpectroException(p + ": corrupt AUX file (sha256 " + have.substring(0, 12) + "... differs from aux.json's "
                        + e.getValue().substring(0, Math.min(12, e.getValue().length())) + "...)");
        }
        JsonNode fs = j.get("features");
        FeatureSpec spec = FeatureSpec.parse(fs.get("spec").asString(), fs.get("h").asDouble(), fs.get("seed").asLong());
        Whitening w = Whitening.load(dir.resolve(TRANSFORM));
        return new Opened(dir, j, sha256(f), w, spec);
    }
}
