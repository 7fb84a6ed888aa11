"""Resynthesis: how much music survives mel -> wave (vocoders) and mel -> latent -> mel -> wave (VAEs).

Each clip's real audio is turned into the project's log-mel (`muvi_plugin.mel`, 160 bands, hop 300) and
back by every system, and the result is scored against the original (issue 14, "Resynthesis"):

- rows: ``original`` (the audio itself: the ceiling), ``griffin-lim`` (the mel's magnitudes recovered by
  non-negative least squares through the filterbank, then `librosa.griffinlim`, n_fft 1200, hop 300,
  window 1200, 64 iterations: a vocoder with no training), ``griffin-lim (true magnitude)`` (the same
  Griffin-Lim on the audio's own STFT magnitude, not the mel: what a perfect magnitude with Griffin-Lim's
  phase would give, the ceiling of a magnitude-only vocoder), each ``--vocoder NAME=PATH`` and, for each
  ``--vae VNAME=PATH``, ``VNAME+NAME``: the mel through the VAE (posterior mean) and then that vocoder.
- columns (`training/metrics/musicality.py`): comb share (energy within 2 Hz of a multiple of 80 Hz, the
  mel frame rate; chance 0.05), multi-resolution STFT distance to the original (mean over FFT sizes 512,
  1024 and 2048, hop a quarter, Hann, of spectral convergence ||S - Ŝ||_F / ||S||_F plus the mean
  |log(S + 1e-5) - log(Ŝ + 1e-5)| of the magnitudes), in-tune share and voiced share (pYIN at A440), note
  F1 of basic-pitch's transcription against the original's (50 ms onsets, no offsets), and the real-time
  factor of the resynthesis (seconds spent / seconds of audio, this machine, one process).

Clips: one per piece (clips of one piece are not independent) from a rendered data folder, the first
``--clips`` pieces in file order, the first ``--seconds`` of each. The table gives the mean over clips and
their min-max; the JSON adds every clip and a 95 % bootstrap interval of each mean over pieces.

A PATH is a stage checkpoint (``.ckpt``, holding the part ``vocoder`` or ``vae``) or a bundle folder (its
``vocoder.onnx``, or ``vae_encoder.onnx`` and ``vae_decoder.onnx``). Run from the repository root:
    python -m benchmarks.resynthesis --data runs/demo/data/test \\
        --vocoder hifigan=checkpoints/demo/vocoder.ckpt --vae vae=checkpoints/demo/vae.ckpt \\
        --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from muvi_plugin.mel import MelSpec, mel_filterbank, mel_spectrogram

SECTION = "## Resynthesis"
FFT_SIZES = (512, 1024, 2048)
GRIFFIN_LIM_ITERS = 64
TRUE_MAGNITUDE = "griffin-lim (true magnitude)"  # the one row that resynthesises from the wave, not the mel
LOG_FLOOR = 1e-5
BOOTSTRAP = 1000
# The table: (title, key, decimals).
COLUMNS = (
    ("comb share", "comb_share", 3),
    ("MR-STFT distance", "mrstft", 3),
    ("in tune", "in_tune_share", 3),
    ("voiced", "voiced_share", 3),
    ("note F1", "note_f1", 3),
    ("RTF", "rtf", 3),
)
Resynth = Callable[[np.ndarray], np.ndarray]  # log-mel (m, T) -> wave (T * hop,)
MelMap = Callable[[np.ndarray], np.ndarray]  # log-mel (m, T) -> log-mel (m, T)


@dataclass(frozen=True)
class Clip:
    """One clip of a rendered data folder: its name (file stem), media file and piece."""

    name: str
    path: Path
    piece: str


def pick_clips(folder: str | os.PathLike, count: int) -> list[Clip]:
    """The first clip of each of the first `count` pieces, in file order (sidecar JSON names the piece).

    Raises:
        FileNotFoundError: no such folder, or no clip with a sidecar in it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such data folder (render it: muvi-train recipe)")
    clips, pieces = [], set()
    for sidecar in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a manifest or a foreign file
        if not isinstance(meta, dict) or "file" not in meta or "piece" not in meta:
            continue
        media = folder / meta["file"]
        if media.is_file() and meta["piece"] not in pieces:
            pieces.add(meta["piece"])
            clips.append(Clip(media.stem, media, str(meta["piece"])))
        if len(clips) == count:
            break
    if not clips:
        raise FileNotFoundError(f"{folder}: no clips with a JSON sidecar naming their piece")
    return clips


