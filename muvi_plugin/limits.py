"""The documented range of every setting; values outside are refused with one line (docs/reliability.md).

The API (`ScoreRequest.validate`), the bundle defaults (`muvi_plugin.manifest.Defaults`), the timeline
jobs and the command line all check against these, so every front end refuses the same values.

    setting                      range                      why
    seed                         integer 0 to 2**63 - 1     numpy's generator takes any; 64-bit for JSON
    steps                        integer 1 to 200           MuVi uses 25; 8 already scores as well
    guidance (--cfg)             0 to 20                    1 is no guidance, 0 unconditional
    start, end, style start      finite seconds             (then checked against the media)
    loudness                     -70 to 0 LUFS, or off      EBU R128's gate is -70 LUFS
    tempo (--tempo)              60 to 180 BPM              the tempo plan's range (muvi_plugin.rhythm)
    true-peak ceiling            -20 to 0 dBTP              mastering's limiter (muvi_plugin.mastering)
    style seconds (bundle)       0.1 to 120 s               the longest style prompt
    window seconds (bundle)      1 to 120 s                 MuVi trains on 4-30 s
    context seconds (bundle)     0 to below the window
    crossfade seconds (bundle)   0 to the context
    threads                      integer 1 to 1024          ONNX Runtime intra-op threads
    jobs (muvi batch)            integer 1 to 1024          worker processes
    EDL rate                     1 to 1000 frames/s
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from muvi_plugin.errors import MuviError

SEED = (0, 2**63 - 1)
STEPS = (1, 200)
GUIDANCE = (0.0, 20.0)
LOUDNESS = (-70.0, 0.0)
TRUE_PEAK = (-20.0, 0.0)
TEMPO = (60.0, 180.0)
STYLE_SECONDS = (0.1, 120.0)
WINDOW_SECONDS = (1.0, 120.0)
THREADS = (1, 1024)
JOBS = (1, 1024)
EDL_RATE = (1.0, 1000.0)


def integer(name: str, value: object, bounds: tuple[int, int]) -> int:
    """`value` as an int when it is an integer (not a bool) within `bounds`.

    Raises:
        MuviError: "steps must be an integer from 1 to 200, got 100000".
    """
    low, high = bounds
    if not isinstance(value, Integral) or isinstance(value, bool) or not low <= int(value) <= high:
        raise MuviError(f"{name} must be an integer from {low:,} to {high:,}, got {value!r}")
    return int(value)


def number(name: str, value: object, bounds: tuple[float, float] | None = None, *, unit: str = "") -> float:
    """`value` as a float when it is a finite real number (within `bounds` when given).

    Raises:
        MuviError: "guidance must be a finite number from 0 to 20, got -5" (a NaN or an infinity is named
            as such: "start must be a finite number of seconds, got nan").
    """
    unit = f" {unit}" if unit else ""
    where = "" if bounds is None else f" from {bounds[0]:g} to {bounds[1]:g}{unit}"
    of = f" of{unit}" if bounds is None and unit else ""
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value):
        raise MuviError(f"{name} must be a finite number{of}{where}, got {value!r}")
    if bounds is not None and not bounds[0] <= float(value) <= bounds[1]:
        raise MuviError(f"{name} must be a finite number{where}, got {value:g}")
    return float(value)


def loudness(value: float | None) -> float | None:
    """A loudness target: None (the bundle's), NaN (off) or -70 to 0 LUFS.

    Raises:
        MuviError: Outside the range, or infinite.
    """
    if value is None or (isinstance(value, Real) and math.isnan(value)):
        return value
    return number("loudness", value, LOUDNESS, unit="LUFS")


__all__ = [
    "EDL_RATE",
    "GUIDANCE",
    "JOBS",
    "LOUDNESS",
    "SEED",
    "STEPS",
    "STYLE_SECONDS",
    "TEMPO",
    "THREADS",
    "TRUE_PEAK",
    "WINDOW_SECONDS",
    "integer",
    "loudness",
    "number",
]
