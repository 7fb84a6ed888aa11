"""Fixtures of the export tests: checkpoints as `training.loop` writes them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from export.bundle import debug_parts
from training.checkpoint import save_checkpoint
from training.models.registry import part_entry


def write_checkpoint(path: Path, stage: str, parts: dict[str, torch.nn.Module]) -> Path:
    """A checkpoint as `training.loop` writes it, holding `parts`."""
    return save_checkpoint(
        path,
        {
            "stage": stage,
            "step": 7,
            "run": {"preset": "debug", "stage": stage},
            "models": {name: part_entry(model) for name, model in parts.items()},
            "code_version": "test",
            "provenance": {"data": f"/data/{stage}"},
        },
    )


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ckpt")
    parts = debug_parts(seed=3)
    v2m = {k: parts[k] for k in ("dit", "vae", "visual_encoder", "adaptor")}
    return {
        "v2m": write_checkpoint(folder / "v2m.ckpt", "v2m", v2m),
        "vocoder": write_checkpoint(folder / "vocoder.ckpt", "vocoder", {"vocoder": parts["vocoder"]}),
        "vae": write_checkpoint(folder / "vae.ckpt", "vae", {"vae": parts["vae"]}),
    }
