"""Sync on real footage: do the embedded model's music onsets land on the picture's events?

For every video of a folder (default `../shared/media/`), the range `[0, min(end of video, --end))` is scored
with a bundle (default the embedded one, `muvi_plugin.api.load_bundle()`; seed 0, its default steps and
guidance, mastered as `muvi score` masters). The picture's events come from `muvi_plugin.rhythm` decoded at
the video's own rate (at most 30 fps; `training.metrics.sync.picture_events`), the music's onsets from
librosa's onset detector (`training.metrics.audio_stats.onset_times`). Per clip and pooled over all events
(every event counts once), it reports the hit rate (share of events with an onset within 100 ms), the
chance level (the same onsets shifted circularly by 8 offsets from 0.5 s to the length - 0.5 s) and their
ratio, for four kinds of audio:

- `music`: the model's take;
- `clicks on events`: a click on every event (the sanity ceiling: every event hit, far above chance);
- `random clicks`: as many clicks as the take has onsets, at uniformly random times (seeded), averaged
  over `RANDOM_DRAWS` draws: music whose onsets ignore the picture (the sanity floor, near 1);
- `plan beats`: a click on every beat of the take's tempo plan (`ScoreReport.tempo_plan`): what music that
  followed the plan would score at most, beat onsets only.

Run from the repository root:
    python -m benchmarks.sync_real                                   # table to stdout
    python -m benchmarks.sync_real --write docs/benchmarks.md --json sync_real.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import shlex
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from benchmarks.sections import replace_section
from benchmarks.soak import machine

SECTION = "## Sync on real footage"
MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".m4v", ".avi")
KINDS = ("music", "clicks on events", "random clicks", "plan beats")
RANDOM_DRAWS = 20


def measure_clip(scorer, path: Path, *, end: float | None, seed: int, rng: np.random.Generator) -> dict:
    """One clip: its events, the take, and the sync of each kind of audio."""
    from muvi_plugin import media
    from muvi_plugin.api import ScoreRequest
    from training.metrics.audio_stats import onset_times
    from training.metrics.sync import click_track, picture_events, visual_sync

    span = media.probe(path).video_end
    span = span if end is None else min(span, end)
    events = picture_events(path, start=0.0, end=span)
    times = np.array([e.time for e in events])
    began = time.perf_counter()
    result = scorer.score(ScoreRequest(path, start=0.0, end=span, seed=seed))
    took = time.perf_counter() - began
    rate = result.sample_rate
    plan = result.report.tempo_plan
    onsets = onset_times(result.audio, rate)
    audio = {
        "clicks on events": click_track(times, span, rate),
        "plan beats": click_track(np.array(plan.beats if plan else []), span, rate),
    }
    syncs = {"music": visual_sync(events, onsets, start=0.0, duration=span)}
    for kind, wave in audio.items():
        syncs[kind] = visual_sync(events, onset_times(wave, rate), start=0.0, duration=span)
    draws = []
    for _ in range(RANDOM_DRAWS):
        wave = click_track(np.sort(rng.uniform(0.0, span, len(onsets))), span, rate)
        draws.append(visual_sync(events, onset_times(wave, rate), start=0.0, duration=span))
    syncs["random clicks"] = dataclasses.replace(
        draws[0],
        onsets=np.zeros(0),
        hit_rate=float(np.mean([d.hit_rate for d in draws])) if events else math.nan,
        shifted_hit_rates=np.concatenate([d.shifted_hit_rates for d in draws]),
        shifted_mean=float(np.mean([d.shifted_mean for d in draws])) if events else math.nan,
    )
    return {
        "clip": path.name,
        "seconds": span,
        "score_seconds": took,
        "events": len(events),
        "kinds": {k: sum(e.kind == k for e in events) for k in ("cut", "motion", "brightness")},
        "tempo": None if plan is None else plan.tempo,
        "plan_on_beat": None if plan is None else plan.on_beat,
        "plan_events": None if plan is None else len(plan.hits),
        "sync": {kind: syncs[kind] for kind in KINDS},
    }


def _cell(hit: float, shifted: float, ratio: float) -> str:
    if np.isnan(hit):
        return "–"
    return f"{hit:.2f} / {shifted:.2f} = " + (f"{ratio:.1f}×" if np.isfinite(ratio) else "∞")


def table(rows: list[dict]) -> list[str]:
    """Markdown: one row per clip and the pooled row; each cell `hit rate / shifted = ratio`."""
    from training.metrics.sync import pooled_sync

    lines = [
        "| clip | s | events (cut/motion/bright) | plan: BPM, its events on beats | "
        + " | ".join(KINDS)
        + " |",
        "|---|---:|---|---|" + "---|" * len(KINDS),
    ]
    for r in rows:
        k = r["kinds"]
        plan = f"{r['tempo']:g}, {r['plan_on_beat']}/{r['plan_events']}" if r["tempo"] is not None else "–"
        cells = [_cell(s.hit_rate, s.shifted_mean, s.ratio) for s in (r["sync"][kind] for kind in KINDS)]
        counts = f"{r['events']} ({k['cut']}/{k['motion']}/{k['brightness']})"
        lines.append(f"| {r['clip']} | {r['seconds']:.1f} | {counts} | {plan} | " + " | ".join(cells) + " |")
    pooled = [pooled_sync([r["sync"][kind] for r in rows]) for kind in KINDS]
    events = pooled[0].events
    cells = [_cell(p.hit_rate, p.shifted_mean, p.ratio) for p in pooled]
    lines.append(
        f"| **pooled** ({pooled[0].clips} clips) | | {events} | | "
        + " | ".join(f"**{c}**" for c in cells)
        + " |"
    )
    return lines


def markdown(
    rows: list[dict], *, command: str, date: str, info: dict[str, str], load: list[float], seconds: float
) -> str:
    intro = (
        f"`{command}` on {date}: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM, ONNX Runtime "
        f"{info['onnxruntime']}, Python {info['python']}, load average {load[0]:.1f} at the start and "
        f"{load[1]:.1f} at the end (the machine is shared with a training job); {seconds:.0f} s in all. "
        "Every clip of `../shared/media/` scored from 0 with the embedded model (seed 0, its default steps "
        "and guidance, mastered), events by `muvi_plugin.rhythm` at the video's own rate (at most 30 fps), "
        "onsets by librosa (`benchmarks/sync_real.py`). Each cell: hit rate (events with an onset within "
        "100 ms) / the same onsets circularly shifted (mean of 8 shifts: chance) = ratio. Pooled: every "
        "event of every clip counts once. `clicks on events` is the sanity ceiling; `random clicks` (as "
        f"many as the take's onsets, uniformly random, mean of {RANDOM_DRAWS} seeded draws) the floor; "
        "`plan beats` clicks every beat of the take's tempo plan. The plan is the runtime's: its own events "
        "found at 10 fps on the model's 96-pixel frames (the `plan` column counts those on a beat)."
    )
    from training.metrics.sync import pooled_sync

    music = pooled_sync([r["sync"]["music"] for r in rows])
    hits = round(music.hit_rate * music.events) if music.events else 0
    low, high = wilson(hits, music.events)
    after = (
        f"Pooled, the music hits {hits} of {music.events} events (95% Wilson interval {low:.2f}-{high:.2f} "
        "for the hit rate: one take, one seed, few events; read the ratio with that width in mind). The "
        "model does not take the tempo plan as a condition yet (issue 16), so `plan beats` is not what "
        "the music does but what beat onsets alone would reach if it followed the plan."
    )
    lines = [SECTION, "", *textwrap.wrap(intro, width=110, break_on_hyphens=False), "", *table(rows), ""]
    return "\n".join([*lines, *textwrap.wrap(after, width=110, break_on_hyphens=False)]) + "\n"


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion `hits / n` (NaNs for n = 0)."""
    if n == 0:
        return math.nan, math.nan
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sync_real", description=__doc__.split("\n")[0])
    p.add_argument("--media", type=Path, default=MEDIA, help="folder of videos (default ../shared/media)")
    p.add_argument("--end", type=float, default=None, help="score at most this many seconds of each clip")
    p.add_argument("--bundle", type=Path, default=None, help="bundle (default: the embedded one)")
    p.add_argument("--seed", type=int, default=0, help="the takes' seed (default 0)")
    p.add_argument("--write", type=Path, help="put the table in this file's 'Sync on real footage' section")
    p.add_argument("--json", type=Path, help="also keep every clip's numbers, events and onsets here")
    args = p.parse_args(argv)
    videos = (
        sorted(v for v in args.media.iterdir() if v.suffix.lower() in VIDEO_SUFFIXES)
        if args.media.is_dir()
        else []
    )
    if not videos:
        p.error(f"{args.media}: no videos")
    if args.end is not None and not args.end > 0:
        p.error("--end must be positive")
    from muvi_plugin.api import load_bundle

    load = [os.getloadavg()[0]]
    began = time.perf_counter()
    scorer = load_bundle(args.bundle, device="cpu")
    rng = np.random.default_rng(args.seed)
    rows = []
    for video in videos:
        row = measure_clip(scorer, video, end=args.end, seed=args.seed, rng=rng)
        print(f"{video.name}: {row['events']} events, scored in {row['score_seconds']:.1f} s", flush=True)
        rows.append(row)
    load.append(os.getloadavg()[0])
    print("\n".join(table(rows)))
    if args.json:
        kept = [{**r, "sync": {k: s.as_dict() for k, s in r["sync"].items()}} for r in rows]
        args.json.write_text(json.dumps(kept, indent=1))
    if args.write:
        command = "python -m benchmarks.sync_real " + shlex.join(argv if argv is not None else sys.argv[1:])
        text = markdown(
            rows,
            command=command.strip(),
            date=datetime.date.today().isoformat(),
            info=machine(),
            load=load,
            seconds=time.perf_counter() - began,
        )
        replace_section(args.write, SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
