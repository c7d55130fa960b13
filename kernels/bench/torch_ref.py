#!/usr/bin/env python3
"""GPU checks of the spectro CUDA backend against PyTorch (run by scripts/gpu-check.sh).

  torch_ref.py correctness --lib build/native/libspectro_cuda.so
      random GPT-NeoX models (several shapes, head dims 16/32/80/128, odd T), fp32 and bf16 modes:
      per-token losses and EVERY gradient tensor vs a float64 PyTorch reference (autograd),
      restricted gradients (stop_layer, blocks, layer cache), untouched gradients kept, SGLD and
      RMSProp-SGLD steps vs the formula with sp_noise draws, params reset, accumulation sums, and
      (when transformers is installed) the reference vs GPTNeoXForCausalLM on the same weights.
  torch_ref.py bench [--shapes 160m,410m,1.4b] [--B 16 --T 512]
      plain PyTorch GPT-NeoX (bf16 weights, SDPA flash attention) forward+backward tokens/s and
      MFU, and a PyTorch SGLD update (GB/s), for comparison with bench_cuda.
Exit code 0 when every check passed.
"""
import argparse
import math
import os
import sys
import time
import traceback

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spectro_ctypes as sc  # noqa: E402

PRESETS = {  # V, d, L, nh, f, rd
    "14m": (50304, 128, 6, 4, 512, 8),
    "160m": (50304, 768, 12, 12, 3072, 16),
    "410m": (50304, 1024, 24, 16, 4096, 16),
    "1.4b": (50304, 2048, 24, 16, 8192, 32),
}


# --------------------------------------------------------------------------- reference model
def tensor_shapes(V, d, L, f):
    shapes = [("gpt_neox.embed_in.weight", (V, d))]
    for l in range(L):
        p = f"gpt_neox.layers.{l}."
        shapes += [(p + "input_layernorm.weight", (d,)), (p + "input_layernorm.bias", (d,)),
                   (p + "post_attention_layernorm.weight", (d,)), (p + "post_attention_layernorm.bias", (d,)),
                   (p + "attention.query_key_value.weight", (3 * d, d)), (p + "attention.query_key_value.bias", (3 * d,)),
                   (p + "attention.dense.weight", (d, d)), (p + "attention.dense.bias", (d,)),
                   (p + "mlp.dense_h_to_4h.weight", (f, d)), (p + "mlp.dense_h_to_4h.bias", (f,)),
                   (p + "mlp.dense_4h_to_h.weight", (d, f)), (p + "mlp.dense_4h_to_h.bias", (d,))]
    shapes += [("gpt_neox.final_layer_norm.weight", (d,)), ("gpt_neox.final_layer_norm.bias", (d,)),
               ("embed_out.weight", (V, d))]
    return shapes


def random_params(shapes, gen):
    parts = []
    for name, shp in shapes:
        n = int(np.prod(shp))
        if name.endswith("layernorm.weight"):
            v = 1.0 + 0.1 * gen.standard_normal(n)
        elif name.endswith("bias"):
            v = 0.05 * gen.standard_normal(n)
        elif "query_key_value.weight" in name:
            v = 0.08 * gen.standard_normal(n)
        elif "embed" in name:
            v = 0.1 * gen.standard_normal(n)
        else:
            v = 0.04 * gen.standard_normal(n)
        parts.append(v.astype(np.float32))
    return np.concatenate(parts)


def split(flat, shapes):
    out, o = [], 0
    for _, shp in shapes:
        n = int(np.prod(shp))
        out.append(flat[o:o + n].view(*shp))
        o += n
    return out


