package io.spectro.oracle;

import io.spectro.components.Component;
import io.spectro.model.Block;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;

/**
 * A straightforward libtorch implementation of the susceptibility estimator (method.md sections 2-3),
 * the way a devinterp-style Python script computes it, sharing nothing with the engine's sampler:
 * <pre>
 *   L0 = mean loss of the sampling set at w*
 *   for the full run (every parameter), then each component C:
 *     for each chain:  w[C] <- w*[C]  (V <- 0)
 *       for each step s:  full forward + backward of EVERY parameter on minibatch s mod pool
 *                         restricted SGLD update of C's elements with torch ops
 *         at a draw:      S = sampling-set loss, phi = S - L0, probe per-token losses l[t];
 *                         K++, sums of phi, phi*S, S, l[t], phi*l[t]
 *     w[C] <- w*[C]
 *   Delta_full[t] = mean S_full - mean l_full[t];  chi^C[t] = mean(phi S) - mean(phi l[t]) - mean(phi) Delta_full[t]
 * </pre>
 * The noise comes from a {@link Noise}: {@link #philox} reproduces the engine's noise exactly (for the
 * end-to-end test), {@link #torchRandn} is plain torch.randn (for the benchmark). Streams follow
 * docs/method.md: ((component index + 1) << 12) | chain, the full run being component -1.
 */
public final class TorchChi {
    private TorchChi() {}

    /** Sampler settings (the same meaning as io.spectro.sampling.SamplerOptions). */
    public record Settings(int chains, int draws, int stepsBetween, int burnin, float lr, float nbeta, float gamma,
                           boolean rmsprop, float alpha, float rmsEps, long seed) {
        long steps() {
            return burnin + (long) draws * stepsBetween;
        }

        boolean isDraw(long s) {
            return s >= burnin && (s - burnin + 1) % stepsBetween == 0;
        }
    }

    /** SGLD noise xi[0..n) for (stream, step), as a float32 tensor. */
    public interface Noise {
        Tensor xi(int stream, long step, long n);
    }

    /** The engine's Philox noise, element numbering as spectro.h sp_block: from a host generator (e.g. Backend::noise). */
    public interface HostNoise {
        float[] noise(long seed, int stream, long step, long first, int n);
    }

    public static Noise philox(HostNoise host, long seed) {
        return (stream, step, n) -> {
            float[] x = host.noise(seed, stream, step, 0, Math.toIntExact(n));
            try (FloatPointer p = new FloatPointer(x)) {
                return torch.from_blob(p, new long[]{n}, new TensorOptions(torch.ScalarType.Float)).clone();
            }
        };
    }

    /** torch.randn from one seeded generator (independent of stream and step: only for throughput). */
    public static Noise torchRandn(long seed) {
        Generator g = torch.make_generator_cpu();
        g.retainReference(); // lives as long as the Noise (never freed inside a caller's PointerScope)
        g.set_current_seed(seed);
        return (stream, step, n) -> torch.randn(new long[]{n}, new GeneratorOptional(g), new TensorOptions(torch.ScalarType.Float));
    }

    /** chi [probe tokens x components] (row-major, like io.spectro.chi.ChiRun.Result#chi) and L0. */
    public record Result(double[] chi, int rows, int cols, double loss0) {
        public double at(int t, int c) {
            return chi[t * cols + c];
        }
    }

    /** The sums of one run (all chains pooled). */
    record Sums(long k, double sumPhi, double sumPhiS, double sumS, double[] sumL, double[] sumPhiL) {}

