#!/usr/bin/env python3
"""The reliability spectro whiten writes (DirectionReliability), in numpy: per all-chain direction i, each half of
the chains z-scored on its own, minus its own i leading directions, projected on direction i; r -> 2r/(1-r).
usage: deflated.py RUN [CHAINS, e.g. 0,1 (default all)]"""
import os, sys, numpy as np
run = sys.argv[1]; sel = sys.argv[2] if len(sys.argv) > 2 else None
sys.argv = [sys.argv[0], run]
exec(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'snr.py')).read().split("X = chi(range(m))")[0])
sub = [int(c) for c in sel.split(',')] if sel else list(range(m))
def zs(Y):
    W = (Y - Y.mean(0)) / Y.std(0); return W - W.mean(0)
def pcs(W):
    e, U = np.linalg.eigh(W.T @ W / len(W)); o = np.argsort(-e); return e[o], U[:, o]
h = len(sub) // 2
X = zs(chi(sub)); ev, V = pcs(X)
A = zs(chi(sub[:h])); B = zs(chi(sub[h:2 * h])); _, UA = pcs(A); _, UB = pcs(B)
rel, snr = [], []
for i in range(H):
    a = A - (A @ UA[:, :i]) @ UA[:, :i].T; b = B - (B @ UB[:, :i]) @ UB[:, :i].T
    r = np.corrcoef(a @ V[:, i], b @ V[:, i])[0, 1]; rel.append(2 * r / (1 + r)); snr.append(2 * r / (1 - r))
print("chains", sub); print("eigenvalues", np.round(ev, 4)); print("reliability", np.round(rel, 3))
print("SNR", np.round(snr, 2)); print("directions with SNR > 1:", sum(s > 1 for s in snr))
