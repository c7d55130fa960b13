"""PyTorch (libtorch) CPU baseline for bench_cpu: the same GPT-NeoX forward / forward+backward.

    python3 torch_baseline.py [--threads 2] [--batch 8] [--seq 256] [--runs 7] [--warmup 2]

Plain torch ops in fp32 (F.linear, F.layer_norm, scaled_dot_product_attention causal, exact GELU,
rotate-half rotary, F.cross_entropy over the full [B*T, V] logits -- what an eager PyTorch / HF model
does). Pythia-14M shape by default. Prints the median wall time like bench_cpu.
"""
import argparse, statistics, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--vocab", type=int, default=50304); p.add_argument("--d", type=int, default=128)
p.add_argument("--layers", type=int, default=6); p.add_argument("--heads", type=int, default=4)
p.add_argument("--ff", type=int, default=512); p.add_argument("--rotary", type=int, default=8)
p.add_argument("--batch", type=int, default=8); p.add_argument("--seq", type=int, default=256)
p.add_argument("--threads", type=int, default=2); p.add_argument("--runs", type=int, default=7)
p.add_argument("--warmup", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
V, d, L, nh, f, rd, B, T = a.vocab, a.d, a.layers, a.heads, a.ff, a.rotary, a.batch, a.seq
hd = d // nh

def P(*shape, one=False):
    t = torch.ones(*shape) if one else torch.randn(*shape) * 0.02
    return t.requires_grad_()

params = {"emb": P(V, d), "out": P(V, d), "lnf_w": P(d, one=True), "lnf_b": P(d)}
layers = []
for l in range(L):
    layers.append(dict(ln1_w=P(d, one=True), ln1_b=P(d), ln2_w=P(d, one=True), ln2_b=P(d),
                       qkv_w=P(3 * d, d), qkv_b=P(3 * d), o_w=P(d, d), o_b=P(d),
                       fc_w=P(f, d), fc_b=P(f), pr_w=P(d, f), pr_b=P(d)))
inv_freq = 1.0 / (10000 ** (torch.arange(0, rd, 2).float() / rd))
ang = torch.outer(torch.arange(T).float(), inv_freq)
cos = torch.cat([ang, ang], -1).cos(); sin = torch.cat([ang, ang], -1).sin()

def rot(x):  # x [B, nh, T, hd]
    xr, xp = x[..., :rd], x[..., rd:]
    x1, x2 = xr[..., : rd // 2], xr[..., rd // 2:]
    return torch.cat([xr * cos + torch.cat([-x2, x1], -1) * sin, xp], -1)

tokens = torch.randint(0, V, (B, T))

def loss_fn():
    x = F.embedding(tokens, params["emb"])
    for w in layers:
        h = F.layer_norm(x, (d,), w["ln1_w"], w["ln1_b"], 1e-5)
        qkv = F.linear(h, w["qkv_w"], w["qkv_b"]).view(B, T, nh, 3 * hd).transpose(1, 2)
        q, k, v = qkv.split(hd, -1)
        y = F.scaled_dot_product_attention(rot(q), rot(k), v, is_causal=True)
        y = F.linear(y.transpose(1, 2).reshape(B, T, d), w["o_w"], w["o_b"])
        h2 = F.layer_norm(x, (d,), w["ln2_w"], w["ln2_b"], 1e-5)
        m = F.linear(F.gelu(F.linear(h2, w["fc_w"], w["fc_b"])), w["pr_w"], w["pr_b"])
        x = x + y + m
    x = F.layer_norm(x, (d,), params["lnf_w"], params["lnf_b"], 1e-5)
    logits = F.linear(x[:, :-1], params["out"])
    return F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))

all_params = list(params.values()) + [t for w in layers for t in w.values()]

def fwd():
    with torch.no_grad():
        loss_fn()

def fb():
    for t in all_params:
        t.grad = None
    loss_fn().backward()

def median(fn):
    for _ in range(a.warmup):
        fn()
    ts = []
    for _ in range(a.runs):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts), min(ts)

print(f"torch {torch.__version__} threads {torch.get_num_threads()} | V {V} d {d} L {L} heads {nh} f {f} "
      f"rotary {rd} | B {B} T {T}")
for name, fn in (("forward", fwd), ("forward+backward", fb)):
    med, mn = median(fn)
    print(f"torch {name:<20} {1e3 * med:9.2f} ms {B * T / med:10.0f} tok/s | min {1e3 * mn:8.2f} ms")
