package io.spectro.sampling;

import io.spectro.SpectroException;
import io.spectro.nativeabi.NativeAccum;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeException;
import io.spectro.nativeabi.NativeModel;
import io.spectro.nativeabi.SpectroAbi;
import io.spectro.model.ModelConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The fixed token sets of a susceptibility run, resident in backend memory:
 * <ul>
 *   <li>probe chunks: the sequences whose tokens get chi vectors, each with a native accumulator
 *       (sum of l and of phi*l per token);</li>
 *   <li>sampling chunks: the fixed observable set whose mean loss S gives phi = S - L0;</li>
 *   <li>the SGLD minibatch pool: the sampling-distribution sequences partitioned once (seeded) into
 *       minibatches of {@code batch} sequences that every chain cycles through in the same order.</li>
 * </ul>
 * The fast path caches, per component, the residual stream at the input of its lowest layer in every
 * one of these batches ({@link #cacheAt}); when the cache would exceed the memory budget, probe chunks
 * are left uncached first, then sampling chunks, then minibatches, the most often run (results are the
 * same, only slower).
 */
public final class Observables implements AutoCloseable {
    private final NativeModel model;
    private final ModelConfig cfg;
    final List<NativeBatch> probe = new ArrayList<>();
    final List<NativeAccum> probeAccum = new ArrayList<>();
    final List<NativeBatch> sampling = new ArrayList<>();
    final List<NativeBatch> minibatches = new ArrayList<>();
    private final int probeRows, probeT, samplingTokens;
    /** {@code cacheBudgetBytes} value that sizes the budget from the backend's free memory ({@link #autoBudget}). */
    public static final long AUTO_BUDGET = -1;
    private final long cacheBudgetBytes;
    private int cachedLayer = -1;

    /**
     * @param probe      int32 [nProbe, Tp] row-major
     * @param sampling   int32 [nSampling, Ts] row-major: the observable set and the SGLD data
     * @param maxTokens  largest B*T one native batch may hold (the model's max_batch)
     * @param cacheBudgetBytes the fast path's cache budget, or {@link #AUTO_BUDGET}
     */
    public Observables(NativeModel model, ModelConfig cfg, int[] probe, int nProbe, int probeT, int[] sampling,
                       int nSampling, int samplingT, int minibatch, long seed, int maxTokens, long cacheBudgetBytes) {
        this.model = model;
        this.cfg = cfg;
        this.probeRows = nProbe;
        this.probeT = probeT;
        this.samplingTokens = nSampling * (samplingT - 1);
        if (cacheBudgetBytes < 0 && cacheBudgetBytes != AUTO_BUDGET)
            throw new SpectroException("cache budget must be >= 0 bytes or AUTO_BUDGET, got " + cacheBudgetBytes);
        if (nProbe < 1 || probeT < 2) throw new SpectroException("probe set is empty or its sequences are shorter than 2 tokens");
        if (nSampling < 1 || samplingT < 2) throw new SpectroException("sampling set is empty or its sequences are shorter than 2 tokens");
        if (minibatch > nSampling)
            throw new SpectroException("batch " + minibatch + " is larger than the " + nSampling + " sampling sequences: every minibatch would "
                    + "repeat sequences; use --batch " + nSampling + " or less, or more sampling data");
        if (minibatch * samplingT > maxTokens)
            throw new SpectroException("batch " + minibatch + " x " + samplingT + " tokens exceeds the backend's max batch of " + maxTokens + " tokens");
        try {
            chunk(probe, nProbe, probeT, maxTokens, this.probe);
            for (NativeBatch b : this.probe) probeAccum.add(model.accum((long) b.B() * (b.T() - 1)));
            chunk(sampling, nSampling, samplingT, maxTokens, this.sampling);
            // the minibatch pool: one seeded permutation of the sampling rows, cut into minibatches
            int[] order = permutation(nSampling, new SplittableRandom(seed ^ 0x5DEECE66DL));
            int nBatches = Math.max(1, nSampling / minibatch);
            for (int k = 0; k < nBatches; k++) {
                int[] toks = new int[minibatch * samplingT];
                for (int i = 0; i < minibatch; i++) {
                    int row = order[(k * minibatch + i) % nSampling];
                    System.arraycopy(sampling, row * samplingT, toks, i * samplingT, samplingT);
                }
                minibatches.add(model.batch(toks, minibatch, samplingT));
            }
            this.cacheBudgetBytes = cacheBudgetBytes == AUTO_BUDGET ? autoBudget(model) : cacheBudgetBytes;
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * The automatic cache budget, taken after the model and every batch exist: 80% of the device's free
     * memory on CUDA (the caches are device arrays and nothing else grows there during a run), half of
     * the available host memory on the CPU (the JVM, the page cache of the checkpoint and other processes
     * share it).
     */
    public static long autoBudget(NativeModel model) {
        long free = model.memoryAvailable();
        return model.backend().name().equals("cuda") ? (long) (0.8 * free) : free / 2;
    }

    /** Bytes the caches of every batch would take (what a budget must hold for everything to be cached). */
    public long cacheBytesNeeded() {
        long n = 0;
        for (NativeBatch b : all()) n += cacheBytes(b);
        return n;
    }

    /** Bytes of one batch's cache: its residual stream at one layer, [B, T, d] floats. */
    private long cacheBytes(NativeBatch b) {
        return (long) b.B() * b.T() * cfg.dModel() * 4L;
    }

    /** The cache budget in bytes (the automatic one resolved). */
    public long cacheBudgetBytes() {
        return cacheBudgetBytes;
    }

    private void chunk(int[] toks, int rows, int T, int maxTokens, List<NativeBatch> out) {
        int per = Math.max(1, maxTokens / T);
        for (int r = 0; r < rows; r += per) {
            int n = Math.min(per, rows - r);
            int[] part = new int[n * T];
            System.arraycopy(toks, r * T, part, 0, n * T);
            out.add(model.batch(part, n, T));
        }
    }

    static int[] permutation(int n, SplittableRandom rng) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i]; p[i] = p[j]; p[j] = t;
        }
        return p;
    }

    public int probeTokens() {
        return probeRows * (probeT - 1);
    }

    public int samplingTokens() {
        return samplingTokens;
    }

    public NativeBatch minibatch(long step) {
        return minibatches.get((int) (step % minibatches.size()));
    }

    /**
     * Fast path: cache every batch's residual stream at the input of {@code layer} with the current
     * (anchor) weights; {@code layer <= 0} drops all caches. Returns the number of batches cached.
     */
    public int cacheAt(int layer) {
        if (layer == cachedLayer) return -1;
        for (NativeBatch b : all()) b.cacheAt(-1);
        cachedLayer = layer;
        if (layer <= 0) return 0;
        long used = 0;
        int cached = 0;
        for (NativeBatch b : all()) { // minibatches first, then sampling, then probe
            long bytes = cacheBytes(b);
            if (used + bytes > cacheBudgetBytes) continue;
            try {
                b.cacheAt(layer);
            } catch (NativeException e) {
                // the backend ran out of memory before the budget did: the rest runs uncached (same results)
                if (e.status() != SpectroAbi.SP_ERR_OOM) throw e;
                break;
            }
            used += bytes;
            cached++;
        }
        return cached;
    }

    /** Mean loss of the sampling observables at the current weights (token-weighted over chunks). */
    public double samplingLoss() {
        double sum = 0;
        long n = 0;
        for (NativeBatch b : sampling) {
            long k = (long) b.B() * (b.T() - 1);
            sum += model.forward(b, null) * k;
            n += k;
        }
        return sum / n;
    }

    /** Per-token losses of the whole probe set at the current weights (row order of chi.npy). */
    public float[] probeLosses() {
        float[] out = new float[probeTokens()];
        int off = 0;
        for (NativeBatch b : probe) {
            int n = b.B() * (b.T() - 1);
            float[] losses = new float[n];
            model.forward(b, losses);
            System.arraycopy(losses, 0, out, off, n);
            off += n;
        }
        return out;
    }

    /**
     * The gradient of the sampling loss S (token-weighted mean over the sampling set) at the current
     * weights, on {@code comp}'s parameters in {@link ComponentVector} layout; backward stopped at
     * {@code stopLayer} and restricted to {@code gradBlocks} (null: every tensor) as in the sampler.
     */
    public double[] samplingGradient(io.spectro.components.Component comp, int stopLayer, io.spectro.model.Block[] gradBlocks) {
        double[] g = new double[(int) comp.numel()];
        for (NativeBatch b : sampling) {
            double wgt = (double) b.B() * (b.T() - 1) / samplingTokens;
            double l = model.forwardBackward(b, stopLayer, gradBlocks, null);
            if (!Double.isFinite(l)) throw new SpectroException("sampling loss is " + l + " in a gradient of component " + comp.name());
            float[] gb = ComponentVector.gather(comp, model::readGrads);
            for (int i = 0; i < g.length; i++) g[i] += wgt * gb[i];
        }
        return g;
    }

    /** Forward over the probe set and add its losses to the accumulators with weight phi. */
    public void accumulateProbe(double phi, float[] copyOut) {
        int off = 0;
        for (int i = 0; i < probe.size(); i++) {
            NativeBatch b = probe.get(i);
            int n = b.B() * (b.T() - 1);
            float[] losses = copyOut == null ? null : new float[n];
            model.forward(b, losses);
            probeAccum.get(i).add(model, b, phi);
            if (copyOut != null) System.arraycopy(losses, 0, copyOut, off, n);
            off += n;
        }
    }

    /** Reads the accumulators: {sum of l[t], sum of phi*l[t]} over the whole probe set, then resets them. */
    public double[][] drainProbe() {
        double[][] r = readProbe();
        for (NativeAccum a : probeAccum) a.reset();
        return r;
    }

    /** Reads the accumulators without resetting them: {sum of l[t], sum of phi*l[t]} over the whole probe set. */
    public double[][] readProbe() {
        double[] sumL = new double[probeTokens()], sumPhiL = new double[probeTokens()];
        int off = 0;
        for (NativeAccum a : probeAccum) {
            double[][] r = a.read();
            System.arraycopy(r[0], 0, sumL, off, r[0].length);
            System.arraycopy(r[1], 0, sumPhiL, off, r[1].length);
            off += r[0].length;
        }
        return new double[][]{sumL, sumPhiL};
    }

    /**
     * Every batch, in the order the cache budget is spent on them: by how often each is run per cached
     * byte. A pool minibatch runs chains x steps / pool times per component (64,000 / pool at the
     * published settings), a sampling or probe chunk chains x draws times (400).
     */
    private List<NativeBatch> all() {
        List<NativeBatch> l = new ArrayList<>(minibatches);
        l.addAll(sampling);
        l.addAll(probe);
        return l;
    }

    @Override
    public void close() {
        for (NativeAccum a : probeAccum) a.close();
        for (NativeBatch b : all()) b.close();
    }
}
