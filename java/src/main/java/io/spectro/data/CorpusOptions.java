package io.spectro.data;

import io.spectro.SpectroException;

/**
 * How corpus files are read.
 *
 * @param textField   jsonl: dotted path of the text field (default "text")
 * @param subsetField jsonl: dotted path of the subset field (default "meta.pile_set_name"); records
 *                    without it get the file's default subset
 * @param textSplit   plain text: one document per file, or documents separated by blank lines
 * @param maxDocs     stop after this many documents per file (0 = all)
 */
public record CorpusOptions(String textField, String subsetField, TextSplit textSplit, long maxDocs) {
    public enum TextSplit { FILE, BLANK_LINES }

    public CorpusOptions {
        if (textField == null || textField.isBlank()) throw new SpectroException("--text-field must not be empty");
        if (subsetField == null || subsetField.isBlank()) throw new SpectroException("--subset-field must not be empty");
        if (textSplit == null) throw new SpectroException("--text-split must be file or blank");
        if (maxDocs < 0) throw new SpectroException("--max-docs must be >= 0, got " + maxDocs);
    }

    public static CorpusOptions defaults() {
        return new CorpusOptions("text", "meta.pile_set_name", TextSplit.FILE, 0);
    }
}
