"""Seconds per training step of every stage, at every preset size, on this machine.

A step is what `training.loop.train` does once per batch: `train_step` on a real `State` built by
`build_state` — forward, backward, gradient clipping and AdamW, for every phase of the stage (the vocoder's
GAN has two). Data loading is timed apart: the batch is decoded before the clock starts.

The data is a small folder of videos with click-track soundtracks, rendered here with PyAV into a temporary
folder. Segment lengths are fixed (min = max seconds) so every step sees the same shapes. The stages run in
training order and each one saves a checkpoint, so the DiT stages start from the VAE (and v2m from the DiT
and the adaptor) that the earlier rows just trained. `base` needs the paper's pre-trained encoders, which
are unreachable here: a randomly initialised VideoMAE ViT-B/16 (`transformers.VideoMAEConfig()`) and
AudioMAE ViT-B/16 of the exact architecture are written to the temporary folder instead; the compute is
the same.

Run from the repository root:
    python -m benchmarks.train_steps                       # debug, demo and base; table to stdout
    python -m benchmarks.train_steps --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SECTION = "## Training steps"
PRESETS = ("debug", "demo", "base")
STEPS = {"debug": 10, "demo": 10, "base": 3}  # timed steps after one warm-up step

# Rendered data: more videos than the largest batch (the sampler wants distinct videos in a batch), each
# longer than the longest segment.
VIDEOS, VIDEO_SECONDS, VIDEO_SIZE, VIDEO_FPS, AUDIO_RATE = 6, 12.0, (256, 192), 10, 48_000


@dataclass(frozen=True)
class Case:
    """One row of the table: a stage at a preset with a fixed batch of `batch_size` x `seconds` segments."""

    preset: str
    stage: str
    batch_size: int
    seconds: float
    label: str = ""
    adversarial_start: int = 0

    @property
    def name(self) -> str:
        return self.label or self.stage


def cases(preset: str) -> list[Case]:
    """The rows of one preset, in training order (each stage's checkpoint initialises the later ones).

    Every row has batch 4. DiT stages and contrastive learn on 10 s segments (the AudioMAE window is
    10.24 s); the vocoder task crops 1 s windows itself, so it gets 1 s segments. On a 2-core CPU the whole
    base run (1 warm-up + 3 steps per row, building and saving included) takes about 12 minutes, most of
    it in contrastive and v2m, which run the frozen ViT-B/16 encoders on every step.
    """
    never = 10**9  # adversarial_start past the end: generator losses (multi-resolution STFT + mel) only
    return [
        Case(preset, "vae", 4, 10.0),
        Case(preset, "vocoder", 4, 1.0, label="vocoder (STFT+mel)", adversarial_start=never),
        Case(preset, "vocoder", 4, 1.0, label="vocoder (+GAN)", adversarial_start=0),
        Case(preset, "dit-pretrain", 4, 10.0),
        Case(preset, "contrastive", 4, 10.0),
        Case(preset, "v2m", 4, 10.0),
    ]


@dataclass
class Result:
    case: Case
    steps: list[float]  # seconds per timed step
    data: list[float]  # seconds to load each timed batch
    parts: dict[str, tuple[int, int]]  # part -> (parameters, trainable parameters) in this stage
    optimised: int  # parameters the step updated (those of its optimisers that got a gradient)
    load: tuple[float, float]  # 1-minute load average before and after the timed steps
    stats: dict[str, float] = field(default_factory=dict)  # the last step's losses

    @property
    def median(self) -> float:
        return statistics.median(self.steps)


# --- data ------------------------------------------------------------------------------------------------


def render_videos(folder: Path, *, count: int = VIDEOS, seconds: float = VIDEO_SECONDS) -> list[Path]:
    """Write `count` mpeg4/AAC videos: a click track at a different tempo each, flashing the picture."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        period = 0.35 + 0.07 * index  # 171 to 120 BPM
        clicks = np.arange(0.1, seconds, period)
        paths.append(_write_video(folder / f"clicks{index}.mp4", clicks=clicks, seconds=seconds, seed=index))
    return paths


def _write_video(path: Path, *, clicks: np.ndarray, seconds: float, seed: int) -> Path:
    width, height = VIDEO_SIZE
    t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    wave = 0.1 * np.sin(2 * np.pi * (220.0 + 55.0 * seed) * t)
    for at in clicks:  # 5 ms decaying bursts
        start = round(at * AUDIO_RATE)
        burst = 0.8 * np.exp(-np.arange(240) / 60.0)
        wave[start : start + 240] += burst[: len(wave) - start]
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 120, 3)
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=VIDEO_FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for i in range(round(seconds * VIDEO_FPS)):
            now = i / VIDEO_FPS
            flash = np.any((now >= clicks) & (now < clicks + 0.1))  # the frame showing a click is bright
            picture = np.empty((height, width, 3), np.uint8)
            picture[:] = 230 if flash else background
            x = int((now * 60) % (width - 32))
            picture[height // 2 - 16 : height // 2 + 16, x : x + 32] = (255, 200, 0)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, VIDEO_FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        samples = wave.astype(np.float32)[None]
        for at in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, at : at + 1024]), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, at, Fraction(1, AUDIO_RATE)
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return path


