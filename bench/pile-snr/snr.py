#!/usr/bin/env python3
"""Per-direction signal vs noise of z-scored chi from a run's per-chain sums (state/*.chains.bin, both the
"SPCH" and the "SPH2" format), independently of spectro's Java code (docs/demo.md,
issue 14). Projects both halves of the chains on the fixed all-chain PCA directions (--own-z: each half
z-scored on its own); signal = cross-covariance of the halves, noise = var(half difference)/4; also the
generalised signal/noise eigenvalues and the 1-chain vs 2-chain noise ratio (4 chains).
usage: snr.py RUN [--center-rows] [--own-z]"""
import sys, json, struct, numpy as np, os, glob
run = sys.argv[1]; center = '--center-rows' in sys.argv


def read(path):
    b = open(path, 'rb').read()
    magic, = struct.unpack('>i', b[:4]); off = 4
    if magic == 0x53504832:  # "SPH2": a Java writeUTF identity follows the magic (CRC32 trailer not checked)
        off += 2 + struct.unpack('>H', b[4:6])[0]
    m, n = struct.unpack('>ii', b[off:off + 8]); off += 8
    K = []; A = []; B = []; C = []; T = []
    for c in range(m):
        k, a, bb, cc = struct.unpack('>qddd', b[off:off+32]); off += 32
        t = np.frombuffer(b[off:off+8*n], dtype='>f8').astype(np.float64); off += 8*n
        K.append(k); A.append(a); B.append(bb); C.append(cc); T.append(t)
    return np.array(K), np.array(A), np.array(B), np.array(C), np.array(T)

full = read(os.path.join(run, 'state', 'full.chains.bin'))
cs = [read(f) for f in sorted(glob.glob(os.path.join(run, 'state', '0*.chains.bin')))]
m = len(full[0]); H = len(cs)

def chi(sel):
    sel = list(sel)
    Kf, Af, Bf, Cf, Tf = [x[sel].sum(0) for x in full]
    dfull = Cf / Kf - Tf / Kf
    cols = []
    for K, A, B, C, T in cs:
        k, a, b, c, t = K[sel].sum(), A[sel].sum(), B[sel].sum(), C[sel].sum(), T[sel].sum(0)
        cols.append(b / k - t / k - (a / k) * dfull)
    return np.stack(cols, 1)

X = chi(range(m))
print(f"run {run}: {m} chains, N={X.shape[0]} H={H}")
if os.path.exists(os.path.join(run, 'chi.npy')):
    ref = np.load(os.path.join(run, 'chi.npy')).astype(np.float64)
    print(f"max |chi - chi.npy| / sd = {np.max(np.abs(X-ref))/ref.std():.2e}")
mu, sd = X.mean(0), X.std(0)
def z(Y):
    Z = (Y - mu) / sd
    if center: Z = Z - Z.mean(1, keepdims=True)
    return Z
Z = z(X); Zc = Z - Z.mean(0)
ev, V = np.linalg.eigh(Zc.T @ Zc / len(Z)); o = np.argsort(-ev); ev, V = ev[o], V[:, o]
# halves: first m/2 chains vs the rest
h1, h2 = range(m // 2), range(m // 2, m)
own = '--own-z' in sys.argv
zz = (lambda Y: (lambda W: W - W.mean(1, keepdims=True) if center else W)((Y - Y.mean(0)) / Y.std(0))) if own else z
A = zz(chi(h1)); B = zz(chi(h2)); A -= A.mean(0); B -= B.mean(0)
pa, pb = A @ V, B @ V
S = np.mean(pa * pb, 0)                 # signal variance per direction (cross-covariance of independent halves)
N = np.var(pa - pb, 0) / 4              # noise variance of the all-chain mean (A+B)/2
r = np.array([np.corrcoef(pa[:, i], pb[:, i])[0, 1] for i in range(H)])
rel = 2 * r / (1 + r)
seS = np.std(pa * pb, 0) / np.sqrt(len(pa))
D = int(sum(full[0]))  # total draws of all chains
print(f"{'dir':>3} {'eigval':>8} {'signal':>8} {'+-se':>7} {'noise':>8} {'SNR':>7} {'rel(SB)':>7} {'draws for SNR 1':>15}")
for i in range(H):
    need = f"{D * N[i] / S[i]:.0f}" if S[i] > 2 * seS[i] else "n/a (signal ~0)"
    print(f"{i:3d} {ev[i]:8.3f} {S[i]:8.4f} {seS[i]:7.4f} {N[i]:8.4f} {S[i]/N[i]:7.2f} {rel[i]:7.3f} {need:>15}")
print("total draws (all chains):", D)
print("PCA directions with SNR > 1:", int(np.sum(S / N > 1)), " (rel > 0.5:", int(np.sum(rel > 0.5)), ")")
# noise-adjusted (generalised) eigenproblem: max number of directions with SNR>1 in any basis
Ssym = (A.T @ B + B.T @ A) / (2 * len(A)); Nm = np.cov((A - B).T, bias=True) / 4
w = np.sort(np.linalg.eigvals(np.linalg.solve(Nm, Ssym)).real)[::-1]
print("generalised SNR eigenvalues (signal vs noise, any basis):", np.round(w[:8], 2), "... count > 1:", int(np.sum(w > 1)))
# noise scaling: single chains vs halves (for m >= 4)
if m >= 4:
    per = [zz(chi([c])) for c in range(m)]
    n1 = np.mean([np.var((per[0] - per[1]) @ V, 0) / 2, np.var((per[2] - per[3]) @ V, 0) / 2], 0)  # noise var of 1 chain
    n2 = np.var((A - B) @ V, 0) / 2                                                              # noise var of m/2 chains
    print("noise variance, 1 chain / (m/2 chains), per direction (expect m/2 if noise ~ 1/draws):",
          np.round(n1 / n2, 2)[:10], " median", round(float(np.median(n1 / n2)), 2))
