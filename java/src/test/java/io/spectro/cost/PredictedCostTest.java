package io.spectro.cost;

import io.spectro.model.ModelConfig;
import io.spectro.nativeabi.Backend;
import io.spectro.upsample.FeatureSpec;
import io.spectro.SpectroException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The count of a predicted vector: forwards per feature group, the regressor, the map back to χ units. */
class PredictedCostTest {
    static final ModelConfig P14B = ModelConfig.preset("pythia-1.4b");
    /** the act group's columns as the native side counts them (sp_feature_count) */
    static final long ACT = Backend.load("cpu").featureCount(P14B);

    static PredictedCost.Options opts(String spec, int[] hidden, int out) {
        return new PredictedCost.Options(FeatureSpec.parse(spec, FeatureSpec.DEFAULT_H, 0), ACT, hidden, out);
    }

    @Test
    void countsForwardsPerGroupAndTheRegressor() {
        int T = 512, H = 410, L = P14B.nLayers();
        double fwd = CostModel.forwardFlopsPerToken(P14B, T, 0);
        PredictedCost.Estimate loss = PredictedCost.estimate(P14B, T, "default", opts("loss", new int[0], 100));
        assertEquals(1, loss.forwards());
        assertEquals(1, loss.featureDim());
        assertEquals(fwd + 2.0 * 1 * 100 + 2.0 * 100 * H, loss.flopsPerVector(), 1e-6 * fwd);
        // loss and act come from one sp_forward_features call
        PredictedCost.Estimate act = PredictedCost.estimate(P14B, T, "default", opts("loss,act", new int[0], 100));
        assertEquals(1, act.forwards());
        assertEquals(1 + 1 + 2 * L + 2 * L * P14B.nHeads(), act.featureDim()); // the header's layout, counted natively
        PredictedCost.Estimate all = PredictedCost.estimate(P14B, T, "default",
                opts("loss,act,resp:4", new int[]{256, 128}, 64));
        // the forward at w*, a cache build + forward per distinct lowest layer (0 .. L: L + 1 of them), 2K per component
        assertEquals(1 + (L + 1) + 2 * 4 * H, all.forwards());
        int dim = 1 + (1 + 2 * L + 2 * L * P14B.nHeads()) + 2 * 4 * H;
        assertEquals(dim, all.featureDim());
        assertEquals(2.0 * (dim * 256 + 256 * 128 + 128 * 64) + 2.0 * 64 * H, all.regressorFlops(), 1e-9);
        assertEquals(all.forwards() * fwd, all.uncachedFeatureFlopsPerToken(), 1e-9 * all.uncachedFeatureFlopsPerToken());
        // response forwards from the component's layer cost less than from the embedding, and more than the fixed part
        assertTrue(all.featureFlopsPerToken() < all.uncachedFeatureFlopsPerToken());
        assertTrue(all.featureFlopsPerToken() > (2 + L) * fwd);
        double expect = (2 + L) * fwd;
        for (io.spectro.components.Component c : io.spectro.components.Decomposition.resolve(P14B, "default"))
            expect += 8 * CostModel.forwardFlopsPerToken(P14B, T, c.lowestLayer());
        assertEquals(expect, all.featureFlopsPerToken(), 1e-9 * expect);
    }

    @Test
    void badSpecsAreRefused() {
        assertThrows(SpectroException.class, () -> opts("loss,nope", new int[0], 10));
        assertThrows(SpectroException.class, () -> opts("resp:0", new int[0], 10));
        assertThrows(SpectroException.class, () -> opts("loss,loss", new int[0], 10));
        assertThrows(IllegalArgumentException.class,
                () -> new PredictedCost.Options(FeatureSpec.parse("act", FeatureSpec.DEFAULT_H, 0), 0, new int[0], 10));
        assertThrows(IllegalArgumentException.class, () -> PredictedCost.Options.parseRegressor("mlp:"));
        assertArrayEquals(new int[]{64, 32}, PredictedCost.Options.parseRegressor("mlp:64,32"));
    }
}
