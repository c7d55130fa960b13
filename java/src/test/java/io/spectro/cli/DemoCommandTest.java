package io.spectro.cli;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** `spectro demo` from the command line: the shipped model, sampler settings passed through, changed settings refused. */
class DemoCommandTest {
    @TempDir
    Path tmp;

    @Test
    void samplerSettingsReachTheRunAndAChangedSettingIsRefused() throws Exception {
        Assumptions.assumeTrue(CoreCommandsTest.cpuPresent(), "libspectro_cpu.so not built");
        Path out = tmp.resolve("demo");
        String[] small = {"--out", out.toString(), "--draws", "2", "--chains", "1", "--burnin", "1", "--probe-synthetic", "2",
                "--probe-text", "1", "--sampling", "4", "--batch", "4", "--text-chars", "20000", "--threads", "2"};
        CoreCommandsTest.Result r = CoreCommandsTest.run(concat(new String[] {"demo", "--nbeta", "50", "--gamma", "200", "--lr", "5e-4"}, small));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("using the shipped model"), r.err());
        String manifest = Files.readString(out.resolve("run/manifest.json"));
        assertTrue(manifest.contains("\"nbeta\" : 50.0") || manifest.contains("\"nbeta\":50.0"), manifest);
        assertTrue(manifest.contains("\"gamma\" : 200.0") || manifest.contains("\"gamma\":200.0"), manifest);
        assertTrue(Files.readString(out.resolve("induction.md")).contains("| l1h0 |"));
        // the same --out with another nbeta: a clear refusal, exit 2, naming the sampler settings
        CoreCommandsTest.Result again = CoreCommandsTest.run(concat(new String[] {"demo", "--nbeta", "60", "--gamma", "200", "--lr", "5e-4"}, small));
        assertEquals(2, again.code(), again.err());
        assertTrue(again.err().contains("different run") && again.err().contains("\"nbeta\":60.0"), again.err());
    }

    private static String[] concat(String[] a, String[] b) {
        String[] r = new String[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
