#!/usr/bin/env python3
"""Linear response (spectro chi --estimator linear) against the SGLD estimator's covariance term, per component
(docs/method.md, "Linear response"). All runs on the same model, probe and sampling sets and components.
SGLD's covariance term cov(phi,S) - cov(phi,l_t) is split from each run's pooled state (as
bench/pile-snr/estimator_terms.py). REPLICATE is the same SGLD command at another --seed; its components alone
suffice (e.g. computed as shards 1..H of H+1: the covariance term needs no full run). Per component it prints:
  rel          the run-vs-replicate correlation of the term (the reliability of one run's column);
  r(sgld,lin)  the run's term against the linear response;
  r/sqrt(rel)  that correlation corrected for the run's noise: 1 = all of SGLD's reproducible signal is the
               linear response, less = a part of it is not (the second-order response, non-Gaussian posterior);
  r(mean,lin)  the same for the average of run and replicate (twice the draws);
  slope        least squares of the run's term on the linear response (1 = the same scale: both are covariances);
  r(shift,lin) the run's mean-shift term against the linear response.
(The split-half of one run's chains cannot be used here: the per-chain files keep sum phi*l but not sum l.)
    bench/linear-response/versus_sgld.py SGLD_RUN LINEAR_RUN REPLICATE"""
import sys, os
import numpy as np
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pile-snr"))
from estimator_terms import names_of, sums, terms

def cov_only(run, names, N):
    out = []
    for i in range(len(names)):
        K, sp, sps, ss, sl, spl = sums(f"{run}/state/{i:04d}.bin", N)
        out.append((sps / K - sp / K * ss / K) - (spl / K - sp / K * sl / K))
    return np.array(out).T, K

def main(sgld, lin, rep):
    names = names_of(sgld); N = np.load(f"{sgld}/chi.npy").shape[0]
    cov, shift = terms(sgld, names, N)
    other, K = cov_only(rep, names, N)
    L = np.load(f"{lin}/chi.npy").astype(np.float64); lnames = names_of(lin)
    print(f"{N} probe tokens, {K} draws per component and run")
    print(f"{'component':10s} {'rel':>6s} {'r(sgld,lin)':>12s} {'r/sqrt(rel)':>12s} {'r(mean,lin)':>12s} {'slope':>7s} {'r(shift,lin)':>13s}")
    rows = []
    for i, nm in enumerate(names):
        x = L[:, lnames.index(nm)]; y = cov[:, i]
        rel = np.corrcoef(y, other[:, i])[0, 1]
        rl = np.corrcoef(x, y)[0, 1]; rm = np.corrcoef(x, (y + other[:, i]) / 2)[0, 1]
        slope = np.dot(x - x.mean(), y - y.mean()) / np.dot(x - x.mean(), x - x.mean())
        rs = np.corrcoef(x, shift[:, i])[0, 1]
        dis = rl / np.sqrt(rel) if rel > 0 else float("nan")
        rows.append((rel, rl, dis, rm, slope))
        print(f"{nm:10s} {rel:6.3f} {rl:12.3f} {dis:12.3f} {rm:12.3f} {slope:7.3f} {rs:13.3f}")
    a = np.array(rows)
    print(f"{'median':10s} {np.median(a[:, 0]):6.3f} {np.median(a[:, 1]):12.3f} {np.nanmedian(a[:, 2]):12.3f} {np.median(a[:, 3]):12.3f} {np.median(a[:, 4]):7.3f}")

if __name__ == "__main__":
    if len(sys.argv) != 4: raise SystemExit(__doc__)
    main(*sys.argv[1:4])
