#!/usr/bin/env python3
"""Mean loss on induction tokens vs the rest: eval.py LOSSES.npy LABELS_lab.npy (from `spectro loss` and gen.py)."""
import sys

import numpy as np

L = np.load(sys.argv[1])
lab = np.load(sys.argv[2])[:, 1:].astype(bool)  # loss [b, t] predicts token t+1
print(f"induction {L[lab].mean():.3f}  other {L[~lab].mean():.3f}  n_ind {lab.sum()}")
