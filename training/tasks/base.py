"""What every stage shares: the `Objective` holding a stage's models, and the parts a stage starts from.

Building and storing parts by name is the registry's job (`training.models.registry`, re-exported here for
the stage modules); this module adds what only stages need (`require_part`, `visual_parts`, `Objective`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.models.registry import build_part, load_part, part_entry, part_from_checkpoints

__all__ = [
    "Objective",
    "adamw",
    "build_part",
    "load_part",
    "part_entry",
    "part_from_checkpoints",
    "require_part",
    "trainable_parameters",
    "visual_parts",
]


def require_part(name: str, paths: tuple[str, ...], *, stage: str, produced_by: str) -> nn.Module:
    model = part_from_checkpoints(name, paths)
    if model is None:
        given = ", ".join(str(Path(p)) for p in paths) or "none"
        raise ValueError(
            f"stage {stage!r} needs a trained {name!r}: pass the checkpoint of stage {produced_by!r} "
            f"with --init (given: {given})"
        )
    return model


def visual_parts(run) -> tuple[nn.Module, nn.Module, bool]:
    """The visual encoder and adaptor of a stage (from an earlier stage's checkpoint, else new), and
    whether the encoder is new."""
    from training import presets

    encoder = part_from_checkpoints("visual_encoder", run.init)
    is_new = encoder is None
    encoder = encoder or build_part(
        "visual_encoder",
        presets.visual_encoder_config(
            run.preset, kind=run.visual_encoder, checkpoint=run.visual_encoder_checkpoint
        ),
    )
    adaptor = part_from_checkpoints("adaptor", run.init) or build_part(
        "adaptor", presets.adaptor_config(run.preset, encoder, mode=run.adaptor_mode)
    )
    return encoder, adaptor, is_new


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


class Objective(nn.Module):
    """A stage's models plus its loss. `forward(batch, phase=..., step=...)` returns `(loss, stats)`."""

    def __init__(self, parts: dict[str, nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleDict(parts)

    def __getitem__(self, name: str) -> nn.Module:
        return self.parts[name]

    def export_models(self) -> dict[str, dict[str, Any]]:
        return {name: part_entry(model) for name, model in self.parts.items()}

    def load_models(self, entries: dict[str, dict[str, Any]]) -> None:
        for name, model in self.parts.items():
            if name in entries and "state" in entries[name]:
                model.load_state_dict(entries[name]["state"])


def adamw(
    params: list[nn.Parameter], *, lr: float, betas: tuple[float, float] = (0.9, 0.999)
) -> torch.optim.AdamW:
    if not params:
        raise ValueError("nothing to train: every parameter of this stage is frozen")
    return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=0.01)
