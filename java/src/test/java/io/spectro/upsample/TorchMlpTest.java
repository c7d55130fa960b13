package io.spectro.upsample;

import io.spectro.SpectroException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class TorchMlpTest {
    /** Small and quick: 64 units, 2 hidden layers, at most 40 epochs. */
    static final Regressors.Options SMALL = new Regressors.Options(64, 2, 40, 3e-3, 1e-4, 64, 8, 0.15, 5, 11, 1);
    /** Three epochs: enough to compare refits bit for bit. */
    static final Regressors.Options SHORT = new Regressors.Options(32, 2, 3, 3e-3, 1e-4, 64, 8, 0.15, 5, 11, 1);

    @Test
    void mlpFitsASmoothNonlinearMapClearlyBetterThanRidgeHeldOut(@TempDir Path dir) throws Exception {
        Synth all = Synth.make(2000, 12, 4, 20, 1, 0.05, 21);
        boolean[] out = GroupSplit.holdout(all.group(), all.n(), 0.2, 2);
        Synth train = all.select(out, false), test = all.select(out, true);
        Regressor mlp = RidgeTest.fit("mlp", train, SMALL), ridge = RidgeTest.fit("ridge", train, SMALL);
        assertEquals("mlp", mlp.kind());
        double rm = test.heldOutR2(mlp), rr = test.heldOutR2(ridge);
        assertTrue(rm > 0.8 && rm > rr + 0.3, "held-out mean R²: mlp " + rm + ", ridge " + rr);

        // deterministic refit (1 thread, same seed): the same bits
        float[] a = RidgeTest.predict(RidgeTest.fit("mlp", train, SHORT), test);
        assertArrayEquals(a, RidgeTest.predict(RidgeTest.fit("mlp", train, SHORT), test));
        // another seed: another model
        assertFalse(java.util.Arrays.equals(a, RidgeTest.predict(RidgeTest.fit("mlp", train, SHORT.withSeed(12)), test)));

        // save -> load -> predict: identical bits, and loading needs no libtorch
        mlp.save(dir.resolve("m"));
        Regressor back = Regressors.load(dir.resolve("m"));
        assertEquals("mlp", back.kind());
        assertArrayEquals(RidgeTest.predict(mlp, test), RidgeTest.predict(back, test));
        DenseNet net = (DenseNet) back;
        int best = net.info().get("bestEpoch").asInt(), ran = net.info().get("epochsRun").asInt();
        assertTrue(best >= 1 && best <= ran && ran <= SMALL.epochs(), net.info().toString());
    }

    @Test
    void unavailableLibtorchIsRefusedAndRidgeStillWorks() {
        Synth s = Synth.make(200, 4, 2, 10, 0.5, 0.1, 1);
        String old = System.getProperty("spectro.torch");
        System.setProperty("spectro.torch", "off");
        try {
            SpectroException e = assertThrows(SpectroException.class, () -> RidgeTest.fit("mlp", s, SMALL));
            assertTrue(e.getMessage().contains("mlp") && e.getMessage().contains("unavailable because"), e.getMessage());
            assertTrue(s.heldOutR2(RidgeTest.fit("ridge", s, SMALL)) > 0);
        } finally {
            if (old == null) System.clearProperty("spectro.torch");
            else System.setProperty("spectro.torch", old);
        }
    }
}
