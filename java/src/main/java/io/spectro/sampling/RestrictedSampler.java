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
        long steps = o.stepsPerChain();
        long window = traceWindow(steps);
        int points = (int) ((steps + window - 1) / window);
        ChainState[] states = new ChainState[o.chains()];
        for (int c = 0; c < states.length; c++) states[c] = new ChainState(points);
        double[][] drawLoss = run(model, obs, comp, componentIndex, o, loss0, fastPath, observers, onStep, 0, steps, window, states, false);
        float[][] stepLoss = new float[o.chains()][];
        for (int c = 0; c < states.length; c++) stepLoss[c] = states[c].stepLoss;
        return new Traces(stepLoss, drawLoss);
    }

    /** The trace window of {@link Traces#stepLoss} for chains of {@code steps} steps. */
    public static long traceWindow(long steps) {
        return Math.max(1, (steps + TRACE_POINTS - 1) / TRACE_POINTS);
    }

    /**
     * Where a chain stands between two segments of steps: its component weights and RMSProp state V after
     * the last step run (null: not started, w* and V = 0), the step-loss trace so far (windows of a fixed
     * width) and the sum of the minibatch losses of the window in progress. Everything is kept exactly
     * (float bits, double sums), so continuing from a state read back from disk takes the same steps as
     * continuing in memory.
     */
    public static final class ChainState {
        public float[] weights, rms;
        public final float[] stepLoss;
        public double pooled;

        public ChainState(int tracePoints) {
            stepLoss = new float[tracePoints];
        }

        public ChainState(float[] weights, float[] rms, float[] stepLoss, double pooled) {
            this.weights = weights;
            this.rms = rms;
            this.stepLoss = stepLoss;
            this.pooled = pooled;
        }
    }

    /** Draws a chain takes before step {@code step} (the draw steps s < step). */
    public static int drawsBefore(SamplerOptions o, long step) {
        return step <= o.burnin() ? 0 : (int) ((step - o.burnin()) / o.stepsBetween());
    }

    /**
     * Steps [from, to) of every chain, continuing from {@code states} (see {@link ChainState}); with
     * {@code keep} every chain's weights and V are read back into its state afterwards. The noise of step s
     * is keyed by (seed, stream, s) and its minibatch is s mod pool, so steps [0, a) then [a, b) are the steps
     * [0, b) of one longer chain. Returns S at every draw of the segment, per chain.
     */
    public static double[][] run(NativeModel model, Observables obs, Component comp, int componentIndex,
                                 SamplerOptions o, double loss0, boolean fastPath,
                                 List<? extends DrawObserver<?>> observers, Runnable onStep,
                                 long from, long to, long window, ChainState[] states, boolean keep) {
        Block[] blocks = comp.blockArray();
        int stop = fastPath ? comp.lowestLayer() : 0;
        Block[] gradBlocks = fastPath ? blocks : null;
        obs.cacheAt(fastPath ? comp.lowestLayer() : -1);
        boolean copyProbe = observers.stream().anyMatch(DrawObserver::wantsProbeLosses);
        int first = drawsBefore(o, from);
        double[][] drawLoss = new double[o.chains()][drawsBefore(o, to) - first];
        try {
            for (int c = 0; c < o.chains(); c++) {
                ChainState st = states[c];
                model.resetParams(blocks);
                if (st.weights != null) ComponentVector.scatter(model, comp, st.weights);
                try (NativeBuffer rms = o.rmsprop() ? model.buffer(comp.numel()) : null) { // V = 0 (zero-filled)
                    if (rms != null && st.rms != null) rms.write(0, st.rms);
                    int draw = first;
                    for (long s = from; s < to; s++) {
                        try {
                            NativeBatch mb = obs.minibatch(s);
                            double l = model.forwardBackward(mb, stop, gradBlocks, null);
                            if (!Double.isFinite(l)) throw new NonFiniteException(comp.name(), c, s, "minibatch loss is " + l);
                            st.pooled += l;
                            if ((s + 1) % window == 0 || s == to - 1)
                                st.stepLoss[(int) (s / window)] = (float) (st.pooled / (s - s / window * window + 1));
                            if ((s + 1) % window == 0) st.pooled = 0;
                            model.sgldUpdate(blocks, rms, new SgldParams(o.lr(), o.nbeta(), o.gamma(), o.rmsprop(), o.alpha(),
                                    o.rmsEps(), o.noiseScale(), stream(componentIndex, c), o.seed(), s));
                            if (o.isDrawStep(s)) {
                                double S = obs.samplingLoss();
                                if (!Double.isFinite(S)) throw new NonFiniteException(comp.name(), c, s, "sampling loss is " + S);
                                float[] probe = copyProbe ? new float[obs.probeTokens()] : null;
                                obs.accumulateProbe(S - loss0, probe);
                                drawLoss[c][draw - first] = S;
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
                    if (keep) {
                        st.weights = ComponentVector.gather(comp, model::readParams);
                        st.rms = rms == null ? null : rms.read(0, (int) comp.numel());
                    }
                }
                for (DrawObserver<?> ob : observers) ob.chainDone(c);
            }
        } finally {
            model.resetParams(blocks);
        }
        for (DrawObserver<?> ob : observers) ob.finish();
        return drawLoss;
    }
}
