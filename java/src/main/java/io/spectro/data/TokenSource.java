package io.spectro.data;

/**
 * Tokenised documents with random access: a corpus file after reading (and tokenising, for text).
 * Documents are numbered 0..documentCount()-1 in file order.
 */
public interface TokenSource extends AutoCloseable {
    /** The file (or file prefix) this source was read from. */
    String name();

    int documentCount();

    /** Subset (e.g. the Pile set name) of a document. */
    String subset(int doc);

    /** Number of tokens of a document. */
    long length(int doc);

    /** {@code len} tokens of a document starting at token {@code start}. */
    int[] tokens(int doc, long start, int len);

    @Override
    default void close() {}
}
