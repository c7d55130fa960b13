package io.spectro.cost;

import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import io.spectro.sampling.SamplerOptions;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The FLOP count of a chi sweep: against published numbers, hand counts and measured H100 step times. */
class CostModelTest {
    static final ModelConfig P14B = ModelConfig.preset("pythia-1.4b");

    static Component comp(ModelConfig c, String name) {
        return Decomposition.resolve(c, "default").stream().filter(x -> x.name().equals(name)).findFirst().orElseThrow();
    }

    /** FLOPs per token of one SGLD step of a default component with the fast path (cache and stop at its layer). */
    static double step(ModelConfig c, int T, String name) {
        if (name.equals("full")) return CostModel.stepFlopsPerToken(c, T, null, 0, 0);
        Component k = comp(c, name);
        return CostModel.stepFlopsPerToken(c, T, k.blockArray(), k.lowestLayer(), k.lowestLayer());
    }

    @Test
    void fullStepIsTheStandardCountAndMatchesThePublishedFlopsPerToken() {
        for (String preset : List.of("pythia-14m", "pythia-160m", "pythia-1.4b", "tiny")) {
            ModelConfig c = ModelConfig.preset(preset);
            for (int T : new int[]{64, 512, 2048}) {
                double pNoEmbedIn = c.paramCount() - (double) c.vocabSize() * c.dModel();
                double fwd = 2 * pNoEmbedIn + 4.0 * c.nLayers() * c.dModel() * T;
                assertEquals(fwd, CostModel.forwardFlopsPerToken(c, T, 0), 1e-9 * fwd, preset);
                assertEquals(3 * fwd, step(c, T, "full"), 1e-9 * fwd, preset);
            }
        }
        // method.md section 5: Pythia-1.4B at T = 2048, forward 3.0e9, forward+backward 9.1e9 FLOPs per token
        assertEquals(3.0e9, CostModel.forwardFlopsPerToken(P14B, 2048, 0), 0.05e9); // two digits given
        assertEquals(9.1e9, step(P14B, 2048, "full"), 0.05e9);
    }

    @Test
    void topLayerHeadByHand() {
        ModelConfig c = P14B;
        int T = 512, L = c.nLayers();
        ParamLayout lay = ParamLayout.of(c);
        double d = c.dModel(), V = c.vocabSize(), attn = 4 * d * T;
        double layerParams = 0;
        for (int k = 0; k < 12; k++) layerParams += lay.layer(L - 1, k).numel();
        double n4 = lay.layer(L - 1, ParamLayout.QKV_W).numel(), n5 = lay.layer(L - 1, ParamLayout.QKV_B).numel();
        double n6 = lay.layer(L - 1, 6).numel(), n7 = lay.layer(L - 1, 7).numel();
        double forward = 2 * layerParams + attn + 2 * (2 * d + V * d);
        // backward: dlogits -> d lnf (2Vd) -> through the final LayerNorm (4d); in the top layer only the
        // attention branch: dense dX (its weight and bias), dense dW, attention backward, qkv dW (weight and bias)
        double backward = 2 * V * d + 4 * d + 2 * (n6 + n7) + 2 * n6 + 2 * attn + 2 * (n4 + n5);
        assertEquals(forward + backward, step(c, T, "l23h5"), 1e-9 * forward);
        // unembed: final LayerNorm + classifier forward, then only d embed_out (no gradient into the trunk)
        assertEquals(2 * (2 * d + V * d) + 2 * V * d, step(c, T, "unembed"), 1);
        // embed: stop layer 0 with embed_in touched: dX through every layer, the scatter into embed_in is free
        double full = step(c, T, "full"), noTrunkWeights = full - 2 * (c.paramCount() - 2 * V * d) - 2 * V * d;
        assertEquals(noTrunkWeights, step(c, T, "embed"), 1e-9 * full);
    }

    /**
     * The FLOP count explains measured step times: kernels/bench/chi_bench on an H100 (docs/benchmarks.md,
     * bf16, B 16 x T 512, fwd+bwd ms of one restricted step). Implied throughput of every restricted step
     * within -15% .. +35% of the full step's (the top-layer steps are mostly the classifier's large GEMMs,
     * which run closer to the cuBLASLt peak than the trunk's mix of GEMMs, attention and elementwise kernels).
     */
    @Test
    void flopsExplainTheMeasuredH100StepTimes() {
        String[] names = {"l0h0", "l12h0", "l23h0", "l0mlp", "l12mlp", "l23mlp", "unembed", "embed", "full"};
        double[] ms = {142.53, 74.41, 11.91, 142.69, 74.32, 11.77, 7.35, 144.09, 193.19};
        double fullRate = step(P14B, 512, "full") * 8192 / ms[8];
        for (int i = 0; i < names.length; i++) {
            double rate = step(P14B, 512, names[i]) * 8192 / ms[i];
            assertTrue(rate > 0.85 * fullRate && rate < 1.35 * fullRate, names[i] + ": " + rate / fullRate);
        }
        // and the full step's count gives the MFU measured there (35.0% of 989 TFLOP/s)
        assertEquals(0.35, fullRate * 1e3 / 989e12, 0.01);
    }

