"""Evaluate a recipe's bundle: the numbers, and pictures, for its model card (`muvi-train recipe-eval`).

**Held-out pairs** (``WORK/data/test``: pieces never trained on). For each clip the bundle scores
``[0, seconds)`` of the clip's own video and, as the baseline, of another test clip's video (a fixed
derangement preferring another piece) with the same seed, so only the picture differs. Both are compared
with the clip's own soundtrack: BCS, BHS (MuVi) and the capped F-measure (`metrics.beats`); and with the
clip's video: SIM (`metrics.sim`, the newest ``WORK/contrastive`` checkpoint; the real soundtrack's SIM is
the ceiling) and the share of its cuts and motion peaks with a music onset within 100 ms (`metrics.sync`).
**Real footage** is scored whole (its first ``seconds`` past `WHOLE_FOOTAGE_SECONDS`): hit rate of its
visual events vs the same music shifted in time (chance; `metrics.sync.sync_score`).
**Musicality** of every take (model, baseline, real soundtrack, footage), its first
``musicality_seconds`` (`metrics.musicality`: pYIN is the slow part): the share of energy on the 80 Hz
mel-frame comb, the share of voiced frames in tune at A440, the voiced share, the key and the tempo
spread; the summary counts the keys, since a model that ignores the music's harmony lands in one.

Writes ``OUT/metrics.json`` (settings, per-item and mean numbers, timings; atomic), ``OUT/metrics.md``
(the model card's tables), and a few timelines ``OUT/plots/*.png`` with their music ``OUT/audio/*.wav``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from muvi_plugin.api import Scorer, ScoreRequest
    from training.metrics.sim import SimModel

REPORT_FORMAT = 1
WHOLE_FOOTAGE_SECONDS = 30.0  # footage up to this long is scored whole: one pass of a 30 s window
SYNTHETIC_PLOTS = 2  # held-out clips drawn (the first ones) ...
MAX_PLOTS = 4  # ... and footage fills the rest of this many pictures
MUSICALITY_SECONDS = 10.0  # analysed of each take: pYIN takes ~0.2 s per second of audio
MIN_MUSICALITY_SECONDS = 1.0  # shorter takes get no musicality (the comb needs 1 s for 0.5 Hz bins)
# The model card's table: (title, key, decimals).
_COLUMNS = (
    ("BCS", "bcs", 1),
    ("BHS", "bhs", 1),
    ("F", "f_measure", 3),
    ("SIM", "sim", 2),
    ("sync hit rate", "sync_hit_rate", 3),
)

_METRICS = tuple(key for _, key, _ in _COLUMNS)
# The musicality table: (title, key, decimals); means over the takes.
_MUSICALITY_COLUMNS = (
    ("comb share (chance 0.05)", "comb_share", 3),
    ("in tune", "in_tune_share", 3),
    ("voiced", "voiced_share", 3),
    ("tempo spread", "tempo_spread", 3),
)
_SYSTEMS = {"model": "model", "shuffled": "shuffled video (baseline)", "ground_truth": "real soundtrack"}
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class HeldOutClip:
    """One clip of the test split: its name (file stem), video file and piece."""

    name: str
    video: Path
    piece: str


def held_out_clips(split: str | os.PathLike) -> list[HeldOutClip]:
    """The clips a split's ``manifest.json`` lists, in its order.

    Raises:
        FileNotFoundError: no split folder, no manifest, or a listed clip that is missing (named).
        ValueError: a manifest that lists no clips.
    """
    import json

    split = Path(split)
    manifest = split / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no test split manifest (render the data: muvi-train recipe)")
    clips = [
        HeldOutClip(Path(c["file"]).stem, split / c["file"], str(c.get("piece", "")))
        for c in json.loads(manifest.read_text(encoding="utf-8")).get("clips", [])
    ]
    if not clips:
        raise ValueError(f"{manifest}: the test split lists no clips")
    for clip in clips:
        if not clip.video.is_file():
            raise FileNotFoundError(f"{clip.video}: listed in {manifest} but missing")
    return clips


def derangement(pieces: Sequence[str]) -> list[int]:
    """For each item, another item's index: a permutation with no fixed point, across pieces if it can.

    Items are ordered with the pieces contiguous, largest piece first, and each takes the item ``m``
    places later (cyclically), ``m`` being the largest piece's size: a piece spans at most ``m``
    consecutive places, so when no piece holds more than half the items nobody gets its own piece.
    Otherwise as many as possible still do. Deterministic: it depends on the list alone.

    Raises:
        ValueError: fewer than two items (nothing to swap with).
    """
    n = len(pieces)
    if n < 2:
        raise ValueError(f"a shuffled baseline needs at least 2 test clips, got {n}")
    size = {p: pieces.count(p) for p in pieces}
    order = sorted(range(n), key=lambda i: (-size[pieces[i]], pieces[i], i))
    shift = max(size.values()) if max(size.values()) < n else 1  # one piece only: any other clip
    partner = [0] * n
    for place, i in enumerate(order):
        partner[i] = order[(place + shift) % n]
    return partner


def evaluate_recipe(
    work: str | os.PathLike,
    *,
    bundle: str | os.PathLike | None = None,
    contrastive: str | os.PathLike | None = None,
    out: str | os.PathLike,
    footage: Sequence[str | os.PathLike] = (),
    seconds: float = 10.0,
    seed: int = 0,
    steps: int | None = None,
    limit: int | None = None,
    musicality_seconds: float | None = MUSICALITY_SECONDS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate a recipe's bundle on its held-out clips and on footage; returns the report (JSON-ready).

    Args:
        work: the recipe's work folder (`training.recipe`): ``data/test`` and ``contrastive/`` are used.
        bundle: the bundle to evaluate (default ``work/bundle``).
        contrastive: the checkpoint SIM uses (default the newest in ``work/contrastive``; e.g. a kept
            ``contrastive.ckpt`` of `muvi-train recipe --keep` when the work folder has none).
        out: folder for ``metrics.json``, ``metrics.md``, ``plots/`` and ``audio/``.
        footage: real video files, scored whole (or their first `seconds` past 30 s).
        seconds: the range ``[0, seconds)`` scored of each test clip (shorter clips: all of it).
        seed: the scoring seed, the same for every clip and its baseline.
        steps: sampler steps; None for the bundle's default.
        limit: evaluate only the first `limit` test clips.
        musicality_seconds: the first seconds of every take that `metrics.musicality` analyses; None or
            0 measures no musicality.
        progress: ``progress(item, fraction)`` after every clip and file; None shows a tqdm bar.

    Raises:
        FileNotFoundError: a missing work folder, test split, bundle, contrastive checkpoint or footage file.
        ValueError: bad settings, or a test split of fewer than 2 clips.
        MuviError: a corrupt bundle or unreadable media (named).
    """
    from tqdm import tqdm

    from muvi_plugin.api import ScoreRequest, load_bundle
    from training.checkpoint import code_version
    from training.metrics.report import _atomic_write, json_ready, write_report
    from training.metrics.sim import load_sim_model

    began = time.perf_counter()
    work, out = Path(work), Path(out)
    every_clip, contrastive, bundle_path, footage = _inputs(
        work, bundle, contrastive, footage, seconds=seconds, limit=limit
    )
    if musicality_seconds is not None and musicality_seconds < 0:
        raise ValueError(f"musicality_seconds must be >= 0 or None, got {musicality_seconds}")
    measure = partial(_musicality, seconds=musicality_seconds or 0.0)
    partner = derangement([c.piece for c in every_clip])  # over the whole split: more pieces to pick from
    clips = every_clip[:limit]
    scorer = load_bundle(bundle_path)
    sim_model = load_sim_model(contrastive)
    d = scorer.bundle.manifest.defaults
    settings = {"seed": seed, "steps": d.steps if steps is None else steps, "guidance": d.guidance}
    timings: dict[str, Any] = {"load_s": time.perf_counter() - began, "per_item_s": {}}
    request = partial(ScoreRequest, start=0.0, **settings)  # same seed everywhere: only the video differs
    bar = tqdm(total=len(clips) + len(footage), desc="recipe-eval", file=sys.stderr, disable=bool(progress))
    plots: list[str] = []

    def run(name: str, job: Callable[[], tuple[dict, dict]], *, picture: bool) -> dict:
        started = time.perf_counter()
        entry, timeline = job()
        if picture:
            plots.append(_picture(out, name, timeline, scorer.sample_rate))
        timings["per_item_s"][name] = time.perf_counter() - started
        bar.update(1)
        if progress is not None:
            progress(name, len(timings["per_item_s"]) / (len(clips) + len(footage)))
        return {"name": name, **entry}

    synthetic = []
    for i, clip in enumerate(clips):
        job = partial(
            _held_out,
            scorer,
            sim_model,
            clip,
            every_clip[partner[i]],
            seconds=seconds,
            request=request,
            measure=measure,
        )
        synthetic.append(run(f"test-{clip.name}", job, picture=i < SYNTHETIC_PLOTS))
    files = []
    for i, file in enumerate(footage):
        name = f"footage-{file.stem}" + (f"-{i}" if [f.stem for f in footage].count(file.stem) > 1 else "")
        # The first footage files fill the pictures up to MAX_PLOTS.
        files.append(
            run(
                name,
                partial(_footage, scorer, file, seconds=seconds, request=request, measure=measure),
                picture=len(plots) < MAX_PLOTS,
            )
        )
    bar.close()
    timings["total_s"] = time.perf_counter() - began
    report = {
        "format": REPORT_FORMAT,
        "tool": "muvi-train recipe-eval",
        "code_version": code_version(),
        "bundle": {"path": str(bundle_path), "id": scorer.bundle_id, "name": scorer.bundle.manifest.name},
        "settings": {
            "work": str(work),
            "out": str(out),
            "footage": [str(f) for f in footage],
            "seconds": seconds,
            "limit": limit,
            "musicality_seconds": musicality_seconds or None,
            "contrastive_checkpoint": str(contrastive),
            "provider": scorer.provider,
            **settings,
        },
        "synthetic": {"summary": _synthetic_summary(synthetic), "clips": synthetic},
        "footage": {"summary": _footage_summary(files), "files": files},
        "musicality": _musicality_summary(synthetic, files),
        "plots": plots,
        "timings": timings,
    }
    write_report(out / "metrics.json", report)
    report = json_ready(report)
    text = markdown(report)
    _atomic_write(out / "metrics.md", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return report


def _inputs(
    work: Path,
    bundle: str | os.PathLike | None,
    contrastive: str | os.PathLike | None,
    footage: Sequence[str | os.PathLike],
    *,
    seconds: float,
    limit: int | None,
) -> tuple[list[HeldOutClip], Path, Path, list[Path]]:
    """The test clips, contrastive checkpoint, bundle and footage, checked before any work is done."""
    from training.checkpoint import latest_checkpoint

    if not seconds > 0 or (limit is not None and limit < 1):
        raise ValueError(f"seconds must be positive and limit at least 1, got {seconds} and {limit}")
    if not work.is_dir():
        raise FileNotFoundError(f"{work}: no such work folder")
    clips = held_out_clips(work / "data" / "test")
    if len(clips) < 2:
        raise ValueError(f"{work / 'data' / 'test'}: the shuffled baseline needs at least 2 test clips")
    if contrastive is None:
        contrastive = latest_checkpoint(work / "contrastive")
        if contrastive is None:
            raise FileNotFoundError(f"{work / 'contrastive'}: no contrastive checkpoint (needed for SIM)")
    elif not Path(contrastive).is_file():
        raise FileNotFoundError(f"{contrastive}: no such contrastive checkpoint")
    bundle = Path(bundle) if bundle is not None else work / "bundle"
    if not bundle.exists():
        raise FileNotFoundError(f"{bundle}: no bundle (run muvi-train recipe, or pass --bundle)")
    for file in footage:
        if not Path(file).is_file():
            raise FileNotFoundError(f"{file}: no such footage file")
    return clips, Path(contrastive), bundle, [Path(f) for f in footage]


def _held_out(
    scorer: Scorer,
    sim_model: SimModel,
    clip: HeldOutClip,
    other: HeldOutClip,
    *,
    seconds: float,
    request: Callable[..., ScoreRequest],
    measure: Callable[[np.ndarray, int], dict | None],
) -> tuple[dict, dict]:
    """One held-out clip: model, shuffled-video and real music against its soundtrack and its video."""
    from muvi_plugin.media import probe, read_audio, read_video_frames
    from training.metrics.audio_stats import onset_times
    from training.metrics.beats import beat_scores, track_beats
    from training.metrics.sim import similarity
    from training.metrics.sync import detect_visual_events, visual_sync

    own, theirs = probe(clip.video), probe(other.video)
    # One span for all three pieces of music, so beat counts compare like with like.
    span = min(seconds, own.video_end, own.audio_end, theirs.video_end)
    rate = scorer.sample_rate
    waves = {
        "model": scorer.score(request(clip.video, end=span)).audio,
        "shuffled": scorer.score(request(other.video, end=span)).audio,
        "ground_truth": read_audio(clip.video, start=0.0, end=span, sample_rate=rate),
    }
    size = (sim_model.image_size, sim_model.image_size)
    frames = read_video_frames(clip.video, start=0.0, end=span, fps=sim_model.fps, size=size)
    events = detect_visual_events(clip.video, start=0.0, end=span)
    beats = {name: track_beats(wave, rate) for name, wave in waves.items()}
    entry: dict[str, Any] = {
        "video": str(clip.video),
        "piece": clip.piece,
        "shuffled_video": str(other.video),
        "shuffled_piece": other.piece,
        "seconds": span,
        "visual_events": len(events),
        "reference_beats": len(beats["ground_truth"]),
    }
    for name, wave in waves.items():
        sync = visual_sync(events, onset_times(wave, rate), start=0.0, duration=span)
        entry[name] = {
            "sim": similarity(sim_model, frames, _at_rate(wave, rate, sim_model.sample_rate)),
            "sync_hit_rate": sync.hit_rate,
            "sync_shifted_mean": sync.shifted_mean,
            "musicality": measure(wave, rate),
        }
        if name != "ground_truth":  # against itself every beat score is trivially perfect
            entry[name].update(beat_scores(beats[name], beats["ground_truth"]).as_dict())
    timeline = {
        "wave": waves["model"],
        "beats": beats["model"],
        "onsets": onset_times(waves["model"], rate),
        "reference_beats": beats["ground_truth"],
        "cuts": np.array([e.time for e in events if e.kind == "cut"]),
        "motion": np.array([e.time for e in events if e.kind == "motion"]),
        "title": f"{clip.video.name}: generated music vs its soundtrack's beats",
    }
    return entry, timeline


def _footage(
    scorer: Scorer,
    file: Path,
    *,
    seconds: float,
    request: Callable[..., ScoreRequest],
    measure: Callable[[np.ndarray, int], dict | None],
) -> tuple[dict, dict]:
    """One footage file: its music's onsets against its cuts and motion peaks, and the shifted chance."""
    from muvi_plugin.media import probe
    from training.metrics.beats import track_beats
    from training.metrics.sync import sync_score

    info = probe(file)
    whole = info.video_end <= WHOLE_FOOTAGE_SECONDS
    span = info.video_end if whole else min(seconds, info.video_end)
    wave = scorer.score(request(file, end=span)).audio
    sync = sync_score(file, wave, scorer.sample_rate, start=0.0, end=span)
    entry = {
        "video": str(file),
        "seconds": span,
        "whole": whole,
        "sync": sync.as_dict(),
        "musicality": measure(wave, scorer.sample_rate),
    }
    timeline = {
        "wave": wave,
        "beats": track_beats(wave, scorer.sample_rate),
        "onsets": sync.onsets,
        "cuts": sync.event_times("cut"),
        "motion": sync.event_times("motion"),
        "title": f"{file.name}: generated music vs the video's events",
    }
    return entry, timeline


def _musicality(wave: np.ndarray, rate: int, *, seconds: float) -> dict | None:
    """`metrics.musicality` of the first `seconds` of a take; None when off or the take is too short."""
    from training.metrics.musicality import musicality

    if seconds <= 0 or len(wave) < MIN_MUSICALITY_SECONDS * rate:
        return None
    return musicality(np.asarray(wave, dtype=np.float32), rate, max_seconds=seconds)


def _musicality_summary(clips: list[dict], files: list[dict]) -> dict[str, Any]:
    """Per system (model, shuffled, ground_truth, footage): takes measured, means and a count of keys."""
    takes = {system: [c[system].get("musicality") for c in clips] for system in _SYSTEMS}
    takes["footage"] = [f.get("musicality") for f in files]
    summary: dict[str, Any] = {}
    for system, results in takes.items():
        measured = [r for r in results if r is not None]
        if not measured:
            continue
        keys: dict[str, int] = {}
        for r in measured:
            name = r["key"] or "no key"  # None: silence
            keys[name] = keys.get(name, 0) + 1
        summary[system] = {
            "takes": len(measured),
            **{k: _mean(r[k] for r in measured) for _, k, _ in _MUSICALITY_COLUMNS},
            "keys": dict(sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))),
        }
    return summary


