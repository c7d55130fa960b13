#!/usr/bin/env python3
"""Does a backend/precision change chi by more than the sampling error? (run by scripts/gpu-check.sh)

  chi_precision.py --run LIB:PRECISION [--run LIB:PRECISION ...] [--shape 14m] [--T 128] ...

Each --run names a spectro library (libspectro_cpu.so or libspectro_cuda.so) and a precision (fp32 or
bf16). For a few components (a head of the first, middle and top layer, the top MLP) of one random
GPT-NeoX model, every run samples restricted SGLD chains with the same Philox noise keys and the same
minibatches, and estimates chi[t] = -Cov(phi, l[t]) over the pooled draws (phi = S - L0 on the sampling
set, l[t] the probe token losses: spectro's estimator without the full-run correction, which is the
same linear map for every run). The first run is also repeated with a second seed: its distance to
itself across seeds is the Monte Carlo error. Per component and run the table gives
    ratio = ||chi_run - chi_first|| / ||chi_first(seed 2) - chi_first||
and the correlation with the first run. ratio well below 1: the run's arithmetic changes chi less than
resampling does. Exit code 1 when a run's ratio exceeds --max-ratio for some component.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spectro_ctypes as sc  # noqa: E402

SHAPES = {  # V, d, L, nh, f, rd
    "tiny": (512, 64, 2, 4, 256, 4),
    "14m": (50304, 128, 6, 4, 512, 8),
    "160m": (50304, 768, 12, 12, 3072, 16),
}


def layout_sizes(V, d, L, f):
    sizes = [V * d]
    for _ in range(L):
        sizes += [d, d, d, d, 3 * d * d, 3 * d, d * d, d, f * d, f, d * f, d]
    return sizes + [d, d, V * d]


def random_params(V, d, L, f, gen):
    """Pythia-like scales: LayerNorm weights near 1, small biases, N(0, 0.02-0.08) matrices."""
    parts = [0.1 * gen.standard_normal(V * d)]
    for _ in range(L):
        parts += [1 + 0.1 * gen.standard_normal(d), 0.05 * gen.standard_normal(d),
                  1 + 0.1 * gen.standard_normal(d), 0.05 * gen.standard_normal(d),
                  0.08 * gen.standard_normal(3 * d * d), 0.05 * gen.standard_normal(3 * d),
                  0.04 * gen.standard_normal(d * d), 0.05 * gen.standard_normal(d),
                  0.04 * gen.standard_normal(f * d), 0.05 * gen.standard_normal(f),
                  0.04 * gen.standard_normal(d * f), 0.05 * gen.standard_normal(d)]
    parts += [1 + 0.1 * gen.standard_normal(d), 0.05 * gen.standard_normal(d), 0.1 * gen.standard_normal(V * d)]
    return np.concatenate(parts).astype(np.float32)


def components(off, d, nh, L, f):
    hd = d // nh

    def head(l, h):
        base = 1 + 12 * l
        return (f"l{l}h{h}", l, [(int(off[base + 4]) + h * 3 * hd * d, 3 * hd, d, d),
                                 (int(off[base + 5]) + h * 3 * hd, 1, 3 * hd, 3 * hd),
                                 (int(off[base + 6]) + h * hd, d, hd, d)])

    def mlp(l):
        base = 1 + 12 * l
        return (f"l{l}mlp", l, [(int(off[base + 8]), 1, f * d, f * d), (int(off[base + 9]), 1, f, f),
                                (int(off[base + 10]), 1, d * f, d * f), (int(off[base + 11]), 1, d, d)])

    return [head(0, 0), head(L // 2, nh // 2), head(L - 1, nh - 1), mlp(L - 1)]


def chi_of_run(lib_path, precision, cfg, params, probe, mb, comps, a, seed):
    lib = sc.Lib(lib_path)
    m = sc.Model(lib, cfg, precision=1 if precision == "bf16" else 0, max_batch=max(probe.size, mb.size))
    try:
        m.load(params)
        bp, bm = m.batch(probe), m.batch(mb)
        Bp, T = probe.shape
        Bm = mb.shape[0]
        _, L0 = m.forward(bm, Bm, T)
        out = {}
        for ci, (name, layer, blocks) in enumerate(comps):
            arr = sc.blocks_array(blocks)
            n = sum(r * c for (_, r, c, _) in blocks)
            phis, ls = [], []
            for chain in range(a.chains):
                lib.call("sp_params_reset", m.h, arr, len(blocks))
                rms = sc.VP()
                lib.call("sp_buffer_create", m.h, n, sc.C.byref(rms))
                stream = ((ci + 1) << 12) | chain
                for step in range(a.burnin + a.draws * a.gap):
                    m.forward_backward(bm, Bm, T, stop=layer, blocks=blocks)
                    p = sc.SgldParams(a.lr, a.nbeta, a.gamma, 1, 0.99, 0.1, 1.0, stream, seed, step)
                    lib.call("sp_sgld_update", m.h, arr, len(blocks), rms, sc.C.byref(p))
                    if step >= a.burnin and (step - a.burnin + 1) % a.gap == 0:
                        _, S = m.forward(bm, Bm, T)
                        lp, _ = m.forward(bp, Bp, T)
                        phis.append(S - L0)
                        ls.append(lp.astype(np.float64))
                lib.lib.sp_buffer_destroy(rms)
            lib.call("sp_params_reset", m.h, arr, len(blocks))
            phi = np.array(phis)
            lmat = np.array(ls)                      # [draws, probe tokens]
            out[name] = phi.mean() * lmat.mean(axis=0) - (phi[:, None] * lmat).mean(axis=0)
        lib.lib.sp_batch_destroy(bp)
        lib.lib.sp_batch_destroy(bm)
        return out, m.describe()
    finally:
        m.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", required=True, help="LIB:PRECISION, e.g. build/native/libspectro_cuda.so:bf16")
    ap.add_argument("--shape", default="14m", choices=sorted(SHAPES))
    ap.add_argument("--T", type=int, default=128)
    ap.add_argument("--probe", type=int, default=8, help="probe sequences")
    ap.add_argument("--batch", type=int, default=8, help="minibatch = sampling-set sequences")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--gap", type=int, default=2)
    ap.add_argument("--burnin", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--nbeta", type=float, default=30.0)
    ap.add_argument("--gamma", type=float, default=300.0)
    ap.add_argument("--max-ratio", type=float, default=0.5)
    a = ap.parse_args()
    V, d, L, nh, f, rd = SHAPES[a.shape]
    cfg = sc.Config(V, d, L, nh, f, rd, max(a.T, 64), 10000.0, 1e-5)
    gen = np.random.default_rng(7)
    params = random_params(V, d, L, f, gen)
    sizes = layout_sizes(V, d, L, f)
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    assert off[-1] == params.size
    probe = gen.integers(0, V, (a.probe, a.T), dtype=np.int32)
    mb = gen.integers(0, V, (a.batch, a.T), dtype=np.int32)
    comps = components(off, d, nh, L, f)
    print(f"shape {a.shape} (V {V}, d {d}, L {L}, heads {nh}), T {a.T}, probe {a.probe} x {a.T}, minibatch {a.batch}; "
          f"{a.chains} chains x ({a.burnin} + {a.draws} x {a.gap}) RMSProp-SGLD steps, lr {a.lr}, nbeta {a.nbeta}, "
          f"gamma {a.gamma}")
    runs, specs = [], []
    for spec in a.run:
        path, _, prec = spec.rpartition(":")
        if prec not in ("fp32", "bf16") or not path:
            ap.error(f"--run {spec}: expected LIB:fp32 or LIB:bf16")
        specs.append((path, prec))
        t0 = time.time()
        chi, desc = chi_of_run(path, prec, cfg, params, probe, mb, comps, a, seed=11)
        print(f"  {os.path.basename(path)} {prec}: {time.time() - t0:.1f} s {desc}")
        runs.append((f"{os.path.basename(path)}:{prec}", chi))
    ref_name, ref = runs[0]
    t0 = time.time()
    ref2, _ = chi_of_run(*specs[0], cfg, params, probe, mb, comps, a, seed=12)
    print(f"  {ref_name} with a second seed: {time.time() - t0:.1f} s")
    print(f"\n| component | |chi| ({ref_name}) | seed-to-seed |diff| | run | ratio | correlation |\n|---|---|---|---|---|---|---|")
    worst = 0.0
    for name, _, _ in comps:
        mc = np.linalg.norm(ref2[name] - ref[name])
        rows = [(ref_name + " seed 2", ref2[name])] + [(rn, ch[name]) for rn, ch in runs[1:]]
        for rn, ch in rows:
            ratio = np.linalg.norm(ch - ref[name]) / mc if mc > 0 else float("inf")
            corr = np.corrcoef(ch, ref[name])[0, 1]
            if not rn.endswith("seed 2"):
                worst = max(worst, ratio)
            print(f"| {name} | {np.linalg.norm(ref[name]):.3e} | {mc:.3e} | {rn} | {ratio:.3f} | {corr:.4f} |")
    ok = worst <= a.max_ratio
    print(f"\n{'PASSED' if ok else 'FAILED'}: worst ratio {worst:.3f} (limit {a.max_ratio}; the seed-2 rows are 1 by definition)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
