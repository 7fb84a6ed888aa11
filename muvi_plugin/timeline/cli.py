"""`muvi timeline score` and `muvi batch`: argument parsing over `score_job` and `run_batch`.

muvi timeline score TIMELINE [--range START-END ...] [--markers NAME] [--marker-color COLOUR] [--whole]
                    --out NEW.otio [--seed N] [--steps N] [--cfg X] [--search-root DIR ...]
                    [--missing error|black] [--bundle DIR] [--device ...] [--threads N] [--loudness LUFS]
muvi batch TIMELINE... --out-dir DIR [--jobs N] [--format .otio] [same range and settings options]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from muvi_plugin.console import add_timeline_options


def add_parsers(commands) -> None:
    """Add `timeline score` and `batch` to the `muvi` subcommands."""
    timeline = commands.add_parser("timeline", help="score ranges of an OpenTimelineIO timeline")
    actions = timeline.add_subparsers(dest="action", required=True)
    score = actions.add_parser("score", help="write a new timeline with music on a new audio track")
    score.add_argument("timeline", type=Path, help=".otio/.otioz/.otiod, EDL, FCP 7 XML or FCPXML")
    score.add_argument("--out", type=Path, required=True, help="the new timeline (.otio is lossless)")
    add_timeline_options(score)

    batch = commands.add_parser("batch", help="score many timelines in parallel processes, resumably")
    batch.add_argument("timelines", type=Path, nargs="+", help="the timelines")
    batch.add_argument("--out-dir", type=Path, required=True, help="new timelines, audio, manifest, summary")
    batch.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    batch.add_argument("--format", default=".otio", help="new timelines' format (default .otio)")
    add_timeline_options(batch)


def _job(args: argparse.Namespace, timeline: Path, out: Path):
    from muvi_plugin.timeline.score import TimelineJob

    return TimelineJob(
        timeline=timeline,
        out=out,
        ranges=tuple(args.ranges),
        marker_name=args.markers,
        marker_color=args.marker_color,
        whole=args.whole,
        seed=args.seed,
        steps=args.steps,
        guidance=args.cfg,
        loudness=args.loudness,
        search_roots=tuple(args.search_roots),
        missing=args.missing,
        edl_rate=args.edl_rate,
    )


def score(args: argparse.Namespace, *, cancel, progress_bar) -> int:
    """`muvi timeline score`."""
    from muvi_plugin import limits
    from muvi_plugin.api import load_bundle
    from muvi_plugin.timeline.score import open_job, score_job
    from muvi_plugin.timeline.writing import TRACK_NAME

    if args.threads is not None:
        limits.integer("--threads", args.threads, limits.THREADS)
    job = _job(args, args.timeline, args.out)
    plan = open_job(job)  # a bad timeline, range or missing media fails here, before the model loads
    scorer = load_bundle(args.bundle, device=args.device, threads=args.threads)
    with progress_bar() as progress:
        result = score_job(scorer, job, plan=plan, progress=progress, cancel=cancel)
    for line in result.warnings:
        print(f"muvi: warning: {line}", file=sys.stderr)
    for s in result.scored:
        start, end = s.range.seconds
        print(f"{s.audio}: {s.range.name} ({start:.3f}-{end:.3f} s, {s.range.frames} frames)")
    print(f"{result.out}: {len(result.scored)} range(s) scored on a new audio track '{TRACK_NAME}'")
    return 0


def batch(args: argparse.Namespace) -> int:
    """`muvi batch`: exit 0 when every timeline was scored or already done, 2 when any failed."""
    from muvi_plugin import guard, limits
    from muvi_plugin.timeline.batch import BatchOptions, run_batch, summary_table
    from muvi_plugin.timeline.score import check_format, check_settings

    limits.integer("--jobs", args.jobs, limits.JOBS)
    if args.threads is not None:
        limits.integer("--threads", args.threads, limits.THREADS)
    guard.check_folder(args.out_dir)  # an existing file named as --out-dir: one line, before any work
    suffix = args.format if args.format.startswith(".") else f".{args.format}"
    template = _job(args, Path("in.otio"), args.out_dir / f"out{suffix}")
    check_settings(template)  # a setting out of range or a refused format: once, before any work
    check_format(template)
    options = BatchOptions(
        out_dir=args.out_dir,
        template=_job(args, Path(), Path()),
        jobs=args.jobs,
        bundle=args.bundle,
        device=args.device,
        threads=args.threads if args.threads is not None else 1,
        suffix=suffix,
    )
    summaries = run_batch(list(args.timelines), options)
    print(summary_table(summaries))
    print(json.dumps({"summary": str(args.out_dir / "muvi-batch-summary.json")}))
    return 2 if any(s.status == "failed" for s in summaries) else 0


__all__ = ["add_parsers", "batch", "score"]
