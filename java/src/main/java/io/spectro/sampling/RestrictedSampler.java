package io.spectro.sampling;

import io.spectro.components.Component;
import io.spectro.model.Block;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeBuffer;
import io.spectro.nativeabi.NativeException;
import io.spectro.nativeabi.NativeModel;
import io.spectro.nativeabi.SgldParams;
import io.spectro.nativeabi.SpectroAbi;

import java.util.List;

/**
 * Runs the SGLD chains of one component (method.md section 2). The update rule itself is one fused
 * native call ({@link NativeModel#sgldUpdate}); this class only schedules it:
 * <pre>
 *   for chain c:   w[C] <- w*[C], V <- 0
 *     for step s < burnin + draws * stepsBetween:
 *       g <- grad of mean minibatch loss (minibatch s mod pool, the same sequence for every chain)
 *       w[C] <- SGLD/RMSProp update with Philox noise keyed by (seed, stream(C, c), s)
 *       after a draw step: S = sampling loss, phi = S - L0, probe losses accumulated with phi
 *   w[C] <- w*[C]
 * </pre>
 * With the fast path on, the backward pass stops at the component's lowest layer, only the
 * component's tensors get weight gradients, and every batch starts from its cached residual stream.
 */
public final class RestrictedSampler {
    private RestrictedSampler() {}

    /** Raised when a chain produces NaN/inf; names component, chain and step. */
    public static final class NonFiniteException extends RuntimeException {
        public final int chain;
        public final long step;

        public NonFiniteException(String component, int chain, long step, String what) {
            super("component " + component + ", chain " + chain + ", step " + step + ": " + what);
            this.chain = chain;
            this.step = step;
        }

        /** A failure not tied to one chain and step (e.g. found in the accumulated sums). */
        public NonFiniteException(String message) {
            super(message);
            this.chain = -1;
            this.step = -1;
        }
    }

    /**
     * Per-chain traces for diagnostics: the minibatch loss mean-pooled over windows of
     * ceil(steps / {@link #TRACE_POINTS}) consecutive steps (every step when there are fewer), and the
     * sampling loss S at every draw.
     */
    public record Traces(float[][] stepLoss, double[][] drawLoss) {}

    /** At most this many points per chain in {@link Traces#stepLoss}: memory independent of the step count. */
    public static final int TRACE_POINTS = 400;

    /** Noise stream of chain {@code chain} of component {@code index}: (index << 12) | chain (index -1 = full run). */
    public static int stream(int componentIndex, int chain) {
        return ((componentIndex + 1) << 12) | chain;
    }

    public static Traces run(NativeModel model, Observables obs, Component comp, int componentIndex,
                             SamplerOptions o, double loss0, boolean fastPath,
                             List<? extends DrawObserver<?>> observers, Runnable onStep) {
        Block[] blocks = comp.blockArray();
        int stop = fastPath ? comp.lowestLayer() : 0;
        Block[] gradBlocks = fastPath ? blocks : null;
        obs.cacheAt(fastPath ? comp.lowestLayer() : -1);
        boolean copyProbe = observers.stream().anyMatch(DrawObserver::wantsProbeLosses);
        long steps = o.stepsPerChain();
        long window = Math.max(1, (steps + TRACE_POINTS - 1) / TRACE_POINTS);
        int points = (int) ((steps + window - 1) / window);
        float[][] stepLoss = new float[o.chains()][points];
        double[][] drawLoss = new double[o.chains()][o.draws()];
        try {
            for (int c = 0; c < o.chains(); c++) {
                model.resetParams(blocks);
                try (NativeBuffer rms = o.rmsprop() ? model.buffer(comp.numel()) : null) { // V = 0 (zero-filled)
                    int draw = 0;
                    double pooled = 0;
                    for (long s = 0; s < steps; s++) {
                        try {
                            NativeBatch mb = obs.minibatch(s);
                            double l = model.forwardBackward(mb, stop, gradBlocks, null);
                            if (!Double.isFinite(l)) throw new NonFiniteException(comp.name(), c, s, "minibatch loss is " + l);
                            pooled += l;
                            if ((s + 1) % window == 0 || s == steps - 1)
                                stepLoss[c][(int) (s / window)] = (float) (pooled / (s - s / window * window + 1));
                            if ((s + 1) % window == 0) pooled = 0;
                            model.sgldUpdate(blocks, rms, new SgldParams(o.lr(), o.nbeta(), o.gamma(), o.rmsprop(), o.alpha(),
                                    o.rmsEps(), o.noiseScale(), stream(componentIndex, c), o.seed(), s));
                            if (o.isDrawStep(s)) {
                                double S = obs.samplingLoss();
                                if (!Double.isFinite(S)) throw new NonFiniteException(comp.name(), c, s, "sampling loss is " + S);
                                float[] probe = copyProbe ? new float[obs.probeTokens()] : null;
                                obs.accumulateProbe(S - loss0, probe);
                                drawLoss[c][draw] = S;
                                Draw d = new Draw(componentIndex, c, draw, s, S, S - loss0, probe);
                                for (DrawObserver<?> ob : observers) ob.onDraw(d);
                                draw++;
                            }
                        } catch (NativeException e) {
                            // the backends report NaN/inf in losses, gradients and updated weights as SP_ERR_NUMERIC
                            if (e.status() == SpectroAbi.SP_ERR_NUMERIC) throw new NonFiniteException(comp.name(), c, s, e.nativeMessage());
                            throw e;
                        }
                        if (onStep != null) onStep.run();
                    }
                }
                for (DrawObserver<?> ob : observers) ob.chainDone(c);
            }
        } finally {
            model.resetParams(blocks);
        }
        for (DrawObserver<?> ob : observers) ob.finish();
        return new Traces(stepLoss, drawLoss);
    }
}
