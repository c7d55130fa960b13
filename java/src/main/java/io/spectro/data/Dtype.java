package io.spectro.data;

/** Element types of Megatron indexed datasets, with their on-disk codes (indexed_dataset.py {@code dtypes}). */
public enum Dtype {
    U8(1, 1), I8(2, 1), I16(3, 2), I32(4, 4), I64(5, 8), F32(6, 4), F64(7, 8), U16(8, 2);

    public final int code;
    public final int size;

    Dtype(int code, int size) {
        this.code = code;
        this.size = size;
    }

    /** The dtype of a code, or null when the code is unknown. */
    public static Dtype ofCode(int code) {
        for (Dtype d : values()) if (d.code == code) return d;
        return null;
    }

    /** The smallest type Megatron would pick: uint16 below 65500 ids, else int32. */
    public static Dtype forVocab(int vocabSize) {
        return vocabSize < 65500 ? U16 : I32;
    }

    boolean isFloat() {
        return this == F32 || this == F64;
    }
}
