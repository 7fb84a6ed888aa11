"""What a latent of C channels at 10 frames/s could keep: linear bounds for the VAE (issue 14, "a latent
that keeps notes").

The trained VAEs lose every note (note F1 0.000 in "Resynthesis"). Before training bigger ones, this asks
what the latent's *shape* allows, with no training at all:

- ``pool K``: each run of K mel frames replaced by its mean magnitude (160 channels at 80/K frames/s);
- ``pca C``: each block of 8 mel frames (160 x 8 values, one 10 fps latent frame) projected on the first C
  principal components of such blocks, fitted on ``--fit-clips`` training clips: the best *linear* latent
  of C channels at MuVi's 10 frames/s (in the least-squares sense on log-mel).

Each row resynthesises the same held-out clips as `benchmarks/resynthesis.py` (one clip per piece, the first
``--seconds``) through the given vocoder, scored like it: log-mel L1 to the original, in-tune share, note F1
against the original's transcription (`training/metrics/musicality.py`).

Run from the repository root:
    python -m benchmarks.latent_bounds --vocoder checkpoints/demo/vocoder.ckpt --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from benchmarks.resynthesis import load_vocoder, pick_clips
from muvi_plugin.mel import MelSpec, mel_spectrogram

SECTION = "## Latent bounds"
BLOCK = 8  # mel frames per 10 fps latent frame


def _wave(path: Path, seconds: float, spec: MelSpec) -> np.ndarray:
    from muvi_plugin.media import probe, read_audio

    end = min(seconds, probe(path).audio_end)
    wave = read_audio(path, start=0.0, end=end, sample_rate=spec.sample_rate)
    frames = spec.num_frames(len(wave)) // BLOCK * BLOCK
    return wave[: frames * spec.hop_length]


def blocks(mel: np.ndarray) -> np.ndarray:
    """`(m, T)` log-mel, T a multiple of 8 -> `(T / 8, m * 8)`: one row per 10 fps latent frame."""
    m, t = mel.shape
    return mel.reshape(m, t // BLOCK, BLOCK).transpose(1, 0, 2).reshape(t // BLOCK, m * BLOCK)


def unblocks(rows: np.ndarray, m: int) -> np.ndarray:
    """The inverse of `blocks`."""
    return rows.reshape(len(rows), m, BLOCK).transpose(1, 0, 2).reshape(m, len(rows) * BLOCK)


def pooled(mel: np.ndarray, k: int) -> np.ndarray:
    """Every run of `k` frames replaced by its mean magnitude (the log of the mean of exp)."""
    m, t = mel.shape
    mean = np.log(np.exp(mel).reshape(m, t // k, k).mean(-1))
    return np.repeat(mean, k, axis=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.latent_bounds", description=__doc__.split("\n")[0])
    p.add_argument("--vocoder", required=True, help="vocoder checkpoint or bundle folder")
    p.add_argument("--data", default="runs/demo/data", help="rendered data folder (train/ and test/)")
    p.add_argument("--clips", type=int, default=8, help="held-out clips, one per piece")
    p.add_argument("--fit-clips", type=int, default=40, help="training clips the components are fitted on")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--channels", type=int, nargs="+", default=[8, 32, 64, 128])
    p.add_argument("--pools", type=int, nargs="+", default=[2, 4, 8])
    p.add_argument("--write", type=Path, help="put the table in this file's 'Latent bounds' section")
    args = p.parse_args(argv)
    from training.metrics.musicality import in_tune_share, note_f1, transcribe

    spec = MelSpec()
    data = Path(args.data)
    fit = sorted((data / "train").glob("*.mkv"))[: args.fit_clips]
    if not fit:
        p.error(f"{data / 'train'}: no clips (render them: muvi-train recipe demo --until data)")
    rows = np.concatenate([blocks(mel_spectrogram(_wave(f, 20.0, spec), spec)) for f in fit])
    mean = rows.mean(0)
    _, _, components = np.linalg.svd(rows - mean, full_matrices=False)
    vocoder = load_vocoder(args.vocoder)
    systems = {"mel (no latent)": lambda mel: mel}
    systems.update({f"pool {k} (160 x {80 // k}/s)": lambda mel, k=k: pooled(mel, k) for k in args.pools})
    for c in args.channels:
        basis = components[:c]
        systems[f"pca {c} ({c} x 10/s)"] = lambda mel, b=basis: unblocks(
            (blocks(mel) - mean) @ b.T @ b + mean, mel.shape[0]
        )
    results: dict[str, list[dict]] = {name: [] for name in systems}
    clips = pick_clips(data / "test", args.clips)
    load = [os.getloadavg()[0]]
    for clip in clips:
        wave = _wave(clip.path, args.seconds, spec)
        mel = mel_spectrogram(wave, spec)
        reference = transcribe(wave, spec.sample_rate)
        for name, through in systems.items():
            latent_mel = through(mel)
            out = np.asarray(vocoder(latent_mel.astype(np.float32))).reshape(-1)
            results[name].append(
                {
                    "mel_l1": float(np.abs(latent_mel - mel).mean()),
                    "in_tune": in_tune_share(out, spec.sample_rate).share,
                    "note_f1": note_f1(reference, transcribe(out, spec.sample_rate)),
                }
            )
        print(f"latent_bounds: {clip.name}", flush=True)
    load.append(os.getloadavg()[0])
    lines = ["| latent | log-mel L1 | in tune | note F1 |", "|---|---|---|---|"]
    for name, items in results.items():
        cells = [f"{np.nanmean([i[k] for i in items]):.3f}" for k in ("mel_l1", "in_tune", "note_f1")]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    print("\n".join(lines))
    if args.write is not None:
        from benchmarks.sections import invocation, measured, replace_section

        command = invocation("benchmarks.latent_bounds", argv)
        text = (
            f"{SECTION}\n\n{measured(load)}; {len(clips)} held-out clips (one per "
            f"piece, first {args.seconds:g} s), components fitted on {len(fit)} training clips; every row "
            f"through the same vocoder (`{args.vocoder}`); `benchmarks/latent_bounds.py` defines the "
            f"rows:\n\n    {command}\n\nMean over clips. No row is trained: each is a bound on what a "
            'latent of its shape can keep, to compare with the trained VAEs of "Resynthesis".\n\n'
            + "\n".join(lines)
            + "\n"
        )
        replace_section(args.write, SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
