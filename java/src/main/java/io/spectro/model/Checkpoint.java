package io.spectro.model;

import io.spectro.SpectroException;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A GPT-NeoX checkpoint in Hugging Face layout, loaded into one flat float32 off-heap buffer in the
 * canonical order of spectro.h. Accepted layouts (see docs/checkpoints.md):
 * <ul>
 *   <li>a directory with {@code config.json} + {@code model.safetensors};</li>
 *   <li>a directory with {@code config.json} + {@code model.safetensors.index.json} (sharded, "weight_map");</li>
 *   <li>a Hugging Face cache folder {@code models--Org--name} (refs/main -> snapshots/REV, else its only snapshot).</li>
 * </ul>
 * Tensors may be F32, F16 or BF16. Pickle checkpoints (pytorch_model.bin, *.pt) are refused with the
 * command that converts them.
 */
public final class Checkpoint implements AutoCloseable {
    /** HF buffers that are not parameters: tolerated in the file and ignored. */
    private static final Pattern IGNORED = Pattern.compile(
            "(gpt_neox\\.)?(layers\\.\\d+\\.attention\\.(bias|masked_bias|rotary_emb\\.inv_freq)|rotary_emb\\.inv_freq)");

    static final String CONVERT_HINT = "convert it to safetensors first, e.g. python -c \"from transformers import "
            + "AutoModelForCausalLM as M; M.from_pretrained('DIR').save_pretrained('OUT', safe_serialization=True)\" "
            + "(then copy tokenizer.json into OUT)";

    /** What {@link #inspect} finds without reading tensor data: the resolved folder, config, files, dtypes. */
    public record Info(Path root, ModelConfig config, List<Path> files, Map<String, String> dtypes, Path tokenizerJson) {}

    private final Path root;
    private final ModelConfig config;
    private final ParamLayout layout;
    private final Path tokenizerJson;
    private final Arena arena;
    private final MemorySegment params;

    private Checkpoint(Path root, ModelConfig config, Path tokenizerJson, Arena arena, MemorySegment params) {
        this.root = root;
        this.config = config;
        this.layout = ParamLayout.of(config);
        this.tokenizerJson = tokenizerJson;
        this.arena = arena;
        this.params = params;
    }

    /** Opens, validates and loads a checkpoint folder (see the class comment for accepted layouts). */
    public static Checkpoint open(Path dir) {
        Path root = resolve(dir);
        ModelConfig config = ModelConfig.fromHfJson(root.resolve("config.json"));
        ParamLayout layout = ParamLayout.of(config);
        Map<Path, SafeTensors> files = openAll(root);
        Arena arena = Arena.ofShared();
        try {
            Map<String, SafeTensors> where = validate(root, layout, files);
            MemorySegment params = arena.allocate(4 * layout.total(), 64);
            for (ParamLayout.Tensor t : layout.tensors()) where.get(t.name()).readFloat32(t.name(), params, 4 * t.offset());
            Path tok = root.resolve("tokenizer.json");
            return new Checkpoint(root, config, Files.isRegularFile(tok) ? tok : null, arena, params);
        } catch (RuntimeException | OutOfMemoryError e) {
            arena.close();
            throw e instanceof OutOfMemoryError ? new SpectroException(root + ": not enough memory for "
                    + layout.total() + " float32 parameters (" + e.getMessage() + ")", e) : (RuntimeException) e;
        } finally {
            files.values().forEach(SafeTensors::close);
        }
    }

    /** Validates a checkpoint folder like {@link #open} (config, headers, names, shapes) without loading the data. */
    public static Info inspect(Path dir) {
        Path root = resolve(dir);
        ModelConfig config = ModelConfig.fromHfJson(root.resolve("config.json"));
        Map<Path, SafeTensors> files = openAll(root);
        try {
            Map<String, SafeTensors> where = validate(root, ParamLayout.of(config), files);
            Map<String, String> dtypes = new LinkedHashMap<>();
            where.forEach((name, st) -> dtypes.put(name, st.entry(name).dtype()));
            Path tok = root.resolve("tokenizer.json");
            return new Info(root, config, List.copyOf(files.keySet()), dtypes, Files.isRegularFile(tok) ? tok : null);
        } finally {
            files.values().forEach(SafeTensors::close);
        }
    }

