"""Shared test set-up: one intra-op thread (the suite runs on 2-core machines, where threads contend)."""

import os

import pytest

from tests.hosts import require

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch
except ImportError:  # the runtime's tests do not need torch
    torch = None
else:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def debug_bundle(tmp_path_factory):
    """A verified fp32 bundle of untrained debug-size models (`export.bundle.build_debug_bundle(seed=0)`).

    Built once per test session (about a second); `export.bundle.debug_parts(seed=0)` rebuilds the same
    PyTorch models, for parity tests.
    """
    require("torch", extra="train")
    from export.bundle import build_debug_bundle

    return build_debug_bundle(tmp_path_factory.mktemp("bundle") / "muvi-debug", seed=0)