def griffin_lim(mel: np.ndarray, spec: MelSpec, *, iterations: int = GRIFFIN_LIM_ITERS) -> np.ndarray:
    """Log-mel `(m, T)` -> wave `(T * hop,)`: NNLS magnitudes through the filterbank, then Griffin-Lim.

    The mel's frame `k` is centred on samples ``[k hop, (k + 1) hop)`` (`muvi_plugin.mel`), librosa's on
    ``k hop``: the wave is delayed by half a hop to line up with the original. Deterministic (phase seed 0).
    """
    import librosa

    magnitude = librosa.util.nnls(mel_filterbank(spec), np.exp(mel.astype(np.float64)))
    frames = mel.shape[-1]
    wave = librosa.griffinlim(
        magnitude.astype(np.float32),
        n_iter=iterations,
        hop_length=spec.hop_length,
        win_length=spec.win_length,
        n_fft=spec.n_fft,
        window="hann",
        center=True,
        random_state=0,
    )
    half = spec.hop_length // 2
    wave = np.concatenate([np.zeros(half, np.float32), wave.astype(np.float32)])
    return np.pad(wave, (0, max(0, frames * spec.hop_length - len(wave))))[: frames * spec.hop_length]


def griffin_lim_true_magnitude(wave: np.ndarray, spec: MelSpec) -> np.ndarray:
    """Wave -> wave through its own STFT magnitude (n_fft 1200, hop 300) and 64 Griffin-Lim iterations."""
    import librosa

    stft = {"hop_length": spec.hop_length, "win_length": spec.win_length, "n_fft": spec.n_fft}
    magnitude = np.abs(librosa.stft(wave.astype(np.float32), window="hann", center=True, **stft))
    out = librosa.griffinlim(
        magnitude, n_iter=GRIFFIN_LIM_ITERS, window="hann", center=True, length=len(wave), random_state=0,
        **stft,
    )
    return out.astype(np.float32)


