"""Euler steps against sync, quality and time: the same bundle evaluated at 8, 16 and 25 steps.

Each step count runs `training.recipe_eval.evaluate_recipe` on the recipe's held-out clips (against the
shuffled-video baseline) and on real footage, with the same seed, and the table puts its mean BCS, BHS, F,
SIM and sync hit rates next to the seconds it took. Meaningful on a trained bundle (the embedded default
model); on an untrained one it only shows the timing.

Run from the repository root:
    python -m benchmarks.steps_quality --work runs/demo --bundle muvi_plugin/default_bundle \\
        --footage ../shared/media/*.mp4 --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

SECTION = "## Steps against quality"
STEPS = (8, 16, 25)


def measure(args: argparse.Namespace, out: Path) -> list[dict]:
    """One `evaluate_recipe` report per step count, in step order."""
    from training.recipe_eval import evaluate_recipe

    rows = []
    for steps in args.steps:
        report = evaluate_recipe(
            args.work,
            bundle=args.bundle,
            contrastive=args.contrastive,
            out=out / f"steps-{steps}",
            footage=args.footage,
            seconds=args.seconds,
            seed=args.seed,
            steps=steps,
            limit=args.limit,
            progress=lambda *_: None,
        )
        rows.append({"steps": steps, "report": report})
        print(f"{steps} steps: {report['timings']['total_s']:.0f} s", file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict], *, command: str) -> str:
    first = rows[0]["report"]
    syn = first["synthetic"]["summary"]
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Measured {date} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"bundle `{first['bundle']['id']}`, {syn['clips']} held-out clips "
        f"({first['settings']['seconds']:g} s each, seed {first['settings']['seed']}) and "
        f"{first['footage']['summary']['files']} footage files, "
        "with:",
        "",
        f"    {command}",
        "",
        "Model / shuffled-video baseline on the held-out clips; footage: hit rate of visual events vs the "
        "same music shifted in time. Seconds: the whole evaluation at that step count: scoring and the "
        "metrics' own analysis (beat tracking, SIM, video events), which dominates at the demo size.",
        "",
        "| steps | BCS | BHS | F | SIM | sync hit rate | footage hit rate / shifted | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def pair(summary: dict, key: str, digits: int) -> str:
        a, b = summary["model"].get(key), summary["shuffled"].get(key)
        return " / ".join("–" if v is None else f"{v:.{digits}f}" for v in (a, b))

    for row in rows:
        r = row["report"]
        s, f = r["synthetic"]["summary"], r["footage"]["summary"]
        footage = " / ".join("–" if v is None else f"{v:.3f}" for v in (f["hit_rate"], f["shifted_mean"]))
        lines.append(
            f"| {row['steps']} | {pair(s, 'bcs', 1)} | {pair(s, 'bhs', 1)} | {pair(s, 'f_measure', 3)} | "
            f"{pair(s, 'sim', 2)} | {pair(s, 'sync_hit_rate', 3)} | {footage} | "
            f"{r['timings']['total_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _parsed_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.steps_quality", description=__doc__.split("\n")[0])
    p.add_argument("--work", required=True, help="the recipe's work folder (held-out clips, contrastive)")
    p.add_argument("--bundle", help="the bundle (default WORK/bundle)")
    p.add_argument("--contrastive", help="contrastive checkpoint for SIM (default: newest in WORK)")
    p.add_argument("--footage", nargs="*", default=[], help="real video files")
    p.add_argument("--steps", nargs="+", type=int, default=list(STEPS))
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--limit", type=int, help="held-out clips used (default all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write", type=Path, metavar="MD", help="replace the section of this file")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the reports as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parsed_args(argv)
    command = shlex.join(
        ["python", "-m", "benchmarks.steps_quality", *(sys.argv[1:] if argv is None else argv)]
    )
    with tempfile.TemporaryDirectory(prefix="muvi-steps-") as out:
        rows = measure(args, Path(out))
    text = markdown(rows, command=command)
    print(text)
    if args.write:
        from benchmarks.sections import replace_section

        replace_section(args.write, SECTION, text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
