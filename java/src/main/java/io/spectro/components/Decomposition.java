package io.spectro.components;

import io.spectro.io.IoErrors;
import io.spectro.SpectroException;
import io.spectro.model.Block;
import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits a model's parameters into components (the columns of chi).
 *
 * <p>Built-in decompositions:
 * <ul>
 *   <li>{@code default}: {@code embed}, then per layer every head {@code l{L}h{H}} followed by
 *       {@code l{L}mlp}, then {@code unembed}: H = L*heads + L + 2 (410 for Pythia-1.4B);</li>
 *   <li>{@code layer}: {@code embed}, {@code l{L}attn} and {@code l{L}mlp} per layer, {@code unembed};</li>
 *   <li>{@code qkv}: like default but each head split into {@code l{L}h{H}q}, {@code k}, {@code v}
 *       and {@code o} (its columns of attention.dense).</li>
 * </ul>
 * A spec file gives any other split, one component per line: {@code name: part part ...}, with
 * parts {@code head(L,H) q(L,H) k(L,H) v(L,H) o(L,H) attn(L) mlp(L) layer(L) embed unembed};
 * {@code #} starts a comment. A part names the exact slices of method.md section 1; {@code attn(L)}
 * is all heads of layer L, {@code layer(L)} is attn + mlp (LayerNorms and attention.dense.bias belong
 * to no component, as in the default).
 */
public final class Decomposition {
    private static final Pattern LINE = Pattern.compile("\\s*([A-Za-z0-9_.\\-]+)\\s*:\\s*(.+)");
    private static final Pattern PART = Pattern.compile("(head|q|k|v|o|attn|mlp|layer|embed|unembed)(?:\\((\\d+)(?:\\s*,\\s*(\\d+))?\\))?");

    private final ModelConfig cfg;
    private final ParamLayout layout;

    private Decomposition(ModelConfig cfg) {
        this.cfg = cfg;
        this.layout = ParamLayout.of(cfg);
    }

    /** A built-in name ({@code default}, {@code layer}, {@code qkv}) or the path of a spec file. */
    public static List<Component> resolve(ModelConfig cfg, String nameOrFile) {
        Decomposition d = new Decomposition(cfg);
        return switch (nameOrFile) {
            case "default", "head" -> d.standard(false);
            case "qkv" -> d.standard(true);
            case "layer" -> d.perLayer();
            default -> d.fromFile(Path.of(nameOrFile));
        };
    }

    /** Every parameter of the model as one component (the unrestricted "full" run). */
    public static Component full(ModelConfig cfg) {
        long total = ParamLayout.of(cfg).total();
        return new Component("full", List.of(new Block(0, 1, total, total)), 0);
    }

    private List<Component> standard(boolean splitQkv) {
        List<Component> out = new ArrayList<>();
        out.add(embed());
        for (int l = 0; l < cfg.nLayers(); l++) {
            for (int h = 0; h < cfg.nHeads(); h++) {
                if (splitQkv) {
                    for (String p : new String[]{"q", "k", "v", "o"})
                        out.add(new Component("l" + l + "h" + h + p, part(p, l, h), l));
                } else {
                    out.add(new Component("l" + l + "h" + h, head(l, h), l));
                }
            }
            out.add(new Component("l" + l + "mlp", mlp(l), l));
        }
        out.add(unembed());
        return out;
    }

    private List<Component> perLayer() {
        List<Component> out = new ArrayList<>();
        out.add(embed());
        for (int l = 0; l < cfg.nLayers(); l++) {
            out.add(new Component("l" + l + "attn", attn(l), l));
            out.add(new Component("l" + l + "mlp", mlp(l), l));
        }
        out.add(unembed());
        return out;
    }

    private List<Component> fromFile(Path file) {
        if (!Files.isRegularFile(file))
            throw new SpectroException("--components: '" + file + "' is neither a built-in decomposition (default, layer, qkv) nor a readable spec file");
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read (" + IoErrors.describe(e) + ")", e);
        }
        Map<String, Component> out = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).replaceAll("#.*", "").strip();
            if (line.isEmpty()) continue;
            String where = file + ":" + (i + 1) + ": ";
            Matcher m = LINE.matcher(line);
            if (!m.matches()) throw new SpectroException(where + "expected 'name: part part ...', got '" + line + "'");
            String name = m.group(1);
            if (out.containsKey(name)) throw new SpectroException(where + "component '" + name + "' defined twice");
            List<Overlaps.Part> blocks = new ArrayList<>();
            int lowest = Integer.MAX_VALUE;
            for (String tok : m.group(2).trim().split("\\s*\\+\\s*|\\s+")) {
                Matcher p = PART.matcher(tok);
                if (!p.matches()) throw new SpectroException(where + "unknown part '" + tok + "' (parts: head(L,H) q(L,H) k(L,H) v(L,H) o(L,H) attn(L) mlp(L) layer(L) embed unembed)");
                String kind = p.group(1);
                boolean needsLayer = !kind.equals("embed") && !kind.equals("unembed");
                boolean needsHead = kind.equals("head") || kind.length() == 1;
                if (needsLayer != (p.group(2) != null) || needsHead != (p.group(3) != null))
                    throw new SpectroException(where + "part '" + tok + "' has the wrong number of arguments");
                int l = needsLayer ? index(p.group(2), where + "layer", cfg.nLayers()) : 0;
                int h = needsHead ? index(p.group(3), where + "head", cfg.nHeads()) : 0;
                List<Block> add = new ArrayList<>();
                switch (kind) {
                    case "embed" -> { add.addAll(embed().blocks()); lowest = 0; }
                    case "unembed" -> { add.addAll(unembed().blocks()); lowest = Math.min(lowest, cfg.nLayers()); }
                    case "head" -> { add.addAll(head(l, h)); lowest = Math.min(lowest, l); }
                    case "attn" -> { add.addAll(attn(l)); lowest = Math.min(lowest, l); }
                    case "mlp" -> { add.addAll(mlp(l)); lowest = Math.min(lowest, l); }
                    case "layer" -> { add.addAll(attn(l)); add.addAll(mlp(l)); lowest = Math.min(lowest, l); }
                    default -> { add.addAll(part(kind, l, h)); lowest = Math.min(lowest, l); }
                }
                for (Block b : add) blocks.add(new Overlaps.Part(tok, b));
            }
            // a parameter listed twice would be updated twice per step: merge repeats, refuse partial overlaps
            out.put(name, new Component(name, Overlaps.disjoint(blocks, where + "component '" + name + "': "), lowest));
        }
        if (out.isEmpty()) throw new SpectroException(file + ": no components defined");
        return List.copyOf(out.values());
    }

    /** A layer or head number of a spec line, refused (not a NumberFormatException) when out of range. */
    private static int index(String digits, String what, int count) {
        long v;
        try {
            v = Long.parseLong(digits);
        } catch (NumberFormatException e) {
            v = Long.MAX_VALUE;
        }
        if (v >= count) throw new SpectroException(what + " " + digits + " does not exist (model has " + count + ")");
        return (int) v;
    }

    // ---- exact parameter slices of method.md section 1 ------------------------------------

    private Component embed() {
        return new Component("embed", List.of(whole(layout.tensor(0))), 0);
    }

    private Component unembed() {
        return new Component("unembed", List.of(whole(layout.tensor(3 + 12 * cfg.nLayers()))), cfg.nLayers());
    }

    private static Block whole(ParamLayout.Tensor t) {
        long cols = t.shape().length == 2 ? t.shape()[1] : t.shape()[0];
        long rows = t.numel() / cols;
        return new Block(t.offset(), rows, cols, cols);
    }

    /** Head h of layer l: its q,k,v rows of query_key_value (weight and bias), its hd input columns of attention.dense.weight. */
    private List<Block> head(int l, int h) {
        int d = cfg.dModel(), hd = cfg.headDim();
        int base = 1 + 12 * l;
        long qkvW = layout.tensor(base + 4).offset(), qkvB = layout.tensor(base + 5).offset();
        long dense = layout.tensor(base + 6).offset();
        return List.of(
                new Block(qkvW + (long) h * 3 * hd * d, 3L * hd, d, d),
                new Block(qkvB + (long) h * 3 * hd, 1, 3L * hd, 3L * hd),
                new Block(dense + (long) h * hd, d, hd, d));
    }

    /** q, k or v rows of head h (weight and bias), or o: the head's columns of attention.dense.weight. */
    private List<Block> part(String p, int l, int h) {
        int d = cfg.dModel(), hd = cfg.headDim();
        int base = 1 + 12 * l;
        if (p.equals("o")) return List.of(new Block(layout.tensor(base + 6).offset() + (long) h * hd, d, hd, d));
        int which = switch (p) { case "q" -> 0; case "k" -> 1; default -> 2; };
        long row = (long) h * 3 * hd + (long) which * hd;
        return List.of(
                new Block(layout.tensor(base + 4).offset() + row * d, hd, d, d),
                new Block(layout.tensor(base + 5).offset() + row, 1, hd, hd));
    }

    private List<Block> attn(int l) {
        List<Block> out = new ArrayList<>();
        for (int h = 0; h < cfg.nHeads(); h++) out.addAll(head(l, h));
        return out;
    }

    /** Both MLP matrices and their biases. */
    private List<Block> mlp(int l) {
        int base = 1 + 12 * l;
        return List.of(whole(layout.tensor(base + 8)), whole(layout.tensor(base + 9)),
                whole(layout.tensor(base + 10)), whole(layout.tensor(base + 11)));
    }
}
