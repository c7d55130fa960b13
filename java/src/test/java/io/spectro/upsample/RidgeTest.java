package io.spectro.upsample;

import io.spectro.SpectroException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class RidgeTest {
    static final Regressors.Options OPT = Regressors.Options.defaults();

    static Regressor fit(String kind, Synth s, Regressors.Options o) {
        return Regressors.fit(kind, s.x(), s.y(), s.n(), s.dIn(), s.dOut(), s.group(), o);
    }

    static float[] predict(Regressor r, Synth s) {
        float[] p = new float[s.n() * s.dOut()];
        r.predict(s.x(), s.n(), p);
        return p;
    }

    @Test
    void ridgeRecoversALinearMapHeldOut() {
        Synth all = Synth.make(3000, 30, 5, 20, 0, 0.001, 7);
        boolean[] out = GroupSplit.holdout(all.group(), all.n(), 0.2, 1);
        Synth train = all.select(out, false), test = all.select(out, true);
        Regressor r = fit("ridge", train, OPT);
        assertEquals("ridge", r.kind());
        assertEquals(30, r.inputDim());
        assertEquals(5, r.outputDim());
        double r2 = test.heldOutR2(r);
        assertTrue(r2 > 0.999, "held-out R² " + r2);
        // almost no noise: cross-validation must pick a small λ
        assertTrue(((DenseNet) r).info().get("lambda").asDouble() <= 1e-2, ((DenseNet) r).info().toString());
    }

    @Test
    void ridgeCannotFitTheNonlinearPart() {
        Synth all = Synth.make(3000, 20, 4, 20, 1, 0.05, 3);
        boolean[] out = GroupSplit.holdout(all.group(), all.n(), 0.2, 1);
        double r2 = all.select(out, true).heldOutR2(fit("ridge", all.select(out, false), OPT));
        assertTrue(r2 < 0.8, "a linear model should not explain squares of projections: R² " + r2);
    }

    @Test
    void constantFeatureAndRefitAreDeterministic() {
        Synth s = Synth.make(800, 10, 3, 16, 0.3, 0.1, 5);
        for (int i = 0; i < s.n(); i++) s.x()[i * 10 + 4] = 2.5f; // a constant column gets weight 0, not NaN
        float[] a = predict(fit("ridge", s, OPT), s), b = predict(fit("ridge", s, OPT.withSeed(1)), s);
        assertArrayEquals(a, b);
        for (float v : a) assertTrue(Float.isFinite(v));
        Regressors.Options threads2 = new Regressors.Options(256, 2, 300, 1e-3, 1e-4, 256, 15, 0.1, 5, 1, 2);
        assertArrayEquals(a, predict(fit("ridge", s, threads2), s), "thread count must not change the bits");
    }

    @Test
    void saveLoadPredictIsBitIdentical(@TempDir Path dir) throws Exception {
        Synth s = Synth.make(600, 12, 3, 10, 0.5, 0.1, 9);
        Regressor r = fit("ridge", s, OPT);
        List<String> files = r.save(dir.resolve("m"));
        assertTrue(files.contains("regressor.json"));
        for (String f : files) assertTrue(Files.isRegularFile(dir.resolve("m").resolve(f)), f);
        try (Regressor back = Regressors.load(dir.resolve("m"))) {
            assertEquals("ridge", back.kind());
            assertArrayEquals(predict(r, s), predict(back, s));
        }
        try (var list = Files.list(dir.resolve("m"))) {
            assertTrue(list.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "temporaries left behind");
        }
    }

    @Test
    void corruptOrMissingFilesAreRefusedNamingTheFile(@TempDir Path dir) throws Exception {
        Synth s = Synth.make(300, 6, 2, 10, 0.5, 0.1, 2);
        Path m = dir.resolve("m");
        fit("ridge", s, OPT).save(m);
        Path w = m.resolve("layer0.weight.npy"), meta = m.resolve("regressor.json");
        byte[] wBytes = Files.readAllBytes(w);
        String metaText = Files.readString(meta);

        Files.write(w, Arrays.copyOf(wBytes, wBytes.length - 5));
        assertRefused(m, "layer0.weight.npy", "truncated");
        Files.write(w, wBytes);

        byte[] nan = wBytes.clone();
        java.nio.ByteBuffer.wrap(nan).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(nan.length - 4, Float.NaN);
        Files.write(w, nan);
        assertRefused(m, "layer0.weight.npy", "non-finite");
        Files.write(w, wBytes);

        Files.writeString(meta, metaText.replace("\"widths\" : [ 6, 2 ]", "\"widths\" : [ 7, 2 ]").replace("\"inputDim\" : 6", "\"inputDim\" : 7"));
        assertRefused(m, "x_mean.npy", "shape");
        Files.writeString(meta, metaText.substring(0, metaText.length() / 2));
        assertRefused(m, "regressor.json", "not valid JSON");
        Files.writeString(meta, metaText.replace("\"ridge\"", "\"forest\""));
        assertRefused(m, "regressor.json", "unknown regressor kind");
        Files.writeString(meta, metaText);

        Files.delete(m.resolve("y_mean.npy"));
        assertRefused(m, "y_mean.npy", "missing");
        Files.delete(meta);
        assertRefused(m, "regressor.json", "missing");
    }

    static void assertRefused(Path dir, String file, String what) {
        SpectroException e = assertThrows(SpectroException.class, () -> Regressors.load(dir));
        assertTrue(e.getMessage().contains(file) && e.getMessage().contains(what), e.getMessage());
    }

    @Test
    void groupSplitsNeverPutASequenceOnBothSides() {
        int n = 5000;
        int[] g = new int[n];
        java.util.SplittableRandom r = new java.util.SplittableRandom(4);
        for (int i = 0; i < n; i++) g[i] = r.nextInt(137) * 7 - 300; // unsorted, negative, uneven sizes
        for (long seed = 0; seed < 5; seed++) {
            int[] fold = GroupSplit.folds(g, n, 5, seed);
            Map<Integer, Integer> seen = new HashMap<>();
            int[] rows = new int[5];
            for (int i = 0; i < n; i++) {
                int fi = fold[i];
                assertEquals(fi, seen.computeIfAbsent(g[i], k -> fi), "group " + g[i] + " split");
                rows[fold[i]]++;
            }
            for (int c : rows) assertTrue(Math.abs(c - n / 5) < n / 20, "unbalanced folds " + Arrays.toString(rows));
            boolean[] out = GroupSplit.holdout(g, n, 0.1, seed);
            Map<Integer, Boolean> side = new HashMap<>();
            int held = 0;
            for (int i = 0; i < n; i++) {
                Boolean prev = side.putIfAbsent(g[i], out[i]);
                assertTrue(prev == null || prev == out[i], "group " + g[i] + " on both sides");
                if (out[i]) held++;
            }
            assertTrue(held >= 0.1 * n && held < 0.2 * n, "held out " + held);
        }
        assertArrayEquals(GroupSplit.folds(g, n, 5, 3), GroupSplit.folds(g, n, 5, 3));
        assertThrows(IllegalArgumentException.class, () -> GroupSplit.holdout(new int[]{1, 1, 1}, 3, 0.5, 0));
    }

    @Test
    void optionsValidateThemselves() {
        SpectroException e = assertThrows(SpectroException.class, () -> new Regressors.Options(0, 2, 10, 1e-3, 0, 32, 5, 0.1, 5, 1, 1));
        assertTrue(e.getMessage().contains("hidden"), e.getMessage());
        assertThrows(SpectroException.class, () -> new Regressors.Options(8, 2, 10, 1e-3, 0, 32, 5, 0.9, 5, 1, 1));
        assertThrows(SpectroException.class, () -> fit("forest", Synth.make(50, 3, 1, 5, 0, 0, 1), OPT));
        assertEquals(256, OPT.toJson().get("hidden").asInt());
    }
}
