package io.spectro.model;

import io.spectro.SpectroException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class CheckpointTest {
    @TempDir
    Path tmp;

    static final ModelConfig TINY = ModelConfig.preset("tiny");

    static List<SafeTensors.Out> outs(ParamLayout p, MemorySegment params, int from, int to) {
        List<SafeTensors.Out> o = new ArrayList<>();
        for (int i = from; i < to; i++) {
            ParamLayout.Tensor t = p.tensor(i);
            o.add(new SafeTensors.Out(t.name(), t.shape(), params.asSlice(4 * t.offset(), 4 * t.numel())));
        }
        return o;
    }

    @Test
    void writeAndOpenAllDtypes() {
        try (Arena a = Arena.ofShared()) {
            MemorySegment w = RandomInit.init(TINY, 3, a);
            for (String dt : List.of("f32", "bf16", "f16")) {
                Path dir = tmp.resolve(dt);
                Checkpoint.write(dir, TINY, w, dt);
                try (Checkpoint ck = Checkpoint.open(dir)) {
                    assertEquals(TINY, ck.config());
                    assertNull(ck.tokenizerJson());
                    MemorySegment r = ck.params();
                    assertEquals(w.byteSize(), r.byteSize());
                    for (long i = 0; i < TINY.paramCount(); i += 97) {
                        float x = w.getAtIndex(ValueLayout.JAVA_FLOAT, i), y = r.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                        float tol = dt.equals("f32") ? 0 : Math.abs(x) * (dt.equals("bf16") ? 4e-3f : 5e-4f) + 1e-7f;
                        assertEquals(x, y, tol, dt + " at " + i);
                    }
                }
                Checkpoint.Info info = Checkpoint.inspect(dir);
                assertEquals(SafeTensors.dtypeName(dt), info.dtypes().get("embed_out.weight"));
            }
        }
    }

    private Path tinyDir(String name) {
        Path dir = tmp.resolve(name);
        try (Arena a = Arena.ofShared()) {
            Checkpoint.write(dir, TINY, RandomInit.init(TINY, 1, a), "f32");
        }
        return dir;
    }

    private static void fails(Path dir, String... parts) {
        SpectroException e = assertThrows(SpectroException.class, () -> {
            try (Checkpoint ck = Checkpoint.open(dir)) {
                fail("opened " + ck.root());
            }
        });
        for (String p : parts) assertTrue(e.getMessage().contains(p), e.getMessage());
    }

    @Test
    void missingTensorAndShapeMismatch() throws Exception {
        ParamLayout p = ParamLayout.of(TINY);
        Path dir = tinyDir("missing");
        try (Arena a = Arena.ofShared()) {
            MemorySegment w = RandomInit.init(TINY, 1, a);
            SafeTensors.write(dir.resolve("model.safetensors"), outs(p, w, 0, p.tensorCount() - 1), "f32");
        }
        fails(dir, dir.resolve("model.safetensors").toString(), "missing tensor 'embed_out.weight'", "[512, 64]");

        Path dir2 = tinyDir("shape");
        ModelConfig wider = new ModelConfig(512, 64, 2, 4, 128, 4, 64, 10000f, 1e-5f);
        Files.writeString(dir2.resolve("config.json"), wider.toHfJson());
        fails(dir2, dir2.resolve("model.safetensors").toString(), "gpt_neox.layers.0.mlp.dense_h_to_4h.weight", "[256, 64]", "[128, 64]");
    }

    @Test
    void unsupportedDtypeInCheckpoint() throws Exception {
        Path dir = tinyDir("f64");
        ParamLayout p = ParamLayout.of(TINY);
        StringBuilder h = new StringBuilder("{");
        long off = 0;
        for (ParamLayout.Tensor t : p.tensors()) {
            String dt = t.index() == 1 ? "F64" : "F32";
            long bytes = t.numel() * (t.index() == 1 ? 8 : 4);
            h.append(h.length() > 1 ? "," : "").append('"').append(t.name()).append("\":{\"dtype\":\"").append(dt)
                    .append("\",\"shape\":").append(t.shapeString().replace(" ", "")).append(",\"data_offsets\":[")
                    .append(off).append(',').append(off + bytes).append("]}");
            off += bytes;
        }
        h.append('}');
        SafeTensorsTest.raw(dir.resolve("model.safetensors"), h.toString(), new byte[(int) off]);
        fails(dir, dir.resolve("model.safetensors").toString(), "F64", "gpt_neox.layers.0.input_layernorm.weight");
    }

    @Test
    void ignoredBuffersTolerated_unknownTensorsRefused() throws Exception {
        ParamLayout p = ParamLayout.of(TINY);
        Path dir = tinyDir("extra");
        try (Arena a = Arena.ofShared()) {
            MemorySegment w = RandomInit.init(TINY, 1, a);
            List<SafeTensors.Out> o = outs(p, w, 0, p.tensorCount());
            MemorySegment one = a.allocate(4 * 8);
            o.add(new SafeTensors.Out("gpt_neox.layers.0.attention.masked_bias", new long[]{}, one.asSlice(0, 4)));
            o.add(new SafeTensors.Out("gpt_neox.layers.1.attention.rotary_emb.inv_freq", new long[]{2}, one.asSlice(0, 8)));
            o.add(new SafeTensors.Out("gpt_neox.layers.1.attention.bias", new long[]{1, 1, 2, 2}, one.asSlice(0, 16)));
            SafeTensors.write(dir.resolve("model.safetensors"), o, "f32");
            try (Checkpoint ck = Checkpoint.open(dir)) {
                assertEquals(-1, ck.params().mismatch(w));
            }
            o.add(new SafeTensors.Out("lm_head.weight", new long[]{2}, one.asSlice(0, 8)));
            SafeTensors.write(dir.resolve("model.safetensors"), o, "f32");
        }
        fails(dir, "lm_head.weight");
    }

    @Test
    void pickleOnlyFolderIsRefusedWithConversionHint() throws Exception {
        Path dir = tmp.resolve("pickle");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), TINY.toHfJson());
        Files.write(dir.resolve("pytorch_model.bin"), new byte[]{(byte) 0x80, 2});
        fails(dir, dir.toString(), "pytorch_model.bin", "safe_serialization=True");
        Path dir2 = tmp.resolve("nothing");
        Files.createDirectories(dir2);
        Files.writeString(dir2.resolve("config.json"), TINY.toHfJson());
        fails(dir2, dir2.toString(), "no model.safetensors");
        fails(tmp.resolve("absent"), "no such checkpoint folder");
    }

    @Test
    void shardedIndex() throws Exception {
        ParamLayout p = ParamLayout.of(TINY);
        Path dir = tmp.resolve("sharded");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), TINY.toHfJson());
        int cut = 10;
        try (Arena a = Arena.ofShared()) {
            MemorySegment w = RandomInit.init(TINY, 5, a);
            SafeTensors.write(dir.resolve("model-00001-of-00002.safetensors"), outs(p, w, 0, cut), "f32");
            SafeTensors.write(dir.resolve("model-00002-of-00002.safetensors"), outs(p, w, cut, p.tensorCount()), "bf16");
            StringBuilder map = new StringBuilder("{\"metadata\":{\"total_size\":1},\"weight_map\":{");
            for (ParamLayout.Tensor t : p.tensors())
                map.append(t.index() > 0 ? "," : "").append('"').append(t.name()).append("\":\"model-0000")
                        .append(t.index() < cut ? 1 : 2).append("-of-00002.safetensors\"");
            map.append("}}");
            Files.writeString(dir.resolve("model.safetensors.index.json"), map);
            try (Checkpoint ck = Checkpoint.open(dir)) {
                long n = p.tensor(cut).offset();
                assertEquals(-1, ck.params().asSlice(0, 4 * n).mismatch(w.asSlice(0, 4 * n)));
                assertEquals(w.getAtIndex(ValueLayout.JAVA_FLOAT, p.total() - 1), ck.params().getAtIndex(ValueLayout.JAVA_FLOAT, p.total() - 1), 1e-4);
            }
            Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
            fails(dir, "model.safetensors.index.json", "model-00002-of-00002.safetensors", "missing");
        }
    }

    @Test
    void huggingFaceCacheFolder() throws Exception {
        Path cache = tmp.resolve("models--EleutherAI--pythia-tiny");
        Path rev = cache.resolve("snapshots").resolve("0123abcd");
        Path other = cache.resolve("snapshots").resolve("fedc9876");
        try (Arena a = Arena.ofShared()) {
            MemorySegment w = RandomInit.init(TINY, 9, a);
            Checkpoint.write(rev, TINY, w, "f32");
            Files.writeString(rev.resolve("tokenizer.json"), "{}");
            // only one snapshot, no refs: it is used
            try (Checkpoint ck = Checkpoint.open(cache)) {
                assertEquals(rev, ck.root());
                assertEquals(rev.resolve("tokenizer.json"), ck.tokenizerJson());
                assertEquals(-1, ck.params().mismatch(w));
            }
            Checkpoint.write(other, TINY, w, "bf16");
            fails(cache, "2 snapshots");
            Files.createDirectories(cache.resolve("refs"));
            Files.writeString(cache.resolve("refs").resolve("main"), "fedc9876\n");
            assertEquals(other, Checkpoint.resolve(cache));
            Files.writeString(cache.resolve("refs").resolve("main"), "deadbeef");
            fails(cache, "deadbeef", "does not exist");
        }
    }
}
