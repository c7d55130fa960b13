package io.spectro.model;

/**
 * A strided 2-D block of the flat parameter buffer (spectro.h {@code sp_block}): element (r, c) is at
 * {@code offset + r * stride + c} for {@code 0 <= r < rows, 0 <= c < cols}.
 */
public record Block(long offset, long rows, long cols, long stride) {
    public Block {
        if (offset < 0 || rows < 0 || cols < 0 || (rows > 1 && stride < cols))
            throw new IllegalArgumentException("bad block offset " + offset + " rows " + rows + " cols " + cols + " stride " + stride);
    }

    /** A contiguous range of n floats starting at offset. */
    public static Block range(long offset, long n) {
        return new Block(offset, 1, n, n);
    }

    public long numel() {
        return rows * cols;
    }

    /** One past the last float offset the block touches. */
    public long end() {
        return rows == 0 || cols == 0 ? offset : offset + (rows - 1) * stride + cols;
    }
}
