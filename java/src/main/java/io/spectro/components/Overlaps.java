package io.spectro.components;

import io.spectro.SpectroException;
import io.spectro.model.Block;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Makes a component's blocks disjoint. A parameter listed twice would get the SGLD update twice per
 * step (a spec {@code a: head(0,0) head(0,0)} moved 108% away from {@code a: head(0,0)}), so a
 * block equal to or inside another block is dropped; blocks that overlap only partly are refused,
 * naming both parts.
 */
final class Overlaps {
    private Overlaps() {}

    /** A block and the part of the spec it came from. */
    record Part(String name, Block block) {}

    /**
     * The parts with every duplicate or contained block dropped (the rest in their order); a partial
     * overlap is refused with a message that starts with {@code where} and names both parts.
     */
    static List<Block> disjoint(List<Part> parts, String where) {
        // widest first, so of two blocks the one inside the other is dropped
        Integer[] order = new Integer[parts.size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (x, y) -> Long.compare(parts.get(y).block().numel(), parts.get(x).block().numel()));
        boolean[] keep = new boolean[parts.size()];
        long[][] iv = new long[parts.size()][];
        List<Integer> kept = new ArrayList<>();
        for (int i : order) {
            Part p = parts.get(i);
            iv[i] = intervals(p.block());
            boolean dropped = false;
            for (int j : kept) {
                if (!overlaps(p.block(), parts.get(j).block())) continue;
                if (inside(iv[i], iv[j])) { dropped = true; break; }
                long at = firstShared(iv[i], iv[j]);
                if (at >= 0)
                    throw new SpectroException(where + "parts '" + parts.get(j).name() + "' and '" + p.name() + "' overlap (both hold "
                            + "parameter element " + at + ") without one containing the other; list each parameter once");
            }
            if (!dropped) { kept.add(i); keep[i] = true; }
        }
        List<Block> out = new ArrayList<>(); // the spec's order numbers the elements (method.md section 1)
        for (int i = 0; i < parts.size(); i++) if (keep[i]) out.add(parts.get(i).block());
        return out;
    }

    private static boolean overlaps(Block a, Block b) {
        return a.offset() < b.end() && b.offset() < a.end();
    }

    /** Sorted, disjoint [start, end) pairs, flattened: one per row, or one for a contiguous block. */
    static long[] intervals(Block b) {
        if (b.rows() <= 1 || b.cols() == b.stride()) return new long[]{b.offset(), b.end()};
        if (b.rows() > Integer.MAX_VALUE / 2) throw new IllegalArgumentException("block with " + b.rows() + " rows");
        long[] out = new long[(int) (2 * b.rows())];
        for (int r = 0; r < b.rows(); r++) {
            out[2 * r] = b.offset() + r * b.stride();
            out[2 * r + 1] = out[2 * r] + b.cols();
        }
        return out;
    }

    /** Whether every interval of {@code a} lies inside one interval of {@code b}. */
    private static boolean inside(long[] a, long[] b) {
        for (int i = 0; i < a.length; i += 2) {
            int k = containing(b, a[i]);
            if (k < 0 || b[k + 1] < a[i + 1]) return false;
        }
        return true;
    }

    /** Index (even) of the interval of {@code iv} with the largest start <= x, if it holds x; else -1. */
    private static int containing(long[] iv, long x) {
        int lo = 0, hi = iv.length / 2 - 1, found = -1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (iv[2 * mid] <= x) { found = mid; lo = mid + 1; } else hi = mid - 1;
        }
        return found >= 0 && x < iv[2 * found + 1] ? 2 * found : -1;
    }

    /** The first element both interval lists hold, or -1. */
    private static long firstShared(long[] a, long[] b) {
        int i = 0, j = 0;
        while (i < a.length && j < b.length) {
            long lo = Math.max(a[i], b[j]), hi = Math.min(a[i + 1], b[j + 1]);
            if (lo < hi) return lo;
            if (a[i + 1] < b[j + 1]) i += 2; else j += 2;
        }
        return -1;
    }

}
