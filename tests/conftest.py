"""Shared test set-up: one intra-op thread (the suite runs on 2-core machines, where threads contend)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch
except ImportError:  # the runtime's tests do not need torch
    torch = None
else:
    torch.set_num_threads(1)