def write_random_encoders(folder: Path) -> tuple[Path, Path]:
    """Randomly initialised stand-ins of the paper's encoders: (VideoMAE directory, AudioMAE state dict)."""
    import torch
    from transformers import VideoMAEConfig, VideoMAEModel

    from training.layers.vit import VisionTransformer
    from training.models.audio_encoder import BASE

    torch.manual_seed(0)
    videomae = folder / "videomae_b16"
    VideoMAEModel(VideoMAEConfig()).save_pretrained(videomae)  # ViT-B/16, 16 frames, 224 px
    audiomae = folder / "audiomae_b16.pth"
    vit = VisionTransformer(
        input_size=(BASE.window_frames, BASE.n_mels),
        in_channels=1,
        patch_size=BASE.patch_size,
        dim=BASE.dim,
        depth=BASE.depth,
        heads=BASE.heads,
        mlp_ratio=BASE.mlp_ratio,
    )
    torch.save({"model": vit.state_dict()}, audiomae)  # the official file's layout: timm keys under "model"
    return videomae, audiomae


# --- timing ----------------------------------------------------------------------------------------------


def _endless(loader, sampler) -> Iterator[dict]:
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def _load_average() -> float:
    return os.getloadavg()[0]


def measure(case: Case, run, *, steps: int) -> tuple[Result, Path]:
    """Build the stage's State, run one warm-up step and `steps` timed ones; save its checkpoint."""
    from training.distributed import init_distributed
    from training.loop import build_state, save, train_step

    state, loader, sampler = build_state(run, init_distributed("cpu"))
    parts = {
        name: (
            sum(p.numel() for p in model.parameters()),
            sum(p.numel() for p in model.parameters() if p.requires_grad),
        )
        for name, model in state.objective.parts.items()
    }
    batches = _endless(loader, sampler)
    step_times, data_times, load_before, stats = [], [], 0.0, {}
    for i in range(1 + steps):
        if i == 1:
            load_before = _load_average()
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        stats = train_step(state, batch)
        t2 = time.perf_counter()
        print(f"  {case.preset} {case.name}: step {i}/{steps} {t2 - t1:.3f} s", file=sys.stderr, flush=True)
        if i:  # step 0 warms up (allocator, kernels, lazy inits)
            step_times.append(t2 - t1)
            data_times.append(t1 - t0)
    # What the step actually trained: before the GAN joins, the discriminators' optimiser has nothing to do.
    optimised = sum(
        p.numel()
        for o in state.optimizers.values()
        for g in o.param_groups
        for p in g["params"]
        if p.grad is not None
    )
    result = Result(
        case=case,
        steps=step_times,
        data=data_times,
        parts=parts,
        optimised=optimised,
        load=(load_before, _load_average()),
        stats={k: round(v, 4) for k, v in stats.items()},
    )
    checkpoint = save(state)
    assert checkpoint is not None  # a single process is rank 0
    return result, checkpoint


def run_preset(preset: str, *, data: Path, work: Path, steps: int, encoders: tuple[Path, Path] | None):
    """Every stage of one preset, in training order; later stages start from the earlier checkpoints."""
    from training.loop import RunConfig

    results, made = [], {}
    for case in cases(preset):
        init = {
            "dit-pretrain": ("vae",),
            "v2m": ("vae", "dit-pretrain", "contrastive"),
        }.get(case.stage, ())
        extra = {}
        if encoders is not None:
            extra = {
                "visual_encoder_checkpoint": str(encoders[0]),
                "audio_encoder_checkpoint": str(encoders[1]),
            }
        run = RunConfig(
            stage=case.stage,
            data=str(data),
            out_dir=str(work / preset / case.name.replace(" ", "_")),
            preset=preset,
            steps=1 + steps,
            batch_size=case.batch_size,
            init=tuple(str(made[stage]) for stage in init),
            min_seconds=case.seconds,
            max_seconds=case.seconds,
            keep_checkpoints=1,
            adversarial_start=case.adversarial_start,
            progress=False,
            **extra,
        )
        result, checkpoint = measure(case, run, steps=steps)
        made[case.stage] = checkpoint
        results.append(result)
    return results


# --- report ----------------------------------------------------------------------------------------------


def _count(n: int) -> str:
    if n < 10_000:
        return str(n)
    return f"{n / 1e6:.3f}M" if n < 10_000_000 else f"{n / 1e6:.1f}M"


def machine() -> dict[str, str]:
    import torch

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": f"{mem_kb / 2**20:.0f} GiB",
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
    }


def _paragraph(text: str) -> list[str]:
    return [*textwrap.wrap(text, width=110, break_on_hyphens=False), ""]


