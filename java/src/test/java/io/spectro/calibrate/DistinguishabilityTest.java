package io.spectro.calibrate;

import io.spectro.SpectroException;
import io.spectro.structure.Pipeline;
import io.spectro.structure.SyntheticRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Synthetic runs: the same seed gives the same clustered vectors (ARI 1), another seed an unrelated structure. */
class DistinguishabilityTest {
    @Test
    void aRunIsFlaggedExactlyWhenItsBaselineIsCloserThanItsReplicate(@TempDir Path dir) {
        Pipeline.log = null;
        SyntheticRun.write(dir.resolve("run"), SyntheticRun.Spec.of(500, 8, 4, 1));
        SyntheticRun.write(dir.resolve("same"), SyntheticRun.Spec.of(500, 8, 4, 1));
        SyntheticRun.write(dir.resolve("other"), SyntheticRun.Spec.of(500, 8, 4, 2));
        Distinguishability.Report good = Distinguishability.compare(dir.resolve("run"), dir.resolve("other"), dir.resolve("same"));
        assertEquals(1.0, good.ariReplicate(), 1e-9);
        assertTrue(good.ariBaseline() < 0.5, good.table());
        assertTrue(good.distinguishable(), good.table());
        assertEquals(1.0, good.columns().get(0).corrReplicate(), 1e-9);
        Distinguishability.Report bad = Distinguishability.compare(dir.resolve("run"), dir.resolve("same"), dir.resolve("other"));
        assertFalse(bad.distinguishable());
        assertTrue(bad.table().contains("NOT distinguishable"), bad.table());
        Distinguishability.Report none = Distinguishability.compare(dir.resolve("run"), dir.resolve("other"), null);
        assertFalse(none.distinguishable());
        assertTrue(none.table().contains("ceiling is unknown"));
        SyntheticRun.write(dir.resolve("wrong"), SyntheticRun.Spec.of(400, 8, 4, 1));
        assertThrows(SpectroException.class, () -> Distinguishability.compare(dir.resolve("run"), dir.resolve("wrong"), null));
    }
}
