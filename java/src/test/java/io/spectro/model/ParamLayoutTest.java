package io.spectro.model;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class ParamLayoutTest {
    @Test
    void canonicalOrderAndOffsets() {
        ModelConfig c = ModelConfig.preset("pythia-14m");
        ParamLayout p = ParamLayout.of(c);
        assertEquals(4 + 12 * 6, p.tensorCount());
        assertEquals(c.paramCount(), p.total());
        long off = 0;
        for (int i = 0; i < p.tensorCount(); i++) {
            ParamLayout.Tensor t = p.tensor(i);
            assertEquals(i, t.index());
            assertEquals(off, t.offset(), t.name());
            off += t.numel();
        }
        assertEquals(p.total(), off);
        assertEquals("gpt_neox.embed_in.weight", p.tensor(0).name());
        assertArrayEquals(new long[]{50304, 128}, p.tensor(0).shape());
        assertEquals("gpt_neox.layers.0.input_layernorm.weight", p.tensor(1).name());
        assertEquals("gpt_neox.layers.2.attention.query_key_value.weight", p.layer(2, ParamLayout.QKV_W).name());
        assertArrayEquals(new long[]{384, 128}, p.layer(2, ParamLayout.QKV_W).shape());
        assertArrayEquals(new long[]{512, 128}, p.layer(5, ParamLayout.FC_IN_W).shape());
        assertArrayEquals(new long[]{128, 512}, p.layer(5, ParamLayout.FC_OUT_W).shape());
        assertEquals(1 + 12 * 3, p.layerBase(3));
        assertEquals("gpt_neox.final_layer_norm.weight", p.tensor(73).name());
        assertEquals("gpt_neox.final_layer_norm.bias", p.tensor(74).name());
        assertEquals("embed_out.weight", p.tensor(75).name());
        assertSame(p.tensor(75), p.tensor("embed_out.weight"));
        assertEquals(p.total() - 50304L * 128, p.embedOut().offset());
        assertThrows(io.spectro.SpectroException.class, () -> p.tensor("gpt_neox.layers.6.attention.dense.bias"));
    }
}
