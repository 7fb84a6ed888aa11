"""The scoring job, run as a script in a child process with Blender's Python (`sys.executable`).

    python job.py '{"video": ..., "start": 0.0, "end": 4.0, "seed": 1, "out": ".../music.wav", ...}'

It imports only `muvi_plugin` (no `bpy`, no relative imports: it runs as a plain script) so that a crash
in a native library (ONNX Runtime, FFmpeg) ends this process, never Blender. It reports on stdout, one
JSON object a line: `{"stage": s, "fraction": f}` while working, then `{"done": path, "report": {...}}`.
Errors go to stderr (the job's log) with exit code 2; the parent cancels the job by killing the process.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _emit(message: dict) -> None:
    print(json.dumps(message), flush=True)  # flushed: the parent reads progress while we work


def run(spec: dict) -> dict:
    """Score `spec`'s range and write the mastered music to `spec["out"]` (atomically); the take's record."""
    from muvi_plugin import guard
    from muvi_plugin.api import ScoreRequest, load_bundle

    request = ScoreRequest(
        video=spec["video"],
        start=spec["start"],
        end=spec["end"],
        seed=spec["seed"],
        steps=spec.get("steps"),
        guidance=spec.get("guidance"),
        style=spec.get("style") or None,
    )
    request.validate()  # settings out of range, an output over an input: refused before the model loads
    guard.check_outputs({"out": spec["out"]}, [("video", spec["video"]), ("style reference", request.style)])
    _emit({"stage": "load", "fraction": 0.0})
    scorer = load_bundle(spec.get("bundle") or None, device=spec.get("device", "auto"))

    def progress(stage: str, fraction: float) -> None:
        _emit({"stage": stage, "fraction": fraction})

    result = scorer.score(request, progress=progress)
    result.write(spec["out"])
    return result.report.to_dict()


def main(argv: list[str]) -> int:
    """Run the job given as one JSON argument; 0 done, 2 failed (the reason on stderr)."""
    # Run as a script, this folder comes first on sys.path: its modules (compat, jobs, timeline, ...) would
    # shadow any top-level module of the same name that muvi's dependencies import.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = json.loads(argv[1])
    from muvi_plugin.errors import MuviError

    try:
        report = run(spec)
    except Exception as error:  # any failure is the job's failure: the log shows it, Blender carries on
        if not isinstance(error, MuviError):  # muvi's own errors are one line; anything else is a bug
            traceback.print_exc(file=sys.stderr)
        print(f"muvi: error: {error}", file=sys.stderr, flush=True)
        return 2
    _emit({"done": spec["out"], "report": report})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
