package io.spectro.data;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Counts of a corpus: documents and tokens per subset (exact), and a token histogram over the first
 * {@code maxTokens} tokens in document order (all tokens when maxTokens is 0).
 */
public record CorpusStats(Map<String, long[]> perSubset, long documents, long tokens,
                          long histogramTokens, List<long[]> top) {

    public static CorpusStats fit(List<TokenSource> sources, int topK, long maxTokens) {
        TreeMap<String, long[]> per = new TreeMap<>();
        long docs = 0, tokens = 0, seen = 0;
        HashMap<Integer, long[]> hist = new HashMap<>();
        for (TokenSource s : sources) {
            for (int d = 0; d < s.documentCount(); d++) {
                long len = s.length(d);
                long[] c = per.computeIfAbsent(s.subset(d), k -> new long[2]);
                c[0]++;
                c[1] += len;
                docs++;
                tokens += len;
                if (maxTokens == 0 || seen < maxTokens) {
                    int take = (int) Math.min(len, maxTokens == 0 ? Integer.MAX_VALUE : maxTokens - seen);
                    for (int t : s.tokens(d, 0, take)) hist.computeIfAbsent(t, k -> new long[1])[0]++;
                    seen += take;
                }
            }
        }
        List<long[]> top = new ArrayList<>();
        hist.forEach((id, c) -> top.add(new long[]{id, c[0]}));
        top.sort(Comparator.<long[]>comparingLong(x -> -x[1]).thenComparingLong(x -> x[0]));
        return new CorpusStats(per, docs, tokens, seen, List.copyOf(top.subList(0, Math.min(topK, top.size()))));
    }
}
