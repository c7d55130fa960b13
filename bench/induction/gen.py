#!/usr/bin/env python3
"""Token sets of the induction-formation experiments in docs/demo.md (needs numpy).

usage: gen.py KIND ROWS SEED OUT [T]      (HI=<exclusive top token id>, default 512, in the environment)
  KIND copy:     T uniform tokens in [16, HI); one 10-30-token span repeated at a random later offset
  KIND markov:   a fixed Markov chain over [16, HI) (64 successors per token, taken with p 0.9); 90% of
                 rows repeat one 10-20-token span later in the row (method.md section 6's recipe)
  KIND period:   0-16 uniform tokens, then an 8-24-token segment repeated to the end (Synthetic.periodic)
writes OUT.npy (int32 [ROWS, T]) and OUT_lab.npy (int8: 1 where the token completes [A][B] ... [A] -> [B]).
Train with `spectro train --config C --data OUT.npy --steps 4000 ...`, evaluate with `spectro loss` and
eval.py.
"""
import os
import sys

import numpy as np

kind, rows, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
T = int(sys.argv[5]) if len(sys.argv) > 5 else 64
V = int(os.environ.get("HI", 512))
lo = 16
rng = np.random.default_rng(seed)
toks = np.zeros((rows, T), np.int32)
lab = np.zeros((rows, T), np.int8)
nxt = np.random.default_rng(12345).integers(0, V - lo, size=(V - lo, 64))
for r in range(rows):
    if kind == "period":
        toks[r] = rng.integers(lo, V, T)
        P, L = int(rng.integers(0, 17)), int(rng.integers(8, 25))
        seg = toks[r, P:P + L].copy()
        for t in range(P + L, T):
            toks[r, t] = seg[(t - P) % L]
        lab[r, P + L + 1:] = 1
        continue
    if kind == "copy":
        toks[r] = rng.integers(lo, V, T)
        L = int(rng.integers(10, 31))
        src = int(rng.integers(0, T - 2 * L + 1))
        dst = src + L + int(rng.integers(0, T - 2 * L - src + 1))
    elif kind == "markov":
        cur = int(rng.integers(0, V - lo))
        for t in range(T):
            toks[r, t] = lo + cur
            cur = nxt[cur, rng.integers(64)] if rng.random() < 0.9 else int(rng.integers(0, V - lo))
        if rng.random() >= 0.9:
            continue
        L = int(rng.integers(10, 21))
        src = int(rng.integers(0, T // 2 - L))
        dst = src + L + int(rng.integers(0, T - 2 * L - src))
    else:
        sys.exit(f"gen.py: unknown kind {kind!r} (copy, markov, period)")
    toks[r, dst:dst + L] = toks[r, src:src + L]
    lab[r, dst + 1:dst + L] = 1
np.save(out + ".npy", toks)
np.save(out + "_lab.npy", lab)