    /**
     * @param full        the unrestricted run's component (every parameter)
     * @param minibatches SGLD data: step s uses minibatches[s mod size], each {@code batch} rows of {@code samplingT} tokens
     */
    public static Result run(TorchNeoX model, Component full, List<Component> comps, Settings s, Noise noise,
                             int[] probe, int nProbe, int probeT, int[] sampling, int nSampling, int samplingT,
                             List<int[]> minibatches, int batch) {
        Sets sets = new Sets(model, probe, nProbe, probeT, sampling, nSampling, samplingT, minibatches, batch);
        try (PointerScope scope = new PointerScope()) {
            // the anchor w*: a copy of every leaf
            Tensor[] anchor = new Tensor[model.dims().tensorCount()];
            try (NoGradGuard g = new NoGradGuard()) {
                for (int i = 0; i < anchor.length; i++) anchor[i] = model.param(i).detach().clone();
            }
            double loss0 = sets.samplingLoss();
            Sums fullSums = chains(model, anchor, full, -1, s, noise, sets, loss0);
            int n = nProbe * (probeT - 1);
            double[] delta = new double[n];
            for (int t = 0; t < n; t++) delta[t] = fullSums.sumS() / fullSums.k() - fullSums.sumL()[t] / fullSums.k();
            double[] chi = new double[n * comps.size()];
            for (int c = 0; c < comps.size(); c++) {
                Sums cs = chains(model, anchor, comps.get(c), c, s, noise, sets, loss0);
                double k = cs.k();
                for (int t = 0; t < n; t++)
                    chi[t * comps.size() + c] = cs.sumPhiS() / k - cs.sumPhiL()[t] / k - cs.sumPhi() / k * delta[t];
            }
            return new Result(chi, n, comps.size(), loss0);
        }
    }

    /** A piece of a component inside one tensor: a sp_block that does not cross a tensor boundary. */
    private record Piece(int tensor, long first, long offset, long rows, long cols, long stride) {
        long numel() {
            return rows * cols;
        }

        /** [rows, cols] view of t, a tensor shaped like canonical tensor {@code tensor}. */
        Tensor view(TorchNeoX model, long[] off, Tensor t) {
            if (rows == 1) return t.view(-1).narrow(0, offset - off[tensor], cols).view(1, cols);
            return model.blockView(t, offset, rows, cols, stride);
        }
    }

    /** The component's blocks cut at tensor boundaries, keeping the component's element numbering. */
    private static List<Piece> pieces(TorchNeoX model, long[] off, Component comp) {
        List<Piece> out = new ArrayList<>();
        long first = 0;
        for (Block b : comp.blocks()) {
            if (b.rows() == 1) { // a contiguous range, possibly over several tensors (the full run)
                long o = b.offset(), end = b.offset() + b.cols();
                while (o < end) {
                    int i = model.tensorAt(o);
                    long len = Math.min(end, off[i + 1]) - o;
                    out.add(new Piece(i, first, o, 1, len, len));
                    first += len;
                    o += len;
                }
            } else {
                out.add(new Piece(model.tensorAt(b.offset()), first, b.offset(), b.rows(), b.cols(), b.stride()));
                first += b.numel();
            }
        }
        return out;
    }

