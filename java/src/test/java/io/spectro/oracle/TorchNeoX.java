package io.spectro.oracle;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * The independent oracle: GPT-NeoX (Pythia) written with libtorch ops through the JavaCPP presets,
 * sharing no code with the native backends. It follows method.md section 1 and the Hugging Face
 * {@code GPTNeoXForCausalLM} forward (use_parallel_residual = true):
 * <pre>
 *   x0 = embed_in[tokens]
 *   x_{l+1} = x_l + dense(attn(LN1(x_l))) + mlp(LN2(x_l))
 *   qkv = LN1(x) W_qkv^T + b_qkv viewed [B, T, nh, 3 hd]: head h = [q_h | k_h | v_h]
 *   rotary on the first r dims of q, k: x*cos + rotate_half(x)*sin, rotate_half(x) = cat(-x2, x1),
 *       cos/sin of cat(freqs, freqs), freqs[t, i] = t * base^(-2i/r), i < r/2
 *   softmax(q k^T / sqrt(hd) + causal mask) v,   mlp = W2 gelu_erf(W1 LN2(x) + b1) + b2
 *   loss[b, t] = -log_softmax(LN_f(x_L) W_out^T)[b, t, tokens[b, t+1]]
 * </pre>
 * Parameters are one leaf tensor per canonical tensor of spectro.h (as nn.Parameters would be);
 * values come in and gradients go out as flat arrays in the canonical order, with offsets computed
 * here, independently of {@code io.spectro.model.ParamLayout}. (One flat leaf with a view per tensor
 * would be simpler but makes autograd zero-fill and add the whole buffer once per tensor.)
 *
 * <p>float32 or float64 ({@link DType}); the rotary tables are computed in double in Java and rounded
 * to the dtype. Not thread-safe. Tensors are released by the {@link PointerScope}s of the convenience
 * methods; callers of the tensor-level methods manage their own scopes.
 */
public final class TorchNeoX implements AutoCloseable {

    /** Model dimensions (spectro.h sp_config without max_seq). */
    public record Dims(int vocab, int d, int layers, int heads, int ff, int rotaryDims, double rotaryBase, double lnEps) {
        public Dims {
            if (vocab < 1 || d < 1 || layers < 1 || heads < 1 || ff < 1) throw new IllegalArgumentException("non-positive dimension");
            if (d % heads != 0) throw new IllegalArgumentException("d " + d + " not divisible by heads " + heads);
            if (rotaryDims < 0 || rotaryDims % 2 != 0 || rotaryDims > d / heads)
                throw new IllegalArgumentException("rotaryDims must be even and <= head dim, got " + rotaryDims);
        }

        public int headDim() {
            return d / heads;
        }

        public int tensorCount() {
            return 4 + 12 * layers;
        }
    }

    public enum DType { FLOAT32, FLOAT64 }

    /** Per-token losses [B*(T-1)], their mean, and (when asked) the flat gradient of the mean. */
    public record Result(double meanLoss, double[] losses, double[] grad) {}

    /** Loads libtorch once (io.spectro.torch.Libtorch: the cacheResources call avoids the SIGSEGV of a first load on an empty cache). */
    public static void ensureLoaded() {
        io.spectro.torch.Libtorch.load();
    }

    /** Intra-op threads of libtorch and of the OpenBLAS it calls (io.spectro.torch.Libtorch#setThreads). */
    public static void setThreads(int n) {
        io.spectro.torch.Libtorch.setThreads(n);
    }

    // ---- canonical layout (spectro.h), computed independently -----------------------------------

    /** HF names in canonical order. */
    public static String[] names(Dims m) {
        String[] n = new String[m.tensorCount()];
        String[] per = {"input_layernorm.weight", "input_layernorm.bias", "post_attention_layernorm.weight",
                "post_attention_layernorm.bias", "attention.query_key_value.weight", "attention.query_key_value.bias",
                "attention.dense.weight", "attention.dense.bias", "mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias",
                "mlp.dense_4h_to_h.weight", "mlp.dense_4h_to_h.bias"};
        n[0] = "gpt_neox.embed_in.weight";
        for (int l = 0; l < m.layers(); l++)
            for (int j = 0; j < 12; j++) n[1 + 12 * l + j] = "gpt_neox.layers." + l + "." + per[j];
        n[1 + 12 * m.layers()] = "gpt_neox.final_layer_norm.weight";
        n[2 + 12 * m.layers()] = "gpt_neox.final_layer_norm.bias";
        n[3 + 12 * m.layers()] = "embed_out.weight";
        return n;
    }

