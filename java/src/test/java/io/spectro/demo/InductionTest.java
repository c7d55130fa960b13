package io.spectro.demo;

import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.TinyFixture;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class InductionTest {
    @Test
    void uniformModeSeparatesEverywhereAndRowCentringShowsThePlantedColumn() {
        int rows = 400, h = 4;
        Random r = new Random(3);
        boolean[] ind = new boolean[rows];
        float[] chi = new float[rows * h];
        for (int i = 0; i < rows; i++) {
            ind[i] = i % 3 == 0;
            // a uniform mode: every column moves together, and induction tokens sit high on it ...
            double uniform = r.nextGaussian() + (ind[i] ? 3 : 0);
            // ... except column c, which does not follow it for induction tokens
            for (int c = 0; c < h; c++) chi[i * h + c] = (float) (uniform + 0.3 * r.nextGaussian() + (c == 2 && ind[i] ? -3 : 0));
        }
        List<Induction.Row> rowsOut = Induction.separation(chi, rows, List.of("a", "b", "c", "d"), ind);
        for (int c : new int[] {0, 1, 3}) assertTrue(rowsOut.get(c).auc() > 0.95, rowsOut.get(c).toString());
        assertTrue(rowsOut.get(2).auc() < 0.7, "raw c does not separate: " + rowsOut.get(2));
        assertEquals("+", rowsOut.get(0).direction());
        // after removing the uniform mode only the planted column separates, and on the low side
        assertTrue(rowsOut.get(2).aucCentred() > 0.9 && rowsOut.get(2).directionCentred().equals("-"), rowsOut.get(2).toString());
        assertEquals("+", rowsOut.get(0).directionCentred(), "the others rise when c is subtracted from the row mean");
    }

    @Test
    void landscapeColumnIsTheSignedDifferenceOfTheCentredAucs() {
        List<Induction.Row> sgld = List.of(new Induction.Row("l0h0", 0.99, 0.60), new Induction.Row("l0h1", 0.99, 0.30),
                new Induction.Row("l0mlp", 0.99, 0.80));
        List<Induction.Row> base = List.of(new Induction.Row("l0h0", 0.99, 0.55), new Induction.Row("l0h1", 0.99, 0.40),
                new Induction.Row("l0mlp", 0.99, 0.50));
        assertEquals(0.70, sgld.get(1).aucCentred(), 1e-12);
        assertEquals("-", sgld.get(1).directionCentred());
        assertEquals(0.30, sgld.get(1).centredSigned(), 1e-12, "'-' with 0.70 is a signed AUC of 0.30");
        // l0h0 rises (0.60 > 0.55), l0h1 falls (0.30 < 0.40), the MLP rises but is not a head
        assertEquals(List.of("l0h0 +0.050", "l0h1 -0.100"), Induction.headsByLandscape(sgld, base));
        String t = Induction.table(sgld, base, List.of(new Induction.Ablation("none", 0.1, 5), new Induction.Ablation("l0h0", 2.5, 5)));
        assertTrue(t.contains("| l0h0 | 2.50 |") && t.contains("| +0.050 |") && t.contains("| -0.100 |") && t.contains("| l0mlp | – |"), t);
    }

    @Test
    void ablationZeroesOneOutputAtATimeAndRestoresTheWeights() {
        TinyFixture.assumeNative();
        var cfg = TinyFixture.TINY;
        MemorySegment w = TinyFixture.params(cfg, 4);
        int rows = 6, T = 32;
        int[] tokens = TinyFixture.tokens(rows, T, cfg.vocabSize(), 5);
        boolean[] ind = new boolean[rows * (T - 1)];
        for (int b = 0; b < rows; b++) for (int t = T / 2; t < T - 1; t++) ind[b * (T - 1) + t] = true;
        try (NativeModel m = NativeModel.create(Backend.load("cpu"), cfg, 1, rows * T, false)) {
            m.load(w);
            float[] intact = new float[rows * (T - 1)];
            List<Induction.Ablation> a = Induction.ablation(m, cfg, tokens, rows, T, ind, intact);
            assertEquals(1 + cfg.nLayers() * (cfg.nHeads() + 1), a.size());
            assertEquals("none", a.get(0).component());
            double si = 0;
            int ni = 0;
            for (int i = 0; i < intact.length; i++) if (ind[i]) { si += intact[i]; ni++; }
            assertEquals(a.get(0).inductionLoss(), si / ni, 1e-12, "the intact losses handed back are the first entry's");
            assertEquals("l1mlp", a.get(a.size() - 1).component());
            for (int i = 1; i < a.size(); i++)
                assertNotEquals(a.get(0).inductionLoss(), a.get(i).inductionLoss(), "ablating " + a.get(i).component() + " changed nothing");
            float[] after = m.readParams(0, (int) cfg.paramCount());
            for (int i = 0; i < after.length; i++)
                assertEquals(w.getAtIndex(ValueLayout.JAVA_FLOAT, i), after[i], "weight " + i + " not restored");
            // with a huge threshold nothing is "the circuit", with a negative one everything is
            assertTrue(Induction.circuit(a, 1e9).isEmpty());
            assertEquals(a.size() - 1, Induction.circuit(a, -1e9).size());
        }
    }
}