    /** Runs every chain of one component and returns its sums; the component ends at the anchor again. */
    private static Sums chains(TorchNeoX model, Tensor[] anchor, Component comp, int index, Settings s, Noise noise,
                               Sets sets, double loss0) {
        long[] off = TorchNeoX.offsets(model.dims());
        List<Piece> pieces = pieces(model, off, comp);
        long numel = comp.numel();
        int n = sets.probeTokens();
        double[] sumL = new double[n], sumPhiL = new double[n];
        double sumPhi = 0, sumPhiS = 0, sumS = 0;
        long k = 0;
        double halfLr = 0.5 * s.lr(), sqrtLr = Math.sqrt(s.lr());
        try (PointerScope scope = new PointerScope()) {
            Tensor[] w = new Tensor[pieces.size()], a = new Tensor[pieces.size()];
            for (int p = 0; p < w.length; p++) {
                Piece pc = pieces.get(p);
                w[p] = pc.view(model, off, model.param(pc.tensor()));
                a[p] = pc.view(model, off, anchor[pc.tensor()]);
            }
            for (int c = 0; c < s.chains(); c++) {
                int stream = ((index + 1) << 12) | c;
                Tensor[] v = new Tensor[pieces.size()];
                try (NoGradGuard g = new NoGradGuard()) {
                    for (int p = 0; p < w.length; p++) {
                        w[p].copy_(a[p]);
                        if (s.rmsprop()) v[p] = torch.zeros(new long[]{pieces.get(p).rows(), pieces.get(p).cols()},
                                new TensorOptions(w[p].scalar_type()));
                    }
                }
                for (long step = 0; step < s.steps(); step++) {
                    try (PointerScope stepScope = new PointerScope()) {
                        // full forward and backward of every parameter
                        Tensor loss = model.perTokenLoss(sets.minibatch(step)).mean();
                        TensorVector grads = model.gradOf(loss);
                        Tensor xi = noise.xi(stream, step, numel).to(w[0].scalar_type());
                        try (NoGradGuard g = new NoGradGuard()) {
                            for (int p = 0; p < w.length; p++) {
                                Piece pc = pieces.get(p);
                                Tensor gr = pc.view(model, off, grads.get(pc.tensor()));
                                Tensor x = xi.narrow(0, pc.first(), pc.numel()).view(pc.rows(), pc.cols());
                                Tensor drift = gr.mul(new Scalar(s.nbeta())).add(w[p].sub(a[p]).mul(new Scalar(s.gamma())));
                                if (s.rmsprop()) {
                                    v[p].mul_(new Scalar(s.alpha())).add_(gr.square().mul(new Scalar(1 - s.alpha())));
                                    Tensor G = v[p].sqrt().add(new Scalar(s.rmsEps())).reciprocal();
                                    w[p].sub_(G.mul(drift).mul(new Scalar(halfLr)));
                                    w[p].add_(G.sqrt().mul(x).mul(new Scalar(sqrtLr)));
                                } else {
                                    w[p].sub_(drift.mul(new Scalar(halfLr)));
                                    w[p].add_(x.mul(new Scalar(sqrtLr)));
                                }
                            }
                        }
                    }
                    if (s.isDraw(step)) {
                        double S = sets.samplingLoss();
                        double phi = S - loss0;
                        double[] l = sets.probeLosses();
                        k++;
                        sumPhi += phi;
                        sumPhiS += phi * S;
                        sumS += S;
                        for (int t = 0; t < n; t++) {
                            sumL[t] += l[t];
                            sumPhiL[t] += phi * l[t];
                        }
                    }
                }
                if (s.rmsprop()) for (Tensor t : v) t.close();
            }
            try (NoGradGuard g = new NoGradGuard()) {
                for (int p = 0; p < w.length; p++) w[p].copy_(a[p]);
            }
        }
        return new Sums(k, sumPhi, sumPhiS, sumS, sumL, sumPhiL);
    }

    /** The fixed token sets as tensors. */
    private static final class Sets {
        final TorchNeoX model;
        final Tensor probe, sampling;
        final List<Tensor> minibatches = new ArrayList<>();
        final int probeTokens;

        Sets(TorchNeoX model, int[] probe, int nProbe, int probeT, int[] sampling, int nSampling, int samplingT,
             List<int[]> minibatches, int batch) {
            this.model = model;
            this.probe = keep(model.tokens(probe, nProbe, probeT));
            this.sampling = keep(model.tokens(sampling, nSampling, samplingT));
            for (int[] mb : minibatches) this.minibatches.add(keep(model.tokens(mb, batch, samplingT)));
            this.probeTokens = nProbe * (probeT - 1);
        }

        private static Tensor keep(Tensor t) {
            t.retainReference(); // lives as long as the run (freed with the JVM's tensors otherwise)
            return t;
        }

        int probeTokens() {
            return probeTokens;
        }

        Tensor minibatch(long step) {
            return minibatches.get((int) (step % minibatches.size()));
        }

        double samplingLoss() {
            try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                return model.perTokenLoss(sampling).to(torch.ScalarType.Double).mean().item_double();
            }
        }

        double[] probeLosses() {
            try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                return TorchNeoX.toDoubles(model.perTokenLoss(probe));
            }
        }
    }
}
