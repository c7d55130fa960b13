package io.spectro.upsample;

import io.spectro.chi.PredictedRows;
import io.spectro.io.Npy;
import io.spectro.structure.SyntheticRun;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Small predicted runs made without SGLD or an auxiliary model: a synthetic ground-truth run (with a
 * manifest naming its model) and a copy of it whose χ is perturbed and scaled, flagged predicted.
 */
public final class PredictedFixture {
    public static final String MODEL = "0123abcd";

    private PredictedFixture() {}

    /** A ground-truth run of {@code rows} x {@code cols} with 4 planted clusters and manifest.json. */
    public static Path groundTruth(Path dir, int rows, int cols, long seed) {
        SyntheticRun.write(dir, SyntheticRun.Spec.of(rows, cols, 4, seed));
        manifest(dir, MODEL, null);
        return dir;
    }

    /**
     * A copy of {@code gt} as an auxiliary model's output: χ scaled by 1.7 plus noise (statistics unlike the
     * ground truth's, so a transform fit on these rows would differ), every row flagged predicted, the
     * manifest naming {@code aux} (may be null).
     */
    public static Path predicted(Path gt, Path dir, String aux, long seed) {
        try {
            Files.createDirectories(dir);
            for (String f : new String[]{"components.json", "tokens.csv", "tokens.arrow", "contexts.jsonl"})
                Files.copy(gt.resolve(f), dir.resolve(f));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Npy.Floats chi = Npy.readFloats(gt.resolve("chi.npy"));
        float[] x = chi.data().clone();
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < x.length; i++) x[i] = (float) (1.7 * x[i] + 0.4 + 0.2 * r.nextGaussian());
        Npy.write(dir.resolve("chi.npy"), x, chi.shape());
        byte[] flags = new byte[chi.dim(0)];
        java.util.Arrays.fill(flags, (byte) 1);
        PredictedRows.write(dir, flags);
        manifest(dir, MODEL, aux == null ? null : "{\"aux\": \"" + aux + "\", \"auxSha256\": \"feed\", \"count\": " + flags.length + "}");
        return dir;
    }

    public static void manifest(Path dir, String model, String predicted) {
        try {
            Files.writeString(dir.resolve("manifest.json"), "{\"modelSha256\": \"" + model + "\""
                    + (predicted == null ? "" : ", \"predicted\": " + predicted) + "}");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Ground truth + its predicted copy, combined into {@code dir/combined}; returns the combined run. */
    public static Path combined(Path dir, int rows, int cols) {
        Path gt = groundTruth(dir.resolve("gt"), rows, cols, 3);
        Path p = predicted(gt, dir.resolve("pred"), null, 5);
        Combine.combine(java.util.List.of(gt, p), dir.resolve("combined"));
        return dir.resolve("combined");
    }
}
