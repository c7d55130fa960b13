package io.spectro.model;

import io.spectro.io.IoErrors;
import io.spectro.SpectroException;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The shape of a GPT-NeoX (Pythia) model, as the native ABI's {@code sp_config} sees it.
 * Validates itself on construction (positive sizes, {@code dModel % nHeads == 0}, even rotary
 * dimensions no larger than the head dimension).
 */
public record ModelConfig(int vocabSize, int dModel, int nLayers, int nHeads, int dFf,
                          int rotaryDims, int maxSeq, float rotaryBase, float lnEps) {

    static final ObjectMapper JSON = JsonMapper.builder().build();

    private static final Map<String, ModelConfig> PRESETS = new LinkedHashMap<>();

    static {
        pythia("pythia-14m", 6, 128, 4);
        pythia("pythia-31m", 6, 256, 8);
        pythia("pythia-70m", 6, 512, 8);
        pythia("pythia-160m", 12, 768, 12);
        pythia("pythia-410m", 24, 1024, 16);
        pythia("pythia-1b", 16, 2048, 8);
        pythia("pythia-1.4b", 24, 2048, 16);
        pythia("pythia-2.8b", 32, 2560, 32);
        PRESETS.put("tiny", new ModelConfig(512, 64, 2, 4, 256, 4, 64, 10000f, 1e-5f));
    }

    private static void pythia(String name, int layers, int d, int heads) {
        int hd = d / heads;
        PRESETS.put(name, new ModelConfig(50304, d, layers, heads, 4 * d, hd / 4, 2048, 10000f, 1e-5f));
    }

    public ModelConfig {
        if (vocabSize <= 0 || dModel <= 0 || nLayers <= 0 || nHeads <= 0 || dFf <= 0 || maxSeq < 2)
            throw new SpectroException("model config: sizes must be positive (vocab " + vocabSize + ", d_model " + dModel
                    + ", layers " + nLayers + ", heads " + nHeads + ", d_ff " + dFf + ", max_seq " + maxSeq + ")");
        if (dModel % nHeads != 0)
            throw new SpectroException("model config: d_model " + dModel + " is not a multiple of n_heads " + nHeads);
        int hd = dModel / nHeads;
        if (rotaryDims < 0 || rotaryDims > hd || rotaryDims % 2 != 0)
            throw new SpectroException("model config: rotary_dims " + rotaryDims + " must be even and within [0, head_dim "
                    + hd + "]");
        if (!(rotaryBase > 0) || Float.isInfinite(rotaryBase))
            throw new SpectroException("model config: rotary base " + rotaryBase + " must be a positive number");
        if (!(lnEps > 0) || Float.isInfinite(lnEps))
            throw new SpectroException("model config: layer_norm_eps " + lnEps + " must be a positive number");
    }

    public int headDim() {
        return dModel / nHeads;
    }

    /** Total number of parameters (floats of the flat buffer), equal to native sp_param_count. */
    public long paramCount() {
        long d = dModel, f = dFf, v = vocabSize;
        long perLayer = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (f * d + f) + (d * f + d);
        return 2 * v * d + nLayers * perLayer + 2 * d;
    }

    /** The names {@link #preset} accepts, in size order. */
    public static List<String> presetNames() {
        return List.copyOf(PRESETS.keySet());
    }

    /** A named Pythia shape (pythia-14m ... pythia-2.8b) or "tiny" (vocab 512, d 64, 2 layers). */
    public static ModelConfig preset(String name) {
        ModelConfig c = PRESETS.get(name.toLowerCase(Locale.ROOT).replace("eleutherai/", ""));
        if (c == null) throw new SpectroException("unknown preset '" + name + "'; known: " + String.join(", ", PRESETS.keySet()));
        return c;
    }

    /** Reads a Hugging Face GPT-NeoX config.json. */
    public static ModelConfig fromHfJson(Path configJson) {
        JsonNode n;
        try {
            n = JSON.readTree(Files.readAllBytes(configJson));
        } catch (IOException e) {
            throw new SpectroException(configJson + ": cannot read (" + IoErrors.describe(e) + ")", e);
        } catch (JacksonException e) {
            throw new SpectroException(configJson + ": not valid JSON (" + e.getOriginalMessage() + ")", e);
        }
        if (n == null || !n.isObject()) throw new SpectroException(configJson + ": expected a JSON object");
        String type = n.path("model_type").asString("");
        if (!type.isEmpty() && !type.equals("gpt_neox"))
            throw new SpectroException(configJson + ": model_type is '" + type + "', only gpt_neox (Pythia) is supported");
        if (!n.path("use_parallel_residual").asBoolean(true))
            throw new SpectroException(configJson + ": use_parallel_residual is false; spectro implements only the parallel"
                    + " residual form x + attn(ln1(x)) + mlp(ln2(x)) that Pythia uses");
        String act = n.path("hidden_act").asString("gelu");
        if (!act.equals("gelu"))
            throw new SpectroException(configJson + ": hidden_act is '" + act + "'; spectro implements only exact (erf) 'gelu'");
        if (n.path("tie_word_embeddings").asBoolean(false))
            throw new SpectroException(configJson + ": tie_word_embeddings is true; spectro needs an untied embed_out");
        if (!n.path("attention_bias").asBoolean(true))
            throw new SpectroException(configJson + ": attention_bias is false; spectro needs the query_key_value/dense biases");
        int d = intField(configJson, n, "hidden_size");
        int heads = intField(configJson, n, "num_attention_heads");
        if (heads <= 0 || d % heads != 0)
            throw new SpectroException(configJson + ": hidden_size " + d + " is not a multiple of num_attention_heads " + heads);
        JsonNode rope = n.path("rope_parameters");
        double pct = n.has("rotary_pct") ? numField(configJson, n, "rotary_pct")
                : rope.has("partial_rotary_factor") ? numField(configJson, rope, "partial_rotary_factor") : 1.0;
        double base = n.has("rotary_emb_base") ? numField(configJson, n, "rotary_emb_base")
                : n.has("rope_theta") ? numField(configJson, n, "rope_theta")
                : rope.has("rope_theta") ? numField(configJson, rope, "rope_theta") : 10000.0;
        int rotary = (int) ((d / heads) * pct);
        double eps = n.has("layer_norm_eps") ? numField(configJson, n, "layer_norm_eps") : 1e-5;
        try {
            return new ModelConfig(intField(configJson, n, "vocab_size"), d, intField(configJson, n, "num_hidden_layers"),
                    heads, intField(configJson, n, "intermediate_size"), rotary,
                    n.has("max_position_embeddings") ? intField(configJson, n, "max_position_embeddings") : 2048,
                    (float) base, (float) eps);
        } catch (SpectroException e) {
            throw new SpectroException(configJson + ": " + e.getMessage(), e);
        }
    }

    private static int intField(Path file, JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null) throw new SpectroException(file + ": missing key \"" + key + "\"");
        if (!v.isIntegralNumber() || !v.canConvertToInt())
            throw new SpectroException(file + ": \"" + key + "\" should be an integer, found " + v);
        return v.intValue();
    }

    private static double numField(Path file, JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.isNumber()) throw new SpectroException(file + ": \"" + key + "\" should be a number, found " + v);
        return v.doubleValue();
    }

    /** A config.json that Hugging Face transformers loads as GPTNeoXForCausalLM (torch_dtype float32). */
    public String toHfJson() {
        return toHfJson("float32");
    }

    /** As {@link #toHfJson()} with the given torch_dtype ("float32", "bfloat16", "float16"). */
    public String toHfJson(String torchDtype) {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("GPTNeoXForCausalLM");
        o.put("model_type", "gpt_neox");
        o.put("vocab_size", vocabSize);
        o.put("hidden_size", dModel);
        o.put("num_hidden_layers", nLayers);
        o.put("num_attention_heads", nHeads);
        o.put("intermediate_size", dFf);
        o.put("hidden_act", "gelu");
        o.put("rotary_pct", (double) rotaryDims / headDim());
        o.put("rotary_emb_base", Double.parseDouble(Float.toString(rotaryBase)));
        o.put("max_position_embeddings", maxSeq);
        o.put("layer_norm_eps", Double.parseDouble(Float.toString(lnEps)));
        o.put("use_parallel_residual", true);
        o.put("tie_word_embeddings", false);
        o.put("attention_bias", true);
        o.put("attention_dropout", 0.0);
        o.put("hidden_dropout", 0.0);
        o.put("classifier_dropout", 0.1);
        o.put("initializer_range", 0.02);
        o.put("use_cache", true);
        o.put("bos_token_id", 0);
        o.put("eos_token_id", 0);
        o.put("torch_dtype", torchDtype);
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n";
    }
}
