package io.spectro.cost;

import io.spectro.model.ModelConfig;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The count of a predicted vector: forwards per feature group, the regressor, the map back to χ units. */
class PredictedCostTest {
    static final ModelConfig P14B = ModelConfig.preset("pythia-1.4b");

    @Test
    void countsForwardsPerGroupAndTheRegressor() {
        int T = 512, H = 410, L = P14B.nLayers();
        double fwd = CostModel.forwardFlopsPerToken(P14B, T, 0);
        PredictedCost.Estimate loss = PredictedCost.estimate(P14B, T, "default", new PredictedCost.Options("loss", new int[0], 100));
        assertEquals(1, loss.forwards());
        assertEquals(1, loss.featureDim());
        assertEquals(fwd + 2.0 * 1 * 100 + 2.0 * 100 * H, loss.flopsPerVector(), 1e-6 * fwd);
        PredictedCost.Estimate all = PredictedCost.estimate(P14B, T, "default",
                new PredictedCost.Options("loss,act,resp:4", new int[]{256, 128}, 64));
        assertEquals(2 + 2 * 4 * H, all.forwards());
        int dim = 1 + (1 + L + L * P14B.nHeads() + L) + 4 * H;
        assertEquals(dim, all.featureDim());
        assertEquals(2.0 * (dim * 256 + 256 * 128 + 128 * 64) + 2.0 * 64 * H, all.regressorFlops(), 1e-9);
        assertEquals(all.forwards() * fwd, all.featureFlopsPerToken(), 1e-9 * all.featureFlopsPerToken());
        // response forwards started at the component's layer cost less, never more
        assertTrue(all.cachedFeatureFlopsPerToken() < all.featureFlopsPerToken());
        assertTrue(all.cachedFeatureFlopsPerToken() > 2 * fwd);
        // resp without loss or act needs one more forward for l(w*)
        PredictedCost.Estimate resp = PredictedCost.estimate(P14B, T, "default", new PredictedCost.Options("resp:1", new int[0], 100));
        assertEquals(2 * H + 1, resp.forwards());
    }

    @Test
    void badSpecsAreRefused() {
        assertThrows(IllegalArgumentException.class,
                () -> PredictedCost.estimate(P14B, 512, "default", new PredictedCost.Options("loss,nope", new int[0], 10)));
        assertThrows(IllegalArgumentException.class,
                () -> PredictedCost.estimate(P14B, 512, "default", new PredictedCost.Options("resp:0", new int[0], 10)));
        assertThrows(IllegalArgumentException.class,
                () -> PredictedCost.estimate(P14B, 512, "default", new PredictedCost.Options("loss,loss", new int[0], 10)));
        assertThrows(IllegalArgumentException.class, () -> PredictedCost.Options.parseRegressor("mlp:"));
        assertArrayEquals(new int[]{64, 32}, PredictedCost.Options.parseRegressor("mlp:64,32"));
    }
}
