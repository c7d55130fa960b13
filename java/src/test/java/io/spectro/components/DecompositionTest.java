package io.spectro.components;

import io.spectro.SpectroException;
import io.spectro.model.Block;
import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class DecompositionTest {
    static final ModelConfig TINY = new ModelConfig(64, 16, 2, 2, 32, 4, 32, 10000f, 1e-5f);

    @Test
    void defaultCountsMatchThePublishedH() {
        assertEquals(32, Decomposition.resolve(ModelConfig.preset("pythia-14m"), "default").size());
        assertEquals(410, Decomposition.resolve(ModelConfig.preset("pythia-1.4b"), "default").size());
        List<Component> c = Decomposition.resolve(TINY, "default");
        assertEquals(List.of("embed", "l0h0", "l0h1", "l0mlp", "l1h0", "l1h1", "l1mlp", "unembed"),
                c.stream().map(Component::name).toList());
    }

    @Test
    void headSlicesAreExactAndComponentsDisjoint() {
        ParamLayout lay = ParamLayout.of(TINY);
        List<Component> comps = Decomposition.resolve(TINY, "default");
        BitSet seen = new BitSet();
        long total = 0;
        for (Component c : comps) {
            for (Block b : c.blocks())
                for (long r = 0; r < b.rows(); r++)
                    for (long k = 0; k < b.cols(); k++) {
                        int idx = (int) (b.offset() + r * b.stride() + k);
                        assertFalse(seen.get(idx), c.name() + " overlaps another component at " + idx);
                        seen.set(idx);
                    }
            total += c.numel();
        }
        int d = 16, hd = 8, f = 32;
        Component h1 = comps.get(2);
        assertEquals(3L * hd * d + 3L * hd + (long) d * hd, h1.numel());
        // head 1 of layer 0: qkv rows 24..47, bias 24..47, dense columns 8..15
        assertEquals(lay.tensor("gpt_neox.layers.0.attention.query_key_value.weight").offset() + 24L * d, h1.blocks().get(0).offset());
        assertEquals(lay.tensor("gpt_neox.layers.0.attention.dense.weight").offset() + 8, h1.blocks().get(2).offset());
        assertEquals(2L * d * f + f + d, comps.get(3).numel());
        // everything except LayerNorms and attention.dense.bias is covered
        long uncovered = 0;
        for (int i = 0; i < lay.tensorCount(); i++) {
            String n = lay.tensor(i).name();
            if (n.contains("layernorm") || n.contains("final_layer_norm") || n.endsWith("attention.dense.bias")) uncovered += lay.tensor(i).numel();
        }
        assertEquals(lay.total(), total + uncovered);
        assertEquals(0, comps.get(0).lowestLayer());
        assertEquals(1, comps.get(4).lowestLayer());
        assertEquals(2, comps.get(7).lowestLayer());
    }

    @Test
    void qkvAndLayerDecompositions() {
        List<Component> qkv = Decomposition.resolve(TINY, "qkv");
        assertEquals(2 + 2 * (2 * 4 + 1), qkv.size());
        long headSum = qkv.stream().filter(c -> c.name().startsWith("l0h1")).mapToLong(Component::numel).sum();
        assertEquals(Decomposition.resolve(TINY, "default").get(2).numel(), headSum);
        assertEquals(List.of("embed", "l0attn", "l0mlp", "l1attn", "l1mlp", "unembed"),
                Decomposition.resolve(TINY, "layer").stream().map(Component::name).toList());
    }

    @Test
    void specFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("spec.txt");
        Files.writeString(f, "# custom\nearly: embed + layer(0)\nl1q0: q(1,0)\nlate: mlp(1) unembed\n");
        List<Component> c = Decomposition.resolve(TINY, f.toString());
        assertEquals(List.of("early", "l1q0", "late"), c.stream().map(Component::name).toList());
        assertEquals(0, c.get(0).lowestLayer());
        assertEquals(1, c.get(1).lowestLayer());
        assertEquals(1, c.get(2).lowestLayer());
        Files.writeString(f, "bad: head(5,0)\n");
        SpectroException e = assertThrows(SpectroException.class, () -> Decomposition.resolve(TINY, f.toString()));
        assertTrue(e.getMessage().contains("spec.txt:1") && e.getMessage().contains("layer 5"), e.getMessage());
        Files.writeString(f, "bad: bogus(1)\n");
        e = assertThrows(SpectroException.class, () -> Decomposition.resolve(TINY, f.toString()));
        assertTrue(e.getMessage().contains("unknown part"), e.getMessage());
        e = assertThrows(SpectroException.class, () -> Decomposition.resolve(TINY, dir.resolve("nope").toString()));
        assertTrue(e.getMessage().contains("neither a built-in"), e.getMessage());
    }

    @Test
    void repeatedOrContainedPartsAreMergedAndHugeNumbersRefused(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("spec.txt");
        Files.writeString(f, "once: head(0,0)\ntwice: head(0,0) head(0,0)\nattn: attn(0)\nmixed: head(0,1) attn(0) q(0,0) o(0,1)\n");
        List<Component> c = Decomposition.resolve(TINY, f.toString());
        assertEquals(c.get(0).blocks(), c.get(1).blocks()); // shared weights would get the update twice
        assertEquals(c.get(2).numel(), c.get(3).numel());
        assertEquals(new java.util.HashSet<>(c.get(2).blocks()), new java.util.HashSet<>(c.get(3).blocks()));
        Files.writeString(f, "a: head(99999999999,0)\n");
        SpectroException e = assertThrows(SpectroException.class, () -> Decomposition.resolve(TINY, f.toString()));
        assertTrue(e.getMessage().contains("layer 99999999999 does not exist"), e.getMessage());
        // blocks that overlap without one containing the other are refused, naming both parts
        e = assertThrows(SpectroException.class, () -> Overlaps.disjoint(List.of(new Overlaps.Part("x", Block.range(0, 10)),
                new Overlaps.Part("y", new Block(5, 2, 3, 8))), "spec: "));
        assertTrue(e.getMessage().contains("parts 'x' and 'y' overlap (both hold parameter element 5)"), e.getMessage());
    }
}
