package io.spectro.demo;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The synthetic sequences' induction labels: a token is labelled exactly when [A][B] ... [A] -> [B] predicts it. */
class SyntheticTest {

    /** True when token t is predicted by copying: some earlier s < t with x[s-1] = x[t-1] and x[s] = x[t]. */
    static boolean copyable(int[] x, int o, int t) {
        for (int s = 1; s < t; s++) if (x[o + s - 1] == x[o + t - 1] && x[o + s] == x[o + t]) return true;
        return false;
    }

    @Test
    void periodicLabelsMarkExactlyTheRepeatedContinuations() {
        int rows = 300, T = 64;
        Synthetic.Sequences s = Synthetic.periodic(rows, T, 1, 512, 5);
        int labelled = 0;
        for (int r = 0; r < rows; r++) {
            int o = r * T;
            for (int t = 0; t < T; t++) {
                if (!s.induction()[o + t]) continue;
                labelled++;
                assertTrue(copyable(s.tokens(), o, t), "row " + r + " position " + t + " is labelled but nothing earlier predicts it");
            }
            // the labelled region is one contiguous tail: period detection starts at one position and stays on
            int first = -1;
            for (int t = 0; t < T; t++) if (s.induction()[o + t]) { first = t; break; }
            assertTrue(first >= 9 && first <= 16 + 24 + 1, "row " + r + ": labels start at " + first);
            for (int t = first; t < T; t++) assertTrue(s.induction()[o + t], "row " + r + ": gap in labels at " + t);
            for (int t = 0; t < T; t++) assertTrue(s.tokens()[o + t] >= 1 && s.tokens()[o + t] < 512);
        }
        double fraction = labelled / (double) (rows * T);
        assertTrue(fraction > 0.45 && fraction < 0.75, "fraction of induction tokens " + fraction);
    }

    @Test
    void markovSpanLabelsArePredictableByCopyingAndSeedDetermined() {
        Synthetic.Sequences a = Synthetic.generate(200, 64, 1, 512, 1.0, 7), b = Synthetic.generate(200, 64, 1, 512, 1.0, 7);
        assertArrayEquals(a.tokens(), b.tokens());
        int labelled = 0;
        for (int i = 0; i < a.induction().length; i++) {
            if (!a.induction()[i]) continue;
            labelled++;
            int r = i / 64, t = i % 64;
            assertTrue(copyable(a.tokens(), r * 64, t), "token " + i + " labelled but not copyable");
        }
        assertTrue(labelled >= 200 * 9, "every row repeats a span of >= 10 tokens: " + labelled + " labels");
        assertEquals(200 * 64, a.tokens().length);
    }
}
