package io.spectro.oracle;

import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.Block;
import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import io.spectro.nativeabi.Backend;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The native CPU backend against the libtorch oracle, both in float32, on random checkpoints:
 * per-token losses, every gradient tensor of the full backward, and the restricted backward
 * (stop_layer + the blocks of one component, with and without the layer cache, after the component's
 * weights moved). Tolerances and their reasons: docs/testing.md, section "libtorch oracle".
 * Skipped when libspectro_cpu.so is not built.
 */
class NativeVsTorchTest {
    /** Per-token loss: absolute error in nats. */
    static final double LOSS_TOL = 1e-5;
    /** Gradients: max |native - torch| over a tensor, relative to max |torch| over that tensor. */
    static final double GRAD_TOL = 5e-5;

    static final ModelConfig TINY = new ModelConfig(64, 16, 2, 2, 32, 4, 64, 10000f, 1e-5f);
    static final ModelConfig P14M = ModelConfig.preset("pythia-14m"); // V 50304, d 128, L 6, nh 4, f 512, rotary 8

    static Backend backend;

    @BeforeAll
    static void native_() {
        Assumptions.assumeTrue(Backend.findLibrary("cpu").isPresent(),
                "libspectro_cpu.so not built (searched " + Backend.searchDirs() + ")");
        backend = Backend.load("cpu");
    }

    static TorchNeoX.Dims dims(ModelConfig c) {
        return new TorchNeoX.Dims(c.vocabSize(), c.dModel(), c.nLayers(), c.nHeads(), c.dFf(), c.rotaryDims(),
                c.rotaryBase(), c.lnEps());
    }

    /** Weights N(0, std^2), biases N(0, 0.02^2), LayerNorm weights 1 + N(0, 0.1^2): every term of the model matters. */
    static float[] randomParams(ModelConfig c, long seed, double std) {
        ParamLayout lay = ParamLayout.of(c);
        float[] p = new float[(int) lay.total()];
        Random r = new Random(seed);
        for (ParamLayout.Tensor t : lay.tensors()) {
            boolean vec = t.shape().length == 1, lnW = t.name().endsWith("norm.weight");
            for (long k = t.offset(); k < t.offset() + t.numel(); k++)
                p[(int) k] = (float) (lnW ? 1 + 0.1 * r.nextGaussian() : (vec ? 0.02 : std) * r.nextGaussian());
        }
        return p;
    }

