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
        Demo.Options o = new Demo.Options(dir, true, 15, 2, 6, 6, so, 2, 60_000, repo == null ? null : Path.of(repo),
                new PrintStream(log, true));
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
        // second run: every stage cached
        ByteArrayOutputStream log2 = new ByteArrayOutputStream();
        Demo.run(new Demo.Options(dir, true, 15, 2, 6, 6, so, 2, 60_000, o.repo(), new PrintStream(log2, true)));
        assertTrue(log2.toString().contains("model cached"), log2.toString());
    }
}
