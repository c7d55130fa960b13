package io.spectro.cost;

import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.Block;
import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import io.spectro.sampling.SamplerOptions;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What one susceptibility sweep costs, counted before it runs: the work {@code ChiRun} does (the
 * unrestricted full run, then one restricted run per component; per run, chains x steps SGLD steps on
 * minibatches and, after each draw, a forward over the sampling set and the probe set; the fast path's
 * caches, built once per distinct lowest layer, within the memory budget and in the order
 * {@code Observables} fills it), with the native backends' restriction rules for which matrix products a
 * gradient request runs ({@code sp_forward_backward} in native/src/model.c and kernels/model.cu).
 *
 * <p>Counting convention (the one MFU figures use, and the FLOPs per token of method.md section 5): per
 * token, 2 FLOPs per parameter of every tensor the forward passes through (embed_in is a lookup: 0), 2
 * more for the input gradient through it and 2 more for its weight gradient; attention 4 d T per layer
 * and token forward (QK^T and PV over T keys; the causal mask's saving is not subtracted) and 8 d T
 * backward. A full forward + backward is 6 (P - V d) + 12 L d T per token. Not counted: elementwise work
 * (GELU, softmax, rotary, LayerNorm statistics), the SGLD update (memory bound; about 1% of a step on an
 * H100, docs/benchmarks.md) and data movement. Seconds = FLOPs / (peak x MFU).
 */
public final class CostModel {
    /** The published Pythia-1.4B run: 4800 H200-hours for 4.25M ground-truth vectors, "about 4.1 H200-seconds per vector" (method.md section 5). */
    public static final double PUBLISHED_SECONDS_PER_VECTOR = 4.1;

    /**
     * @param sampler           chains, draws, steps between draws, burn-in and minibatch size are used
     * @param components        decomposition: default | layer | qkv | spec file
     * @param seq               sequence length T of the probe, sampling and minibatch sequences
     * @param probeSequences    probe rows; every row gives T - 1 chi vectors
     * @param samplingSequences sampling rows (the observable S and the SGLD minibatch pool)
     * @param fastPath          cache below the component and stop the backward there (spectro chi's default)
     * @param cacheBudgetBytes  the fast path's cache budget (spectro chi --cache-mb)
     * @param maxBatchTokens    largest B*T of one native batch (spectro chi --max-batch-tokens)
     */
    public record Options(SamplerOptions sampler, String components, int seq, long probeSequences, long samplingSequences,
                          boolean fastPath, long cacheBudgetBytes, int maxBatchTokens) {
        public Options {
            if (sampler == null) throw new IllegalArgumentException("sampler options missing");
            if (components == null || components.isBlank()) throw new IllegalArgumentException("components missing");
            if (seq < 2) throw new IllegalArgumentException("sequence length must be >= 2, got " + seq);
            if (probeSequences < 1) throw new IllegalArgumentException("probe sequences must be >= 1, got " + probeSequences);
            if (samplingSequences < 1) throw new IllegalArgumentException("sampling sequences must be >= 1, got " + samplingSequences);
            if (cacheBudgetBytes < 0) throw new IllegalArgumentException("cache budget must be >= 0, got " + cacheBudgetBytes);
            if ((long) sampler.batch() * seq > maxBatchTokens)
                throw new IllegalArgumentException("minibatch " + sampler.batch() + " x " + seq + " tokens exceeds the max batch of "
                        + maxBatchTokens + " tokens");
        }
    }

    /**
     * One run of the sweep (a component, or {@code full}).
     *
     * @param stepFlopsPerToken FLOPs per minibatch token of one SGLD step (forward + backward) when the
     *                          minibatch is cached (equal to uncached without the fast path)
     * @param sgldFlops         all SGLD steps of all chains
     * @param observableFlops   all per-draw forwards over the sampling and probe sets
     * @param setupFlops        building the fast path's caches when this run moves to a new layer
     * @param cacheLayer        the layer its caches are at (-1: none, the full run or no fast path)
     */
    public record Run(String name, int lowestLayer, long elements, double stepFlopsPerToken, double sgldFlops,
                      double observableFlops, double setupFlops, int cacheLayer) {
        public double totalFlops() {
            return sgldFlops + observableFlops + setupFlops;
        }
    }

    /**
     * @param vectors        chi vectors of the sweep: probe rows x (T - 1)
     * @param loss0Flops     the forward over the sampling set at w* that gives L0 (once per sweep)
     * @param cacheBytes     bytes the fast path's caches would need for every batch
     * @param cachedTokens   {probe, sampling, minibatch-pool} tokens whose batches fit the cache budget
     * @param totalTokens    {probe, sampling, minibatch-pool} tokens
     * @param cacheBuildFlops FLOPs of building every cache at layer l (index l; 0 at layer 0)
     */
    public record Estimate(ModelConfig config, Options options, List<Run> runs, long vectors, double loss0Flops,
                           long cacheBytes, long[] cachedTokens, long[] totalTokens, double[] cacheBuildFlops) {
        public double sgldFlops() {
            return runs.stream().mapToDouble(Run::sgldFlops).sum();
        }

        public double observableFlops() {
            return runs.stream().mapToDouble(Run::observableFlops).sum();
        }

        public double setupFlops() {
            return runs.stream().mapToDouble(Run::setupFlops).sum() + loss0Flops;
        }

        public double totalFlops() {
            return sgldFlops() + observableFlops() + setupFlops();
        }

        public double flopsPerVector() {
            return totalFlops() / vectors;
        }

        /**
         * FLOPs of each of {@code count} shards ({@code spectro chi --shard K/count}: run i of the list,
         * the full run first, belongs to shard i mod count); each shard computes L0 and builds the caches
         * of the layers it visits itself.
         */
        public double[] shardFlops(int count) {
            if (count < 1) throw new IllegalArgumentException("shard count must be >= 1, got " + count);
            double[] f = new double[count];
            java.util.Arrays.fill(f, loss0Flops);
            double[] builds = builds(runs.stream().mapToInt(Run::cacheLayer).toArray(), cacheBuildFlops, count);
            for (int i = 0; i < runs.size(); i++) f[i % count] += runs.get(i).sgldFlops() + runs.get(i).observableFlops() + builds[i];
            return f;
        }

        /** Device seconds of the sweep at {@code peakFlops} (FLOP/s) and model-FLOP utilisation {@code mfu}. */
        public double seconds(double peakFlops, double mfu) {
            if (!(peakFlops > 0) || !(mfu > 0) || mfu > 1)
                throw new IllegalArgumentException("peak must be > 0 and mfu in (0, 1], got " + peakFlops + ", " + mfu);
            return totalFlops() / (peakFlops * mfu);
        }
    }

    private final ModelConfig c;
    private final ParamLayout lay;
    private final int L;
    private final double attnFwd;   // 4 d T per layer and token
    private final long[] ends;      // one past the last element of tensor t

    private CostModel(ModelConfig c, int seq) {
        this.c = c;
        this.lay = ParamLayout.of(c);
        this.L = c.nLayers();
        this.attnFwd = 4.0 * c.dModel() * seq;
        this.ends = lay.tensors().stream().mapToLong(t -> t.offset() + t.numel()).toArray();
    }

    /** The cost of the sweep {@code o} describes on a model of shape {@code cfg}. */
    public static Estimate estimate(ModelConfig cfg, Options o) {
        return new CostModel(cfg, o.seq()).run(Decomposition.resolve(cfg, o.components()), o);
    }

    /** FLOPs per token of a forward from the input of layer {@code start} (0: the embedding) through the loss. */
    public static double forwardFlopsPerToken(ModelConfig cfg, int seq, int start) {
        return new CostModel(cfg, seq).forwardFrom(start);
    }

    /**
     * FLOPs per token of one {@code sp_forward_backward} whose gradient request is {@code blocks} with
     * {@code stopLayer}, the forward starting at {@code start}; {@code blocks == null} asks for every
     * gradient above the stop layer (what the native call does with no blocks).
     */
    public static double stepFlopsPerToken(ModelConfig cfg, int seq, Block[] blocks, int stopLayer, int start) {
        CostModel m = new CostModel(cfg, seq);
        return m.forwardFrom(start) + m.backward(m.touched(blocks, stopLayer), stopLayer);
    }

    // ------------------------------------------------------------------ per-token counts

    private double n(int t) {
        return lay.tensor(t).numel();
    }

    private static int tl(int l, int k) {
        return 1 + ParamLayout.PER_LAYER * l + k;
    }

    private double layerForward(int l) {
        double f = attnFwd;
        for (int k = 0; k < ParamLayout.PER_LAYER; k++) f += 2 * n(tl(l, k));
        return f;
    }

    private double forwardFrom(int start) {
        double f = 0;
        for (int l = start; l < L; l++) f += layerForward(l);
        return f + 2 * (n(1 + 12 * L) + n(2 + 12 * L) + n(3 + 12 * L)); // final LayerNorm + classifier
    }

    /** Tensors the request touches (the native mark_touched; no blocks: everything from the stop layer up). */
    private boolean[] touched(Block[] blocks, int stop) {
        boolean[] t = new boolean[lay.tensorCount()];
        if (blocks == null) {
            t[0] = stop == 0;
            for (int i = tl(stop, 0); i < t.length; i++) t[i] = true;
            return t;
        }
        for (Block b : blocks)
            for (long r = 0; r < b.rows() && b.cols() > 0; r++) {
                long lo = b.offset() + r * b.stride(), hi = lo + b.cols();
                int i = Arrays.binarySearch(ends, lo);
                i = i >= 0 ? i + 1 : -i - 1;                 // first tensor ending after lo
                for (; i < t.length && lay.tensor(i).offset() < hi; i++) t[i] = true;
            }
        return t;
    }

    /** Lowest layer the backward enters (sp_forward_backward's {@code lo}); L when it enters none. */
    private int lowestEntered(boolean[] touched, int stop) {
        if (stop == 0 && touched[0]) return 0;
        int lo = L;
        for (int l = L - 1; l >= stop; l--)
            for (int k = 0; k < ParamLayout.PER_LAYER; k++) if (touched[tl(l, k)]) lo = l;
        return lo;
    }

    /** Backward FLOPs per token, mirroring sp_forward_backward / layer_backward decision by decision. */
    private double backward(boolean[] touched, int stop) {
        int lo = lowestEntered(touched, stop);
        boolean needX0 = stop == 0 && touched[0];
        int lnfW = 1 + 12 * L, lnfB = 2 + 12 * L, out = 3 + 12 * L;
        double f = 0;
        boolean needDlnf = lo < L || touched[lnfW] || touched[lnfB];
        if (needDlnf) f += 2 * n(out);                        // d lnf = dlogits W
        if (touched[out]) f += 2 * n(out);                     // d embed_out = dlogits^T lnf
        if (needDlnf) f += (lo < L ? 2 * (n(lnfW) + n(lnfB)) : 0) + w(touched, lnfW) + w(touched, lnfB);
        for (int l = L - 1; l >= lo; l--) f += layerBackward(l, touched, l > lo || (l == 0 && needX0));
        return f;                                              // d embed_in is a scatter: 0
    }

    private double w(boolean[] touched, int t) {
        return touched[t] ? 2 * n(t) : 0;
    }

    private double layerBackward(int l, boolean[] touched, boolean needDx) {
        boolean[] tw = new boolean[ParamLayout.PER_LAYER];
        for (int k = 0; k < tw.length; k++) tw[k] = touched[tl(l, k)];
        boolean needDln1 = needDx || tw[0] || tw[1], needDln2 = needDx || tw[2] || tw[3];
        boolean needDqkv = needDln1 || tw[4] || tw[5], needDfc = needDln2 || tw[8] || tw[9];
        double f = 0;
        // MLP: proj (10, 11), then fc (8, 9)
        if (needDfc) f += 2 * (n(tl(l, 10)) + n(tl(l, 11)));
        f += w(touched, tl(l, 10)) + w(touched, tl(l, 11));
        if (needDfc) {
            if (needDln2) f += 2 * (n(tl(l, 8)) + n(tl(l, 9)));
            f += w(touched, tl(l, 8)) + w(touched, tl(l, 9));
        }
        // attention: dense (6, 7), attention itself, qkv (4, 5)
        if (needDqkv) f += 2 * (n(tl(l, 6)) + n(tl(l, 7)));
        f += w(touched, tl(l, 6)) + w(touched, tl(l, 7));
        if (needDqkv) {
            f += 2 * attnFwd;
            if (needDln1) f += 2 * (n(tl(l, 4)) + n(tl(l, 5)));
            f += w(touched, tl(l, 4)) + w(touched, tl(l, 5));
        }
        // the LayerNorms (2, 3) and (0, 1)
        if (needDln2) f += (needDx ? 2 * (n(tl(l, 2)) + n(tl(l, 3))) : 0) + w(touched, tl(l, 2)) + w(touched, tl(l, 3));
        if (needDln1) f += (needDx ? 2 * (n(tl(l, 0)) + n(tl(l, 1))) : 0) + w(touched, tl(l, 0)) + w(touched, tl(l, 1));
        return f;
    }

    // ------------------------------------------------------------------ the sweep

    /** A native batch: rows x T tokens; cached when it fits the budget (Observables.cacheAt). */
    private record Batch(long rows, boolean cached) {}

    private Estimate run(List<Component> comps, Options o) {
        SamplerOptions so = o.sampler();
        int T = o.seq();
        // the batches of Observables, in its cache order: minibatch pool, sampling chunks, probe chunks
        long perChunk = Math.max(1, o.maxBatchTokens() / T);
        long bytesPerRow = (long) T * c.dModel() * 4L;
        long[] budget = {o.cacheBudgetBytes()}, need = {0};
        long pool = Math.max(1, o.samplingSequences() / so.batch());
        List<Batch> mini = new ArrayList<>();
        for (long k = 0; k < pool; k++) mini.add(batch(so.batch(), bytesPerRow, budget, need));
        List<Batch> sampling = chunks(o.samplingSequences(), perChunk, bytesPerRow, budget, need);
        List<Batch> probe = chunks(o.probeSequences(), perChunk, bytesPerRow, budget, need);

        long steps = so.stepsPerChain();
        long cachedSteps = 0;                                  // steps of a chain whose minibatch is cached
        long cachedInPool = mini.stream().filter(Batch::cached).count();
        cachedSteps += (steps / pool) * cachedInPool;
        for (long s = 0; s < steps % pool; s++) if (mini.get((int) s).cached()) cachedSteps++;

        double[] buildFlops = new double[L + 1];              // every cached batch through layers 0 .. l-1
        for (int l = 1; l <= L; l++)
            for (List<Batch> set : List.of(probe, sampling, mini))
                for (Batch b : set) if (b.cached()) buildFlops[l] += b.rows() * T * (forwardFrom(0) - forwardFrom(l));
        List<Run> runs = new ArrayList<>();
        List<Component> all = new ArrayList<>();
        all.add(Decomposition.full(c));
        all.addAll(comps);
        int[] layers = new int[all.size()];                    // the layer each run caches at (-1: none)
        for (int i = 0; i < all.size(); i++) layers[i] = i > 0 && o.fastPath() ? all.get(i).lowestLayer() : -1;
        double[] setups = builds(layers, buildFlops, 1);
        for (int i = 0; i < all.size(); i++) {
            Component comp = all.get(i);
            boolean fast = i > 0 && o.fastPath();               // the full run never uses the fast path
            int stop = fast ? comp.lowestLayer() : 0;
            int layer = layers[i];
            boolean[] touched = touched(fast ? comp.blockArray() : null, stop);
            double bwd = backward(touched, stop);
            int lo = lowestEntered(touched, stop);
            boolean cacheOn = layer > 0;                       // cacheAt(<= 0) drops every cache
            int start = cacheOn && layer <= lo ? layer : 0;
            double stepCached = forwardFrom(start) + bwd, stepUncached = forwardFrom(0) + bwd;
            double tokPerStep = (double) so.batch() * T;
            double sgld = so.chains() * tokPerStep * (cachedSteps * stepCached + (steps - cachedSteps) * stepUncached);
            double perDraw = 0;
            for (List<Batch> set : List.of(sampling, probe))
                for (Batch b : set) perDraw += b.rows() * T * forwardFrom(cacheOn && b.cached() ? layer : 0);
            double observable = (double) so.chains() * so.draws() * perDraw;
            runs.add(new Run(comp.name(), comp.lowestLayer(), comp.numel(), stepCached, sgld, observable, setups[i], layer));
        }
        double loss0 = 0;
        for (Batch b : sampling) loss0 += b.rows() * T * forwardFrom(0);
        long[] cachedTok = {tokens(probe, T), tokens(sampling, T), cachedInPool * so.batch() * T};
        long[] totalTok = {o.probeSequences() * T, o.samplingSequences() * T, pool * so.batch() * T};
        return new Estimate(c, o, List.copyOf(runs), o.probeSequences() * (T - 1), loss0, need[0], cachedTok, totalTok, buildFlops);
    }

    /**
     * The cache build each run triggers: Observables.cacheAt rebuilds when a run's layer differs from the
     * previous run's of the same shard (run i belongs to shard i mod count) and drops the caches for
     * layers <= 0.
     */
    private static double[] builds(int[] layers, double[] buildFlops, int count) {
        double[] out = new double[layers.length];
        int[] last = new int[count];
        java.util.Arrays.fill(last, -1);
        for (int i = 0; i < layers.length; i++) {
            int k = i % count;
            if (layers[i] != last[k] && layers[i] > 0) out[i] = buildFlops[layers[i]];
            last[k] = layers[i];
        }
        return out;
    }

    private static List<Batch> chunks(long rows, long perChunk, long bytesPerRow, long[] budget, long[] need) {
        List<Batch> out = new ArrayList<>();
        for (long r = 0; r < rows; r += perChunk) out.add(batch(Math.min(perChunk, rows - r), bytesPerRow, budget, need));
        return out;
    }

    private static Batch batch(long rows, long bytesPerRow, long[] budget, long[] need) {
        long bytes = rows * bytesPerRow;
        need[0] += bytes;
        boolean fits = bytes <= budget[0];
        if (fits) budget[0] -= bytes;
        return new Batch(rows, fits);
    }

    private static long tokens(List<Batch> set, int T) {
        long n = 0;
        for (Batch b : set) if (b.cached()) n += b.rows() * T;
        return n;
    }
}
