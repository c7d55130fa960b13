package io.spectro.tokenizer;

import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model: vocabulary, merges ranked by their position in the merges list, and the merge loop
 * (lowest rank first, leftmost first among equal ranks, the order of Hugging Face's {@code Word::merge_all}).
 */
final class Bpe {
    private static final int CACHE_LIMIT = 200_000;

    private final Map<String, Integer> vocab;
    /** (left id, right id) packed into a long -> (rank, merged id) packed into a long. */
    private final HashMap<Long, Long> merges;
    private final int unkId;             // -1 when the model has no unk token
    private final boolean ignoreMerges;
    private final int[] charIds = new int[512];   // byte-level stand-in chars -> id (fast path)
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    Bpe(Map<String, Integer> vocab, HashMap<Long, Long> merges, int unkId, boolean ignoreMerges) {
        this.vocab = vocab;
        this.merges = merges;
        this.unkId = unkId;
        this.ignoreMerges = ignoreMerges;
        for (int c = 0; c < charIds.length; c++) {
            Integer id = vocab.get(String.valueOf((char) c));
            charIds[c] = id == null ? -1 : id;
        }
    }

    static long pair(int a, int b) {
        return ((long) a << 32) | (b & 0xffffffffL);
    }

    /** Token ids of one pre-tokenized word (already mapped to byte-level chars). */
    int[] encodeWord(String word) {
        int[] hit = cache.get(word);
        if (hit != null) return hit;
        int[] ids = merge(word);
        if (cache.size() >= CACHE_LIMIT) cache.clear();
        cache.put(word, ids);
        return ids;
    }

    private int[] merge(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) return new int[]{whole};
        }
        int n = word.length();
        int[] sym = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        int count = 0;
        for (int i = 0; i < n; ) {
            int cp = word.codePointAt(i);
            int len = Character.charCount(cp);
            int id;
            if (cp < charIds.length && charIds[cp] >= 0) id = charIds[cp];
            else {
                Integer v = vocab.get(word.substring(i, i + len));
                if (v == null) {
                    if (unkId < 0) throw new IllegalStateException("character U+" + Integer.toHexString(cp)
                            + " is not in the vocabulary and the model has no unk token");
                    v = unkId;
                }
                id = v;
            }
            sym[count++] = id;
            i += len;
        }
        for (int i = 0; i < count; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }
        // heap of (rank << 32 | position): smallest rank first, then leftmost position
        PriorityQueue<Long> heap = new PriorityQueue<>();
        for (int i = 0; i + 1 < count; i++) push(heap, sym, i, i + 1);
        boolean[] dead = new boolean[count];
        int alive = count;
        while (!heap.isEmpty()) {
            long top = heap.poll();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            if (dead[pos] || next[pos] < 0) continue;
            int right = next[pos];
            Long m = merges.get(pair(sym[pos], sym[right]));
            if (m == null || (int) (m >>> 32) != rank) continue;   // stale entry
            sym[pos] = (int) (long) m;
            dead[right] = true;
            alive--;
            next[pos] = next[right];
            if (next[right] >= 0) prev[next[right]] = pos;
            if (prev[pos] >= 0) push(heap, sym, prev[pos], pos);
            if (next[pos] >= 0) push(heap, sym, pos, next[pos]);
        }
        int[] out = new int[alive];
        int k = 0;
        for (int i = 0; i < count; i++) if (!dead[i]) out[k++] = sym[i];
        return out;
    }

    private void push(PriorityQueue<Long> heap, int[] sym, int left, int right) {
        Long m = merges.get(pair(sym[left], sym[right]));
        if (m != null) heap.add(((m >>> 32) << 32) | left);
    }
}
