"""Checkpoints: model and optimiser state plus the config, code version and data provenance.

A checkpoint is a plain dict of tensors, numbers and strings so that it loads with
`torch.load(..., weights_only=True)` (docs/architecture.md, "Errors and safety"). Writes are atomic: a
temporary file in the same folder renamed over the target, so an interrupted save never leaves a truncated
checkpoint.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import torch

import muvi_plugin
from muvi_plugin.atomic import atomic_path

CHECKPOINT_FORMAT = 1
_STEP_FILE = re.compile(r"^step_(\d+)\.ckpt$")


def _git(*args: str) -> str:
    here = Path(__file__).resolve().parent
    done = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5, check=True)
    return done.stdout.strip()


def code_version() -> str:
    """The package version plus the git commit of the source tree when there is one."""
    try:
        commit = _git("rev-parse", "--short=12", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return muvi_plugin.__version__
    return f"{muvi_plugin.__version__}+g{commit}{'.dirty' if dirty else ''}"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write `payload` (see `training.loop` for its keys) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (`weights_only=True`), with a clear error for a bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise ValueError(f"{path}: not a readable muvi checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a muvi checkpoint (format {CHECKPOINT_FORMAT} expected)")
    return payload


def step_checkpoints(folder: str | Path) -> list[Path]:
    """The `step_N.ckpt` files of a run folder, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest `step_N.ckpt` in `folder`, or None."""
    found = step_checkpoints(folder)
    return found[-1] if found else None


def prune_checkpoints(folder: str | Path, *, keep: int) -> None:
    """Delete all but the newest `keep` step checkpoints (large intermediates are never kept)."""
    for old in step_checkpoints(folder)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
