"""Options that make the in-Resolve logic run the real muvi CLI, out of process, on the debug bundle."""

from __future__ import annotations

import sys

import pytest

from editor_integrations.resolve.session import Options

STEPS = 2


@pytest.fixture
def options(debug_bundle, tmp_path):
    """Takes in `tmp_path/takes`, scored by `python -m muvi_plugin` with the debug bundle and 2 steps."""
    return Options(
        takes_dir=tmp_path / "takes",
        seed=4,
        steps=STEPS,
        bundle=debug_bundle,
        command=(sys.executable, "-m", "muvi_plugin"),
        poll=0.0,
    )
