package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.data.TokenSets;
import io.spectro.model.ModelConfig;
import io.spectro.tokenizer.BpeTrainer;
import io.spectro.tokenizer.Tokenizer;
import io.spectro.train.TrainCheckpoints;
import io.spectro.train.TrainOptions;
import io.spectro.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code spectro train}: train a small GPT-NeoX from scratch on the CPU backend. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Train a small GPT-NeoX from scratch (AdamW, linear warm-up, cosine decay, gradient clipping)",
                "and write an HF-layout checkpoint with its tokenizer.json and loss_curve.png.",
                "Text inputs need --tokenizer, or --bpe-vocab N to train a byte-level BPE tokenizer on them first."})
public final class TrainCommand implements Callable<Integer> {
    @Option(names = "--data", required = true, arity = "1..*", description = "training data: int32 .npy [B, T], .txt or .jsonl files") List<Path> data;
    @Option(names = "--out", required = true, description = "output checkpoint directory") Path out;
    @Option(names = "--preset", defaultValue = "tiny", description = "model shape preset (default ${DEFAULT-VALUE})") String preset;
    @Option(names = "--config", description = "a GPT-NeoX config.json instead of --preset") Path config;
    @Option(names = "--tokenizer", description = "tokenizer.json for text data") Path tokenizer;
    @Option(names = "--bpe-vocab", description = "train a byte-level BPE tokenizer of this vocabulary size on the text data") Integer bpeVocab;
    @Option(names = "--seq", defaultValue = "64", description = "sequence length for text data (default ${DEFAULT-VALUE})") int seq;
    @Option(names = "--steps", defaultValue = "1000") int steps;
    @Option(names = "--batch", defaultValue = "32") int batch;
    @Option(names = "--lr", defaultValue = "3e-3") float lr;
    @Option(names = "--warmup", defaultValue = "100") int warmup;
    @Option(names = "--weight-decay", defaultValue = "0.01") float wd;
    @Option(names = "--clip", defaultValue = "1.0") float clip;
    @Option(names = "--seed", defaultValue = "0") long seed;
    @Option(names = "--threads", defaultValue = "0") int threads;
    @Option(names = "--quiet") boolean quiet;
    @Option(names = "--checkpoint-every", defaultValue = "0", description = "also write OUT/checkpoint (weights, tokenizer, train_log.tsv) every N steps (0 = never)") int checkpointEvery;
    @Option(names = "--max-minutes", defaultValue = "0", description = "stop after this many minutes of training and write the weights reached (0 = no limit)") double maxMinutes;

    @Override
    public Integer call() throws IOException {
        ModelConfig cfg = config != null ? ModelConfig.fromHfJson(config) : ModelConfig.preset(preset);
        Tokenizer tok = tokenizer != null ? Tokenizer.load(tokenizer) : null;
        if (bpeVocab != null) {
            if (tok != null) throw new SpectroException("--tokenizer and --bpe-vocab exclude each other");
            List<String> texts = new ArrayList<>();
            for (Path p : data) if (!p.toString().endsWith(".npy")) texts.add(Files.readString(p));
            if (texts.isEmpty()) throw new SpectroException("--bpe-vocab needs text (.txt/.jsonl) data");
            tok = BpeTrainer.fit(texts, new BpeTrainer.Options(bpeVocab));
        }
        if (tok != null && tok.vocabSize() > cfg.vocabSize())
            throw new SpectroException("the tokenizer has " + tok.vocabSize() + " tokens, more than the model's vocabulary of " + cfg.vocabSize());
        List<int[]> parts = new ArrayList<>();
        int T = -1, rows = 0;
        for (Path p : data) {
            TokenSets.Set s = TokenSets.load(p, tok, seq, 0);
            if (T >= 0 && s.T() != T) throw new SpectroException(p + ": sequences of " + s.T() + " tokens, earlier data had " + T);
            T = s.T();
            rows += s.rows();
            parts.add(s.tokens());
        }
        int[] all = new int[rows * T];
        int off = 0;
        for (int[] a : parts) { System.arraycopy(a, 0, all, off, a.length); off += a.length; }
        for (int i = 0; i < all.length; i++)
            if (all[i] < 0 || all[i] >= cfg.vocabSize())
                throw new SpectroException("training data: token id " + all[i] + " outside the model's vocabulary [0, " + cfg.vocabSize() + ")");
        TrainOptions o;
        try {
            o = new TrainOptions(steps, batch, lr, warmup, 0.1f, wd, 0.9f, 0.95f, 1e-8f, clip, seed, threads);
        } catch (IllegalArgumentException e) {
            throw new SpectroException(e.getMessage());
        }
        if (checkpointEvery < 0) throw new SpectroException("--checkpoint-every must be >= 0, got " + checkpointEvery);
        if (maxMinutes < 0) throw new SpectroException("--max-minutes must be >= 0, got " + maxMinutes);
        Trainer.trainNew(cfg, all, rows, T, o, tok, out, !quiet, new TrainCheckpoints(cfg, o, tok, out, checkpointEvery, maxMinutes));
        System.out.println("train: wrote " + out);
        return 0;
    }
}
