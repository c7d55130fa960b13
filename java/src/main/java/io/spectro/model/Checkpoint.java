package io.spectro.model;

import io.spectro.io.IoErrors;
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
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A GPT-NeoX checkpoint in Hugging Face layout: its config and its safetensors files, memory-mapped
 * once and validated at {@link #open}, read on demand. {@link #forEachTensor} hands out each
 * canonical tensor's raw mapped bytes (NativeModel.load(Checkpoint) converts them straight into the
 * backend's parameters, so no float32 copy of the model exists on the Java side); {@link #params()}
 * converts the whole model into one flat float32 off-heap buffer in the canonical order of spectro.h,
 * for the callers that need the numbers in Java. Accepted layouts (see docs/checkpoints.md):
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
    private final Map<Path, SafeTensors> files;
    private final Map<String, SafeTensors> where;
    private final Arena arena = Arena.ofShared();
    private MemorySegment params; // made by params() on first use

    /** One canonical tensor as stored: its layout entry, safetensors dtype (F32, F16, BF16) and raw little-endian bytes. */
    public record Source(ParamLayout.Tensor tensor, String dtype, MemorySegment data) {}

    private Checkpoint(Path root, ModelConfig config, Path tokenizerJson, Map<Path, SafeTensors> files,
                       Map<String, SafeTensors> where) {
        this.root = root;
        this.config = config;
        this.layout = ParamLayout.of(config);
        this.tokenizerJson = tokenizerJson;
        this.files = files;
        this.where = where;
    }

    /**
     * Opens and validates a checkpoint folder (see the class comment for accepted layouts): maps its
     * safetensors files and checks names, shapes and dtypes; tensor data is read later, on demand.
     */
    public static Checkpoint open(Path dir) {
        Path root = resolve(dir);
        ModelConfig config = ModelConfig.fromHfJson(root.resolve("config.json"));
        ParamLayout layout = ParamLayout.of(config);
        Map<Path, SafeTensors> files = openAll(root);
        try {
            Map<String, SafeTensors> where = validate(root, layout, files);
            Path tok = root.resolve("tokenizer.json");
            return new Checkpoint(root, config, Files.isRegularFile(tok) ? tok : null, files, where);
        } catch (RuntimeException e) {
            files.values().forEach(SafeTensors::close);
            throw e;
        }
    }

    /**
     * Hands every canonical tensor, in canonical order, to {@code action} as a slice of the mapped file
     * (valid only during the call). Once a tensor is done its pages are dropped from this process's
     * resident set (the page cache keeps them), so a pass over the model never holds the whole file
     * resident on top of what the consumer allocates.
     */
    public void forEachTensor(Consumer<Source> action) {
        checkOpen();
        for (ParamLayout.Tensor t : layout.tensors()) {
            SafeTensors st = where.get(t.name());
            MemorySegment raw = st.raw(t.name());
            action.accept(new Source(t, st.entry(t.name()).dtype(), raw));
            if (raw.isMapped() && raw.byteSize() > 0) raw.unload();
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
                    throw new SpectroException(ref + ": cannot read (" + IoErrors.describe(e) + ")", e);
                }
                Path snap = snaps.resolve(rev);
                if (!rev.isEmpty() && !rev.contains("/") && Files.isDirectory(snap)) return snap;
                throw new SpectroException(ref + ": names revision '" + rev + "' but " + snap + " does not exist");
            }
            List<Path> all;
            try (Stream<Path> s = Files.list(snaps)) {
                all = s.filter(Files::isDirectory).sorted().toList();
            } catch (IOException e) {
                throw new SpectroException(snaps + ": cannot list (" + IoErrors.describe(e) + ")", e);
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
                throw new SpectroException(index + ": cannot read (" + IoErrors.describe(e) + ")", e);
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
        // both atomically, config.json (what marks a checkpoint folder) last
        SafeTensors.write(dir.resolve("model.safetensors"), outs, dt);
        io.spectro.io.Atomic.writeString(dir.resolve("config.json"), c.toHfJson(switch (dt) {
            case "F32" -> "float32";
            case "BF16" -> "bfloat16";
            default -> "float16";
        }));
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

    /**
     * Streams the float32 parameters in canonical order through {@code buffer} (native order, at most
     * buffer.byteSize() / 4 floats at a time): {@code sink} gets each filled prefix of it in turn, so the
     * whole sequence equals {@link #params()} without a float32 copy of the model.
     */
    public void forEachFloat32(MemorySegment buffer, Consumer<MemorySegment> sink) {
        long cap = buffer.byteSize() / 4;
        if (cap < 1) throw new IllegalArgumentException("buffer holds no float");
        forEachTensor(src -> {
            String name = src.tensor().name();
            long n = src.tensor().numel();
            for (long i = 0; i < n; i += cap) {
                long k = Math.min(cap, n - i);
                where.get(name).readFloat32(name, i, k, buffer, 0);
                sink.accept(buffer.asSlice(0, 4 * k));
            }
        });
    }

    /**
     * The flat float32 parameters in canonical order (valid until {@link #close}): converted from the
     * mapped files on the first call (a float32 copy of the whole model in off-heap memory). To load a
     * native model, NativeModel.load(Checkpoint) needs no such copy.
     */
    public synchronized MemorySegment params() {
        checkOpen();
        if (params == null) {
            MemorySegment p;
            try {
                p = arena.allocate(4 * layout.total(), 64);
            } catch (OutOfMemoryError e) {
                throw new SpectroException(root + ": not enough memory for " + layout.total() + " float32 parameters ("
                        + e.getMessage() + ")", e);
            }
            forEachTensor(src -> where.get(src.tensor().name()).readFloat32(src.tensor().name(), p, 4 * src.tensor().offset()));
            params = p;
        }
        return params;
    }

    private void checkOpen() {
        if (!arena.scope().isAlive()) throw new IllegalStateException("checkpoint " + root + " is closed");
    }

    @Override
    public synchronized void close() {
        if (!arena.scope().isAlive()) return;
        arena.close();
        files.values().forEach(SafeTensors::close);
    }
}
