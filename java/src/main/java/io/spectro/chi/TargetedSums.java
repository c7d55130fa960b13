package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.components.Component;
import io.spectro.io.IoErrors;
import io.spectro.nativeabi.NativeModel;
import io.spectro.sampling.Observables;
import io.spectro.sampling.RestrictedSampler;
import io.spectro.sampling.RestrictedSampler.ChainState;
import io.spectro.sampling.SamplerOptions;
import io.spectro.util.Progress;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;

/**
 * {@code spectro chi --target-reliability R --max-draws N} for one component (docs/method.md, "Target
 * reliability"): rounds of draws, --draws per chain first, then doubling (capped at N), until the split-half
 * reliability of the component's column (with the full run's chains) reaches R or the chains hold N draws.
 * A round continues every chain where the previous one stopped (its weights and RMSProp state kept exactly),
 * and the noise and minibatch of step s depend on s alone, so a component that stops at D draws per chain
 * took the draws of a fixed {@code --draws D} run.
 *
 * <p>After every round that does not finish, the chains' state goes to {@code state/NNNN.round.bin}
 * (identity + CRC32, written atomically): a killed run resumes at the last finished round and, since it
 * continues from the same bits, ends with bit-identical files. The round file is deleted when the
 * component's final state is written. Memory: chains x component size floats of weights (x2 with
 * RMSProp) plus the per-chain sums and traces, on the heap and in the round file.
 */
final class TargetedSums {
    private static final int MAGIC = 0x53505244; // "SPRD"

    /** Test hook: called with the draws per chain after each round file is written. */
    static IntConsumer afterRound = d -> {};

    private TargetedSums() {}

    /** Where a component's chains stand after a round (everything {@link #run} needs to go on). */
    static final class Round {
        int draws;
        final ChainState[] states;
        final long[] k;
        final double[] phi, phiS, s;
        final double[][] perToken, drawLoss;
        final double[] sumL;

        Round(int draws, ChainState[] states, long[] k, double[] phi, double[] phiS, double[] s, double[][] perToken,
              double[][] drawLoss, double[] sumL) {
            this.draws = draws;
            this.states = states;
            this.k = k;
            this.phi = phi;
            this.phiS = phiS;
            this.s = s;
            this.perToken = perToken;
            this.drawLoss = drawLoss;
            this.sumL = sumL;
        }

        static Round fresh(int chains, int tokens, int tracePoints) {
            ChainState[] st = new ChainState[chains];
            for (int c = 0; c < chains; c++) st[c] = new ChainState(tracePoints);
            return new Round(0, st, new long[chains], new double[chains], new double[chains], new double[chains],
                    new double[chains][tokens], new double[chains][0], new double[tokens]);
        }

        ChainSums chains() {
            return new ChainSums(k, phi, phiS, s, perToken);
        }
    }

    /** The draws per chain of the round after one of {@code draws} (0: none yet). */
    static int nextDraws(int draws, SamplerOptions so, ChiRun.Target t) {
        return draws == 0 ? so.draws() : (int) Math.min(2L * draws, t.maxDraws());
    }

    /**
     * Computes one component in rounds and writes its final state (like ChiRun's fixed-draw path: chains
     * file, diagnostics, then the .bin that marks it finished); false: it stopped on NaN/inf.
     */
    static boolean run(NativeModel model, Observables obs, Component comp, int index, SamplerOptions so, double loss0,
                       boolean fast, Path state, Progress progress, String identity, ChainSums full, ChiRun.Target target) {
        Path roundFile = roundFile(state);
        int n = obs.probeTokens(), m = so.chains();
        long window = RestrictedSampler.traceWindow(steps(so, target.maxDraws()));
        int points = (int) ((steps(so, target.maxDraws()) + window - 1) / window);
        Round r = Files.exists(roundFile) ? read(roundFile, identity, m, n, comp.numel(), so.rmsprop(), points)
                : Round.fresh(m, n, points);
        progress.label(comp.name());
        progress.advance((long) m * steps(so, r.draws));
        Diagnostics d;
        ComponentSums pooled = null;
        RestrictedSampler.Traces tr = null;
        try {
            while (true) {
                int next = nextDraws(r.draws, so, target);
                extend(model, obs, comp, index, so, loss0, fast, r, next, window, progress);
                double rel = ChiUncertainty.splitHalf(r.chains(), full);
                if (rel >= target.reliability() || next >= target.maxDraws()) break;
                write(roundFile, identity, r, comp.numel(), so.rmsprop());
                afterRound.accept(r.draws);
            }
            for (int t = 0; t < n; t++)
                for (int c = 0; c < m; c++)
                    if (!Double.isFinite(r.perToken[c][t]) || !Double.isFinite(r.sumL[t]))
                        throw new RestrictedSampler.NonFiniteException("component " + comp.name() + ": probe token " + t + " has a non-finite loss");
            ComponentSums p = r.chains().pooled(0, m, false);
            pooled = new ComponentSums(p.draws(), p.sumPhi(), p.sumPhiS(), p.sumS(), r.sumL, p.sumPhiL());
            int used = (int) ((steps(so, r.draws) + window - 1) / window);
            float[][] stepLoss = new float[m][];
            for (int c = 0; c < m; c++) stepLoss[c] = java.util.Arrays.copyOf(r.states[c].stepLoss, used);
            tr = new RestrictedSampler.Traces(stepLoss, r.drawLoss);
            d = Diagnostics.of(comp.name(), tr, loss0, so.nbeta());
        } catch (RestrictedSampler.NonFiniteException e) {
            d = Diagnostics.failed(comp.name(), loss0, "stopped: " + e.getMessage());
            System.err.println("\nspectro chi: " + d.status());
        }
        ChiRun.finish(state, identity, d, tr, pooled == null ? null : new ChiRun.Sums(pooled, r.chains()));
        try {
            Files.deleteIfExists(roundFile);
        } catch (IOException e) {
            throw new SpectroException(roundFile + ": cannot delete (" + IoErrors.describe(e) + ")", e);
        }
        return pooled != null;
    }