    static int[] tokens(int n, int vocab, long seed) {
        Random r = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    @Test
    void layoutAgreesWithOracle() {
        for (ModelConfig c : new ModelConfig[]{TINY, P14M}) {
            ParamLayout lay = ParamLayout.of(c);
            long[] off = TorchNeoX.offsets(dims(c));
            String[] names = TorchNeoX.names(dims(c));
            long[][] shapes = TorchNeoX.shapes(dims(c));
            assertEquals(names.length, lay.tensorCount());
            for (int i = 0; i < names.length; i++) {
                assertEquals(names[i], lay.tensor(i).name());
                assertEquals(off[i], lay.tensor(i).offset(), names[i]);
                assertArrayEquals(shapes[i], lay.tensor(i).shape(), names[i]);
            }
            assertEquals(off[off.length - 1], lay.total());
            assertArrayEquals(java.util.Arrays.copyOf(off, names.length), backend.paramOffsets(c));
        }
    }

    @Test
    void tinyModel() {
        compare(TINY, 2, 16, 0.3, 101, List.of(head(TINY, 1, 1), head(TINY, 0, 0), mlp(TINY, 1), unembed(TINY)));
    }

    @Test
    void pythia14mShape() {
        compare(P14M, 2, 16, 0.08, 202, List.of(head(P14M, 3, 2), mlp(P14M, 5), unembed(P14M)));
    }

    private void compare(ModelConfig c, int B, int T, double std, long seed, List<Component> restricted) {
        float[] p = randomParams(c, seed, std);
        int[] tok = tokens(B * T, c.vocabSize(), seed + 1);
        int[] other = tokens(B * T, c.vocabSize(), seed + 2);
        ParamLayout lay = ParamLayout.of(c);
        String what = c.nLayers() + "x" + c.dModel() + " V" + c.vocabSize();
        worstLoss = worstGrad = 0;
        long t0 = System.nanoTime();
        try (NativeModel nm = NativeModel.create(backend, c, 2, B * T, false);
             TorchNeoX oracle = new TorchNeoX(dims(c), p, TorchNeoX.DType.FLOAT32)) {
            nm.load(p);
            NativeBatch b = nm.batch(tok, B, T), bOther = nm.batch(other, B, T);
            TorchNeoX.Result ref = oracle.forwardBackward(tok, B, T);

            // forward only
            float[] losses = new float[B * (T - 1)];
            double mean = nm.forward(b, losses);
            assertLosses(ref, losses, mean, what + " forward");

            // full backward: every tensor
            losses = new float[B * (T - 1)];
            mean = nm.forwardBackward(b, 0, null, losses);
            assertLosses(ref, losses, mean, what + " forward_backward");
            float[] g = nm.readGrads(0, (int) lay.total());
            for (ParamLayout.Tensor t : lay.tensors()) assertTensor(ref.grad(), g, t.offset(), t.numel(), what + " " + t.name());

            // restricted: stale gradients first (another batch), then stop_layer + the component's blocks
            for (Component comp : restricted) {
                nm.forwardBackward(bOther, 0, null, null);
                mean = nm.forwardBackward(b, comp.lowestLayer(), comp.blockArray(), losses);
                assertLosses(ref, losses, mean, what + " restricted " + comp.name());
                assertBlocks(ref.grad(), nm, comp, what + " restricted " + comp.name());
            }

            // fast path as a chain uses it: cache at the anchor below the lowest component, then move the
            // components' weights (all at or above the cached layer) and run the restricted backwards
            int lowest = restricted.stream().mapToInt(Component::lowestLayer).min().orElseThrow();
            b.cacheAt(lowest);
            float[] moved = p.clone();
            Random r = new Random(seed + 3);
            for (Component comp : restricted) {
                for (Block blk : comp.blocks()) { // one read and one write of the block's whole span
                    int span = (int) (blk.end() - blk.offset());
                    float[] w = nm.readParams(blk.offset(), span);
                    for (long i = 0; i < blk.rows(); i++)
                        for (long j = 0; j < blk.cols(); j++) {
                            int k = (int) (i * blk.stride() + j);
                            w[k] += (float) (0.05 * r.nextGaussian());
                            moved[(int) (blk.offset() + k)] = w[k];
                        }
                    nm.writeParams(blk.offset(), w);
                }
            }
            try (TorchNeoX o2 = new TorchNeoX(dims(c), moved, TorchNeoX.DType.FLOAT32)) {
                TorchNeoX.Result ref2 = o2.forwardBackward(tok, B, T);
                // the moved weights must change the loss, else this part tests nothing new
                assertTrue(Math.abs(ref2.meanLoss() - ref.meanLoss()) > 1e-4, "moving the components changed nothing");
                for (Component comp : restricted) {
                    mean = nm.forwardBackward(b, comp.lowestLayer(), comp.blockArray(), losses);
                    String where = what + " cached at " + lowest + " (anchor), moved, " + comp.name();
                    assertLosses(ref2, losses, mean, where);
                    assertBlocks(ref2.grad(), nm, comp, where);
                }
                // a cache taken with the moved weights, at each component's own layer
                for (Component comp : restricted) {
                    b.cacheAt(comp.lowestLayer());
                    nm.forwardBackward(bOther, 0, null, null);
                    mean = nm.forwardBackward(b, comp.lowestLayer(), comp.blockArray(), losses);
                    String where = what + " cached at " + comp.lowestLayer() + " (moved), " + comp.name();
                    assertLosses(ref2, losses, mean, where);
                    assertBlocks(ref2.grad(), nm, comp, where);
                }
            }
            // back at the anchor, without cache: the original values again
            for (Component comp : restricted) nm.resetParams(comp.blockArray());
            b.cacheAt(-1);
            mean = nm.forward(b, losses);
            assertLosses(ref, losses, mean, what + " after resetParams");
        }
        System.out.printf("NativeVsTorch %s: worst loss error %.3f x tolerance, worst gradient error %.3f x tolerance (%s), %.1f s%n",
                what, worstLoss, worstGrad, worstGradWhere, (System.nanoTime() - t0) / 1e9);
    }

    /** Worst error seen, as a fraction of its tolerance (printed per case: how much margin is left). */
    private static double worstLoss, worstGrad;
    private static String worstGradWhere = "";

    private static void assertLosses(TorchNeoX.Result ref, float[] losses, double mean, String what) {
        for (int i = 0; i < losses.length; i++) {
            worstLoss = Math.max(worstLoss, Math.abs(ref.losses()[i] - losses[i]) / LOSS_TOL);
            assertEquals(ref.losses()[i], losses[i], LOSS_TOL, what + ": per-token loss " + i);
        }
        assertEquals(ref.meanLoss(), mean, LOSS_TOL, what + ": mean loss");
    }

    /** max |native - torch| <= GRAD_TOL * max |torch| over [off, off + n). */
    private static void assertTensor(double[] ref, float[] got, long off, long n, String what) {
        double maxRef = 0, maxErr = 0;
        for (long k = off; k < off + n; k++) {
            maxRef = Math.max(maxRef, Math.abs(ref[(int) k]));
            maxErr = Math.max(maxErr, Math.abs(ref[(int) k] - got[(int) k]));
        }
        assertTrue(maxRef > 0 && Double.isFinite(maxRef), what + ": the oracle's gradient is " + maxRef);
        if (maxErr / (GRAD_TOL * maxRef) > worstGrad) {
            worstGrad = maxErr / (GRAD_TOL * maxRef);
            worstGradWhere = what;
        }
        assertTrue(maxErr <= GRAD_TOL * maxRef, what + ": max error " + maxErr + " > " + GRAD_TOL + " x max |grad| " + maxRef);
    }

    /** Compares the gradient inside each block of the component (one read of the block's span each). */
    private static void assertBlocks(double[] ref, NativeModel nm, Component comp, String what) {
        for (int bi = 0; bi < comp.blocks().size(); bi++) {
            Block blk = comp.blocks().get(bi);
            int n = (int) blk.numel();
            float[] span = nm.readGrads(blk.offset(), (int) (blk.end() - blk.offset()));
            double[] r = new double[n];
            float[] got = new float[n];
            for (long i = 0; i < blk.rows(); i++)
                for (long j = 0; j < blk.cols(); j++) {
                    int k = (int) (i * blk.cols() + j), at = (int) (i * blk.stride() + j);
                    got[k] = span[at];
                    r[k] = ref[(int) (blk.offset() + at)];
                }
            assertTensor(r, got, 0, n, what + " block " + bi);
        }
    }

    // ---- components built from method.md section 1, cross-checked against Decomposition ------

    static Component head(ModelConfig c, int l, int h) {
        long[] off = TorchNeoX.offsets(dims(c));
        int d = c.dModel(), hd = c.headDim(), base = 1 + 12 * l;
        List<Block> blocks = List.of(
                new Block(off[base + 4] + (long) h * 3 * hd * d, 3L * hd, d, d),   // q,k,v rows of the weight
                new Block(off[base + 5] + (long) h * 3 * hd, 1, 3L * hd, 3L * hd), // and of the bias
                new Block(off[base + 6] + (long) h * hd, d, hd, d));               // hd input columns of dense
        return checked(c, new Component("l" + l + "h" + h, blocks, l));
    }

    static Component mlp(ModelConfig c, int l) {
        long[] off = TorchNeoX.offsets(dims(c));
        int d = c.dModel(), f = c.dFf(), base = 1 + 12 * l;
        List<Block> blocks = List.of(new Block(off[base + 8], f, d, d), new Block(off[base + 9], 1, f, f),
                new Block(off[base + 10], d, f, f), new Block(off[base + 11], 1, d, d));
        return checked(c, new Component("l" + l + "mlp", blocks, l));
    }

    static Component unembed(ModelConfig c) {
        long[] off = TorchNeoX.offsets(dims(c));
        int L = c.nLayers();
        return checked(c, new Component("unembed", List.of(new Block(off[3 + 12 * L], c.vocabSize(), c.dModel(), c.dModel())), L));
    }

    /** The engine's default decomposition must hold the same component (same blocks, same lowest layer). */
    private static Component checked(ModelConfig c, Component mine) {
        List<Component> all = new ArrayList<>(Decomposition.resolve(c, "default"));
        Component theirs = all.stream().filter(x -> x.name().equals(mine.name())).findFirst().orElseThrow();
        assertEquals(mine.lowestLayer(), theirs.lowestLayer(), mine.name());
        assertEquals(mine.numel(), theirs.numel(), mine.name());
        assertEquals(mine.blocks(), theirs.blocks(), mine.name());
        return mine;
    }
}
