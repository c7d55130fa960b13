#!/usr/bin/env python3
"""How far two χ runs over the same tokens and components agree (any estimator; docs/demo.md, issue 14):
per column, the correlation of the z-scored columns, and of the row-centred z-scored columns (the structure
beyond the uniform mode, which whitening and clustering see); prints median and minimum of each. Used for the
sampling-window and seed-to-seed measurements of the Gaussian-pairs demo.
    bench/pile-snr/agreement.py RUN_A RUN_B"""
import json, sys
import numpy as np

def load(run):
    x = np.load(f"{run}/chi.npy").astype(np.float64)
    return (x - x.mean(0)) / x.std(0), json.load(open(f"{run}/components.json"))

def per_column(a, b):
    return np.array([np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(a.shape[1])])

def main(ra, rb):
    (a, ca), (b, cb) = load(ra), load(rb)
    if a.shape != b.shape or ca != cb:
        raise SystemExit(f"{ra} and {rb}: different shapes {a.shape} {b.shape} or components")
    col = per_column(a, b)
    rc = per_column(a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True))
    print(f"{ra} vs {rb}: {a.shape[0]} tokens x {a.shape[1]} components")
    print(f"  column r:              median {np.median(col):.4f}  min {col.min():.4f}")
    print(f"  row-centred column r:  median {np.median(rc):.4f}  min {rc.min():.4f}")

if __name__ == "__main__":
    if len(sys.argv) != 3: raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
