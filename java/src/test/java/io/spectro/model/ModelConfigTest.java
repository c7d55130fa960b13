package io.spectro.model;

import io.spectro.SpectroException;
import io.spectro.cli.InfoCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class ModelConfigTest {
    @TempDir
    Path tmp;

    /** Published parameter counts of the Pythia suite (vocab 50304); 14m and 31m by the same formula. */
    @Test
    void presetParameterCounts() {
        assertEquals(14_067_712L, ModelConfig.preset("pythia-14m").paramCount());
        assertEquals(30_494_720L, ModelConfig.preset("pythia-31m").paramCount());
        assertEquals(70_426_624L, ModelConfig.preset("pythia-70m").paramCount());
        assertEquals(162_322_944L, ModelConfig.preset("pythia-160m").paramCount());
        assertEquals(405_334_016L, ModelConfig.preset("pythia-410m").paramCount());
        assertEquals(1_011_781_632L, ModelConfig.preset("pythia-1b").paramCount());
        assertEquals(1_414_647_808L, ModelConfig.preset("pythia-1.4b").paramCount());
        assertEquals(2_775_208_960L, ModelConfig.preset("pythia-2.8b").paramCount());
        assertEquals(165_632L, ModelConfig.preset("tiny").paramCount());
        ModelConfig p14 = ModelConfig.preset("pythia-14m");
        assertEquals(8, p14.rotaryDims());
        assertEquals(32, p14.headDim());
        assertEquals(128, ModelConfig.preset("pythia-1.4b").headDim());
        assertEquals(8192, ModelConfig.preset("pythia-1.4b").dFf());
    }

    @Test
    void componentCounts() {
        assertEquals(32, InfoCommand.defaultComponents(ModelConfig.preset("pythia-14m")).size());
        assertEquals(410, InfoCommand.defaultComponents(ModelConfig.preset("pythia-1.4b")).size());
        ModelConfig c = ModelConfig.preset("pythia-70m");
        long sum = InfoCommand.defaultComponents(c).stream().mapToLong(InfoCommand.Component::params).sum();
        long d = c.dModel();
        // everything except LayerNorms (4d per layer + 2d final) and attention.dense.bias (d per layer)
        assertEquals(c.paramCount() - c.nLayers() * 5 * d - 2 * d, sum);
    }

    @Test
    void unknownPresetNamesTheKnownOnes() {
        SpectroException e = assertThrows(SpectroException.class, () -> ModelConfig.preset("pythia-3m"));
        assertTrue(e.getMessage().contains("pythia-14m"), e.getMessage());
    }

    /** The config.json of EleutherAI/pythia-70m as published. */
    static final String PYTHIA_70M = """
            {
              "architectures": ["GPTNeoXForCausalLM"],
              "bos_token_id": 0, "classifier_dropout": 0.1, "eos_token_id": 0, "hidden_act": "gelu",
              "hidden_size": 512, "initializer_range": 0.02, "intermediate_size": 2048, "layer_norm_eps": 1e-05,
              "max_position_embeddings": 2048, "model_type": "gpt_neox", "num_attention_heads": 8,
              "num_hidden_layers": 6, "rotary_emb_base": 10000, "rotary_pct": 0.25, "tie_word_embeddings": false,
              "torch_dtype": "float16", "transformers_version": "4.24.0", "use_cache": true,
              "use_parallel_residual": true, "vocab_size": 50304
            }""";

    @Test
    void readsHfConfig() throws Exception {
        Path f = tmp.resolve("config.json");
        Files.writeString(f, PYTHIA_70M);
        assertEquals(ModelConfig.preset("pythia-70m"), ModelConfig.fromHfJson(f));
    }

    @Test
    void hfJsonRoundTrip() throws Exception {
        for (String p : ModelConfig.presetNames()) {
            ModelConfig c = ModelConfig.preset(p);
            Path f = tmp.resolve(p + ".json");
            Files.writeString(f, c.toHfJson());
            assertEquals(c, ModelConfig.fromHfJson(f), p);
            String j = Files.readString(f);
            assertTrue(j.contains("\"GPTNeoXForCausalLM\"") && j.contains("\"tie_word_embeddings\" : false")
                    && j.contains("\"layer_norm_eps\" : 1.0E-5"), j);
        }
    }

    @Test
    void rejectsUnsupportedConfigs() throws Exception {
        Path f = tmp.resolve("config.json");
        Files.writeString(f, PYTHIA_70M.replace("\"use_parallel_residual\": true", "\"use_parallel_residual\": false"));
        assertMessage(f, "use_parallel_residual");
        Files.writeString(f, PYTHIA_70M.replace("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"gelu_new\""));
        assertMessage(f, "gelu_new");
        Files.writeString(f, PYTHIA_70M.replace("\"model_type\": \"gpt_neox\"", "\"model_type\": \"llama\""));
        assertMessage(f, "llama");
        Files.writeString(f, PYTHIA_70M.replace("\"hidden_size\": 512,", ""));
        assertMessage(f, "hidden_size");
        Files.writeString(f, PYTHIA_70M.replace("\"num_attention_heads\": 8", "\"num_attention_heads\": 7"));
        assertMessage(f, "num_attention_heads");
        Files.writeString(f, "{\"vocab_size\": 50304, ");
        assertMessage(f, "not valid JSON");
        assertMessage(tmp.resolve("absent.json"), "cannot read");
    }

    private static void assertMessage(Path f, String part) {
        SpectroException e = assertThrows(SpectroException.class, () -> ModelConfig.fromHfJson(f));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    @Test
    void validatesItself() {
        assertThrows(SpectroException.class, () -> new ModelConfig(512, 64, 2, 5, 256, 4, 64, 10000f, 1e-5f));
        assertThrows(SpectroException.class, () -> new ModelConfig(512, 64, 2, 4, 256, 3, 64, 10000f, 1e-5f));
        assertThrows(SpectroException.class, () -> new ModelConfig(512, 64, 2, 4, 256, 4, 64, 10000f, 0f));
        assertThrows(SpectroException.class, () -> new ModelConfig(0, 64, 2, 4, 256, 4, 64, 10000f, 1e-5f));
    }
}
