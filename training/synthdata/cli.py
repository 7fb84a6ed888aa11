"""`python -m training.synthdata` (also `muvi-train make-data`): make a synthetic video-music data set.

Example:
    python -m training.synthdata --out data/synth --hours 3 --seed 0 --jobs 2
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from tqdm import tqdm

from training.synthdata.corpus import SkippedPieceWarning
from training.synthdata.generate import GenerateConfig, default_pieces, generate, plan
from training.synthdata.render import RenderError


def _parsed_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="muvi-train make-data",
        description="Render videos with music soundtracks from music21's corpus (train/test split by piece). "
        "Resumable: finished clips are kept.",
    )
    p.add_argument("--out", required=True, help="output folder (gets train/ and test/)")
    p.add_argument("--hours", type=float, required=True, help="hours of clips in all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--test-fraction", type=float, default=0.1, help="share of pieces and hours held out")
    p.add_argument("--min-seconds", type=float, default=20.0, help="shortest clip")
    p.add_argument("--max-seconds", type=float, default=60.0, help="longest clip")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parsed_args(argv)
    try:
        config = GenerateConfig(
            out=args.out,
            hours=args.hours,
            seed=args.seed,
            test_fraction=args.test_fraction,
            min_seconds=args.min_seconds,
            max_seconds=args.max_seconds,
        )
        if args.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
        pieces = default_pieces(config)
        clips = sum(len(job.renderings) for job in plan(config, pieces))
        started = time.monotonic()
        with tqdm(total=clips, unit="clip", disable=args.no_progress) as bar, warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedPieceWarning)  # listed in the summary instead
            summary = generate(config, jobs=args.jobs, progress=bar.update, pieces=pieces)
    except (ValueError, FileNotFoundError, RenderError) as error:
        print(f"make-data: error: {error}", file=sys.stderr)
        return 2
    wall = time.monotonic() - started
    for split in summary.files:
        print(
            f"{split}: {summary.files[split]} files, {summary.seconds[split] / 3600:.2f} h, "
            f"{summary.pieces[split]} pieces"
        )
    total = sum(summary.seconds.values())
    print(f"total: {total / 3600:.2f} h in {args.out}")
    if summary.rendered_seconds:
        per_minute = summary.cpu_seconds / (summary.rendered_seconds / 60)
        print(
            f"rendered {summary.rendered_seconds / 60:.1f} min this run in {wall:.0f} s: "
            f"{per_minute:.1f} CPU s per minute of data (workers and FluidSynth)"
        )
    if summary.skipped:
        print(f"{len(summary.skipped)} pieces skipped (another took their place):")
        for reason in summary.skipped[:10]:
            print(f"  {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
