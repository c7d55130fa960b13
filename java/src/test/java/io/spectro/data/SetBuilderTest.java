package io.spectro.data;

import io.spectro.SpectroException;
import io.spectro.io.Npy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class SetBuilderTest {
    /** Three subsets of different sizes; token = unique code of (source, doc, position) so windows can be traced. */
    static List<TokenSource> sources(int smallDocs) {
        List<TokenSource> out = new ArrayList<>();
        String[] subsets = {"big", "mid", "small"};
        int[] docs = {40, 20, smallDocs};
        SplittableRandom r = new SplittableRandom(1);
        for (int s = 0; s < 3; s++) {
            InMemorySource src = new InMemorySource("src" + s);
            for (int d = 0; d < docs[s]; d++) {
                int len = r.nextInt(5, 400);
                int[] t = new int[len];
                for (int i = 0; i < len; i++) t[i] = s * 10_000_000 + d * 1000 + i;
                src.add(subsets[s], t);
            }
            out.add(src);
        }
        return out;
    }

    static long[] span(SetBuilder.Window w, int seq) {
        return new long[]{w.start(), w.start() + seq};
    }

    @Test
    void setsAreDisjointBalancedAndMatchTheirManifests() {
        int seq = 32;
        List<TokenSource> src = sources(6);
        SetBuilder.Result r = SetBuilder.fit(src, new SetBuilder.Options(seq, 60, 90, 7));
        assertEquals(60, r.probe().rows());
        assertEquals(90, r.sampling().rows());
        // tokens come from the recorded windows
        for (SetBuilder.TokenSet set : List.of(r.probe(), r.sampling())) {
            for (int row = 0; row < set.rows(); row++) {
                SetBuilder.Window w = set.windows().get(row);
                TokenSource s = src.stream().filter(x -> x.name().equals(w.source())).findFirst().orElseThrow();
                assertEquals(w.subset(), s.subset(w.doc()));
                assertArrayEquals(s.tokens(w.doc(), w.start(), seq), Arrays.copyOfRange(set.tokens(), row * seq, (row + 1) * seq));
                assertTrue(w.start() + seq <= s.length(w.doc()));
            }
        }
        // no two windows (within or across sets) share a token position of a document
        Map<String, List<long[]>> byDoc = new HashMap<>();
        List<SetBuilder.Window> all = new ArrayList<>(r.probe().windows());
        all.addAll(r.sampling().windows());
        for (SetBuilder.Window w : all) {
            List<long[]> l = byDoc.computeIfAbsent(w.source() + "#" + w.doc(), k -> new ArrayList<>());
            for (long[] o : l) assertTrue(w.start() + seq <= o[0] || o[1] <= w.start(), "overlap in " + w);
            l.add(span(w, seq));
        }
        // equal per subset where possible; the small subset gives what it has
        long smallCap = 0;
        for (int d = 0; d < src.get(2).documentCount(); d++) smallCap += src.get(2).length(d) / seq;
        int[] small = r.perSubset().get("small"), mid = r.perSubset().get("mid"), big = r.perSubset().get("big");
        assertEquals(smallCap, small[0] + small[1]);
        assertTrue(Math.abs(mid[0] - big[0]) <= 1, "probe " + mid[0] + " vs " + big[0]);
        assertTrue(small[0] <= mid[0] && mid[0] + big[0] + small[0] == 60);
        assertEquals(90, small[1] + mid[1] + big[1]);
    }

    @Test
    void deterministicForASeed() {
        SetBuilder.Options o = new SetBuilder.Options(16, 20, 30, 42);
        SetBuilder.Result a = SetBuilder.fit(sources(10), o), b = SetBuilder.fit(sources(10), o);
        assertArrayEquals(a.probe().tokens(), b.probe().tokens());
        assertArrayEquals(a.sampling().tokens(), b.sampling().tokens());
        assertEquals(a.probe().windows(), b.probe().windows());
        SetBuilder.Result c = SetBuilder.fit(sources(10), new SetBuilder.Options(16, 20, 30, 43));
        assertFalse(Arrays.equals(a.probe().tokens(), c.probe().tokens()));
    }

    @Test
    void quotasSpillAndCapacityIsChecked() {
        assertArrayEquals(new long[]{4, 3, 3}, SetBuilder.quotas(10, new long[]{100, 100, 100}));
        assertArrayEquals(new long[]{1, 5, 4}, SetBuilder.quotas(10, new long[]{1, 100, 100}));
        assertArrayEquals(new long[]{0, 0}, SetBuilder.quotas(0, new long[]{5, 5}));
        SpectroException e = assertThrows(SpectroException.class,
                () -> SetBuilder.fit(sources(3), new SetBuilder.Options(32, 5000, 5000, 1)));
        assertTrue(e.getMessage().contains("fewer than --probe"), e.getMessage());
        e = assertThrows(SpectroException.class, () -> SetBuilder.fit(sources(3), new SetBuilder.Options(100_000, 1, 1, 1)));
        assertTrue(e.getMessage().contains("--seq"), e.getMessage());
        assertThrows(SpectroException.class, () -> new SetBuilder.Options(1, 1, 1, 0));
        assertThrows(SpectroException.class, () -> new SetBuilder.Options(8, -1, 1, 0));
        assertThrows(SpectroException.class, () -> new SetBuilder.Options(8, 0, 0, 0));
    }

    @Test
    void usingEveryWindowStillDisjoint() {
        // exact capacity: every slot of every document is used
        InMemorySource s = new InMemorySource("one");
        s.add("a", new int[]{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
        s.add("a", new int[]{10, 11, 12, 13, 14, 15});
        SetBuilder.Result r = SetBuilder.fit(List.of(s), new SetBuilder.Options(3, 2, 3, 5));
        int[] all = new int[15];
        System.arraycopy(r.probe().tokens(), 0, all, 0, 6);
        System.arraycopy(r.sampling().tokens(), 0, all, 6, 9);
        assertEquals(15, Arrays.stream(all).distinct().count());
    }

    @Test
    void writesNpyAndManifests(@TempDir Path dir) throws Exception {
        SetBuilder.Options o = new SetBuilder.Options(16, 12, 8, 3);
        SetBuilder.Result r = SetBuilder.fit(sources(10), o);
        SetBuilder.write(r, o, List.of("x"), dir);
        Npy.Ints p = Npy.readInts(dir.resolve("probe.npy"));
        assertArrayEquals(new long[]{12, 16}, p.shape());
        assertArrayEquals(r.probe().tokens(), p.data());
        assertArrayEquals(new long[]{8, 16}, Npy.readInts(dir.resolve("sampling.npy")).shape());
        List<String> lines = Files.readAllLines(dir.resolve("sampling.jsonl"));
        assertEquals(8, lines.size());
        SetBuilder.Window w = r.sampling().windows().get(0);
        assertEquals("{\"row\":0,\"subset\":\"" + w.subset() + "\",\"source\":\"" + w.source() + "\",\"doc\":" + w.doc()
                + ",\"start\":" + w.start() + "}", lines.get(0));
        assertTrue(Files.readString(dir.resolve("build.json")).contains("\"seed\" : 3"));
    }
}
