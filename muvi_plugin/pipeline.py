"""Video range -> music, through a bundle's graphs (numpy and onnxruntime only; docs/architecture.md).

Shapes: `t` video frames, `k` clips, `c` clip frames, `h w` patch grid, `e` encoder width, `n` latent
frames, `P` style-prompt frames, `d` DiT width, `C` latent channels, `m` mel bands.

Per window (`muvi_plugin.windows`), exactly as training sees a segment: decode its frames at the bundle's
fps and size, encode them clip by clip (MuVi App. C), adapt them to one condition per latent frame, compute
the DiT's condition path once for the conditional and once for the unconditional branch, integrate the ODE
from seeded noise with classifier-free guidance (MuVi App. B; both branches in one batched call per step),
then decode latents -> mel -> wave. Windows after the first continue the previous one's latents as clean
context (MuVi Sec. 4.3), and an optional style prompt (the VAE latents of a reference recording) is held
as clean, unconditioned context at the start of the first window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from muvi_plugin import media
from muvi_plugin.bundle import Bundle
from muvi_plugin.clips import split_into_clips, stitch_clips
from muvi_plugin.errors import Cancelled, MuviError
from muvi_plugin.frames import FrameSource, as_frame_source
from muvi_plugin.mel import MelSpec, mel_spectrogram
from muvi_plugin.sampler import cfg_combine, sample
from muvi_plugin.windows import Window, frames_for, place_window, plan_windows

STAGES = ("decode", "encoder", "adaptor", "dit", "vae", "vocoder")
# Share of a window's work per stage, for a progress fraction that moves evenly (the DiT dominates).
_WEIGHTS = {"decode": 0.05, "encoder": 0.1, "adaptor": 0.02, "dit": 0.7, "vae": 0.05, "vocoder": 0.08}
ENCODER_BATCH = 8  # clips per encoder call: bounds memory on long windows without starving the CPU

Progress = Callable[[str, float], None]
"""`progress(stage, fraction)`: the stage now running and the fraction of the whole job done, 0 to 1."""


class CancelFlag(Protocol):
    """Anything with `is_set()`, e.g. a `threading.Event`."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Settings:
    """One job, every default resolved.

    Attributes:
        video: The media file (for a `source`, its name).
        start: Range start, seconds from the media start.
        end: Range end (exclusive), seconds.
        seed: Seeds the noise of window `i` as `numpy.random.default_rng([seed, i])`.
        steps: Euler steps per window.
        guidance: Classifier-free guidance scale.
        style: Optional reference audio whose music the piece continues (in-context style prompt).
        style_start: Where the style prompt starts in `style`, seconds.
        max_window_seconds: Longest sequence the DiT runs in one pass, prompt included.
        context_seconds: Overlap between consecutive windows, held clean as context.
        crossfade_seconds: Equal-power crossfade inside the overlap.
        style_seconds: Longest style prompt.
        source: Where the frames come from when not straight from `video` (e.g. a timeline).
    """

    video: Path
    start: float
    end: float
    seed: int
    steps: int
    guidance: float
    style: Path | None = None
    style_start: float = 0.0
    max_window_seconds: float = 30.0
    context_seconds: float = 5.0
    crossfade_seconds: float = 1.0
    style_seconds: float = 10.0
    source: FrameSource | None = None


@dataclass
class Generation:
    """What `generate` made.

    Attributes:
        audio: float32 `(samples,)`, exactly `round((end - start) * sample_rate)` samples.
        windows: The window plan, in latent frames from the range start.
        latents: Per window, its normalised latents `(1, frames, C)` (context frames included, prompt not).
        prompt_frames: Style-prompt frames held at the start of the first window (0 without a style).
        seconds: Seconds spent per stage (`STAGES`).
    """

    audio: np.ndarray
    windows: list[Window]
    latents: list[np.ndarray]
    prompt_frames: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


