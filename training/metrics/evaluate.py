"""`evaluate`: every metric of generated music over a set of files, as one report (`muvi-eval` is its CLI).

Files are paired by name: ``song.wav`` in the generated set goes with ``song.flac`` among the references
and ``song.mp4`` among the videos (a trailing ``.muvi``, the `muvi score` default ``<video>.muvi.wav``,
is ignored). What is computed depends on what is given:

| given | per file | over the set |
|---|---|---|
| always | `audio_stats`, beat count | means of the statistics |
| references | BCS, BHS, precision / recall / F (beats over the common length) | their means |
| videos | visual-event sync hit rate and its shifted chance level (`sync`) | their means |
| a contrastive checkpoint + videos | SIM (`sim`) | its mean |
| VGGish weights + references | | FAD |
| PANNs weights | | IS; with references also FD, KL (softmax and sigmoid) |

FAD and FD compare all generated files with the references paired to them; KL is the mean over those
pairs; IS looks at the generated files alone. Per-file scores are averaged over the files that have them.
What is not computed is said, in the report, next to a ``null`` (`report.NotComputed`). Music sample 0
is taken to play at the video's start (music made for the whole video).

Bad input — a missing or unreadable file, a file without audio, two files of one set with the same
name, a weights file or checkpoint that is not one — raises `EvalInputError` (a `MuviError`) naming the
file, before anything is written.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from muvi_plugin.errors import MuviError
from training.metrics.report import NotComputed

if TYPE_CHECKING:
    from training.metrics.embeddings import Cnn14Config, VGGishConfig
    from training.metrics.sim import SimModel
    from training.metrics.sync import SyncResult

REPORT_FORMAT = 1
_MUVI_SUFFIX = ".muvi"  # `muvi score` writes <video stem>.muvi.wav
_BEAT_KEYS = ("bcs", "bhs", "precision", "recall", "f_measure")


class EvalInputError(MuviError):
    """Bad input to `evaluate`; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Item:
    """One generated file and what it is compared with.

    Attributes:
        name: the pairing key (file name without extension and without a trailing ".muvi").
        generated: the generated music (any file with an audio stream).
        reference: the reference music of the same name, if any.
        video: the video of the same name, if any.
    """

    name: str
    generated: Path
    reference: Path | None = None
    video: Path | None = None


def pairing_key(path: str | os.PathLike) -> str:
    """The name files are paired by: the file name without its extension and a trailing ".muvi"."""
    stem = Path(path).stem
    return stem.removesuffix(_MUVI_SUFFIX) or stem


def collect(paths: Iterable[str | os.PathLike], *, extensions: Iterable[str], role: str) -> dict[str, Path]:
    """Files given directly or found in folders (recursively, by extension), keyed by `pairing_key`.

    Raises:
        EvalInputError: a path that does not exist, a folder with no such files, or two files with one key.
    """
    from training.data.segments import find_media

    found: dict[str, Path] = {}
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            files = find_media(path, extensions)
            if not files:
                raise EvalInputError(
                    f"{path}: no {role} files found (looked for {', '.join(sorted(extensions))})"
                )
        elif path.is_file():
            files = [path]
        else:
            raise EvalInputError(f"{path}: no such file or folder ({role})")
        for file in files:
            key = pairing_key(file)
            if key in found and found[key] != file:
                raise EvalInputError(f"{file}: same name as {found[key]} among the {role} files")
            found[key] = file
    return found


def pair_files(
    generated: Sequence[str | os.PathLike],
    *,
    reference: Sequence[str | os.PathLike] = (),
    video: Sequence[str | os.PathLike] = (),
) -> list[Item]:
    """The generated files, sorted by name, each with its reference and video of the same name."""
    from training.data.segments import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS

    music = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS  # a generated piece may come muxed into a video
    gen = collect(generated, extensions=music, role="generated")
    if not gen:
        raise EvalInputError("no generated files given")
    refs = collect(reference, extensions=music, role="reference")
    videos = collect(video, extensions=VIDEO_EXTENSIONS, role="video")
    return [Item(name, gen[name], refs.get(name), videos.get(name)) for name in sorted(gen)]