def markdown(results: list[Result], *, info: dict[str, str], command: str, date: str, encoders: bool) -> str:
    """The "Training steps" section: how it was measured, the step table and the parameter table."""
    width, height = VIDEO_SIZE
    lines = [SECTION, ""]
    lines += _paragraph(
        f"Measured {date} on {info['cpu']}, {info['cores']} cores ({info['threads']} torch threads), "
        f"{info['ram']} RAM, torch {info['torch']} (eager, fp32, CPU), Python {info['python']}, with:"
    )
    lines += [f"    {command}", ""]
    lines += _paragraph(
        "A step is `training.loop.train_step` on a `State` from `build_state`: forward, backward, gradient "
        "clipping and AdamW for every phase of the stage (with the GAN, the vocoder steps its generator and "
        "then its discriminators). One warm-up step, then the median and the fastest of the timed steps. "
        "Decoding the batch is timed apart (`data`: one process, no workers; contrastive includes building "
        "its negatives). Segments have a fixed length: `batch` is clips x seconds; the vocoder crops 1 s "
        f"windows itself. The data is {VIDEOS} videos of {VIDEO_SECONDS:g} s ({width}x{height}, "
        f"{VIDEO_FPS} FPS, click tracks at 120-171 BPM) rendered by the script; `dit-pretrain` and `v2m` "
        "start from the checkpoints the rows above them wrote. `trained params` counts the parameters the "
        "step updated (the DiT's condition path sits out of `dit-pretrain`, the discriminators out of the "
        "vocoder's first phase)."
    )
    lines += _paragraph(
        "Other people's jobs shared the CPU during the run: `load` is the 1-minute load average before and "
        "after the timed steps. Where it nears or passes the core count the step times are inflated, and "
        "the fastest step is the better estimate."
    )
    if encoders:
        lines += _paragraph(
            "`base` uses the paper's VideoMAE V2 ViT-B/16 and AudioMAE ViT-B/16 encoders, unreachable here: "
            "randomly initialised models of the exact architecture (`transformers.VideoMAEConfig()` saved "
            "with `save_pretrained`, and a ViT-B/16 state dict in AudioMAE's timm layout) were written to a "
            "temporary folder and loaded instead. The compute is the same; the losses mean nothing."
        )
    lines += [
        "| preset | stage | batch | steps | median s/step | min s/step | data s/batch | trained params "
        "| load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c = r.case
        lines.append(
            f"| {c.preset} | {c.name} | {c.batch_size} x {c.seconds:g} s | {len(r.steps)} | {r.median:.3f} | "
            f"{min(r.steps):.3f} | {statistics.median(r.data):.3f} | {_count(r.optimised)} | "
            f"{r.load[0]:.1f} / {r.load[1]:.1f} |"
        )
    presets = list(dict.fromkeys(r.case.preset for r in results))
    lines += [""]
    lines += _paragraph(
        "Parameters of every model part, total / trainable, where trainable counts what the stage that "
        "trains the part updates: the pre-trained encoders are frozen and AudioMAE trains its head only; "
        "`mpd`/`msd` are the vocoder's discriminators, `temperature` the contrastive logit scale."
    )
    lines += [
        "| part | " + " | ".join(presets) + " |",
        "|---|" + "---|" * len(presets),
    ]
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for r in results:
        for part, (total, trainable) in r.parts.items():
            known = table.setdefault(part, {}).get(r.case.preset, (total, 0))
            table[part][r.case.preset] = (total, max(known[1], trainable))
    for part, by_preset in table.items():
        cells = [
            f"{_count(by_preset[p][0])} / {_count(by_preset[p][1])}" if p in by_preset else "-"
            for p in presets
        ]
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Put `section` in place of the file's "Training steps" section (or append it), creating the file."""
    from benchmarks.sections import replace_section

    replace_section(path, SECTION, section)


def _parsed_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.train_steps", description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    p.add_argument("--steps", type=int, help="timed steps per row (default: 3 for base, 10 otherwise)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    p.add_argument(
        "--write", type=Path, metavar="MD", help="replace the 'Training steps' section of this file"
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the raw timings as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parsed_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    command = shlex.join(
        ["python", "-m", "benchmarks.train_steps", *(sys.argv[1:] if argv is None else argv)]
    )
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="muvi-bench-") as tmp:
        work = Path(tmp)
        data = work / "videos"
        render_videos(data)
        encoders = write_random_encoders(work) if "base" in args.presets else None
        for preset in args.presets:
            steps = args.steps or STEPS[preset]
            results += run_preset(
                preset, data=data, work=work, steps=steps, encoders=encoders if preset == "base" else None
            )
    info = machine()
    section = markdown(results, info=info, command=command, date=date, encoders=encoders is not None)
    print(section)
    if args.write:
        write_section(args.write, section)
    if args.json:
        rows = [asdict(r) for r in results]
        payload = {"machine": info, "command": command, "date": date, "rows": rows}
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
