"""Seconds per stage of scoring a video range with the runtime, ONNX Runtime against PyTorch, and growth.

Every measurement scores the range `[0, s)` of one H.264 video (1280x720, 25 FPS, a moving pattern, no
sound) rendered here with PyAV, through the public API (`muvi_plugin.api.load_bundle(...).score`) at 25
Euler steps, guidance 4 and seed 0, and then writes the music as a WAV file (`muvi_plugin.audio_io`). It
runs in a fresh Python process of its own, so its peak resident memory (`VmHWM` at its end) is that of one
scoring job, bundle loading included, and the ONNX Runtime process never imports torch.

The PyTorch side runs `training.inference.generate` (one window) on the same model parts the bundle was
exported from, with the same decoded frames and the same noise as the runtime's first window, and its audio
is compared with the runtime's. Decoding is excluded on both sides: the runtime's `model` seconds are the
sum of its encoder, adaptor, DiT, VAE and vocoder stages.

`debug` is `export.bundle.debug_parts`. `base` is the paper's sizes (MuVi App. A: DiT 12 x 1024, VideoMAE
V2 ViT-B/16, VAE 256 x [1, 2, 4, 8], HiFi-GAN 1200), randomly initialised: the pre-trained encoder is
unreachable here, so a random `transformers.VideoMAEConfig()` ViT-B/16 is saved to the work folder and
loaded as the local checkpoint. Untrained weights cost the same compute.

Run from the repository root:
    python benchmarks/score.py --preset debug                       # tables to stdout
    python benchmarks/score.py --preset base --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

SECTION = "## Scoring (inference)"
INTRO = "# Benchmarks\n\nMeasured speeds of muvi; every number comes from a script under `benchmarks/`.\n"
PRESETS = ("debug", "demo", "base")
STAGES = ("decode", "encoder", "adaptor", "dit", "vae", "vocoder", "write")
MODEL_STAGES = ("encoder", "adaptor", "dit", "vae", "vocoder")
SECONDS = {"debug": (10.0, 30.0, 60.0, 120.0), "demo": (10.0, 30.0, 60.0, 120.0), "base": (10.0, 30.0)}
REPEATS = {"debug": 3, "demo": 3, "base": 1}  # scores per process; the table shows the median one
STEPS, GUIDANCE, SEED = 25, 4.0, 0
COMPARE_SECONDS = 30.0  # the ONNX Runtime vs PyTorch row; one window at the default 30 s maximum
VIDEO_SIZE, VIDEO_FPS = (1280, 720), 25


@dataclass(frozen=True)
class Job:
    """One measurement, run in its own process (`_child`)."""

    engine: str  # "ort" (the runtime) or "torch" (training.inference.generate)
    preset: str
    seconds: float
    repeats: int
    video: str
    bundle: str
    parts: str  # torch.save'd part entries, for the torch side
    out: str  # where the child writes its JSON result
    audio: str  # where the child saves its first run's audio (.npy), for the parity check
    threads: int
    device: str = "cpu"  # "cpu" or "cuda": ONNX Runtime's provider and torch's device


# --- inputs ----------------------------------------------------------------------------------------------


def render_video(path: Path, *, seconds: float) -> Path:
    """Write a 1280x720 25 FPS H.264 video of scrolling stripes and a bouncing box, slowly changing colour."""
    import av

    width, height = VIDEO_SIZE
    x = np.arange(width + 256)[None, :] + np.arange(height)[:, None]
    stripes = ((x // 32) % 2 * 90 + 60).astype(np.uint8)  # diagonal stripes, tiled wider than the frame
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=VIDEO_FPS, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * VIDEO_FPS)):
            now = i / VIDEO_FPS
            shift = (i * 6) % 64
            tint = 0.5 + 0.5 * np.sin(now * np.array([0.3, 0.5, 0.7]))
            picture = (stripes[:, shift : shift + width, None] * tint).astype(np.uint8)
            bx = int(abs((now * 400) % (2 * (width - 160)) - (width - 160)))
            by = int(abs((now * 250) % (2 * (height - 160)) - (height - 160)))
            picture[by : by + 160, bx : bx + 160] = (250, 220, 40)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, VIDEO_FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def build_parts(preset: str, work: Path, *, seed: int = 0) -> dict:
    """Randomly initialised model parts of `preset` (seeded), in eval mode."""
    import torch
    from torch import nn
    from transformers import VideoMAEConfig, VideoMAEModel

    from export.bundle import debug_parts
    from training import presets
    from training.models.registry import build_part

    if preset == "debug":
        return debug_parts(seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        checkpoint = None
        if preset != "demo":  # demo: the from-scratch encoder, no checkpoint
            checkpoint = work / "videomae_b16"
            VideoMAEModel(VideoMAEConfig()).save_pretrained(checkpoint)  # ViT-B/16, 16 frames, 224 px
        config = presets.visual_encoder_config(
            preset, checkpoint=None if checkpoint is None else str(checkpoint)
        )
        encoder = build_part("visual_encoder", config)
        parts = {
            "visual_encoder": encoder,
            "adaptor": build_part("adaptor", presets.adaptor_config(preset, encoder)),
            "dit": build_part("dit", presets.dit_config(preset)),
            "vae": build_part("vae", presets.vae_config(preset)),
            "vocoder": build_part("vocoder", presets.vocoder_config(preset)),
        }
        # Zero at initialisation: random weights make the velocity (and the parity check) depend on the input.
        nn.init.normal_(parts["dit"].out_proj.weight, std=0.02)
    return {name: part.eval() for name, part in parts.items()}


def prepare(preset: str, work: Path, *, verify: bool) -> tuple[Path, Path, dict[str, float]]:
    """Export `preset`'s parts as a bundle and save them for the torch side: (bundle, parts file, seconds).

    A bundle, parts file and timing record that an earlier run left in `work` are reused (`--work`).
    """
    import torch

    from export.bundle import export_bundle
    from training.models.registry import part_entry

    bundle, parts_file, record = (
        work / f"bundle-{preset}",
        work / f"parts-{preset}.pt",
        work / f"{preset}.json",
    )
    if record.exists() and parts_file.exists() and (bundle / "manifest.json").exists():
        return bundle, parts_file, json.loads(record.read_text())
    began = time.perf_counter()
    parts = build_parts(preset, work)
    built = time.perf_counter()
    export_bundle(
        parts,
        bundle,
        name=f"muvi-{preset}-random",
        provenance={"preset": preset, "training": "none: randomly initialised, for benchmarks"},
        verify=verify,
        overwrite=True,
    )
    exported = time.perf_counter()
    torch.save({name: part_entry(part) for name, part in parts.items()}, parts_file)
    prep = {"build": built - began, "export": exported - built, "verified": verify}
    record.write_text(json.dumps(prep))
    return bundle, parts_file, prep


# --- one measurement, in a fresh process -----------------------------------------------------------------


def _child(job: Job) -> dict:
    """Run `job` and return what it measured; called in the child process."""
    run = _score_ort if job.engine == "ort" else _score_torch
    result = run(job)
    result["peak_rss_mib"] = peak_rss_mib()
    result["torch_loaded"] = "torch" in sys.modules
    return result


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started, in MiB (Linux).

    `VmHWM`, not `getrusage(RUSAGE_SELF).ru_maxrss`: Linux carries the parent's peak over into the child's
    `ru_maxrss` through fork and exec, so a child of this (torch-laden) benchmark would report at least the
    parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status (not Linux?)")


def _score_ort(job: Job) -> dict:
    from muvi_plugin.api import ScoreRequest, load_bundle
    from muvi_plugin.audio_io import write_audio

    began = time.perf_counter()
    scorer = load_bundle(job.bundle, device=job.device, threads=job.threads)
    load = time.perf_counter() - began
    request = ScoreRequest(job.video, start=0.0, end=job.seconds, seed=SEED, steps=STEPS, guidance=GUIDANCE)
    runs = []
    for i in range(job.repeats):
        result = scorer.score(request)
        began = time.perf_counter()
        write_audio(Path(job.out).with_suffix(".wav"), result.audio, result.sample_rate)
        seconds = {**result.report.seconds, "write": time.perf_counter() - began}
        seconds["total"] += seconds["write"]
        runs.append(seconds)
        if i == 0:
            np.save(job.audio, result.audio)
    return {"load": load, "runs": runs, "windows": len(result.report.windows)}


def _score_torch(job: Job) -> dict:
    import torch

    from muvi_plugin import media
    from muvi_plugin.bundle import read_bundle_manifest
    from muvi_plugin.windows import frames_for
    from training.inference import generate
    from training.models.registry import load_part

    torch.set_num_threads(job.threads)
    began = time.perf_counter()
    entries = torch.load(job.parts, weights_only=True)
    parts = {name: load_part(name, entry).eval().to(job.device) for name, entry in entries.items()}
    m = read_bundle_manifest(job.bundle)
    load = time.perf_counter() - began
    runs = []
    for i in range(job.repeats):
        began = time.perf_counter()
        # What the runtime feeds its first window (muvi_plugin.pipeline.video_condition, sample_window).
        v = m.video
        frames = media.read_video_frames(
            job.video, start=0.0, end=job.seconds, fps=v.fps, size=(v.image_size,) * 2
        )
        pixels = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))).float() / 255.0
        n = frames_for(job.seconds, m.latent.rate)
        rng = np.random.default_rng([SEED, 0])
        noise = torch.from_numpy(rng.standard_normal((1, n, m.latent.channels), dtype=np.float32))
        pixels, noise = pixels.to(job.device), noise.to(job.device)
        decoded = time.perf_counter()
        wave = generate(parts, pixels, noise=noise, steps=STEPS, guidance=GUIDANCE).cpu()  # waits for CUDA
        done = time.perf_counter()
        runs.append({"decode": decoded - began, "model": done - decoded, "total": done - began})
        if i == 0:
            np.save(job.audio, wave.numpy()[: round(job.seconds * m.audio.sample_rate)])
    return {"load": load, "runs": runs, "windows": 1}


def measure(job: Job) -> dict:
    """Run `job` in a fresh Python process; add the 1-minute load average before and after it."""
    before = os.getloadavg()[0]
    spec = json.dumps(job.__dict__)
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", spec], check=True, cwd=root)
    result = json.loads(Path(job.out).read_text())
    if job.engine == "ort" and result["torch_loaded"]:
        raise RuntimeError("the runtime loaded torch while scoring (it must not: docs/architecture.md)")
    result["load_avg"] = (before, os.getloadavg()[0])
    result["job"] = job.__dict__
    return result


def median_run(result: dict) -> dict:
    """The run with the median total (the later one of the middle two for an even count)."""
    runs = sorted(result["runs"], key=lambda r: r["total"])
    return runs[len(runs) // 2]


# --- a whole preset ----------------------------------------------------------------------------------------


def run_preset(preset: str, work: Path, *, seconds: list[float], args: argparse.Namespace) -> dict:
    """Export the preset's bundle, render the video, time every length (ORT) and the comparison (torch)."""
    started = time.perf_counter()
    repeats = args.repeats or REPEATS[preset]
    bundle, parts, prep = prepare(preset, work, verify=not args.no_verify)
    print(f"{preset}: built in {prep['build']:.1f} s, exported in {prep['export']:.1f} s", file=sys.stderr)
    longest = max([*seconds, COMPARE_SECONDS if args.compare else 0.0])
    video = work / f"pattern-{longest:g}s.mp4"
    if not video.exists():
        render_video(video, seconds=longest)

    def job(engine: str, s: float) -> Job:
        stem = work / f"{preset}-{engine}-{s:g}s"
        return Job(
            engine=engine,
            preset=preset,
            seconds=s,
            repeats=repeats,
            video=str(video),
            bundle=str(bundle),
            parts=str(parts),
            out=str(stem.with_suffix(".json")),
            audio=str(stem.with_suffix(".npy")),
            threads=args.threads,
            device=args.device,
        )

    ort = {}
    for s in sorted(set(seconds) | ({COMPARE_SECONDS} if args.compare else set())):
        ort[s] = measure(job("ort", s))
        print(f"{preset} ort {s:g} s: {median_run(ort[s])['total']:.2f} s", file=sys.stderr, flush=True)
    compare = None
    if args.compare:
        torch_result = measure(job("torch", COMPARE_SECONDS))
        print(f"{preset} torch: {median_run(torch_result)['total']:.2f} s", file=sys.stderr, flush=True)
        a, b = (np.load(job(e, COMPARE_SECONDS).audio) for e in ("ort", "torch"))
        compare = {
            "ort": ort[COMPARE_SECONDS],
            "torch": torch_result,
            "max_abs_diff": float(np.max(np.abs(a - b))),
            "peak": float(np.max(np.abs(b))),
        }
    sizes = {p.name: p.stat().st_size for p in Path(bundle).glob("*.onnx")}
    return {
        "flops": count_flops(parts, bundle),
        "preset": preset,
        "repeats": repeats,
        "prep": prep,
        "bundle_mib": sum(sizes.values()) / 2**20,
        "ort": {s: r for s, r in ort.items() if s in seconds},
        "compare": compare,
        "wall": time.perf_counter() - started,
    }


