"""What the Workspace > Scripts > muvi entry calls: connect, score the In/Out with progress, report.

main(resolve=resolve, bmd=bmd, command=["/path/to/python", "-m", "muvi_plugin"])
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from editor_integrations.resolve.host import ResolveScriptError, connect
from editor_integrations.resolve.runner import Cancelled
from editor_integrations.resolve.session import Options, score_in_out
from editor_integrations.resolve.ui import progress_ui


def default_takes_dir() -> Path:
    """`$MUVI_TAKES_DIR`, else `~/muvi takes`: a lasting folder, since Resolve links to the files."""
    return Path(os.environ.get("MUVI_TAKES_DIR") or Path.home() / "muvi takes")


def take_work(
    resolve: Any, options: Options
) -> Callable[[Callable[[str, float], None], threading.Event], str]:
    """The job for the progress UI: score and place, returning the line to show."""

    def work(progress: Callable[[str, float], None], cancel: threading.Event) -> str:
        try:
            result = score_in_out(resolve, options, progress=progress, cancel=cancel)
        except Cancelled:
            return "cancelled; nothing was added"
        p = result.placement
        what = "In/Out" if result.span.marked else "whole timeline"
        return (
            f"{what} scored: {result.audio.name} on audio track {p.track} at frame {p.record_frame} "
            f"({p.frames} frames, seed {result.provenance['report']['seed']})"
        )

    return work


def main(*, resolve: Any = None, bmd: Any = None, command: Sequence[str] | None = None, seed: int = 0) -> int:
    """Run from Resolve's Scripts menu (or its Console); returns 0, or 2 after a message."""
    try:
        app = connect(resolve)
        options = Options(takes_dir=default_takes_dir(), seed=seed, command=command or None)
        progress_ui(app, bmd).run(take_work(app, options))
    except ResolveScriptError as error:
        print(f"muvi: {error}", file=sys.stderr)
        return 2
    return 0


__all__ = ["default_takes_dir", "main", "take_work"]
