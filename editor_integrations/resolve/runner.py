"""Run `muvi score` out of process through the host protocol (`muvi_plugin.host`, docs/hosts.md).

Resolve's Python cannot install numpy or ONNX Runtime, the muvi one can: the take is made by
`muvi score --progress json` in muvi's interpreter, read and cancelled by `muvi_plugin.host.ScoreProcess`
(standard library only, like every module that runs inside Resolve). A cancel leaves no file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from editor_integrations.resolve.host import ResolveScriptError
from muvi_plugin.errors import Cancelled, MuviError
from muvi_plugin.host import ScoreProcess, Take

Progress = Callable[[str, float], None]


def run_muvi_score(
    video: Path,
    out: Path,
    *,
    seconds: float,
    seed: int = 0,
    steps: int | None = None,
    bundle: Path | None = None,
    command: Sequence[str] | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Take:
    """`muvi score VIDEO --end SECONDS --seed SEED --out OUT`; the take and its record.

    Raises:
        Cancelled: `cancel` was set; muvi stopped and nothing is left.
        ResolveScriptError: muvi failed; the message is its error line.
    """
    args = [video, "--end", f"{seconds:.6f}", "--seed", seed, "--out", out]
    args += ["--steps", steps] if steps is not None else []
    args += ["--bundle", bundle] if bundle is not None else []
    try:
        return ScoreProcess(args, command=command, on_progress=progress).wait(cancel=cancel)
    except Cancelled:
        raise
    except MuviError as error:
        raise ResolveScriptError(f"muvi could not score {video}: {error}") from None


__all__ = ["Cancelled", "Progress", "Take", "run_muvi_score"]
