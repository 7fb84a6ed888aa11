"""`muvi-eval`: evaluate generated music. Argument parsing over `training.metrics.evaluate.evaluate`.

    muvi-eval --generated DIR_OR_FILES... [--reference DIR_OR_FILES...] [--video DIR_OR_FILES...]
              [--contrastive-checkpoint CKPT] [--vggish-weights FILE] [--panns-weights FILE]
              --out report.json [--plots DIR] [--no-progress]

Files are paired by name (see `evaluate`). Exit codes: 0 done; 2 bad input (one line on stderr naming
the file, nothing written); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
_SHOWN = (
    "bcs",
    "bhs",
    "f_measure",
    "sync_hit_rate",
    "sync_shifted_mean",
    "sim",
    "fad",
    "fd",
    "kl_softmax",
    "is",
)


def _parsed_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="muvi-eval",
        description="Evaluate generated music: beats (BCS/BHS) against references, sync with the video's "
        "cuts and motion, SIM, FAD/FD/KL/IS, and embedding-free statistics.",
    )
    files = {"nargs": "+", "type": Path, "metavar": "PATH"}
    parser.add_argument("--generated", required=True, help="generated music files or folders", **files)
    parser.add_argument("--reference", default=[], help="reference music, paired by file name", **files)
    parser.add_argument("--video", default=[], help="the videos, paired by file name", **files)
    parser.add_argument("--contrastive-checkpoint", type=Path, metavar="CKPT", help="for SIM")
    parser.add_argument("--vggish-weights", type=Path, metavar="FILE", help="torchvggish weights, for FAD")
    parser.add_argument(
        "--panns-weights", type=Path, metavar="FILE", help="PANNs CNN14 weights, for FD/KL/IS"
    )
    parser.add_argument("--out", required=True, type=Path, help="the JSON report to write")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="write one PNG timeline per file here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `muvi-eval`; returns the exit code."""
    from muvi_plugin.errors import MuviError
    from training.metrics.evaluate import evaluate

    args = _parsed_args(argv)
    try:
        report = evaluate(
            args.generated,
            reference=args.reference,
            video=args.video,
            contrastive_checkpoint=args.contrastive_checkpoint,
            vggish_weights=args.vggish_weights,
            panns_weights=args.panns_weights,
            out=args.out,
            plots=args.plots,
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        print("muvi-eval: interrupted; no report written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (MuviError, OSError) as error:  # bad input, or the report cannot be written where asked
        print(f"muvi-eval: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    summary = report["summary"]
    print(f"muvi-eval: {summary['files']} files -> {args.out}")
    for key in _SHOWN:
        value = summary[key]
        print(
            f"  {key:<18} {value:.4g}" if value is not None else f"  {key:<18} -  ({summary[f'{key}_note']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
