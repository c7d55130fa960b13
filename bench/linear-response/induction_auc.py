#!/usr/bin/env python3
"""Per-component ROC AUC (max(AUC, 1-AUC)) of induction tokens against the rest, for any run directories on the
induction demo's probe set (spectro demo: RUN/chi.npy rows b*(T-1)+t are the token at position t+1 of sequence b;
DATA/probe_induction.npy marks induction positions), raw and after row centring of the z-scored columns, as
io.spectro.demo.Induction.separation does.   bench/linear-response/induction_auc.py DATA/probe_induction.npy RUN..."""
import sys, json
import numpy as np
from scipy.stats import rankdata

def auc(x, y):
    r = rankdata(x); n1 = y.sum(); n0 = len(y) - n1
    a = (r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return max(a, 1 - a)

mask = np.load(sys.argv[1]).astype(bool)[:, 1:].reshape(-1)
for run in sys.argv[2:]:
    X = np.load(f"{run}/chi.npy").astype(np.float64); names = json.load(open(f"{run}/components.json"))
    Z = (X - X.mean(0)) / X.std(0); C = Z - Z.mean(1, keepdims=True)
    a = [auc(Z[:, c], mask) for c in range(X.shape[1])]; b = [auc(C[:, c], mask) for c in range(X.shape[1])]
    print(f"{run}: AUC raw median {np.median(a):.3f} (max {max(a):.3f} {names[int(np.argmax(a))]}), row-centred median {np.median(b):.3f} (max {max(b):.3f} {names[int(np.argmax(b))]})")
