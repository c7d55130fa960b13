package io.spectro.tokenizer;

import io.spectro.SpectroException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Trains a byte-level BPE with the GPT-NeoX pipeline (NFC, ByteLevel pre-tokenizer with the GPT-2 regex,
 * no prefix space). The vocabulary starts with the special tokens, then the 256 byte tokens in byte order;
 * each step merges the most frequent adjacent pair (ties: smaller left id, then smaller right id), until
 * the vocabulary has {@code vocabSize} entries or the best pair occurs fewer than {@code minFrequency}
 * times. Special tokens in the training text are split off and not counted.
 */
public final class BpeTrainer {
    /** Training options; {@code specialTokens} get the first ids, in the given order. */
    public record Options(int vocabSize, int minFrequency, List<String> specialTokens) {
        public Options {
            specialTokens = List.copyOf(specialTokens);
            if (minFrequency < 1) throw new SpectroException("minFrequency must be >= 1, got " + minFrequency);
            if (new HashSet<>(specialTokens).size() != specialTokens.size())
                throw new SpectroException("specialTokens has duplicates: " + specialTokens);
            for (String s : specialTokens)
                if (s.isEmpty()) throw new SpectroException("specialTokens has an empty string");
            if (vocabSize < 256 + specialTokens.size())
                throw new SpectroException("vocabSize " + vocabSize + " is below 256 byte tokens + "
                        + specialTokens.size() + " special tokens");
        }

        public Options(int vocabSize) {
            this(vocabSize, 2, List.of("<|endoftext|>"));
        }
    }

    private BpeTrainer() {}

    public static Tokenizer fit(Iterable<String> texts, Options options) {
        List<AddedTokens.Token> added = new ArrayList<>();
        List<Map.Entry<String, AddedTokens.Token>> patterns = new ArrayList<>();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        List<String> idToToken = new ArrayList<>();
        for (String s : options.specialTokens()) {
            AddedTokens.Token t = new AddedTokens.Token(idToToken.size(), s, true, false, false, false, false);
            added.add(t);
            patterns.add(Map.entry(s, t));
            vocab.put(s, idToToken.size());
            idToToken.add(s);
        }
        int[] byteId = new int[512];
        for (int b = 0; b < 256; b++) {
            String c = String.valueOf(ByteLevel.BYTE_TO_CHAR[b]);
            byteId[ByteLevel.BYTE_TO_CHAR[b]] = vocab.computeIfAbsent(c, k -> {
                idToToken.add(k);
                return idToToken.size() - 1;
            });
        }
        var nfc = Tokenizer.normalizerFor("NFC");

        // 1. word frequencies
        AddedTokens splitter = new AddedTokens(patterns);
        HashMap<String, long[]> wordCounts = new HashMap<>();
        for (String text : texts) {
            for (AddedTokens.Piece p : splitter.split(text)) {
                if (p.id() >= 0 || p.text().isEmpty()) continue;
                for (String w : ByteLevel.split(nfc.apply(p.text())))
                    wordCounts.computeIfAbsent(ByteLevel.encodeBytes(w), k -> new long[1])[0]++;
            }
        }
        List<String> keys = new ArrayList<>(wordCounts.keySet());
        keys.sort(null);   // deterministic word order
        int nw = keys.size();
        int[][] words = new int[nw][];
        long[] freq = new long[nw];
        for (int i = 0; i < nw; i++) {
            String w = keys.get(i);
            words[i] = new int[w.length()];
            for (int k = 0; k < w.length(); k++) words[i][k] = byteId[w.charAt(k)];
            freq[i] = wordCounts.get(w)[0];
        }

        // 2. pair counts and the words each pair occurs in
        HashMap<Long, Long> pairCount = new HashMap<>();
        HashMap<Long, Set<Integer>> pairWords = new HashMap<>();
        for (int i = 0; i < nw; i++) addPairs(words[i], freq[i], i, pairCount, pairWords, null);
        // max-heap on count, ties by smaller pair key (left id, then right id)
        PriorityQueue<long[]> heap = new PriorityQueue<>((x, y) -> x[0] != y[0] ? Long.compare(y[0], x[0]) : Long.compare(x[1], y[1]));
        pairCount.forEach((k, c) -> heap.add(new long[]{c, k}));

        List<String[]> merges = new ArrayList<>();
        while (vocab.size() < options.vocabSize() && !heap.isEmpty()) {
            long[] top = heap.poll();
            long key = top[1];
            long current = pairCount.getOrDefault(key, 0L);
            if (current != top[0]) {
                if (current > 0) heap.add(new long[]{current, key});
                continue;
            }
            if (current < options.minFrequency()) break;
            int a = (int) (key >>> 32), b = (int) key;
            String merged = idToToken.get(a) + idToToken.get(b);
            Integer id = vocab.get(merged);
            if (id == null) {
                id = idToToken.size();
                vocab.put(merged, id);
                idToToken.add(merged);
            }
            merges.add(new String[]{idToToken.get(a), idToToken.get(b)});
            Set<Long> touched = new HashSet<>();
            for (int w : pairWords.remove(key)) {
                int[] sym = words[w];
                if (!contains(sym, a, b)) continue;
                addPairs(sym, -freq[w], w, pairCount, null, touched);
                words[w] = replace(sym, a, b, id);
                addPairs(words[w], freq[w], w, pairCount, pairWords, touched);
            }
            for (long t : touched) {
                long c = pairCount.getOrDefault(t, 0L);
                if (c <= 0) pairCount.remove(t);
                else heap.add(new long[]{c, t});
            }
        }
        return new Tokenizer(vocab, merges, added, nfc, "NFC", false, true, true, -1, false, "trained BPE");
    }

    private static void addPairs(int[] sym, long f, int w, HashMap<Long, Long> counts,
                                 HashMap<Long, Set<Integer>> index, Set<Long> touched) {
        for (int i = 0; i + 1 < sym.length; i++) {
            long k = Bpe.pair(sym[i], sym[i + 1]);
            counts.merge(k, f, Long::sum);
            if (index != null) index.computeIfAbsent(k, x -> new HashSet<>()).add(w);
            if (touched != null) touched.add(k);
        }
    }

    private static boolean contains(int[] sym, int a, int b) {
        for (int i = 0; i + 1 < sym.length; i++) if (sym[i] == a && sym[i + 1] == b) return true;
        return false;
    }

    /** Replaces non-overlapping occurrences of (a, b), left to right, with {@code id}. */
    private static int[] replace(int[] sym, int a, int b, int id) {
        int[] out = new int[sym.length];
        int n = 0;
        for (int i = 0; i < sym.length; i++) {
            if (i + 1 < sym.length && sym[i] == a && sym[i + 1] == b) {
                out[n++] = id;
                i++;
            } else out[n++] = sym[i];
        }
        return java.util.Arrays.copyOf(out, n);
    }
}