def count_flops(parts_file: Path, bundle: Path) -> dict[str, float]:
    """FLOPs per model stage of one `COMPARE_SECONDS` window (`benchmarks.flops.stage_flops`)."""
    import torch

    from benchmarks.flops import stage_flops
    from muvi_plugin.bundle import read_bundle_manifest
    from training.models.registry import load_part

    entries = torch.load(parts_file, weights_only=True)
    parts = {name: load_part(name, entry).eval() for name, entry in entries.items()}
    v = read_bundle_manifest(bundle).video
    return stage_flops(parts, seconds=COMPARE_SECONDS, steps=STEPS, image_size=v.image_size, fps=v.fps)


# --- report ----------------------------------------------------------------------------------------------


def machine(threads: int) -> dict[str, str]:
    import onnxruntime
    import torch

    def field(path: str, key: str) -> str:
        return next(
            (
                line.split(":", 1)[1].strip()
                for line in Path(path).read_text().splitlines()
                if line.startswith(key)
            ),
            "unknown",
        )

    mem_kb = int(field("/proc/meminfo", "MemTotal").split()[0])
    return {
        "cpu": field("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "ram": f"{mem_kb / 2**20:.0f} GiB",
        "threads": str(threads),
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _paragraph(text: str) -> list[str]:
    return [*textwrap.wrap(text, width=110, break_on_hyphens=False), ""]


def section_intro() -> str:
    lines = [SECTION, ""]
    lines += _paragraph(
        "Scoring the range `[0, s)` of a 1280x720 25 FPS H.264 video (a moving pattern, rendered by "
        "`benchmarks/score.py`) through `muvi_plugin.api.load_bundle(...).score` on ONNX Runtime's CPU "
        f"provider, fp32, {STEPS} Euler steps, guidance {GUIDANCE:g}, seed {SEED}, then writing the music "
        "as a 16-bit WAV. Each row is a fresh Python process: `load` is opening the bundle (checksums, "
        "sessions), not part of `total`; the stage columns are the runtime's report "
        "(`ScoreReport.seconds`) and `write` is timed around `write_audio`; `total` is the report's total "
        "plus `write`; RTF is total seconds per second of music. `peak RSS` is the process's peak resident "
        "memory (`VmHWM`, bundle loading included). Ranges longer than the bundle's 30 s window run window "
        "by window with 5 s of context (`windows`)."
    )
    lines += _paragraph(
        "The ONNX Runtime vs PyTorch rows run the same model parts, the same frames and the same noise: "
        "`training.inference.generate` (PyTorch eager) against the runtime's first and only window. Decoding "
        "is excluded on both sides (runtime: encoder + adaptor + DiT + VAE + vocoder stages). `max |diff|` "
        "is the largest difference between the two waveforms (peak amplitude in brackets)."
    )
    lines += _paragraph(
        "The CPU was shared with other people's jobs: `load` is the 1-minute load average before and after "
        "each process; where it nears or passes the core count, times are inflated."
    )
    return "\n".join(lines)


def _title(preset: str, device: str) -> str:
    """The subsection's name: the preset, and the device when it is not the CPU."""
    return preset if device == "cpu" else f"{preset} on {device.upper()}"


def markdown(result: dict, *, info: dict[str, str], command: str, date: str) -> str:
    """The preset's subsection: machine, command, the per-length table, the comparison, notes."""
    preset = result["preset"]
    lines = [f"### {_title(preset, info['device'])}", ""]
    lines += _paragraph(
        f"Measured {date} on {info['cpu']}, {info['cores']} cores, {info['ram']} RAM, {info['threads']} "
        f"threads (ONNX Runtime intra-op and torch), device {info['device']}, onnxruntime "
        f"{info['onnxruntime']}, torch {info['torch']}, Python {info['python']}, with:"
    )
    lines += [f"    {command}", ""]
    prep = result["prep"]
    note = (
        f"Bundle: {result['bundle_mib']:.0f} MiB of ONNX, built in {prep['build']:.0f} s and exported in "
        f"{prep['export']:.0f} s ({'with' if prep['verified'] else 'without'} parity verification). Each "
        f"process scores {result['repeats']} time(s) and the row shows the run with the median total."
    )
    if preset == "base":
        note += (
            " The VideoMAE V2 encoder is a random `transformers.VideoMAEConfig()` ViT-B/16 of the exact "
            "architecture (no pre-trained weights are reachable); the compute is the same."
        )
    lines += _paragraph(note + f" The whole run took {result['wall'] / 60:.1f} minutes.")
    head = "| seconds | windows | " + " | ".join(STAGES) + " | total | RTF | load s | peak RSS | load avg |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for s, r in sorted(result["ort"].items()):
        run = median_run(r)
        cells = [f"{run[stage]:.2f}" for stage in STAGES]
        lines.append(
            f"| {s:g} | {r['windows']} | " + " | ".join(cells) + f" | {run['total']:.2f} | "
            f"{run['total'] / s:.3f} | {r['load']:.2f} | {r['peak_rss_mib']:.0f} MiB | "
            f"{r['load_avg'][0]:.1f} / {r['load_avg'][1]:.1f} |"
        )
    lines += [""]
    lines += _growth(result["ort"])
    lines += _flops_table(result)
    compare = result["compare"]
    if compare is not None:
        ort, tor = median_run(compare["ort"]), median_run(compare["torch"])
        ort_model = sum(ort[stage] for stage in MODEL_STAGES)
        lines += [
            "| engine | seconds | model s (no decoding) | decode s | torch / ORT | peak RSS "
            "| max \\|diff\\| |",
            "|---|---|---|---|---|---|---|",
            f"| ONNX Runtime | {COMPARE_SECONDS:g} | {ort_model:.2f} | {ort['decode']:.2f} | 1 | "
            f"{compare['ort']['peak_rss_mib']:.0f} MiB | |",
            f"| PyTorch eager | {COMPARE_SECONDS:g} | {tor['model']:.2f} | {tor['decode']:.2f} | "
            f"{tor['model'] / ort_model:.2f} | {compare['torch']['peak_rss_mib']:.0f} MiB | "
            f"{compare['max_abs_diff']:.2g} ({compare['peak']:.2g}) |",
            "",
        ]
    return "\n".join(lines)


def _flops_table(result: dict) -> list[str]:
    """FLOPs and achieved FLOP/s of each model stage in the `COMPARE_SECONDS` row, against the peak."""
    from benchmarks.flops import PEAK_SIZE

    if COMPARE_SECONDS not in result["ort"]:
        return []
    run, peak = median_run(result["ort"][COMPARE_SECONDS]), result["peak_flops"]
    lines = _paragraph(
        f"FLOPs of the {COMPARE_SECONDS:g} s row counted by `benchmarks/flops.py` (matrix products and "
        "convolutions, 2 per multiply-add) and the rate ONNX Runtime achieved on them, against this "
        f"machine's measured float32 peak of {peak / 1e9:.0f} GFLOP/s (best `numpy.matmul` of "
        f"{PEAK_SIZE}x{PEAK_SIZE} on every core, measured just before the runs)."
    )
    lines += ["| stage | GFLOP | seconds | GFLOP/s | share of peak |", "|---|---|---|---|---|"]
    for stage in MODEL_STAGES:
        flops, seconds = result["flops"][stage], run[stage]
        rate = flops / seconds if seconds > 0 else float("nan")
        lines.append(
            f"| {stage} | {flops / 1e9:.2f} | {seconds:.2f} | {rate / 1e9:.1f} | {rate / peak:.0%} |"
        )
    total_flops = sum(result["flops"].values())
    total_seconds = sum(run[stage] for stage in MODEL_STAGES)
    lines.append(
        f"| all | {total_flops / 1e9:.2f} | {total_seconds:.2f} | {total_flops / total_seconds / 1e9:.1f} | "
        f"{total_flops / total_seconds / peak:.0%} |"
    )
    return [*lines, ""]


def _growth(rows: dict) -> list[str]:
    """One sentence: how the total and each stage grow from the shortest to the longest range."""
    if len(rows) < 2:
        return []
    short, long = min(rows), max(rows)
    a, b = median_run(rows[short]), median_run(rows[long])
    per_second = {
        stage: (b[stage] / long) / (a[stage] / short) for stage in (*STAGES, "total") if a[stage] > 0
    }
    worst = max((s for s in per_second if s != "total"), key=per_second.get)
    return _paragraph(
        f"From {short:g} s to {long:g} s ({long / short:g}x the music) the total grew "
        f"{b['total'] / a['total']:.2f}x; per second of music the stages changed by "
        + ", ".join(f"{stage} {per_second[stage]:.2f}x" for stage in STAGES if stage in per_second)
        + f" (fastest-growing: {worst})."
    )


def write_section(path: Path, subsection: str, preset: str) -> None:
    """Put the preset's subsection into the "Scoring (inference)" section, leaving every other section be."""
    text = path.read_text() if path.exists() else INTRO
    start = text.find(SECTION + "\n")
    if start < 0:
        before, body, after = text.rstrip("\n") + "\n\n", "", ""
    else:
        end = text.find("\n## ", start + len(SECTION))
        end = len(text) if end < 0 else end + 1
        before, body, after = text[:start], text[start:end], text[end:]
    subsections = {}
    for chunk in body.split("\n### ")[1:]:
        name = chunk.split("\n", 1)[0].strip()
        subsections[name] = "### " + chunk.rstrip("\n") + "\n"
    subsections[preset] = subsection.rstrip("\n") + "\n"
    order = [p for p in PRESETS if p in subsections] + [p for p in subsections if p not in PRESETS]
    section = section_intro().rstrip("\n") + "\n\n" + "\n".join(subsections[p] for p in order)
    text = before + section + ("\n" + after if after else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- command line ------------------------------------------------------------------------------------------


def _parsed_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/score.py", description=__doc__.split("\n")[0])
    p.add_argument("--preset", nargs="+", default=["debug"], choices=PRESETS)
    p.add_argument(
        "--seconds", nargs="+", type=float, help="range lengths (default: 10 30 60 120 debug, 10 30 base)"
    )
    p.add_argument("--repeats", type=int, help="scores per process (default: 3 debug, 1 base)")
    p.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="ORT and torch threads (default: all cores)"
    )
    p.add_argument(
        "--device", default="cpu", choices=("cpu", "cuda"), help="ORT provider and torch device (default cpu)"
    )
    p.add_argument("--no-compare", dest="compare", action="store_false", help="skip the PyTorch comparison")
    p.add_argument("--no-verify", action="store_true", help="export without the ORT-vs-torch parity check")
    p.add_argument(
        "--write", type=Path, metavar="MD", help="update the 'Scoring (inference)' section of this file"
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the raw measurements as JSON")
    p.add_argument("--work", type=Path, help="work folder (default: a temporary one, deleted at the end)")
    p.add_argument("--child", help=argparse.SUPPRESS)  # one measurement (a Job as JSON), run by `measure`
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parsed_args(argv)
    if args.child:
        job = Job(**json.loads(args.child))
        Path(job.out).write_text(json.dumps(_child(job)))
        return 0
    command = shlex.join(["python", "benchmarks/score.py", *(sys.argv[1:] if argv is None else argv)])
    info = {**machine(args.threads), "device": args.device}
    work = args.work or Path(tempfile.mkdtemp(prefix="muvi-score-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    from benchmarks.flops import sgemm_peak

    results = []
    peak = sgemm_peak()  # before the runs, on an otherwise idle process
    print(f"float32 matmul peak: {peak / 1e9:.0f} GFLOP/s", file=sys.stderr)
    try:
        for preset in args.preset:
            date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
            seconds = sorted(args.seconds or SECONDS[preset])
            result = run_preset(preset, work, seconds=seconds, args=args)
            result["peak_flops"] = peak
            results.append(result)
            subsection = markdown(result, info=info, command=command, date=date)
            print(subsection)
            if args.write:
                # re-read just before writing
                write_section(args.write, subsection, _title(preset, args.device))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "command": command, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    if not __package__:  # run as a file: make the repository's packages importable
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