    /** Shapes in canonical order. */
    public static long[][] shapes(Dims m) {
        long V = m.vocab(), d = m.d(), f = m.ff();
        long[][] s = new long[m.tensorCount()][];
        s[0] = new long[]{V, d};
        for (int l = 0; l < m.layers(); l++) {
            int b = 1 + 12 * l;
            s[b] = new long[]{d};
            s[b + 1] = new long[]{d};
            s[b + 2] = new long[]{d};
            s[b + 3] = new long[]{d};
            s[b + 4] = new long[]{3 * d, d};
            s[b + 5] = new long[]{3 * d};
            s[b + 6] = new long[]{d, d};
            s[b + 7] = new long[]{d};
            s[b + 8] = new long[]{f, d};
            s[b + 9] = new long[]{f};
            s[b + 10] = new long[]{d, f};
            s[b + 11] = new long[]{d};
        }
        s[1 + 12 * m.layers()] = new long[]{d};
        s[2 + 12 * m.layers()] = new long[]{d};
        s[3 + 12 * m.layers()] = new long[]{V, d};
        return s;
    }

    /** offsets[i] = first float of tensor i; offsets[tensorCount] = total parameter count. */
    public static long[] offsets(Dims m) {
        long[][] s = shapes(m);
        long[] off = new long[s.length + 1];
        for (int i = 0; i < s.length; i++) off[i + 1] = off[i] + numel(s[i]);
        return off;
    }