class _Clock:
    """Times the stages, reports progress and honours the cancel flag between stages and steps."""

    def __init__(self, progress: Progress | None, cancel: CancelFlag | None) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.windows = 1  # set once the plan is known
        self._progress, self._cancel = progress, cancel
        self._window, self._done = 0, 0.0  # current window, and the share of it already done

    def check(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled()

    def report(self, stage: str, within: float = 0.0) -> None:
        """Progress at `within` (0 to 1) through `stage` of the current window."""
        if self._progress is not None:
            fraction = (self._window + self._done + _WEIGHTS[stage] * within) / self.windows
            self._progress(stage, min(fraction, 1.0))

    def start_window(self, index: int) -> None:
        self._window, self._done = index, 0.0

    @contextmanager
    def stage(self, name: str, *, counts: bool = True) -> Iterator[None]:
        """Time a stage; `counts` False for work outside the windows (the style prompt)."""
        self.check()
        self.report(name)
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - began
        self._done += _WEIGHTS[name] if counts else 0.0
        self.check()  # after each stage too: a cancel during the last one (the vocoder) must not be lost


def generate(
    bundle: Bundle,
    settings: Settings,
    *,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
) -> Generation:
    """Music for `settings.video` over `[start, end)`, window by window.

    Args:
        bundle: An opened bundle.
        settings: The job; the range is assumed checked against the media (`media.probe`).
        progress: Called at every stage and after every Euler step.
        cancel: Checked between stages and after every Euler step.

    Returns:
        The audio and what led to it.

    Raises:
        Cancelled: The cancel flag was set.
        MediaError: The video or the style reference cannot give what is needed.
        MuviError: The settings do not fit the bundle (e.g. a style prompt that fills the window).
    """
    m = bundle.manifest
    rate, sample_rate = m.latent.rate, m.audio.sample_rate
    per_frame = m.audio.hop_length * m.latent.downsample  # samples per latent frame
    total = frames_for(settings.end - settings.start, rate)
    clock = _Clock(progress, cancel)
    prompt = None
    if settings.style is not None:
        prompt = style_prompt(
            bundle, settings.style, start=settings.style_start, seconds=settings.style_seconds, clock=clock
        )
    prompt_frames = 0 if prompt is None else prompt.shape[1]
    try:
        windows = plan_windows(
            total,
            max_frames=int(settings.max_window_seconds * rate + 1e-6),
            context=round(settings.context_seconds * rate),
            prompt=prompt_frames,
        )
    except ValueError as error:
        raise MuviError(f"{settings.video}: {error}") from error
    clock.windows = len(windows)
    out = np.zeros(total * per_frame, dtype=np.float32)
    fade = round(settings.crossfade_seconds * sample_rate)
    latents: list[np.ndarray] = []
    for window in windows:
        clock.start_window(window.index)
        lo = settings.start + window.start / rate
        hi = min(settings.start + window.end / rate, settings.end)
        picture = settings.video if settings.source is None else settings.source
        cond = video_condition(bundle, picture, start=lo, end=hi, n_out=window.frames, clock=clock)
        context = prompt if window.index == 0 else latents[-1][:, -window.context :]
        held = prompt_frames if window.index == 0 else window.context
        x = sample_window(
            bundle, cond, settings=settings, window=window, context=context, held=held, clock=clock
        )
        lead = prompt_frames if window.index == 0 else 0
        latents.append(x[:, lead:])
        wave = decode_latents(bundle, x, clock=clock)[lead * per_frame :]
        place_window(out, wave, at=window.start * per_frame, overlap=window.context * per_frame, fade=fade)
    samples = round((settings.end - settings.start) * sample_rate)
    audio = np.pad(out, (0, max(0, samples - len(out))))[:samples]
    return Generation(audio, windows, latents, prompt_frames, clock.seconds)


def video_condition(
    bundle: Bundle,
    video: Path | FrameSource,
    *,
    start: float,
    end: float,
    n_out: int,
    clock: _Clock | None = None,
) -> np.ndarray:
    """Decode, encode and adapt the frames of `[start, end)`: the visual condition `(1, n_out, d)`.

    `video` is a file or any `muvi_plugin.frames.FrameSource` (a timeline's picture, for one).
    """
    clock = clock or _Clock(None, None)
    v = bundle.manifest.video
    source = as_frame_source(video)
    with clock.stage("decode"):
        frames = source.frames(start, end, fps=v.fps, size=(v.image_size,) * 2)
        # (t, H, W, 3) uint8 -> (t, 3, H, W) float in [0, 1], as training's dataset feeds the encoder.
        pixels = np.ascontiguousarray(frames.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
    with clock.stage("encoder"):
        patches, cls = encode_frames(bundle, pixels, clock=clock)
    with clock.stage("adaptor"):
        inputs = {"patches": patches[None], "n_out": np.array(n_out, dtype=np.int64)}
        if cls is not None:
            inputs["cls"] = cls[None]
        (cond,) = bundle.run("adaptor", **inputs)
    return cond


def encode_frames(
    bundle: Bundle, pixels: np.ndarray, *, clock: _Clock | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Frames `(t, 3, H, W)` -> per-frame `patches (t, h, w, e)` and `cls (t, e)` (None without CLS).

    MuVi App. C: fixed-length clips (`muvi_plugin.clips`), `ENCODER_BATCH` at a time, stitched back.
    """
    clock = clock or _Clock(None, None)
    clip = bundle.manifest.video.clip_frames
    clips = split_into_clips(pixels, clip)
    outputs: list[list[np.ndarray]] = []
    for at in range(0, len(clips), ENCODER_BATCH):
        clock.check()
        outputs.append(bundle.run("encoder", clips=clips[at : at + ENCODER_BATCH]))
    joined = [np.concatenate(parts) for parts in zip(*outputs, strict=True)]
    t = len(pixels)
    patches = stitch_clips(joined[0], t=t, clip=clip)
    cls = stitch_clips(joined[1], t=t, clip=clip) if len(joined) > 1 else None
    return patches, cls


def sample_window(
    bundle: Bundle,
    cond: np.ndarray,
    *,
    settings: Settings,
    window: Window,
    context: np.ndarray | None,
    held: int,
    clock: _Clock | None = None,
) -> np.ndarray:
    """Integrate one window's latents `(1, P + n, C)` from seeded noise with classifier-free guidance.

    Args:
        bundle: The opened bundle.
        cond: Visual condition `(1, n, d)` of the window's frames.
        settings: The job (seed, steps, guidance).
        window: The window (its index seeds the noise).
        context: Clean latents `(1, >= held, C)` held over the first `held` frames: the style prompt (the
            `P = held` frames before the video, first window) or the previous window's tail (`P = 0`).
        held: Frames held clean.
        clock: Stage timing, progress and cancel.
    """
    clock = clock or _Clock(None, None)
    m = bundle.manifest
    prompt = held if window.index == 0 else 0
    n = prompt + cond.shape[1]
    with clock.stage("dit"):
        # Style-prompt frames have no picture: the unconditional embedding stands in (MuVi Sec. 4.3).
        cond_full = np.concatenate([np.zeros((1, prompt, cond.shape[2]), np.float32), cond], axis=1)
        drop = np.zeros((2, n), dtype=bool)
        drop[:, :prompt] = True
        drop[1] = True  # the unconditional branch of classifier-free guidance
        velocity = _guided_velocity(bundle, np.concatenate([cond_full, cond_full]), drop, settings.guidance)
        rng = np.random.default_rng([settings.seed, window.index])
        noise = rng.standard_normal((1, n, m.latent.channels), dtype=np.float32)

        def on_step(done: int, steps: int) -> None:
            clock.check()
            clock.report("dit", done / steps)

        return sample(
            velocity,
            noise,
            steps=settings.steps,
            context=context if held else None,
            context_frames=held or None,
            on_step=on_step,
        )


def _guided_velocity(bundle: Bundle, cond: np.ndarray, drop: np.ndarray, guidance: float):
    """The sampler's velocity function: `dit_velocity` once per step on `[x; x]` with `[c_cond; c_uncond]`.

    The condition path runs once here, and its output stays bound to the velocity graph (on the device, with
    CUDA) through IOBinding, so only the small `x`, `t` and `v` move at each step.
    """
    dtypes = bundle.input_dtypes("dit_condition")
    session = bundle.sessions["dit_condition"]
    binding = session.io_binding()
    binding.bind_cpu_input("cond", np.ascontiguousarray(cond, dtype=dtypes["cond"]))
    binding.bind_cpu_input("drop", np.ascontiguousarray(drop, dtype=dtypes["drop"]))
    binding.bind_output("c", bundle.device)
    session.run_with_iobinding(binding)
    c = binding.get_outputs()[0]

    session = bundle.sessions["dit_velocity"]
    dtypes = bundle.input_dtypes("dit_velocity")
    binding = session.io_binding()
    binding.bind_ortvalue_input("c", c)
    binding.bind_output("v", "cpu")

    def velocity(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        binding.bind_cpu_input("x", np.ascontiguousarray(np.concatenate([x, x]), dtype=dtypes["x"]))
        binding.bind_cpu_input("t", np.ascontiguousarray(np.concatenate([t, t]), dtype=dtypes["t"]))
        session.run_with_iobinding(binding)
        v = binding.copy_outputs_to_cpu()[0].astype(np.float32, copy=False)
        return cfg_combine(v[1:], v[:1], guidance)

    return velocity


def decode_latents(bundle: Bundle, x: np.ndarray, *, clock: _Clock | None = None) -> np.ndarray:
    """Normalised latents `(1, n, C)` -> wave float32 `(n * hop * downsample,)`."""
    clock = clock or _Clock(None, None)
    latent = bundle.manifest.latent
    with clock.stage("vae"):
        # The DiT works on normalised latents; the decoder wants the VAE's own scale back.
        z = (
            x[0].T * np.asarray(latent.std, np.float32)[:, None]
            + np.asarray(latent.mean, np.float32)[:, None]
        )
        (mel,) = bundle.run("vae_decoder", latent=z[None])
    with clock.stage("vocoder"):
        (wave,) = bundle.run("vocoder", mel=mel)
    return wave[0].astype(np.float32, copy=False)


def style_prompt(
    bundle: Bundle, path: Path, *, start: float, seconds: float, clock: _Clock | None = None
) -> np.ndarray:
    """A reference recording -> normalised latents `(1, P, C)` of at most `seconds` from `start`.

    Raises:
        MediaError: No audio stream, a start outside it, or less than one latent frame of audio.
    """
    clock = clock or _Clock(None, None)
    m = bundle.manifest
    with clock.stage("decode", counts=False):
        info = media.probe(path)
        if not info.has_audio:
            raise media.MediaError(path, "no audio stream (a style reference must have sound)")
        end = min(start + seconds, info.audio_end)
        per_frame = m.audio.hop_length * m.latent.downsample
        if (end - start) * m.audio.sample_rate < per_frame:
            raise media.MediaError(
                path,
                f"under {per_frame / m.audio.sample_rate:g} s of audio after {start:g} s for a style prompt",
            )
        wave = media.read_audio(path, start=start, end=end, sample_rate=m.audio.sample_rate)
    with clock.stage("vae", counts=False):
        mel = mel_spectrogram(wave, MelSpec(**asdict(m.audio)))
        # Whole latent frames only: the encoder pads a partial last frame, which would not be real music.
        frames = mel.shape[-1] // m.latent.downsample
        (z,) = bundle.run("vae_encoder", mel=mel[None, :, : frames * m.latent.downsample])
        mean = np.asarray(m.latent.mean, np.float32)[:, None]
        std = np.asarray(m.latent.std, np.float32)[:, None]
    return ((z[0, :, :frames] - mean) / std).T[None].astype(np.float32)


__all__ = [
    "ENCODER_BATCH",
    "STAGES",
    "Generation",
    "Settings",
    "decode_latents",
    "encode_frames",
    "generate",
    "sample_window",
    "style_prompt",
    "video_condition",
]
