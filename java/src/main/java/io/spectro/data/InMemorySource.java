package io.spectro.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Documents held on the heap (tokenised text, .npy arrays). */
public final class InMemorySource implements TokenSource {
    private final String name;
    private final List<int[]> docs = new ArrayList<>();
    private final List<String> subsets = new ArrayList<>();
    private final Map<String, String> interned = new HashMap<>();

    public InMemorySource(String name) {
        this.name = name;
    }

    public void add(String subset, int[] tokens) {
        subsets.add(interned.computeIfAbsent(subset, s -> s));
        docs.add(tokens);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int documentCount() {
        return docs.size();
    }

    @Override
    public String subset(int doc) {
        return subsets.get(doc);
    }

    @Override
    public long length(int doc) {
        return docs.get(doc).length;
    }

    @Override
    public int[] tokens(int doc, long start, int len) {
        int[] d = docs.get(doc);
        if (start < 0 || len < 0 || start + len > d.length)
            throw new IndexOutOfBoundsException("tokens [" + start + ", " + (start + len) + ") of a " + d.length + "-token document");
        return Arrays.copyOfRange(d, (int) start, (int) start + len);
    }
}