def rotary_tables(T, rd, base, device, dtype):
    i = torch.arange(0, rd, 2, dtype=torch.float64, device=device)
    inv = base ** (-i / rd)
    t = torch.arange(T, dtype=torch.float64, device=device)
    fr = torch.outer(t, inv)
    emb = torch.cat([fr, fr], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rot_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def ref_forward(ws, tokens, cfg, sdpa=False):
    """Plain GPT-NeoX. ws: tensors in canonical order. Returns per-token losses [B, T-1]."""
    V, d, L, nh, f, rd, base, eps = cfg
    hd = d // nh
    B, T = tokens.shape
    x = ws[0][tokens]
    cos, sin = rotary_tables(T, rd, base, x.device, x.dtype)
    for l in range(L):
        w = ws[1 + 12 * l: 13 + 12 * l]
        h1 = F.layer_norm(x, (d,), w[0], w[1], eps)
        qkv = (h1 @ w[4].T + w[5]).view(B, T, nh, 3 * hd).permute(0, 2, 1, 3)
        q, k, v = qkv[..., :hd], qkv[..., hd:2 * hd], qkv[..., 2 * hd:]
        if rd > 0:
            q = torch.cat([q[..., :rd] * cos + rot_half(q[..., :rd]) * sin, q[..., rd:]], dim=-1)
            k = torch.cat([k[..., :rd] * cos + rot_half(k[..., :rd]) * sin, k[..., rd:]], dim=-1)
        if sdpa:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            s = s.masked_fill(~mask, float("-inf"))
            a = torch.softmax(s, dim=-1) @ v
        a = a.permute(0, 2, 1, 3).reshape(B, T, d)
        att = a @ w[6].T + w[7]
        h2 = F.layer_norm(x, (d,), w[2], w[3], eps)
        mlp = F.gelu(h2 @ w[8].T + w[9]) @ w[10].T + w[11]
        x = x + att + mlp
    x = F.layer_norm(x, (d,), ws[-3], ws[-2], eps)
    logits = x[:, :-1] @ ws[-1].T
    return F.cross_entropy(logits.reshape(-1, V).float() if logits.dtype == torch.bfloat16 else logits.reshape(-1, V),
                           tokens[:, 1:].reshape(-1), reduction="none").view(B, T - 1)


def ref_losses_grads(flat64, shapes, tokens, cfg):
    p = flat64.clone().requires_grad_(True)
    ws = split(p, shapes)
    losses = ref_forward(ws, tokens, cfg)
    losses.mean().backward()
    return losses.detach(), p.grad.detach()


# --------------------------------------------------------------------------- checks
class Report:
    def __init__(self):
        self.fail = 0
        self.n = 0

    def check(self, ok, msg):
        self.n += 1
        if not ok:
            self.fail += 1
        print(("PASS  " if ok else "FAIL  ") + msg, flush=True)


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    den = np.max(np.abs(b)) if b.size else 0.0
    return float(np.max(np.abs(a - b)) / (den + 1e-30)) if a.size else 0.0


def head_blocks(off, d, nh, l, h):
    hd = d // nh
    base = 1 + 12 * l
    return [(int(off[base + 4]) + h * 3 * hd * d, 3 * hd, d, d),      # q,k,v rows of head h (weight)
            (int(off[base + 5]) + h * 3 * hd, 1, 3 * hd, 3 * hd),     # their biases
            (int(off[base + 6]) + h * hd, d, hd, d)]                   # the head's input columns of dense


def mlp_blocks(off, shapes, l):
    base = 1 + 12 * l
    return [(int(off[base + k]), 1, int(np.prod(shapes[base + k][1])), int(np.prod(shapes[base + k][1])))
            for k in (8, 9, 10, 11)]


def block_elems(flat, blocks):
    return np.concatenate([np.concatenate([flat[o + r * s: o + r * s + c] for r in range(rows)]) for (o, rows, c, s) in blocks])


def correctness_case(lib, rep, name, shape, B, T, precision, gen, dev, extra=False, hf=False):
    V, d, L, nh, f, rd = shape
    cfgt = (V, d, L, nh, f, rd, 10000.0, 1e-5)
    cfg = sc.Config(V, d, L, nh, f, rd, max(T, 64), 10000.0, 1e-5)
    shapes = tensor_shapes(V, d, L, f)
    flat = random_params(shapes, gen)
    tokens = gen.integers(0, V, size=(B, T)).astype(np.int32)
    tag = f"[{name} {'bf16' if precision else 'fp32'} B={B} T={T} hd={d // nh}]"
    m = sc.Model(lib, cfg, precision=precision, max_batch=B * T)
    try:
        print(f"--- {tag} {m.describe()}", flush=True)
        if m.P != flat.size:
            rep.check(False, f"{tag} param count {m.P} != {flat.size}")
            return
        m.load(flat)
        rep.check(np.array_equal(m.params(), flat), f"{tag} load/read round trip")
        b = m.batch(tokens)
        t64 = torch.from_numpy(tokens.astype(np.int64)).to(dev)
        ref_l, ref_g = ref_losses_grads(torch.from_numpy(flat).to(dev, torch.float64), shapes, t64, cfgt)
        ref_l = ref_l.cpu().numpy().reshape(-1)
        ref_g = ref_g.cpu().numpy()
        loss_tol, grad_tol = (2e-4, 2e-3) if precision == 0 else (3e-2, 8e-2)
        l_f, mean_f = m.forward(b, B, T)
        e = float(np.max(np.abs(l_f - ref_l)))
        rep.check(e < loss_tol, f"{tag} sp_forward per-token losses max|diff| {e:.2e} (tol {loss_tol:g}); mean {mean_f:.6f} ref {ref_l.mean():.6f}")
        l_b, mean_b = m.forward_backward(b, B, T)
        e = float(np.max(np.abs(l_b - ref_l)))
        rep.check(e < loss_tol, f"{tag} sp_forward_backward losses max|diff| {e:.2e}")
        g = m.grads()
        worst = (0.0, "")
        lines = []
        for i, (tn, shp) in enumerate(shapes):
            o, n = int(m.off[i]), int(np.prod(shp))
            r = rel_err(g[o:o + n], ref_g[o:o + n])
            lines.append((r, tn))
            worst = max(worst, (r, tn))
        bad = [f"{tn} {r:.2e}" for r, tn in lines if r >= grad_tol]
        rep.check(not bad, f"{tag} all {len(shapes)} gradient tensors max|diff|/max|ref| <= {grad_tol:g}: worst {worst[1]} {worst[0]:.2e}"
                  + (f"; over tol: {', '.join(bad[:6])}" if bad else ""))
        for r, tn in sorted(lines, reverse=True)[:3]:
            print(f"      grad rel err {r:.2e}  {tn}")
        if precision == 0 and extra:
            restricted_checks(lib, rep, tag, m, b, B, T, shapes, flat, ref_l, ref_g, g, cfg)
            sgld_checks(lib, rep, tag, m, b, B, T, shapes, flat, gen)
            accum_checks(lib, rep, tag, m, b, B, T)
        if hf:
            hf_check(rep, tag, flat, shapes, tokens, cfgt, ref_l, l_f, dev)
        lib.lib.sp_batch_destroy(b)
    except Exception as ex:  # record and continue
        rep.check(False, f"{tag} exception: {ex}")
        traceback.print_exc()
    finally:
        m.close()


def restricted_checks(lib, rep, tag, m, b, B, T, shapes, flat, ref_l, ref_g, g_full, cfg):
    V, d, L, nh, f = cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_ff
    off = m.off
    # (1) stop_layer = L-1, all tensors from there
    stop = L - 1
    before = m.grads()
    m.forward_backward(b, B, T, stop=stop)
    g = m.grads()
    o0 = int(off[1 + 12 * stop])
    r = rel_err(g[o0:], ref_g[o0:])
    kept = np.array_equal(g[:o0], before[:o0])
    rep.check(r < 2e-3 and kept, f"{tag} stop_layer={stop}: grads at/above rel {r:.2e}, below untouched: {kept}")
    # (2) head component of layer l with the cache at l
    l, hh = L - 1, nh - 1
    blocks = head_blocks(off, d, nh, l, hh)
    lib.call("sp_batch_cache_at", m.h, b, l)
    l_c, _ = m.forward(b, B, T)
    e = float(np.max(np.abs(l_c - ref_l)))
    rep.check(e < 2e-4, f"{tag} cache at layer {l}: losses max|diff| {e:.2e}")
    before = m.grads()
    m.forward_backward(b, B, T, stop=l, blocks=blocks)
    g = m.grads()
    idx = [1 + 12 * l + 4, 1 + 12 * l + 5, 1 + 12 * l + 6]
    rs = [rel_err(g[int(off[i]):int(off[i + 1])], ref_g[int(off[i]):int(off[i + 1])]) for i in idx]
    ok_el = rel_err(block_elems(g, blocks), block_elems(ref_g, blocks))
    untouched = [i for i in range(len(shapes)) if i not in idx]
    kept = all(np.array_equal(g[int(off[i]):int(off[i]) + int(np.prod(shapes[i][1]))],
                              before[int(off[i]):int(off[i]) + int(np.prod(shapes[i][1]))]) for i in untouched)
    rep.check(max(rs) < 2e-3 and ok_el < 2e-3 and kept,
              f"{tag} head l{l}h{hh} blocks with cache: qkv.w/qkv.b/dense.w rel {rs[0]:.1e}/{rs[1]:.1e}/{rs[2]:.1e}, "
              f"block elements {ok_el:.1e}, untouched tensors kept: {kept}")
    # a request below the cache: the cache is not used (full forward), result as without cache
    l_full, _ = m.forward_backward(b, B, T)
    r = rel_err(m.grads(), ref_g)
    e = float(np.max(np.abs(l_full - ref_l)))
    rep.check(r < 2e-3 and e < 2e-4, f"{tag} full gradient with a cache above: cache ignored, grads rel {r:.1e}, losses {e:.1e}")
    # blocks below stop_layer are refused
    arr = sc.blocks_array(mlp_blocks(off, shapes, 0))
    st = lib.lib.sp_forward_backward(m.h, b, sc.GradRequest(1, sc.C.cast(arr, sc.C.POINTER(sc.Block)), 4),
                                     np.empty(B * (T - 1), np.float32), None)
    rep.check(st == 1 and "stop_layer" in lib.err(), f"{tag} blocks below stop_layer refused: {st} '{lib.err()}'")
    lib.call("sp_batch_cache_at", m.h, b, -1)
    # (3) mlp component of layer 0 with stop 0 (no cache): layers above run their backward
    blocks = mlp_blocks(off, shapes, 0)
    m.forward_backward(b, B, T, stop=0, blocks=blocks)
    g = m.grads()
    r = rel_err(block_elems(g, blocks), block_elems(ref_g, blocks))
    rep.check(r < 2e-3, f"{tag} mlp l0 blocks: rel {r:.2e}")
    # (4) unembed only and embed only
    o_out = int(off[-1])
    m.forward_backward(b, B, T, stop=0, blocks=[(o_out, 1, V * d, V * d)])
    r = rel_err(m.grads(o_out, V * d), ref_g[o_out:o_out + V * d])
    rep.check(r < 2e-3, f"{tag} unembed block: rel {r:.2e}")
    m.forward_backward(b, B, T, stop=0, blocks=[(0, V, d, d)])
    r = rel_err(m.grads(0, V * d), ref_g[:V * d])
    rep.check(r < 2e-3, f"{tag} embed block: rel {r:.2e}")
    # restore the full gradient for the SGLD checks
    m.forward_backward(b, B, T)


def sgld_checks(lib, rep, tag, m, b, B, T, shapes, flat, gen):
    d, nh, L = m.cfg.d_model, m.cfg.n_heads, m.cfg.n_layers
    blocks = head_blocks(m.off, d, nh, L - 1, 0) + mlp_blocks(m.off, shapes, 0)
    n = sum(r * c for (_, r, c, _) in blocks)
    arr = sc.blocks_array(blocks)
    g_all = m.grads()
    w0 = m.params()
    anchor = flat
    for rmsprop in (0, 1):
        m.load(w0)  # w = w* = w0, but perturb w so that the gamma term matters
        w1 = w0.copy()
        pert = block_elems(w1, blocks) + 0.01 * gen.standard_normal(n).astype(np.float32)
        o = 0
        for (off, rows, c, s) in blocks:
            for r in range(rows):
                w1[off + r * s: off + r * s + c] = pert[o:o + c]
                o += c
        lib.call("sp_params_write", m.h, 0, m.P, w1)
        rms = sc.VP()
        lib.call("sp_buffer_create", m.h, n, sc.C.byref(rms))
        V = np.zeros(n, dtype=np.float64)
        wcur = block_elems(w1, blocks).astype(np.float64)
        ws = block_elems(w0, blocks).astype(np.float64)
        gb = block_elems(g_all, blocks).astype(np.float64)
        ok = True
        worst = 0.0
        for step in range(3):
            p = sc.SgldParams(1e-3, 30.0, 300.0, rmsprop, 0.99, 0.1, 1.0, (5 << 12) | 2, 1234567, 100 + step)
            lib.call("sp_sgld_update", m.h, arr, len(blocks), rms if rmsprop else None, sc.C.byref(p))
            xi = np.empty(n, dtype=np.float32)
            lib.call("sp_noise", p.seed, p.stream, p.step, 0, n, xi)
            G = np.ones(n)
            if rmsprop:
                V = 0.99 * V + 0.01 * gb * gb
                G = 1.0 / (np.sqrt(V) + 0.1)
            wcur = wcur - 0.5e-3 * G * (30.0 * gb + 300.0 * (wcur - ws)) + math.sqrt(1e-3) * np.sqrt(G) * xi
            got = block_elems(m.params(), blocks)
            err = float(np.max(np.abs(got - wcur)))
            worst = max(worst, err)
            ok &= err < 2e-5
        if rmsprop:
            vr = np.empty(n, dtype=np.float32)
            lib.call("sp_buffer_read", rms, 0, n, vr)
            ve = rel_err(vr, V)
            ok &= ve < 1e-5
        lib.lib.sp_buffer_destroy(rms)
        rep.check(ok, f"{tag} {'RMSProp-' if rmsprop else ''}SGLD 3 steps vs formula with sp_noise: max|diff| {worst:.2e}")
        # params outside the blocks unchanged
        cur = m.params()
        mask = np.ones(m.P, dtype=bool)
        for (off, rows, c, s) in blocks:
            for r in range(rows):
                mask[off + r * s: off + r * s + c] = False
        rep.check(np.array_equal(cur[mask], w1[mask]), f"{tag} SGLD leaves other parameters unchanged")
    lib.call("sp_params_reset", m.h, arr, len(blocks))
    rep.check(np.array_equal(block_elems(m.params(), blocks), block_elems(w0, blocks)), f"{tag} sp_params_reset restores w*")
    # NaN detection
    bad = m.params()
    gb_nan = sc.SgldParams(float("inf"), 30.0, 300.0, 0, 0.99, 0.1, 1.0, 1, 1, 1)
    st = lib.lib.sp_sgld_update(m.h, arr, len(blocks), None, sc.C.byref(gb_nan))
    rep.check(st == 1, f"{tag} sp_sgld_update rejects lr=inf: {st} '{lib.err()}'")
    m.load(bad)


def accum_checks(lib, rep, tag, m, b, B, T):
    n = B * (T - 1)
    acc = sc.VP()
    lib.call("sp_accum_create", m.h, n, sc.C.byref(acc))
    sl = np.zeros(n)
    sp = np.zeros(n)
    w = m.params()
    for k, phi in enumerate((0.25, -1.5, 3.0)):
        if k:
            w2 = w.copy()
            w2[-1000:] += 0.01 * k
            lib.call("sp_params_write", m.h, 0, m.P, w2)
        l, _ = m.forward(b, B, T)
        lib.call("sp_accum_add", acc, m.h, b, phi)
        sl += l.astype(np.float64)
        sp += phi * l.astype(np.float64)
    a1 = np.empty(n)
    a2 = np.empty(n)
    lib.call("sp_accum_read", acc, a1, a2)
    e = max(float(np.max(np.abs(a1 - sl))), float(np.max(np.abs(a2 - sp))))
    rep.check(e < 1e-9, f"{tag} sp_accum sums (double) max|diff| {e:.1e}")
    lib.lib.sp_accum_destroy(acc)
    m.load(w)


def hf_check(rep, tag, flat, shapes, tokens, cfgt, ref_l, cuda_l, dev):
    try:
        import transformers
        from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
    except Exception as ex:
        print(f"SKIP  {tag} transformers not available ({ex})")
        return
    V, d, L, nh, f, rd, base, eps = cfgt
    hd = d // nh
    try:
        conf = GPTNeoXConfig(vocab_size=V, hidden_size=d, num_hidden_layers=L, num_attention_heads=nh,
                             intermediate_size=f, rotary_pct=rd / hd, partial_rotary_factor=rd / hd,
                             rotary_emb_base=base, rope_theta=base, max_position_embeddings=max(2048, tokens.shape[1]),
                             layer_norm_eps=eps, use_parallel_residual=True, hidden_act="gelu",
                             tie_word_embeddings=False, attention_dropout=0.0, hidden_dropout=0.0,
                             rope_parameters={"rope_type": "default", "rope_theta": base, "partial_rotary_factor": rd / hd})
        try:
            model = GPTNeoXForCausalLM._from_config(conf, attn_implementation="eager", dtype=torch.float64)
        except TypeError:
            model = GPTNeoXForCausalLM(conf).double()
        model = model.to(dev).double().eval()
        sd = {}
        for (name, shp), t in zip(shapes, split(torch.from_numpy(flat).double(), shapes)):
            sd[name] = t.clone()
        keys = set(model.state_dict().keys())
        if "embed_out.weight" not in keys and "lm_head.weight" in keys:   # transformers 5 renamed the head
            sd["lm_head.weight"] = sd.pop("embed_out.weight")
        missing, unexpected = model.load_state_dict(sd, strict=False)
        missing = [k for k in missing if "rotary" not in k and "masked_bias" not in k and not k.endswith("attention.bias")]
        with torch.no_grad():
            logits = model(torch.from_numpy(tokens.astype(np.int64)).to(dev)).logits
        hl = F.cross_entropy(logits[:, :-1].reshape(-1, V), torch.from_numpy(tokens[:, 1:].astype(np.int64)).to(dev).reshape(-1),
                             reduction="none").cpu().numpy()
        e_ref = float(np.max(np.abs(hl - ref_l)))
        e_cuda = float(np.max(np.abs(hl - cuda_l)))
        rep.check(e_ref < 1e-6 and e_cuda < 2e-4,
                  f"{tag} HF transformers {transformers.__version__} GPTNeoXForCausalLM: |HF - torch ref| {e_ref:.1e}, "
                  f"|HF - CUDA| {e_cuda:.1e} (missing keys {missing[:3]}, unexpected {list(unexpected)[:3]})")
    except Exception as ex:
        rep.check(False, f"{tag} HF comparison raised {type(ex).__name__}: {ex}")
        traceback.print_exc()


def cmd_correctness(args):
    dev = torch.device("cuda")
    lib = sc.Lib(args.lib)
    rep = Report()
    st = lib.lib.sp_backend_probe()
    rep.check(st == 0, f"sp_backend_probe -> {st} '{lib.err()}'")
    gen = np.random.default_rng(20261125)
    cases = [  # name, (V, d, L, nh, f, rd), B, T, extra checks, HF
        ("tiny", (512, 64, 2, 4, 256, 4), 3, 37, True, True),
        ("14m-ish", (50304, 128, 6, 4, 512, 8), 4, 128, True, True),
        ("hd128", (1000, 256, 2, 2, 1024, 32), 2, 100, False, True),
        ("hd80", (777, 160, 2, 2, 640, 20), 2, 70, False, False),
    ]
    os.environ["SPECTRO_CLASSIFIER_ROWS"] = "40"   # several classifier chunks, partial last chunk
    for name, shape, B, T, extra, hf in cases:
        for precision in (0, 1):
            correctness_case(lib, rep, name, shape, B, T, precision, gen, dev, extra=extra, hf=hf and precision == 0)
        os.environ.pop("SPECTRO_CLASSIFIER_ROWS", None)
    # the hand-written GEMMs (used when cuBLASLt is missing): WMMA bf16 and SIMT fp32
    os.environ["SPECTRO_GEMM"] = "native"
    for name, shape, B, T, extra, hf in (cases[0], cases[2]):
        for precision in (0, 1):
            correctness_case(lib, rep, name + " native-gemm", shape, B, T, precision, gen, dev)
    os.environ.pop("SPECTRO_GEMM", None)
    print(f"correctness: {rep.n - rep.fail}/{rep.n} checks passed", flush=True)
    return 1 if rep.fail else 0


# --------------------------------------------------------------------------- benchmark
def cmd_bench(args):
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    name = torch.cuda.get_device_name(0)
    peak = 989e12 if "H100" in name or "H200" in name else float("nan")
    print(f"device {name}, torch {torch.__version__}, peak bf16 dense {peak / 1e12:.0f} TFLOP/s")
    B, T = args.B, args.T
    for shape_name in args.shapes.split(","):
        V, d, L, nh, f, rd = PRESETS[shape_name]
        shapes = tensor_shapes(V, d, L, f)
        try:
            ws = []
            for tn, shp in shapes:
                if tn.endswith("layernorm.weight"):
                    t = torch.ones(shp, device=dev, dtype=torch.bfloat16)
                elif tn.endswith("bias"):
                    t = torch.zeros(shp, device=dev, dtype=torch.bfloat16)
                else:
                    t = (0.02 * torch.randn(shp, device=dev)).to(torch.bfloat16)
                ws.append(t.requires_grad_(True))
            P = sum(t.numel() for t in ws)
            tokens = torch.randint(0, V, (B, T), device=dev)
            cfgt = (V, d, L, nh, f, rd, 10000.0, 1e-5)

            def step():
                for t in ws:
                    t.grad = None
                ref_forward(ws, tokens, cfgt, sdpa=True).mean().backward()
            for _ in range(2):
                step()
            torch.cuda.synchronize()
            n = 5
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            torch.cuda.synchronize()
            dt = (time.perf_counter() - t0) / n
            toks = B * T
            flops = 6.0 * (P - V * d) * toks + 12.0 * L * d * T * toks   # same count as bench_cuda
            print(f"torch {shape_name}: B={B} T={T} params {P / 1e6:.1f}M fwd+bwd {dt * 1e3:.1f} ms, "
                  f"{toks / dt:,.0f} tokens/s, {flops / dt / 1e12:.1f} TFLOP/s, MFU {flops / dt / peak * 100:.1f}%", flush=True)
            del ws
            torch.cuda.empty_cache()
        except Exception as ex:
            print(f"torch {shape_name}: FAILED {type(ex).__name__}: {ex}", flush=True)
            torch.cuda.empty_cache()
    # SGLD update in PyTorch on 2 x (8192 x 2048) floats (the 1.4B MLP component)
    n = 2 * 8192 * 2048
    w = torch.randn(n, device=dev)
    ws_ = w.clone()
    g = torch.randn(n, device=dev)
    v = torch.zeros(n, device=dev)
    lr, nbeta, gamma = 1e-5, 10.0, 300.0

    def upd():
        v.mul_(0.99).addcmul_(g, g, value=0.01)
        G = 1.0 / (v.sqrt() + 0.1)
        w.add_(-0.5 * lr * G * (nbeta * g + gamma * (w - ws_)) + math.sqrt(lr) * G.sqrt() * torch.randn_like(w))
    for _ in range(3):
        upd()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(20):
        upd()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / 20
    print(f"torch RMSProp-SGLD update (eager) on {n / 1e6:.1f}M params: {dt * 1e3:.3f} ms "
          f"({n * 20 / dt / 1e9:.0f} GB/s counting the 20 bytes/param a fused kernel moves)")
    x = torch.empty(256 << 20, dtype=torch.uint8, device=dev)
    y = torch.empty_like(x)
    y.copy_(x)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(20):
        y.copy_(x)
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / 20
    print(f"torch device copy 256 MiB: {2 * x.numel() / dt / 1e9:.0f} GB/s (read+write)")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["correctness", "bench"])
    ap.add_argument("--lib", default="build/native/libspectro_cuda.so")
    ap.add_argument("--shapes", default="160m,410m,1.4b")
    ap.add_argument("--B", type=int, default=16)
    ap.add_argument("--T", type=int, default=512)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("SKIP: torch.cuda.is_available() is False")
        return 2
    return cmd_correctness(args) if args.cmd == "correctness" else cmd_bench(args)


if __name__ == "__main__":
    sys.exit(main())