    static SamplerOptions sampler(int chains, int draws, int between, int burnin, int batch) {
        return new SamplerOptions(chains, draws, between, burnin, batch, 1e-3f, 30f, 300f, false, 0.99f, 0.1f, 1f, 0);
    }

    @Test
    void sweepWithoutFastPathIsRunsTimesFullWork() {
        ModelConfig c = ModelConfig.preset("tiny");
        int T = 16;
        SamplerOptions so = sampler(3, 5, 2, 4, 2);
        CostModel.Estimate e = CostModel.estimate(c, new CostModel.Options(so, "default", T, 7, 9, false, 1L << 30, 64));
        int runs = c.nLayers() * c.nHeads() + c.nLayers() + 2 + 1;
        assertEquals(runs, e.runs().size());
        double full = step(c, T, "full"), fwd = CostModel.forwardFlopsPerToken(c, T, 0);
        double perRun = 3 * (4 + 5 * 2) * 2.0 * T * full + 3 * 5 * (7 + 9) * T * fwd;
        assertEquals(runs * perRun + 9 * T * fwd, e.totalFlops(), 1e-9 * e.totalFlops());
        assertEquals(7 * (T - 1), e.vectors());
        assertEquals(e.totalFlops() / e.vectors(), e.flopsPerVector(), 1e-9 * e.flopsPerVector());
        assertEquals(e.totalFlops() / (1e12 * 0.5), e.seconds(1e12, 0.5), 1e-9 * e.totalFlops());
        assertThrows(IllegalArgumentException.class, () -> e.seconds(1e12, 1.5));
    }

    @Test
    void fastPathCountsCachesAndTheBudget() {
        ModelConfig c = ModelConfig.preset("tiny");
        int T = 16;
        long rowBytes = (long) T * c.dModel() * 4;
        SamplerOptions so = sampler(2, 3, 1, 0, 2);
        // max batch 64 tokens = 4 rows per chunk: probe 10 rows -> chunks 4, 4, 2; sampling 6 rows -> 4, 2; pool 3 x 2 rows
        CostModel.Estimate all = CostModel.estimate(c, new CostModel.Options(so, "default", T, 10, 6, true, 1L << 30, 64));
        assertEquals((10 + 6 + 6) * rowBytes, all.cacheBytes());
        assertArrayEquals(new long[]{10 * T, 6 * T, 6 * T}, all.cachedTokens());
        assertArrayEquals(all.totalTokens(), all.cachedTokens());
        // layer-1 components: SGLD from the cache at layer 1, observables from layer 1, the cache built once
        double fwd1 = CostModel.forwardFlopsPerToken(c, T, 1), fwd0 = CostModel.forwardFlopsPerToken(c, T, 0);
        CostModel.Run h = all.runs().stream().filter(r -> r.name().equals("l1h2")).findFirst().orElseThrow();
        assertEquals(2 * 3 * 2.0 * T * step(c, T, "l1h2"), h.sgldFlops(), 1e-6);
        assertEquals(2 * 3 * 16.0 * T * fwd1, h.observableFlops(), 1e-6);
        CostModel.Run first1 = all.runs().stream().filter(r -> r.lowestLayer() == 1).findFirst().orElseThrow();
        assertEquals("l1h0", first1.name());
        assertEquals(22.0 * T * (fwd0 - fwd1), first1.setupFlops(), 1e-6);
        assertEquals(0, h.setupFlops());
        // a budget of 5 rows (Observables fills it in order, minibatches first, and skips what does not fit):
        // two of the three 2-row minibatches, nothing else fits in the 1 row left
        CostModel.Estimate some = CostModel.estimate(c, new CostModel.Options(so, "default", T, 10, 6, true, 5 * rowBytes, 64));
        assertArrayEquals(new long[]{0, 0, 4 * T}, some.cachedTokens());
        CostModel.Run hs = some.runs().stream().filter(r -> r.name().equals("l1h2")).findFirst().orElseThrow();
        assertEquals(2 * 3 * 16.0 * T * fwd0, hs.observableFlops(), 1e-6);
        double uncachedStep = step(c, T, "l1h2") + fwd0 - fwd1;   // steps 0, 1, 2 use minibatches 0, 1, 2
        assertEquals(2 * 2.0 * T * (2 * step(c, T, "l1h2") + uncachedStep), hs.sgldFlops(), 1e-6);
        assertTrue(some.totalFlops() > all.totalFlops());
        // budget 0: nothing cached, but the backward still stops at the component
        CostModel.Estimate none = CostModel.estimate(c, new CostModel.Options(so, "default", T, 10, 6, true, 0, 64));
        assertArrayEquals(new long[]{0, 0, 0}, none.cachedTokens());
        assertEquals(6.0 * T * fwd0, none.setupFlops(), 1e-6); // only L0
    }

