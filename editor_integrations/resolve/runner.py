"""Run `muvi score` out of process: Resolve's Python cannot install numpy or ONNX Runtime, the muvi one can.

The CLI draws its progress bar on stderr (`dit      40%|####  | 00:03`); `run_muvi_score` parses it into
`progress(stage, fraction)` calls. A cancel kills the process and removes whatever it left, so a cancelled
take leaves no file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from editor_integrations.resolve.host import ResolveScriptError

Progress = Callable[[str, float], None]
_BAR = re.compile(r"(\w+)\s+(\d+)%\|")


class Cancelled(Exception):
    """The user cancelled; nothing was left behind."""


@dataclass(frozen=True)
class Take:
    """A finished take: the audio file and the CLI's report (seed, steps, bundle id, provider, ...)."""

    audio: Path
    report: dict[str, Any]


def default_command() -> list[str]:
    """How to start muvi: the `muvi` on PATH, else this interpreter's `-m muvi_plugin`."""
    found = shutil.which("muvi")
    return [found] if found else [sys.executable, "-m", "muvi_plugin"]


def parse_progress(text: str) -> tuple[str, float] | None:
    """`(stage, fraction)` from one refresh of the CLI's progress bar, or None."""
    match = _BAR.search(text)
    return (match.group(1), int(match.group(2)) / 100) if match else None


def _remove_leftovers(out: Path) -> None:
    """The output and the atomic writer's temporary siblings (`.<stem>.<hex>.part<suffix>`)."""
    for path in (out, out.with_suffix(".json"), *out.parent.glob(f".{out.stem}.*.part*")):
        path.unlink(missing_ok=True)


def _read_stderr(stream, progress: Progress | None, tail: list[str]) -> None:
    buffer = ""
    while chunk := stream.read(256):
        buffer += chunk
        *lines, buffer = re.split(r"[\r\n]", buffer)  # tqdm redraws with \r, messages end with \n
        for line in lines:
            parsed = parse_progress(line)
            if parsed is None and line.strip():
                tail.append(line.strip())
            elif parsed is not None and progress is not None:
                progress(*parsed)
    if buffer.strip():
        tail.append(buffer.strip())


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
    poll: float = 0.05,
) -> Take:
    """`muvi score VIDEO --end SECONDS --out OUT --report OUT.json` in its own process.

    Raises:
        Cancelled: `cancel` was set; the process is killed and nothing is left.
        ResolveScriptError: muvi failed; the message is its last line on stderr.
    """
    report = out.with_suffix(".json")
    argv = [*(command or default_command()), "score", os.fspath(video), "--end", f"{seconds:.6f}"]
    argv += ["--seed", str(seed), "--out", os.fspath(out), "--report", os.fspath(report)]
    argv += ["--steps", str(steps)] if steps is not None else []
    argv += ["--bundle", os.fspath(bundle)] if bundle is not None else []
    # No console window on Windows; stdout is not read (its one summary line is in the report too).
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, creationflags=flags
    )
    tail: list[str] = []
    reader = threading.Thread(target=_read_stderr, args=(process.stderr, progress, tail), daemon=True)
    reader.start()
    try:
        while process.poll() is None:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            time.sleep(poll)
    except BaseException:
        process.kill()  # a kill skips the CLI's own clean-up, so remove its files here
        process.wait()
        _remove_leftovers(out)
        raise
    finally:
        reader.join(timeout=5)
    if process.returncode != 0:
        _remove_leftovers(out)
        last = tail[-1] if tail else f"exit code {process.returncode}"
        raise ResolveScriptError(f"muvi could not score {video}: {last}")
    details = json.loads(report.read_text(encoding="utf-8"))
    report.unlink()
    return Take(out, details)


__all__ = ["Cancelled", "Take", "default_command", "parse_progress", "run_muvi_score"]
