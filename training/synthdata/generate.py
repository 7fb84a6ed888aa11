"""The data set: a plan of clips drawn from the seed, rendered in parallel, resumable, split by piece.

Layout of an output folder:
    DIR/train/000000.mkv, 000000.json, ...   a clip and its sidecar (piece, seed, arrangement, cuts, events)
    DIR/train/manifest.json                  every finished clip of the split, without the event lists
    DIR/test/...                             the same for the held-out pieces

The plan is a pure function of (seed, hours, config): each split draws from its own generator, so a plan
for more hours extends the plan for fewer, clip for clip, and a larger run resumes a smaller one. Which
pieces are held out depends on the piece names alone (a hash), not on the seed: every run, whatever its
seed or length, holds out the same pieces, so no run's training set contains another run's test pieces.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import resource
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from muvi_plugin.atomic import remove_stale, write_text
from training.synthdata.corpus import (
    PieceError,
    PieceRef,
    PieceScore,
    SkippedPieceWarning,
    catalogue,
    corpus_root,
    load_piece,
)
from training.synthdata.encode import write_clip
from training.synthdata.music import MusicConfig, render_music
from training.synthdata.video import VideoConfig, plan_cuts, render_frames

SPLITS = ("train", "test")
# Corpus folders grouped by kind of music, and how often each group is drawn. The Essen folk songs
# (`essenFolksong/`) are left out: their licence allows non-commercial use only, and the embedded default
# model trained on this data ships with an Apache-2.0 product (README.md, "Licences of the sources").
GROUPS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("chorales", 3.0, ("bach",)),
    ("fiddle tunes", 4.0, ("ryansMammoth", "oneills1850", "airdsAirs", "miscFolk", "nottingham-dataset")),
    ("renaissance", 1.5, ("palestrina", "monteverdi", "josquin", "trecento", "ciconia", "luca", "lusitano")),
    (
        "classical",
        1.5,
        ("beethoven", "mozart", "haydn", "schubert", "schumann_robert", "schumann_clara", "chopin", "handel")
        + ("corelli", "cpebach", "joplin", "beach", "verdi", "weber", "johnson_j_r", "liliuokalani"),
    ),
)
_FALLBACKS = 4  # other pieces a job may use when its piece does not parse


@dataclass(frozen=True)
class GenerateConfig:
    """A data set to make.

    Attributes:
        out: output folder.
        hours: total hours of clips (both splits).
        seed: seeds the whole plan.
        test_fraction: share of the pieces, and of the hours, held out for testing.
        min_seconds, max_seconds: clip length range (clips are whole tenths of a second).
        renderings: (fewest, most) clips rendered from each piece drawn, each randomised anew.
        groups: (name, weight, corpus folders) the pieces are drawn from.
        music, video: how clips are rendered.
    """

    out: str
    hours: float
    seed: int = 0
    test_fraction: float = 0.1
    min_seconds: float = 20.0
    max_seconds: float = 60.0
    renderings: tuple[int, int] = (2, 4)
    groups: tuple[tuple[str, float, tuple[str, ...]], ...] = GROUPS
    music: MusicConfig = field(default_factory=MusicConfig)
    video: VideoConfig = field(default_factory=VideoConfig)

    def __post_init__(self) -> None:
        if self.hours <= 0:
            raise ValueError(f"hours must be positive, got {self.hours}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be between 0 and 1, got {self.test_fraction}")
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError(
                f"need 0 < min_seconds <= max_seconds, got {self.min_seconds}, {self.max_seconds}"
            )
        if not 1 <= self.renderings[0] <= self.renderings[1]:
            raise ValueError(
                f"renderings must be (fewest, most) with 1 <= fewest <= most, got {self.renderings}"
            )


@dataclass(frozen=True)
class Rendering:
    """One planned clip: its file stem in the split folder, its own seed and its length."""

    name: str
    seed: int
    duration: float


@dataclass(frozen=True)
class Job:
    """Renderings of one piece (the others in `pieces` stand in, in order, if it does not parse)."""

    split: str
    pieces: tuple[PieceRef, ...]
    renderings: tuple[Rendering, ...]


@dataclass
class Summary:
    """What a run made: per split, finished files, seconds and pieces; the pieces skipped; the CPU time
    spent rendering in this run (all processes) and the seconds of clips it rendered."""

    files: dict[str, int]
    seconds: dict[str, float]
    pieces: dict[str, int]
    skipped: list[str]
    cpu_seconds: float
    rendered_seconds: float


def held_out(piece: PieceRef, test_fraction: float) -> bool:
    """Whether a piece belongs to the test split: a hash of its name, the same for every seed."""
    digest = hashlib.sha256(piece.id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction


def plan(config: GenerateConfig, pieces: list[PieceRef]) -> list[Job]:
    """The jobs of a data set, train then test (see the module docstring for its guarantees)."""
    jobs = []
    for split_index, split in enumerate(SPLITS):
        share = config.test_fraction if split == "test" else 1 - config.test_fraction
        target = config.hours * 3600 * share
        rng = np.random.default_rng([config.seed, split_index])
        pools = []
        for _, weight, folders in config.groups:
            pool = [
                p
                for p in pieces
                if p.collection in folders and held_out(p, config.test_fraction) == (split == "test")
            ]
            if pool:
                pools.append((weight, [pool[i] for i in rng.permutation(len(pool))]))
        if not pools:
            raise ValueError(f"no corpus pieces for the {split} split")
        weights = np.array([weight for weight, _ in pools])
        drawn = [0] * len(pools)
        total, index = 0.0, 0
        while total < target:
            group = int(rng.choice(len(pools), p=weights / weights.sum()))
            pool = pools[group][1]
            piece = pool[drawn[group] % len(pool)]
            drawn[group] += 1
            fallbacks = [pool[int(i)] for i in rng.integers(0, len(pool), _FALLBACKS)]
            count = int(rng.integers(config.renderings[0], config.renderings[1] + 1))
            renderings = []
            for _ in range(count):  # drawn in full before trimming: more hours extend fewer exactly
                seconds = round(float(rng.uniform(config.min_seconds, config.max_seconds)), 1)
                renderings.append(Rendering(f"{index:06d}", int(rng.integers(2**63)), seconds))
                index += 1
            kept = []
            for rendering in renderings:
                if total >= target:
                    break
                kept.append(rendering)
                total += rendering.duration
            jobs.append(Job(split, (piece, *fallbacks), tuple(kept)))
    return jobs


def default_pieces(config: GenerateConfig) -> list[PieceRef]:
    """The catalogue of the corpus folders of `config.groups` that this music21 installation has."""
    root = corpus_root()
    folders = [folder for _, _, group in config.groups for folder in group if (root / folder).is_dir()]
    return catalogue(tuple(folders))


def generate(
    config: GenerateConfig,
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    pieces: list[PieceRef] | None = None,
) -> Summary:
    """Render every planned clip not already finished, then write each split's manifest.

    Args:
        config: the data set.
        jobs: worker processes.
        progress: called with the number of clips each finished job accounts for.
        pieces: the corpus pieces to draw from (default: `default_pieces(config)`).
    """
    out = Path(config.out)
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
        remove_stale(out / split)  # temporaries a killed run left (only muvi_plugin.atomic's own names)
    if pieces is None:
        pieces = default_pieces(config)
    planned = plan(config, pieces)
    skipped, cpu, rendered = [], 0.0, 0.0
    results: Iterable
    if jobs > 1:
        # Spawned, not forked: a parent holding threads (torch's, under `muvi-train`) must not fork.
        context = multiprocessing.get_context("spawn")
        pool = context.Pool(jobs)
        results = pool.imap_unordered(_run_job, [(config, job) for job in planned])
    else:
        pool = None
        results = (_run_job((config, job)) for job in planned)
    try:
        for result in results:
            for reason in result["skipped"]:
                warnings.warn(f"skipping {reason}", SkippedPieceWarning, stacklevel=2)
            skipped += result["skipped"]
            cpu += result["cpu"]
            rendered += result["rendered"]
            if progress is not None:
                progress(result["clips"])
    except BaseException:
        if pool is not None:
            pool.terminate()  # an error or Ctrl-C: stop now (finished clips are kept; partial ones are not)
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return _write_manifests(out, planned, skipped=skipped, cpu=cpu, rendered=rendered)


def render_clip(
    piece: PieceScore, rendering: Rendering, *, folder: Path, split: str, config: GenerateConfig
) -> dict:
    """Render one clip to `folder/NAME.mkv` and its sidecar `NAME.json` (last, so that a sidecar means a
    finished clip); returns the sidecar's record."""
    rng = np.random.default_rng(rendering.seed)
    music_rng, video_rng = rng.spawn(2)
    clip = render_music(piece, duration=rendering.duration, config=config.music, rng=music_rng)
    video = config.video
    cuts = plan_cuts(clip.events, config=video, rng=video_rng)
    write_clip(
        folder / f"{rendering.name}.mkv",
        render_frames(clip.events, cuts, config=video, rng=video_rng),
        audio=clip.audio,
        sample_rate=clip.sample_rate,
        fps=video.fps,
        width=video.width,
        height=video.height,
        crf=video.crf,
        preset=video.preset,
    )
    arrangement = asdict(clip.arrangement)
    record = {
        "file": f"{rendering.name}.mkv",
        "events": f"{rendering.name}.json",
        "split": split,
        "piece": piece.id,
        "title": piece.title,
        "seed": rendering.seed,
        "duration": rendering.duration,
        "bpm": round(arrangement.pop("bpm"), 6),
        "beat_bpm": round(arrangement.pop("beat_bpm"), 6),
        "transpose": arrangement.pop("transpose"),
        "arrangement": arrangement,
        "instruments": list(clip.instruments),
        "offset_quarters": clip.offset,
        "video": {"fps": video.fps, "width": video.width, "height": video.height, "cut_frames": cuts},
    }
    _write_json(folder / f"{rendering.name}.json", {**record, "music": clip.events.to_json()})
    return record


