package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.data.Corpora;
import io.spectro.data.CorpusOptions;
import io.spectro.data.CorpusStats;
import io.spectro.data.MiniPile;
import io.spectro.data.SetBuilder;
import io.spectro.data.TokenSource;
import io.spectro.tokenizer.BpeTrainer;
import io.spectro.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code spectro data}: build probe/sampling sets from corpora, inspect corpora. */
@Command(name = "data", mixinStandardHelpOptions = true,
        description = "Corpora: build probe and sampling token sets, inspect corpus files.",
        subcommands = {DataCommand.Build.class, DataCommand.Inspect.class, DataCommand.MiniPileCmd.class, DataCommand.TokenizerCmd.class})
public final class DataCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Options shared by build and inspect: how to read the corpora. */
    static final class Reading {
        @Option(names = "--tokenizer", description = "tokenizer.json (needed for text and jsonl corpora; inspect uses it to show tokens)")
        Path tokenizer;
        @Option(names = "--text-field", defaultValue = "text", description = "jsonl text field, dotted path (default: ${DEFAULT-VALUE})")
        String textField;
        @Option(names = "--subset-field", defaultValue = "meta.pile_set_name", description = "jsonl subset field, dotted path (default: ${DEFAULT-VALUE})")
        String subsetField;
        @Option(names = "--text-split", defaultValue = "file", description = "plain text documents: file (one per file) or blank (split on blank lines) (default: ${DEFAULT-VALUE})")
        String textSplit;
        @Option(names = "--max-docs", defaultValue = "0", description = "read at most this many documents per text/jsonl/npy file (0 = all)")
        long maxDocs;

        CorpusOptions options() {
            CorpusOptions.TextSplit split = switch (textSplit) {
                case "file" -> CorpusOptions.TextSplit.FILE;
                case "blank" -> CorpusOptions.TextSplit.BLANK_LINES;
                default -> throw new SpectroException("--text-split must be file or blank, got " + textSplit);
            };
            return new CorpusOptions(textField, subsetField, split, maxDocs);
        }

        Tokenizer tokenizer() {
            return tokenizer == null ? null : Tokenizer.load(tokenizer);
        }
    }

    @Command(name = "build", mixinStandardHelpOptions = true,
            description = "Sample disjoint probe and sampling sets of fixed-length windows, equal numbers per subset where possible.")
    static final class Build implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @Mixin
        Reading reading = new Reading();
        @Option(names = "--corpus", required = true, arity = "1..*", description = "corpus files or directories, PATH or SUBSET=PATH")
        List<String> corpora;
        @Option(names = "--seq", required = true, description = "tokens per window (T)")
        int seq;
        @Option(names = "--probe", required = true, description = "number of probe windows")
        int probe;
        @Option(names = "--sampling", required = true, description = "number of sampling windows")
        int sampling;
        @Option(names = "--seed", defaultValue = "0", description = "random seed (default: ${DEFAULT-VALUE})")
        long seed;
        @Option(names = "--out", required = true, description = "output directory")
        Path out;

        @Override
        public Integer call() {
            SetBuilder.Options o = new SetBuilder.Options(seq, probe, sampling, seed);
            CorpusOptions co = reading.options();
            Tokenizer tok = reading.tokenizer();
            List<TokenSource> sources = Corpora.openAll(corpora, tok, co);
            try {
                SetBuilder.Result r = SetBuilder.fit(sources, o);
                SetBuilder.write(r, o, corpora, out);
                PrintWriter w = spec.commandLine().getOut();
                w.printf("wrote %s: probe.npy [%d, %d], sampling.npy [%d, %d], manifests probe.jsonl, sampling.jsonl, build.json%n",
                        out, r.probe().rows(), seq, r.sampling().rows(), seq);
                w.printf("%-32s %8s %8s%n", "subset", "probe", "sampling");
                r.perSubset().forEach((k, v) -> w.printf("%-32s %8d %8d%n", k, v[0], v[1]));
                w.flush();
            } finally {
                sources.forEach(TokenSource::close);
            }
            return 0;
        }
    }

    @Command(name = "inspect", mixinStandardHelpOptions = true,
            description = "Documents and tokens per subset, and the most frequent tokens.")
    static final class Inspect implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @Mixin
        Reading reading = new Reading();
        @Parameters(arity = "1..*", paramLabel = "PATH", description = "corpus files or directories, PATH or SUBSET=PATH")
        List<String> corpora;
        @Option(names = "--top", defaultValue = "20", description = "histogram entries to show (default: ${DEFAULT-VALUE})")
        int top;
        @Option(names = "--max-tokens", defaultValue = "0", description = "histogram over at most this many tokens (0 = all)")
        long maxTokens;

        @Override
        public Integer call() {
            if (top < 0) throw new SpectroException("--top must be >= 0, got " + top);
            if (maxTokens < 0) throw new SpectroException("--max-tokens must be >= 0, got " + maxTokens);
            Tokenizer tok = reading.tokenizer();
            List<TokenSource> sources = Corpora.openAll(corpora, tok, reading.options());
            try {
                CorpusStats s = CorpusStats.fit(sources, top, maxTokens);
                PrintWriter w = spec.commandLine().getOut();
                w.printf("%-32s %12s %16s%n", "subset", "documents", "tokens");
                s.perSubset().forEach((k, v) -> w.printf("%-32s %12d %16d%n", k, v[0], v[1]));
                w.printf("%-32s %12d %16d%n", "total", s.documents(), s.tokens());
                w.printf("%ntop %d tokens over %d tokens:%n", s.top().size(), s.histogramTokens());
                for (long[] t : s.top()) {
                    String text = tok == null ? "" : " " + quote(tok.token((int) t[0]));
                    w.printf("%8d %12d %8.4f%%%s%n", t[0], t[1], 100.0 * t[1] / Math.max(1, s.histogramTokens()), text);
                }
                w.flush();
            } finally {
                sources.forEach(TokenSource::close);
            }
            return 0;
        }

        static String quote(String s) {
            StringBuilder b = new StringBuilder("\"");
            s.codePoints().forEach(c -> {
                switch (c) {
                    case '\n' -> b.append("\\n");
                    case '\t' -> b.append("\\t");
                    case '\r' -> b.append("\\r");
                    case '"' -> b.append("\\\"");
                    case '\\' -> b.append("\\\\");
                    default -> {
                        if (c < 0x20 || c == 0x7f) b.append(String.format("\\x%02x", c));
                        else b.appendCodePoint(c);
                    }
                }
            });
            return b.append('"').toString();
        }
    }

    @Command(name = "minipile", mixinStandardHelpOptions = true,
            description = {"Prepare the mini-Pile from the sources scripts/fetch-minipile unpacked: one Pile-style jsonl per subset",
                    "(bible, brown, dictionary, fortunes, pydocs) in OUT/train and OUT/heldout, and OUT/minipile.json."})
    static final class MiniPileCmd implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @Option(names = "--src", required = true, description = "directory the fetch script unpacked the sources into")
        Path src;
        @Option(names = "--out", required = true, description = "output directory")
        Path out;
        @Option(names = "--heldout-every", defaultValue = "10", description = "hold out every k-th document of each subset (default: ${DEFAULT-VALUE})")
        int heldoutEvery;

        @Override
        public Integer call() {
            MiniPile.Summary s = MiniPile.prepare(MiniPile.read(MiniPile.Sources.under(src)), heldoutEvery, out);
            PrintWriter w = spec.commandLine().getOut();
            w.printf("wrote %s%n%-12s %10s %10s %14s %14s%n", out, "subset", "train docs", "held out", "train chars", "held-out chars");
            s.perSubset().forEach((k, c) -> w.printf("%-12s %10d %10d %14d %14d%n", k, c[0], c[1], c[2], c[3]));
            w.flush();
            return 0;
        }
    }

    @Command(name = "tokenizer", mixinStandardHelpOptions = true,
            description = "Train a byte-level BPE tokenizer on the documents of text/jsonl corpora, the same number of characters from each subset.")
    static final class TokenizerCmd implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @Mixin
        Reading reading = new Reading();
        @Option(names = "--corpus", required = true, arity = "1..*", description = "text or jsonl corpus files or directories, PATH or SUBSET=PATH")
        List<String> corpora;
        @Option(names = "--vocab", required = true, description = "vocabulary size (special token and 256 byte tokens included)")
        int vocab;
        @Option(names = "--chars-per-subset", defaultValue = "1000000", description = "characters of text taken from each subset, documents in order (default: ${DEFAULT-VALUE})")
        long charsPerSubset;
        @Option(names = "--out", required = true, description = "tokenizer.json to write")
        Path out;

        @Override
        public Integer call() throws java.io.IOException {
            if (charsPerSubset < 1) throw new SpectroException("--chars-per-subset must be >= 1, got " + charsPerSubset);
            java.util.Map<String, List<String>> texts = Corpora.texts(corpora, reading.options(), charsPerSubset);
            List<String> all = new java.util.ArrayList<>();
            texts.values().forEach(all::addAll);
            if (all.isEmpty()) throw new SpectroException("no text documents in " + corpora);
            BpeTrainer.Options o;
            try {
                o = new BpeTrainer.Options(vocab);
            } catch (IllegalArgumentException e) {
                throw new SpectroException(e.getMessage());
            }
            Tokenizer tok = BpeTrainer.fit(all, o);
            Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
            tok.save(tmp);
            java.nio.file.Files.move(tmp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            PrintWriter w = spec.commandLine().getOut();
            w.printf("wrote %s: %d tokens, trained on %s%n", out, tok.vocabSize(),
                    texts.entrySet().stream().map(e -> e.getKey() + " " + e.getValue().size() + " docs").toList());
            w.flush();
            return 0;
        }
    }
}
