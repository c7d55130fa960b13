package io.spectro.demo;

import io.spectro.io.Npy;
import io.spectro.sampling.SamplerOptions;
import io.spectro.sampling.TinyFixture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The whole demo pipeline at a small size: corpus, tokenizer, training, chi + baseline, structure, explorer. */
class DemoTest {
    @Test
    void wholePipelineAtSmallSizeAndCachedSecondRun(@TempDir Path dir) throws Exception {
        TinyFixture.assumeNative();
        SamplerOptions so = new SamplerOptions(2, 3, 2, 1, 4, 1e-3f, 30f, 300f, false, 0.99f, 0.1f, 1f, 1);
        String repo = System.getProperty("spectro.repo");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        // a calibration stage of two settings on one head, 2 chains x 4 draws: its recommendation sets the runs' ε, nβ, γ
        Demo.Calibrate cal = new Demo.Calibrate(new io.spectro.calibrate.Calibration.Grid(java.util.List.of(1e-3f), java.util.List.of(20f),
                java.util.List.of(200f)), new io.spectro.calibrate.CalibrationRun.Base(2, 4, 1, 2, 4, false, 1), java.util.List.of("l0h0"));
        Demo.Options o = new Demo.Options(dir, true, 15, 2, 6, 6, so, 2, 60_000, repo == null ? null : Path.of(repo),
                new PrintStream(log, true), cal);
        Path html = Demo.run(o);
        assertTrue(Files.size(html) > 1000, "explorer written");
        assertTrue(Files.exists(dir.resolve("model/model.safetensors")) && Files.exists(dir.resolve("model/tokenizer.json")));
        assertTrue(Files.exists(dir.resolve("model/loss_curve.png")));
        Npy.Floats chi = Npy.readFloats(dir.resolve("run/chi.npy"));
        assertEquals(12, chi.dim(1), "tiny preset: 2 layers x 4 heads + 2 MLPs + embed + unembed");
        assertEquals(8 * 63, chi.dim(0));
        for (float v : chi.data()) assertTrue(Float.isFinite(v));
        String md = Files.readString(dir.resolve("induction.md"));
        assertTrue(md.contains("| l1h3 |") && md.contains("AUC baseline (nβ = 0)") && md.contains("uniform mode removed"), md);
        assertTrue(Files.exists(dir.resolve("baseline/chi.npy")));
        assertTrue(Files.exists(dir.resolve("calibration/calibration.json")));
        assertTrue(md.contains("Calibration (") && md.contains("recommended ε 0.00100, nβ 20.0, γ 200") && md.contains("nβ 20.0, γ 200"), md);
        assertTrue(Files.readString(dir.resolve("run/manifest.json")).contains("\"nbeta\" : 20.0"), "the run used the calibrated nβ");
        // second run: every stage cached
        ByteArrayOutputStream log2 = new ByteArrayOutputStream();
        Demo.run(new Demo.Options(dir, true, 15, 2, 6, 6, so, 2, 60_000, o.repo(), new PrintStream(log2, true), cal));
        assertTrue(log2.toString().contains("model cached"), log2.toString());
        assertTrue(log2.toString().contains("calibration cached"), log2.toString());
    }
}
