"""One module per training stage, each exposing `PHASES`, `build`, `data` and `optimizers`."""

from __future__ import annotations

from types import ModuleType


def get_task(stage: str) -> ModuleType:
    """The task module of a stage name (a plain table: no reflection on user strings)."""
    from training.tasks import contrastive, dit_pretrain, v2m, vae, vocoder

    tasks = {
        "vae": vae,
        "vocoder": vocoder,
        "dit-pretrain": dit_pretrain,
        "contrastive": contrastive,
        "v2m": v2m,
    }
    if stage not in tasks:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(tasks)}")
    return tasks[stage]
