"""Takes on real footage, bundle against bundle: what a listener hears and how long it takes.

For every video of a media folder (default `../shared/media`) and every seed, each ``--bundle NAME=DIR``
scores the first ``--seconds`` of the video through the scoring API (mastering included, as a user gets
it), in turn, in one process: the bundles see the same load. Each take is measured with
`training/metrics/musicality.py`: the comb share on the multiples of the 80 Hz mel frame rate (the buzz of
issue 14; chance 0.05), the in-tune share of voiced frames (pYIN, +-25 cents of A440 12-TET), the voiced
share, the key, and the integrated loudness reached (`ScoreReport.mastering`). Speed: seconds of scoring
per second of music (RTF) and each bundle's total against the first one's.

Run from the repository root, e.g. the shipped bundle against the one before it:
    python -m benchmarks.takes --bundle v1=/tmp/muvi-demo-v1 --bundle v1.1=muvi_plugin/default_bundle \\
        --seeds 1 2 --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

SECTION = "## Takes on real footage"
MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi"}


def measure(scorers: dict[str, Any], videos: list[Path], seeds: list[int], seconds: float) -> list[dict]:
    """One row per (bundle, video, seed): the take's musicality, loudness and speed."""
    from muvi_plugin.api import ScoreRequest
    from muvi_plugin.media import probe
    from training.metrics.musicality import musicality

    rows = []
    for video in videos:
        end = min(seconds, probe(video).duration)
        for seed in seeds:
            for name, scorer in scorers.items():
                began = time.perf_counter()
                result = scorer.score(ScoreRequest(video, start=0.0, end=end, seed=seed))
                spent = time.perf_counter() - began
                m = musicality(result.audio, result.sample_rate)
                mastering = result.report.mastering
                rows.append(
                    {
                        "bundle": name,
                        "video": video.name,
                        "seed": seed,
                        "seconds": end,
                        "score_seconds": spent,
                        "rtf": spent / end,
                        "comb_share": m["comb_share"],
                        "in_tune_share": m["in_tune_share"],
                        "voiced_share": m["voiced_share"],
                        "key": m["key"],
                        "loudness_lufs": None if mastering is None else mastering.loudness_lufs,
                    }
                )
                print(
                    f"{name} {video.name} seed {seed}: comb {m['comb_share']:.3f}, in tune "
                    f"{m['in_tune_share']:.3f}, key {m['key']}, {spent:.1f} s",
                    flush=True,
                )
    return rows


def summary(rows: list[dict], names: list[str]) -> list[str]:
    """Markdown rows: per bundle, the mean (min-max) of each measure over takes, the keys and the speed."""

    def span(values: list[float]) -> str:
        v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
        return "–" if v.size == 0 else f"{v.mean():.3f} ({v.min():.3f}–{v.max():.3f})"

    first = sum(r["score_seconds"] for r in rows if r["bundle"] == names[0])
    lines = [
        "| bundle | takes | comb share | in tune | voiced | keys (distinct) | loudness (LUFS) | RTF "
        "| time vs "
        f"{names[0]} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        mine = [r for r in rows if r["bundle"] == name]
        keys = sorted({r["key"] for r in mine})
        total = sum(r["score_seconds"] for r in mine)
        lines.append(
            f"| {name} | {len(mine)} | {span([r['comb_share'] for r in mine])} | "
            f"{span([r['in_tune_share'] for r in mine])} | {span([r['voiced_share'] for r in mine])} | "
            f"{', '.join(keys)} ({len(keys)}) | {span([r['loudness_lufs'] for r in mine])} | "
            f"{span([r['rtf'] for r in mine])} | {total / first:.2f}x |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.takes", description=__doc__.split("\n")[0])
    p.add_argument("--bundle", action="append", required=True, metavar="NAME=DIR", help="repeatable")
    p.add_argument("--media", type=Path, default=MEDIA, help="folder of videos (default ../shared/media)")
    p.add_argument("--seconds", type=float, default=10.0, help="score the first S seconds of each video")
    p.add_argument("--seeds", type=int, nargs="+", default=[1], help="seeds of the takes (default 1)")
    p.add_argument("--write", type=Path, help="put the table in this file's 'Takes on real footage' section")
    args = p.parse_args(argv)
    bundles = dict(b.split("=", 1) for b in args.bundle if "=" in b)
    if len(bundles) != len(args.bundle):
        p.error("--bundle takes NAME=DIR")
    videos = sorted(v for v in args.media.glob("*") if v.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        p.error(f"{args.media}: no videos")
    if not args.seconds > 0:
        p.error("--seconds must be positive")
    from muvi_plugin.api import load_bundle

    scorers = {name: load_bundle(path, device="cpu") for name, path in bundles.items()}
    load = [os.getloadavg()[0]]
    rows = measure(scorers, videos, args.seeds, args.seconds)
    load.append(os.getloadavg()[0])
    lines = summary(rows, list(bundles))
    print("\n".join(lines))
    if args.write is not None:
        from benchmarks.sections import invocation, measured, replace_section

        command = invocation("benchmarks.takes", argv)
        text = (
            f"{SECTION}\n\n"
            f"{measured(load)}, {len(videos)} videos of `{args.media.name}/`, the first "
            f"{args.seconds:g} s of each, seeds {', '.join(map(str, args.seeds))}, every bundle in turn in "
            f"one process (`benchmarks/takes.py` defines every column), with:\n\n    {command}\n\n"
            "Mean over takes (min–max). Takes of one video are not independent samples.\n\n"
            + "\n".join(lines)
            + "\n"
        )
        replace_section(args.write, SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