    @Test
    void shardsSplitTheRunsRoundRobin() {
        ModelConfig c = ModelConfig.preset("tiny");
        int T = 16;
        CostModel.Estimate e = CostModel.estimate(c, new CostModel.Options(sampler(2, 3, 1, 0, 2), "default", T, 10, 6, true,
                1L << 30, 64));
        assertEquals(e.totalFlops(), e.shardFlops(1)[0], 1e-9 * e.totalFlops());
        // 13 runs (full + 12) over 2 shards: shard 0 has runs 0, 2, ..., 12, shard 1 runs 1, 3, ..., 11
        double[] two = e.shardFlops(2);
        double[] work = new double[2];
        for (int i = 0; i < e.runs().size(); i++) work[i % 2] += e.runs().get(i).sgldFlops() + e.runs().get(i).observableFlops();
        // each shard computes L0 and builds caches at the layers it visits: runs are full, embed, l0h0..l0mlp
        // (layer 0: no cache), l1h0..l1mlp (runs 7-11, layer 1), unembed (run 12, layer 2: shard 0's only)
        double builds = e.cacheBuildFlops()[1] + e.cacheBuildFlops()[2];
        assertTrue(e.cacheBuildFlops()[1] > 0 && e.cacheBuildFlops()[2] > e.cacheBuildFlops()[1]);
        assertEquals(work[0] + e.loss0Flops() + builds, two[0], 1e-9 * two[0]);
        assertEquals(work[1] + e.loss0Flops() + e.cacheBuildFlops()[1], two[1], 1e-9 * two[1]);
        assertEquals(e.setupFlops(), e.loss0Flops() + builds, 1e-9 * builds); // unsharded: each layer built once
        // one shard per run: the largest is the full run's
        double[] each = e.shardFlops(13);
        double full = e.runs().getFirst().sgldFlops() + e.runs().getFirst().observableFlops() + e.loss0Flops();
        assertEquals(full, java.util.Arrays.stream(each).max().orElseThrow(), 1e-9 * full);
        assertThrows(IllegalArgumentException.class, () -> e.shardFlops(0));
    }

    @Test
    void publishedSettingsBoundIsTheDocumentedNumber() {
        // docs/benchmarks.md, "Cost model": 410 + 1 runs, 4.25M probe tokens, T 512, every batch cached
        SamplerOptions so = SamplerOptions.pythia14b(0);
        CostModel.Estimate e = CostModel.estimate(P14B, new CostModel.Options(so, "default", 512,
                (4_250_000 + 510) / 511, 17, true, 100L << 30, 8192));
        double perVector = e.seconds(989e12, 1) / e.vectors();
        assertEquals(0.41, perVector, 0.005);
        assertEquals(0.62, e.observableFlops() / e.totalFlops(), 0.01);
    }

    @Test
    void optionsValidate() {
        SamplerOptions so = sampler(1, 1, 1, 0, 4);
        assertThrows(IllegalArgumentException.class, () -> new CostModel.Options(so, "default", 1, 1, 1, true, 0, 64));
        assertThrows(IllegalArgumentException.class, () -> new CostModel.Options(so, "default", 16, 0, 1, true, 0, 64));
        assertThrows(IllegalArgumentException.class, () -> new CostModel.Options(so, "default", 16, 1, 1, true, -1, 64));
        IllegalArgumentException big = assertThrows(IllegalArgumentException.class,
                () -> new CostModel.Options(so, "default", 32, 1, 1, true, 0, 64));
        assertTrue(big.getMessage().contains("4 x 32"), big.getMessage());
    }
}