    /**
     * The folder holding config.json: {@code dir} itself, or for a Hugging Face cache folder
     * ({@code models--Org--name}, or any folder with a snapshots/ subfolder) the snapshot that
     * refs/main names, else its only snapshot.
     */
    public static Path resolve(Path dir) {
        if (!Files.exists(dir)) throw new SpectroException(dir + ": no such checkpoint folder");
        if (!Files.isDirectory(dir)) throw new SpectroException(dir + ": is a file; give the checkpoint folder (with config.json)");
        Path snaps = dir.resolve("snapshots");
        if (!Files.isRegularFile(dir.resolve("config.json")) && Files.isDirectory(snaps)) {
            Path ref = dir.resolve("refs").resolve("main");
            if (Files.isRegularFile(ref)) {
                String rev;
                try {
                    rev = Files.readString(ref).strip();
                } catch (IOException e) {
                    throw new SpectroException(ref + ": cannot read (" + e.getMessage() + ")", e);
                }
                Path snap = snaps.resolve(rev);
                if (!rev.isEmpty() && !rev.contains("/") && Files.isDirectory(snap)) return snap;
                throw new SpectroException(ref + ": names revision '" + rev + "' but " + snap + " does not exist");
            }
            List<Path> all;
            try (Stream<Path> s = Files.list(snaps)) {
                all = s.filter(Files::isDirectory).sorted().toList();
            } catch (IOException e) {
                throw new SpectroException(snaps + ": cannot list (" + e.getMessage() + ")", e);
            }
            if (all.size() == 1) return all.getFirst();
            throw new SpectroException(dir + ": Hugging Face cache folder without refs/main and with " + all.size()
                    + " snapshots " + all.stream().map(p -> p.getFileName().toString()).toList()
                    + "; give the snapshot folder itself");
        }
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            String what = pickleFiles(dir).isEmpty() ? "" : " (it holds pickle weights; " + CONVERT_HINT.replace("DIR", dir.toString()) + ")";
            throw new SpectroException(dir + ": no config.json in this folder" + what);
        }
        return dir;
    }

    private static List<String> pickleFiles(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".bin") || n.endsWith(".pt") || n.endsWith(".pth") || n.endsWith(".ckpt")
                            || n.equals("pytorch_model.bin.index.json"))
                    .sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /** Opens model.safetensors, or every shard of model.safetensors.index.json. */
    private static Map<Path, SafeTensors> openAll(Path root) {
        Path single = root.resolve("model.safetensors");
        Path index = root.resolve("model.safetensors.index.json");
        List<Path> paths = new ArrayList<>();
        if (Files.isRegularFile(single)) {
            paths.add(single);
        } else if (Files.isRegularFile(index)) {
            JsonNode n;
            try {
                n = ModelConfig.JSON.readTree(Files.readAllBytes(index));
            } catch (IOException e) {
                throw new SpectroException(index + ": cannot read (" + e.getMessage() + ")", e);
            } catch (JacksonException e) {
                throw new SpectroException(index + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
            }
            JsonNode map = n == null ? null : n.get("weight_map");
            if (map == null || !map.isObject()) throw new SpectroException(index + ": no \"weight_map\" object");
            for (Map.Entry<String, JsonNode> e : map.properties()) {
                String f = e.getValue().asString("");
                if (f.isEmpty() || f.contains("/") || f.contains("\\"))
                    throw new SpectroException(index + ": tensor '" + e.getKey() + "' maps to a bad shard name '" + f + "'");
                Path p = root.resolve(f);
                if (!paths.contains(p)) {
                    if (!Files.isRegularFile(p))
                        throw new SpectroException(index + ": shard " + f + " (of tensor '" + e.getKey() + "') is missing");
                    paths.add(p);
                }
            }
        } else {
            List<String> pickles = pickleFiles(root);
            if (!pickles.isEmpty())
                throw new SpectroException(root + ": only pickle weights " + pickles + " and no model.safetensors; spectro reads "
                        + "safetensors only (pickle files can run code); " + CONVERT_HINT.replace("DIR", root.toString()));
            throw new SpectroException(root + ": no model.safetensors or model.safetensors.index.json");
        }
        Map<Path, SafeTensors> out = new LinkedHashMap<>();
        try {
            for (Path p : paths) out.put(p, SafeTensors.open(p));
        } catch (RuntimeException e) {
            out.values().forEach(SafeTensors::close);
            throw e;
        }
        return out;
    }

    /** Checks names, shapes and dtypes against the layout; returns which file holds each canonical tensor. */
    private static Map<String, SafeTensors> validate(Path root, ParamLayout layout, Map<Path, SafeTensors> files) {
        Map<String, SafeTensors> where = new LinkedHashMap<>();
        List<String> unexpected = new ArrayList<>();
        for (SafeTensors st : files.values()) {
            for (SafeTensors.Entry e : st.entries().values()) {
                ParamLayout.Tensor t = layout.find(e.name());
                if (t == null) {
                    if (!IGNORED.matcher(e.name()).matches()) unexpected.add(e.name());
                    continue;
                }
                SafeTensors prev = where.put(e.name(), st);
                if (prev != null)
                    throw new SpectroException(st.file() + ": tensor '" + e.name() + "' also appears in " + prev.file());
                if (!java.util.Arrays.equals(e.shape(), t.shape()))
                    throw new SpectroException(st.file() + ": tensor '" + e.name() + "' has shape " + e.shapeString()
                            + ", expected " + t.shapeString() + " from " + root.resolve("config.json"));
                if (!SafeTensors.isFloatDtype(e.dtype()))
                    throw new SpectroException(st.file() + ": tensor '" + e.name() + "' has dtype " + e.dtype()
                            + "; only F32, F16 and BF16 are supported");
            }
        }
        String files0 = files.size() == 1 ? files.keySet().iterator().next().toString() : root + " (" + files.size() + " shards)";
        if (!unexpected.isEmpty())
            throw new SpectroException(files0 + ": " + unexpected.size() + " tensor(s) that a GPT-NeoX model with this config.json"
                    + " does not have, e.g. " + unexpected.subList(0, Math.min(5, unexpected.size()))
                    + " (wrong config.json or not a GPT-NeoX checkpoint?)");
        for (ParamLayout.Tensor t : layout.tensors())
            if (!where.containsKey(t.name()))
                throw new SpectroException(files0 + ": missing tensor '" + t.name() + "' (expected shape " + t.shapeString() + ")");
        return where;
    }

    /** Writes config.json and model.safetensors (dtype f32, bf16 or f16) into {@code dir}. */
    public static void write(Path dir, ModelConfig c, MemorySegment params, String dtype) {
        ParamLayout layout = ParamLayout.of(c);
        if (params.byteSize() != 4 * layout.total())
            throw new IllegalArgumentException("params hold " + params.byteSize() / 4 + " floats, config needs " + layout.total());
        String dt = SafeTensors.dtypeName(dtype);
        List<SafeTensors.Out> outs = new ArrayList<>();
        for (ParamLayout.Tensor t : layout.tensors())
            outs.add(new SafeTensors.Out(t.name(), t.shape(), params.asSlice(4 * t.offset(), 4 * t.numel())));
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), c.toHfJson(switch (dt) {
                case "F32" -> "float32";
                case "BF16" -> "bfloat16";
                default -> "float16";
            }));
        } catch (IOException e) {
            throw new SpectroException(dir + ": cannot write config.json (" + e + ")", e);
        }
        SafeTensors.write(dir.resolve("model.safetensors"), outs, dt);
    }

    /** The folder the checkpoint was read from (the snapshot folder for an HF cache). */
    public Path root() {
        return root;
    }

    public ModelConfig config() {
        return config;
    }

    public ParamLayout layout() {
        return layout;
    }

    /** tokenizer.json next to config.json, or null. */
    public Path tokenizerJson() {
        return tokenizerJson;
    }

    /** The flat float32 parameters in canonical order (valid until {@link #close}). */
    public MemorySegment params() {
        if (!arena.scope().isAlive()) throw new IllegalStateException("checkpoint " + root + " is closed");
        return params;
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