    private static long steps(SamplerOptions so, int draws) {
        return draws == 0 ? 0 : so.withDraws(draws).stepsPerChain();
    }

    /** Continues every chain of {@code r} to {@code next} draws, adding the new draws to its sums. */
    private static void extend(NativeModel model, Observables obs, Component comp, int index, SamplerOptions so, double loss0,
                               boolean fast, Round r, int next, long window, Progress progress) {
        int m = so.chains();
        obs.drainProbe(); // start from zero
        ChiRun.CountingObserver co = new ChiRun.CountingObserver(obs, m, false);
        double[][] seg = RestrictedSampler.run(model, obs, comp, index, so, loss0, fast, List.of(co), progress::step,
                steps(so, r.draws), steps(so, next), window, r.states, true);
        double[] l = obs.drainProbe()[0];
        ChainSums add = co.chains();
        for (int c = 0; c < m; c++) {
            r.k[c] += add.draws()[c];
            r.phi[c] += add.sumPhi()[c];
            r.phiS[c] += add.sumPhiS()[c];
            r.s[c] += add.sumS()[c];
            for (int t = 0; t < l.length; t++) r.perToken[c][t] += add.perToken()[c][t];
            double[] dl = java.util.Arrays.copyOf(r.drawLoss[c], next);
            System.arraycopy(seg[c], 0, dl, r.draws, seg[c].length);
            r.drawLoss[c] = dl;
        }
        for (int t = 0; t < l.length; t++) r.sumL[t] += l[t];
        r.draws = next;
    }

    /** state/0003.bin -> state/0003.round.bin. */
    static Path roundFile(Path state) {
        return state.resolveSibling(state.getFileName().toString().replace(".bin", ".round.bin"));
    }

    private static void write(Path file, String identity, Round r, long numel, boolean rms) {
        StateFile.write(file, MAGIC, identity, out -> {
            int m = r.k.length, n = r.sumL.length;
            out.writeInt(m);
            out.writeInt(n);
            out.writeInt(r.draws);
            out.writeLong(numel);
            out.writeBoolean(rms);
            out.writeInt(r.states[0].stepLoss.length);
            for (int c = 0; c < m; c++) {
                out.writeLong(r.k[c]);
                out.writeDouble(r.phi[c]);
                out.writeDouble(r.phiS[c]);
                out.writeDouble(r.s[c]);
                for (double v : r.perToken[c]) out.writeDouble(v);
                for (double v : r.drawLoss[c]) out.writeDouble(v);
                ChainState st = r.states[c];
                for (float v : st.weights) out.writeFloat(v);
                if (rms) for (float v : st.rms) out.writeFloat(v);
                for (float v : st.stepLoss) out.writeFloat(v);
                out.writeDouble(st.pooled);
            }
            for (double v : r.sumL) out.writeDouble(v);
        });
    }

    /** Reads a round file written for {@code identity} with these sizes; refuses another run's or a damaged one, naming it. */
    static Round read(Path file, String identity, int chains, int tokens, long numel, boolean rms, int points) {
        String again = "; delete it to restart this component's rounds";
        try (InputStream is = Files.newInputStream(file)) {
            CheckedInputStream checked = new CheckedInputStream(new java.io.BufferedInputStream(is, 1 << 16), new CRC32());
            DataInputStream in = new DataInputStream(checked);
            StateFile.header(in, file, MAGIC, 0, identity, "round state", again);
            int m = in.readInt(), n = in.readInt(), draws = in.readInt();
            long ne = in.readLong();
            boolean r = in.readBoolean();
            int p = in.readInt();
            if (m != chains || n != tokens || ne != numel || r != rms || p != points || draws < 1)
                throw new SpectroException(file + ": holds " + m + " chains x " + n + " tokens of a " + ne + "-float component"
                        + " (the run has " + chains + " x " + tokens + ", " + numel + ")" + again);
            Round out = Round.fresh(m, n, p);
            out.draws = draws;
            for (int c = 0; c < m; c++) {
                out.k[c] = in.readLong();
                out.phi[c] = in.readDouble();
                out.phiS[c] = in.readDouble();
                out.s[c] = in.readDouble();
                for (int t = 0; t < n; t++) out.perToken[c][t] = in.readDouble();
                out.drawLoss[c] = new double[draws];
                for (int i = 0; i < draws; i++) out.drawLoss[c][i] = in.readDouble();
                float[] w = new float[(int) numel], v = rms ? new float[(int) numel] : null;
                for (int i = 0; i < w.length; i++) w[i] = in.readFloat();
                if (rms) for (int i = 0; i < v.length; i++) v[i] = in.readFloat();
                float[] trace = new float[p];
                for (int i = 0; i < p; i++) trace[i] = in.readFloat();
                out.states[c] = new ChainState(w, v, trace, in.readDouble());
            }
            for (int t = 0; t < n; t++) out.sumL[t] = in.readDouble();
            StateFile.trailer(checked, file, true, again);
            return out;
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot read round state (" + IoErrors.describe(e) + ")" + again, e);
        }
    }
}
