#!/usr/bin/env python3
"""Splits a run's chi into the estimator's two terms from its state files (docs/demo.md, issue 14):
chi = [cov(phi,S) - cov(phi,l_t)] + mean(phi) * [(mean S_C - mean l_C[t]) - Delta_full[t]]
(method.md section 3 with phi = phi' + mean(phi)). Reads RUN/state/NNNN.bin and full.bin (ComponentSums:
big-endian long K, doubles sumPhi, sumPhiS, sumS, int n, n sumL, n sumPhiL, then the CRC), checks the
sum of both terms against RUN/chi.npy, and prints for each term: the top eigenvalue share of the z-scored
columns, two column correlations, and (with a replicate run) the run-vs-replicate correlation per column.
With a replicate it also prints the per-column correlation of the row-centred z-scored chi (the structure
beyond the uniform mode). ROWS limits both runs to their first ROWS probe tokens (to compare runs over
different probe sets on the rows they share).
    bench/pile-snr/estimator_terms.py RUN [REPLICATE [ROWS]]"""
import json, struct, sys
import numpy as np

def names_of(run):
    n = json.load(open(f"{run}/components.json"))
    n = n if isinstance(n, list) else n["components"]
    return [x if isinstance(x, str) else x.get("name") for x in n]

def sums(path, N):
    b = open(path, "rb").read()
    key = struct.pack(">i", N)
    for crc in (4, 8, 0):
        end = len(b) - crc; start = end - 2 * N * 8
        if b[start - 4:start] == key: break
    else: raise SystemExit(f"{path}: unexpected layout")
    K, sp, sps, ss = struct.unpack(">qddd", b[start - 36:start - 4])
    a = np.frombuffer(b[start:end], dtype=">f8").astype(np.float64)
    return K, sp, sps, ss, a[:N], a[N:]

def terms(run, names, N):
    Kf, _, _, ssf, slf, _ = sums(f"{run}/state/full.bin", N)
    dfull = ssf / Kf - slf / Kf
    cov, shift = [], []
    for i in range(len(names)):
        K, sp, sps, ss, sl, spl = sums(f"{run}/state/{i:04d}.bin", N)
        cov.append((sps / K - sp / K * ss / K) - (spl / K - sp / K * sl / K))
        shift.append(sp / K * ((ss / K - sl / K) - dfull))
    return np.array(cov).T, np.array(shift).T

def main(run, rep=None, rows=None):
    names = names_of(run); ref = np.load(f"{run}/chi.npy").astype(np.float64); N = ref.shape[0]
    cov, shift = terms(run, names, N)
    print(f"{run}: cov + shift vs chi.npy, max relative difference {np.abs(cov + shift - ref).max() / np.abs(ref).max():.1e}")
    other = terms(rep, names, np.load(f"{rep}/chi.npy").shape[0]) if rep else None
    if rows:
        n = int(rows); cov, shift = cov[:n], shift[:n]
        other = (other[0][:n], other[1][:n]) if other else None
    for label, X, k in (("covariance term", cov, 0), ("mean-shift term", shift, 1), ("chi (both)", cov + shift, 2)):
        Z = (X - X.mean(0)) / X.std(0); w = np.linalg.eigvalsh(np.corrcoef(Z.T))[::-1]
        line = f"{label:16s} top eigenvalue share {w[0] / w.sum():.3f}, mean column sd {X.std(0).mean():.3g}"
        if rep:
            Y = (other[0], other[1], other[0] + other[1])[k]
            r = [np.corrcoef(X[:, c], Y[:, c])[0, 1] for c in range(X.shape[1])]
            line += f"; run vs replicate per column {min(r):.2f}..{max(r):.2f} (median {np.median(r):.2f})"
        print(line)
    if rep:
        def centred(X):
            Z = (X - X.mean(0)) / X.std(0)
            return Z - Z.mean(1, keepdims=True)
        A, B = centred(cov + shift), centred(other[0] + other[1])
        r = [np.corrcoef(A[:, c], B[:, c])[0, 1] for c in range(A.shape[1])]
        print(f"row-centred z-scored chi: run vs replicate per column {min(r):.2f}..{max(r):.2f} (median {np.median(r):.2f})")

if __name__ == "__main__":
    main(*sys.argv[1:4])