def mrstft_distance(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean over `FFT_SIZES` of spectral convergence plus mean log-magnitude L1 (hop n/4, Hann).

    Both waves are cut to the shorter one. 0 for identical audio; NaN when the reference is silent.
    """
    import librosa

    n = min(len(reference), len(estimate))
    total = 0.0
    for size in FFT_SIZES:
        stft = {"n_fft": size, "hop_length": size // 4, "window": "hann"}
        s = np.abs(librosa.stft(reference[:n].astype(np.float32), **stft))
        e = np.abs(librosa.stft(estimate[:n].astype(np.float32), **stft))
        norm = np.linalg.norm(s)
        if not norm > 0:
            return math.nan
        convergence = np.linalg.norm(s - e) / norm
        log_l1 = np.mean(np.abs(np.log(s + LOG_FLOOR) - np.log(e + LOG_FLOOR)))
        total += float(convergence + log_l1)
    return total / len(FFT_SIZES)


def _checkpoint_part(name: str, path: Path):
    from training.checkpoint import load_checkpoint
    from training.tasks.base import load_part

    models = load_checkpoint(path)["models"]
    if name not in models:
        raise ValueError(f"{path}: the checkpoint holds no {name!r} part (it has {', '.join(models)})")
    return load_part(name, models[name]).eval()


def _session(path: Path):
    import onnxruntime as ort

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ONNX graph in the bundle")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def load_vocoder(path: str | os.PathLike) -> Resynth:
    """A vocoder from a stage checkpoint (part ``vocoder``) or a bundle folder (``vocoder.onnx``)."""
    path = Path(path)
    if path.is_dir():
        session = _session(path / "vocoder.onnx")
        return lambda mel: session.run(["wave"], {"mel": mel[None].astype(np.float32)})[0].reshape(-1)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such vocoder checkpoint or bundle")
    import torch

    model = _checkpoint_part("vocoder", path)

    def run(mel: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(mel[None].astype(np.float32))).reshape(-1).numpy()

    return run


def load_vae(path: str | os.PathLike) -> MelMap:
    """A VAE round trip (posterior mean) from a checkpoint (part ``vae``) or a bundle's two VAE graphs.

    The bundle's encoder takes whole latent frames: a mel is cut to a multiple of 8 frames, the result
    padded back by repeating its last frame (at most 7 frames, 87 ms).
    """
    path = Path(path)
    if path.is_dir():
        encoder, decoder = _session(path / "vae_encoder.onnx"), _session(path / "vae_decoder.onnx")
        downsample = 8

        def bundle_run(mel: np.ndarray) -> np.ndarray:
            frames = mel.shape[-1] // downsample * downsample
            (z,) = encoder.run(["latent"], {"mel": mel[None, :, :frames].astype(np.float32)})
            (out,) = decoder.run(["mel"], {"latent": z})
            return np.pad(out[0], ((0, 0), (0, mel.shape[-1] - frames)), mode="edge")

        return bundle_run
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such VAE checkpoint or bundle")
    import torch

    model = _checkpoint_part("vae", path)

    def run(mel: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(mel[None].astype(np.float32)))[0][0].numpy()

    return run


def systems(
    vocoders: dict[str, Resynth], vaes: dict[str, MelMap], spec: MelSpec
) -> dict[str, Resynth | None]:
    """The rows in table order: original (None: the audio itself), griffin-lim, vocoders, VAE+vocoder."""
    rows: dict[str, Resynth | None] = {
        "original": None,
        "griffin-lim": lambda mel: griffin_lim(mel, spec),
        TRUE_MAGNITUDE: lambda wave: griffin_lim_true_magnitude(wave, spec),  # given the wave (`measure`)
    }
    rows.update(vocoders)
    for vae_name, vae in vaes.items():
        for name, vocoder in vocoders.items():
            rows[f"{vae_name}+{name}"] = lambda mel, vae=vae, vocoder=vocoder: vocoder(vae(mel))
    return rows


def measure(
    clips: Sequence[Clip],
    rows: dict[str, Resynth | None],
    *,
    seconds: float,
    spec: MelSpec,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every row on every clip: per-clip numbers and, per row and column, mean, min, max and a 95 % CI."""
    from muvi_plugin.media import probe, read_audio
    from training.metrics.musicality import comb_share, in_tune_share, note_f1, transcribe

    per_clip: dict[str, list[dict]] = {row: [] for row in rows}
    for clip in clips:
        end = min(seconds, probe(clip.path).audio_end)
        wave = read_audio(clip.path, start=0.0, end=end, sample_rate=spec.sample_rate)
        wave = wave[: spec.num_frames(len(wave)) * spec.hop_length]  # whole hops: what the mel describes
        mel = mel_spectrogram(wave, spec)
        reference_notes = transcribe(wave, spec.sample_rate)
        duration = len(wave) / spec.sample_rate
        for row, resynth in rows.items():
            started = time.perf_counter()
            given = wave if row == TRUE_MAGNITUDE else mel
            out = wave if resynth is None else np.asarray(resynth(given), dtype=np.float32).reshape(-1)
            spent = time.perf_counter() - started
            tune = in_tune_share(out, spec.sample_rate)
            per_clip[row].append(
                {
                    "clip": clip.name,
                    "piece": clip.piece,
                    "seconds": duration,
                    "comb_share": comb_share(out, spec.sample_rate),
                    "mrstft": mrstft_distance(wave, out),
                    "in_tune_share": tune.share,
                    "voiced_share": tune.voiced_share,
                    "note_f1": note_f1(reference_notes, transcribe(out, spec.sample_rate)),
                    "rtf": None if resynth is None else spent / duration,
                    "notes": len(reference_notes[1]),
                }
            )
        progress(clip.name)
    return {
        "clips": [{"name": c.name, "path": str(c.path), "piece": c.piece} for c in clips],
        "rows": {row: {"summary": _summary(items), "clips": items} for row, items in per_clip.items()},
    }


def _summary(items: list[dict]) -> dict[str, dict[str, float | None]]:
    rng = np.random.default_rng(0)
    out = {}
    for _, key, _ in COLUMNS:
        values = np.array([v for v in (i[key] for i in items) if v is not None and math.isfinite(v)])
        if len(values) == 0:
            out[key] = {"mean": None, "min": None, "max": None, "ci95": None, "n": 0}
            continue
        means = values[rng.integers(0, len(values), size=(BOOTSTRAP, len(values)))].mean(axis=1)
        out[key] = {
            "mean": float(values.mean()),
            "min": float(values.min()),
            "max": float(values.max()),
            "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
            "n": len(values),
        }
    return out


def markdown(result: dict[str, Any], *, command: str, seconds: float, data: str) -> str:
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    n = len(result["clips"])
    lines = [
        SECTION,
        "",
        f"Measured {date} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(load average {load}), {n} clips of `{data}` (one per piece, the first {seconds:g} s of each), "
        "with:",
        "",
        f"    {command}",
        "",
        "Each clip's log-mel (160 bands, hop 300) resynthesised by each row and scored against the original "
        "(`benchmarks/resynthesis.py` defines every column): comb share = energy within 2 Hz of a multiple "
        "of 80 Hz, the mel frame rate (chance 0.05); MR-STFT distance = mean over FFT 512/1024/2048 of "
        "spectral convergence + log-magnitude L1 (0 = identical); in tune / voiced = pYIN frames within 25 "
        "cents of A440 12-TET / voiced frames; note F1 = basic-pitch notes against the original's (50 ms "
        "onsets, no offsets); RTF = seconds of resynthesis per second of audio on this machine. "
        "Mean over clips (min–max).",
        "",
        "| resynthesis | " + " | ".join(title for title, _, _ in COLUMNS) + " |",
        "|---" * (1 + len(COLUMNS)) + "|",
    ]
    for row, entry in result["rows"].items():
        cells = []
        for _, key, digits in COLUMNS:
            s = entry["summary"][key]
            cells.append(
                "–"
                if s["mean"] is None
                else f"{s['mean']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"
            )
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _named(values: list[str], what: str) -> dict[str, str]:
    named = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--{what} {value!r}: expected NAME=PATH")
        if name in named or name in ("original", "griffin-lim"):
            raise ValueError(f"--{what} {value!r}: the name {name!r} is taken")
        named[name] = path
    return named


def _parsed_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.resynthesis", description=__doc__.split("\n")[0])
    p.add_argument("--data", default="runs/demo/data/test", help="a rendered data folder (clips + sidecars)")
    p.add_argument("--clips", type=int, default=12, help="clips, one per piece (default 12)")
    p.add_argument("--seconds", type=float, default=10.0, help="the first SECONDS of each clip")
    p.add_argument("--vocoder", action="append", default=[], metavar="NAME=PATH", help="checkpoint or bundle")
    p.add_argument("--vae", action="append", default=[], metavar="NAME=PATH", help="checkpoint or bundle")
    p.add_argument("--write", type=Path, metavar="MD", help="replace the section of this file")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every number as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from muvi_plugin.errors import MuviError

    args = _parsed_args(argv)
    command = shlex.join(
        ["python", "-m", "benchmarks.resynthesis", *(sys.argv[1:] if argv is None else argv)]
    )
    spec = MelSpec()
    try:
        if args.clips < 1 or not args.seconds >= 1.0:
            raise ValueError(f"need --clips >= 1 and --seconds >= 1, got {args.clips} and {args.seconds}")
        vocoders = {n: load_vocoder(p) for n, p in _named(args.vocoder, "vocoder").items()}
        vaes = {n: load_vae(p) for n, p in _named(args.vae, "vae").items()}
        if vaes and not vocoders:
            raise ValueError("--vae needs at least one --vocoder to turn its mel into sound")
        clips = pick_clips(args.data, args.clips)
        result = measure(
            clips,
            systems(vocoders, vaes, spec),
            seconds=args.seconds,
            spec=spec,
            progress=lambda name: print(f"resynthesis: {name}", file=sys.stderr, flush=True),
        )
    except (ValueError, FileNotFoundError, ImportError, MuviError) as exc:
        print(f"benchmarks.resynthesis: error: {exc}", file=sys.stderr)
        return 2
    result["settings"] = {
        "data": str(args.data),
        "seconds": args.seconds,
        "vocoders": _named(args.vocoder, "vocoder"),
        "vaes": _named(args.vae, "vae"),
        "command": command,
    }
    text = markdown(result, command=command, seconds=args.seconds, data=str(args.data))
    print(text)
    if args.write:
        from benchmarks.sections import replace_section

        replace_section(args.write, SECTION, text)
    if args.json:
        from training.metrics.report import write_report

        write_report(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
