package io.spectro.components;

import io.spectro.model.Block;

import java.util.List;

/**
 * One model component: the parameters a restricted SGLD chain may move (method.md section 1).
 *
 * @param name      e.g. {@code l3h7}, {@code l3mlp}, {@code embed}, {@code unembed}, {@code full}
 * @param blocks    strided blocks of the flat parameter buffer, in element-numbering order
 * @param lowestLayer the lowest transformer layer any block lies in: 0 for {@code embed} (and
 *                  {@code full}), L for {@code unembed} (nothing below the final LayerNorm moves).
 *                  Everything below it is unchanged during the chain (the fast path's premise).
 */
public record Component(String name, List<Block> blocks, int lowestLayer) {
    public Component {
        if (name == null || name.isBlank()) throw new IllegalArgumentException("component name is empty");
        if (blocks == null || blocks.isEmpty()) throw new IllegalArgumentException("component " + name + " has no parameters");
        blocks = List.copyOf(blocks);
        if (lowestLayer < 0) throw new IllegalArgumentException("component " + name + ": lowestLayer " + lowestLayer);
    }

    /** Number of parameters (elements) of the component. */
    public long numel() {
        long n = 0;
        for (Block b : blocks) n += b.numel();
        return n;
    }

    public Block[] blockArray() {
        return blocks.toArray(Block[]::new);
    }
}
