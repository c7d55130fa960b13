package io.spectro.demo;

import io.spectro.SpectroException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Copying the demo's shipped files: complete or nothing, optional files may be absent, a gap is named. */
class CopyShippedTest {
    @Test
    void aFileMissingFromTheJarIsNamedAndLeavesNothing(@TempDir Path dir) {
        Path model = dir.resolve("small");
        SpectroException e = assertThrows(SpectroException.class, () -> PileDemo.copyShipped(PileDemo.SHIPPED + "small/",
                new String[]{"config.json", "no-such-file.bin"}, model));
        assertTrue(e.getMessage().contains("no-such-file.bin"), e.getMessage());
        assertFalse(Files.exists(model));
        assertFalse(Files.exists(dir.resolve("small.tmp")), "the temporary folder is removed");
    }

    @Test
    void optionalFilesMayBeAbsentAndAFolderWithoutTheFirstFileIsRefused(@TempDir Path dir) throws Exception {
        Path large = dir.resolve("large");
        PileDemo.copyShipped(PileDemo.SHIPPED + "large/", new String[]{"config.json", "calibration.json", "TRAINED_WITH.txt"}, large);
        assertTrue(Files.isRegularFile(large.resolve("config.json")));
        assertTrue(Files.isRegularFile(large.resolve("TRAINED_WITH.txt")));
        assertFalse(Files.exists(large.resolve("calibration.json")), "the larger model ships no calibration of its own");
        Path broken = dir.resolve("broken");
        Files.createDirectories(broken);
        SpectroException e = assertThrows(SpectroException.class, () -> PileDemo.copyShipped(PileDemo.SHIPPED + "small/",
                new String[]{"config.json"}, broken));
        assertTrue(e.getMessage().contains("holds no config.json"), e.getMessage());
    }

    @Test
    void theLargerModelAloneTakesTheSmallOnesCalibrationFromTheJar(@TempDir Path dir) throws Exception {
        io.spectro.calibrate.CalibrationFiles.Recommended shipped = PileDemo.shippedCalibration("small");
        assertNotNull(shipped, "the small model ships its calibration");
        assertNull(PileDemo.shippedCalibration("large"));
        Path large = dir.resolve("models").resolve("large");
        PileDemo.copyShipped(PileDemo.SHIPPED + "large/", PileDemo.MODEL_FILES, large);
        assertFalse(Files.exists(dir.resolve("models").resolve("small")), "the small model is not copied");
        java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
        io.spectro.sampling.SamplerOptions given = io.spectro.sampling.SamplerOptions.small(1);
        PileDemo.Options o = new PileDemo.Options(dir, 1, java.util.List.of("large"), given, 1, new java.io.PrintStream(log));
        try (io.spectro.model.Checkpoint ck = io.spectro.model.Checkpoint.open(large)) {
            io.spectro.sampling.SamplerOptions so = PileDemo.calibrated(o, large, ck);
            assertEquals(shipped.applyTo(given), so);
        }
        assertTrue(log.toString().contains("from the small model's (shipped in the jar)"), log.toString());
    }
}
