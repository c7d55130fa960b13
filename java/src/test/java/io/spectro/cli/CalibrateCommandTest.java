package io.spectro.cli;

import io.spectro.io.Npy;
import io.spectro.sampling.TinyFixture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** spectro calibrate on a random tiny checkpoint, then chi --settings calibration.json; bad input exits 2 writing nothing. */
class CalibrateCommandTest {
    private static String lastOut;

    private static int run(String... args) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(bo));
            System.setErr(new PrintStream(new ByteArrayOutputStream()));
            return Main.run(args);
        } finally {
            System.setOut(out);
            System.setErr(err);
            lastOut = bo.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void calibrateRecommendsAndChiUsesIt(@TempDir Path dir) throws Exception {
        TinyFixture.assumeNative();
        Path model = dir.resolve("m"), other = dir.resolve("m2");
        assertEquals(0, run("init", "--preset", "tiny", "--seed", "1", "--out", model.toString()));
        assertEquals(0, run("init", "--preset", "tiny", "--seed", "2", "--out", other.toString()));
        Npy.write(dir.resolve("s.npy"), TinyFixture.tokens(8, 16, 512, 2), 8, 16);
        Path out = dir.resolve("cal");
        String[] args = {"calibrate", "--model", model.toString(), "--sampling", dir.resolve("s.npy").toString(), "--out", out.toString(),
                "--components", "l0h0,l1mlp", "--lr-grid", "1e-4,1e-3", "--nbeta-grid", "30", "--chains", "2", "--draws", "4",
                "--burnin", "2", "--batch", "2", "--backend", "cpu", "--quiet"};
        assertEquals(0, run(args), lastOut);
        String json = Files.readString(out.resolve("calibration.json"));
        assertTrue(json.contains("\"format\" : \"spectro-calibration/1\"") && json.contains("\"recommended\""), json);
        assertTrue(Files.readString(out.resolve("calibration.md")).contains("**Recommended: lr"));
        assertTrue(Files.size(out.resolve("llc_vs_lr_l0h0.png")) > 0 && Files.size(out.resolve("llc_vs_lr_l1mlp.png")) > 0);
        assertTrue(lastOut.contains("calibrate: recommended lr"), lastOut);

        Npy.write(dir.resolve("p.npy"), TinyFixture.tokens(2, 16, 512, 1), 2, 16);
        String[] chi = {"chi", "--model", model.toString(), "--probe", dir.resolve("p.npy").toString(), "--sampling",
                dir.resolve("s.npy").toString(), "--out", dir.resolve("run").toString(), "--settings", out.resolve("calibration.json").toString(),
                "--chains", "2", "--draws", "3", "--burnin", "1", "--batch", "2", "--backend", "cpu", "--quiet"};
        assertEquals(0, run(chi), lastOut);
        assertTrue(lastOut.contains("reliability") && lastOut.contains(" ok, "), lastOut); // the end-of-run health table
        String manifest = Files.readString(dir.resolve("run/manifest.json"));
        assertTrue(manifest.contains("\"nbeta\" : 30.0"), manifest);
        assertTrue(Files.exists(dir.resolve("run/chi_se.npy")));
        // a calibration.json of another model: refused, nothing written
        chi[2] = other.toString();
        chi[8] = dir.resolve("run-other").toString();
        assertEquals(2, run(chi));
        assertFalse(Files.exists(dir.resolve("run-other")));

        // bad grids and components: exit 2, nothing written
        for (String[] bad : new String[][]{{"--lr-grid", ""}, {"--lr-grid", "1e-3,x"}, {"--nbeta-grid", "0"}, {"--gamma-grid", "-1"},
                {"--components", "l9h9"}, {"--chains", "1"}}) {
            String[] a = args.clone();
            a[6] = dir.resolve("bad").toString();
            String[] b = java.util.Arrays.copyOf(a, a.length + 2);
            b[a.length] = bad[0];
            b[a.length + 1] = bad[1];
            assertEquals(2, run(b), String.join(" ", bad));
            assertFalse(Files.exists(dir.resolve("bad")), String.join(" ", bad));
        }
    }
}
