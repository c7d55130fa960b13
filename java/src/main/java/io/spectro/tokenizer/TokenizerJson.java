package io.spectro.tokenizer;

import io.spectro.io.IoErrors;
import io.spectro.SpectroException;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/** Reads and writes the Hugging Face tokenizer.json format (the byte-level BPE subset). */
final class TokenizerJson {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private TokenizerJson() {}

    static Tokenizer read(Path file) {
        JsonNode root;
        try {
            byte[] bytes = Files.readAllBytes(file);
            if (bytes.length == 0) throw bad(file, "file is empty");
            root = MAPPER.readTree(bytes);
        } catch (NoSuchFileException e) {
            throw new SpectroException(file + ": tokenizer file not found");
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read tokenizer (" + IoErrors.describe(e) + ")", e);
        } catch (JacksonException e) {
            throw new SpectroException(file + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
        }
        if (root == null || !root.isObject()) throw bad(file, "top level is not a JSON object");
        try {
            return parse(root, file);
        } catch (IllegalStateException e) {
            throw bad(file, e.getMessage());
        }
    }

    private static Tokenizer parse(JsonNode root, Path file) {
        JsonNode model = root.get("model");
        if (model == null || !model.isObject()) throw bad(file, "no \"model\" object");
        String type = text(model.get("type"));
        if (type != null && !type.equals("BPE"))
            throw bad(file, "model type \"" + type + "\" is not supported (only BPE)");
        JsonNode dropout = model.get("dropout");
        if (dropout != null && !dropout.isNull() && dropout.asDouble() != 0.0)
            throw bad(file, "BPE dropout " + dropout + " is not supported (encoding must be deterministic)");
        for (String f : new String[]{"continuing_subword_prefix", "end_of_word_suffix"}) {
            String v = text(model.get(f));
            if (v != null && !v.isEmpty()) throw bad(file, "BPE option " + f + " is not supported");
        }
        if (model.path("byte_fallback").asBoolean(false)) throw bad(file, "BPE byte_fallback is not supported");

        JsonNode v = model.get("vocab");
        if (v == null || !v.isObject() || v.isEmpty()) throw bad(file, "model.vocab is missing or not a non-empty object");
        Map<String, Integer> vocab = new LinkedHashMap<>(v.size() * 2);
        for (var e : v.properties()) {
            if (!e.getValue().isIntegralNumber() || !e.getValue().canConvertToInt() || e.getValue().asInt() < 0)
                throw bad(file, "model.vocab entry \"" + e.getKey() + "\" has id " + e.getValue() + ", not a non-negative integer");
            vocab.put(e.getKey(), e.getValue().asInt());
        }
        JsonNode m = model.get("merges");
        if (m == null || !m.isArray()) throw bad(file, "model.merges is missing or not an array");
        List<String[]> merges = new ArrayList<>(m.size());
        for (int i = 0; i < m.size(); i++) {
            JsonNode e = m.get(i);
            String[] pair;
            if (e.isString()) {
                String s = e.stringValue();
                int sp = s.indexOf(' ');
                if (sp <= 0 || sp == s.length() - 1 || s.indexOf(' ', sp + 1) >= 0)
                    throw bad(file, "model.merges[" + i + "] = \"" + s + "\" is not two tokens separated by one space");
                pair = new String[]{s.substring(0, sp), s.substring(sp + 1)};
            } else if (e.isArray() && e.size() == 2 && e.get(0).isString() && e.get(1).isString()) {
                pair = new String[]{e.get(0).stringValue(), e.get(1).stringValue()};
            } else {
                throw bad(file, "model.merges[" + i + "] is neither \"a b\" nor [\"a\", \"b\"]");
            }
            merges.add(pair);
        }
        int unkId = -1;
        String unk = text(model.get("unk_token"));
        if (unk != null) {
            Integer u = vocab.get(unk);
            if (u == null) throw bad(file, "unk_token \"" + unk + "\" is not in the vocabulary");
            unkId = u;
        }
        boolean ignoreMerges = model.path("ignore_merges").asBoolean(false);

        List<AddedTokens.Token> added = new ArrayList<>();
        JsonNode at = root.get("added_tokens");
        if (at != null && !at.isNull()) {
            if (!at.isArray()) throw bad(file, "added_tokens is not an array");
            for (int i = 0; i < at.size(); i++) {
                JsonNode t = at.get(i);
                JsonNode id = t.get("id");
                String content = text(t.get("content"));
                if (id == null || !id.canConvertToInt() || id.asInt() < 0 || content == null)
                    throw bad(file, "added_tokens[" + i + "] needs a non-negative integer \"id\" and a string \"content\"");
                boolean special = t.path("special").asBoolean(false);
                added.add(new AddedTokens.Token(id.asInt(), content, special,
                        t.path("single_word").asBoolean(false), t.path("lstrip").asBoolean(false),
                        t.path("rstrip").asBoolean(false), t.path("normalized").asBoolean(!special)));
            }
        }

        String normName = null;
        UnaryOperator<String> norm = UnaryOperator.identity();
        JsonNode n = root.get("normalizer");
        if (n != null && !n.isNull()) {
            List<String> steps = new ArrayList<>();
            String nt = text(n.get("type"));
            if ("Sequence".equals(nt)) {
                for (JsonNode s : n.path("normalizers")) steps.add(text(s.get("type")));
            } else steps.add(nt);
            for (String s : steps) {
                UnaryOperator<String> f = s == null ? null : Tokenizer.normalizerFor(s);
                if (f == null) throw bad(file, "normalizer " + (s == null ? n : "\"" + s + "\"") + " is not supported (NFC, NFD, NFKC, NFKD or a Sequence of them)");
                UnaryOperator<String> prev = norm;
                norm = x -> f.apply(prev.apply(x));
            }
            normName = String.join("+", steps);
        }

        JsonNode pre = root.get("pre_tokenizer");
        if (pre == null || pre.isNull() || !"ByteLevel".equals(text(pre.get("type"))))
            throw bad(file, "pre_tokenizer " + (pre == null ? "missing" : pre.toString()) + " is not supported (expected ByteLevel)");
        boolean addPrefixSpace = pre.path("add_prefix_space").asBoolean(true);
        boolean trimOffsets = pre.path("trim_offsets").asBoolean(true);
        boolean useRegex = pre.path("use_regex").asBoolean(true);
        JsonNode dec = root.get("decoder");
        if (dec != null && !dec.isNull() && !"ByteLevel".equals(text(dec.get("type"))))
            throw bad(file, "decoder " + dec + " is not supported (expected ByteLevel)");
        try {
            return new Tokenizer(vocab, merges, added, norm, normName, addPrefixSpace, trimOffsets, useRegex,
                    unkId, ignoreMerges, file.toString());
        } catch (IllegalStateException e) {
            throw bad(file, e.getMessage());
        }
    }

    private static String text(JsonNode n) {
        return n == null || !n.isString() ? null : n.stringValue();
    }

    private static SpectroException bad(Path file, String what) {
        return new SpectroException(file + ": malformed tokenizer: " + what);
    }

    static void write(Tokenizer t, Path file) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode at = root.putArray("added_tokens");
        for (AddedTokens.Token a : t.added) {
            ObjectNode o = at.addObject();
            o.put("id", a.id());
            o.put("content", a.content());
            o.put("single_word", a.singleWord());
            o.put("lstrip", a.lstrip());
            o.put("rstrip", a.rstrip());
            o.put("normalized", a.normalized());
            o.put("special", a.special());
        }
        if (t.normalizerName == null) root.putNull("normalizer");
        else if (!t.normalizerName.contains("+")) root.putObject("normalizer").put("type", t.normalizerName);
        else {
            ObjectNode seq = root.putObject("normalizer");
            seq.put("type", "Sequence");
            ArrayNode arr = seq.putArray("normalizers");
            for (String s : t.normalizerName.split("\\+")) arr.addObject().put("type", s);
        }
        for (String k : new String[]{"pre_tokenizer", "post_processor", "decoder"}) {
            ObjectNode o = root.putObject(k);
            o.put("type", "ByteLevel");
            o.put("add_prefix_space", t.addPrefixSpace);
            o.put("trim_offsets", t.trimOffsets);
            o.put("use_regex", t.useRegex);
        }
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        ObjectNode vocab = model.putObject("vocab");
        for (var e : t.vocab.entrySet()) vocab.put(e.getKey(), e.getValue());
        ArrayNode merges = model.putArray("merges");
        for (String[] m : t.merges) merges.add(m[0] + " " + m[1]);
        try {
            io.spectro.io.Atomic.writeString(file, MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        } catch (JacksonException e) {
            throw new SpectroException(file + ": cannot write tokenizer (" + IoErrors.describe(e) + ")", e);
        }
    }
}
