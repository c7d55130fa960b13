package io.spectro.report;

import io.spectro.structure.Cards;
import io.spectro.structure.Pipeline;
import io.spectro.structure.TokenTable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The across-scale comparison and the subset-purity report on hand-made clusterings with known answers. */
class AcrossScaleTest {
    /** 12 rows: she she she he he he her her x x y y, in subsets a a a a b b b b c c c c. */
    static final String[] TOK = {" she", " she", " she", " he", " he", " he", " her", " her", "x", "x", "y", "y"};
    static final String[] SUB = {"a", "a", "a", "a", "b", "b", "b", "b", "c", "c", "c", "c"};

    static Pipeline.ClustersFile clusters(int[][] members) {
        List<Cards.Card> cs = new ArrayList<>();
        for (int i = 0; i < members.length; i++) {
            Map<String, Integer> t = new HashMap<>(), s = new HashMap<>();
            for (int r : members[i]) {
                t.merge(TOK[r], 1, Integer::sum);
                s.merge(SUB[r], 1, Integer::sum);
            }
            List<Cards.TokenCount> tc = new ArrayList<>(), sc = new ArrayList<>();
            t.forEach((k, v) -> tc.add(new Cards.TokenCount(k, v)));
            s.forEach((k, v) -> sc.add(new Cards.TokenCount(k, v)));
            tc.sort((p, q) -> q.n() != p.n() ? Integer.compare(q.n(), p.n()) : p.t().compareTo(q.t()));
            sc.sort((p, q) -> q.n() != p.n() ? Integer.compare(q.n(), p.n()) : p.t().compareTo(q.t()));
            cs.add(new Cards.Card(Cards.id(i), members[i].length, members[i][0], 0.1, 0, false, 0, tc, List.of(), List.of(),
                    new float[0], List.of(), members[i], sc, 0));
        }
        return new Pipeline.ClustersFile("spectro-clusters/1", "w", "chi", TOK.length, 2, Map.of(), null, null, Map.of(), List.of(), cs);
    }

    static TokenTable table(Path dir) throws IOException {
        StringBuilder b = new StringBuilder("row,seq,pos,token_id,token\n");
        for (int r = 0; r < TOK.length; r++) b.append(r).append(",0,").append(r).append(",").append(r).append(",\"").append(TOK[r]).append("\"\n");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("tokens.csv"), b.toString());
        return TokenTable.read(dir, TOK.length);
    }

    // A: she+he together with x, her with y.  B: she+her together, he with x, y unclustered.
    static final int[][] A = {{0, 1, 2, 3, 4, 5, 8, 9}, {6, 7, 10, 11}};
    static final int[][] B = {{0, 1, 2, 6, 7}, {3, 4, 5, 8, 9}};

    @Test
    void sidesCountSharesAndCompanions() {
        AcrossScale.Side a = AcrossScale.side(clusters(A), " she"), b = AcrossScale.side(clusters(B), "she");
        assertEquals(3, a.clustered());
        assertEquals(1, a.clusters());
        assertEquals("C0001", a.topId());
        assertEquals(1.0, a.topShare(), 1e-12);
        assertEquals(List.of(" he"), a.companions(), "x occurs only twice: below the companion minimum");
        assertEquals(List.of(), b.companions(), "her occurs twice in B's cluster");
        assertEquals(0, AcrossScale.side(clusters(B), "y").clustered());
        // overlap: she and he share everything in A, nothing in B
        assertEquals(1.0, AcrossScale.overlap(a, AcrossScale.side(clusters(A), " he")), 1e-12);
        assertEquals(0.0, AcrossScale.overlap(b, AcrossScale.side(clusters(B), " he")), 1e-12);
        assertEquals(1.0, AcrossScale.overlap(b, AcrossScale.side(clusters(B), " her")), 1e-12);
    }

    @Test
    void pairsAreFollowedRowByRowOnlyWhenRowsAlign(@TempDir Path dir) throws IOException {
        TokenTable t = table(dir.resolve("t"));
        AcrossScale.Shift she = AcrossScale.shift(" she", clusters(A), t, clusters(B), t);
        assertEquals(3, she.pairs());
        assertEquals(1.0, she.pairsAgreement(), 1e-12);
        // " x": rows 8, 9 together in both
        assertEquals(1.0, AcrossScale.shift("x", clusters(A), t, clusters(B), t).pairsAgreement(), 1e-12);
        // y: together in A, unclustered in B
        AcrossScale.Shift y = AcrossScale.shift("y", clusters(A), t, clusters(B), t);
        assertEquals(1, y.pairs());
        assertEquals(0.0, y.pairsAgreement(), 1e-12);
        // no token tables: not aligned
        assertEquals(-1, AcrossScale.shift(" she", clusters(A), null, clusters(B), null).pairs());
        String page = Compare.render("small", clusters(A), t, "large", clusters(B), t, List.of(" she", " he", " her"));
        assertTrue(page.contains("What differs"));
        assertTrue(page.contains("100% of 3"), "she's three pairs stay together");
        assertTrue(page.contains("1.00 \u2192 0.00"), "she/he overlap goes from 1 to 0");
        assertTrue(page.contains("3 occurrences clustered, in 1 cluster (100% in C0001; with \u2039 he\u203a)"));
    }

    @Test
    void subsetPurity() {
        // A: cluster 1 = a a a a b b c c (purity 0.5), cluster 2 = b b c c (0.5)
        SubsetPurity a = SubsetPurity.of(clusters(A));
        assertNotNull(a);
        assertEquals(0.5, a.mean(), 1e-9);
        assertEquals(0.5, a.weighted(), 1e-9);
        assertEquals(4 / 12.0, a.chance(), 1e-3);
        assertEquals(List.of(), a.across(), "0.5 is not below the threshold");
        assertEquals(new SubsetPurity.Split(4, 1, 1), a.subsets().get("a"));
        assertEquals(new SubsetPurity.Split(4, 0, 2), a.subsets().get("c"));
        // B: {a a a b b} 0.6, {a b b c c} 0.4 -> the second cuts across
        SubsetPurity b = SubsetPurity.of(clusters(B));
        assertEquals(0.5, b.mean(), 1e-9);
        assertEquals(List.of("C0002"), b.across());
        assertTrue(b.line().contains("1 of 2 clusters cut across subsets"));
    }
}
