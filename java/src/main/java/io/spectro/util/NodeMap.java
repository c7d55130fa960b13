package io.spectro.util;

import java.util.Arrays;

/**
 * Node → int for the few nodes one step works on (a PPR solve's explored set, one row's NN-descent
 * candidates): open addressing with generation stamps, so {@link #clear} is O(1) and the memory is sized by
 * the entries (it grows by doubling), not by the graph. {@link #get} returns 0 for a node that is absent, so
 * values should be ≥ 1.
 */
public final class NodeMap {
    private int[] keys, vals, gen;
    private int mask, shift, size, now = 1;

    public NodeMap() { this(256); }

    /** @param capacity initial slots (rounded up to a power of two) */
    public NodeMap(int capacity) { alloc(Integer.highestOneBit(Math.max(16, capacity) - 1) << 1); }

    private void alloc(int cap) {
        keys = new int[cap];
        vals = new int[cap];
        gen = new int[cap];
        mask = cap - 1;
        shift = 32 - Integer.numberOfTrailingZeros(cap);
        size = 0;
    }

    public void clear() {
        size = 0;
        if (++now == Integer.MAX_VALUE) {
            Arrays.fill(gen, 0);
            now = 1;
        }
    }

    public int get(int v) {
        int h = (v * 0x9E3779B9) >>> shift;
        while (gen[h] == now) {
            if (keys[h] == v) return vals[h];
            h = (h + 1) & mask;
        }
        return 0;
    }

    /** Adds v (value 1); false when it was there already. */
    public boolean add(int v) {
        if (get(v) != 0) return false;
        put(v, 1);
        return true;
    }

    public void put(int v, int value) {
        if (2 * (size + 1) > keys.length) grow();
        int h = (v * 0x9E3779B9) >>> shift;
        while (gen[h] == now) {
            if (keys[h] == v) {
                vals[h] = value;
                return;
            }
            h = (h + 1) & mask;
        }
        gen[h] = now;
        keys[h] = v;
        vals[h] = value;
        size++;
    }

    private void grow() {
        int[] k = keys, v = vals, g = gen;
        int live = now;
        alloc(k.length * 2);
        for (int i = 0; i < k.length; i++) if (g[i] == live) put(k[i], v[i]);
    }
}
