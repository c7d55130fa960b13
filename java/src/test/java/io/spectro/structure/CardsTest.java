package io.spectro.structure;

import io.spectro.SpectroException;
import io.spectro.io.Npy;
import io.spectro.report.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class CardsTest {
    @Test
    void cardListsExactlyItsMembersTokens(@TempDir Path dir) {
        Fixtures.run(dir, 900, 4, false, 3);
        Pipeline.ClustersFile cf = Pipeline.readClusters(dir.resolve("clusters"));
        TokenTable tt = TokenTable.read(dir, cf.rows());
        assertFalse(cf.clusters().isEmpty());
        int[] labels = Npy.readInts(dir.resolve("clusters").resolve("labels.npy")).data();
        assertEquals(900, labels.length);
        for (Cards.Card c : cf.clusters()) {
            Map<String, Integer> want = new HashMap<>(), got = new HashMap<>();
            for (int r : c.members()) want.merge(tt.token(r), 1, Integer::sum);
            int total = 0;
            for (Cards.TokenCount t : c.tokens()) {
                assertNull(got.put(t.t(), t.n()), "token listed twice: " + t.t());
                total += t.n();
            }
            assertEquals(want, got, c.id());
            assertEquals(c.size(), total);
            assertEquals(c.members().length, c.size());
            for (Cards.Example e : c.examples()) {
                assertTrue(java.util.Arrays.binarySearch(c.members(), e.row()) >= 0);
                assertEquals(tt.token(e.row()), e.y());
                String[] ctx = tt.context(e.row());
                assertEquals(ctx[e.pos()], e.y());
            }
            assertEquals(30, c.profile().length);
            assertEquals(Cards.STRONGEST, c.strongest().size());
            assertTrue(c.id().matches("C\\d{4}"));
        }
        assertTrue(Files.isRegularFile(dir.resolve("clusters").resolve("map.json")));
    }

    @Test
    void tokenTableIsOptional(@TempDir Path dir) throws Exception {
        SyntheticRun.write(dir, SyntheticRun.Spec.of(400, 12, 2, 1));
        Files.delete(dir.resolve("tokens.csv"));
        Files.delete(dir.resolve("tokens.arrow"));
        Files.delete(dir.resolve("contexts.jsonl"));
        Pipeline.log = null;
        Pipeline.cluster(dir.resolve("chi.npy"), dir.resolve("c"), Fixtures.fastKnn(), Fixtures.fastCluster(), null);
        Pipeline.ClustersFile cf = Pipeline.readClusters(dir.resolve("c"));
        assertFalse(cf.clusters().isEmpty());
        for (Cards.Card c : cf.clusters()) {
            assertTrue(c.tokens().isEmpty());
            for (Cards.Example e : c.examples()) assertEquals("row " + e.row(), e.y());
        }
    }

    @Test
    void tokenTableIsReadFromArrowWithoutCsv(@TempDir Path dir) throws Exception {
        SyntheticRun.write(dir, SyntheticRun.Spec.of(120, 5, 2, 1).withHostile(true));
        TokenTable csv = TokenTable.read(dir, 120);
        Files.delete(dir.resolve("tokens.csv"));
        TokenTable arrow = TokenTable.read(dir, 120);
        for (int r = 0; r < 120; r++) {
            assertEquals(csv.token(r), arrow.token(r));
            assertEquals(csv.seq(r), arrow.seq(r));
            assertEquals(csv.pos(r), arrow.pos(r));
            assertEquals(csv.tokenId(r), arrow.tokenId(r));
        }
        assertTrue(arrow.hasContexts());
        SpectroException e = assertThrows(SpectroException.class, () -> TokenTable.read(dir, 121));
        assertTrue(e.getMessage().contains("tokens.arrow") && e.getMessage().contains("row 120 is missing"), e.getMessage());
    }

    @Test
    void tokenTableErrorsNameTheFile(@TempDir Path dir) throws Exception {
        SyntheticRun.write(dir, SyntheticRun.Spec.of(100, 5, 2, 1));
        SpectroException e = assertThrows(SpectroException.class, () -> TokenTable.read(dir, 101));
        assertTrue(e.getMessage().contains("tokens.csv") && e.getMessage().contains("row 100 is missing"), e.getMessage());
        Files.writeString(dir.resolve("tokens.csv"), "row,seq,pos,token_id,token\n0,0,1,5,\"a,b\"\n1,x,1,5,b\n");
        e = assertThrows(SpectroException.class, () -> TokenTable.read(dir, 2));
        assertTrue(e.getMessage().contains("tokens.csv") && e.getMessage().contains("record 2"), e.getMessage());
        Files.writeString(dir.resolve("tokens.csv"), "row,seq,pos,token_id,token\n0,0,1,5,\"a,\"\"b\"\"\nc\"\n1,0,2,6,\" d\"\n");
        TokenTable t = TokenTable.read(dir, 2);
        assertEquals("a,\"b\"\nc", t.token(0));
        assertEquals(" d", t.token(1));
    }

    @Test
    void regionLabelsShowWhitespaceTokensEscapedNotEmpty() {
        assertEquals("the", Pipeline.labelToken(" the"));
        assertEquals("\\n", Pipeline.labelToken("\n"));
        assertEquals("\\n\\n", Pipeline.labelToken("\n\n"));
        assertEquals("\u2423\u2423", Pipeline.labelToken("  "));
    }

    @Test
    void profilesInOnePassEqualEachClustersMeanOfItsMembers() {
        // 300,000 rows of 7 columns: two blocks of 2^20 / 7 rows; memberships overlap and span both blocks
        int n = 300_000, h = 7;
        float[] d = new float[n * h];
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        for (int i = 0; i < d.length; i++) d[i] = (float) r.nextGaussian();
        io.spectro.util.Vectors z = new io.spectro.util.Vectors(d, n, h);
        java.util.List<io.spectro.cluster.PprClustering.Cluster> cl = new java.util.ArrayList<>();
        for (int c = 0; c < 5; c++) {
            int[] mem = r.ints(0, n).distinct().limit(1 + c * 40_000L).sorted().toArray(); // overlapping, across blocks
            cl.add(new io.spectro.cluster.PprClustering.Cluster(mem, new float[mem.length], mem[0], 0.1, 0, false, 0));
        }
        float[][] p = Cards.profiles(cl, z);
        for (int c = 0; c < cl.size(); c++) {
            int[] mem = cl.get(c).members();
            for (int j = 0; j < h; j++) {
                double s = 0;
                for (int m : mem) s += d[m * h + j];
                assertEquals(Math.round(s / mem.length * 1e4) / 1e4, p[c][j], 1.01e-4, "cluster " + c + " column " + j);
            }
        }
        assertEquals(0, Cards.profiles(cl, null)[2].length);
    }
}