    public static long paramCount(Dims m) {
        long[] o = offsets(m);
        return o[o.length - 1];
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long v : shape) n *= v;
        return n;
    }

    // ---- the model -----------------------------------------------------------------------------

    private final Dims m;
    private final DType dtype;
    private final torch.ScalarType st;
    private final long[] off;
    private final long[][] shape;
    private final Tensor[] leaves; // one leaf per canonical tensor (as nn.Parameters), requires_grad

    public TorchNeoX(Dims m, float[] params, DType dtype) {
        this(m, dtype, params.length);
        try (PointerScope s = new PointerScope(); FloatPointer p = new FloatPointer(params)) {
            copyIn(torch.from_blob(p, new long[]{params.length}, new TensorOptions(torch.ScalarType.Float)));
        }
    }

    public TorchNeoX(Dims m, double[] params, DType dtype) {
        this(m, dtype, params.length);
        setParams(params);
    }

    private TorchNeoX(Dims m, DType dtype, long n) {
        ensureLoaded();
        this.m = m;
        this.dtype = dtype;
        this.st = dtype == DType.FLOAT64 ? torch.ScalarType.Double : torch.ScalarType.Float;
        this.off = offsets(m);
        this.shape = shapes(m);
        if (n != off[off.length - 1])
            throw new IllegalArgumentException("parameter buffer holds " + n + " values, the model needs " + off[off.length - 1]);
        this.leaves = new Tensor[shape.length];
        try (PointerScope s = new PointerScope()) {
            for (int i = 0; i < shape.length; i++) {
                Tensor z = torch.zeros(shape[i], new TensorOptions(st));
                z.requires_grad_(true);
                z.retainReference(); // survives this scope and any scope of the caller; released by close()
                s.detach(z);
                leaves[i] = z;
            }
        }
    }

    public Dims dims() {
        return m;
    }

    public DType dtype() {
        return dtype;
    }

    /** Canonical tensor i: a leaf with requires_grad. Modify it only under a {@code NoGradGuard}. */
    public Tensor param(int i) {
        return leaves[i];
    }

    /** All leaves in canonical order (what {@link #gradOf} differentiates against). */
    public TensorVector params() {
        return new TensorVector(leaves);
    }

    /** Canonical tensor index holding flat offset {@code o}. */
    public int tensorAt(long o) {
        for (int i = 0; i < shape.length; i++) if (o >= off[i] && o < off[i + 1]) return i;
        throw new IllegalArgumentException("offset " + o + " outside the parameters");
    }

    /**
     * A strided block of the flat layout (spectro.h sp_block: rows x cols, row stride {@code stride}) as a
     * [rows, cols] view of its tensor {@code t} (a leaf or a gradient of the same shape). The block must lie
     * inside one tensor whose element count is a multiple of the stride.
     */
    public Tensor blockView(Tensor t, long offset, long rows, long cols, long stride) {
        int i = tensorAt(offset);
        long n = off[i + 1] - off[i], start = offset - off[i];
        if (n % stride != 0 || start % stride + cols > stride || start / stride + rows > n / stride)
            throw new IllegalArgumentException("block at " + offset + " does not fit tensor " + i);
        return t.view(n / stride, stride).narrow(0, start / stride, rows).narrow(1, start % stride, cols);
    }

    /** Overwrites all parameters. */
    public void setParams(double[] params) {
        if (params.length != off[off.length - 1]) throw new IllegalArgumentException("parameter count mismatch");
        try (PointerScope s = new PointerScope(); DoublePointer p = new DoublePointer(params)) {
            copyIn(torch.from_blob(p, new long[]{params.length}, new TensorOptions(torch.ScalarType.Double)));
        }
    }

    /** Copies a flat host tensor into the leaves (converting the dtype). */
    private void copyIn(Tensor flat) {
        try (PointerScope s = new PointerScope(); org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
            for (int i = 0; i < leaves.length; i++) leaves[i].copy_(flat.narrow(0, off[i], off[i + 1] - off[i]).view(shape[i]));
        }
    }

    /** int tokens [B*T] row-major to an int64 tensor [B, T]; ids are checked against the vocabulary. */
    public Tensor tokens(int[] tokens, int B, int T) {
        if (tokens.length != B * T) throw new IllegalArgumentException("tokens hold " + tokens.length + " ids, B*T = " + B * T);
        if (T < 2) throw new IllegalArgumentException("T must be >= 2");
        long[] l = new long[tokens.length];
        for (int i = 0; i < l.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= m.vocab()) throw new IllegalArgumentException("token " + tokens[i] + " outside vocab");
            l[i] = tokens[i];
        }
        return torch.tensor(l, new TensorOptions(torch.ScalarType.Long)).view(B, T);
    }

    /** Per-token losses [B, T-1] with the autograd graph attached. */
    public Tensor perTokenLoss(Tensor tok) {
        return perTokenLoss(tok, null);
    }

    /**
     * The activation features of sp_forward_features (spectro.h's column order), from this oracle's own
     * forward: [B*(T-1), F] row-major, F = 1 + 2L + 2L nh. The tensors come from libtorch (the
     * per-head projection is {@code linear(att_h, W_dense[:, h*hd:(h+1)*hd])}, the direct product,
     * not the native backends' a^T G a); the norms and entropies (-sum p log p) are summed here in double.
     */
    public double[] features(int[] tokens, int B, int T) {
        try (PointerScope s = new PointerScope();
             org.bytedeco.pytorch.NoGradGuard ng = new org.bytedeco.pytorch.NoGradGuard()) {
            Features f = new Features(B, T);
            perTokenLoss(tokens(tokens, B, T), f);
            return f.out;
        }
    }

    /** Collects the feature columns (rows t < T-1 of each [B, T, ...] tensor). */
    private final class Features {
        final int B, T, F;
        final double[] out;

        Features(int B, int T) {
            this.B = B;
            this.T = T;
            this.F = 1 + 2 * m.layers() + 2 * m.layers() * m.heads();
            this.out = new double[B * (T - 1) * F];
        }

        /** column k <- ||row|| of x [B, T, w] (rows t < T-1) */
        void norms(Tensor x, int k) {
            double[] a = toDoubles(x);
            int w = (int) (a.length / (B * T));
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T - 1; t++) {
                    double s = 0;
                    for (int c = 0; c < w; c++) s += a[(b * T + t) * w + c] * a[(b * T + t) * w + c];
                    out[(b * (T - 1) + t) * F + k] = Math.sqrt(s);
                }
        }

        /** column k <- -sum p log p over the last dim of probabilities p [B, rows, n] (row t of batch b; rows >= T-1) */
        void entropies(Tensor p, int rows, int k) {
            double[] a = toDoubles(p);
            int n = (int) (a.length / ((long) B * rows));
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T - 1; t++) {
                    double h = 0;
                    for (int j = 0; j < n; j++) {
                        double q = a[(b * rows + t) * n + j];
                        if (q > 0) h -= q * Math.log(q);
                    }
                    out[(b * (T - 1) + t) * F + k] = h;
                }
        }
    }

    private Tensor perTokenLoss(Tensor tok, Features f) {
        long B = tok.size(0), T = tok.size(1);
        int d = m.d(), nh = m.heads(), hd = m.headDim(), L = m.layers();
        Tensor[] rot = rotaryTables((int) T);
        Tensor mask = causalMask((int) T);
        Tensor x = torch.embedding(param(0), tok); // [B, T, d]
        for (int l = 0; l < L; l++) {
            int b = 1 + 12 * l;
            // attention branch on LN1(x)
            Tensor h1 = layerNorm(x, param(b), param(b + 1));
            Tensor qkv = torch.linear(h1, param(b + 4), new TensorOptional(param(b + 5))) // [B, T, 3d]
                    .view(B, T, nh, 3L * hd).permute(0, 2, 1, 3); // [B, nh, T, 3hd]
            Tensor q = rotary(qkv.narrow(3, 0, hd), rot);
            Tensor k = rotary(qkv.narrow(3, hd, hd), rot);
            Tensor v = qkv.narrow(3, 2L * hd, hd);
            Tensor scores = q.matmul(k.transpose(2, 3)).mul(new Scalar(1.0 / Math.sqrt(hd))).add(mask);
            Tensor att = scores.softmax(3).matmul(v) // [B, nh, T, hd]
                    .permute(0, 2, 1, 3).contiguous().view(B, T, d);
            Tensor attnOut = torch.linear(att, param(b + 6), new TensorOptional(param(b + 7)));
            if (f != null) {
                Tensor p = scores.softmax(3); // [B, nh, T, T]
                for (int h = 0; h < nh; h++) {
                    Tensor head = torch.linear(att.narrow(2, (long) h * hd, hd), param(b + 6).narrow(1, (long) h * hd, hd));
                    f.norms(head, 1 + L + l * nh + h);
                    f.entropies(p.select(1, h), (int) T, 1 + 2 * L + L * nh + l * nh + h);
                }
            }
            // MLP branch on LN2(x)
            Tensor h2 = layerNorm(x, param(b + 2), param(b + 3));
            Tensor a = torch.gelu(torch.linear(h2, param(b + 8), new TensorOptional(param(b + 9)))); // exact erf GELU
            Tensor mlpOut = torch.linear(a, param(b + 10), new TensorOptional(param(b + 11)));
            x = x.add(attnOut).add(mlpOut);
            if (f != null) {
                f.norms(x, 1 + l);
                f.norms(mlpOut, 1 + L + L * nh + l);
            }
        }
        Tensor hf = layerNorm(x.narrow(1, 0, T - 1), param(1 + 12 * L), param(2 + 12 * L));
        Tensor logp = torch.linear(hf, param(3 + 12 * L)).log_softmax(2); // [B, T-1, V]
        if (f != null) f.entropies(logp.exp(), (int) T - 1, 0);
        Tensor target = tok.narrow(1, 1, T - 1).unsqueeze(2);
        return logp.gather(2, target).squeeze(2).neg(); // [B, T-1]
    }

    /** Gradients of a scalar loss with respect to every leaf, canonical order (not accumulated). */
    public TensorVector gradOf(Tensor scalarLoss) {
        return torch.grad(new TensorVector(scalarLoss), params());
    }

    /** The gradients concatenated into the flat canonical layout [P]. */
    public static Tensor flatten(TensorVector grads) {
        TensorVector flat = new TensorVector();
        for (long i = 0; i < grads.size(); i++) flat.push_back(grads.get(i).reshape(-1));
        return torch.cat(flat, 0);
    }

    /** Forward only (no graph). */
    public Result forward(int[] tokens, int B, int T) {
        return run(tokens, B, T, false);
    }

    /** Forward and autograd backward of the mean loss. */
    public Result forwardBackward(int[] tokens, int B, int T) {
        return run(tokens, B, T, true);
    }

    private Result run(int[] tokens, int B, int T, boolean grad) {
        try (PointerScope s = new PointerScope()) {
            Tensor tok = tokens(tokens, B, T);
            Tensor losses;
            double[] g = null;
            Tensor mean;
            if (grad) {
                losses = perTokenLoss(tok);
                mean = losses.mean();
                g = toDoubles(flatten(gradOf(mean)));
            } else {
                try (org.bytedeco.pytorch.NoGradGuard ng = new org.bytedeco.pytorch.NoGradGuard()) {
                    losses = perTokenLoss(tok);
                    mean = losses.mean();
                }
            }
            return new Result(mean.item_double(), toDoubles(losses.detach()), g);
        }
    }

    /** Copies a tensor (any float dtype) to a double[] in row-major order. */
    public static double[] toDoubles(Tensor t) {
        try (PointerScope s = new PointerScope()) {
            Tensor c = t.detach().to(torch.ScalarType.Double).contiguous();
            double[] out = new double[(int) c.numel()];
            c.data_ptr_double().get(out);
            return out;
        }
    }

    private Tensor layerNorm(Tensor x, Tensor weight, Tensor bias) {
        return torch.layer_norm(x, new long[]{m.d()}, new TensorOptional(weight), new TensorOptional(bias), m.lnEps(), false);
    }

    /** cos and sin tables [T, r] of cat(freqs, freqs), computed in double. */
    private Tensor[] rotaryTables(int T) {
        int r = m.rotaryDims();
        if (r == 0) return null;
        double[] c = new double[T * r], s = new double[T * r];
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < r / 2; i++) {
                double invFreq = Math.pow(m.rotaryBase(), -2.0 * i / r);
                double a = t * invFreq;
                c[t * r + i] = c[t * r + i + r / 2] = Math.cos(a);
                s[t * r + i] = s[t * r + i + r / 2] = Math.sin(a);
            }
        }
        return new Tensor[]{fromDoubles(c, T, r), fromDoubles(s, T, r)};
    }

    /** x [B, nh, T, hd]: rotate-half rotary on the first r dims, the rest passes through. */
    private Tensor rotary(Tensor x, Tensor[] cs) {
        int r = m.rotaryDims(), hd = m.headDim();
        if (r == 0) return x;
        Tensor xr = x.narrow(3, 0, r);
        Tensor x1 = xr.narrow(3, 0, r / 2), x2 = xr.narrow(3, r / 2, r / 2);
        Tensor rotHalf = torch.cat(new TensorVector(x2.neg(), x1), 3);
        Tensor out = xr.mul(cs[0]).add(rotHalf.mul(cs[1]));
        if (r == hd) return out;
        return torch.cat(new TensorVector(out, x.narrow(3, r, hd - r)), 3);
    }

    /** [T, T]: 0 on and below the diagonal, -inf above. */
    private Tensor causalMask(int T) {
        double[] a = new double[T * T];
        for (int i = 0; i < T; i++)
            for (int j = i + 1; j < T; j++) a[i * T + j] = Double.NEGATIVE_INFINITY;
        return fromDoubles(a, T, T);
    }

    private Tensor fromDoubles(double[] a, long... shape) {
        try (DoublePointer p = new DoublePointer(a)) {
            return torch.from_blob(p, shape, new TensorOptions(torch.ScalarType.Double)).to(st).clone();
        }
    }

    @Override
    public void close() {
        for (Tensor t : leaves) t.releaseReference();
    }
}
