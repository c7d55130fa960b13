#!/usr/bin/env python3
"""Inputs of the structure-stage controls in docs/demo.md (issue 14): 30 Gaussian groups in 7 dimensions (centres
N(0, 16 I), unit spread) and isotropic noise; then e.g. spectro cluster --in mix30_1905.npy --out c --threads 1."""
import numpy as np
r = np.random.default_rng(0)
C = r.normal(size=(30, 7)) * 4.0
lab = r.integers(0, 30, 1905)
np.save('mix30_1905.npy', (C[lab] + r.normal(size=(1905, 7))).astype(np.float32))
r = np.random.default_rng(0); C = r.normal(size=(30, 7)) * 4.0; lab = r.integers(0, 30, 5080)
np.save('mix30_5080.npy', (C[lab] + r.normal(size=(5080, 7))).astype(np.float32))
np.save('iso7.npy', np.random.default_rng(1).normal(size=(1905, 7)).astype(np.float32))
