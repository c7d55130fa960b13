package io.spectro.upsample;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The auxiliary model of the upsampling stage: a multi-output regression from per-token features to
 * the token's χ in the run's whitened space. Implementations standardise their own inputs (the
 * statistics are part of the saved model), are deterministic for a given seed, and never hold native
 * memory past {@link #close()}.
 *
 * <p>Arrays are row-major: {@code x[i * inputDim() + j]}, {@code y[i * outputDim() + k]}.
 * Models are made by {@code Regressors.fit} and read back by {@code Regressors.load}.
 */
public interface Regressor extends AutoCloseable {

    /** The kind written into {@code aux.json}: {@code "ridge"} or {@code "mlp"}. */
    String kind();

    int inputDim();

    int outputDim();

    /** Predicts {@code n} rows of {@code x} into {@code y}. Thread-safe; the same input gives the same bits. */
    void predict(float[] x, int n, float[] y);

    /**
     * Writes the model's files into {@code dir} (created if missing) through temp files and atomic renames,
     * and returns their names (relative to {@code dir}) so the caller can hash them into {@code aux.json}.
     */
    java.util.List<String> save(Path dir) throws IOException;

    @Override
    default void close() {}
}