def read_music(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """The whole audio stream of a file at its own rate: (samples,) mono or (2, samples), and the rate."""
    from muvi_plugin.media import MediaError, probe, read_audio

    info = probe(path)
    if not info.has_audio or info.sample_rate <= 0:
        raise MediaError(path, "no audio stream")
    channels = 2 if info.channels >= 2 else 1
    wave = read_audio(
        path, start=info.audio_start, end=info.audio_end, sample_rate=info.sample_rate, channels=channels
    )
    return wave, info.sample_rate


def _mean(values: Iterable[Any], reason: str) -> float | NotComputed:
    finite = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return float(np.mean(finite)) if finite else NotComputed(reason)


def _load_networks(vggish_weights, panns_weights, contrastive_checkpoint, vggish_config, panns_config):
    """Load what was asked for before any file is read, so a bad weights file fails at once."""
    from training.metrics import embeddings

    loaded: dict[str, Any] = {"vggish": None, "panns": None, "sim": None}
    try:
        if vggish_weights is not None:
            loaded["vggish"] = embeddings.load_vggish(
                vggish_weights, config=vggish_config or embeddings.VGGISH
            )
        if panns_weights is not None:
            loaded["panns"] = embeddings.load_panns(panns_weights, config=panns_config)
        if contrastive_checkpoint is not None:
            from training.metrics.sim import load_sim_model

            loaded["sim"] = load_sim_model(contrastive_checkpoint)
    except (FileNotFoundError, ValueError) as error:  # their messages name the file
        raise EvalInputError(str(error)) from error
    return loaded


def evaluate(
    generated: Sequence[str | os.PathLike],
    *,
    reference: Sequence[str | os.PathLike] = (),
    video: Sequence[str | os.PathLike] = (),
    contrastive_checkpoint: str | os.PathLike | None = None,
    vggish_weights: str | os.PathLike | None = None,
    panns_weights: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    plots: str | os.PathLike | None = None,
    progress: bool = False,
    vggish_config: VGGishConfig | None = None,
    panns_config: Cnn14Config | None = None,
) -> dict[str, Any]:
    """Evaluate generated music; returns the report (as written to `out`, JSON-ready).

    Args:
        generated: generated music files and/or folders of them.
        reference: reference music files and/or folders, paired with the generated files by name.
        video: video files and/or folders, paired by name.
        contrastive_checkpoint: a `contrastive` stage checkpoint for SIM.
        vggish_weights: local VGGish weights (torchvggish layout) for FAD.
        panns_weights: local PANNs CNN14 weights for FD, KL and IS.
        out: where to write the JSON report (atomically); None writes nothing.
        plots: folder for one PNG timeline per generated file; None draws none.
        progress: show a progress bar on stderr.
        vggish_config: the VGGish geometry (default: the published network).
        panns_config: the CNN14 geometry (default: picked from the weights file).

    Raises:
        EvalInputError: bad input, named (see the module docstring); `MediaError` for unreadable media.
    """
    from tqdm import tqdm

    from training.checkpoint import code_version
    from training.metrics.report import json_ready, write_report

    items = pair_files(generated, reference=reference, video=video)
    nets = _load_networks(vggish_weights, panns_weights, contrastive_checkpoint, vggish_config, panns_config)
    given = {"reference": bool(reference), "video": bool(video)}
    plot_dir = Path(plots) if plots is not None else None
    collected: dict[str, list] = {"gen_vggish": [], "ref_vggish": [], "gen_panns": [], "ref_panns": []}
    files = []
    for item in tqdm(items, desc="muvi-eval", unit="file", disable=not progress, file=sys.stderr):
        files.append(_evaluate_item(item, nets=nets, given=given, plot_dir=plot_dir, collected=collected))
    report = {
        "format": REPORT_FORMAT,
        "tool": "muvi-eval",
        "code_version": code_version(),
        "inputs": {
            "generated": [str(p) for p in generated],
            "reference": [str(p) for p in reference],
            "video": [str(p) for p in video],
            "contrastive_checkpoint": str(contrastive_checkpoint) if contrastive_checkpoint else None,
            "vggish_weights": str(vggish_weights) if vggish_weights else None,
            "panns_weights": str(panns_weights) if panns_weights else None,
        },
        "summary": _summary(files, nets=nets, given=given, collected=collected),
        "files": files,
    }
    if out is not None:
        write_report(out, report)
    return json_ready(report)


def _evaluate_item(item: Item, *, nets: dict, given: dict, plot_dir: Path | None, collected: dict) -> dict:
    """Every per-file metric of one generated file; embeddings go to `collected` for the set metrics."""
    from training.metrics.audio_stats import audio_stats, onset_times
    from training.metrics.beats import beat_scores, track_beats

    wave, rate = read_music(item.generated)
    duration = wave.shape[-1] / rate
    entry: dict[str, Any] = {
        "name": item.name,
        "generated": str(item.generated),
        "reference": str(item.reference) if item.reference else None,
        "video": str(item.video) if item.video else None,
        "duration_s": duration,
        "audio_stats": audio_stats(wave, rate),
    }
    beats = track_beats(wave, rate)
    entry["beat_count"] = len(beats)
    reference_beats = None
    if item.reference is not None:
        ref_wave, ref_rate = read_music(item.reference)
        common = min(duration, ref_wave.shape[-1] / ref_rate)
        # Beats over the common length only: a longer file would otherwise count beats the other lacks.
        if round(common * rate) < wave.shape[-1]:
            beats = track_beats(wave[..., : round(common * rate)], rate)
        reference_beats = track_beats(ref_wave[..., : round(common * ref_rate)], ref_rate)
        entry["beats"] = {**beat_scores(beats, reference_beats).as_dict(), "compared_s": common}
    else:
        why = "no reference music with this name" if given["reference"] else "no reference music given"
        entry["beats"] = NotComputed(f"not computed: {why} (--reference)")
        ref_wave = ref_rate = None

    onsets = onset_times(wave, rate)
    sync = None
    if item.video is not None:
        sync = _sync(item.video, onsets, duration)
        entry["sync"] = sync.as_dict()
    else:
        why = "no video with this name" if given["video"] else "no video given"
        entry["sync"] = NotComputed(f"not computed: {why} (--video)")
    entry["sim"] = _sim(item, nets["sim"], given)

    if nets["vggish"] is not None:
        from training.metrics.embeddings import vggish_embeddings

        collected["gen_vggish"].append(vggish_embeddings(nets["vggish"], wave, rate))
        if ref_wave is not None:
            collected["ref_vggish"].append(vggish_embeddings(nets["vggish"], ref_wave, ref_rate))
    if nets["panns"] is not None:
        from training.metrics.embeddings import panns_outputs

        gen_out = panns_outputs(nets["panns"], wave, rate)
        ref_out = panns_outputs(nets["panns"], ref_wave, ref_rate) if ref_wave is not None else None
        collected["gen_panns"].append(gen_out)
        collected["ref_panns"].append(ref_out)

    if plot_dir is not None:
        from training.metrics.report import plot_timeline

        entry["plot"] = str(
            plot_timeline(
                plot_dir / f"{item.name}.png",
                wave=wave,
                sample_rate=rate,
                title=item.generated.name,
                beats=beats,
                onsets=onsets,
                reference_beats=reference_beats,
                cuts=sync.event_times("cut") if sync else None,
                motion=sync.event_times("motion") if sync else None,
            )
        )
    return entry


def _sync(video: Path, onsets: np.ndarray, duration: float) -> SyncResult:
    """Visual events of the video's first `duration` seconds (at most its length) against the onsets."""
    from muvi_plugin.media import probe
    from training.metrics.sync import detect_visual_events, visual_sync

    info = probe(video)
    if not info.has_video:
        raise EvalInputError(f"{video}: no video stream")
    end = min(info.video_end, duration)
    events = detect_visual_events(video, start=0.0, end=end)
    return visual_sync(events, onsets, start=0.0, duration=end)


def _sim(item: Item, model: SimModel | None, given: dict) -> float | NotComputed:
    from training.metrics.sim import read_pair, similarity

    if model is None:
        return NotComputed("not computed: no contrastive checkpoint given (--contrastive-checkpoint)")
    if item.video is None:
        why = "no video with this name" if given["video"] else "no video given"
        return NotComputed(f"not computed: {why} (--video)")
    frames, wave = read_pair(model, item.video, item.generated)
    return similarity(model, frames, wave)


def _summary(files: list[dict], *, nets: dict, given: dict, collected: dict) -> dict[str, Any]:
    """Means of the per-file metrics and the set metrics (FAD, FD, KL, IS)."""
    beats = [f["beats"] for f in files if isinstance(f["beats"], dict)]
    syncs = [f["sync"] for f in files if isinstance(f["sync"], dict)]
    summary: dict[str, Any] = {
        "files": len(files),
        "with_reference": len(beats),
        "with_video": len(syncs),
    }
    for key in _BEAT_KEYS:
        summary[key] = _mean(
            (b[key] for b in beats), "not computed: no file has reference music (--reference)"
        )
    no_sync = "not computed: no file has a video with visual events (--video)"
    summary["sync_hit_rate"] = _mean((s["hit_rate"] for s in syncs), no_sync)
    summary["sync_shifted_mean"] = _mean((s["shifted_mean"] for s in syncs), no_sync)
    sims = [f["sim"] for f in files]
    summary["sim"] = _mean(
        sims, sims[0].reason if sims and isinstance(sims[0], NotComputed) else "not computed: no SIM"
    )
    summary.update(_set_metrics(nets=nets, given=given, collected=collected))
    stats = [f["audio_stats"] for f in files]
    summary["audio_stats"] = {key: _mean((s[key] for s in stats), "undefined (NaN)") for key in stats[0]}
    return summary


def _set_metrics(*, nets: dict, given: dict, collected: dict) -> dict[str, Any]:
    from scipy import special

    from training.metrics.distances import (
        embedding_distance,
        inception_score,
        sigmoid_kl,
        softmax_kl,
    )

    no_refs = "not computed: no reference music given (--reference)"
    out: dict[str, Any] = {}
    if nets["vggish"] is None:
        out["fad"] = NotComputed("not computed: no VGGish weights given (--vggish-weights)")
    elif not given["reference"] or not collected["ref_vggish"]:
        out["fad"] = NotComputed(no_refs)
    else:
        gen = np.concatenate(collected["gen_vggish"])
        ref = np.concatenate(collected["ref_vggish"])
        out["fad"] = (
            embedding_distance(gen, ref)
            if min(len(gen), len(ref)) >= 2
            else NotComputed("not computed: FAD needs at least 2 VGGish examples (0.96 s each) per set")
        )
    if nets["panns"] is None:
        missing = NotComputed("not computed: no PANNs CNN14 weights given (--panns-weights)")
        return {**out, "fd": missing, "kl_softmax": missing, "kl_sigmoid": missing, "is": missing}
    gen_outs = collected["gen_panns"]
    pairs = [(g, r) for g, r in zip(gen_outs, collected["ref_panns"], strict=True) if r is not None]
    gen_logits = np.concatenate([g.logits.double().numpy() for g in gen_outs])
    out["is"] = inception_score(special.softmax(gen_logits, axis=1))
    if not pairs:
        return {
            **out,
            "fd": NotComputed(no_refs),
            "kl_softmax": NotComputed(no_refs),
            "kl_sigmoid": NotComputed(no_refs),
        }
    gen_emb = np.concatenate([g.embedding.double().numpy() for g in gen_outs])
    ref_emb = np.concatenate([r.embedding.double().numpy() for _, r in pairs])
    out["fd"] = (
        embedding_distance(gen_emb, ref_emb)
        if min(len(gen_emb), len(ref_emb)) >= 2
        else NotComputed("not computed: FD needs at least 2 files per set")
    )
    pair_gen = np.concatenate([g.logits.double().numpy() for g, _ in pairs])
    pair_ref = np.concatenate([r.logits.double().numpy() for _, r in pairs])
    out["kl_softmax"] = softmax_kl(pair_ref, pair_gen)
    out["kl_sigmoid"] = sigmoid_kl(pair_ref, pair_gen)
    return out
