package io.spectro.data;

import io.spectro.io.IoErrors;
import io.spectro.SpectroException;
import io.spectro.io.Npy;
import io.spectro.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/**
 * Opens corpus files by kind. A corpus argument is {@code PATH} or {@code SUBSET=PATH}; SUBSET is the
 * default subset of its documents (otherwise the file name without extensions); jsonl records with a
 * subset field override it. A directory stands for the supported files inside it (recursively, sorted).
 * <ul>
 *   <li>{@code .txt .text .md}: plain text, tokenised</li>
 *   <li>{@code .jsonl .json .jsonl.zst .json.zst}: JSON lines, tokenised</li>
 *   <li>{@code .idx .bin} or a prefix with both: Megatron MMapIndexedDataset (already token ids)</li>
 *   <li>{@code .npy}: int32 token ids, 1-D = one document, 2-D = one document per row</li>
 * </ul>
 */
public final class Corpora {
    public enum Kind { TEXT, JSONL, MEGATRON, NPY }

    private Corpora() {}

    /** One file to read with its default subset. */
    public record Entry(Path path, Kind kind, String subset) {}

    /** Expands corpus arguments into files (directories recursively, Megatron pairs once). */
    public static List<Entry> resolve(List<String> specs) {
        List<Entry> out = new ArrayList<>();
        for (String spec : specs) {
            String subset = null;
            String p = spec;
            int eq = spec.indexOf('=');
            if (eq > 0 && !spec.substring(0, eq).contains("/")) {
                subset = spec.substring(0, eq);
                p = spec.substring(eq + 1);
            }
            Path path = Path.of(p);
            if (Files.isDirectory(path)) {
                List<Path> files;
                try (Stream<Path> s = Files.walk(path)) {
                    files = s.filter(Files::isRegularFile).sorted().toList();
                } catch (IOException e) {
                    throw new SpectroException(path + ": cannot list directory (" + IoErrors.describe(e) + ")", e);
                }
                int before = out.size();
                for (Path f : files) {
                    Kind k = kindOf(f);
                    if (k == null || f.toString().endsWith(".bin")) continue;   // .bin pairs come through their .idx
                    out.add(new Entry(f, k, subset != null ? subset : stem(f)));
                }
                if (out.size() == before) throw new SpectroException(path + ": directory holds no corpus files");
                continue;
            }
            Kind k = kindOf(path);
            if (k == null) {
                if (MegatronDataset.exists(path)) k = Kind.MEGATRON;
                else if (!Files.exists(path)) throw new SpectroException(path + ": corpus file not found");
                else throw new SpectroException(path + ": unsupported corpus file type (expected .txt, .jsonl, .jsonl.zst, .idx/.bin or .npy)");
            }
            if (!Files.exists(path) && !(k == Kind.MEGATRON && MegatronDataset.exists(path)))
                throw new SpectroException(path + ": corpus file not found");
            out.add(new Entry(path, k, subset != null ? subset : stem(path)));
        }
        return out;
    }

    static Kind kindOf(Path f) {
        String n = f.getFileName().toString().toLowerCase();
        if (n.endsWith(".txt") || n.endsWith(".text") || n.endsWith(".md")) return Kind.TEXT;
        if (n.endsWith(".jsonl") || n.endsWith(".json") || n.endsWith(".jsonl.zst") || n.endsWith(".json.zst")) return Kind.JSONL;
        if (n.endsWith(".idx") || n.endsWith(".bin")) return Kind.MEGATRON;
        if (n.endsWith(".npy")) return Kind.NPY;
        return null;
    }

    /** File name without extensions ("pile_00.jsonl.zst" -> "pile_00"). */
    static String stem(Path f) {
        String n = f.getFileName().toString();
        int dot = n.indexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }

    /** Opens one file as a token source; text kinds need a tokenizer. */
    public static TokenSource open(Entry e, Tokenizer tokenizer, CorpusOptions o) {
        switch (e.kind()) {
            case MEGATRON:
                return MegatronDataset.open(e.path(), e.subset());
            case NPY: {
                Npy.Ints a = Npy.readInts(e.path());
                for (int i = 0; i < a.data().length; i++)
                    if (a.data()[i] < 0)
                        throw new SpectroException(e.path() + ": token id " + a.data()[i] + " at flat index " + i
                                + ": token ids must be >= 0 (padding? cut it out before building)");
                InMemorySource src = new InMemorySource(e.path().toString());
                if (a.shape().length == 1) src.add(e.subset(), a.data());
                else if (a.shape().length == 2) {
                    int rows = a.dim(0), cols = a.dim(1);
                    for (int r = 0; r < rows && (o.maxDocs() == 0 || r < o.maxDocs()); r++)
                        src.add(e.subset(), Arrays.copyOfRange(a.data(), r * cols, (r + 1) * cols));
                } else throw new SpectroException(e.path() + ": token array has shape " + Arrays.toString(a.shape()) + ", expected 1-D or 2-D");
                return src;
            }
            default: {
                if (tokenizer == null) throw new SpectroException(e.path() + ": a text corpus needs --tokenizer");
                InMemorySource src = new InMemorySource(e.path().toString());
                if (e.kind() == Kind.TEXT) TextReaders.readText(e.path(), e.subset(), o, d -> src.add(d.subset(), tokenizer.encode(d.text())));
                else TextReaders.readJsonl(e.path(), e.subset(), o, d -> src.add(d.subset(), tokenizer.encode(d.text())));
                return src;
            }
        }
    }

    /** Opens every file of the corpus arguments. */
    public static List<TokenSource> openAll(List<String> specs, Tokenizer tokenizer, CorpusOptions o) {
        List<TokenSource> out = new ArrayList<>();
        try {
            for (Entry e : resolve(specs)) out.add(open(e, tokenizer, o));
        } catch (RuntimeException ex) {
            out.forEach(TokenSource::close);
            throw ex;
        }
        return out;
    }

    /**
     * The text of the documents of text and jsonl corpora by subset (sorted by name), documents in file
     * order, up to {@code charsPerSubset} characters per subset (the document that crosses the limit is
     * kept whole); for training a tokenizer on equal shares of every subset.
     */
    public static java.util.Map<String, List<String>> texts(List<String> specs, CorpusOptions o, long charsPerSubset) {
        java.util.Map<String, List<String>> out = new java.util.TreeMap<>();
        java.util.Map<String, Long> chars = new java.util.HashMap<>();
        for (Entry e : resolve(specs)) {
            java.util.function.Consumer<TextReaders.RawDoc> add = d -> {
                long c = chars.getOrDefault(d.subset(), 0L);
                if (c >= charsPerSubset) return;
                out.computeIfAbsent(d.subset(), k -> new ArrayList<>()).add(d.text());
                chars.put(d.subset(), c + d.text().length());
            };
            switch (e.kind()) {
                case TEXT -> TextReaders.readText(e.path(), e.subset(), o, add);
                case JSONL -> TextReaders.readJsonl(e.path(), e.subset(), o, add);
                default -> throw new SpectroException(e.path() + ": not a text corpus (tokenizer training needs .txt or .jsonl)");
            }
        }
        return out;
    }
}