def _run_job(task: tuple[GenerateConfig, Job]) -> dict:
    config, job = task
    before = _cpu_seconds()
    folder = Path(config.out) / job.split
    todo = [r for r in job.renderings if not _finished(folder, r.name)]
    result = {"skipped": [], "cpu": 0.0, "rendered": 0.0, "clips": len(job.renderings)}
    if not todo:
        return result
    piece = None
    for candidate in job.pieces:
        try:
            piece = load_piece(candidate, max_bars=config.music.max_bars)
            break
        except PieceError as error:
            result["skipped"].append(str(error))  # warned about by the parent: workers' warnings are lost
    if piece is not None:
        for rendering in todo:
            render_clip(piece, rendering, folder=folder, split=job.split, config=config)
            result["rendered"] += rendering.duration
    result["cpu"] = _cpu_seconds() - before
    return result


def _finished(folder: Path, name: str) -> bool:
    return (folder / f"{name}.json").is_file() and (folder / f"{name}.mkv").is_file()


def _write_manifests(out: Path, planned: list[Job], *, skipped, cpu: float, rendered: float) -> Summary:
    summary = Summary(
        files={}, seconds={}, pieces={}, skipped=skipped, cpu_seconds=cpu, rendered_seconds=rendered
    )
    pieces_of = {}
    for split in SPLITS:
        folder = out / split
        records = []
        for job in planned:
            for rendering in job.renderings if job.split == split else ():
                if _finished(folder, rendering.name):
                    record = json.loads((folder / f"{rendering.name}.json").read_text())
                    record.pop("music")
                    records.append(record)
        records.sort(key=lambda record: record["file"])
        _write_json(folder / "manifest.json", {"split": split, "clips": records})
        pieces_of[split] = {record["piece"] for record in records}
        summary.files[split] = len(records)
        summary.seconds[split] = round(sum(record["duration"] for record in records), 1)
        summary.pieces[split] = len(pieces_of[split])
    shared = pieces_of["train"] & pieces_of["test"]
    if shared:  # cannot happen by construction; a data set that leaks must not look fine
        raise RuntimeError(f"pieces in both splits: {sorted(shared)[:5]}")
    return summary


def _write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=1) + "\n")


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (FluidSynth)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