def _picture(out: Path, name: str, timeline: dict, rate: int) -> str:
    """The timeline PNG and the music's WAV of one generation; returns the PNG's path."""
    from muvi_plugin.audio_io import write_audio
    from training.metrics.report import plot_timeline

    (out / "audio").mkdir(parents=True, exist_ok=True)
    write_audio(out / "audio" / f"{name}.wav", timeline["wave"], rate)
    return str(plot_timeline(out / "plots" / f"{name}.png", sample_rate=rate, **timeline))


def _at_rate(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    import librosa

    return wave if rate == target else librosa.resample(wave, orig_sr=rate, target_sr=target)


def _mean(values) -> float:
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _higher(a: float, b: float, names: tuple[str, str]) -> str | None:
    """Which of two means is higher; "tie" within float32 rounding (an untrained model ignores the video)."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return None
    return "tie" if math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) else names[0] if a > b else names[1]


def _synthetic_summary(clips: list[dict]) -> dict[str, Any]:
    """Means over the clips (finite values only) and, per metric, whether the model or the baseline wins."""
    keys = {"model": _METRICS, "shuffled": _METRICS, "ground_truth": ("sim", "sync_hit_rate")}
    means = {s: {k: _mean(c[s][k] for c in clips) for k in ks} for s, ks in keys.items()}
    higher = {k: _higher(means["model"][k], means["shuffled"][k], ("model", "shuffled")) for k in _METRICS}
    return {
        "clips": len(clips),
        "shuffled_same_piece": sum(c["piece"] == c["shuffled_piece"] for c in clips),
        **means,
        "higher": higher,
        "paired": {
            k: paired_difference([c["model"][k] for c in clips], [c["shuffled"][k] for c in clips])
            for k in _METRICS
        },
    }


def paired_difference(model: Sequence[float | None], baseline: Sequence[float | None]) -> dict[str, Any]:
    """Model minus baseline clip by clip: mean difference, wins/losses, Wilcoxon signed-rank p-value.

    Only clips where both values are finite count. The p-value (two-sided, `scipy.stats.wilcoxon`) says how
    likely differences this one-sided are if the picture made no difference; None with fewer than 2 clips
    or no non-zero difference.
    """
    from scipy.stats import wilcoxon

    pairs = [
        (float(a), float(b))
        for a, b in zip(model, baseline, strict=True)
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
    ]
    diff = np.array([a - b for a, b in pairs], dtype=np.float64)
    sign = np.where(np.abs(diff) > 1e-9, np.sign(diff), 0.0)  # float noise is a tie
    nonzero = diff[sign != 0]
    return {
        "n": len(diff),
        "mean_difference": float(diff.mean()) if len(diff) else None,
        "wins": int((sign > 0).sum()),
        "losses": int((sign < 0).sum()),
        "p_value": float(wilcoxon(nonzero).pvalue) if len(nonzero) >= 2 else None,
    }


def _footage_summary(files: list[dict]) -> dict[str, Any]:
    hit = _mean(f["sync"]["hit_rate"] for f in files)
    shifted = _mean(f["sync"]["shifted_mean"] for f in files)
    return {
        "files": len(files),
        "with_events": sum(f["sync"]["events"] > 0 for f in files),
        "hit_rate": hit,
        "shifted_mean": shifted,
        "higher": _higher(hit, shifted, ("music", "shifted")),
    }


def markdown(report: dict[str, Any]) -> str:
    """The model-card tables of a (JSON-ready) report."""
    s, b, syn = report["settings"], report["bundle"], report["synthetic"]["summary"]
    higher = ", ".join(f"{k}: {v}" for k, v in syn["higher"].items() if v is not None) or "–"
    lines = [
        f"### {b['name']} (`{b['id']}`)",
        "",
        f"Held-out synthetic pairs: {syn['clips']} test clips, first {s['seconds']:g} s of each; seed "
        f"{s['seed']}, {s['steps']} steps, guidance {s['guidance']:g}. Baseline: the same model scoring "
        f"another test clip's video ({syn['shuffled_same_piece']} of {syn['clips']} from the same piece). "
        "Beats against the clip's own soundtrack; SIM and sync hit rate against the clip's own video.",
        "",
        _row("music", *(title for title, _, _ in _COLUMNS)),
        _row(*["---"] * (1 + len(_COLUMNS))),
    ]
    for key, label in _SYSTEMS.items():
        lines.append(_row(label, *(_num(syn[key].get(name), digits) for _, name, digits in _COLUMNS)))
    paired = syn.get("paired")
    if paired:
        lines.append(
            _row(
                "model − baseline, clip by clip (wins/losses, Wilcoxon p)",
                *(_paired(paired[name], digits) for _, name, digits in _COLUMNS),
            )
        )
    lines += ["", f"Higher (model vs baseline): {higher}. BCS is best near 100, not above it.", ""]
    lines += _musicality_lines(report)
    files, summary = report["footage"]["files"], report["footage"]["summary"]
    if files:
        lines += [
            "Real footage: share of visual events (cuts, motion peaks) with a music onset within 100 ms, "
            "vs the same music shifted in time (chance).",
            "",
            _row("video", "seconds", "events", "hit rate", "shifted mean"),
            _row(*["---"] * 5),
        ]
        for file in files:
            sync = file["sync"]
            hit, shifted = _num(sync["hit_rate"], 3), _num(sync["shifted_mean"], 3)
            lines.append(_row(Path(file["video"]).name, _num(file["seconds"]), sync["events"], hit, shifted))
        lines += [_row("mean", "", "", _num(summary["hit_rate"], 3), _num(summary["shifted_mean"], 3)), ""]
    return "\n".join(lines)


def _musicality_lines(report: dict[str, Any]) -> list[str]:
    summary = report.get("musicality") or {}
    if not summary:
        return []
    labels = {**_SYSTEMS, "footage": "footage takes (model)"}
    lines = [
        f"Musicality, first {report['settings']['musicality_seconds']:g} s of each take "
        "(`training/metrics/musicality.py`): share of 40-4000 Hz energy within 2 Hz of a multiple of "
        "80 Hz (the mel frame rate; chance 0.05), share of voiced pYIN frames within 25 cents of A440 "
        "12-TET, voiced share, largest octave-folded deviation of a 15 s window's tempo from their "
        "median, and the estimated keys (Krumhansl-Kessler).",
        "",
        _row("music", "takes", *(t for t, _, _ in _MUSICALITY_COLUMNS), "keys (count)"),
        _row(*["---"] * (3 + len(_MUSICALITY_COLUMNS))),
    ]
    for system, label in labels.items():
        if system in summary:
            m = summary[system]
            keys = ", ".join(f"{k} ({n})" for k, n in list(m["keys"].items())[:4])
            more = len(m["keys"]) - 4
            keys += f", {more} more" if more > 0 else ""
            cells = (_num(m.get(k), digits) for _, k, digits in _MUSICALITY_COLUMNS)
            lines.append(_row(label, m["takes"], *cells, keys))
    return [*lines, ""]


def _paired(entry: dict[str, Any], digits: int) -> str:
    if entry["mean_difference"] is None:
        return "–"
    p = "–" if entry["p_value"] is None else f"{entry['p_value']:.2g}"
    return f"{entry['mean_difference']:+.{digits}f} ({entry['wins']}/{entry['losses']}, p={p})"


def _row(*cells: object) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"  # None: not finite in the JSON report


def main(argv: Sequence[str] | None = None) -> int:
    """`muvi-train recipe-eval`: argument parsing over `evaluate_recipe`."""
    import argparse

    from muvi_plugin.errors import MuviError

    p = argparse.ArgumentParser(
        prog="muvi-train recipe-eval",
        description="Evaluate a recipe's bundle on its held-out clips (vs a shuffled-video baseline) and on "
        "real footage; writes metrics.json, metrics.md, plots/ and audio/ into --out.",
    )
    p.add_argument("--work", required=True, help="the recipe's work folder (data/test, contrastive/)")
    p.add_argument("--bundle", help="the bundle to evaluate (default WORK/bundle)")
    p.add_argument(
        "--contrastive", metavar="CKPT", help="checkpoint for SIM (default: WORK/contrastive's newest)"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--footage", nargs="+", default=[], metavar="FILE", help="real videos to score")
    p.add_argument("--seconds", type=float, default=10.0, help="range [0, SECONDS) of each test clip")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help="sampler steps (default: the bundle's)")
    p.add_argument("--limit", type=int, help="evaluate only the first N test clips")
    p.add_argument(
        "--musicality-seconds",
        type=float,
        default=MUSICALITY_SECONDS,
        help=f"seconds of each take whose musicality is measured (default {MUSICALITY_SECONDS:g}; 0: none)",
    )
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        evaluate_recipe(
            args.work,
            bundle=args.bundle,
            contrastive=args.contrastive,
            out=args.out,
            footage=args.footage,
            seconds=args.seconds,
            seed=args.seed,
            steps=args.steps,
            limit=args.limit,
            musicality_seconds=args.musicality_seconds,
            progress=(lambda item, fraction: None) if args.no_progress else None,
        )
    except (ValueError, FileNotFoundError, MuviError) as exc:
        print(f"muvi-train recipe-eval: error: {exc}", file=sys.stderr)
        return 2
    print(Path(args.out, "metrics.md").read_text(encoding="utf-8"))
    return 0
